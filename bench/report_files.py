"""`repsim compare` from activation files: two safetensors files of L layers × p features for n samples, ids
shuffled differently in each, against the same accumulation from the arrays in memory — equality (≤ 1e-12), time
(file reading included, warm page cache), the CLI's peak resident memory against its budget, and the Dask tree
reduction on 2 local workers against one pass.

    python bench/report_files.py                              # the issue's size: n = 100,000, 13 × 768 per file
    python bench/report_files.py --n 20000 --width 256        # what fits a shared 2-core machine in minutes
    (wall and process CPU time both: on a loaded machine the CPU-time ratio is the fair one)
    python bench/report_files.py --quick                      # seconds (the smoke test runs this)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

import repsim
from repsim.io import compare_files


def make_sets(n, layers, width, seed=0):
    """Two models' activations in id order: layers of a shared latent plus noise (float32)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 32)).astype(np.float32)
    out = {}
    for model in ("a", "b"):
        for k in range(layers):
            M = rng.normal(size=(32, width)).astype(np.float32)
            out[f"{model}.l{k}"] = (np.tanh(z @ M) + 0.5 * rng.normal(size=(n, width)).astype(np.float32) + 1.0
                                    ).astype(np.float32)
    return out


def write_safetensors(path, arrays: dict, order: np.ndarray, ids: np.ndarray, chunk=8192):
    """A safetensors file of ``arrays`` with rows in ``order`` and an ``ids`` tensor, written in chunks of rows."""
    header, offset = {}, 0
    for k, a in arrays.items():
        size = order.size * a.shape[1] * 4
        header[k] = {"dtype": "F32", "shape": [int(order.size), int(a.shape[1])], "data_offsets": [offset, offset + size]}
        offset += size
    header["ids"] = {"dtype": "I64", "shape": [int(order.size)], "data_offsets": [offset, offset + 8 * order.size]}
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as fh:
        fh.write(len(raw).to_bytes(8, "little") + raw)
        for a in arrays.values():
            for s in range(0, order.size, chunk):
                fh.write(np.ascontiguousarray(a[order[s:s + chunk]]).tobytes())
        fh.write(ids[order].astype(np.int64).tobytes())


def in_memory(arrays, batch=4096):
    sites = list(arrays)
    groups = [[s for s in sites if s.startswith("a.")], [s for s in sites if s.startswith("b.")]]
    m = repsim.Moments(pairs="between", groups=groups)
    n = next(iter(arrays.values())).shape[0]
    t, c = time.perf_counter(), time.process_time()
    for s in range(0, n, batch):
        m.update({k: v[s:s + batch] for k, v in arrays.items()})
    return m, time.perf_counter() - t, time.process_time() - c


def cli_peak(paths, budget, out):
    """Run the CLI in a child process: (seconds, its peak resident bytes). The peak is the child's own VmHWM, read
    from /proc while it runs (RUSAGE_CHILDREN would also count the moment between fork and exec, when the child
    still maps this process's memory — the arrays held here); None where /proc is unavailable."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "repsim", "compare", *paths, "--metrics", "cka", "--max-memory",
                             budget, "--quiet", "--no-plots", "--out", out], stdout=subprocess.DEVNULL)
    peak = None
    while proc.poll() is None:
        peak = max(peak or 0, _hwm(proc.pid) or 0) or peak
        time.sleep(0.05)
    elapsed = time.perf_counter() - t
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, proc.args)
    return elapsed, peak


def _hwm(pid: int):
    """VmHWM of a running process in bytes (None when it has gone or /proc is missing)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def dask_run(arrays, workers=2, chunk=4096):
    import dask.array as da
    from dask.distributed import Client, LocalCluster

    from repsim.integrations.dask import moments_from_arrays

    sites = list(arrays)
    groups = [[s for s in sites if s.startswith("a.")], [s for s in sites if s.startswith("b.")]]
    # memory_limit=0: the arrays live in this process (processes=False), so a per-worker limit would pause the
    # workers for memory they do not own
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=False, dashboard_address=":0",
                      memory_limit=0) as cluster, \
            Client(cluster):
        darr = {k: da.from_array(v, chunks=(chunk, v.shape[1])) for k, v in arrays.items()}
        t = time.perf_counter()
        m = moments_from_arrays(darr, pairs="between", groups=groups)
        return m, time.perf_counter() - t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--layers", type=int, default=13)
    ap.add_argument("--width", type=int, default=768)
    ap.add_argument("--budget", default="3GB")
    ap.add_argument("--dir", default=None, help="where the files go (default: a temporary directory)")
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.layers, args.width, args.budget = 2000, 3, 16, "1GB"
    d = args.dir or tempfile.mkdtemp(prefix="repsim-files-")
    os.makedirs(d, exist_ok=True)
    try:
        arrays = make_sets(args.n, args.layers, args.width)
        rng = np.random.default_rng(1)
        ids = np.arange(args.n) * 7 + 3
        paths = [os.path.join(d, "a.safetensors"), os.path.join(d, "b.safetensors")]
        t = time.perf_counter()
        for model, path in zip("ab", paths):
            write_safetensors(path, {k[2:]: v for k, v in arrays.items() if k[0] == model}, rng.permutation(args.n),
                              ids)
        t_write = time.perf_counter() - t
        ref, t_mem, c_mem = in_memory(arrays)
        for p in paths:  # warm page cache
            with open(p, "rb") as fh:
                while fh.read(1 << 24):
                    pass
        t, c = time.perf_counter(), time.process_time()
        report = compare_files(paths, metrics=["cka", "rv2"], progress=False, max_memory=args.budget)
        t_file, c_file = time.perf_counter() - t, time.process_time() - c
        diff = 0.0
        for metric in ("cka", "rv2"):
            mat = report[metric]
            want = ref.matrix(metric, rows=list(mat.rows), cols=list(mat.cols)).values
            diff = max(diff, float(np.max(np.abs(mat.values - want))))
        t_cli, peak = cli_peak(paths, args.budget, os.path.join(d, "report"))
        out = dict(n=args.n, layers=args.layers, width=args.width, file_bytes=sum(os.path.getsize(p) for p in paths),
                   write_s=t_write, memory_s=t_mem, file_s=t_file, ratio=t_file / t_mem, memory_cpu_s=c_mem,
                   file_cpu_s=c_file, cpu_ratio=c_file / c_mem, max_abs_diff=diff,
                   cli_s=t_cli, cli_peak_bytes=peak, budget=args.budget,
                   budget_bytes=repsim.planner.parse_bytes(args.budget))
        print(json.dumps(out, indent=1), flush=True)  # the files' figures before the Dask stage
        if not args.no_dask:
            try:
                m, t_dask = dask_run(arrays)
                mat = m.matrix("cka", rows=list(report["cka"].rows), cols=list(report["cka"].cols)).values
                out.update(dask_s=t_dask, dask_overhead=t_dask / t_mem,
                           dask_max_abs_diff=float(np.max(np.abs(mat - report["cka"].values))))
            except ImportError as exc:
                out["dask"] = f"skipped ({exc})"
        print(json.dumps(out, indent=1))
        return out
    finally:
        if args.dir is None:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
