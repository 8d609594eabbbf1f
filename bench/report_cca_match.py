"""CCA-family and max-match benchmark report: medians over repeated runs, printed as markdown tables (for the README).

    python bench/report_cca_match.py                       # everything, ~8 minutes on 2 quiet cores (load < 1)
    python bench/report_cca_match.py --only match,simple   # sections: cca, matrix, match, simple
    python bench/report_cca_match.py --full                # also run the baseline cells that are extrapolated by default
    python bench/report_cca_match.py --quick               # small sizes only (a minute; checks the script)
    python bench/report_cca_match.py --json out.json       # also the raw numbers
    python bench/report_cca_match.py --only match --match-n 5000 --json a.json   # one part (a quiet window)
    python bench/report_cca_match.py --merge a.json b.json # tables of several partial runs, merged

Sections
--------
cca      repsim CCA / SVCCA / PWCCA vs the in-memory google/svcca-style NumPy baseline of bench_cca.py,
         n ∈ {10 000, 50 000} × p = q ∈ {512, 2048}: end-to-end from the arrays and metric-only from a Moments
matrix   8 × 8 layer PWCCA matrix (8 layers × 256, n = 10 000): one accumulation vs 64 pairwise calls vs baseline
match    repsim.max_match vs the lstsq elimination oracle of bench_match.py, n ∈ {5 000, 50 000} ×
         {64, 256, 512, 1024} neurons, ε = 0.3; scaling exponents of repsim's time in the number of neurons
simple   all simple matches of a 256-neuron layer pair, n = 5 000

Method: every cell first runs each variant once, timed, and checks agreement (ρ to 1e-8; identical neuron sets);
that call is a warm-up for variants under WARM_S seconds and the first sample otherwise. Then the variants run in
interleaved rounds (a SETTLE_S sleep before each call lets the other OpenBLAS pool go idle), as many as fit a
per-variant budget, up to --rounds, and at least one unless the first call took over HEAVY_S seconds. A time is the median of a variant's samples; a ratio is a ratio of medians.
Metric-only calls run on a fresh ``m.copy()`` made untimed (nothing served from the statistics' cache). The machine
is shared and noisy: read medians and ratios; the tables give the 1-minute load average at the start and end of each
cell (the report's own 2 BLAS threads account for ~2 of it; more means other jobs competed, and OpenBLAS's threads
suffer badly from that: 5-20x slower LAPACK calls were seen at a load of 5-9).
"""
from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

import bench_cca as bc
import bench_match as bm
import repsim

SECTIONS = ("cca", "matrix", "match", "simple")
SETTLE_S = 0.15  # OpenBLAS workers busy-wait ~0.1 s after a call
WARM_S = 2.0  # a first call faster than this is only a warm-up
HEAVY_S = 5.0  # a first call slower than this may be the only sample

CCA_CELLS = ((10_000, 512), (50_000, 512), (10_000, 2048), (50_000, 2048))
CCA_METRICS = ("cca", "svcca", "pwcca")
# baseline cells that are extrapolated (not run) unless --full: (n, p, metric) -> the measured n they scale from
CCA_EXTRAPOLATED = {(50_000, 2048, "svcca"): 10_000, (50_000, 2048, "pwcca"): 10_000}
# repsim end-to-end cells shown as accumulation + metric-only (both measured) unless --full: each e2e call there
# repeats the same ~20 s accumulation
CCA_E2E_DERIVED = {(50_000, 2048, "svcca"), (50_000, 2048, "pwcca")}
MATRIX = (10_000, 8, 256)
MATCH_NS = (5000, 50_000)
MATCH_PS = (64, 256, 512, 1024)
SIMPLE = (5000, 256)
TARGET_MATCH = (5000, 512, 20.0)

QUICK_CCA_CELLS = ((2000, 128), (4000, 128))
QUICK_MATRIX = (2000, 8, 64)
QUICK_MATCH_NS = (2000,)
QUICK_MATCH_PS = (32, 64, 128)
QUICK_SIMPLE = (2000, 64)


