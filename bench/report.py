"""Measure the repsim benchmark ratios with medians over repeated runs and print markdown tables (for the README).

    python bench/report.py                  # everything, ~3-4 minutes on 2 cores; hoggorm at n = 10 000 extrapolated
    python bench/report.py --full           # also time hoggorm at n = 10 000 for real (~4 min per call: ~10 min more)
    python bench/report.py --only accumulate,memory --rounds 9 --json out.json
    python bench/report.py --only accumulate --single-thread   # CPU-time work ratios, robust to a loaded machine

Sections
--------
accumulate     one ``Moments.update`` of a (1024, P) batch vs the BLAS floor ``Z.T @ Z`` (target <= 1.25x)
hoggorm        repsim CKA / RV2 vs hoggorm RVcoeff / RV2coeff on centred data, p = q = 512 (target >= 100x at 10k)
memory         peak memory streaming 10^6 vs 10^5 rows of p = 256 (target <= 2x)
interference   for information: cost of alternating NumPy-BLAS and SciPy-BLAS calls in one process (2 OpenBLAS pools)

Method: every timed variant runs in interleaved blocks (sleep so the other BLAS pool goes idle, one untimed warm-up
call, then N timed calls); a variant's time is the median over rounds of its per-block medians; a ratio is the
ratio of those medians (the per-round ratios' range is printed too). The machine is shared and noisy: read medians
and ratios, not single runs.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
from scipy.linalg import blas

import _common
import memprobe
import repsim

SECTIONS = ("memory", "accumulate", "hoggorm", "interference")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def ms(seconds: float) -> str:
    v = seconds * 1e3
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def fmt_ratio(r: float) -> str:
    return f"{r:.2f}×"


# ============================================================================= accumulate
def _primed(batch: dict, n_threads: int | None = None) -> repsim.Moments:
    m = repsim.Moments(n_threads=n_threads)
    m.update(batch)
    return m


def accumulate_variants(P: int, n_threads: int | None = None) -> dict:
    Z = _common.accumulate_batch(P)
    Z32 = Z.astype(np.float32)
    h = P // 2
    two = {"a": np.ascontiguousarray(Z[:, :h]), "b": np.ascontiguousarray(Z[:, h:])}
    m64, m32, m2 = (_primed(b, n_threads) for b in ({"x": Z}, {"x": Z32}, two))
    W = np.empty((Z.shape[0], P + 2))
    W[:, :P] = Z
    W[:, P:] = 1.0
    G = np.zeros((P + 2, P + 2), order="F")
    return {
        "floor": lambda: Z.T @ Z,
        "repsim_fp64": lambda: m64.update({"x": Z}),
        "repsim_fp32": lambda: m32.update({"x": Z32}),
        "repsim_two_sites": lambda: m2.update(two),
        "kernel_dsyrk": lambda: blas.dsyrk(1.0, W.T, beta=1.0, c=G, trans=0, lower=0, overwrite_c=1),
    }


def run_accumulate(rounds: int, block_s: float, budget_s: float, single_thread: bool = False) -> dict:
    timer = time.process_time if single_thread else time.perf_counter
    results = {}
    for P in _common.ACCUM_P:
        variants = accumulate_variants(P, n_threads=1 if single_thread else None)
        # calibrate the number of calls per block on the floor (all variants cost about the same)
        variants["floor"]()
        t1 = _common.median(_common.time_calls(variants["floor"], 3, warmup=0))
        number = _common.calls_for(t1, block_s, lo=2, hi=100)
        log(f"accumulate P={P}: >= {rounds} rounds x {len(variants)} variants x {number} calls (~{ms(t1)} ms each)")
        if single_thread:  # CPU time does not depend on the machine's load: no extra rounds needed
            res = _common.interleaved_medians(variants, number=number, rounds=rounds, timer=timer, settle_s=0.0)
        else:
            res = _common.interleaved_medians(variants, number=number, rounds=rounds, max_rounds=4 * rounds,
                                              budget_s=budget_s)
        floor = res["floor"]
        out = {"P": P, "rows": _common.ACCUM_ROWS, "number": number, "rounds": len(floor["rounds"])}
        for name, r in res.items():
            out[name] = {k: r[k] for k in ("clean", "used", "rounds", "foreign")}
            out[name]["median_s"] = r["median"]
            if name != "floor":
                out[name]["ratio_to_floor"] = r["median"] / floor["median"]
                # per-round ratios (this variant's block / the floor's block of the same round)
                per_round = [a / b for a, b in zip(r["rounds"], floor["rounds"])]
                out[name]["round_ratio_q1"], out[name]["round_ratio_q3"] = _quartiles(per_round)
        out["repsim_fp64"]["ratio_to_kernel"] = res["repsim_fp64"]["median"] / res["kernel_dsyrk"]["median"]
        results[P] = out
        log(f"accumulate P={P}: ratio {out['repsim_fp64']['ratio_to_floor']:.2f} after {out['rounds']} rounds "
            f"(clean blocks: floor {floor['clean']}, repsim {res['repsim_fp64']['clean']})")
        del variants
    return results


def _quartiles(xs):
    q = np.percentile(np.asarray(xs, dtype=float), [25, 75])
    return float(q[0]), float(q[1])


def table_accumulate(res: dict, single_thread: bool = False) -> str:
    lines = [
        "| P | floor `Z.T @ Z` ms | repsim ms | ratio | per-round ratio IQR | repsim fp32 ms | ratio | "
        "2 sites ms | ratio | SciPy `dsyrk` alone ms | repsim / `dsyrk` | clean blocks floor / repsim / rounds |",
        "|---:|---:|---:|---:|:---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for P, r in res.items():
        f, a, s, t, k = (r[n] for n in ("floor", "repsim_fp64", "repsim_fp32", "repsim_two_sites", "kernel_dsyrk"))
        lines.append(
            f"| {P} | {ms(f['median_s'])} | {ms(a['median_s'])} | **{fmt_ratio(a['ratio_to_floor'])}** | "
            f"{a['round_ratio_q1']:.2f}–{a['round_ratio_q3']:.2f} | {ms(s['median_s'])} | "
            f"{fmt_ratio(s['ratio_to_floor'])} | {ms(t['median_s'])} | {fmt_ratio(t['ratio_to_floor'])} | "
            f"{ms(k['median_s'])} | {fmt_ratio(a['ratio_to_kernel'])} | {f['clean']} / {a['clean']} / {r['rounds']} |"
        )
    if single_thread:  # the clean-block column does not apply to CPU time
        lines = [line.rsplit("|", 2)[0] + "|" for line in lines]
    worst = max(r["repsim_fp64"]["ratio_to_floor"] for r in res.values())
    contended = [P for P, r in res.items() if r["floor"]["used"] == "all" or r["repsim_fp64"]["used"] == "all"]
    lines.append("")
    if single_thread:
        lines.append(
            f"**Single-threaded CPU time** (OPENBLAS_NUM_THREADS=1, `Moments(n_threads=1)`, `time.process_time`): the "
            f"work each variant does, nearly independent of the machine's load. "
            f"Worst fp64 ratio {worst:.2f}× (the ≤ 1.25× target is stated for the default, multi-threaded setting)."
        )
        return "\n".join(lines)
    lines.append(
        f"Batch of {_common.ACCUM_ROWS} rows, fp64 unless noted; repsim = one `m.update({{\"x\": Z}})` on a primed "
        f"Moments; ratios of medians vs the floor. A block is clean when other processes used ≤ "
        f"{_common.CLEAN_FOREIGN_LOAD:.0%} of the machine while it ran; medians use the clean blocks when there are "
        f"≥ 3. Target ≤ 1.25×: worst fp64 ratio {worst:.2f}× → **{'met' if worst <= 1.25 else 'NOT met'}**"
        + (f" (P = {', '.join(map(str, contended))}: fewer than 3 clean blocks, the figures include contended ones)."
           if contended else ".")
    )
    return "\n".join(lines)


# ============================================================================= hoggorm
def _hoggorm_metrics():
    import hoggorm

    return {
        "cka": (lambda X, Y: repsim.cka(X, Y), hoggorm.RVcoeff, "RVcoeff"),
        "rv2": (lambda X, Y: repsim.rv2(X, Y, center=True), hoggorm.RV2coeff, "RV2coeff"),
    }


def _check(value: float, reference: float, what: str) -> float:
    rel = _common.relative_difference(value, reference)
    if rel > _common.RTOL_AGREE:
        raise SystemExit(f"DISAGREEMENT {what}: repsim {value!r} vs hoggorm {reference!r} (relative {rel:.3g})")
    return rel


def run_hoggorm(full: bool, rounds: int) -> dict:
    """repsim vs hoggorm. Each hoggorm call is bracketed by repsim blocks (before and after), so both sides see the
    same background load; repsim's time is the median over all its blocks."""
    metrics = _hoggorm_metrics()
    measured_n = [2000, 4000] + ([10000] if full else [])
    target_n = 10000
    results = {}
    for n in sorted(set(measured_n + [target_n])):
        X, Y = _common.paired_representations(n)
        Xc, Yc = _common.centred(X), _common.centred(Y)
        for metric, (rfn, hfn, hname) in metrics.items():
            key = f"{metric}@{n}"
            expected = rfn(X, Y)
            run_repsim = lambda: rfn(X, Y)  # noqa: E731
            t1 = _common.median(_common.time_calls(run_repsim, 2, warmup=1))
            number = _common.calls_for(t1, 0.3, lo=2, hi=50)
            repsim_blocks: list[float] = []

            repsim_foreign: list[float] = []

            def repsim_block():
                _common.settle()
                run_repsim()
                before = _common.cpu_snapshot()
                repsim_blocks.append(_common.median(_common.time_calls(run_repsim, number, warmup=0)))
                repsim_foreign.append(_common.foreign_load(before, _common.cpu_snapshot()))

            entry = {"n": n, "metric": metric, "hoggorm": hname, "value": expected}
            if n in measured_n:
                h_rounds = 3 if n <= 2000 else 1
                if n <= 2000:  # cheap enough to check agreement before timing with an untimed call
                    entry["rel_diff_before"] = _check(expected, float(hfn([Xc, Yc])[0, 1]), f"{key} (before timing)")
                log(f"hoggorm {hname} n={n}: {h_rounds} timed call(s), bracketed by repsim blocks")
                times, h_foreign = [], []
                for _ in range(h_rounds):
                    repsim_block()
                    _common.settle()
                    before = _common.cpu_snapshot()
                    t0 = time.perf_counter()
                    C = hfn([Xc, Yc])
                    times.append(time.perf_counter() - t0)
                    h_foreign.append(_common.foreign_load(before, _common.cpu_snapshot()))
                    entry["rel_diff"] = _check(expected, float(C[0, 1]), f"{key} (timed call)")
                    del C
                repsim_block()
                while len(repsim_blocks) < rounds:
                    repsim_block()
                entry["hoggorm_s"] = _common.median(times)
                entry["hoggorm_calls_s"] = times
                entry["hoggorm_foreign"] = h_foreign
                entry["hoggorm_measured"] = True
            else:
                for _ in range(rounds):
                    repsim_block()
            clean = [t for t, f in zip(repsim_blocks, repsim_foreign) if f <= _common.CLEAN_FOREIGN_LOAD]
            entry["repsim_s"] = _common.median(clean if len(clean) >= 3 else repsim_blocks)
            entry["repsim_block_medians_s"] = repsim_blocks
            entry["repsim_foreign"] = repsim_foreign
            results[key] = entry
            log(f"{key}: repsim {ms(entry['repsim_s'])} ms" +
                (f", hoggorm {entry['hoggorm_s']:.2f} s" if "hoggorm_s" in entry else ""))
        del X, Y, Xc, Yc
    # hoggorm's cost is dominated by its n x n x n Gram products: extrapolate ~n^3 from the largest measured n < 10k
    for metric in metrics:
        key = f"{metric}@{target_n}"
        if results[key].get("hoggorm_measured"):
            continue
        a, b = results[f"{metric}@2000"], results[f"{metric}@4000"]
        alpha = float(np.log(b["hoggorm_s"] / a["hoggorm_s"]) / np.log(2.0))
        results[key]["hoggorm_s"] = b["hoggorm_s"] * (target_n / 4000) ** 3
        results[key]["hoggorm_measured"] = False
        results[key]["fitted_exponent_2000_4000"] = alpha
    for e in results.values():
        e["speedup"] = e["hoggorm_s"] / e["repsim_s"]
    return results


