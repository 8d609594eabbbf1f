"""Does each seed's claim hold in this run? Decided from the numbers of ``results`` — nothing is hard-coded.

Every claim is tested by ONE core criterion — the paper's own statement, with the paper's numbers as thresholds where
it gives them — applied to every independently trained seed pair, and the criterion includes an explicit control
(untrained networks, chance, or the methods the paper compares with), so that it can fail. The verdict:

* ``"holds"``: the core criterion holds on every seed pair;
* ``"mixed"``: it holds on some seed pairs but not on all (the claim is not robust to the training seed here);
* ``"does not hold"``: it holds on no seed pair.

Each claim also reports the numbers per seed pair and their mean across seed pairs with a 95 % t-interval
(:func:`repsim.inference.aggregate`; none with a single seed pair).

Input: ``results["pairs"]``, a list with one dict per seed pair holding ``"seed"`` and the analyses' numbers under
``"stitching"``, ``"projection"``, ``"layer_similarity"``, ``"max_match"`` and ``"simple_matches"`` (the format of
:func:`repsim.demo.pipeline.pair_results`); ``results["data"]["n_classes"]``; ``results["rv2_noise"]`` (optional).
"""
from __future__ import annotations

import numpy as np

from ..inference import aggregate
from ..results import SimilarityMatrix

#: Seed 001, Table 5.2: the largest penalty of any affine map between two of its ten CNNs was −11.6 %.
SEED001_WORST_PENALTY = -0.116
#: Seed 001, §5.6: the naive swap gave 0.27 % top-1 on ImageNet against 0.1 % chance, i.e. it recovered ≈ 0.2 % of
#: the way from chance to the networks' own accuracy (≈ 75 %). We call a naive swap "near chance" when it recovers at
#: most 5 % of that way — over twenty times the thesis's figure, to allow for 1,000 test signals (the binomial sd of
#: chance accuracy, 0.95 points, is 1.1 % of the way for a 95 % model).
NAIVE_MAX_RECOVERY = 0.05
#: Seed 000, §4.2: the CCA_highest curve "is almost at its maximum for n_c components" — read as within this much
#: accuracy of the unprojected network (Fig. 4: the dotted line sits a few points below the maximum).
SEED000_NEAR = 0.05
#: Seed 000's comparison methods that choose a subspace without the CCA partner; the control is the best of them.
SEED000_CONTROLS = ("PCA", "random_selection")
#: Seed 002: "the highest similarity values were near the diagonal" — read as the row maximum at most this many
#: layers from the corresponding layer.
NEAR_DIAGONAL = 1
#: Permutation-test level for the diagonal of the RV2 matrix (Benjamini–Hochberg over the matrix).
ALPHA = 0.05
#: Seeds 003/004 (Wang et al. 2018): thresholds for "low" and "high" maximal matching similarity.
LOW, HIGH = 0.2, 0.5
#: Seeds 003/004: the ε at which layers are compared (Wang et al. 2018, Fig. 3, middle of the ε grid).
MATCH_EPS = 0.3
#: Seed 003 (simple matches): a simple match is "small" when it has at most this many neurons (both sides together).
SMALL_MATCH = 4
#: Seed 003: "very few" small simple matches — read as fewer than this fraction of the layer pair's neurons in them.
SMALL_MATCH_FRACTION = 0.10
#: The interval level of the aggregates across seed pairs.
LEVEL = 0.95

VERDICTS = ("holds", "mixed", "does not hold")
VERDICT_RULE = ("holds: the core criterion holds on every seed pair; mixed: on some but not all; does not hold: on "
                "none")


def verdict(per_pair) -> str:
    """``"holds"`` if every seed pair satisfies the core criterion, ``"does not hold"`` if none does, else
    ``"mixed"``."""
    ok = [bool(p["holds"]) for p in per_pair]
    if not ok:
        return "not run"
    return "holds" if all(ok) else ("mixed" if any(ok) else "does not hold")