LOADS: list = []  # 1-minute load averages sampled at every log line (the machine is shared)


def log(msg: str) -> None:
    try:
        LOADS.append(os.getloadavg()[0])
    except OSError:
        pass
    print(f"[{time.strftime('%H:%M:%S')}] {msg} (load {LOADS[-1] if LOADS else float('nan'):.1f})",
          file=sys.stderr, flush=True)


# ============================================================================= machine
def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            kb = next(int(ln.split()[1]) for ln in fh if ln.startswith("MemTotal:"))
            mem = f"{kb / 2**20:.0f} GiB RAM, "
    except (OSError, StopIteration):
        pass
    blas = ", ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("OPENBLAS_")) or "no OPENBLAS_*"
    return f"{os.cpu_count()} cores ({cpu}), {mem}{platform.system()} {platform.machine()}; {blas}"


def versions() -> str:
    import scipy

    return (f"repsim {repsim.__version__} (engine {repsim.Moments().engine}), numpy {np.__version__}, "
            f"scipy {scipy.__version__}, python {platform.python_version()}")


# ============================================================================= timing
def timed(fn, setup=None):
    args = setup() if setup is not None else ()
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


class Variants:
    """Variants of one cell: a first (checked) call each, then interleaved rounds within a budget."""

    def __init__(self, rounds: int, budget_s: float):
        self.rounds, self.budget_s = rounds, budget_s
        self.fns: dict = {}
        self.samples: dict = {}
        self.first: dict = {}

    def first_call(self, name, fn, setup=None):
        time.sleep(SETTLE_S)
        t, out = timed(fn, setup)
        self.fns[name] = (fn, setup)
        self.first[name] = t
        self.samples[name] = [t] if t >= WARM_S else []
        return out

    def run(self) -> None:
        todo = {}
        for name, t in self.first.items():
            have = len(self.samples[name])
            todo[name] = max(0, min(self.rounds, int(self.budget_s // max(t, 1e-6))) - have)
            if t < HEAVY_S:  # at least one sample after the first call (which may carry first-use costs)
                todo[name] = max(todo[name], 1)
        for r in range(max(todo.values(), default=0)):
            for name, (fn, setup) in self.fns.items():
                if r < todo[name]:
                    time.sleep(SETTLE_S)
                    self.samples[name].append(timed(fn, setup)[0])

    def median(self, name) -> float:
        return float(statistics.median(self.samples[name]))

    def summary(self) -> dict:
        return {k: {"median_s": self.median(k), "samples_s": v, "first_s": self.first[k]} for k, v in self.samples.items()}


def fmt_s(t: float | None) -> str:
    if t is None:
        return "—"
    if t < 1e-3:
        return f"{t * 1e6:.0f} µs"
    if t < 1:
        return f"{t * 1e3:.3g} ms"
    return f"{t:.3g} s"


def load_range(row) -> str:
    lo, hi = row.get("loads", (None, None))
    return "" if lo is None else (f"{lo:.1f}" if abs(hi - lo) < 0.05 else f"{lo:.1f}–{hi:.1f}")


def fmt_r(r: float | None) -> str:
    return "—" if r is None else (f"{r:.0f}×" if r >= 100 else f"{r:.3g}×")


# ============================================================================= cca
def run_cca(cells, rounds, budget_s, full) -> list:
    out = []
    for n, p in cells:
        log(f"cca n={n} p={p}: data")
        mark = len(LOADS) - 1
        X, Y = bc.cca_pair(n, p)
        acts = (X.T, Y.T)
        V = Variants(rounds, budget_s)
        checks, skipped, deferred = {}, {}, {}
        cca_base = pwcca_base = None
        for metric in CCA_METRICS:
            ref_n = None if full else CCA_EXTRAPOLATED.get((n, p, metric))
            if ref_n is not None and (ref_n, p) not in CCA_CELLS:
                ref_n = None
            log(f"cca n={n} p={p} {metric}: first calls")
            if not full and (n, p, metric) in CCA_E2E_DERIVED:
                mine = None  # checked below on the metric-only result
            else:
                mine = V.first_call(f"e2e_{metric}", lambda mt=metric: bc.repsim_e2e(mt, X, Y))
            if ref_n is not None:
                skipped[metric] = ref_n
                # no baseline run here: PWCCA's ρ are CCA's ρ (checked); SVCCA is not checked at this cell
                checks[metric] = None
                if metric == "pwcca":
                    chk = (lambda r, b=cca_base: {"max_abs_drho": bc.check_agreement("cca", b, r)})
                    if mine is None:
                        deferred[metric] = chk
                    else:
                        checks[metric] = chk(mine)
                continue
            base = V.first_call(f"base_{metric}", lambda f=bc.BASELINES[metric]: f(*acts))
            if mine is None:
                deferred[metric] = (lambda r, b=base, mt=metric: {"max_abs_drho": bc.check_agreement(mt, b, r)})
            else:
                checks[metric] = {"max_abs_drho": bc.check_agreement(metric, base, mine)}
            if metric == "cca":
                cca_base = base
            if metric == "pwcca":
                if mine is not None:
                    checks[metric]["google_value_rel_diff"] = abs(mine["value"] - base["value"]) / abs(base["value"])
                pwcca_base = base
            del base
        log(f"cca n={n} p={p}: accumulate + metric-only first calls")
        m = V.first_call("accumulate", lambda: bc.accumulate(X, Y))
        for metric in CCA_METRICS + ("pwcca_morcos",):
            res = V.first_call(f"metric_{metric}", lambda mm, mt=metric: bc.repsim_metric(mt, mm),
                               setup=lambda: (m.copy(),))
            if deferred.get(metric) is not None:  # the e2e call was not made: check the metric-only result
                checks[metric] = deferred[metric](res)
            if metric == "pwcca_morcos":
                if pwcca_base is not None:
                    checks[metric] = {"max_abs_drho": bc.check_agreement(metric, pwcca_base, res)}
                else:
                    checks[metric] = {"max_abs_drho": bc.check_agreement("cca", cca_base, res)}
        cca_base = pwcca_base = None
        log(f"cca n={n} p={p}: rounds")
        V.run()
        s = V.summary()
        out.append({"n": n, "p": p, "times": s, "checks": checks, "extrapolate_from": skipped,
                    "loads": [LOADS[mark], LOADS[-1]]})
        log(f"cca n={n} p={p}: " + ", ".join(f"{k} {fmt_s(v['median_s'])}" for k, v in s.items()))
        del X, Y, acts, m, V
        gc.collect()
    return out


def table_cca(rows) -> str:
    lines = [
        "| n | p = q | metric | baseline | repsim end-to-end | ratio | repsim metric-only | ratio | load |",
        "|---:|---:|---|---:|---:|---:|---:|---:|:---:|",
    ]
    notes = set()
    measured = {(r["n"], r["p"], k[5:]): v["median_s"] for r in rows for k, v in r["times"].items()
                if k.startswith("base_")}
    for r in rows:
        t = r["times"]
        for metric in CCA_METRICS:
            name = {"cca": "CCA (all ρ)", "svcca": "SVCCA (99 %)", "pwcca": "PWCCA (google)"}[metric]
            met = t[f"metric_{metric}"]["median_s"]
            if f"e2e_{metric}" in t:
                e2e, e2e_mark = t[f"e2e_{metric}"]["median_s"], ""
            else:
                e2e, e2e_mark = t["accumulate"]["median_s"] + met, " ³"
                notes.add("³ accumulation + metric-only, both measured (not one end-to-end call: each would repeat "
                          "the same accumulation); `--full` measures it.")
            if f"base_{metric}" in t:
                b, mark = t[f"base_{metric}"]["median_s"], ""
                if len(t[f"base_{metric}"]["samples_s"]) == 1:
                    mark = " ¹"
                    notes.add("¹ one timed call (the checked first call of a multi-second variant).")
            else:
                ref_n = int(r["extrapolate_from"][metric])
                t_ref = measured.get((ref_n, r["p"], metric))
                b, mark = (None if t_ref is None else t_ref * r["n"] / ref_n), " ²"
                notes.add(f"² not run by default (minutes): the measured n = {ref_n:,} time × n/{ref_n:,} "
                          "(its SVDs, QR and products are linear in n for fixed p); `--full` runs it. In that cell only "
                          "repsim's PWCCA ρ are checked (against the baseline CCA's), SVCCA's not.")
            lines.append(f"| {r['n']:,} | {r['p']} | {name} | {fmt_s(b)}{mark} | {fmt_s(e2e)}{e2e_mark} | "
                         f"**{fmt_r(b and b / e2e)}** | {fmt_s(met)} | {fmt_r(b and b / met)} | {load_range(r)} |")
        mo = t["metric_pwcca_morcos"]["median_s"]
        lines.append(f"| {r['n']:,} | {r['p']} | PWCCA (Morcos) | — | — | — | {fmt_s(mo)} | — | |")
        lines.append(f"| {r['n']:,} | {r['p']} | *accumulation alone* | — | {fmt_s(t['accumulate']['median_s'])} | — | — | — | |")
    worst_drho = max((c["max_abs_drho"] for r in rows for c in r["checks"].values() if c), default=float("nan"))
    gdiff = [c["google_value_rel_diff"] for r in rows for c in r["checks"].values() if c and "google_value_rel_diff" in c]
    lines.append("")
    lines += sorted(notes, key=lambda t: "¹²³".find(t[0]))
    lines.append(
        f"Agreement checked before timing: max |Δρ| (baseline vs repsim) = {worst_drho:.1e} over all cells; SVCCA "
        f"truncation ranks equal; Morcos PWCCA to 1e-8. google PWCCA values: relative difference up to "
        f"{max(gdiff, default=float('nan')):.1e} — that number depends on the signs LAPACK gives the singular "
        "vectors (direction i is u_iᵀ(x − μ) + μ_i), which can differ between two factorisations of matrices equal "
        "to 1e-15."
    )
    return "\n".join(lines)


# ============================================================================= matrix
def run_matrix(size, rounds, budget_s) -> dict:
    n, L, w = size
    log(f"matrix {L}x{L} layers of {w}, n={n}: first calls")
    mark = len(LOADS) - 1
    layers = bc.layer_stack(n, L, w)
    V = Variants(rounds, budget_s)
    V.first_call("one_accumulation", lambda: bc.matrix_repsim(layers))
    m = repsim.Moments().update(layers)
    V.first_call("matrix_only", lambda mm: mm.matrix("pwcca").values, setup=lambda: (m.copy(),))
    pairwise = V.first_call("pairwise_repsim", lambda: bc.matrix_pairwise_repsim(layers))
    base = V.first_call("pairwise_baseline", lambda: bc.pairwise_baseline_results(layers))
    bc.check_matrix_agreement(layers, pairwise=pairwise, base=base)
    del base
    log("matrix: rounds")
    V.run()
    log("matrix: done")
    return {"n": n, "layers": L, "width": w, "times": V.summary(), "loads": [LOADS[mark], LOADS[-1]]}


def table_matrix(r) -> str:
    t = {k: v["median_s"] for k, v in r["times"].items()}
    one = t["one_accumulation"]
    rows = [
        ("repsim: one accumulation of all layers + `m.matrix(\"pwcca\")`", one),
        ("repsim: `m.matrix(\"pwcca\")` alone (accumulated Moments)", t["matrix_only"]),
        (f"repsim: {r['layers'] ** 2} pairwise `repsim.pwcca(X_i, X_j)`", t["pairwise_repsim"]),
        (f"baseline: {r['layers'] ** 2} pairwise google-style PWCCA", t["pairwise_baseline"]),
    ]
    lines = [
        f"| {r['layers']}×{r['layers']} PWCCA matrix, {r['layers']} layers × {r['width']}, n = {r['n']:,} | time | "
        "vs one accumulation |",
        "|---|---:|---:|",
    ]
    for name, v in rows:
        lines.append(f"| {name} | {fmt_s(v)} | {fmt_r(v / one)} |")
    lines.append("")
    if r.get("loads"):
        lines.append(f"Load during the measurement: {load_range(r)}.")
    lines.append("Values checked before timing: matrix = pairwise repsim (1e-10) = the baseline's Morcos PWCCA (1e-8).")
    return "\n".join(lines)


# ============================================================================= match
def run_match(ns, ps, rounds, budget_s) -> list:
    out = []
    for n in ns:
        for p in ps:
            log(f"match n={n} p={p}: data + first calls")
            mark = len(LOADS) - 1
            X, Y, px, py = bm.match_layers(n, p)
            V = Variants(rounds, budget_s)
            mine = V.first_call("e2e", lambda: bm.repsim_e2e(X, Y))
            oracle = V.first_call("oracle", lambda: bm.oracle_max_match(X, Y, bm.EPS))
            bm.check_same_sets(oracle, mine, px, py)
            m = V.first_call("accumulate", lambda: bm.accumulate(X, Y))
            V.first_call("metric", lambda mm: bm.repsim_metric(mm), setup=lambda: (m.copy(),))
            V.run()
            s = V.summary()
            log(f"match n={n} p={p}: done")
            out.append({"n": n, "p": p, "times": s, "matched": int(mine.size), "similarity": mine.similarity,
                        "oracle_lstsq_calls": oracle["passes"], "margin": oracle["margin"],
                        "loads": [LOADS[mark], LOADS[-1]]})
            log(f"match n={n} p={p}: " + ", ".join(f"{k} {fmt_s(v['median_s'])}" for k, v in s.items()))
            del X, Y, m, V
            gc.collect()
    return out


def exponents(rows) -> dict:
    fits = {}
    for n in sorted({r["n"] for r in rows}):
        rr = sorted((r for r in rows if r["n"] == n), key=lambda r: r["p"])
        if len(rr) < 2:
            continue
        lp = np.log([r["p"] for r in rr])
        fits[n] = {}
        for k in ("e2e", "metric", "accumulate", "oracle"):
            ts = np.log([r["times"][k]["median_s"] for r in rr])
            fits[n][k] = float(np.polyfit(lp, ts, 1)[0])
            if len(rr) >= 3:  # the upper half of the range, where the asymptotic term dominates
                fits[n][k + "_top"] = float(np.polyfit(lp[-3:], ts[-3:], 1)[0])
    return fits


def table_match(rows) -> str:
    lines = [
        "| n | neurons per layer | oracle (lstsq) | repsim end-to-end | ratio | repsim metric-only | ratio | "
        "accumulation | matched | load |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in rows:
        t = {k: v["median_s"] for k, v in r["times"].items()}
        one = " ¹" if len(r["times"]["oracle"]["samples_s"]) == 1 else ""
        lines.append(
            f"| {r['n']:,} | {r['p']} | {fmt_s(t['oracle'])}{one} | {fmt_s(t['e2e'])} | **{fmt_r(t['oracle'] / t['e2e'])}** | "
            f"{fmt_s(t['metric'])} | {fmt_r(t['oracle'] / t['metric'])} | {fmt_s(t['accumulate'])} | "
            f"{r['matched']}/{2 * r['p']} | {load_range(r)} |"
        )
    lines.append("")
    if any(len(r["times"]["oracle"]["samples_s"]) == 1 for r in rows):
        lines.append("¹ one timed call (the checked first call of a multi-second variant).")
    n, p, target = TARGET_MATCH
    hit = [r for r in rows if (r["n"], r["p"]) == (n, p)]
    if hit:
        t = hit[0]["times"]
        o = t["oracle"]["median_s"]
        ratio, metric = o / t["e2e"]["median_s"], o / t["metric"]["median_s"]
        ceiling = o / t["accumulate"]["median_s"]
        lines.append(
            f"ε = {bm.EPS}; identical neuron sets asserted before timing. Target ≥ {target:.0f}× at {p} neurons, "
            f"n = {n:,}: the elimination engine (metric-only, from the statistics) {metric:.1f}× → "
            f"**{'met' if metric >= target else 'NOT met'}**; end-to-end {ratio:.1f}×, bounded by the fp64 Gram "
            f"accumulation shared with every other metric ({fmt_s(t['accumulate']['median_s'])}, at the dsyrk floor): "
            f"no path that forms the Gram blocks in fp64 can exceed oracle / accumulation = {ceiling:.1f}× here.")
    fits = exponents(rows)
    if fits:
        lines += ["", "Scaling of time with the number of neurons p (slope of log t vs log p; in brackets: the top "
                  "three sizes only):", "",
                  "| n | repsim end-to-end | repsim metric-only (excl. accumulation) | accumulation | oracle |",
                  "|---:|---:|---:|---:|---:|"]
        for n, f in fits.items():
            cell = [f"{f[k]:.2f}" + (f" ({f[k + '_top']:.2f})" if k + "_top" in f else "")
                    for k in ("e2e", "metric", "accumulate", "oracle")]
            lines.append(f"| {n:,} | " + " | ".join(cell) + " |")
    return "\n".join(lines)


# ============================================================================= simple matches
def run_simple(size, rounds, budget_s) -> dict:
    n, p = size
    log(f"simple matches n={n} p={p}")
    mark = len(LOADS) - 1
    X, Y, _, _ = bm.match_layers(n, p)
    m = bm.accumulate(X, Y)
    V = Variants(rounds, budget_s)
    sm = V.first_call("simple_matches", lambda: m.simple_matches("x", "y", bm.EPS))
    V.first_call("max_match", lambda: m.max_match("x", "y", bm.EPS))
    V.run()
    log("simple matches: done")
    return {"n": n, "p": p, "times": V.summary(), "count": len(sm), "sizes": sm.size_distribution(),
            "maximum": sm.maximum.size, "loads": [LOADS[mark], LOADS[-1]]}


def table_simple(r) -> str:
    t = r["times"]
    return "\n".join([
        "| n | neurons per layer | ε | maximum match | simple matches | size distribution | time (all simple) | "
        "time (maximum match) |",
        "|---:|---:|---:|---:|---:|---|---:|---:|",
        f"| {r['n']:,} | {r['p']} | {bm.EPS} | {r['maximum']} | {r['count']} | "
        f"{', '.join(f'{k}: {v}' for k, v in r['sizes'].items())} | {fmt_s(t['simple_matches']['median_s'])} | "
        f"{fmt_s(t['max_match']['median_s'])} |",
        "",
        "From an accumulated Moments (warm statistics); repsim's default threads."
        + (f" Load: {load_range(r)}." if r.get("loads") else ""),
    ])


# ============================================================================= main
def render(results: dict) -> str:
    """Markdown for the sections present in ``results`` (one run, or several merged with --merge)."""
    tables = []
    if results.get("cca"):
        tables.append("### CCA, SVCCA, PWCCA vs an in-memory NumPy implementation (google/svcca style)\n\n"
                      + table_cca(results["cca"]))
    if results.get("matrix"):
        tables.append("### Layer × layer PWCCA matrix from one accumulation\n\n" + table_matrix(results["matrix"]))
    if results.get("match"):
        tables.append("### Maximum ε-match vs the least-squares elimination (Wang et al. 2018)\n\n"
                      + table_match(results["match"]))
    if results.get("simple"):
        tables.append("### Simple matches\n\n" + table_simple(results["simple"]))
    runs = results["runs"]
    loads = [x for r in runs for x in r["loads"]]
    header = [f"Measured {runs[0]['date']} on {runs[0]['machine']}.", "", runs[0]["versions"] + ".", ""]
    footer = [
        f"{len(runs)} run(s) of `bench/report_cca_match.py` ({', '.join(r['args'] for r in runs)}), "
        f"{sum(r['wall_s'] for r in runs) / 60:.1f} min in all; 1-minute load average during the runs "
        f"{min(loads):.1f}–{max(loads):.1f} (median {statistics.median(loads):.1f}; the report's own BLAS threads "
        f"account for ~2) on {os.cpu_count()} cores. "
        f"Times are medians of up to {max(r['rounds'] for r in runs)} samples per variant, ratios are ratios of "
        "medians."
    ]
    return "\n".join(header) + "\n" + "\n\n".join(tables) + "\n\n" + "\n".join(footer)


def merge(paths) -> dict:
    """Sections of several JSON outputs; CCA and match cells are merged by size (a later file wins)."""
    out = {"runs": []}
    cca, match = {}, {}
    for path in paths:
        with open(path) as fh:
            r = json.load(fh)
        out["runs"] += r["runs"]
        for row in r.get("cca", []):
            cca[(row["n"], row["p"])] = row
        for row in r.get("match", []):
            match[(row["n"], row["p"])] = row
        for k in ("matrix", "simple"):
            if r.get(k):
                out[k] = r[k]
    out["cca"] = [cca[k] for k in sorted(cca, key=lambda k: (k[1], k[0]))]
    out["match"] = [match[k] for k in sorted(match)]
    return out


def _cells(text: str):
    return tuple(tuple(int(v) for v in c.lower().split("x")) for c in text.split(",") if c.strip())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="repsim CCA / max-match benchmark report (markdown)")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    ap.add_argument("--rounds", type=int, default=5, help="most timed samples per variant (default 5)")
    ap.add_argument("--budget-s", type=float, default=3.0, help="seconds of timed calls per variant and cell")
    ap.add_argument("--full", action="store_true", help="run the cells that are extrapolated / derived by default")
    ap.add_argument("--quick", action="store_true", help="small sizes only (checks the script in about a minute)")
    ap.add_argument("--cca-cells", help="CCA cells as NxP,... (default: " +
                    ",".join(f"{n}x{p}" for n, p in CCA_CELLS) + ")")
    ap.add_argument("--match-n", help="comma-separated n of the match section (default: " +
                    ",".join(map(str, MATCH_NS)) + ")")
    ap.add_argument("--json", metavar="PATH", help="also write the raw numbers as JSON")
    ap.add_argument("--merge", nargs="+", metavar="JSON", help="print the tables of earlier --json outputs, merged "
                    "(for runs of single sections in the quiet windows of a shared machine); runs nothing")
    args = ap.parse_args(argv)
    if args.merge:
        print(render(merge(args.merge)))
        return 0
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = set(only) - set(SECTIONS)
    if bad:
        ap.error(f"unknown section(s) {sorted(bad)}")
    t_start = time.perf_counter()
    log("start")
    run_info = {"date": datetime.date.today().isoformat(), "machine": machine(), "versions": versions(),
                "args": " ".join(argv if argv is not None else sys.argv[1:]) or "defaults", "rounds": args.rounds}
    results = {}
    if "cca" in only:
        cells = _cells(args.cca_cells) if args.cca_cells else (QUICK_CCA_CELLS if args.quick else CCA_CELLS)
        results["cca"] = run_cca(cells, args.rounds, args.budget_s, args.full)
    if "matrix" in only:
        results["matrix"] = run_matrix(QUICK_MATRIX if args.quick else MATRIX, args.rounds, args.budget_s)
    if "match" in only:
        ns = tuple(int(v) for v in args.match_n.split(",")) if args.match_n else (QUICK_MATCH_NS if args.quick else MATCH_NS)
        results["match"] = run_match(ns, QUICK_MATCH_PS if args.quick else MATCH_PS, args.rounds, args.budget_s)
        results["match_exponents"] = exponents(results["match"])
    if "simple" in only:
        results["simple"] = run_simple(QUICK_SIMPLE if args.quick else SIMPLE, args.rounds, args.budget_s)
    log("done")
    run_info["wall_s"] = time.perf_counter() - t_start
    run_info["loads"] = list(LOADS)
    results["runs"] = [run_info]
    print(render(results))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    return 0


if __name__ == "__main__":
    sys.exit(main())
