"""W1 — every hidden state of two transformers: exact 13 × 13 linear and debiased CKA between two BERT-base-shaped
models (random init from ``transformers.BertConfig()``, no download), tokens as samples (``reduce="positions"``
with the attention masks), n ≥ 20,000 tokens.

Each variant runs in a fresh process (peak RSS = its VmHWM growth over the loaded models and data):

* ``exact``     ``repsim.compare(..., metrics=("cka", "debiased_cka"))`` with the default pairs (the blocks between
                the two models) and the default memory budget; its plan is printed;
* ``forward``   the same forward passes with no hooks (subtracted from ``exact``);
* ``floor``     the bare float64 BLAS work of exactly the kept blocks on batches of the same shape: one DSYRK per
                site (768 columns) and one DGEMM per kept pair, on contiguous float64 arrays read in place (no
                conversion, no copies);
* ``minibatch`` ``repsim.compare(..., estimator="minibatch")``: the peers' minibatch HSIC₁ estimator (pytorch-cka's
                estimator, which cannot take tokens as samples), chunks of ``--chunk`` tokens; its difference from
                the exact debiased CKA.

    python bench/report_transformers.py                  # W1 at its size (~10 min on 2 cores)
    python bench/report_transformers.py --tiny           # seconds: a 2-layer, width-64 BERT
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def make(args):
    import torch
    from transformers import BertConfig, BertModel

    if args.tiny:
        cfg = BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)
    else:
        cfg = BertConfig()  # BERT-base: 12 layers, hidden 768 (13 hidden states with the embeddings)
    models = {}
    for name, seed in (("a", 0), ("b", 1)):
        torch.manual_seed(seed)
        models[name] = BertModel(cfg).eval()
    g = torch.Generator().manual_seed(123)
    batches, tokens = [], 0
    while tokens < args.tokens:
        ids = torch.randint(1000, cfg.vocab_size, (args.batch, args.seq), generator=g)
        lengths = torch.randint(args.seq // 2, args.seq + 1, (args.batch,), generator=g)
        mask = (torch.arange(args.seq)[None, :] < lengths[:, None]).long()
        batches.append({"input_ids": ids, "attention_mask": mask})
        tokens += int(mask.sum())
    layers = ["embeddings"] + [f"encoder.layer.{i}" for i in range(cfg.num_hidden_layers)]
    return models, batches, layers, tokens, cfg.hidden_size


def run_variant(args) -> dict:
    sys.path.insert(0, HERE)
    import numpy as np
    import torch

    import repsim
    from _procmem import proc_status

    torch.set_num_threads(args.threads)
    models, batches, layers, tokens, width = make(args)
    base = proc_status().get("VmHWM", 0)
    out = {"variant": args.variant, "tokens": tokens, "sites": 2 * len(layers), "width": width}
    t = time.perf_counter()
    c0 = time.process_time()
    if args.variant == "exact":
        rep = repsim.compare(models, batches, layers, metrics=("cka", "debiased_cka"), reduce="positions",
                             progress=False)
        out["plan"] = str(rep.plan)
        out["cka"] = rep["cka"].values.tolist()
        out["debiased_cka"] = rep["debiased_cka"].values.tolist()
        out["n"] = rep.n
    elif args.variant == "minibatch":
        rep = repsim.compare(models, batches, layers, metrics=("cka",), reduce="positions", progress=False,
                             estimator="minibatch", batch_size=args.chunk)
        out["cka"] = rep["cka"].values.tolist()
        out["n"] = rep.n
    elif args.variant == "forward":
        with torch.no_grad():
            for b in batches:
                for m in models.values():
                    m(**b)
    elif args.variant == "floor":
        from scipy.linalg import blas

        L = len(layers)
        rng = np.random.default_rng(0)
        rows = [int(b["attention_mask"].sum()) for b in batches]
        X = [rng.normal(size=(max(rows), width)) for _ in range(2 * L)]
        own = [np.zeros((width, width), order="F") for _ in range(2 * L)]
        cross = [np.zeros((width, width), order="F") for _ in range(L * L)]
        t = time.perf_counter()
        c0 = time.process_time()
        for r in rows:
            xs = [x[:r] for x in X]
            for k in range(2 * L):  # xs[k].T is Fortran-ordered: BLAS reads it in place (no copy)
                blas.dsyrk(1.0, xs[k].T, beta=1.0, c=own[k], trans=0, lower=0, overwrite_c=1)
            for i in range(L):
                for j in range(L):
                    blas.dgemm(1.0, xs[i].T, xs[L + j].T, beta=1.0, c=cross[i * L + j], trans_b=1, overwrite_c=1)
    out["wall_s"] = time.perf_counter() - t
    out["cpu_s"] = time.process_time() - c0
    out["peak_mib"] = (proc_status().get("VmHWM", 0) - base) / 2**20
    out["hwm_mib"] = proc_status().get("VmHWM", 0) / 2**20
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--tokens", type=int, default=20_000)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--chunk", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--only", default="exact,forward,floor,minibatch")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args()
    if args.tiny:
        args.tokens, args.seq, args.batch = min(args.tokens, 600), 16, 8
    if args.variant:
        print(json.dumps(run_variant(args)))
        return
    results = {}
    for v in args.only.split(","):
        cmd = [sys.executable, __file__, "--variant", v, "--tokens", str(args.tokens), "--seq", str(args.seq),
               "--batch", str(args.batch), "--chunk", str(args.chunk), "--threads", str(args.threads)]
        if args.tiny:
            cmd.append("--tiny")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"variant {v} failed:\n{proc.stderr[-3000:]}")
        results[v] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"[{time.strftime('%H:%M:%S')}] {v}: {results[v]['wall_s']:.1f} s wall, {results[v]['cpu_s']:.1f} s CPU, "
              f"peak +{results[v]['peak_mib']:.0f} MiB (HWM {results[v]['hwm_mib']:.0f} MiB)", file=sys.stderr)
    print(render(results))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


def render(r: dict) -> str:
    import numpy as np

    ex = r.get("exact", {})
    lines = [f"W1: two BERT-shaped models, {ex.get('sites', '?')} sites × {ex.get('width', '?')}, "
             f"{ex.get('tokens', '?')} tokens as samples (attention-masked)", "",
             "| variant | wall s | CPU s | peak MiB over models+data |", "|---|---:|---:|---:|"]
    for v, d in r.items():
        lines.append(f"| {v} | {d['wall_s']:.1f} | {d['cpu_s']:.1f} | {d['peak_mib']:.0f} |")
    if {"exact", "forward", "floor"} <= set(r):
        ratio = (r["exact"]["wall_s"] - r["forward"]["wall_s"]) / r["floor"]["wall_s"]
        lines += ["", f"(exact − forward) / floor = ({r['exact']['wall_s']:.1f} − {r['forward']['wall_s']:.1f}) / "
                      f"{r['floor']['wall_s']:.1f} = **{ratio:.2f}×** (target ≤ 1.3)"]
    if {"exact", "minibatch"} <= set(r):
        d = np.abs(np.array(r["minibatch"]["cka"]) - np.array(r["exact"]["debiased_cka"])).max()
        lines.append(f"minibatch estimator vs exact debiased CKA: max |Δ| = {d:.2e}")
    if "plan" in ex:
        lines += ["", "```", ex["plan"], "```"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
