"""Does each seed's claim hold in this run? Computed from the numbers of ``results`` — nothing is hard-coded.

Each entry states the seed's claim, the criteria used to test it here (with the thresholds, which come from the seed
itself where it gives numbers), the measured values and a verdict: ``"holds"``, ``"partly"`` (some criteria hold)
or ``"does not hold"``.
"""
from __future__ import annotations

import numpy as np

#: Seed 001, Table 5.2: the largest penalty of any affine map between two of its ten CNNs was −11.6 %.
SEED001_WORST_PENALTY = -0.116
#: Seed 000, §4.2: "almost at its maximum for n_c components" — read as within this much accuracy of the baseline.
SEED000_NEAR = 0.05
#: Seeds 003/004 (Wang et al. 2018): thresholds for "low" and "high" maximal matching similarity.
LOW, HIGH = 0.2, 0.5
#: Seed 003 (simple matches): a simple match is "small" when it has at most this many neurons (both sides together).
SMALL_MATCH = 4


def _verdict(checks) -> str:
    ok = [c["holds"] for c in checks]
    return "holds" if all(ok) else ("partly" if any(ok) else "does not hold")


def _check(name, holds, detail) -> dict:
    return {"criterion": name, "holds": bool(holds), "measured": detail}


def _pct(v) -> str:
    return f"{100 * v:.1f}%"


def seed001(st: dict) -> dict:
    models = st["models"]
    own = np.array(st["own_accuracy"])
    delta = np.array([[np.nan if v is None else v for v in row] for row in st["delta"]], dtype=float)
    logit = np.array(st["logit"], dtype=float)
    naive = np.array(st["naive"], dtype=float)
    k = len(models)
    off = ~np.eye(k, dtype=bool)
    chance = 1.0 / st.get("n_classes", 10)
    worst = float(np.nanmin(delta[off]))
    median = float(np.nanmedian(delta[off]))
    i, j = np.unravel_index(np.nanargmin(np.where(off, delta, np.inf)), delta.shape)
    lossless = int(np.sum(logit[off] == np.repeat(own, k).reshape(k, k)[off]))
    # naive swap: closer to chance than to the feature extractor's own accuracy
    naive_ok = naive < (chance + own[:, None]) / 2
    bi, bj = np.unravel_index(np.argmax(np.where(off, naive, -np.inf)), naive.shape)
    checks = [
        _check(
            f"affine maps cost at most {-100 * SEED001_WORST_PENALTY:.1f}% (relative) of the feature extractor's "
            "accuracy (Table 5.2's worst case)",
            worst >= SEED001_WORST_PENALTY,
            f"worst {100 * worst:+.1f}% ({models[i]} features → {models[j]} head), median {100 * median:+.1f}%",
        ),
        _check(
            "logit-compatibility maps are lossless: every cell equals the row model's own accuracy (Table 5.3)",
            lossless == k * (k - 1),
            f"{lossless} of {k * (k - 1)} off-diagonal cells equal the row model's accuracy",
        ),
        _check(
            "the naive swap is closer to chance than to the row model's accuracy (§5.6)",
            bool(naive_ok[off].all()),
            f"best naive swap {_pct(naive[bi, bj])} ({models[bi]} → {models[bj]}; chance {_pct(chance)})",
        ),
    ]
    return {
        "seed": "001",
        "source": "McNeely-White 2020, ch. 5: Tables 5.2, 5.3 and §5.6",
        "claim": "features of differently trained networks are related by affine maps that cost little accuracy; maps "
        "through the logit space are lossless; the unmapped features are not interchangeable",
        "checks": checks,
        "verdict": _verdict(checks),
    }


def seed000(pr: dict) -> dict:
    nv = list(pr["n_values"])
    nc = int(pr["n_classes"])
    base = float(pr["baseline"])
    acc = {m: np.array(v, dtype=float) for m, v in pr["accuracy"].items()}
    k = nv.index(nc)
    hi = float(acc["CCA_highest"][k])
    lo = float(acc["CCA_lowest"][k])
    others = {m: float(v[k]) for m, v in acc.items() if m != "CCA_lowest"}
    pca = float(acc["PCA"][k]) if "PCA" in acc else float("nan")
    checks = [
        _check(
            f"CCA_highest at n = n_c = {nc} is within {100 * SEED000_NEAR:.0f} points of the unprojected accuracy",
            base - hi <= SEED000_NEAR,
            f"{_pct(hi)} vs {_pct(base)} (gap {100 * (base - hi):.1f} points)",
        ),
        _check(
            f"CCA_lowest at n = {nc} is below every other method",
            all(lo < v for v in others.values()),
            f"{_pct(lo)}; next lowest {min(others, key=others.get)} {_pct(min(others.values()))}",
        ),
        _check(
            f"PCA at n = {nc} is within {100 * SEED000_NEAR:.0f} points of the unprojected accuracy (Kamoi et al.)",
            base - pca <= SEED000_NEAR,
            f"{_pct(pca)} (gap {100 * (base - pca):.1f} points)",
        ),
    ]
    return {
        "seed": "000",
        "source": "Moreau et al. 2021, §4.2 and Fig. 4",
        "claim": "the n_c most correlated CCA components carry the classification: projecting onto them keeps almost "
        "all of the accuracy, projecting onto the least correlated ones removes it",
        "checks": checks,
        "verdict": _verdict(checks),
    }


