"""RV (Robert & Escoufier) and RV2 (Smilde 2009), centred and uncentred, against naive.py (docs/math.md §2 i, iii).

Observed worst relative errors against the oracles (the data sets of test_cka.py, both engines, one-shot and
streamed in batches of 7; plus the three-site data of test_streaming.py in batches of 1, 7, 256):
RV centred 7.7e-15, RV uncentred 1.6e-15, RV2 centred 7.2e-15, RV2 uncentred 8.9e-16. Tolerance 1e-10.
(Exception, judged absolutely: uncentred RV2 of n = 10, p = 1000 noise, where ‖C‖² − t_ab cancels ~1e3.)
"""
from __future__ import annotations

import numpy as np
import pytest

import naive
import repsim
from _helpers import moments_of
from test_cka import DATASETS, dataset

RTOL = 1e-10


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("name", DATASETS)
def test_rv_matches_oracle(name, center, engine):
    X, Y = dataset(name)
    ref = naive.rv(X, Y, center=center)
    m = moments_of({"x": X, "y": Y}, engine=engine)
    np.testing.assert_allclose(m.rv("x", "y", center=center), ref, rtol=RTOL, atol=0)
    np.testing.assert_allclose(repsim.rv(X, Y, center=center), ref, rtol=RTOL, atol=0)


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("name", DATASETS)
def test_rv2_matches_oracle(name, center, engine):
    X, Y = dataset(name)
    ref = naive.rv2(X, Y, center=center)
    m = moments_of({"x": X, "y": Y}, engine=engine)
    np.testing.assert_allclose(m.rv2("x", "y", center=center), ref, rtol=RTOL, atol=0)
    np.testing.assert_allclose(repsim.rv2(X, Y, center=center), ref, rtol=RTOL, atol=0)


def test_defaults_are_centred():
    X, Y = dataset("large_mean")
    assert repsim.rv(X, Y) == repsim.rv(X, Y, center=True)
    assert repsim.rv2(X, Y) == repsim.rv2(X, Y, center=True)
    m = moments_of({"x": X, "y": Y})
    assert m.rv("x", "y") == m.rv("x", "y", center=True)
    assert m.rv2("x", "y") == m.rv2("x", "y", center=True)


def test_uncentred_differs_from_centred():
    """Sanity: the flag is honoured (large means make raw Grams nearly rank one, so uncentred RV ≈ 1)."""
    X, Y = dataset("large_mean")
    # measured: uncentred 0.99998 vs centred 0.543 (RV) and 0.99998 vs 0.540 (RV2)
    assert repsim.rv(X, Y, center=False) - repsim.rv(X, Y, center=True) > 0.3
    assert repsim.rv2(X, Y, center=False) - repsim.rv2(X, Y, center=True) > 0.3


# ------------------------------------------------------------------------------------------ known answers


def _orthogonal(rng, p):
    Q, R = np.linalg.qr(rng.normal(size=(p, p)))
    return Q * np.sign(np.diag(R))


@pytest.mark.parametrize("fn", [repsim.rv, repsim.rv2], ids=["rv", "rv2"])
@pytest.mark.parametrize("center", [True, False])
def test_orthogonal_transform_and_scaling_give_one(fn, center, rng):
    X, _ = dataset("large_mean")
    Q = _orthogonal(rng, X.shape[1])
    np.testing.assert_allclose(fn(X, X @ Q, center=center), 1.0, rtol=1e-12, atol=0)
    np.testing.assert_allclose(fn(X, X, center=center), 1.0, rtol=1e-12, atol=0)
    for c in (1e-3, -4.0, 1e3):
        np.testing.assert_allclose(fn(X, c * X, center=center), 1.0, rtol=1e-12, atol=0)


@pytest.mark.parametrize("fn", [repsim.rv, repsim.rv2], ids=["rv", "rv2"])
def test_translation_invariance_only_when_centred(fn, rng):
    X, Y = dataset("correlated")
    tx = rng.uniform(-1e3, 1e3, X.shape[1]) * X.std(axis=0)
    np.testing.assert_allclose(fn(X + tx, Y, center=True), fn(X, Y, center=True), rtol=1e-10, atol=0)
    # uncentred forms see the translation (and agree with the oracle on the translated data)
    moved = fn(X + tx, Y, center=False)
    assert abs(moved - fn(X, Y, center=False)) > 1e-3
    oracle = {repsim.rv: naive.rv, repsim.rv2: naive.rv2}[fn]
    np.testing.assert_allclose(moved, oracle(X + tx, Y, center=False), rtol=RTOL, atol=0)


