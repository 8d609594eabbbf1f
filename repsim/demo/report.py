"""The demo's outputs: ``report.md``, ``results.json``, PNG figures, and the printed summary."""
from __future__ import annotations

import json
import math
import os

import numpy as np

from ..plot import _figure  # a bare Figure (Agg canvas): pyplot's global backend is never touched
from ..plot import plot_match_curve, plot_simple_matches

FIGURES = {
    "stitching": "stitching.png",
    "projection": "projection_curves.png",
    "layer_similarity": "layer_similarity.png",
    "max_match": "max_match.png",
    "simple_matches": "simple_matches.png",
}


def _pct(v) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{100 * v:.1f}%"


# ---------------------------------------------------------------------------------------------------- figures
# Every panel is drawn by a public function of repsim.plot (through the result objects' plot() methods where they
# have one); only the figures' layout and the demo's wording are set here.
def stitching_figure(result, path):
    """Seed 001's three accuracy tables (affine maps, logit maps, naive swap) side by side → PNG at ``path``."""
    fig = _figure(figsize=(13, 3.8), layout="constrained")
    for ax, kind in zip(fig.subplots(1, 3), ("accuracy", "logit", "naive")):
        result.stitching.plot(ax, kind=kind)
    fig.savefig(path, format="png", dpi=100)


def projection_figure(result, path):
    """Seed 000's projection curves of CNN A's fc features → PNG at ``path``."""
    fig = _figure(figsize=(7.5, 4.8), layout="constrained")
    result.projection.plot(fig.add_subplot(), ylabel="test accuracy of CNN A's own head",
                           title="Subspace projection of CNN A's fc features (seed 000, §4.2)")
    fig.savefig(path, format="png", dpi=100)


