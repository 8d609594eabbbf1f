"""Model comparison benchmark: 8 × 8 linear-CKA matrix of an 8-layer MLP, repsim vs the PyPI CKA libraries.

    python bench/report_compare.py                       # issue sizes, ~3.5 min on a quiet 2-core machine
    python bench/report_compare.py --rounds 5 --peer-rounds 2 --json /tmp/compare.json
    python bench/report_compare.py --size tiny --rounds 1  # smoke test (seconds)
    python bench/report_compare.py --profile             # + cProfile of repsim exact/minibatch, pytorch-cka
    python bench/report_compare.py --init torch --only repsim-minibatch,pytorch-cka --rounds 1 --no-reference
                                                         # PyTorch's default init: the fp32 peers' cancellation

Workload, variants and floors: see ``bench_compare.py`` (an MLP 128 → 256 → 384 → 512 → 768 → 1024 → 1280 → 1536
→ 2048 with ReLU between, the outputs of its 8 Linear layers, n = 10 000 inputs in batches of 1 000, the model
compared with itself, forward passes included).

Peers (bench-only, never project dependencies; install into the venv without letting pip touch torch)::

    pip install --no-deps pytorch-cka cka-pytorch torch-cka
    pip install --no-deps torchmetrics lightning-utilities lightning pyyaml   # imported by cka-pytorch

``pytorch-cka`` (import ``cka``) and ``torch-cka`` (import ``torch_cka``) need only torch, tqdm and matplotlib.
``cka-pytorch`` (import ``cka_pytorch``) imports ``lightning`` (for a wrapper class) and ``torchmetrics`` (its
accumulator) and ``seaborn`` (plotting only; seaborn pulls pandas, so when it is missing an empty stand-in module is
registered — the CKA computation never touches it). A peer that cannot be imported gets a "skipped" cell with the
reason.

Method
------
* **One fresh process per measurement** (``--worker``): it builds the model and data (fixed seeds), runs the
  variant once on 128 rows to warm up (imports, thread pools, the C++ core), sleeps 0.25 s so BLAS pools go idle,
  resets the resident high-water mark (``/proc/self/clear_refs``), then times one full run. Peak memory =
  ``VmHWM`` after the run − ``VmRSS`` before it (torch's allocations included, unlike ``tracemalloc``; not
  ``ru_maxrss``, which a child inherits from its parent on Linux).
* **In-run split**: outermost forward pre/post hooks on the model time the ``model(x)`` calls (the library's own
  hooks included) and a wrapper times the library's per-batch CKA method ("accumulate": repsim
  ``Moments.update`` / ``MinibatchCKA.update``, pytorch-cka ``_accumulate_hsic``, cka-pytorch
  ``_update_hsic_matrices``); the rest is data loading and the final metric.
* **Paired floors**: the repsim-exact process, right after its timed run, times the forward passes alone (no hooks),
  the float64 floor (``dsyrk`` of the ten (1000, Σp + 9) augmented batches — the call repsim makes), optionally
  NumPy's ``Z.T @ Z`` (``--matmul64``), and the 36 float32 GEMMs ``XᵢᵀXⱼ`` (i ≤ j) of a feature-space pairwise
  loop on the full activations. The target ratio (exact − forward) / floor is formed per round from one process,
  so a burst of background load hits numerator and denominator alike; its median over rounds is reported.
* **Interleaved rounds**: each round runs repsim-exact (+ floors), repsim-minibatch and pytorch-cka once, in turn;
  a variant's time is the median over rounds, ratios are medians of per-round ratios (with their range). The slow
  peers (cka-pytorch, torch-cka: 1-2.5 minutes per run) run ``--peer-rounds`` times (default 1).
* **Threads**: ``torch.set_num_threads(T)`` in every process (T = ``--threads``, default all cores); NumPy's and
  SciPy's OpenBLAS use their defaults (all cores); repsim's fused pass uses its default (all cores, at most 8).
* **Exact reference**: ``repsim.cka`` on the full (10 000, pᵢ) float32 activation matrices for the 28 pairs
  i < j (diagonal = 1), ``repsim.cka`` itself verified once against the textbook Gram-space formula (float64
  NumPy, HKH and HLH) on a random 1 000-row subsample, all 36 pairs. Each estimate's distance from the reference
  is max |Δ| over the 64 entries.
* **Agreement**: pytorch-cka also runs once on a float64 copy of the model, compared with repsim's minibatch CKA
  on that copy (same estimator, same chunks; pytorch-cka still sums HSIC in float32 tensors).
* The machine is shared: ``/proc/stat`` ``procs_running`` is sampled throughout; on 2 cores a median well above
  3 means other work competed and absolute times are inflated (per-round ratios less so).

Run time: 3.3 minutes on a quiet 2-core machine (load ≈ 3, ours included); 11 minutes when other tenants kept the
load at 6-8 (everything, torch-cka's 25 s run above all, slowed 3-5×).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

import _common
import _procmem

HERE = os.path.dirname(os.path.abspath(__file__))

ROUND_VARIANTS = ("repsim-exact", "repsim-minibatch", "repsim-minibatch32", "pytorch-cka")  # repsim-exact also times the floors
SLOW_PEERS = ("cka-pytorch", "torch-cka", "kornblith-loop")
PAIRED = ("forward", "floor-syrk64", "floor-matmul64", "floor-pairwise32", "floor-gram32")  # timed inside the repsim-exact worker
DESCRIPTION = {
    "repsim-exact": ("repsim `compare` (exact)", "exact full-data linear CKA", "fp64 statistics"),
    "repsim-minibatch": ("repsim `compare(estimator=\"minibatch\")`", "minibatch HSIC₁ (b = {b})", "fp64"),
    "repsim-minibatch32": ("repsim `compare(estimator=\"minibatch\", precision=\"fp32\")`",
                           "minibatch HSIC₁ (b = {b})", "fp32 Grams, fp64 sums"),
    "pytorch-cka": ("pytorch-cka `compute_cka`", "minibatch HSIC₁ (b = {b})", "fp32"),
    "cka-pytorch": ("cka-pytorch `CKACalculator` (1 epoch)", "minibatch HSIC₁ (b = {b})", "fp32"),
    "torch-cka": ("torch-cka `CKA.compare`", "minibatch HSIC₁ (b = {b})", "fp32"),
    "pytorch-cka-f64": ("pytorch-cka, float64 model (agreement check)", "minibatch HSIC₁ (b = {b})",
                        "fp64, fp32 sums"),
    "kornblith-loop": ("Kornblith feature-space CKA loop, activations in memory", "exact full-data linear CKA",
                       "fp64"),
    "forward": ("forward passes only (no hooks)", "—", "fp32"),
    "floor-syrk64": ("floor: `dsyrk` G += ZᵀZ, Z = ({b}, Σp+{L1}) × {nb}", "—", "fp64"),
    "floor-matmul64": ("floor: NumPy `Z.T @ Z`, Z = ({b}, Σp+{L1}) × {nb}", "—", "fp64"),
    "floor-pairwise32": ("floor: 36 GEMMs XᵢᵀXⱼ, i ≤ j, n = {n}", "—", "fp32"),
    "floor-gram32": ("floor: chunk Grams XₖXₖᵀ, one `ssyrk` per layer and {b}-row chunk", "—", "fp32"),
}
# where each library does its CKA work outside the model calls (timed separately: "accumulate")
ACCUMULATE = {
    "repsim-exact": ("repsim.moments", "Moments", "update"),
    "repsim-minibatch": ("repsim._minibatch", "MinibatchCKA", "update"),
    "repsim-minibatch32": ("repsim._minibatch", "MinibatchCKA", "update"),
    "pytorch-cka": ("cka.cka", "CKA", "_accumulate_hsic"),
    "pytorch-cka-f64": ("cka.cka", "CKA", "_accumulate_hsic"),
    "cka-pytorch": ("cka_pytorch.cka", "CKACalculator", "_update_hsic_matrices"),
}
NOTES = {
    "cka-pytorch": "hooks the model twice (model1 is model2: two forward passes per batch) and forms each Gram "
                   "inside its hooks, so its Grams count under model calls",
    "torch-cka": "calls the model twice per batch (model1, model2) and forms one Gram per (i, j) pair; its HSIC "
                 "loop runs inline (no accumulate split)",
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ============================================================================= worker (one process)


class _timed_method:
    """Patch ``module.Class.method`` to add its wall time to ``acc["seconds"]`` (restored on exit)."""

    def __init__(self, spec, acc: dict):
        self.spec, self.acc = spec, acc

    def __enter__(self):
        if self.spec is None:
            return self
        import importlib

        mod, cls, meth = self.spec
        self.cls = getattr(importlib.import_module(mod), cls)
        self.meth = meth
        self.orig = self.cls.__dict__[meth]
        orig, acc = self.orig, self.acc

        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return orig(*a, **k)
            finally:
                acc["seconds"] += time.perf_counter() - t

        setattr(self.cls, meth, wrapper)
        return self

    def __exit__(self, *exc):
        if self.spec is not None:
            setattr(self.cls, self.meth, self.orig)


def _timed(fn) -> dict:
    """Wall and CPU seconds (all threads of this process) of one call, after letting BLAS pools go idle."""
    time.sleep(_common.SETTLE_S)
    c = time.process_time()
    t = time.perf_counter()
    fn()
    return {"seconds": time.perf_counter() - t, "cpu_s": time.process_time() - c}


def _paired_floors(args, cfg, model, X, names, pairwise: bool = True) -> dict:
    """After the exact run, in the same process: forward alone, the float64 floor(s), the fp32 pairwise floor."""
    import torch

    import bench_compare as bc

    out = {}
    loader = bc.make_loader(X, cfg["batch"])
    out["forward"] = _timed(lambda: bc.run_forward(model, loader))
    Ws = bc.augmented_batches(cfg)
    d = Ws[0].shape[1]
    G = np.zeros((d, d), order="F")
    bc.floor_syrk64([np.ascontiguousarray(Ws[0][:64, :64])])  # warm
    out["floor-syrk64"] = _timed(lambda: bc.floor_syrk64(Ws, G))
    del G
    if args.matmul64:
        bc.floor_matmul64([np.ascontiguousarray(Ws[0][:64, :64])])
        out["floor-matmul64"] = _timed(lambda: bc.floor_matmul64(Ws))
    del Ws
    gc.collect()
    if pairwise:
        acts = [torch.from_numpy(a) for a in bc.capture_full(model, X, names, cfg["batch"])]
        bc.floor_pairwise32([a[:64, :64] for a in acts])
        out["floor-pairwise32"] = _timed(lambda: bc.floor_pairwise32(acts))
        arrays = [a.numpy() for a in acts]
        bc.floor_gram32([a[:16, :8] for a in arrays], 8)  # warm
        out["floor-gram32"] = _timed(lambda: bc.floor_gram32(arrays, cfg["batch"]))
    return out


def worker(args) -> dict:
    import torch

    import bench_compare as bc

    torch.set_num_threads(args.threads)
    variant = args.worker
    cfg = bc.SIZES[args.size]
    names = bc.layer_names(cfg)
    b = cfg["batch"]

    if variant == "reference":
        model = bc.make_model(cfg, init=args.init)
        acts = bc.capture_full(model, bc.make_inputs(cfg), names, b)
        t0 = time.perf_counter()
        err = bc.verify_reference(acts, rows=min(1000, cfg["n"]))
        t1 = time.perf_counter()
        R = bc.exact_reference(acts)
        return {"variant": variant, "matrix": R.tolist(), "verify_max_abs_diff": err, "verify_rows": min(1000, cfg["n"]),
                "verify_s": t1 - t0, "reference_s": time.perf_counter() - t1}

    name = "pytorch-cka" if variant == "pytorch-cka-f64" else variant
    fn, peer = bc.VARIANTS[name]
    if peer is not None and bc.peer_missing(peer):
        return {"variant": variant, "skipped": bc.peer_missing(peer)}
    dtype = torch.float64 if variant == "pytorch-cka-f64" else torch.float32
    model = bc.make_model(cfg, dtype=dtype, init=args.init)
    X = bc.make_inputs(cfg, dtype=dtype)
    loader = bc.make_loader(X, b)
    fn(model, bc.make_loader(X[:128], 64), names, 64)  # warm-up: imports, thread pools, the C++ core
    gc.collect()
    time.sleep(_common.SETTLE_S)

    profiler = None
    if args.profile_worker:
        import cProfile

        profiler = cProfile.Profile()
    acc = {"seconds": 0.0}
    reset = _procmem.reset_hwm()
    before = _procmem.proc_status()
    with bc.timed_model_calls(model) as calls, _timed_method(ACCUMULATE.get(variant), acc):
        c0 = time.process_time()
        t0 = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        out = fn(model, loader, names, b)
        if profiler is not None:
            profiler.disable()
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - c0
    after = _procmem.proc_status()
    res = {
        "variant": variant,
        "seconds": seconds,
        "cpu_s": cpu,
        "model_s": calls["seconds"],
        "model_calls": calls["calls"],
        "accumulate_s": acc["seconds"] if variant in ACCUMULATE else None,
        "threads": torch.get_num_threads(),
        "hwm_growth": (after["VmHWM"] - before["VmRSS"]) if reset and "VmHWM" in after and "VmRSS" in before else None,
    }
    if out is not None:
        res["matrix"] = np.asarray(out).tolist()
    if variant in bc.PEER_NOTES:
        res["note"] = bc.PEER_NOTES[variant]
    if profiler is not None:
        import io
        import pstats

        s = io.StringIO()
        pstats.Stats(profiler, stream=s).sort_stats("tottime").print_stats(args.profile_worker)
        res["profile"] = s.getvalue()
    elif variant == "repsim-exact" and not args.no_floors:
        del out
        gc.collect()
        res["paired"] = _paired_floors(args, cfg, model, X, names, pairwise=not args.no_pairwise)
    return res


# ============================================================================= parent
def run_worker(variant: str, args, profile: int = 0, pairwise: bool = True) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", variant, "--size", args.size,
           "--threads", str(args.threads), "--init", args.init]
    if profile:
        cmd += ["--profile-worker", str(profile)]
    if args.matmul64:
        cmd += ["--matmul64"]
    if args.no_floors:
        cmd += ["--no-floors"]
    if not pairwise:
        cmd += ["--no-pairwise"]
    env = dict(os.environ, TQDM_DISABLE="1", PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=os.path.dirname(HERE))
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        tail = "\n".join(p.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"worker {variant!r} failed (rc {p.returncode}):\n{tail}")
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res["process_s"] = wall
    if "skipped" in res:
        log(f"  {variant}: skipped ({res['skipped']})")
    else:
        mem = res.get("hwm_growth")
        extra = ", ".join(f"{k} {v['seconds']:.2f} s" for k, v in res.get("paired", {}).items())
        log(f"  {variant}: {res.get('seconds', res.get('reference_s', 0)):.2f} s"
            + (f" (model calls {res['model_s']:.2f} s)" if "model_s" in res else "")
            + (f", peak +{mem / 2**20:.0f} MiB" if mem is not None else "")
            + (f"; paired: {extra}" if extra else "") + f" [process {wall:.1f} s]")
    return res


def fmt_s(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.3g}" if x < 10 else f"{x:.1f}"


def fmt_mib(b: int | None) -> str:
    return "—" if b is None else f"{b / 2**20:,.0f}"


def fmt_delta(x: float | None) -> str:
    return "—" if x is None else f"{x:.1e}"


def collect(args) -> dict:
    only = set(args.only.split(",")) if args.only else None

    def wanted(v):
        return only is None or v in only

    results: dict[str, list[dict]] = {}
    skipped: dict[str, str] = {}

    def record(v, res):
        if "skipped" in res:
            skipped[v] = res["skipped"]
            return
        results.setdefault(v, []).append(res)
        for k, r in res.get("paired", {}).items():
            results.setdefault(k, []).append(dict(r, variant=k, paired=True))

    reference = None
    if not args.no_reference and wanted("reference"):
        log("exact reference: repsim.cka on the full activations (28 pairs i < j), verified on a subsample")
        reference = run_worker("reference", args)
        if reference["verify_max_abs_diff"] > 1e-10:
            raise SystemExit(f"repsim.cka disagrees with the naive Gram formula: {reference['verify_max_abs_diff']}")
    round_variants = [v for v in ROUND_VARIANTS if wanted(v)]
    slow = [v for v in SLOW_PEERS if wanted(v)]
    for r in range(max(args.rounds, args.peer_rounds)):
        log(f"round {r + 1}/{max(args.rounds, args.peer_rounds)}")
        todo = (round_variants if r < args.rounds else []) + (slow if r < args.peer_rounds else [])
        for v in todo:
            if v not in skipped:
                record(v, run_worker(v, args, pairwise=r < args.pairwise_rounds))
    if wanted("pytorch-cka-f64") and "pytorch-cka" not in skipped and not args.no_f64_check:
        log("agreement check: pytorch-cka on a float64 copy of the model, and repsim minibatch on it")
        record("pytorch-cka-f64", run_worker("pytorch-cka-f64", args))
        if "pytorch-cka-f64" in results:
            results["repsim-minibatch-f64"] = [_f64_repsim(args)]
    profiles = {}
    if args.profile:
        for v in ("repsim-exact", "repsim-minibatch", "repsim-minibatch32", "pytorch-cka"):
            if wanted(v) and v not in skipped:
                log(f"profile {v}")
                profiles[v] = run_worker(v, args, profile=args.profile_lines)
    return {"results": results, "skipped": skipped, "reference": reference, "profiles": profiles}


def _f64_repsim(args) -> dict:
    """repsim minibatch on the float64 model (in this process: untimed, only the matrix matters)."""
    import torch

    import bench_compare as bc

    torch.set_num_threads(args.threads)
    cfg = bc.SIZES[args.size]
    model = bc.make_model(cfg, dtype=torch.float64, init=args.init)
    X = bc.make_inputs(cfg, dtype=torch.float64)
    out = bc.run_repsim_minibatch(model, bc.make_loader(X, cfg["batch"]), bc.layer_names(cfg), cfg["batch"])
    return {"variant": "repsim-minibatch-f64", "matrix": out.tolist()}


def _median(runs: list[dict], key: str = "seconds"):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return _common.median(vals) if vals else None


def _matrix(runs: list[dict]):
    return np.array(runs[0]["matrix"]) if runs and "matrix" in runs[0] else None


def _per_round(res: dict, fn) -> list[float]:
    """fn(round index) over the rounds where it is defined (KeyError / IndexError skip a round)."""
    out = []
    for i in range(max((len(v) for v in res.values()), default=0)):
        try:
            out.append(fn(i))
        except (KeyError, IndexError, TypeError):
            pass
    return out


def _rng(values: list[float]) -> str:
    return f" (per round {min(values):.2f}–{max(values):.2f}×)" if len(values) > 1 else ""


def render(data: dict, args, load: dict, started: str, elapsed: float) -> str:
    import torch

    import bench_compare as bc

    cfg = bc.SIZES[args.size]
    res, skipped = data["results"], data["skipped"]
    ref = data["reference"]
    R = np.array(ref["matrix"]) if ref else None
    L = len(cfg["widths"])
    fmt = {"b": cfg["batch"], "L1": L + 1, "nb": -(-cfg["n"] // cfg["batch"]), "n": f"{cfg['n']:,}"}
    mb = _matrix(res.get("repsim-minibatch", []))
    t = {v: _median(r) for v, r in res.items()}
    lines = [f"### Model comparison: {L} × {L} linear CKA of an MLP ({args.size} size)", ""]
    lines.append(
        f"{started}; {_common.machine_summary()}; `torch.set_num_threads({args.threads})` in every process, "
        f"BLAS and repsim's fused pass at their defaults (all cores). torch {torch.__version__}, "
        f"repsim {__import__('repsim').__version__}, "
        + ", ".join(f"{p} {bc.peer_version(p)}" for p in bc.PEERS)
        + f". MLP {cfg['in_dim']} → " + " → ".join(str(w) for w in cfg["widths"])
        + f" (ReLU between, {args.init} init; Σp = {sum(cfg['widths']):,}), its {L} Linear outputs, "
        f"n = {cfg['n']:,} in batches of {cfg['batch']:,}, the model vs itself, forward passes included. "
        f"Machine load (procs_running, ours included) median {load.get('median', '?')}, p90 {load.get('p90', '?')}, "
        f"max {load.get('max', '?')}; this report took {elapsed / 60:.1f} min."
    )
    busy = load.get("median")
    if busy is not None and busy > (os.cpu_count() or 1) + 1:
        lines.append("")
        lines.append(
            f"**Caution:** the machine's load (median {busy} runnable tasks on {os.cpu_count()} cores, ours ≈ "
            f"{args.threads}) shows other work competing: absolute times are inflated and the wall-time target "
            "ratios are unreliable — the standalone forward pass subtracted from the exact time is the most affected. "
            "The CPU-time ratios hold up better; rerun on a quiet machine for the verdicts."
        )
    lines.append("")
    lines.append("| variant | estimator | precision | wall s: median (runs) | CPU s | model calls s | accumulate s | "
                 "peak MiB | max \\|Δ\\| vs exact | max \\|Δ\\| vs repsim minibatch |")
    lines.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    order = ["repsim-exact", "repsim-minibatch", "repsim-minibatch32", "pytorch-cka", "cka-pytorch", "torch-cka",
             "kornblith-loop", "pytorch-cka-f64",
             "forward", "floor-syrk64", "floor-matmul64", "floor-pairwise32", "floor-gram32"]
    for v in order:
        what, est, prec = DESCRIPTION[v]
        what, est = what.format(**fmt), est.format(**fmt)
        if v in skipped:
            lines.append(f"| {what} | {est} | {prec} | skipped: {skipped[v]} | | | | | | |")
            continue
        runs = res.get(v)
        if not runs:
            continue
        M = _matrix(runs)
        d_exact = float(np.max(np.abs(M - R))) if (M is not None and R is not None) else None
        base = mb if v != "pytorch-cka-f64" else _matrix(res.get("repsim-minibatch-f64", []))
        d_mb = float(np.max(np.abs(M - base))) if (M is not None and base is not None and v != "repsim-minibatch") else None
        times = ", ".join(fmt_s(r["seconds"]) for r in runs)
        paired = " ¹" if runs[0].get("paired") else ""
        lines.append(
            f"| {what}{paired} | {est} | {prec} | **{fmt_s(_median(runs))}** ({times}) | "
            f"{fmt_s(_median(runs, 'cpu_s'))} | {fmt_s(_median(runs, 'model_s'))} | {fmt_s(_median(runs, 'accumulate_s'))} | "
            f"{fmt_mib(_median(runs, 'hwm_growth'))} | {fmt_delta(d_exact)} | {fmt_delta(d_mb)} |"
        )
    lines.append("")
    lines.append(
        "¹ timed in the repsim-exact process right after its run (same process, adjacent in time: paired per round). "
        "*CPU*: process CPU time, all threads (median; ≈ threads × wall when the cores are ours — less affected by "
        "other tenants than wall time, but it counts BLAS/OpenMP spin-waiting). "
        "*model calls*: time inside `model(x)` calls, the library's forward hooks included; *accumulate*: time in the "
        "library's per-batch CKA method outside the model calls (repsim `Moments.update` = fused pass + `dsyrk`; "
        "`MinibatchCKA.update`; pytorch-cka `_accumulate_hsic`; cka-pytorch `_update_hsic_matrices`). *peak*: growth "
        "of the resident high-water mark during the timed run (fresh process; model, data and warm-up already "
        "resident). Δ over all 64 entries; the pytorch-cka-f64 row is compared with repsim minibatch on the same "
        "float64 model."
    )
    if ref:
        lines.append(
            f"Exact reference: `repsim.cka` on the full activations, the 28 pairs i < j ({ref['reference_s']:.0f} s), "
            f"diagonal = 1; `repsim.cka` verified against the naive float64 Gram-space formula (HKH, HLH) on a "
            f"{ref['verify_rows']:,}-row subsample, all 36 pairs: max |Δ| = {ref['verify_max_abs_diff']:.1e}."
        )
    for v, note in NOTES.items():
        if v in res:
            lines.append(f"Note ({v}): {note}.")
    for v, r in res.items():
        if r and r[0].get("note"):
            lines.append(f"Note ({v}): {r[0]['note']}.")
    lines.append("")

    # ------------------------------------------------------------------ repsim exact breakdown
    ex = res.get("repsim-exact")
    if ex and ex[0].get("accumulate_s") is not None:
        m, a, tot = _median(ex, "model_s"), _median(ex, "accumulate_s"), _median(ex)
        rest = [r["seconds"] - r["model_s"] - r["accumulate_s"] for r in ex]
        lines.append(
            f"repsim exact, where the time goes (medians): model calls incl. capture hooks {fmt_s(m)} s · "
            f"`Moments.update` (fused pass + dsyrk) {fmt_s(a)} s · rest (loader, metric: centring, checks, "
            f"symmetrize, CKA) {fmt_s(_common.median(rest))} s · total {fmt_s(tot)} s."
        )
        lines.append("")

    # ------------------------------------------------------------------ targets
    lines.append("| target | measured | met? |")
    lines.append("|---|---|---|")
    if t.get("repsim-exact") and t.get("forward") and t.get("floor-syrk64"):
        def exact_ratio(key, floor="floor-syrk64"):
            return _per_round(res, lambda i: (res["repsim-exact"][i][key] - res["forward"][i][key])
                              / res[floor][i][key])

        per, per_cpu = exact_ratio("seconds"), exact_ratio("cpu_s")
        ratio, ratio_cpu = _common.median(per), _common.median(per_cpu)
        verdict = "yes" if max(ratio, ratio_cpu) <= 1.2 else ("no" if min(ratio, ratio_cpu) > 1.2 else
                                                               "borderline (wall and CPU disagree)")
        lines.append(
            f"| repsim exact − forward ≤ 1.2 × float64 floor (`dsyrk` of the augmented batches) | median of "
            f"per-round (exact − forward) / floor: wall **{ratio:.2f}×**{_rng(per)}, CPU time "
            f"**{ratio_cpu:.2f}×**{_rng(per_cpu)}; wall medians ({fmt_s(t['repsim-exact'])} − {fmt_s(t['forward'])})"
            f" / {fmt_s(t['floor-syrk64'])} s | {verdict} |"
        )
        if t.get("floor-matmul64"):
            per2, per2c = exact_ratio("seconds", "floor-matmul64"), exact_ratio("cpu_s", "floor-matmul64")
            lines.append(f"| (same vs NumPy `Z.T @ Z`) | wall **{_common.median(per2):.2f}×**{_rng(per2)}, CPU "
                         f"**{_common.median(per2c):.2f}×** | {'yes' if _common.median(per2) <= 1.2 else 'no'} |")
        if t.get("floor-pairwise32"):
            per3 = exact_ratio("seconds", "floor-pairwise32")
            lines.append(f"| (information: exact − forward vs the 36 fp32 pairwise GEMMs) | "
                         f"{_common.median(per3):.2f}×{_rng(per3)} | — |")
    if t.get("kornblith-loop") and t.get("repsim-exact"):
        lines.append(
            f"| repsim exact faster than the exact baseline (Kornblith's feature-space CKA looped over the pairs, "
            f"activations in memory) | {fmt_s(t['kornblith-loop'])} / {fmt_s(t['repsim-exact'])} s = "
            f"**{t['kornblith-loop'] / t['repsim-exact']:.2f}×** | {'yes' if t['kornblith-loop'] > t['repsim-exact'] else 'no'} |"
        )
    vs = [f"{p} {t[p] / t['repsim-exact']:.2f}×" for p in bc.MINIBATCH_PEERS if t.get(p) and t.get("repsim-exact")]
    lines.append(
        "| repsim exact faster than every peer's exact path | no peer has one: pytorch-cka, cka-pytorch and torch-cka "
        "compute only the minibatch HSIC₁ estimator (a single n-row batch would give full-data *debiased* CKA "
        f"through n × n Grams). For information, peer minibatch time / repsim exact time: {', '.join(vs) or '—'} "
        "| n/a (no exact peer) |"
    )
    for mbv, label in (("repsim-minibatch", "fp64"), ("repsim-minibatch32", "precision=\"fp32\"")):
        if not (t.get(mbv) and t.get("pytorch-cka")):
            continue
        per = _per_round(res, lambda i: res["pytorch-cka"][i]["seconds"] / res[mbv][i]["seconds"])
        per_c = _per_round(res, lambda i: res["pytorch-cka"][i]["cpu_s"] / res[mbv][i]["cpu_s"])
        sp, sp_c = _common.median(per), _common.median(per_c)
        lines.append(
            f"| repsim minibatch ({label}) ≥ 2× faster than pytorch-cka (b = {cfg['batch']}) | median per-round "
            f"pytorch-cka / repsim: wall **{sp:.2f}×**{_rng(per)}, CPU **{sp_c:.2f}×**{_rng(per_c)}; wall medians "
            f"{fmt_s(t['pytorch-cka'])} / {fmt_s(t[mbv])} s | {'yes' if min(sp, sp_c) >= 2 else 'no'} |"
        )
        mm, pm = _median(res[mbv], "model_s"), _median(res["pytorch-cka"], "model_s")
        if mm is not None and pm is not None:
            w_r, w_p = t[mbv] - mm, t["pytorch-cka"] - pm
            lines.append(
                f"| (information: outside the model calls) | pytorch-cka {fmt_s(w_p)} s vs repsim {fmt_s(w_r)} s = "
                f"{w_p / w_r:.2f}× | — |"
            )
        fw, g32 = t.get("forward"), t.get("floor-gram32")
        if fw and mbv == "repsim-minibatch32":
            bound = f"pytorch-cka / forward = **{t['pytorch-cka'] / fw:.2f}×**"
            if g32:
                bound = (f"pytorch-cka / (forward + bare float32 chunk-Gram SYRKs {fmt_s(g32)} s) = "
                         f"**{t['pytorch-cka'] / (fw + g32):.2f}×**; with free Grams, {bound}")
            lines.append(
                f"| (arithmetic bound: every minibatch implementation runs the same forward passes, {fmt_s(fw)} s "
                f"alone, and forms the same chunk Grams) | no implementation can beat pytorch-cka by more than "
                f"{bound} here | — |"
            )
    M32c = _matrix(res.get("repsim-minibatch32", []))
    if M32c is not None and mb is not None:
        lines.append(f"| (information: repsim fp32 Grams vs fp64) | max \\|Δ\\| = {float(np.max(np.abs(M32c - mb))):.1e} | — |")
    M32 = _matrix(res.get("pytorch-cka", []))
    if M32 is not None and mb is not None:
        d = float(np.max(np.abs(M32 - mb)))
        M64, mb64 = _matrix(res.get("pytorch-cka-f64", [])), _matrix(res.get("repsim-minibatch-f64", []))
        d64 = float(np.max(np.abs(M64 - mb64))) if (M64 is not None and mb64 is not None) else None
        verdict = "yes" if d <= 2e-6 else ("same estimator (yes at float64); no for pytorch-cka's float32 output"
                                           if d64 is not None and d64 <= 2e-6 else "no")
        lines.append(
            f"| same numbers (~1e-6) | float32 pytorch-cka vs repsim minibatch: max \\|Δ\\| = {d:.1e}"
            + (f"; pytorch-cka on a float64 copy of the model (it still sums HSIC in float32 tensors) vs repsim on "
               f"it: {d64:.1e}" if d64 is not None else "")
            + f" | {verdict} |"
        )
    lines.append("")
    if data.get("profiles"):
        lines.append("#### cProfile (one run each, top entries by own time)")
        for v, p in data["profiles"].items():
            lines.append("")
            lines.append(f"`{v}`: {p['seconds']:.2f} s under the profiler")
            lines.append("```")
            body = p.get("profile", "")
            keep = [ln for ln in body.splitlines() if ln.strip() and not ln.startswith(("   Ordered", "   List"))]
            lines.extend(keep[: args.profile_lines + 4])
            lines.append("```")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=("full", "tiny"), default="full")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the cheap variants (median over them)")
    ap.add_argument("--peer-rounds", type=int, default=1, help="runs of the slow peers cka-pytorch and torch-cka")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("REPSIM_BENCH_THREADS") or os.cpu_count() or 1))
    ap.add_argument("--init", choices=("he", "torch"), default="he", help="MLP init (see bench_compare.make_model)")
    ap.add_argument("--only", default="", help="comma-separated: reference, repsim-exact (with the floors), "
                    "repsim-minibatch, pytorch-cka, cka-pytorch, torch-cka, pytorch-cka-f64")
    ap.add_argument("--matmul64", action="store_true", help="also time NumPy's Z.T @ Z floor (in the exact worker)")
    ap.add_argument("--no-reference", action="store_true", help="skip the exact reference (no Δ vs exact)")
    ap.add_argument("--no-f64-check", action="store_true", help="skip pytorch-cka on a float64 model")
    ap.add_argument("--profile", action="store_true", help="cProfile one extra run of repsim exact/minibatch, pytorch-cka")
    ap.add_argument("--profile-lines", type=int, default=14)
    ap.add_argument("--json", help="write the raw results here")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--profile-worker", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--no-floors", action="store_true", help="skip the floors and the bare forward timing")
    ap.add_argument("--pairwise-rounds", type=int, default=1, help="rounds that also time the fp32 pairwise floor")
    ap.add_argument("--no-pairwise", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(args)))
        return
    started = f"{_common.today()} {time.strftime('%H:%M')}"
    t0 = time.perf_counter()
    with _common.LoadSampler() as sampler:
        data = collect(args)
    elapsed = time.perf_counter() - t0
    load = sampler.summary()
    text = render(data, args, load, started, elapsed)
    print(text)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "load": load, "machine": _common.machine_summary(),
                       "python": platform.python_version(), "started": started, "elapsed_s": elapsed, **data}, fh,
                      indent=1)


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main()
