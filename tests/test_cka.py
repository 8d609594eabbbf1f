"""Linear CKA and debiased linear CKA against the sample-space oracles of naive.py (docs/math.md §2 i–ii).

Observed worst relative errors against the oracles (data sets below at n = 400, both engines, one-shot and
streamed in batches of 7): linear CKA 1.0e-15, debiased CKA 5.4e-16. Including the three-site data of
test_streaming.py streamed in batches of 1, 7 and 256: linear CKA 7.7e-15, debiased CKA 7.4e-15. Small n
(4–9, 200 seeds): debiased 1.6e-13 at worst (values near 0), 1.2e-14 for the seed used here. Tolerance 1e-10.
The two debiased oracles (Song's formula and Kornblith's U-centring) agree to ≤ 1.1e-15.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest

import naive
import repsim
from _helpers import moments_of

RTOL = 1e-10
N = 400


@functools.lru_cache(maxsize=None)
def dataset(name: str):
    rng = np.random.default_rng({"large_mean": 1, "correlated": 2, "ill_conditioned": 3, "wide": 4}[name])
    if name == "large_mean":  # post-ReLU, |mean|/spread up to 1e3
        return naive.large_mean_pair(rng, N, 24, 16, kappa_max=1e3)
    if name == "correlated":  # shared latent, offset 5
        return naive.correlated_pair(rng, N, 30, 20, mean=5.0)
    if name == "ill_conditioned":  # column scales 1e-2..1e2, near-collinear pairs, means up to 300 spreads
        return naive.ill_conditioned_pair(rng, N, 24, 16)
    if name == "wide":  # p, q > n / 2, post-ReLU with large means
        return naive.large_mean_pair(rng, 200, 150, 120, kappa_max=1e2)
    raise KeyError(name)


DATASETS = ["large_mean", "correlated", "ill_conditioned", "wide"]


# ------------------------------------------------------------------------------------------ the oracles themselves


@pytest.mark.parametrize("name", DATASETS)
def test_debiased_oracles_agree(name):
    """Song's HSIC₁ formula and Kornblith's U-centring are independent derivations of the same estimator."""
    X, Y = dataset(name)
    a = naive.debiased_cka(X, Y, "song")
    b = naive.debiased_cka(X, Y, "ucentre")
    np.testing.assert_allclose(a, b, rtol=1e-13, atol=0)
    # also the individual HSIC₁ values, not only their ratio
    K, L = naive.gram(naive.center_columns(X)), naive.gram(naive.center_columns(Y))
    np.testing.assert_allclose(naive.hsic1_song(K, L), naive.hsic1_ucentre(K, L), rtol=1e-12, atol=0)


def test_oracle_centring_shortcuts_are_exact(rng):
    """On data with small means, the literal HKH and the raw-Gram Song formula (no centring at all) agree with
    the centred-data forms the other oracles use (HSIC₁ is translation invariant)."""
    X, Y = naive.correlated_pair(rng, 120, 9, 7, mean=0.3)
    np.testing.assert_allclose(naive.linear_cka_gram_literal(X, Y), naive.linear_cka(X, Y), rtol=1e-13, atol=0)
    np.testing.assert_allclose(
        naive.debiased_cka(X, Y, "song", center_first=False), naive.debiased_cka(X, Y, "song"), rtol=1e-12, atol=0
    )
    np.testing.assert_allclose(
        naive.debiased_cka(X, Y, "ucentre", center_first=False), naive.debiased_cka(X, Y, "ucentre"),
        rtol=1e-12, atol=0,
    )
    H = naive.centering_matrix(5)
    np.testing.assert_allclose(H @ np.ones(5), 0.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(H @ H, H, rtol=0, atol=1e-15)


# ------------------------------------------------------------------------------------------ repsim vs oracle


@pytest.mark.parametrize("name", DATASETS)
def test_linear_cka_matches_oracle(name, engine):
    X, Y = dataset(name)
    ref = naive.linear_cka(X, Y)
    m = moments_of({"x": X, "y": Y}, engine=engine)
    np.testing.assert_allclose(m.cka("x", "y"), ref, rtol=RTOL, atol=0)
    np.testing.assert_allclose(repsim.cka(X, Y), ref, rtol=RTOL, atol=0)
    np.testing.assert_allclose(repsim.cka(X, Y, debiased=False), ref, rtol=RTOL, atol=0)


@pytest.mark.parametrize("name", DATASETS)
def test_debiased_cka_matches_oracle(name, engine):
    X, Y = dataset(name)
    ref = naive.debiased_cka(X, Y, "song")
    m = moments_of({"x": X, "y": Y}, engine=engine)
    np.testing.assert_allclose(m.cka("x", "y", debiased=True), ref, rtol=RTOL, atol=0)
    np.testing.assert_allclose(repsim.cka(X, Y, debiased=True), ref, rtol=RTOL, atol=0)
    np.testing.assert_allclose(repsim.cka(X, Y, debiased=True), naive.debiased_cka(X, Y, "ucentre"), rtol=RTOL,
                               atol=0)


@pytest.mark.parametrize("n", [4, 5, 6, 9])
def test_debiased_cka_small_n_matches_oracle(n, rng):
    """The smallest legal n (4) and its neighbours, where the (n−2), (n−3) factors matter most."""
    X, Y = naive.correlated_pair(rng, n, 3, 5, noise=1.0, mean=2.0)
    np.testing.assert_allclose(repsim.cka(X, Y, debiased=True), naive.debiased_cka(X, Y), rtol=1e-10, atol=0)
    np.testing.assert_allclose(repsim.cka(X, Y), naive.linear_cka(X, Y), rtol=1e-10, atol=0)


def test_debiased_cka_on_noise_matches_oracle(rng):
    """Near 0 a relative tolerance is meaningless: compare absolutely (values are O(0.1))."""
    X, Y = naive.independent_noise(rng, 150, 40, 30)
    ref = naive.debiased_cka(X, Y)
    assert abs(ref) < 0.2
    np.testing.assert_allclose(repsim.cka(X, Y, debiased=True), ref, rtol=0, atol=1e-13)


def test_golden_values_kornblith():
    """docs/peers.md §1: np.random.seed(1337); X = randn(100, 10); Y = randn(100, 10) + X."""
    X, Y = naive.kornblith_golden()
    assert round(repsim.cka(X, Y), 5) == 0.55761
    assert round(repsim.cka(X, Y, debiased=True), 5) == 0.51346
    # and the oracles reproduce the same published numbers
    assert round(naive.linear_cka(X, Y), 5) == 0.55761
    assert round(naive.debiased_cka(X, Y, "song"), 5) == 0.51346
    assert round(naive.debiased_cka(X, Y, "ucentre"), 5) == 0.51346


# ------------------------------------------------------------------------------------------ known answers


def _orthogonal(rng, p):
    Q, R = np.linalg.qr(rng.normal(size=(p, p)))
    return Q * np.sign(np.diag(R))


@pytest.mark.parametrize("debiased", [False, True])
def test_orthogonal_transform_gives_one(debiased, rng):
    X, _ = dataset("large_mean")
    Q = _orthogonal(rng, X.shape[1])
    np.testing.assert_allclose(repsim.cka(X, X @ Q, debiased=debiased), 1.0, rtol=1e-12, atol=0)
    np.testing.assert_allclose(repsim.cka(X, X, debiased=debiased), 1.0, rtol=1e-12, atol=0)


@pytest.mark.parametrize("c", [1e-3, -2.5, 7.0, 1e3])
@pytest.mark.parametrize("debiased", [False, True])
def test_isotropic_scaling_gives_one(c, debiased):
    X, _ = dataset("ill_conditioned")
    np.testing.assert_allclose(repsim.cka(X, c * X, debiased=debiased), 1.0, rtol=1e-12, atol=0)


@pytest.mark.parametrize("debiased", [False, True])
def test_orthogonal_and_scaling_invariance_of_pairs(debiased, rng):
    X, Y = dataset("correlated")
    ref = repsim.cka(X, Y, debiased=debiased)
    Q = _orthogonal(rng, Y.shape[1])
    np.testing.assert_allclose(repsim.cka(3.0 * X, (Y @ Q) * 0.01, debiased=debiased), ref, rtol=1e-12, atol=0)


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("name", ["correlated", "large_mean"])
def test_translation_invariance(debiased, name, rng):
    X, Y = dataset(name)
    ref = repsim.cka(X, Y, debiased=debiased)
    tx = rng.uniform(-1e3, 1e3, X.shape[1]) * X.std(axis=0)
    ty = rng.uniform(-1e3, 1e3, Y.shape[1]) * Y.std(axis=0)
    np.testing.assert_allclose(repsim.cka(X + tx, Y - ty, debiased=debiased), ref, rtol=1e-10, atol=0)


def test_symmetry():
    for name in DATASETS:
        X, Y = dataset(name)
        for debiased in (False, True):
            np.testing.assert_allclose(repsim.cka(X, Y, debiased=debiased), repsim.cka(Y, X, debiased=debiased),
                                       rtol=1e-14, atol=0)
            m = moments_of({"x": X, "y": Y})
            assert m.cka("x", "y", debiased=debiased) == m.cka("y", "x", debiased=debiased)


def test_bounds(rng):
    values = []
    for name in DATASETS:
        values.append(repsim.cka(*dataset(name)))
    for seed in range(5):
        X, Y = naive.independent_noise(np.random.default_rng(seed), 30, 5, 50)
        values.append(repsim.cka(X, Y))
        d = repsim.cka(X, Y, debiased=True)
        assert -1.0 <= d <= 1.0
    values = np.array(values)
    assert np.all(values >= 0.0) and np.all(values <= 1.0)


def test_debiased_cka_can_be_negative(rng):
    """Unlike biased CKA, HSIC₁ is unbiased, so independent data give values on both sides of 0."""
    vals = [repsim.cka(*naive.independent_noise(np.random.default_rng(s), 40, 5, 5), debiased=True)
            for s in range(20)]
    assert min(vals) < 0.0 < max(vals)


def test_wide_independent_noise_debiased_near_zero_biased_not():
    """n = 200, p = q = 2000 independent Gaussian noise.

    Measured over seeds 0–9: |debiased CKA| ≤ 0.0134 (sd ≈ 0.008), biased CKA 0.907–0.911 (the bias of HSIC at
    p ≫ n that MONAI PR #9129 reports). Bounds: |dCKA| < 0.05 (≈ 6 sd), biased > 0.8.
    """
    for seed in range(3):
        X, Y = naive.independent_noise(np.random.default_rng(seed), 200, 2000, 2000)
        m = repsim.Moments().update({"x": X, "y": Y})
        d = m.cka("x", "y", debiased=True)
        b = m.cka("x", "y")
        assert abs(d) < 0.05, d
        assert b > 0.8, b


def test_cka_equals_centred_rv():
    X, Y = dataset("large_mean")
    np.testing.assert_allclose(repsim.cka(X, Y), repsim.rv(X, Y, center=True), rtol=1e-14, atol=0)


def test_accepts_lists_of_floats():
    X, Y = naive.kornblith_golden()
    np.testing.assert_allclose(repsim.cka(X.tolist(), Y.tolist()), repsim.cka(X, Y), rtol=0, atol=0)
