"""pytest configuration for the repsim benchmarks (pytest-benchmark).

``bench/`` is outside the project's ``testpaths`` and its files are named ``bench_*.py``, which pytest does not
collect by default; the hook below collects them when ``pytest bench`` is run, so no ini change is needed.

    pytest bench                               # run the benchmarks (default sizes)
    pytest bench --benchmark-disable           # smoke test: every bench body runs once, no timing
    pytest bench --bench-large                 # also the big sizes (hoggorm at n = 10 000: minutes per call)
    REPSIM_BENCH_LARGE=1 pytest bench          # same as --bench-large

Benchmarks marked ``large`` are skipped unless ``--bench-large`` or ``REPSIM_BENCH_LARGE=1`` is given.
"""
from __future__ import annotations

import platform
import time

import pytest

import _common


def pytest_addoption(parser):
    group = parser.getgroup("repsim-bench")
    group.addoption(
        "--bench-large",
        action="store_true",
        default=False,
        help="run the benchmarks marked 'large' (also enabled by REPSIM_BENCH_LARGE=1)",
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "large: a slow, big-size benchmark; needs --bench-large or REPSIM_BENCH_LARGE=1")


def pytest_collect_file(file_path, parent):
    # A file named on the command line is collected by pytest's python plugin already: do not collect it twice.
    if file_path.suffix == ".py" and file_path.name.startswith("bench_") and not parent.session.isinitpath(file_path):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def _large_enabled(config) -> bool:
    return bool(config.getoption("--bench-large")) or _common.env_flag("REPSIM_BENCH_LARGE")


def pytest_collection_modifyitems(config, items):
    if _large_enabled(config):
        return
    skip = pytest.mark.skip(reason="large benchmark: pass --bench-large or set REPSIM_BENCH_LARGE=1")
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config):
    return [f"repsim bench: {_common.machine_summary()}", f"python {platform.python_version()}"]


@pytest.fixture(autouse=True)
def _settle(request):
    """Let the other OpenBLAS pool's spinning workers go idle before each timed benchmark.

    NumPy and SciPy wheels each bundle their own OpenBLAS with its own thread pool. After a call, a pool's worker
    threads busy-wait for ~0.1 s; on a 2-core machine they starve the *other* pool, so the first calls of a
    benchmark that follows one using the other library are several times slower (see report.py ``--penalty``).
    Sleeping before each benchmark keeps one benchmark's pool from polluting the next one's timings.
    """
    if "benchmark" in request.fixturenames and not request.getfixturevalue("benchmark").disabled:
        time.sleep(_common.SETTLE_S)
    yield
