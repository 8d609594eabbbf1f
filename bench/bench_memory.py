"""Peak memory of streaming n = 10^6 rows of p = 256 vs n = 10^5 rows (batches of 4096). Target: within 2x.

Each size runs in a fresh interpreter (``memprobe.py``); the data are generated batch by batch, never all held.
The benchmark times the whole probe process (interpreter start, imports and the stream) and records the peaks in
``extra_info`` (see memprobe.py): ``tracemalloc_peak_bytes`` (NumPy/Python heap during the stream),
``peak_rss_bytes`` (whole-process resident high-water mark, VmHWM) and ``stream_rss_bytes`` (its growth during the
stream). ``test_peak_memory_ratio`` asserts the 2x target on each.

Run:  pytest bench/bench_memory.py        (table: python bench/report.py --only memory)
"""
from __future__ import annotations

import pytest

import _common
import memprobe


_CACHE: dict[int, dict] = {}  # probe results of this session, by number of rows


def _result(rows: int) -> dict:
    if rows not in _CACHE:
        _CACHE[rows] = memprobe.run_subprocess(rows, _common.MEM_P, _common.MEM_BATCH)
    return _CACHE[rows]


@pytest.mark.parametrize("rows", _common.MEM_ROWS, ids=lambda n: f"n{n}")
def test_stream_probe(benchmark, rows):
    benchmark.group = f"memory: stream p={_common.MEM_P}, batch {_common.MEM_BATCH} (one fresh process per run)"
    result = benchmark.pedantic(memprobe.run_subprocess, args=(rows, _common.MEM_P, _common.MEM_BATCH), rounds=1)
    _CACHE[rows] = result
    benchmark.extra_info.update({k: v for k, v in result.items() if k != "repsim"})
    assert result["rows"] == rows


def test_peak_memory_ratio():
    small, large = (_result(n) for n in _common.MEM_ROWS)
    ratios = {
        "tracemalloc peak": large["tracemalloc_peak_bytes"] / small["tracemalloc_peak_bytes"],
        "peak RSS (VmHWM)": large["peak_rss_bytes"] / small["peak_rss_bytes"],
    }
    if small["stream_rss_bytes"] and large["stream_rss_bytes"] is not None:
        ratios["RSS growth during the stream"] = large["stream_rss_bytes"] / small["stream_rss_bytes"]
    too_big = {k: round(v, 2) for k, v in ratios.items() if v > 2.0}
    assert not too_big, f"peak memory of 10^6 vs 10^5 rows exceeds 2x: {too_big} (all: {ratios})"
