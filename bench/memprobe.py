"""Peak memory of streaming ``rows`` samples of ``p`` features through ``Moments.update``, in one fresh process.

    python bench/memprobe.py --rows 1000000 --p 256 --batch 4096      # prints one JSON object

The data are generated batch by batch (never all held). Measured, from just before the stream starts (after the
imports; nothing of repsim has run yet, so first-use costs such as BLAS work buffers count in the stream):

* ``tracemalloc_peak_bytes``: peak of the allocations traced by ``tracemalloc`` during the stream. NumPy registers
  its array buffers there, so this is the data batch, the fused-pass buffer, G and any temporaries. Native
  allocations outside NumPy (OpenBLAS work buffers, thread stacks) are not seen.
* ``peak_rss_bytes``: the process's resident high-water mark (``VmHWM`` of /proc/self/status on Linux, else
  ``ru_maxrss``): interpreter and libraries included.
* ``stream_rss_bytes``: growth of the resident high-water mark during the stream: ``VmHWM`` reset (write "5" to
  /proc/self/clear_refs) just before the stream, read after it, minus the resident size at the start.
* ``maxrss_bytes``: ``getrusage(RUSAGE_SELF).ru_maxrss``, for reference only: on Linux it is kept across
  fork/exec, so in a child it is at least the parent's resident size at the time of the spawn.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import tracemalloc

import _procmem  # no third-party imports: the probe's baseline stays clean


def _maxrss_bytes() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(r) * (1 if sys.platform == "darwin" else 1024)  # kB on Linux, bytes on macOS




def stream(rows: int, p: int, batch: int, seed: int = 0, dtype: str = "float64"):
    """Stream ``rows`` rows, generated ``batch`` at a time, into a new Moments; return it."""
    import numpy as np

    import repsim

    rng = np.random.default_rng(seed)
    shift = rng.normal(2.0, 1.0, size=p).astype(dtype)
    m = repsim.Moments()
    done = 0
    while done < rows:
        b = min(batch, rows - done)
        x = rng.standard_normal((b, p), dtype=np.dtype(dtype))
        x += shift
        m.update({"x": x})
        del x
        done += b
    return m


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--p", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    ap.add_argument("--no-tracemalloc", action="store_true", help="resident-size figures only (no tracing)")
    args = ap.parse_args(argv)

    import numpy  # noqa: F401  (imports are part of the baseline, not of the stream)
    import scipy.linalg  # noqa: F401

    import repsim

    trace = not args.no_tracemalloc
    if trace:
        tracemalloc.start()
    hwm_reset = _procmem.reset_hwm()
    start = _procmem.proc_status()
    t0 = time.perf_counter()
    m = stream(args.rows, args.p, args.batch, dtype=args.dtype)
    seconds = time.perf_counter() - t0
    traced_peak = tracemalloc.get_traced_memory()[1] if trace else None
    if trace:
        tracemalloc.stop()
    end = _procmem.proc_status()
    assert m.n == args.rows, (m.n, args.rows)
    value = m.cka("x", "x")
    assert abs(value - 1.0) < 1e-12, value
    peak = end.get("VmHWM", _maxrss_bytes())
    return {
        "rows": args.rows,
        "p": args.p,
        "batch": args.batch,
        "dtype": args.dtype,
        "seconds": seconds,
        "tracemalloc_peak_bytes": traced_peak,
        "peak_rss_bytes": peak,
        "start_rss_bytes": start.get("VmRSS"),
        "stream_rss_bytes": (end["VmHWM"] - start["VmRSS"]) if hwm_reset and "VmHWM" in end else None,
        "maxrss_bytes": _maxrss_bytes(),
        "repsim": repsim.__version__,
        "pid": os.getpid(),
    }


def run_subprocess(rows: int, p: int = 256, batch: int = 4096, dtype: str = "float64", tracemalloc_on: bool = True,
                   timeout: float = 600) -> dict:
    """Run this probe in a fresh interpreter and return its JSON result."""
    import subprocess

    cmd = [sys.executable, os.path.abspath(__file__), "--rows", str(rows), "--p", str(p), "--batch", str(batch),
           "--dtype", dtype]
    if not tracemalloc_on:
        cmd.append("--no-tracemalloc")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"memprobe failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    print(json.dumps(main()))