def table_hoggorm(res: dict) -> str:
    lines = [
        "| metric (repsim vs hoggorm) | n | repsim ms | hoggorm s | speed-up | agreement (rel.) | "
        "others' CPU share: repsim / hoggorm |",
        "|---|---:|---:|---:|---:|---:|:---:|",
    ]
    for e in sorted(res.values(), key=lambda e: (e["metric"], e["n"])):
        name = "linear CKA vs `RVcoeff`" if e["metric"] == "cka" else "RV2 (centred) vs `RV2coeff`"
        h = f"{e['hoggorm_s']:.2f}" + ("" if e["hoggorm_measured"] else " (extrapolated ∝ n³)")
        agree = f"{e['rel_diff']:.1e}" if "rel_diff" in e else "—"
        load = f"{_common.median(e['repsim_foreign']):.0%} / " + (
            f"{_common.median(e['hoggorm_foreign']):.0%}" if e.get("hoggorm_foreign") else "—")
        lines.append(f"| {name} | {e['n']} | {ms(e['repsim_s'])} | {h} | **{e['speedup']:.0f}×** | {agree} | {load} |")
    at10k = [e for e in res.values() if e["n"] == 10000]
    worst = min(e["speedup"] for e in at10k)
    how = "measured" if all(e["hoggorm_measured"] for e in at10k) else "hoggorm time extrapolated from n = 4000"
    lines.append("")
    lines.append(
        f"p = q = {_common.HOGGORM_P}; hoggorm gets column-centred arrays (centring not timed), repsim the raw arrays "
        f"(its centring is timed); hoggorm is called as `f([Xc, Yc])[0, 1]`. Target ≥ 100× at n = 10 000: "
        f"{worst:.0f}× ({how}) → **{'met' if worst >= 100 else 'NOT met'}**."
    )
    fits = [f"{e['metric']}: n^{e['fitted_exponent_2000_4000']:.2f}" for e in at10k if "fitted_exponent_2000_4000" in e]
    if fits:
        lines.append(f"(hoggorm time growth measured between n = 2000 and 4000: {', '.join(fits)}.)")
    return "\n".join(lines)


