"""W2 — LLM scale on paper and in miniature.

On paper: the plan for two 32-layer models of width 4096 on 10⁶ tokens under a 40 GB budget (an H100's share):
passes, memory, flops, and the time they imply at a stated float64 throughput.

In miniature (run for real): the same shape at 1/8 width — two 32-layer models of width 512 (an MLP stack of
Linear + GELU), budget scaled by 1/64 (625 MB), n = 20,000 rows — through ``repsim.compare(max_memory=...)``: the
plan's passes, its estimated peak against the measured peak RSS growth, and the matrices against a single pass
with an ample budget (≤ 1e-10). Each run in a fresh process.

    python bench/report_llm_plan.py                 # ~5 min on 2 cores
    python bench/report_llm_plan.py --tiny          # seconds
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
H100_FP64 = 50e12  # flop/s, a stated float64 throughput for the on-paper time (H100 SXM: 67 TFLOP/s FP64 tensor)


def paper() -> str:
    import repsim

    sites = {f"a{i}": 4096 for i in range(32)} | {f"b{i}": 4096 for i in range(32)}
    groups = [[f"a{i}" for i in range(32)], [f"b{i}" for i in range(32)]]
    p = repsim.plan(sites, "between", groups, n=10**6, max_memory="40GB")
    hours = p.flops() / H100_FP64 / 3600
    return (f"{p}\n  at {H100_FP64 / 1e12:.0f} TFLOP/s float64: {hours:.2f} h of statistics "
            f"(plus {p.n_passes} × the forward passes)")


def run(args) -> dict:
    sys.path.insert(0, HERE)
    import numpy as np
    import torch

    import repsim
    from _procmem import proc_status

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    def model():
        layers = []
        for _ in range(args.layers):
            layers += [torch.nn.Linear(args.width, args.width), torch.nn.GELU()]
        return torch.nn.Sequential(*layers).eval()

    models = {"a": model(), "b": model()}
    g = torch.Generator().manual_seed(1)
    data = [torch.randn(args.batch, args.width, generator=g) for _ in range(args.n // args.batch)]
    names = [str(2 * i + 1) for i in range(args.layers)]  # the GELU outputs
    base = proc_status().get("VmHWM", 0)
    t = time.perf_counter()
    rep = repsim.compare(models, data, names, metrics=("cka", "debiased_cka"), progress=False,
                         max_memory=args.budget)
    out = {"wall_s": time.perf_counter() - t, "peak_mib": (proc_status().get("VmHWM", 0) - base) / 2**20,
           "plan_peak_mib": rep.plan.peak / 2**20, "passes": rep.plan.n_passes, "plan": str(rep.plan),
           "cka": rep["cka"].values.tolist(), "debiased_cka": rep["debiased_cka"].values.tolist(), "n": rep.n}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--budget", default=str(40 * 10**9 // 64))
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args()
    if args.tiny and not args.child:
        args.layers, args.width, args.n, args.batch, args.budget = 6, 32, 600, 100, "600000"
    if args.child:
        print(json.dumps(run(args)))
        return
    print("## On paper: 2 × 32 layers × 4096, 10⁶ tokens, 40 GB\n\n```\n" + paper() + "\n```\n")
    res = {}
    for label, budget in (("passes", args.budget), ("one pass", str(10**12))):
        cmd = [sys.executable, __file__, "--child", "--layers", str(args.layers), "--width", str(args.width),
               "--n", str(args.n), "--batch", str(args.batch), "--budget", budget, "--threads", str(args.threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{label} failed:\n{proc.stderr[-3000:]}")
        res[label] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"[{time.strftime('%H:%M:%S')}] {label}: {res[label]['wall_s']:.1f} s, {res[label]['passes']} passes",
              file=sys.stderr)
    import numpy as np

    a, b = res["passes"], res["one pass"]
    diff = max(np.abs(np.array(a[m]) - np.array(b[m])).max() for m in ("cka", "debiased_cka"))
    print(f"## In miniature: 2 × {args.layers} layers × {args.width}, n = {a['n']:,}, budget {int(args.budget):,} B\n")
    print("| run | passes | wall s | plan peak MiB | measured peak RSS growth MiB | measured / plan |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, r in res.items():
        print(f"| {label} | {r['passes']} | {r['wall_s']:.1f} | {r['plan_peak_mib']:.0f} | {r['peak_mib']:.0f} | "
              f"{r['peak_mib'] / r['plan_peak_mib']:.2f} |")
    print(f"\nmax |Δ| between the passes and one pass (CKA, debiased CKA): {diff:.2e}\n\n```\n{a['plan']}\n```")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
