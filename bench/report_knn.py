"""Neighbourhood measures (docs/math.md §7): mutual k-NN and CKNNA at n = 20,000, d = 768, k = 10 against
platonic-rep's implementation run in float32 on the CPU with the same threads — time and peak memory, each case in
its own process — and n = 100,000, d = 768 (repsim only; must stay under 24 GB).

platonic-rep's ``metrics.py`` is loaded at run time from /work/peers/platonic-rep/metrics.py (or ``--platonic``);
without it that column is skipped. Its imports of torchaudio and pymp are stubbed (not used by these two metrics).

    python bench/report_knn.py                 # the issue's sizes (tens of minutes on 2 cores)
    python bench/report_knn.py --quick         # seconds (the smoke test runs this)
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import time
import types

import numpy as np

PLATONIC = "/work/peers/platonic-rep/metrics.py"


def data(n, d, seed=0):
    """Two float32 representations of n samples sharing a 32-dimensional latent."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, 32), dtype=np.float32)
    X = Z @ rng.standard_normal((32, d), dtype=np.float32) + rng.standard_normal((n, d), dtype=np.float32)
    Y = Z @ rng.standard_normal((32, d), dtype=np.float32) + rng.standard_normal((n, d), dtype=np.float32)
    return X, Y


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _load_platonic(path):
    for name in ("torchaudio", "torchaudio.functional", "pymp"):
        sys.modules.setdefault(name, types.ModuleType(name))
    spec = importlib.util.spec_from_file_location("platonic_metrics", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_case(impl, metric, n, d, k, threads, platonic):
    """One measurement in this process: {value, seconds, peak_gib, data_gib}."""
    X, Y = data(n, d)
    base = _peak_gib()
    if impl == "repsim":
        import repsim

        name = "AlignmentMetrics.cknna" if metric == "cknna" else metric  # platonic-rep's eps = 1e-6
        repsim.measure(name)(X[:64], Y[:64], k=2, n_threads=threads)  # compile Numba before timing
        t = time.perf_counter()
        value = repsim.measure(name)(X, Y, k=k, n_threads=threads)
    else:
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(threads)
        mod = _load_platonic(platonic)
        A, B = F.normalize(torch.from_numpy(X), dim=-1), F.normalize(torch.from_numpy(Y), dim=-1)
        fn = {"mutual_knn": mod.AlignmentMetrics.mutual_knn, "cknna": mod.AlignmentMetrics.cknna}[metric]
        t = time.perf_counter()
        value = fn(A, B, topk=k)
    seconds = time.perf_counter() - t
    return dict(impl=impl, metric=metric, n=n, d=d, k=k, threads=threads, value=float(value), seconds=seconds,
                peak_gib=_peak_gib(), data_gib=base)


def measure(impl, metric, n, d, k, threads, platonic, timeout):
    cmd = [sys.executable, os.path.abspath(__file__), "--case", impl, metric, str(n), str(d), str(k), str(threads),
           "--platonic", platonic]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return dict(impl=impl, metric=metric, n=n, d=d, k=k, threads=threads, error=f"over {timeout} s")
    if out.returncode != 0:
        return dict(impl=impl, metric=metric, n=n, d=d, k=k, threads=threads,
                    error=(out.stderr.strip().splitlines() or ["?"])[-1])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--big", type=int, default=100_000, help="n of the repsim-only run (0: skip)")
    ap.add_argument("--d", type=int, default=768)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--timeout", type=int, default=3600)
    ap.add_argument("--platonic", default=PLATONIC)
    ap.add_argument("--case", nargs=6, default=None)
    args = ap.parse_args(argv)
    if args.case:
        impl, metric, n, d, k, threads = args.case
        print(json.dumps(run_case(impl, metric, int(n), int(d), int(k), int(threads), args.platonic)))
        return None
    if args.quick:
        args.n, args.big, args.d = 600, 1500, 32
    have_platonic = os.path.exists(args.platonic)
    rows = []
    for metric in ("mutual_knn", "cknna"):
        for impl in ("repsim", "platonic-rep") if have_platonic else ("repsim",):
            rows.append(measure(impl, metric, args.n, args.d, args.k, args.threads, args.platonic, args.timeout))
            print(json.dumps(rows[-1]), flush=True)
    if args.big:
        for metric in ("mutual_knn", "cknna"):
            rows.append(measure("repsim", metric, args.big, args.d, args.k, args.threads, args.platonic,
                                args.timeout))
            print(json.dumps(rows[-1]), flush=True)
    print("\n| implementation | measure | n | d | k | threads | value | time (s) | peak RSS (GiB) | RSS before (GiB) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['impl']} | {r['metric']} | {r['n']} | {r['d']} | {r['k']} | {r['threads']} | — | "
                  f"{r['error']} | — | — |")
        else:
            print(f"| {r['impl']} | {r['metric']} | {r['n']:,} | {r['d']} | {r['k']} | {r['threads']} | "
                  f"{r['value']:.6f} | {r['seconds']:.2f} | {r['peak_gib']:.2f} | {r['data_gib']:.2f} |")
    return {"rows": rows, "platonic": have_platonic}


if __name__ == "__main__":
    main()