def summarize(label: str, values) -> dict:
    """Mean, sample sd and 95 % t-interval of one number across seed pairs (:func:`repsim.inference.aggregate` on
    1 × 1 matrices); the interval is None with fewer than two seed pairs."""
    values = [float(v) for v in values]
    out = {"quantity": label, "values": values, "mean": float(np.mean(values)) if values else float("nan"),
           "sd": float(np.std(values, ddof=1)) if len(values) > 1 else None, "low": None, "high": None,
           "level": LEVEL}
    if len(values) >= 2 and all(np.isfinite(values)):
        agg = aggregate([SimilarityMatrix(label, ["x"], ["y"], np.array([[v]])) for v in values], level=LEVEL)
        out["low"], out["high"] = float(agg.interval_low[0, 0]), float(agg.interval_high[0, 0])
    return out


def _claim(seed, source, claim, criterion, control, per_pair, aggregates, note=None) -> dict:
    return {
        "seed": seed,
        "source": source,
        "claim": claim,
        "criterion": criterion,
        "control": control,
        "per_pair": per_pair,
        "aggregate": aggregates,
        "verdict": verdict(per_pair),
        "verdict_rule": VERDICT_RULE,
        "note": note,
    }


def _pair(p, holds, measured, **numbers) -> dict:
    return {"seed": p.get("seed"), "holds": bool(holds), "measured": measured, **numbers}


def _pct(v) -> str:
    return f"{100 * v:.1f}%"


def _matrix(rows) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)


# ------------------------------------------------------------------------------------------------- seed 001
def _trained(st: dict) -> list[int]:
    return [i for i, m in enumerate(st["models"]) if m != "untrained"]


def seed001_affine(pairs, n_classes: int) -> dict:
    per_pair, worst_all, control_all = [], [], []
    for p in pairs:
        st = p["stitching"]
        models = st["models"]
        own = np.asarray(st["own_accuracy"], dtype=float)
        acc = _matrix(st["accuracy"])
        tr = _trained(st)
        cells = [(i, j) for i in tr for j in tr if i != j]
        pen = {(i, j): acc[i, j] / own[i] - 1.0 for i, j in cells}
        (wi, wj), worst = min(pen.items(), key=lambda kv: kv[1])
        # control: the untrained CNN's features, affinely mapped into each trained model's head, against that
        # model's own accuracy
        u = models.index("untrained")
        ctrl = {j: acc[u, j] / own[j] - 1.0 for j in tr}
        cj, best_ctrl = max(ctrl.items(), key=lambda kv: kv[1])
        holds = worst >= SEED001_WORST_PENALTY and best_ctrl < SEED001_WORST_PENALTY
        worst_all.append(worst)
        control_all.append(best_ctrl)
        per_pair.append(_pair(
            p, holds,
            f"worst trained map {100 * worst:+.1f}% ({models[wi]} → {models[wj]} head); untrained control at best "
            f"{100 * best_ctrl:+.1f}% (→ {models[cj]} head)",
            worst_penalty=worst, control_penalty=best_ctrl))
    return _claim(
        "001", "McNeely-White 2020, ch. 5, Table 5.2",
        "features of differently trained networks are related by affine maps that cost little accuracy",
        f"on every ordered pair of trained models, the least-squares affine map from one model's features into the "
        f"other's head costs at most {-100 * SEED001_WORST_PENALTY:.1f}% (relative) of the feature extractor's own "
        "accuracy (Table 5.2's worst case), while the same map from an untrained CNN's features costs more than "
        "that (otherwise the criterion does not need trained features)",
        "the untrained CNN's features mapped affinely into each trained head (penalty relative to that head's "
        "model)",
        per_pair,
        [summarize("worst relative penalty, trained maps", worst_all),
         summarize("best relative penalty, untrained control", control_all)],
        note="the logit-compatibility maps of Table 5.3 are lossless by construction (an algebraic identity "
        "whenever the head has full centred rank), so they test nothing and are only shown in the table",
    )


