"""Shared pieces of the repsim benchmarks: data, sizes, machine description and a robust timing helper.

Imported by the ``bench_*.py`` files (pytest puts ``bench/`` on ``sys.path``) and by ``report.py``.
"""
from __future__ import annotations

import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

# ----------------------------------------------------------------------------- sizes of the brief
ACCUM_ROWS = 1024  # rows per batch
ACCUM_P = (256, 1024, 4096)
HOGGORM_P = 512  # p = q
HOGGORM_N_DEFAULT = (2000,)
HOGGORM_N_LARGE = (10000,)
MEM_P = 256
MEM_BATCH = 4096
MEM_ROWS = (100_000, 1_000_000)

# Seconds to sleep when switching between NumPy-BLAS and SciPy-BLAS work (see conftest._settle).
SETTLE_S = 0.25

RTOL_AGREE = 1e-10


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def settle(seconds: float = SETTLE_S) -> None:
    time.sleep(seconds)


# ----------------------------------------------------------------------------- data
def accumulate_batch(P: int, rows: int = ACCUM_ROWS, seed: int = 0) -> np.ndarray:
    """One fp64 C-contiguous batch Z of shape (rows, P): Gaussian activations with a non-zero mean."""
    rng = np.random.default_rng(seed + P)
    Z = rng.standard_normal((rows, P))
    Z += rng.normal(2.0, 1.0, size=P)
    return Z


def paired_representations(n: int, p: int = HOGGORM_P, q: int = HOGGORM_P, seed: int = 0):
    """Two related representations X (n, p), Y (n, q) of the same samples, with non-zero column means.

    Y is a noisy linear map of X, so CKA / RV2 are well away from 0 (a relative tolerance is meaningful).
    """
    rng = np.random.default_rng(seed + n)
    X = rng.standard_normal((n, p)) + rng.normal(3.0, 1.0, size=p)
    A = rng.standard_normal((p, q)) / np.sqrt(p)
    Y = X @ A + 0.7 * rng.standard_normal((n, q)) - 1.5
    return X, Y


def centred(A: np.ndarray) -> np.ndarray:
    return A - A.mean(axis=0)


def relative_difference(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b))


# ----------------------------------------------------------------------------- machine
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _mem_total_gib() -> float | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def machine_summary() -> str:
    mem = _mem_total_gib()
    blas_env = ", ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("OPENBLAS_"))
    parts = [
        f"{os.cpu_count()} cores ({_cpu_model()})",
        f"{mem:.0f} GiB RAM" if mem else None,
        platform.system() + " " + platform.machine(),
        blas_env or "no OPENBLAS_* variables",
    ]
    return "; ".join(p for p in parts if p)


def versions() -> str:
    import scipy

    import repsim

    out = [f"repsim {repsim.__version__} (engine {repsim.Moments().engine})", f"numpy {np.__version__}",
           f"scipy {scipy.__version__}"]
    try:
        import hoggorm

        out.append(f"hoggorm {getattr(hoggorm, '__version__', '?')}")
    except ImportError:
        pass
    return ", ".join(out)


class LoadSampler:
    """Samples the machine's number of runnable tasks (/proc/stat ``procs_running``) in a background thread.

    On a shared machine this tells whether other work competed for the cores during a measurement. It counts our
    own running threads too (the sampler itself included).
    """

    def __init__(self, interval_s: float = 0.5):
        import threading

        self.interval_s = interval_s
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def read() -> int | None:
        try:
            with open("/proc/stat") as fh:
                for line in fh:
                    if line.startswith("procs_running"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None

    def _run(self):
        while not self._stop.wait(self.interval_s):
            v = self.read()
            if v is not None:
                self.samples.append(v)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        if not self.samples:
            return {}
        xs = sorted(self.samples)
        return {"median": median(xs), "p90": xs[int(0.9 * (len(xs) - 1))], "max": xs[-1], "samples": len(xs)}


def git_revision() -> str:
    """Short commit of the repository holding this file, with "+dirty" when repsim/ or csrc/ have changes."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        rev = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--", "repsim", "csrc"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")


def today() -> str:
    return datetime.date.today().isoformat()


# ----------------------------------------------------------------------------- timing
def time_calls(fn: Callable[[], object], number: int, warmup: int = 1,
               timer: Callable[[], float] = time.perf_counter) -> list[float]:
    """Call ``fn`` ``warmup`` times untimed, then ``number`` times, each timed alone; seconds per call.

    ``timer`` is wall time by default; ``time.process_time`` (CPU time of the process, all its threads) suits
    single-threaded measurements on a loaded machine."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(number):
        t0 = timer()
        fn()
        out.append(timer() - t0)
    return out


def median(values) -> float:
    return float(statistics.median(values))


def cpu_snapshot() -> tuple[float, float, float]:
    """(wall seconds, machine busy CPU-seconds from /proc/stat incl. steal, this process's CPU-seconds)."""
    import resource

    busy = float("nan")
    try:
        with open("/proc/stat") as fh:
            v = [int(x) for x in fh.readline().split()[1:9]]
        busy = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait
    except (OSError, ValueError, IndexError):
        pass
    r = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), busy, r.ru_utime + r.ru_stime