# ============================================================================= memory
def run_memory() -> dict:
    out = {}
    for rows in _common.MEM_ROWS:
        log(f"memory: streaming {rows} rows of p={_common.MEM_P} in a fresh process")
        out[rows] = memprobe.run_subprocess(rows, _common.MEM_P, _common.MEM_BATCH)
    small, large = (out[n] for n in _common.MEM_ROWS)
    out["ratio_tracemalloc"] = large["tracemalloc_peak_bytes"] / small["tracemalloc_peak_bytes"]
    out["ratio_peak_rss"] = large["peak_rss_bytes"] / small["peak_rss_bytes"]
    out["ratio_maxrss"] = large["maxrss_bytes"] / small["maxrss_bytes"]
    if small.get("stream_rss_bytes") and large.get("stream_rss_bytes") is not None:
        out["ratio_stream_rss"] = large["stream_rss_bytes"] / small["stream_rss_bytes"]
    return out


def table_memory(res: dict) -> str:
    mib = 2.0**20

    def f(v, digits=1):
        return "n/a" if v is None else f"{v / mib:.{digits}f}"

    lines = [
        "| rows streamed | tracemalloc peak MiB | peak RSS (VmHWM) MiB | RSS growth during stream MiB | "
        "ru_maxrss MiB | stream time s |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for rows in _common.MEM_ROWS:
        r = res[rows]
        lines.append(
            f"| {rows:,} | {f(r['tracemalloc_peak_bytes'])} | {f(r['peak_rss_bytes'])} | "
            f"{f(r['stream_rss_bytes'])} | {f(r['maxrss_bytes'], 0)} | {r['seconds']:.1f} |"
        )
    growth = res.get("ratio_stream_rss")
    lines.append(
        f"| **ratio 10⁶ / 10⁵** | **{res['ratio_tracemalloc']:.2f}×** | **{res['ratio_peak_rss']:.2f}×** | "
        f"{'n/a' if growth is None else f'{growth:.2f}×'} | {res['ratio_maxrss']:.2f}× | |"
    )
    worst = max(res["ratio_tracemalloc"], res["ratio_peak_rss"], growth or 0.0)
    lines.append("")
    lines.append(
        f"p = {_common.MEM_P}, fp64, batches of {_common.MEM_BATCH} rows generated one at a time; one fresh process "
        f"per size; figures from just after the imports. Target ≤ 2×: worst ratio {worst:.2f}× → "
        f"**{'met' if worst <= 2 else 'NOT met'}**. (`ru_maxrss` is shown but not used for the verdict: on Linux a "
        "child keeps its parent's resident size at the spawn as a floor, so this section runs first.)"
    )
    return "\n".join(lines)


# ============================================================================= interference (information)
def run_interference(rounds: int) -> dict:
    """Alternating a NumPy-BLAS call (``Z.T @ Z``) and a repsim update vs the two run separately."""
    out = {}
    for P in (256, 1024):
        Z = _common.accumulate_batch(P)
        m = _primed({"x": Z})
        floor = lambda: Z.T @ Z  # noqa: E731
        upd = lambda: m.update({"x": Z})  # noqa: E731
        pair = lambda: (floor(), upd())  # noqa: E731
        t1 = _common.median(_common.time_calls(floor, 3))
        number = _common.calls_for(2 * t1, 0.3, lo=3, hi=60)
        res = _common.interleaved_medians({"floor": floor, "update": upd, "alternating": pair}, number, rounds)
        sep = res["floor"]["median"] + res["update"]["median"]
        out[P] = {"floor_s": res["floor"]["median"], "update_s": res["update"]["median"],
                  "alternating_s": res["alternating"]["median"], "slowdown": res["alternating"]["median"] / sep}
        log(f"interference P={P}: slowdown {out[P]['slowdown']:.2f}x")
    return out


def table_interference(res: dict) -> str:
    lines = [
        "| P | `Z.T @ Z` ms | `m.update` ms | sum | alternating pair ms | slowdown |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for P, r in res.items():
        lines.append(
            f"| {P} | {ms(r['floor_s'])} | {ms(r['update_s'])} | {ms(r['floor_s'] + r['update_s'])} | "
            f"{ms(r['alternating_s'])} | {r['slowdown']:.2f}× |"
        )
    lines.append("")
    lines.append(
        "NumPy and SciPy each ship their own OpenBLAS with its own thread pool; alternating calls into the two "
        "(e.g. computing activations with NumPy, then `m.update`) makes each pool's spinning workers compete with "
        "the other's on a machine with few cores."
    )
    return "\n".join(lines)


# ============================================================================= main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="repsim benchmark report (markdown)")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    ap.add_argument("--full", action="store_true", help="time hoggorm at n = 10 000 for real (~10 extra minutes)")
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds per timed variant (default 7)")
    ap.add_argument("--block-s", type=float, default=0.15, help="target seconds of timed calls per block")
    ap.add_argument("--budget-s", type=float, default=20.0,
                    help="accumulate: seconds per P for extra rounds when blocks are contended (default 20)")
    ap.add_argument("--json", metavar="PATH", help="also write the raw numbers as JSON")
    ap.add_argument("--single-thread", action="store_true",
                    help="accumulate section only: one BLAS thread and one fill thread, timed in CPU time (robust to "
                         "a loaded machine); re-runs this script with OPENBLAS_NUM_THREADS=1")
    args = ap.parse_args(argv)
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in sections if s not in SECTIONS]
    if bad:
        ap.error(f"unknown section(s) {bad}; choose from {SECTIONS}")
    if args.single_thread:
        if sections != ["accumulate"]:
            ap.error("--single-thread applies to the accumulate section only: add --only accumulate")
        if os.environ.get("OPENBLAS_NUM_THREADS") != "1":  # BLAS reads it when loaded: start again with it set
            env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
            os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env)

    sampler = _common.LoadSampler().__enter__()
    cpu_start = _common.cpu_snapshot()
    t_start = time.perf_counter()
    raw: dict = {"date": _common.today(), "machine": _common.machine_summary(), "versions": _common.versions(),
                 "commit": _common.git_revision()}
    md = [
        f"### repsim benchmarks — {raw['date']}",
        "",
        f"Machine: {raw['machine']}. {raw['versions']}; repository at {raw['commit']}. Medians over {args.rounds} "
        "interleaved rounds.",
    ]
    if "memory" in sections:
        raw["memory"] = run_memory()
        md += ["", "#### Peak memory of streaming", "", table_memory(raw["memory"])]
    if "accumulate" in sections:
        raw["accumulate"] = run_accumulate(args.rounds, args.block_s, args.budget_s, args.single_thread)
        title = "single-threaded CPU time" if args.single_thread else "wall time, default threads"
        md += ["", f"#### Accumulation: one batch update vs `Z.T @ Z` ({title})", "",
               table_accumulate(raw["accumulate"], args.single_thread)]
    if "hoggorm" in sections:
        raw["hoggorm"] = run_hoggorm(args.full, max(3, args.rounds // 2))
        md += ["", "#### repsim vs hoggorm", "", table_hoggorm(raw["hoggorm"])]
    if "interference" in sections:
        raw["interference"] = run_interference(max(3, args.rounds // 2))
        md += ["", "#### For information: NumPy-BLAS / SciPy-BLAS interference", "",
               table_interference(raw["interference"])]
    raw["wall_s"] = time.perf_counter() - t_start
    sampler.__exit__(None, None, None)
    raw["runnable_tasks"] = load = sampler.summary()
    raw["foreign_load"] = _common.foreign_load(cpu_start, _common.cpu_snapshot())
    md += ["", f"_Report took {raw['wall_s']:.0f} s; other processes used {raw['foreign_load']:.0%} of the "
           f"machine's CPU meanwhile._" + (
        f" _Runnable tasks on the machine while it ran (/proc/stat, every 0.5 s, ours included): median "
        f"{load['median']:.0f}, 90th percentile {load['p90']}, max {load['max']} on {os.cpu_count()} cores._"
        if load else "")]
    print("\n".join(md))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(raw, fh, indent=1, default=lambda o: o if not isinstance(o, np.generic) else o.item())
    return 0


if __name__ == "__main__":
    sys.exit(main())
