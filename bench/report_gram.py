"""Gram-space benchmark tables (markdown, medians): RBF CKA and wide linear RV2. See bench_gram.py for the variants.

    python bench/report_gram.py                            # RBF at n = 2000, 10 000; RV2 at n = 2000, p = q = 10 000, 20 000
    python bench/report_gram.py --quick                    # small sizes (a minute)
    python bench/report_gram.py --only rbf --rbf-n 2000 --rounds 5 --json gram.json

Every (variant, size) runs in its own fresh interpreter, so that one variant's memory and thread pools do not
affect another: the child builds the inputs, warms up (imports, Numba cache, torch) on a tiny problem, resets the
resident-memory high-water mark, then times ``--rounds`` calls (one for the dense numpy_H at n > 4000 and for the
feature-space RV2 at p ≥ 10 000). Reported per variant:

* time: the median of the timed calls;
* peak RSS growth: the process's resident high-water mark (VmHWM) during the calls minus its resident size before
  them: everything the computation allocated (NumPy, torch, BLAS and Numba buffers); the inputs are excluded;
* tracemalloc peak: the Python/NumPy heap peak during the first call (torch's allocations are not traced);
* the value, and its relative difference to repsim's (ckatorch: to repsim with ``bandwidth="median_lower"``, its
  torch.median convention). A difference above 1e-10 stops the report.

The machine is shared and noisy; the load (runnable tasks) sampled during the run is printed with the tables.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import _common  # noqa: E402
import _procmem  # noqa: E402


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ============================================================================= child process


def child(section: str, variant: str, n: int, p: int, rounds: int) -> dict:
    import resource
    import tracemalloc

    import numpy as np

    import bench_gram as bg

    if section == "rbf":
        X, Y = bg.rbf_data(n, p)
        fn = bg.rbf_call(variant, X, Y)
        Xs, Ys = bg.rbf_data(64, 16)
        bg.rbf_call(variant, Xs, Ys)()  # warm-up: imports, Numba cache, torch
        reference = bg.rbf_reference(variant, X, Y) if variant != "repsim" else None
    else:
        X, Y, Xc, Yc = bg.rv2_data(n, p)
        fn = bg.rv2_call(variant, X, Y, Xc, Yc)
        Xs, Ys = bg.wide_pair(40, 100, 100)
        bg.rv2_call(variant, Xs, Ys, Xs - Xs.mean(0), Ys - Ys.mean(0))()
        reference = None
    time.sleep(0.3)  # let the warm-up's BLAS threads go idle
    reset = _procmem.reset_hwm()
    base = _procmem.proc_status().get("VmRSS", 0)
    tracemalloc.start()
    t0 = time.perf_counter()
    value = fn()
    times = [time.perf_counter() - t0]
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    for _ in range(rounds - 1):
        time.sleep(0.3)
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    hwm = _procmem.proc_status().get("VmHWM")
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "section": section, "variant": variant, "n": n, "p": p, "times_s": times,
        "median_s": float(np.median(times)), "value": float(value), "reference": reference,
        "rss_growth_bytes": (hwm - base) if (reset and hwm is not None) else None,
        "peak_rss_bytes": hwm if hwm is not None else maxrss, "tracemalloc_peak_bytes": traced,
    }


def run_child(section: str, variant: str, n: int, p: int, rounds: int, timeout_s: float) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", section, "--variant", variant, "--n", str(n),
           "--p", str(p), "--rounds", str(rounds)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd=HERE)
    if proc.returncode != 0:
        raise RuntimeError(f"{section}/{variant} n={n} p={p} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ============================================================================= tables
def mib(b) -> str:
    return "—" if b is None else f"{b / 2**20:,.0f}"


def secs(s: float) -> str:
    return f"{s * 1e3:.0f} ms" if s < 1 else f"{s:.2f} s"


LABELS = {
    "repsim": "repsim `cka(kernel=\"rbf\")` (Gram space)",
    "numpy_H": "numpy, dense: H K H products",
    "numpy_mean": "numpy, dense: Kornblith's mean-centring",
    "ckatorch": "ckatorch `cka_base(kernel=\"rbf\")` (float64 CPU)",
    "gram": "repsim `rv2(space=\"gram\")`",
    "feature": "repsim `rv2(space=\"feature\")`",
    "hoggorm": "hoggorm `RV2coeff([Xc, Yc])`",
}


def table(rows: list[dict], skipped: list[tuple], base_variant: str) -> str:
    out = [
        "| n | p = q | implementation | time (median) | vs repsim | peak RSS growth MiB | tracemalloc peak MiB | "
        "value | rel. diff |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    by_size: dict = {}
    for r in rows:
        by_size.setdefault((r["n"], r["p"]), []).append(r)
    for (n, p), rs in sorted(by_size.items()):
        base = next((r for r in rs if r["variant"] == base_variant), None)
        for r in rs:
            ratio = f"{r['median_s'] / base['median_s']:.1f}×" if base else "—"
            tm = "n/a (torch)" if r["variant"] == "ckatorch" else mib(r["tracemalloc_peak_bytes"])
            rounds = len(r["times_s"])
            out.append(
                f"| {n:,} | {p:,} | {LABELS[r['variant']]} | {secs(r['median_s'])} ({rounds} run{'s' * (rounds > 1)}) "
                f"| {ratio} | {mib(r['rss_growth_bytes'])} | {tm} | {r['value']:.6f} | {r.get('rel_diff', 0.0):.1e} |"
            )
        for (sn, sp, variant, why) in skipped:
            if (sn, sp) == (n, p):
                out.append(f"| {n:,} | {p:,} | {LABELS[variant]} | not run: {why} | | | | | |")
    return "\n".join(out)


def check(rows: list[dict], base_variant: str) -> None:
    by_size: dict = {}
    for r in rows:
        by_size.setdefault((r["n"], r["p"]), []).append(r)
    for rs in by_size.values():
        base = next((r for r in rs if r["variant"] == base_variant), None)
        for r in rs:
            ref = r["reference"] if r.get("reference") is not None else (base["value"] if base else r["value"])
            r["rel_diff"] = _common.relative_difference(r["value"], ref)
            if r["rel_diff"] > _common.RTOL_AGREE:
                raise SystemExit(f"DISAGREEMENT {r['variant']} n={r['n']} p={r['p']}: {r['value']!r} vs {ref!r}")


# ============================================================================= main
def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="rbf,rv2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rbf-n", default="2000,10000")
    ap.add_argument("--rbf-p", type=int, default=None)
    ap.add_argument("--rv2-n", type=int, default=None)
    ap.add_argument("--rv2-p", default="10000,20000")
    ap.add_argument("--quick", action="store_true", help="small sizes: RBF n = 1000, RV2 n = 500, p = q = 3000")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per child process")
    ap.add_argument("--json", default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--variant", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--p", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        print(json.dumps(child(args.child, args.variant, args.n, args.p, args.rounds)))
        return

    import bench_gram as bg

    if args.quick:
        rbf_sizes, rv2_sizes = [1000], [(500, 3000)]
    else:
        rbf_sizes = [int(v) for v in args.rbf_n.split(",") if v]
        rv2_sizes = [(args.rv2_n or bg.RV2_N, int(v)) for v in args.rv2_p.split(",") if v]
    rbf_p = args.rbf_p or bg.RBF_P
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    results: dict = {"machine": _common.machine_summary(), "versions": _common.versions(), "date": _common.today()}
    ok, why = bg.ckatorch_available()
    with _common.LoadSampler() as load:
        if "rbf" in sections:
            rows, skipped = [], []
            for n in rbf_sizes:
                for variant in bg.RBF_VARIANTS:
                    if variant == "ckatorch" and not ok:
                        skipped.append((n, rbf_p, variant, f"ckatorch cannot be used ({why})"))
                        continue
                    rounds = 1 if (variant == "numpy_H" and n > 4000) else args.rounds
                    log(f"rbf {variant} n={n} p={rbf_p} ({rounds} timed call(s))")
                    rows.append(run_child("rbf", variant, n, rbf_p, rounds, args.timeout))
                    log(f"  {rows[-1]['median_s']:.3f} s, RSS +{mib(rows[-1]['rss_growth_bytes'])} MiB")
            check(rows, "repsim")
            results["rbf"] = {"rows": rows, "skipped": skipped}
        if "rv2" in sections:
            rows, skipped = [], []
            for n, p in rv2_sizes:
                for variant in bg.RV2_VARIANTS:
                    if variant == "feature" and bg.feature_bytes(p, p) > bg.feature_limit_bytes():
                        skipped.append((n, p, variant, f"its (p+q+3)² statistics need "
                                        f"{bg.feature_bytes(p, p) / 2**30:.1f} GiB (limit "
                                        f"REPSIM_BENCH_FEATURE_GB={bg.feature_limit_bytes() / 2**30:g})"))
                        continue
                    rounds = 1 if (variant == "feature" and p >= 10000) else args.rounds
                    log(f"rv2 {variant} n={n} p=q={p} ({rounds} timed call(s))")
                    rows.append(run_child("rv2", variant, n, p, rounds, args.timeout))
                    log(f"  {rows[-1]['median_s']:.3f} s, RSS +{mib(rows[-1]['rss_growth_bytes'])} MiB")
            check(rows, "gram")
            results["rv2"] = {"rows": rows, "skipped": skipped}
    results["load"] = load.summary()

    print(f"Machine: {results['machine']}; {results['versions']}; {results['date']}.")
    if results["load"]:
        ld = results["load"]
        print(f"Load during the run (runnable tasks, ours included): median {ld['median']}, p90 {ld['p90']}, "
              f"max {ld['max']}.")
    if "rbf" in results:
        print(f"\n### RBF CKA (sigma = threshold = {bg.THRESHOLD}, median bandwidth), p = q = {rbf_p}\n")
        print(table(results["rbf"]["rows"], results["rbf"]["skipped"], "repsim"))
        print("\nrel. diff: to repsim's value (ckatorch: to repsim with `bandwidth=\"median_lower\"`, torch.median's "
              "lower middle value; its own value differs from Kornblith's by that convention).")
    if "rv2" in results:
        print("\n### Linear RV2 (centred), wide layers\n")
        print(table(results["rv2"]["rows"], results["rv2"]["skipped"], "gram"))
        print("\nvs repsim: time relative to `rv2(space=\"gram\")`, which `space=\"auto\"` picks here (p + q > 1.5 n).")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