def foreign_load(before: tuple[float, float, float], after: tuple[float, float, float]) -> float:
    """Fraction of the machine's CPU capacity used by *other* processes (or stolen by the hypervisor) between two
    :func:`cpu_snapshot` calls: 0 on an otherwise idle machine, 1 when others kept every core busy. NaN if unknown.
    Resolution is one clock tick (10 ms) per core, so use it on blocks of a few tenths of a second or more."""
    wall = after[0] - before[0]
    others = (after[1] - before[1]) - (after[2] - before[2])
    return max(0.0, others / (wall * (os.cpu_count() or 1))) if wall > 0 else float("nan")


# A block is "clean" when other processes used at most this fraction of the machine while it ran.
CLEAN_FOREIGN_LOAD = 0.10


def interleaved_medians(
    variants: dict[str, Callable[[], object]],
    number: int,
    rounds: int,
    warmup: int = 1,
    settle_s: float = SETTLE_S,
    min_clean: int = 3,
    max_rounds: int | None = None,
    budget_s: float | None = None,
    timer: Callable[[], float] = time.perf_counter,
) -> dict[str, dict]:
    """Median seconds per call of several variants, measured in interleaved blocks, preferring uncontended blocks.

    Each round runs every variant in turn, the order rotating from round to round: sleep ``settle_s`` (the previous
    variant's BLAS pool goes idle), ``warmup`` untimed calls, ``number`` timed calls (one *block*). Interleaving
    spreads slow drifts of the background load over all variants alike. For each block the share of the machine
    used by other processes is measured (:func:`foreign_load`); a block is *clean* when it is at most
    ``CLEAN_FOREIGN_LOAD``. After ``rounds`` rounds, more rounds run (up to ``max_rounds``, within ``budget_s``
    seconds) while a variant has fewer than ``min_clean`` clean blocks.

    Returns, per variant: ``median`` (median of the per-block medians over its clean blocks when it has at least
    ``min_clean`` of them, else over all blocks), ``clean`` (number of clean blocks), ``used`` ("clean" or "all"),
    ``rounds`` (every per-block median), ``foreign`` (each block's foreign load) and ``calls`` (all call times).
    """
    per_round: dict[str, list[float]] = {k: [] for k in variants}
    foreign: dict[str, list[float]] = {k: [] for k in variants}
    calls: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    max_rounds = rounds if max_rounds is None else max(rounds, max_rounds)
    t_start = time.perf_counter()

    def n_clean(k):
        return sum(1 for f in foreign[k] if f <= CLEAN_FOREIGN_LOAD)

    r = 0
    while r < rounds or (
        r < max_rounds
        and any(n_clean(k) < min_clean for k in names)
        and (budget_s is None or time.perf_counter() - t_start < budget_s)
    ):
        for name in names[r % len(names):] + names[: r % len(names)]:  # rotate the order from round to round
            fn = variants[name]
            if settle_s:
                time.sleep(settle_s)
            for _ in range(warmup):
                fn()
            before = cpu_snapshot()
            t = time_calls(fn, number, warmup=0, timer=timer)
            foreign[name].append(foreign_load(before, cpu_snapshot()))
            per_round[name].append(median(t))
            calls[name].extend(t)
        r += 1
    out = {}
    for k in names:
        clean = [m for m, f in zip(per_round[k], foreign[k]) if f <= CLEAN_FOREIGN_LOAD]
        use_clean = len(clean) >= min_clean
        out[k] = {
            "median": median(clean if use_clean else per_round[k]),
            "clean": len(clean),
            "used": "clean" if use_clean else "all",
            "rounds": per_round[k],
            "foreign": foreign[k],
            "calls": calls[k],
        }
    return out


def calls_for(seconds_per_call: float, budget_s: float, lo: int = 1, hi: int = 200) -> int:
    return int(max(lo, min(hi, budget_s // max(seconds_per_call, 1e-9))))