def seed001_naive(pairs, n_classes: int) -> dict:
    chance = 1.0 / n_classes
    per_pair, rec_all, best_all = [], [], []
    for p in pairs:
        st = p["stitching"]
        models = st["models"]
        own = np.asarray(st["own_accuracy"], dtype=float)
        naive = _matrix(st["naive"])
        tr = _trained(st)
        cells = [(i, j) for i in tr for j in tr if i != j]
        rec = {(i, j): (naive[i, j] - chance) / (own[i] - chance) for i, j in cells}
        (ri, rj), worst = max(rec.items(), key=lambda kv: kv[1])
        holds = worst <= NAIVE_MAX_RECOVERY
        rec_all.append(worst)
        best_all.append(naive[ri, rj])
        per_pair.append(_pair(
            p, holds,
            f"naive swap {models[ri]} → {models[rj]} head {_pct(naive[ri, rj])} (chance {_pct(chance)}, own "
            f"{_pct(own[ri])}): {100 * worst:.1f}% of the way from chance to own accuracy",
            recovery=worst, naive=float(naive[ri, rj])))
    return _claim(
        "001", "McNeely-White 2020, ch. 5, §5.6",
        "the unmapped features of differently trained networks are not interchangeable: a naive swap is near chance",
        f"on every ordered pair of trained models, the naive swap (unmapped features into the other head) recovers at "
        f"most {100 * NAIVE_MAX_RECOVERY:.0f}% of the way from chance to the feature extractor's own accuracy (the "
        "thesis: 0.27% against 0.1% chance, ≈ 0.2% of the way)",
        f"chance, 1/{n_classes} = {_pct(chance)}",
        per_pair,
        [summarize("largest fraction of the way from chance to own accuracy", rec_all),
         summarize("that naive-swap accuracy", best_all)],
    )


# ------------------------------------------------------------------------------------------------- seed 000
def seed000(pairs) -> dict:
    per_pair, margins, gaps = [], [], []
    for p in pairs:
        pr = p["projection"]
        nc = int(pr["n_classes"])
        k = list(pr["n_values"]).index(nc)
        base = float(pr["baseline"])
        acc = {m: float(v[k]) for m, v in pr["accuracy"].items()}
        hi = acc["CCA_highest"]
        ctrl_name = max((m for m in SEED000_CONTROLS if m in acc), key=acc.get)
        ctrl = acc[ctrl_name]
        gap, margin = base - hi, hi - ctrl
        holds = gap <= SEED000_NEAR and margin > 0
        gaps.append(gap)
        margins.append(margin)
        low = f"; CCA_lowest {_pct(acc['CCA_lowest'])}" if "CCA_lowest" in acc else ""
        per_pair.append(_pair(
            p, holds,
            f"n = {nc}: CCA_highest {_pct(hi)} (unprojected {_pct(base)}, gap {100 * gap:.1f} points); best control "
            f"{ctrl_name} {_pct(ctrl)} (margin {100 * margin:+.1f} points){low}",
            gap=gap, margin=margin))
    return _claim(
        "000", "Moreau et al. 2021, §4.2 and Fig. 4",
        "the n_c most correlated CCA components (CCA partner: the other CNN) carry the classification: projecting "
        "onto them keeps almost all of the accuracy",
        f"at n = n_c, the CCA_highest projection is within {100 * SEED000_NEAR:.0f} points of the unprojected "
        f"accuracy AND above every projection chosen without the CCA partner ({', '.join(SEED000_CONTROLS)})",
        f"the best of {', '.join(SEED000_CONTROLS)} at n = n_c (seed 000 compares with both; Kamoi et al.'s PCA "
        "needs no partner network)",
        per_pair,
        [summarize("CCA_highest − best control (accuracy)", margins),
         summarize("unprojected − CCA_highest (accuracy)", gaps)],
    )