@pytest.mark.parametrize("fn", [repsim.rv, repsim.rv2], ids=["rv", "rv2"])
@pytest.mark.parametrize("center", [True, False])
def test_symmetry(fn, center):
    for name in DATASETS:
        X, Y = dataset(name)
        np.testing.assert_allclose(fn(X, Y, center=center), fn(Y, X, center=center), rtol=1e-14, atol=0)


def test_bounds():
    rv_vals, rv2_vals = [], []
    for name in DATASETS:
        X, Y = dataset(name)
        for c in (True, False):
            rv_vals.append(repsim.rv(X, Y, center=c))
            rv2_vals.append(repsim.rv2(X, Y, center=c))
    for seed in range(10):
        X, Y = naive.independent_noise(np.random.default_rng(seed), 12, 3, 40)
        for c in (True, False):
            rv_vals.append(repsim.rv(X, Y, center=c))
            rv2_vals.append(repsim.rv2(X, Y, center=c))
    assert np.all(np.array(rv_vals) >= 0.0) and np.all(np.array(rv_vals) <= 1.0)
    assert np.all(np.array(rv2_vals) >= -1.0) and np.all(np.array(rv2_vals) <= 1.0)
    assert min(rv2_vals) < 0.0  # RV2 really takes negative values on noise


def test_rv2_known_negative_value():
    """RV2 ranges over [−1, 1]. One feature, n = 3: x = (1, 1, −1), y = (1, −1, 1). The off-diagonal Gram entries
    are K̃: (0,1) = 1, (0,2) = −1, (1,2) = −1 and L̃: −1, 1, −1, so uncentred RV2 = 2·(−1 − 1 + 1)/6 = −1/3."""
    X = np.array([[1.0], [1.0], [-1.0]])
    Y = np.array([[1.0], [-1.0], [1.0]])
    np.testing.assert_allclose(naive.rv2(X, Y, center=False), -1.0 / 3.0, rtol=1e-15, atol=0)
    np.testing.assert_allclose(repsim.rv2(X, Y, center=False), -1.0 / 3.0, rtol=1e-14, atol=0)
    np.testing.assert_allclose(repsim.rv2(X, Y, center=True), naive.rv2(X, Y, center=True), rtol=0, atol=1e-14)
    # uncentred RV of the same pair: tr(KL) = 1 + 1 + 1 + 2·(−1 − 1 + 1) = 1, tr(K²) = tr(L²) = 9
    np.testing.assert_allclose(repsim.rv(X, Y, center=False), 1.0 / 9.0, rtol=1e-14, atol=0)


def test_centred_rv2_bias_on_wide_noise():
    """n = 10, p = q = 1000 independent noise. README / rv2 docstring: centred RV2 ≈ 1/(1 + n²/p) ≈ 0.91–0.92.

    Measured over 200 seeds: centred RV2 mean 0.924 (sd 0.017 per seed, min 0.871, max 0.965); uncentred RV2 mean
    −0.0004 (sd 0.146, max |.| 0.40); debiased CKA mean −0.004 (sd 0.167). With 20 seeds the sd of a mean is
    ≈ 0.004 (centred) and ≈ 0.035 (uncentred, debiased), so the bands are [0.90, 0.95] and |mean| < 0.15 (≥ 4 sd).
    """
    cen, unc, dck = [], [], []
    for seed in range(20):
        X, Y = naive.independent_noise(np.random.default_rng(seed), 10, 1000, 1000)
        m = repsim.Moments().update({"x": X, "y": Y})
        cen.append(m.rv2("x", "y", center=True))
        unc.append(m.rv2("x", "y", center=False))
        dck.append(m.cka("x", "y", debiased=True))
        if seed == 0:  # and each value is the oracle's
            np.testing.assert_allclose(cen[-1], naive.rv2(X, Y, center=True), rtol=RTOL, atol=0)
            # uncentred RV2 in feature space is (‖C‖² − t_ab)/…: at p ≫ n the diagonal term t_ab ≈ n·p² cancels
            # against ‖C‖² by a factor ~1e3, so judge absolutely (measured |error| 1.8e-13 on a value of −0.06).
            np.testing.assert_allclose(unc[-1], naive.rv2(X, Y, center=False), rtol=0, atol=2e-12)
            np.testing.assert_allclose(dck[-1], naive.debiased_cka(X, Y), rtol=0, atol=1e-13)
    assert 0.90 <= np.mean(cen) <= 0.95, np.mean(cen)
    assert min(cen) > 0.8
    assert abs(np.mean(unc)) < 0.15, np.mean(unc)
    assert abs(np.mean(dck)) < 0.15, np.mean(dck)
    predicted = 1.0 / (1.0 + 10**2 / 1000)
    assert abs(np.mean(cen) - predicted) < 0.03
