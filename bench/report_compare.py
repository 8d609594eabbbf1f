"""Model comparison benchmark: 8 × 8 linear-CKA matrix of an 8-layer MLP, repsim vs the PyPI CKA libraries.

    python bench/report_compare.py                       # issue sizes, ~8-10 min on a busy 2-core machine
    python bench/report_compare.py --rounds 5 --peer-rounds 2 --json /tmp/compare.json
    python bench/report_compare.py --size tiny --rounds 1  # smoke test (seconds)
    python bench/report_compare.py --profile             # + cProfile of repsim's exact and minibatch runs
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
* **Interleaved rounds**: every round runs each cheap variant once, in turn, so background load hits all alike; a
  variant's time is the median over rounds; ratios are ratios of medians, with the range of the per-round ratios.
  The slow peers (cka-pytorch, torch-cka: 1-2 minutes per run) run ``--peer-rounds`` times (default 1).
* **Threads**: ``torch.set_num_threads(T)`` in every process (T = ``--threads``, default all cores); NumPy's and
  SciPy's OpenBLAS use their defaults (all cores); repsim's fused pass uses its default (all cores, at most 8).
* **Exact reference**: ``repsim.cka`` on the full (10 000, pᵢ) float32 activation matrices for each of the 36 pairs
  i ≤ j, itself verified once against the textbook Gram-space formula (float64 NumPy, HKH and HLH) on a random
  1 000-row subsample. Each estimate's distance from it is max |Δ| over the 64 entries.
* **Floors**: ``floor-syrk64`` is the float64 work of the exact path (``dsyrk`` of the ten (1000, Σp + 9)
  augmented batches — the call repsim makes); ``floor-pairwise32`` the 36 float32 GEMMs ``XᵢᵀXⱼ`` of a
  feature-space pairwise loop on the full activations; ``--matmul64`` adds NumPy's ``Z.T @ Z`` (SYRK + mirror).
* The machine is shared: ``/proc/stat`` ``procs_running`` is sampled throughout; on 2 cores a median well above
  3 means other work competed and absolute times are inflated (ratios of interleaved medians less so).
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

HERE = os.path.dirname(os.path.abspath(__file__))

ROUND_VARIANTS = ("forward", "repsim-exact", "floor-syrk64", "repsim-minibatch", "pytorch-cka", "floor-pairwise32")
SLOW_PEERS = ("cka-pytorch", "torch-cka")
MATRIX_VARIANTS = ("repsim-exact", "repsim-minibatch", "pytorch-cka", "cka-pytorch", "torch-cka", "pytorch-cka-f64")
DESCRIPTION = {
    "repsim-exact": ("repsim `compare` (exact)", "exact full-data linear CKA", "fp64 statistics"),
    "repsim-minibatch": ("repsim `compare(estimator=\"minibatch\")`", "minibatch HSIC₁ (b = {b})", "fp64"),
    "pytorch-cka": ("pytorch-cka `compute_cka`", "minibatch HSIC₁ (b = {b})", "fp32"),
    "cka-pytorch": ("cka-pytorch `CKACalculator` (1 epoch)", "minibatch HSIC₁ (b = {b})", "fp32"),
    "torch-cka": ("torch-cka `CKA.compare`", "minibatch HSIC₁ (b = {b})", "fp32"),
    "forward": ("forward passes only (no hooks)", "—", "fp32"),
    "floor-syrk64": ("floor: `dsyrk` G += ZᵀZ, Z = ({b}, Σp+{L1}) × {nb}", "—", "fp64"),
    "floor-matmul64": ("floor: NumPy `Z.T @ Z`, Z = ({b}, Σp+{L1}) × {nb}", "—", "fp64"),
    "floor-pairwise32": ("floor: 36 GEMMs XᵢᵀXⱼ, i ≤ j, n = {n}", "—", "fp32"),
    "pytorch-cka-f64": ("pytorch-cka on a float64 copy of the model", "minibatch HSIC₁ (b = {b})", "fp64 in, fp32 sums"),
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ============================================================================= worker (one measurement)
def _proc_status() -> dict[str, int]:
    out = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return out


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _prepare(variant: str, args):
    """(call, warm-up call) for one variant at the configured size; nothing timed yet."""
    import torch

    import bench_compare as bc

    cfg = bc.SIZES[args.size]
    names = bc.layer_names(cfg)
    b = cfg["batch"]
    if variant in bc.VARIANTS or variant == "pytorch-cka-f64":
        name = "pytorch-cka" if variant == "pytorch-cka-f64" else variant
        fn, peer = bc.VARIANTS[name]
        if peer is not None and bc.peer_missing(peer):
            return None, bc.peer_missing(peer)
        dtype = torch.float64 if variant == "pytorch-cka-f64" else torch.float32
        model = bc.make_model(cfg, dtype=dtype, init=args.init)
        X = bc.make_inputs(cfg, dtype=dtype)
        loader = bc.make_loader(X, b)
        warm = bc.make_loader(X[:128], 64)
        return (lambda: fn(model, loader, names, b), lambda: fn(model, warm, names, 64)), None
    if variant in ("floor-syrk64", "floor-matmul64"):
        Ws = bc.augmented_batches(cfg)
        small = [W[:64] for W in Ws[:1]]
        if variant == "floor-syrk64":
            d = Ws[0].shape[1]
            G = np.zeros((d, d), order="F")
            return (lambda: bc.floor_syrk64(Ws, G), lambda: bc.floor_syrk64([np.ascontiguousarray(small[0][:, :64])])), None
        return (lambda: bc.floor_matmul64(Ws), lambda: bc.floor_matmul64([np.ascontiguousarray(small[0][:, :64])])), None
    if variant == "floor-pairwise32":
        model = bc.make_model(cfg, init=args.init)
        X = bc.make_inputs(cfg)
        acts = [torch.from_numpy(a) for a in bc.capture_full(model, X, names, b)]
        del model, X
        return (lambda: bc.floor_pairwise32(acts), lambda: bc.floor_pairwise32([a[:64, :64] for a in acts])), None
    if variant == "reference":
        model = bc.make_model(cfg, init=args.init)
        X = bc.make_inputs(cfg)
        acts = bc.capture_full(model, X, names, b)
        del model, X

        def ref():
            t0 = time.perf_counter()
            err = bc.verify_reference(acts, rows=min(1000, cfg["n"]))
            t1 = time.perf_counter()
            R = bc.exact_reference(acts)
            return {"matrix": R, "verify_max_abs_diff": err, "verify_rows": min(1000, cfg["n"]),
                    "verify_s": t1 - t0, "reference_s": time.perf_counter() - t1}

        return (ref, lambda: None), None
    raise ValueError(f"unknown variant {variant!r}")


def worker(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    calls, skipped = _prepare(args.worker, args)
    if calls is None:
        return {"variant": args.worker, "skipped": skipped}
    call, warm = calls
    warm()
    gc.collect()
    time.sleep(_common.SETTLE_S)
    profiler = None
    if args.profile_worker:
        import cProfile

        profiler = cProfile.Profile()
    reset = _reset_hwm()
    before = _proc_status()
    t0 = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    out = call()
    if profiler is not None:
        profiler.disable()
    seconds = time.perf_counter() - t0
    after = _proc_status()
    res = {
        "variant": args.worker,
        "seconds": seconds,
        "threads": torch.get_num_threads(),
        "rss_before": before.get("VmRSS"),
        "hwm": after.get("VmHWM"),
        "hwm_growth": (after["VmHWM"] - before["VmRSS"]) if reset and "VmHWM" in after and "VmRSS" in before else None,
    }
    if isinstance(out, dict):  # reference
        res.update({k: v for k, v in out.items() if k != "matrix"})
        out = out["matrix"]
    if isinstance(out, np.ndarray) and out.ndim == 2 and out.shape[0] == out.shape[1] and out.shape[0] < 64:
        res["matrix"] = out.tolist()
    if profiler is not None:
        import io
        import pstats

        s = io.StringIO()
        pstats.Stats(profiler, stream=s).sort_stats("tottime").print_stats(args.profile_worker)
        res["profile"] = s.getvalue()
    import bench_compare as bc

    if args.worker in bc.PEER_NOTES:
        res["note"] = bc.PEER_NOTES[args.worker]
    return res


# ============================================================================= parent
def run_worker(variant: str, args, profile: int = 0) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", variant, "--size", args.size,
           "--threads", str(args.threads), "--init", args.init]
    if profile:
        cmd += ["--profile-worker", str(profile)]
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
        log(f"  {variant}: {res['seconds']:.2f} s" + (f", peak +{mem / 2**20:.0f} MiB" if mem is not None else "")
            + f" (process {wall:.1f} s)")
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
        else:
            results.setdefault(v, []).append(res)

    reference = None
    if not args.no_reference and wanted("reference"):
        log("exact reference: repsim.cka on the full activations (36 pairs), verified on a subsample")
        reference = run_worker("reference", args)
        if reference["verify_max_abs_diff"] > 1e-10:
            raise SystemExit(f"repsim.cka disagrees with the naive Gram formula: {reference['verify_max_abs_diff']}")
    round_variants = [v for v in ROUND_VARIANTS if wanted(v)]
    if args.matmul64 and wanted("floor-matmul64"):
        round_variants.insert(round_variants.index("floor-syrk64") + 1 if "floor-syrk64" in round_variants else 0,
                              "floor-matmul64")
    slow = [v for v in SLOW_PEERS if wanted(v)]
    for r in range(args.rounds):
        log(f"round {r + 1}/{args.rounds}")
        for v in round_variants:
            if v in skipped:
                continue
            record(v, run_worker(v, args))
        if r < args.peer_rounds:
            for v in slow:
                if v not in skipped:
                    record(v, run_worker(v, args))
    for r in range(args.rounds, args.peer_rounds):
        for v in slow:
            if v not in skipped:
                record(v, run_worker(v, args))
    if wanted("pytorch-cka-f64") and "pytorch-cka" not in skipped and not args.no_f64_check:
        log("agreement check: pytorch-cka on a float64 copy of the model")
        record("pytorch-cka-f64", run_worker("pytorch-cka-f64", args))
        if "pytorch-cka-f64" in results:
            log("  (its repsim-minibatch counterpart, float64 model)")
            results["repsim-minibatch-f64"] = [_f64_repsim(args)]
    profiles = {}
    if args.profile:
        for v in ("repsim-exact", "repsim-minibatch", "pytorch-cka"):
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


def _ratio_range(a: list[dict], b: list[dict], sub: list[dict] | None = None):
    """min, max of per-round ratios (a[k] − sub[k]) / b[k] over the rounds both have."""
    k = min(len(a), len(b), len(sub) if sub is not None else len(a))
    if k < 2:
        return None
    rs = [((a[i]["seconds"] - (sub[i]["seconds"] if sub is not None else 0.0)) / b[i]["seconds"]) for i in range(k)]
    return min(rs), max(rs)


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
    lines = []
    lines.append(f"### Model comparison: {L} × {L} linear CKA of an MLP ({args.size} size)")
    lines.append("")
    lines.append(
        f"{started}; {_common.machine_summary()}; torch threads = {args.threads} (`torch.set_num_threads`), "
        f"BLAS/fused-pass threads = defaults. torch {torch.__version__}, "
        + ", ".join(f"{p} {bc.peer_version(p)}" for p in bc.PEERS)
        + f". MLP {cfg['in_dim']} → " + " → ".join(str(w) for w in cfg["widths"])
        + f" (ReLU between, {args.init} init; Σp = {sum(cfg['widths']):,}), the {L} Linear outputs, "
        f"n = {cfg['n']:,} in batches of {cfg['batch']:,}, model vs itself, forward passes included. "
        f"Load (procs_running) median {load.get('median', '?')}, p90 {load.get('p90', '?')}, "
        f"max {load.get('max', '?')}; report took {elapsed / 60:.1f} min."
    )
    lines.append("")
    lines.append("| variant | estimator | precision | wall s (median) | runs | peak memory MiB | "
                 "max \\|Δ\\| vs exact CKA | max \\|Δ\\| vs repsim minibatch |")
    lines.append("|---|---|---|---:|---:|---:|---:|---:|")
    order = ["repsim-exact", "repsim-minibatch", "pytorch-cka", "cka-pytorch", "torch-cka", "forward",
             "floor-syrk64", "floor-matmul64", "floor-pairwise32"]
    for v in order:
        what, est, prec = DESCRIPTION[v]
        what, est = what.format(**fmt), est.format(**fmt)
        if v in skipped:
            lines.append(f"| {what} | {est} | {prec} | skipped: {skipped[v]} | 0 | — | — | — |")
            continue
        runs = res.get(v)
        if not runs:
            continue
        M = _matrix(runs)
        d_exact = float(np.max(np.abs(M - R))) if (M is not None and R is not None) else None
        d_mb = float(np.max(np.abs(M - mb))) if (M is not None and mb is not None and v != "repsim-minibatch") else None
        times = ", ".join(fmt_s(r["seconds"]) for r in runs)
        lines.append(
            f"| {what} | {est} | {prec} | **{fmt_s(_median(runs))}** ({times}) | {len(runs)} | "
            f"{fmt_mib(_median(runs, 'hwm_growth'))} | {fmt_delta(d_exact)} | {fmt_delta(d_mb)} |"
        )
    lines.append("")
    lines.append("Peak memory: growth of the process's resident high-water mark during the timed run (model, data "
                 "and warm-up already resident; median over runs). Δ: over all 64 entries.")
    if ref:
        lines.append(
            f"Exact reference: `repsim.cka` on the full activations, 36 pairs ({ref['reference_s']:.0f} s); verified "
            f"against the naive float64 Gram-space formula on a {ref['verify_rows']:,}-row subsample: max |Δ| = "
            f"{ref['verify_max_abs_diff']:.1e}."
        )
    notes = {v: r[0]["note"] for v, r in res.items() if r and r[0].get("note")}
    for v, note in notes.items():
        lines.append(f"Note ({v}): {note}.")
    lines.append("")

    # ------------------------------------------------------------------ targets
    t = {v: _median(r) for v, r in res.items()}
    lines.append("| target | measured | met? |")
    lines.append("|---|---|---|")
    ex, fw, fl = t.get("repsim-exact"), t.get("forward"), t.get("floor-syrk64")
    if ex and fw and fl:
        ratio = (ex - fw) / fl
        rr = _ratio_range(res["repsim-exact"], res["floor-syrk64"], res["forward"])
        rng = f" (per-round {rr[0]:.2f}–{rr[1]:.2f}×)" if rr else ""
        lines.append(
            f"| repsim exact − forward ≤ 1.2 × fp64 floor (`dsyrk`) | ({fmt_s(ex)} − {fmt_s(fw)}) / {fmt_s(fl)} = "
            f"**{ratio:.2f}×**{rng} | {'yes' if ratio <= 1.2 else 'no'} |"
        )
        if t.get("floor-matmul64"):
            r2 = (ex - fw) / t["floor-matmul64"]
            lines.append(f"| (same vs NumPy `Z.T @ Z` floor) | **{r2:.2f}×** | {'yes' if r2 <= 1.2 else 'no'} |")
        if t.get("floor-pairwise32"):
            lines.append(
                f"| (for information: vs the 36 fp32 pairwise GEMMs) | {fmt_s(ex - fw)} / "
                f"{fmt_s(t['floor-pairwise32'])} = {(ex - fw) / t['floor-pairwise32']:.2f}× | — |"
            )
    exact_peers = "none of pytorch-cka, cka-pytorch, torch-cka has an exact (full-data) linear-CKA mode"
    vs = []
    for p in bc.MINIBATCH_PEERS:
        if t.get(p) and ex:
            vs.append(f"{p} {t[p] / ex:.2f}×")
    lines.append(
        f"| repsim exact faster than every peer's exact path | {exact_peers}: no exact path to compare; for "
        f"information, peer minibatch time / repsim exact time: {', '.join(vs) or '—'} | n/a |"
    )
    mbt, pc = t.get("repsim-minibatch"), t.get("pytorch-cka")
    if mbt and pc:
        sp = pc / mbt
        rr = _ratio_range(res["pytorch-cka"], res["repsim-minibatch"])
        rng = f" (per-round {rr[0]:.2f}–{rr[1]:.2f}×)" if rr else ""
        lines.append(f"| repsim minibatch ≥ 2× faster than pytorch-cka (b = {cfg['batch']}) | "
                     f"{fmt_s(pc)} / {fmt_s(mbt)} = **{sp:.2f}×**{rng} | {'yes' if sp >= 2 else 'no'} |")
    M32 = _matrix(res.get("pytorch-cka", []))
    if M32 is not None and mb is not None:
        d = float(np.max(np.abs(M32 - mb)))
        line = f"| same numbers (~1e-6) | fp32 pytorch-cka vs repsim minibatch: max \\|Δ\\| = {d:.1e}"
        M64, mb64 = _matrix(res.get("pytorch-cka-f64", [])), _matrix(res.get("repsim-minibatch-f64", []))
        ok = d <= 2e-6
        if M64 is not None and mb64 is not None:
            d64 = float(np.max(np.abs(M64 - mb64)))
            line += f"; pytorch-cka on a float64 model (it still sums HSIC in float32) vs repsim: {d64:.1e}"
            ok = ok or d64 <= 2e-6
        lines.append(line + f" | {'yes' if ok else 'no'} |")
    lines.append("")
    if data.get("profiles"):
        lines.append("#### cProfile (one run each, top entries by own time)")
        for v, p in data["profiles"].items():
            lines.append("")
            lines.append(f"`{v}`: {p['seconds']:.2f} s under the profiler")
            lines.append("```")
            body = p.get("profile", "")
            keep = [ln for ln in body.splitlines() if ln.strip() and not ln.startswith(("   Ordered", "   List"))]
            lines.extend(keep[:args.profile_lines + 4])
            lines.append("```")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=("full", "tiny"), default="full")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the cheap variants (median over them)")
    ap.add_argument("--peer-rounds", type=int, default=1, help="runs of the slow peers cka-pytorch and torch-cka")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("REPSIM_BENCH_THREADS") or os.cpu_count() or 1))
    ap.add_argument("--init", choices=("he", "torch"), default="he", help="MLP init (see bench_compare.make_model)")
    ap.add_argument("--only", default="", help="comma-separated variants (and/or 'reference')")
    ap.add_argument("--matmul64", action="store_true", help="also time NumPy's Z.T @ Z floor")
    ap.add_argument("--no-reference", action="store_true", help="skip the exact reference (no Δ vs exact)")
    ap.add_argument("--no-f64-check", action="store_true", help="skip pytorch-cka on a float64 model")
    ap.add_argument("--profile", action="store_true", help="cProfile one extra run of repsim exact/minibatch, pytorch-cka")
    ap.add_argument("--profile-lines", type=int, default=14)
    ap.add_argument("--json", help="write the raw results here")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--profile-worker", type=int, default=0, help=argparse.SUPPRESS)
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