# ------------------------------------------------------------------------------------------------- seed 002
def _rv2_noise_note(noise) -> str:
    if not noise:
        return ""
    return (f"; RV2 of two unrelated Gaussian matrices (n = {noise['n']}, p = {noise['p']}, mean of "
            f"{noise['draws']} draws): uncentred {noise['uncentred']:.3f}, centred {noise['centred']:.3f}. Seed 002's "
            "statement that RV2 'pushes the numerator to zero' for random matrices holds for the uncentred RV2 — "
            "the one the seed computed (hoggorm's RV2coeff does not centre) — and not for the centred RV2, which "
            "the layer matrices here use (the registry's default, needed for the permutation p-values)")


def seed002(pairs, noise=None) -> dict:
    per_pair, margins, rows_near = [], [], []
    for p in pairs:
        ls = p["layer_similarity"]
        layers = ls["layers"]
        rv2 = _matrix(ls["rv2"]["values"])
        ctrl = _matrix(ls["control_rv2"]["values"])
        pv = ls["rv2"].get("p_values")
        idx = np.arange(len(layers))
        am = np.nanargmax(rv2, axis=1)
        near = int(np.sum(np.abs(am - idx) <= NEAR_DIAGONAL))
        sig = (SimilarityMatrix("rv2", layers, layers, rv2, p_values=_matrix(pv)).significant(ALPHA, "bh")
               if pv is not None else np.zeros(rv2.shape, dtype=bool))
        sig_diag = int(np.sum(np.diag(sig)))
        margin = float(np.nanmean(np.diag(rv2)) - np.nanmean(np.diag(ctrl)))
        holds = near == len(layers) and sig_diag == len(layers) and margin > 0
        off = [f"{layers[i]}→{layers[a]}" for i, a in enumerate(am) if abs(a - i) > NEAR_DIAGONAL]
        margins.append(margin)
        rows_near.append(near)
        per_pair.append(_pair(
            p, holds,
            f"{near} of {len(layers)} rows peak within {NEAR_DIAGONAL} layer of the diagonal"
            + (f" (off: {', '.join(off)})" if off else "")
            + f"; {sig_diag} of {len(layers)} diagonal cells above the permutation null; mean diagonal RV2 "
            f"{np.nanmean(np.diag(rv2)):.3f} vs untrained control {np.nanmean(np.diag(ctrl)):.3f}",
            rows_near=near, diagonal_significant=sig_diag, margin=margin))
    return _claim(
        "002", "Thompson, Bengio & Schönwiesner 2019",
        "between two networks of the same architecture, each layer is most similar (RV2) to the corresponding layer "
        "of the other network",
        f"in the layer × layer RV2 matrix of CNN A against CNN B, every row's maximum lies within {NEAR_DIAGONAL} "
        f"layer of the diagonal ('the highest similarity values were near the diagonal'), every diagonal cell beats "
        f"the permutation null (BH, α = {ALPHA:g}), and the mean diagonal RV2 exceeds that of CNN A against an "
        "untrained CNN",
        "the permutation null of every cell (exact moments) and CNN A against an untrained CNN",
        per_pair,
        [summarize("mean diagonal RV2 − untrained control", margins),
         summarize("rows peaking near the diagonal", rows_near)],
        note=f"centred RV2 (the registry default) throughout{_rv2_noise_note(noise)}",
    )


