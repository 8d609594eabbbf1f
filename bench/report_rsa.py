"""RSA from Gram space against rsatoolbox: agreement of every RDM × comparison (max |Δ| over seeds, data with and
without large means), and the time of a 13 × 13 layer matrix of RSA at n = 2,000 against rsatoolbox (its RDMs
computed once per layer, then its ``compare`` over all pairs in one call).

    python bench/report_rsa.py             # the issue's sizes (about a minute on 2 cores)
    python bench/report_rsa.py --quick     # seconds (the smoke test runs this)
"""
from __future__ import annotations

import argparse
import json
import time
from importlib.metadata import version

import numpy as np
import rsatoolbox

import repsim
from repsim.metrics.rsa import COMPARISONS

TOOLBOX_RDMS = ("euclidean", "correlation")  # rsatoolbox has no cosine RDM
TOOLBOX_COMPARE = {"pearson": "corr", "kendall_tau_a": "tau-a"}


def layers(rng, n, L, width, mean=0.0):
    """L layers of one model-like stack: a shared latent, growing noise, and feature means of size ``mean``."""
    Z = rng.normal(size=(n, 8))
    return {f"l{k:02d}": (Z @ rng.normal(size=(8, width)) + (0.2 + 0.1 * k) * rng.normal(size=(n, width))
                          + mean * rng.normal(size=(1, width))) for k in range(L)}


def toolbox_rdm(X, rdm):
    return rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(X), method=rdm)


def agreement(seeds, n, width):
    """max |repsim − rsatoolbox| per (rdm, compare). rsatoolbox's Euclidean RDM is computed from the raw data as
    ΣX² + ΣX² − 2XXᵀ, which loses digits to large means; it is given column-centred data (distances are translation
    invariant), repsim the raw data."""
    worst = {}
    for seed in range(seeds):
        for mean in (0.0, 1e3):
            rng = np.random.default_rng(seed)
            d = layers(rng, n, 2, width, mean)
            X, Y = d["l00"], d["l01"]
            g = repsim.GramMoments(n).update_features({"x": X, "y": Y})
            for rdm in TOOLBOX_RDMS:
                given = [A - A.mean(0) if rdm == "euclidean" else A for A in (X, Y)]
                r1, r2 = toolbox_rdm(given[0], rdm), toolbox_rdm(given[1], rdm)
                for compare in COMPARISONS:
                    ours = g.matrix("rsa", rows="x", cols="y", rdm=rdm, compare=compare)["x", "y"]
                    theirs = float(rsatoolbox.rdm.compare(r1, r2, method=TOOLBOX_COMPARE.get(compare, compare))[0][0])
                    key = f"{rdm} × {compare}"
                    worst[key] = max(worst.get(key, 0.0), abs(ours - theirs))
    return worst


def matrix_time(n, L, width, compares, seed=0):
    """Seconds for the L × L matrix: repsim (accumulate the Grams once, then each comparison's matrix) and
    rsatoolbox (RDMs once per layer, then compare all pairs), with the max |Δ| between them."""
    rng = np.random.default_rng(seed)
    d = layers(rng, n, L, width)
    t = time.perf_counter()
    g = repsim.GramMoments(n).update_features(d)
    t_acc = time.perf_counter() - t
    t = time.perf_counter()
    rdms = rsatoolbox.rdm.concat([toolbox_rdm(X, "correlation") for X in d.values()])
    t_rdm = time.perf_counter() - t
    rows = []
    for compare in compares:
        t = time.perf_counter()
        M = g.matrix("rsa", rdm="correlation", compare=compare)
        ours = time.perf_counter() - t
        t = time.perf_counter()
        T = rsatoolbox.rdm.compare(rdms, rdms, method=TOOLBOX_COMPARE.get(compare, compare))
        theirs = time.perf_counter() - t
        rows.append(dict(compare=compare, repsim_s=t_acc + ours, repsim_matrix_s=ours, rsatoolbox_s=t_rdm + theirs,
                         max_abs_diff=float(np.max(np.abs(M.values - T)))))
    return dict(n=n, L=L, width=width, accumulate_s=t_acc, rsatoolbox_rdms_s=t_rdm, rows=rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke-test sizes")
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args(argv)
    if a.quick:
        seeds, agree_n, width, (n, L) = 1, 40, 12, (120, 4)
    else:
        seeds, agree_n, width, (n, L) = 3, 300, 64, (2000, 13)
    out = {}
    worst = agreement(seeds, agree_n, width)
    out["agreement"] = dict(seeds=seeds, n=agree_n, width=width, max_abs_diff=worst)
    print(f"agreement with rsatoolbox {version('rsatoolbox')} (n = {agree_n}, width {width}, {seeds} seeds, means 0 "
          "and 1e3): max |Δ|")
    for key, v in worst.items():
        print(f"  {key:32s} {v:.1e}")
    out["matrix"] = matrix_time(n, L, 256 if not a.quick else width, ("pearson", "spearman", "cosine_cov"))
    m = out["matrix"]
    print(f"{L} × {L} RSA matrix, correlation RDM, n = {n}, width {m['width']}: accumulate {m['accumulate_s']:.2f} s "
          f"(repsim), RDMs {m['rsatoolbox_rdms_s']:.2f} s (rsatoolbox)")
    for r in m["rows"]:
        print(f"  {r['compare']:12s} repsim {r['repsim_s']:.2f} s (matrix {r['repsim_matrix_s']:.2f} s)  "
              f"rsatoolbox {r['rsatoolbox_s']:.2f} s  max |Δ| {r['max_abs_diff']:.1e}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=1)
    return out


if __name__ == "__main__":
    main()