def matches_figure(result, path):
    """s(ε) of every layer, CNN A against CNN B and against the untrained CNN → PNG at ``path``."""
    curves = result.match_curves
    layers = list(curves)
    cols = 3
    rows = (len(layers) + cols - 1) // cols
    fig = _figure(figsize=(4 * cols, 3 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, layer in zip(axes, layers):
        c = curves[layer]
        title = f"{layer} ({c['neurons']} neurons, {c['rows']} rows)"
        plot_match_curve(c["trained"], ax, label="CNN A vs CNN B (trained)", legend=False, title=title)
        plot_match_curve(c["untrained"], ax, label="CNN A vs untrained CNN", legend=False, marker="s",
                         linestyle="--")
        ax.title.set_fontsize(9)
    for ax in axes[len(layers):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle("Maximal matching similarity (Wang et al. 2018; seeds 003/004)")
    fig.savefig(path, format="png", dpi=100)


def simple_figure(result, path):
    """The simple-match size distributions of the configured layers and ε → PNG at ``path``."""
    simple = result.simple
    cols = min(max(len(simple), 1), 2)
    rows = (max(len(simple), 1) + cols - 1) // cols
    fig = _figure(figsize=(5 * cols, 3.6 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (label, s) in zip(axes, simple.items()):
        layer = label.split(" @ ")[0]
        plot_simple_matches(s, ax, title=f"{layer}, ε = {s.eps:g}: {len(s)} simple matches\n(maximum match: "
                                         f"{s.maximum.size} of {s.maximum.n_x + s.maximum.n_y} neurons)")
    for ax in axes[len(simple):]:
        ax.set_visible(False)
    fig.savefig(path, format="png", dpi=100)


def write_figures(result, out_dir) -> dict:
    paths = {k: os.path.join(out_dir, v) for k, v in FIGURES.items()}
    stitching_figure(result, paths["stitching"])
    projection_figure(result, paths["projection"])
    result.layer_report.plot(paths["layer_similarity"], mark_best=True)
    matches_figure(result, paths["max_match"])
    simple_figure(result, paths["simple_matches"])
    return paths


# ---------------------------------------------------------------------------------------------------- markdown
def _md_table(header, rows) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


VERDICT_TEXT = {"holds": "holds here", "mixed": "holds on some seed pairs but not on all here",
                "does not hold": "does not hold here"}


def _holding(c: dict) -> str:
    return f"{sum(p['holds'] for p in c['per_pair'])}/{len(c['per_pair'])}"


def _aggregate_text(a: dict) -> str:
    vals = ", ".join(f"{v:.3f}" for v in a["values"])
    if a["low"] is None:
        return f"{a['quantity']}: {vals}"
    return (f"{a['quantity']}: per seed pair {vals}; mean {a['mean']:.3f}, sd {a['sd']:.3f}, "
            f"{a['level']:.0%} t-interval [{a['low']:.3f}, {a['high']:.3f}]")


def _claim_paragraph(c: dict) -> list[str]:
    verdict = VERDICT_TEXT.get(c["verdict"], c["verdict"])
    plural = " and " in c["seed"]
    lines = [
        f"**{'Seeds' if plural else 'Seed'} {c['seed']}** ({c['source']}) claim{'' if plural else 's'} that "
        f"{c['claim']}.",
        "",
        f"* Core criterion (per seed pair): {c['criterion']}.",
        f"* Control: {c['control']}.",
        f"* Verdict rule: {c['verdict_rule']}.",
        "",
        *_md_table(["seed pair (demo seed)", "criterion holds", "measured"],
                   [[str(p["seed"]), "yes" if p["holds"] else "no", p["measured"]] for p in c["per_pair"]]),
        "",
        *(f"* Across seed pairs — {_aggregate_text(a)}." for a in c["aggregate"]),
        "",
        f"**The claim {verdict}** (the criterion holds on {_holding(c)} seed pairs).",
        "",
    ]
    if c.get("note"):
        lines += [f"Note: {c['note']}.", ""]
    return lines


def _matrix_md(name, m) -> list[str]:
    rows = [[r] + [f"{v:.3f}" for v in vals] for r, vals in zip(m["rows"], m["values"])]
    return [f"**{name}** (rows: CNN A layers, columns: CNN B layers)", "", *_md_table(["A \\ B", *m["cols"]], rows), ""]


def markdown(result) -> str:
    r = result.results
    cfg = r["config"]
    claims = r["claims"]
    d = r["data"]
    lines = [
        "# repsim demo",
        "",
        f"MNIST-1D (Greydanus 2020) generated locally by `mnist1d.data.make_dataset` (seed {d['args']['seed']}): "
        f"{d['n_train']} training and {d['n_test']} test signals of length {d['length']}, {d['n_classes']} classes. "
        f"Models trained on the CPU with torch for {cfg['epochs']} epochs (AdamW, one-cycle schedule, batch "
        f"{cfg['batch_size']}, dropout {cfg['dropout']} before the head); demo seed {cfg['seed']}.",
        "",
        "## Models",
        "",
    ]
    pairs = r.get("pairs") or [{"pair": 0, "seed": cfg["seed"], "models": r["models"]}]
    lines += [
        f"{len(pairs)} independently trained seed pairs (pair k: demo seed {cfg['seed']} + 10 k; CNN A, CNN B, the "
        "MLP and an untrained CNN as the control, init seeds s … s + 3). Pair 0 gives the figures and the tables "
        f"below; every claim is decided on all pairs. Pair 0 trains for {cfg['epochs']} epochs, the others for "
        f"{min(cfg.get('extra_epochs', cfg['epochs']), cfg['epochs'])}.",
        "",
    ]
    rows = []
    for p in pairs:
        for name, m in p["models"].items():
            weights = "cache" if m.get("from_cache") else ("trained" if m["epochs"] else "untrained")
            rows.append([str(p["pair"]), name, m["arch"], str(m["seed"]), str(m["epochs"]),
                         _pct(m.get("train_accuracy")), _pct(m["test_accuracy"]), weights])
    lines += _md_table(["pair", "model", "architecture", "init seed", "epochs", "train acc.", "test acc.",
                        "weights"], rows)
    lines += ["", "## Claims", "",
              "Each verdict is decided by the paper's core criterion, with an explicit control, on every seed pair: "
              f"{next(iter(claims.values()))['verdict_rule']}.", ""]
    lines += _md_table(
        ["seed", "source", "claim", "seed pairs where the criterion holds", "verdict here"],
        [[c["seed"], c["source"], c["claim"], _holding(c), c["verdict"]] for c in claims.values()],
    )
    lines += [""]

    # seed 001
    st = r["stitching"]
    lines += [result.stitching.to_markdown(), ""]
    dead = ", ".join(f"{k} {v}" for k, v in st["dead_features"].items())
    lines += [f"Dead fc units (constant on the training samples, weight 0 in the affine maps): {dead}. The "
              "`untrained` row and column are the control (an untrained CNN).", "",
              f"![stitching]({FIGURES['stitching']})", ""]
    lines += _claim_paragraph(claims["001"])
    lines += _claim_paragraph(claims["001_naive_swap"])

    # seed 000
    lines += [result.projection.to_markdown(), f"![projection curves]({FIGURES['projection']})", ""]
    lines += _claim_paragraph(claims["000"])

    # seed 002
    ls = r["layer_similarity"]
    lines += [
        "## Layer × layer similarity (seed 002)",
        "",
        f"CNN A (rows) against CNN B (columns) on the {ls['n_samples']} test signals, computed by `repsim.compare` in "
        "one pass. Conv feature maps are average-pooled over positions (`reduce=\"pool\"`, as seed 002 pools its "
        "feature maps); fc and head are vectors.",
        "",
    ]
    for metric, title in (("cka", "Linear CKA"), ("debiased_cka", "Debiased linear CKA"), ("rv2", "RV2")):
        lines += _matrix_md(title, ls[metric])
    lines += [f"![CKA, debiased CKA and RV2]({FIGURES['layer_similarity']})", "",
              "In the figure, hatched cells do not beat the permutation null (BH, α = 0.05) and each row's best match "
              "is outlined in red.", ""]
    agg = r.get("layer_similarity_aggregate")
    if agg:
        a = agg["rv2"]
        rows = [[row] + [f"{v:.2f} [{lo:.2f}, {hi:.2f}]" for v, lo, hi in zip(vals, lows, highs)]
                for row, vals, lows, highs in zip(a["rows"], a["values"], a["interval_low"], a["interval_high"])]
        lines += [f"**RV2 across the {agg['pairs']} seed pairs** (mean and 95% t-interval per cell, "
                  "`repsim.inference.aggregate`)", "", *_md_table(["A \\ B", *a["cols"]], rows), ""]
    noise = r.get("rv2_noise")
    if noise:
        lines += [f"**RV2 of unrelated random matrices.** Seed 002 says RV2 is near 0 for random, unrelated "
                  f"matrices. For independent standard normal matrices with n = {noise['n']} samples and "
                  f"p = {noise['p']} features (mean of {noise['draws']} draws): **uncentred RV2 "
                  f"{noise['uncentred']:.3f}, centred RV2 {noise['centred']:.3f}**. The statement holds for the "
                  "uncentred RV2, which is what the seed means (it used hoggorm's `RV2coeff`, which does not centre; "
                  "`repsim.rv2(X, Y, center=False)`). Centring makes every off-diagonal entry of both Grams about "
                  "−p/n, so the two Grams agree although the data are unrelated. The matrices above are centred "
                  "(repsim's default).", ""]
    lines += _claim_paragraph(claims["002"])

    # seeds 003/004
    mm = r["max_match"]
    eps = mm["eps"]
    lines += [
        "## Maximum matches (seeds 003 and 004)",
        "",
        "Maximal matching similarity s(ε) = (|X*| + |Y*|) / (n_x + n_y) of Wang et al. (2018) between CNN A and CNN B "
        "(trained) and between CNN A and an untrained CNN, on the test signals. Conv layers: every signal × position "
        "is a row and the channels are the neurons (`reduce=\"positions\"`); fc: one row per signal. Spans are linear "
        "(not centred), dead neurons count in the denominator.",
        "",
    ]
    rows = []
    for layer, v in mm["layers"].items():
        rows.append([layer, str(v["neurons"]), str(v["rows"])] + [f"{a:.2f} / {b:.2f}" for a, b in
                                                                   zip(v["trained"], v["untrained"])])
    lines += _md_table(["layer", "neurons", "rows", *[f"ε = {e:g} (trained / untrained)" for e in eps]], rows)
    lines += ["", f"![max-match curves]({FIGURES['max_match']})", ""]
    lines += _claim_paragraph(claims["003_004_max_match"])
    lines += ["## Simple matches (seed 003)", ""]
    rows = []
    for v in r["simple_matches"].values():
        layer = v["layer"]
        dist = ", ".join(f"{k}: {c}" for k, c in v["size_distribution"].items()) or "—"
        rows.append([layer, f"{v['eps']:g}", str(v["maximum_match_size"]), str(v["count"]), dist])
    lines += _md_table(["layer", "ε", "maximum match (neurons)", "simple matches", "size: count"], rows)
    lines += ["", f"![simple-match sizes]({FIGURES['simple_matches']})", ""]
    lines += _claim_paragraph(claims["003_simple_matches"])

    t = r["timing_s"]
    lines += [
        "## Run",
        "",
        "Seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in t.items()) + ".",
        f"repsim {r['environment']['repsim']}, torch {r['environment']['torch']}, numpy {r['environment']['numpy']}, "
        f"Python {r['environment']['python']}. All numbers are in `results.json`.",
        "",
    ]
    return "\n".join(lines)


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if not math.isfinite(float(o)) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _clean(o):
    """NaN/Inf → None, recursively (JSON has no NaN)."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def write(result, out_dir) -> dict:
    """Write ``report.md``, ``results.json`` and the figures into ``out_dir`` (created); return name → path."""
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    paths = write_figures(result, out_dir)
    paths["results"] = os.path.join(out_dir, "results.json")
    with open(paths["results"], "w", encoding="utf-8") as fh:
        json.dump(_clean(result.results), fh, indent=1, default=_json_default, allow_nan=False)
    paths["report"] = os.path.join(out_dir, "report.md")
    with open(paths["report"], "w", encoding="utf-8") as fh:
        fh.write(markdown(result))
    return paths


# ---------------------------------------------------------------------------------------------------- summary
SUMMARY_LABELS = {
    "001": "001 affine maps",
    "001_naive_swap": "001 naive swap",
    "000": "000 projection",
    "002": "002 RV2 diagonal",
    "003_004_max_match": "003/004 max-match",
    "003_simple_matches": "003 simple matches",
}


def summary(result) -> str:
    """The printed summary: models, and per claim its verdict, on how many seed pairs the criterion holds and the
    aggregated key number."""
    r = result.results
    m = r["models"]
    pairs = r.get("pairs") or [r]
    trained = sum(1 for p in pairs for v in p["models"].values() if v["epochs"] and not v.get("from_cache"))
    cached = sum(1 for p in pairs for v in p["models"].values() if v.get("from_cache"))
    lines = [
        f"repsim demo: MNIST-1D {r['data']['n_train']}/{r['data']['n_test']} train/test, seed {r['config']['seed']}, "
        f"{len(pairs)} seed pair(s); models trained now: {trained}, from cache: {cached}",
        "  pair 0 test accuracy: " + ", ".join(f"{k} {_pct(v['test_accuracy'])}" for k, v in m.items()),
    ]
    for key, c in r["claims"].items():
        a = c["aggregate"][0] if c["aggregate"] else None
        extra = ""
        if a is not None:
            extra = f"; {a['quantity']}: mean {a['mean']:.3f}"
            if a["low"] is not None:
                extra += f" [{a['low']:.3f}, {a['high']:.3f}]"
        lines.append(f"  [{SUMMARY_LABELS.get(key, key)}] criterion holds on {_holding(c)} seed pairs{extra}"
                     f"  → {c['verdict']}")
    noise = r.get("rv2_noise")
    if noise:
        lines.append(f"  RV2 of unrelated noise (n = {noise['n']}, p = {noise['p']}): uncentred "
                     f"{noise['uncentred']:.3f} (seed 002's sense), centred {noise['centred']:.3f}")
    return "\n".join(lines)