# ------------------------------------------------------------------------------------------------- seeds 003/004
def max_match_claim(pairs) -> dict:
    per_pair, first_margin, low_counts = [], [], []
    for p in pairs:
        mm = p["max_match"]
        eps = list(mm["eps"])
        k = eps.index(MATCH_EPS) if MATCH_EPS in eps else len(eps) // 2
        layers = mm["layers"]
        conv = [n for n in layers if n.startswith("conv")]
        s = {n: layers[n]["trained"][k] for n in layers}
        u = {n: layers[n]["untrained"][k] for n in layers}
        low = [n for n in conv if s[n] <= LOW]
        first = conv[0]
        margin = s[first] - u[first]
        holds = len(low) > len(conv) / 2 and s[first] >= HIGH and margin > 0
        first_margin.append(margin)
        low_counts.append(len(low))
        per_pair.append(_pair(
            p, holds,
            f"ε = {eps[k]:g}: {len(low)} of {len(conv)} conv layers ≤ {LOW}; {first} trained {s[first]:.2f} vs "
            f"untrained control {u[first]:.2f} (margin {margin:+.2f}); "
            + ", ".join(f"{n} {s[n]:.2f}/{u[n]:.2f}" for n in layers),
            first_margin=margin, low_layers=len(low)))
    return _claim(
        "003 and 004", "Wang et al. 2018, as reproduced and summarised by the course reports of seeds 003 and 004",
        "most convolutional layers of two identically built, differently initialised networks share little in terms "
        "of subspace match; the layer near the input is more similar",
        f"at ε = {MATCH_EPS:g}, more than half of the conv layers have maximal matching similarity s ≤ {LOW}, AND the "
        f"layer nearest the input has s ≥ {HIGH} and higher than between CNN A and an untrained CNN (otherwise its "
        "similarity owes nothing to training)",
        "CNN A against an untrained CNN, layer by layer",
        per_pair,
        [summarize("first conv layer: trained − untrained s", first_margin),
         summarize("conv layers with low s", low_counts)],
        note="'sometimes near the output' cannot fail and is not tested; the fc numbers are in the table",
    )


def simple_match_claim(pairs) -> dict:
    per_pair, worst_all = [], []
    for p in pairs:
        sm = p.get("simple_matches") or {}
        if not sm:
            continue
        fr = {label: (v["small_match_neurons"] / v["neurons"] if v["neurons"] else 0.0) for label, v in sm.items()}
        ctrl = {label: (v["control_small_match_neurons"] / v["neurons"] if v.get("neurons") and
                        v.get("control_small_match_neurons") is not None else float("nan"))
                for label, v in sm.items()}
        worst_label = max(fr, key=fr.get)
        holds = fr[worst_label] < SMALL_MATCH_FRACTION
        worst_all.append(fr[worst_label])
        per_pair.append(_pair(
            p, holds,
            "; ".join(f"{label}: {_pct(fr[label])} of neurons in small simple matches (untrained control "
                      f"{_pct(ctrl[label]) if np.isfinite(ctrl[label]) else 'n/a'})" for label in sm),
            worst_fraction=fr[worst_label]))
    return _claim(
        "003", "Wang et al. 2018, simple matches as reproduced by the course report of seed 003",
        "similar layers are similar as a whole, not neuron by neuron: there are very few simple matches of small "
        "size, even in layers close to the input or the output",
        f"in every tested layer and ε, fewer than {100 * SMALL_MATCH_FRACTION:.0f}% of the layer pair's neurons "
        f"belong to a small simple match (≤ {SMALL_MATCH} neurons)",
        "CNN A against an untrained CNN (reported next to each number: the claim is an absence, which the control "
        "cannot make easier to meet)",
        per_pair,
        [summarize("largest fraction of neurons in small simple matches", worst_all)],
    )


def evaluate(results: dict) -> dict:
    """Claim key → seed, claim, criterion, control, per-seed-pair numbers, aggregate and verdict.

    Keys: "001" (affine maps), "001_naive_swap", "000", "002", "003_004_max_match", "003_simple_matches".
    """
    pairs = results["pairs"]
    n_classes = int(results["data"]["n_classes"])
    return {
        "001": seed001_affine(pairs, n_classes),
        "001_naive_swap": seed001_naive(pairs, n_classes),
        "000": seed000(pairs),
        "002": seed002(pairs, results.get("rv2_noise")),
        "003_004_max_match": max_match_claim(pairs),
        "003_simple_matches": simple_match_claim(pairs),
    }