def seed002(ls: dict) -> dict:
    layers = ls["layers"]
    am = np.array(ls["rv2_row_argmax"])
    idx = np.arange(len(am))
    exact = int(np.sum(am == idx))
    near = int(np.sum(np.abs(am - idx) <= 1))
    off = [f"{layers[i]}→{layers[a]}" for i, a in enumerate(am) if a != i]
    checks = [
        _check(
            "RV2 is highest on or next to the diagonal in every row",
            near == len(am),
            f"{near} of {len(am)} rows within one layer of the diagonal",
        ),
        _check(
            "RV2 is highest exactly on the diagonal in most rows",
            exact > len(am) / 2,
            f"{exact} of {len(am)} rows" + (f" (off: {', '.join(off)})" if off else ""),
        ),
    ]
    cka = np.array(ls["cka"]["values"], dtype=float)
    rv2 = np.array(ls["rv2"]["values"], dtype=float)
    return {
        "note": f"linear CKA and RV2 differ by at most {np.nanmax(np.abs(cka - rv2)):.3f} here: with "
        f"{ls['n_samples']} samples the diagonal terms that RV2 leaves out are small, and RV2 matters when the number "
        "of samples is small relative to the number of features (Smilde et al. 2009)",
        "seed": "002",
        "source": "Thompson, Bengio & Schönwiesner 2019",
        "claim": "between two networks of the same architecture, each layer is most similar (RV2) to the "
        "corresponding layer of the other network",
        "checks": checks,
        "verdict": _verdict(checks),
    }


def max_match_claim(mm: dict, eps_low: float = 0.3) -> dict:
    eps = list(mm["eps"])
    layers = mm["layers"]
    k = eps.index(eps_low) if eps_low in eps else len(eps) // 2
    e = eps[k]
    s = {name: v["trained"][k] for name, v in layers.items()}
    conv = [name for name in layers if name.startswith("conv")]
    low = [name for name in conv if s[name] <= LOW]
    last = list(layers)[-1]
    top = {name: max(v["trained"]) for name, v in layers.items()}
    high_eps = [eps[i] for i, v in enumerate(layers[last]["trained"]) if v >= HIGH]
    checks = [
        _check(
            f"most conv layers have low maximal matching similarity (s ≤ {LOW}) at ε = {e}",
            len(low) > len(conv) / 2,
            f"{len(low)} of {len(conv)} conv layers: " + ", ".join(f"{n} {s[n]:.2f}" for n in conv),
        ),
        _check(
            f"the layer closest to the input ({conv[0]}) is high (s ≥ {HIGH}) at ε = {e}",
            s[conv[0]] >= HIGH,
            f"{conv[0]} {s[conv[0]]:.2f}",
        ),
        _check(
            f"the layer closest to the output ({last}) is high (s ≥ {HIGH}) at some ε in the grid ('sometimes')",
            top[last] >= HIGH,
            f"{last}: s({e}) = {s[last]:.2f}; s ≥ {HIGH} at ε ∈ {high_eps or 'none'}",
        ),
    ]
    un = {name: v["untrained"][k] for name, v in layers.items()}
    return {
        "seed": "003 and 004",
        "source": "Wang et al. 2018, as reproduced and summarised by the course reports of seeds 003 and 004",
        "claim": "most convolutional layers of two identically built, differently initialised networks share little "
        "in terms of subspace match; layers near the input (and sometimes near the output) are more similar",
        "checks": checks,
        "verdict": _verdict(checks),
        "note": f"against the untrained CNN at ε = {e}: " + ", ".join(f"{n} {un[n]:.2f}" for n in layers),
    }


def simple_match_claim(sm: dict) -> dict:
    checks = []
    for label, v in sm.items():
        layer = v["layer"]
        dist = {int(size): int(c) for size, c in v["size_distribution"].items()}
        small = sum(c for size, c in dist.items() if size <= SMALL_MATCH)
        neurons = v["neurons"]
        frac = v["small_match_neurons"] / neurons if neurons else 0.0
        checks.append(
            _check(
                f"{layer} (ε = {v['eps']}): few neurons take part in small simple matches "
                f"(≤ {SMALL_MATCH} neurons), i.e. fewer than 10% of the layer pair's neurons",
                frac < 0.10,
                f"{small} small simple matches of {v['count']} covering {_pct(frac)} of {neurons} neurons; maximum "
                f"match {v['maximum_match_size']} neurons",
            )
        )
    return {
        "seed": "003",
        "source": "Wang et al. 2018, simple matches as reproduced by the course report of seed 003",
        "claim": "similar layers are similar as a whole, not neuron by neuron: there are very few simple matches of "
        "small size, even in layers close to the input or the output",
        "checks": checks,
        "verdict": _verdict(checks) if checks else "not run",
    }


def evaluate(results: dict) -> dict:
    """Claim → seed, verdict, criteria and measured values (keys "000", "001", "002", "003_004_max_match" and
    "003_simple_matches": seeds 003 and 004 both report the maximum-match findings; the simple-match findings are
    seed 003's)."""
    st = dict(results["stitching"])
    st.setdefault("n_classes", results["data"]["n_classes"])
    return {
        "001": seed001(st),
        "000": seed000(results["projection"]),
        "002": seed002(results["layer_similarity"]),
        "003_004_max_match": max_match_claim(results["max_match"]),
        "003_simple_matches": simple_match_claim(results["simple_matches"]),
    }
