"""Inference: exact-moment p-values against 10⁴-permutation Monte Carlo, calibration on independent wide pairs,
interval coverage against a known population value, and the costs (p-values of a whole matrix against the plain
matrix; Monte Carlo on permuted Grams against recomputing CKA on permuted rows, as calibrated-similarity does).

    python bench/report_inference.py             # the issue's sizes (about 15 minutes on 2 cores)
    python bench/report_inference.py --quick     # seconds (the smoke test runs this)
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

import repsim
from repsim.inference import ShardedMoments, matrix_test, permutation_test

FORMS = [("cka", {}), ("debiased_cka", {}), ("rv2", {}), ("rv", {"center": False}), ("rv2", {"center": False})]


def pair(rng, n, p, q, signal):
    X = rng.normal(size=(n, p))
    k = min(p, q, 5)
    Y = signal * X[:, :k] @ rng.normal(size=(k, q)) / np.sqrt(k) + rng.normal(size=(n, q))
    return X, Y


def agreement(cases, perms, seed=0, big=1000):
    """|p_exact − p_MC| over the cases with 0.001 ≤ p_MC ≤ 0.5, for every form (from n ≥ ``big`` on, linear and
    debiased CKA only: each Monte-Carlo permutation of an n × n Gram costs O(n²))."""
    rng = np.random.default_rng(seed)
    rows = []
    for n, p, signal in cases:
        X, Y = pair(rng, n, p, p, signal)
        for metric, options in (FORMS if n < big else FORMS[:2]):
            t = time.perf_counter()
            exact = permutation_test(X, Y, metric, **options)
            t_exact = time.perf_counter() - t
            t = time.perf_counter()
            mc = permutation_test(X, Y, metric, method="monte_carlo", n_permutations=perms, seed=seed, **options)
            t_mc = time.perf_counter() - t
            rows.append(dict(n=n, p=p, signal=signal, metric=metric, center=options.get("center", True),
                             p_exact=exact.p_value, p_mc=mc.p_value, mc_se=mc.mc_se, t_exact=t_exact, t_mc=t_mc))
    inside = [r for r in rows if 0.001 <= r["p_mc"] <= 0.5]
    worst = max((abs(r["p_exact"] - r["p_mc"]) for r in inside), default=float("nan"))
    return rows, inside, worst


def calibration(pairs, n=50, p=500, seed=1):
    """Fraction of independent pairs with p < 0.05, per form (raw CKA of such pairs is ≈ 0.7)."""
    rng = np.random.default_rng(seed)
    hits = np.zeros(len(FORMS))
    raw = []
    for _ in range(pairs):
        X, Y = rng.normal(size=(n, p)), rng.normal(size=(n, p))
        for k, (metric, options) in enumerate(FORMS):
            r = permutation_test(X, Y, metric, **options)
            hits[k] += r.p_value < 0.05
            if k == 0:
                raw.append(r.statistic)
    return hits / pairs, float(np.mean(raw))


def coverage(draws, shards=20, batches=40, rows=100, seed=2):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(8, 6)) * 0.4
    population = float(np.sum(A**2) / np.sqrt(8 * np.sum((A.T @ A + np.eye(6)) ** 2)))
    covered = {"jackknife": 0, "bootstrap": 0}
    for _ in range(draws):
        sm = ShardedMoments(shards)
        for _ in range(batches):
            x = rng.normal(size=(rows, 8))
            sm.update({"x": x, "y": x @ A + rng.normal(size=(rows, 6))})
        for method in covered:
            iv = sm.interval("cka", "x", "y", method=method, n_boot=300, debiased=True)
            covered[method] += iv.low <= population <= iv.high
    return {k: v / draws for k, v in covered.items()}, population


def matrix_cost(L, width, n, seed=3):
    """Seconds for the plain L × L CKA matrix and for the same matrix with p-values (one Moments; median of 3)."""
    rng = np.random.default_rng(seed)
    m = repsim.Moments()
    for k in range(0, n, 4096):
        rows = min(4096, n - k)
        base = rng.normal(size=(rows, width))
        m.update({f"s{j}": base + rng.normal(size=(rows, width)) * (j + 1) for j in range(L)})
    plain, tested = [], []
    for _ in range(3):
        m.update({f"s{j}": rng.normal(size=(1, width)) for j in range(L)})  # fresh views: nothing cached
        t = time.perf_counter()
        m.matrix("cka")
        plain.append(time.perf_counter() - t)
        m.update({f"s{j}": rng.normal(size=(1, width)) for j in range(L)})
        t = time.perf_counter()
        matrix_test(m, "cka")
        tested.append(time.perf_counter() - t)
    return float(np.median(plain)), float(np.median(tested))


def mc_speed(n, p, perms, seed=4):
    """Seconds per permutation: repsim's Monte Carlo (permuted Grams, no recomputation) against two ways of
    permuting rows and recomputing, both in float64 on the same threads:

    - ``calibrated``: calibrated-similarity's own ``calibrate()`` loop with the linear CKA of its documentation
      (``X @ X.T * (Y @ Y.T)``: two n × n Grams per permutation), on torch CPU tensors — the issue's baseline;
    - ``features``: the fastest NumPy recompute we know (``‖XᵀY_π‖²_F`` on centred features, norms once).
    """
    rng = np.random.default_rng(seed)
    X, Y = pair(rng, n, p, p, 0.2)
    permutation_test(X[:64], Y[:64], "cka", method="monte_carlo", n_permutations=8, seed=0)  # compile once
    t = time.perf_counter()
    permutation_test(X, Y, "cka", method="monte_carlo", n_permutations=perms, seed=0)
    ours = (time.perf_counter() - t) / perms

    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    norms = np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc)
    idx = [rng.permutation(n) for _ in range(perms)]
    t = time.perf_counter()
    for pi in idx:
        Yp = Y[pi]
        Yp = Yp - Yp.mean(0)
        np.linalg.norm(Xc.T @ Yp) ** 2 / norms
    features = (time.perf_counter() - t) / perms

    calibrated = None
    try:
        import torch
        from calibrated_similarity import calibrate
    except ImportError:  # the test extra installs it; the figure is left out without it
        pass
    else:
        def cka(A, B):  # calibrated-similarity's documented example
            A, B = A - A.mean(0), B - B.mean(0)
            return (A @ A.T * (B @ B.T)).sum() / (A @ A.T).norm() / (B @ B.T).norm()

        k = max(1, perms // 4)
        t = time.perf_counter()
        calibrate(torch.from_numpy(X), torch.from_numpy(Y), cka, K=k, generator=torch.Generator().manual_seed(0))
        calibrated = (time.perf_counter() - t) / (k + 1)  # the observed score and k permutations
    return ours, calibrated, features


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args(argv)
    if a.quick:
        cases, perms, pairs, draws, cost, speed = [(20, 5, 0.0), (40, 50, 0.3)], 500, 20, 10, (3, 64, 2000), (200,
                                                                                                             100, 20)
    else:
        cases = [(n, p, s) for n, p in ((20, 5), (20, 200), (50, 500), (100, 20), (200, 50), (200, 2000),
                                         (500, 100), (1000, 30), (2000, 20), (2000, 40))
                 for s in (0.0, 0.15)]  # 20 data cases; 5 forms each below n = 1,000, 2 from there on
        perms, pairs, draws, cost, speed = 10_000, 2000, 2000, (13, 768, 20_000), (2000, 500, 200)
    out = {}
    t0 = time.perf_counter()
    rows, inside, worst = agreement(cases, perms)
    out["agreement"] = dict(cases=len(cases), tests=len(rows), compared=len(inside), worst_abs_diff=worst,
                            permutations=perms, rows=rows)
    print(f"exact moments vs {perms} permutations: {len(cases)} data cases, {len(rows)} tests, {len(inside)} "
          f"with 0.001 ≤ p_MC ≤ 0.5: worst |Δp| = {worst:.4f} ({time.perf_counter() - t0:.0f} s)")
    t0 = time.perf_counter()
    rates, raw = calibration(pairs)
    out["calibration"] = dict(pairs=pairs, rates={f"{m}{'' if o.get('center', True) else '(raw)'}": float(r)
                                                   for (m, o), r in zip(FORMS, rates)}, mean_raw_cka=raw)
    print(f"calibration over {pairs} independent pairs (n = 50, p = q = 500; mean raw CKA {raw:.3f}): fraction "
          f"p < 0.05 = {out['calibration']['rates']} ({time.perf_counter() - t0:.0f} s)")
    t0 = time.perf_counter()
    cov, pop = coverage(draws)
    out["coverage"] = dict(draws=draws, population=pop, **cov)
    print(f"95 % interval coverage over {draws} draws (debiased CKA, population {pop:.4f}): {cov} "
          f"({time.perf_counter() - t0:.0f} s)")
    plain, tested = matrix_cost(*cost)
    out["matrix_cost"] = dict(L=cost[0], width=cost[1], n=cost[2], plain_s=plain, with_p_values_s=tested,
                              ratio=tested / plain)
    print(f"{cost[0]} × {cost[0]} CKA matrix (width {cost[1]}, n = {cost[2]}): plain {plain:.3f} s, with p-values "
          f"{tested:.3f} s → {tested / plain:.2f}×")
    ours, calibrated, features = mc_speed(*speed)
    out["mc_speed"] = dict(n=speed[0], p=speed[1], permutations=speed[2], repsim_s=ours, calibrated_s=calibrated,
                           features_s=features, speedup=(calibrated or features) / ours,
                           speedup_vs_features=features / ours)
    vs = (f"calibrated-similarity's loop {calibrated * 1e3:.1f} ms ({calibrated / ours:.1f}×), "
          if calibrated else "calibrated-similarity not installed, ")
    print(f"Monte Carlo at n = {speed[0]}, p = {speed[1]}: {ours * 1e3:.2f} ms per permutation (permuted Grams) vs "
          f"{vs}fastest NumPy recompute from features {features * 1e3:.1f} ms ({features / ours:.1f}×)")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=1)
    return out


if __name__ == "__main__":
    main()
