"""CCA, SVCCA, PWCCA (Morcos and google conventions) and orthogonal Procrustes against the sample-space oracles of
naive.py (docs/math.md §2 iv–vi, viii; §3.5; docs/peers.md §1).

Observed worst errors against the oracles (n = 400; post-ReLU data with |mean|/spread up to 1e3, correlated data
with offset 5, ill-conditioned columns with scales 1e-2..1e2, a near-collinear pair and means up to 300 spreads;
both engines): all canonical correlations 9.1e-15 abs (tolerance 1e-10), mean ρ 1.9e-15, mean ρ² 7.8e-16;
canonical variates from ``transform``: ‖HxᵀHx − I‖, ‖HyᵀHy − I‖, ‖HxᵀHy − diag ρ‖ ≤ 2.8e-14 (1e-9);
rank-deficient and ridge CCA ≤ 2.8e-15; invariance under invertible maps (cond 100), column scalings over 1e6 and
translations 6.2e-13; streaming (batches 1, 7, 256) vs one update 9.7e-14; SVCCA 2.5e-12 (3.4e-10 for keep = 1 on
the ill-conditioned data, see the test); PWCCA (Morcos) 1.6e-14 on the value, 8.6e-14 on the weights; PWCCA
(google) 4.8e-13 relative on the value, 1.5e-11 on the weights, 8.8e-13 on ρ (tolerance 1e-9); Procrustes
4.4e-16 abs (tolerance 1e-12).

google's convention is numerically fragile where its pinv meets a near-singular covariance: on the near-collinear
data with eps = 0 the google oracle and repsim (both faithful to that algorithm) differ by 1e-7, because the
algorithm itself amplifies rounding by cond(Σxx) ≈ 1e13. That case is not compared; eps ≥ 1e-6 removes it
(observed 7.9e-11 at eps = 1e-6 there).
"""
from __future__ import annotations

import functools

import numpy as np
import pytest

import naive
import repsim
from _helpers import moments_of, normwise_rel_err

ATOL = 1e-10
N = 400


@functools.lru_cache(maxsize=None)
def dataset(name: str):
    rng = np.random.default_rng({"large_mean": 1, "correlated": 2, "ill_conditioned": 3}[name])
    if name == "large_mean":  # post-ReLU, |mean|/spread up to 1e3, p > q
        return naive.large_mean_pair(rng, N, 24, 16, kappa_max=1e3)
    if name == "correlated":  # shared latent, offset 5
        return naive.correlated_pair(rng, N, 30, 20, mean=5.0)
    if name == "ill_conditioned":  # scales 1e-2..1e2, a near-collinear pair per side, means up to 300 spreads
        return naive.ill_conditioned_pair(rng, N, 24, 16)
    raise KeyError(name)


DATASETS = ["large_mean", "correlated", "ill_conditioned"]


def _max_abs(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) if np.size(b) else 0.0


# ------------------------------------------------------------------------------------------ the oracles themselves


def test_qr_oracle_agrees_with_svd_basis_and_textbook_cca(rng):
    """The QR (Björck–Golub) branch, the SVD-basis branch and the textbook Σxx^{-1/2}ΣxyΣyy^{-1/2} agree on
    well-conditioned data; the oracle's variates have correlations ρ."""
    X, Y = naive.correlated_pair(rng, 200, 7, 5, mean=0.5)
    o = naive.cca(X, Y)
    Xs, Ys = naive.standardized(X), naive.standardized(Y)
    Ux = np.linalg.svd(Xs, full_matrices=False)[0]
    Uy = np.linalg.svd(Ys, full_matrices=False)[0]
    np.testing.assert_allclose(o["rho"], np.linalg.svd(Ux.T @ Uy, compute_uv=False)[:5], rtol=0, atol=1e-13)
    Xc, Yc = naive.center_columns(X), naive.center_columns(Y)

    def inv_sqrt(S):
        lam, V = np.linalg.eigh(S)
        return (V / np.sqrt(lam)) @ V.T

    T = inv_sqrt(Xc.T @ Xc) @ (Xc.T @ Yc) @ inv_sqrt(Yc.T @ Yc)
    np.testing.assert_allclose(o["rho"], np.linalg.svd(T, compute_uv=False), rtol=0, atol=1e-12)
    np.testing.assert_allclose(o["hx"].T @ o["hy"], np.diag(o["rho"]), rtol=0, atol=1e-13)
    # ridge oracle with eps → 0 is the plain one
    np.testing.assert_allclose(naive.cca(X, Y, eps=1e-14)["rho"], o["rho"], rtol=0, atol=1e-12)


def test_google_oracle_reduces_to_plain_cca(rng):
    """With eps = 0 and full-rank data, google's ρ are the plain canonical correlations."""
    X, Y = naive.correlated_pair(rng, 300, 6, 9, mean=2.0)
    g = naive.google_pwcca(X.T, Y.T, 0.0)
    np.testing.assert_allclose(g["rho"], naive.cca(X, Y)["rho"], rtol=0, atol=1e-12)
    assert g["weights"].shape == (6,) and abs(g["weights"].sum() - 1) < 1e-14


# ------------------------------------------------------------------------------------------ CCA vs oracle


@pytest.mark.parametrize("name", DATASETS)
def test_cca_matches_qr_oracle(name, engine):
    X, Y = dataset(name)
    o = naive.cca(X, Y)
    r = moments_of({"x": X, "y": Y}, engine=engine).cca("x", "y")
    f = repsim.cca(X, Y)
    for res in (r, f):
        assert isinstance(res, repsim.CCAResult)
        assert (res.rank_x, res.rank_y, res.n) == (o["rank_x"], o["rank_y"], N)
        assert res.rho.shape == (o["k"],)
        assert np.all(np.diff(res.rho) <= 0) and res.rho.min() >= 0 and res.rho.max() <= 1
        assert _max_abs(res.rho, o["rho"]) <= ATOL  # observed ≤ 9.1e-15
        assert abs(res.mean_rho - o["mean_rho"]) <= ATOL
        assert abs(res.mean_rho2 - o["mean_rho2"]) <= ATOL
        np.testing.assert_allclose(res.mean_rho, res.rho.mean(), rtol=1e-14)
        np.testing.assert_allclose(res.mean_rho2, np.sum(res.rho**2) / res.rho.size, rtol=1e-12)
        np.testing.assert_allclose(res.x_mean, X.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(res.y_mean, Y.mean(axis=0), rtol=1e-12)
        assert res.x_weights.shape == (X.shape[1], o["k"]) and res.y_weights.shape == (Y.shape[1], o["k"])
        assert res.eps == 0.0 and res.rtol == 1e-10
    if name == "ill_conditioned":  # the near-collinear pair is one direction at rtol = 1e-10
        assert (o["rank_x"], o["rank_y"]) == (23, 15)


@pytest.mark.parametrize("name", DATASETS)
def test_transform_gives_canonical_variates(name):
    """(X − x̄)·x_weights are unit-norm, mutually orthogonal variates whose cross-correlations are diag(ρ); the
    same on new rows; the variates span the same directions as the oracle's (|⟨h, h_oracle⟩| = 1 for distinct ρ)."""
    X, Y = dataset(name)
    r = repsim.cca(X, Y)
    Hx, Hy = r.transform(X, Y)
    k = r.rho.size
    assert Hx.shape == Hy.shape == (N, k)
    np.testing.assert_allclose(Hx.T @ Hx, np.eye(k), rtol=0, atol=1e-9)  # observed ≤ 2.8e-14
    np.testing.assert_allclose(Hy.T @ Hy, np.eye(k), rtol=0, atol=1e-9)
    np.testing.assert_allclose(Hx.T @ Hy, np.diag(r.rho), rtol=0, atol=1e-9)
    np.testing.assert_allclose(Hx.sum(axis=0), 0.0, rtol=0, atol=1e-9)
    np.testing.assert_allclose(r.transform(X), Hx, rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.transform(Y=Y), Hy, rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.transform(X[:50]), Hx[:50], rtol=0, atol=1e-12)
    o = naive.cca(X, Y)
    distinct = np.flatnonzero(np.minimum(np.abs(np.diff(o["rho"], prepend=2)), np.abs(np.diff(o["rho"], append=-1)))
                              > 1e-3)
    np.testing.assert_allclose(np.abs(np.sum(Hx[:, distinct] * o["hx"][:, distinct], axis=0)), 1.0, atol=1e-7)
    with pytest.raises(ValueError, match="X, Y or both"):
        r.transform()


def test_invariance_to_invertible_maps_and_translations(rng):
    X, Y = dataset("correlated")
    ref = repsim.cca(X, Y).rho

    def mixing(p):
        Q1, _ = np.linalg.qr(rng.normal(size=(p, p)))
        Q2, _ = np.linalg.qr(rng.normal(size=(p, p)))
        return Q1 @ np.diag(np.logspace(-1, 1, p)) @ Q2  # cond 100

    X2 = X @ mixing(X.shape[1]) + rng.normal(size=X.shape[1]) * 50
    Y2 = Y @ mixing(Y.shape[1]) - 7.0
    for A, B in ((X2, Y), (X, Y2), (X2, Y2)):
        assert _max_abs(repsim.cca(A, B).rho, ref) <= ATOL  # observed ≤ 6.2e-13
    # column scaling alone over 1e-3..1e3 (CCA standardises first)
    s = np.logspace(-3, 3, X.shape[1])
    assert _max_abs(repsim.cca(X * s, Y).rho, ref) <= ATOL
    # swapping the sides gives the same correlations
    assert _max_abs(repsim.cca(Y, X).rho, ref) <= ATOL


def test_planted_shared_subspace(rng):
    """X and Y are invertible mixtures of [Z, own noise] with a shared 3-dim latent Z: exactly 3 correlations are
    1, the others are chance correlations far below."""
    n, k, p, q = 500, 3, 12, 9
    Z = rng.normal(size=(n, k))
    X = np.hstack([Z, rng.normal(size=(n, p - k))]) @ rng.normal(size=(p, p)) + 100.0
    Y = np.hstack([Z, rng.normal(size=(n, q - k))]) @ rng.normal(size=(q, q)) - 3.0
    r = repsim.cca(X, Y)
    assert r.rho.size == q
    np.testing.assert_allclose(r.rho[:k], 1.0, rtol=0, atol=1e-10)
    assert r.rho[k] < 0.5
    assert _max_abs(r.rho, naive.cca(X, Y)["rho"]) <= ATOL


@pytest.mark.parametrize(
    "n, p, q, dup, forced",
    [
        (40, 30, 25, 0, 16),  # docs/math.md §3.5: 30 + 25 − 39
        (30, 40, 10, 0, 10),  # p > n: rank 29, every correlation forced
        (40, 30, 25, 5, 11),  # 5 duplicated columns: rank 25, 25 + 25 − 39
    ],
)
def test_rank_deficient_forced_ones(n, p, q, dup, forced, rng):
    X, Y = naive.independent_noise(rng, n, p, q)
    X = X + 100.0
    if dup:
        X[:, p - dup:] = X[:, :dup]
    with pytest.warns(RuntimeWarning, match="forced towards 1"):
        r = repsim.cca(X, Y)
    o = naive.cca(X, Y)
    rx = min(p - dup, n - 1)
    assert (r.rank_x, r.rank_y) == (o["rank_x"], o["rank_y"]) == (rx, min(q, n - 1))
    assert forced == r.rank_x + r.rank_y - (n - 1)
    assert np.count_nonzero(r.rho > 1 - 1e-8) == forced
    if forced < r.rho.size:
        assert r.rho[forced] < 1 - 1e-3
    assert _max_abs(r.rho, o["rho"]) <= ATOL  # observed ≤ 2e-15


def test_duplicated_columns_with_enough_samples(rng):
    """Exact duplicates and exact linear combinations only lower the rank: no warning (n is large), ρ as the
    oracle's on the column space."""
    X, Y = naive.correlated_pair(rng, 300, 12, 9)
    X[:, 5] = X[:, 2]
    X[:, 7] = 2 * X[:, 1] - X[:, 0] + 3
    Y[:, 0] = 3 * Y[:, 4]
    r = repsim.cca(X, Y)
    assert (r.rank_x, r.rank_y) == (10, 8)
    assert _max_abs(r.rho, naive.cca(X, Y)["rho"]) <= ATOL


@pytest.mark.parametrize("eps", [0.01, 0.1])
def test_ridge_removes_spurious_ones(eps, rng):
    n, p, q = 40, 30, 25
    X, Y = naive.independent_noise(rng, n, p, q)
    with pytest.warns(RuntimeWarning, match="forced towards 1"):
        r = repsim.cca(X, Y, eps=eps)
    o = naive.cca(X, Y, eps=eps)
    assert r.eps == eps and r.rho.size == min(p, q) == o["k"]
    assert r.rho.max() < 1 - 1e-3  # observed 0.992 (eps 0.01), 0.929 (eps 0.1)
    assert _max_abs(r.rho, o["rho"]) <= ATOL
    assert abs(r.mean_rho - o["mean_rho"]) <= ATOL and abs(r.mean_rho2 - o["mean_rho2"]) <= ATOL
    # the ridge shrinks every correlation of the plain CCA
    with pytest.warns(RuntimeWarning):
        plain = repsim.cca(X, Y)
    assert np.all(r.rho <= plain.rho + 1e-12)


def test_constant_neurons_are_dropped_with_a_warning(rng):
    X, Y = naive.correlated_pair(rng, 300, 8, 12, mean=5.0)
    X[:, 3] = 7.25
    Y[:, 0] = -1e3
    with pytest.warns(RuntimeWarning, match=r"constant neurons \(1 in 'X', 1 in 'Y'\)"):
        r = repsim.cca(X, Y)
    o = naive.cca(X, Y)
    assert (r.rank_x, r.rank_y) == (7, 11)
    assert _max_abs(r.rho, o["rho"]) <= ATOL
    np.testing.assert_array_equal(r.x_weights[3], 0.0)
    np.testing.assert_array_equal(r.y_weights[0], 0.0)


def test_constant_side_gives_nan(rng):
    X = np.full((50, 4), 2.0)
    Y = rng.normal(size=(50, 3))
    with pytest.warns(RuntimeWarning) as rec:
        r = repsim.cca(X, Y)
    assert any("returning NaN" in str(w.message) for w in rec)
    assert np.isnan(r.mean_rho) and np.isnan(r.mean_rho2) and r.rho.size == 0
    with pytest.warns(RuntimeWarning, match="constant"):
        assert np.isnan(repsim.svcca(Y, X))
    with pytest.warns(RuntimeWarning, match="constant"):
        assert np.isnan(repsim.procrustes(X, Y))
    with pytest.raises(ValueError, match="constant"):
        repsim.pwcca(X[:, :2], Y, convention="google")
    with pytest.raises(ValueError, match="constant"):
        repsim.pwcca(Y[:, :2], X, convention="google")


def test_single_sample_is_degenerate_everywhere(rng):
    """n = 1: every neuron is constant. CCA gives NaN with warnings; google's PWCCA must not return a number
    (its ddof = 1 covariance is 0/0): the documented ValueError for a constant side."""
    X, Y = rng.normal(size=(1, 3)), rng.normal(size=(1, 4))
    with pytest.warns(RuntimeWarning, match="constant"):
        assert np.isnan(repsim.cca(X, Y).mean_rho)
    with pytest.warns(RuntimeWarning, match="constant"):
        assert np.isnan(repsim.pwcca(X, Y))
    with pytest.raises(ValueError, match="constant"):
        repsim.pwcca(X, Y, convention="google")


@pytest.mark.parametrize("batch", [1, 7, 256])
def test_streaming_equals_one_shot(batch):
    X, Y = dataset("large_mean")
    one = moments_of({"x": X, "y": Y})
    st = moments_of({"x": X, "y": Y}, batch=batch)
    a, b = one.cca("x", "y"), st.cca("x", "y")
    assert (a.rank_x, a.rank_y) == (b.rank_x, b.rank_y)
    assert _max_abs(a.rho, b.rho) <= ATOL  # observed ≤ 9.7e-14
    # the variates themselves (weights are defined up to the sign of each canonical pair)
    np.testing.assert_allclose(np.abs(b.transform(X).T @ a.transform(X)).diagonal()[a.rho < 0.9], 1.0, atol=1e-6)
    pairs = [
        (one.svcca("x", "y"), st.svcca("x", "y")),
        (one.svcca("x", "y", k=5), st.svcca("x", "y", k=5)),
        (one.pwcca("x", "y"), st.pwcca("x", "y")),
        (one.pwcca("y", "x", convention="google"), st.pwcca("y", "x", convention="google")),
        (one.pwcca("y", "x", convention="google", eps=1e-3), st.pwcca("y", "x", convention="google", eps=1e-3)),
    ] + [(one.procrustes("x", "y", form=f), st.procrustes("x", "y", form=f)) for f in ("distance", "angular")]
    for u, v in pairs:
        assert abs(u - v) <= ATOL * max(1.0, abs(u)), (u, v)


# ------------------------------------------------------------------------------------------ SVCCA


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("keep, k", [(0.99, None), (0.9, None), (0.5, None), (1.0, None), (0.99, 1), (0.99, 5),
                                     (0.99, 12)])
def test_svcca_matches_oracle(name, keep, k):
    X, Y = dataset(name)
    o = naive.svcca(X, Y, keep=keep, k=k)
    r = repsim.svcca(X, Y, keep=keep, k=k, return_result=True)
    assert (r.rank_x, r.rank_y) == (o["rank_x"], o["rank_y"])
    # SVCCA whitens the covariance itself (no standardisation): keep = 1 on the ill-conditioned data keeps
    # eigenvalues down to 1.6e-10·λ_max, so the statistics route has error ~u·cond ≈ 1e-6 at worst (docs/math.md §3.5);
    # observed 3.4e-10 there, ≤ 2.5e-12 everywhere else
    tol = 1e-8 if (name, keep) == ("ill_conditioned", 1.0) else ATOL
    assert _max_abs(r.rho, o["rho"]) <= tol
    v = repsim.svcca(X, Y, keep=keep, k=k)
    assert isinstance(v, float) and abs(v - o["mean_rho"]) <= tol
    if k is not None:
        assert r.rank_x == min(k, o["rank_x"]) and r.rank_x <= k


def test_svcca_warns_when_kept_directions_approach_n(rng):
    X, Y = naive.independent_noise(rng, 40, 30, 25)
    with pytest.warns(RuntimeWarning, match="biased towards 1"):
        r = repsim.svcca(X, Y, return_result=True)
    o = naive.svcca(X, Y)
    assert (r.rank_x, r.rank_y) == (o["rank_x"], o["rank_y"])
    assert _max_abs(r.rho, o["rho"]) <= ATOL


def test_svcca_keeps_99_percent_of_variance(rng):
    """The truncation rule itself: the fewest directions whose s² reach 99% (checked on a designed spectrum)."""
    n = 300
    U, _ = np.linalg.qr(naive.center_columns(rng.normal(size=(n, 6))))
    s2 = np.array([50.0, 30.0, 15.0, 3.5, 1.0, 0.5])  # cumulative 0.5, 0.8, 0.95, 0.985, 0.995, 1
    X = (U * np.sqrt(s2)) @ np.linalg.qr(rng.normal(size=(6, 6)))[0] + 4.0
    Y = rng.normal(size=(n, 5))
    assert repsim.svcca(X, Y, return_result=True).rank_x == 5
    assert repsim.svcca(X, Y, keep=0.95, return_result=True).rank_x == 3
    assert repsim.svcca(X, Y, keep=0.96, return_result=True).rank_x == 4


# ------------------------------------------------------------------------------------------ PWCCA


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("swap", [False, True])
def test_pwcca_morcos_matches_explicit_variates(name, swap):
    X, Y = dataset(name)
    if swap:
        X, Y = Y, X
    o = naive.pwcca_morcos(X, Y)
    r = repsim.pwcca(X, Y, return_result=True)
    assert isinstance(r, repsim.PWCCAResult) and r.convention == "morcos"
    assert r.side == o["side"] == ("x" if swap else "y")
    assert abs(r.value - o["value"]) <= ATOL  # observed ≤ 1.6e-14
    assert _max_abs(r.weights, o["weights"]) <= ATOL  # observed ≤ 8.6e-14
    assert _max_abs(r.rho, o["rho"]) <= ATOL
    assert abs(repsim.pwcca(X, Y) - r.value) == 0.0
    assert abs(r.weights.sum() - 1) < 1e-14 and np.all(r.weights >= 0)


def test_pwcca_morcos_with_a_constant_neuron(rng):
    X, Y = naive.correlated_pair(rng, 300, 8, 12, mean=5.0)
    X[:, 3] = 7.25
    with pytest.warns(RuntimeWarning, match="constant neurons"):
        r = repsim.pwcca(X, Y, return_result=True)
    o = naive.pwcca_morcos(X, Y)
    assert abs(r.value - o["value"]) <= ATOL and _max_abs(r.weights, o["weights"]) <= ATOL


@pytest.mark.parametrize("name", ["large_mean", "correlated"])
@pytest.mark.parametrize("eps", [0.0, 1e-6, 1e-3, 0.1])
def test_pwcca_google_matches_procedural_oracle(name, eps):
    Y, X = dataset(name)  # google weights acts1: pass the narrower layer first
    o = naive.google_pwcca(X.T, Y.T, eps)
    r = repsim.pwcca(X, Y, convention="google", eps=eps, return_result=True)
    assert r.convention == "google" and r.side == "x"
    assert r.weights.shape == o["weights"].shape == (int(o["kept_x"].sum()),)
    assert abs(r.value - o["value"]) <= 1e-9 * abs(o["value"])  # observed ≤ 4.8e-13 relative
    assert normwise_rel_err(r.weights, o["weights"]) <= 1e-9  # observed ≤ 1.5e-11
    assert _max_abs(r.rho, o["rho"]) <= 1e-9
    assert repsim.pwcca(X, Y, convention="google", eps=eps) == r.value


@pytest.mark.parametrize("eps", [0.0, 1e-8, 1e-3])
def test_pwcca_google_with_a_constant_neuron(eps, rng):
    """eps = 0 keeps the constant neuron (its scaled variance 0 ≥ 0; pinv handles it); eps > 0 drops it."""
    X, Y = naive.correlated_pair(rng, 300, 8, 12, mean=5.0)
    X[:, 3] = 7.25
    o = naive.google_pwcca(X.T, Y.T, eps)
    assert o["kept_x"].sum() == (8 if eps == 0 else 7)
    r = repsim.pwcca(X, Y, convention="google", eps=eps, return_result=True)
    assert r.weights.shape == o["weights"].shape
    assert abs(r.value - o["value"]) <= 1e-9 * abs(o["value"])  # observed ≤ 1.8e-13 relative
    assert normwise_rel_err(r.weights, o["weights"]) <= 1e-9


def test_pwcca_google_equal_widths(rng):
    X, Y = naive.correlated_pair(rng, 250, 10, 10, mean=1.0)
    o = naive.google_pwcca(X.T, Y.T, 0.0)
    assert abs(repsim.pwcca(X, Y, convention="google") - o["value"]) <= 1e-9 * o["value"]


def test_pwcca_google_raises_when_x_keeps_more_neurons(rng):
    X, Y = naive.correlated_pair(rng, 200, 12, 8)
    with pytest.raises(ValueError, match="PR #9"):
        repsim.pwcca(X, Y, convention="google")
    with pytest.raises(ValueError):
        naive.google_pwcca(X.T, Y.T)
    # fewer neurons in X, but eps drops most of Y's (tiny-variance neurons): X keeps more -> raises too
    X, Y = naive.correlated_pair(rng, 200, 8, 12)
    Y[:, 6:] *= 1e-4
    with pytest.raises(ValueError, match="PR #9"):
        repsim.pwcca(X, Y, convention="google", eps=1e-3)
    with pytest.raises(ValueError):
        naive.google_pwcca(X.T, Y.T, 1e-3)
    # and the same data at eps = 0 (nothing dropped) are accepted (cond(Σyy) ≈ 1e8 here: not compared)
    assert 0 < repsim.pwcca(X, Y, convention="google") < 1


# ------------------------------------------------------------------------------------------ Procrustes


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("form", ["distance", "squared", "angular", "similarity"])
def test_procrustes_matches_scipy_oracle(name, form):
    X, Y = dataset(name)
    ref = naive.procrustes(X, Y, form)
    assert abs(repsim.procrustes(X, Y, form=form) - ref) <= 1e-12  # observed ≤ 4.4e-16
    assert abs(repsim.procrustes(Y, X, form=form) - ref) <= 1e-12  # symmetric (the narrower side is padded)


def test_procrustes_forms_are_consistent():
    X, Y = dataset("correlated")
    s = repsim.procrustes(X, Y, form="similarity")
    assert 0 < s < 1
    np.testing.assert_allclose(repsim.procrustes(X, Y), np.sqrt(2 - 2 * s), rtol=1e-14)
    np.testing.assert_allclose(repsim.procrustes(X, Y, form="squared"), 2 - 2 * s, rtol=1e-14)
    np.testing.assert_allclose(repsim.procrustes(X, Y, form="angular"), np.arccos(s), rtol=1e-14)
    assert repsim.procrustes(X, Y) == repsim.procrustes(X, Y, form="distance")


def test_procrustes_invariances(rng):
    X, Y = dataset("large_mean")
    ref = {f: repsim.procrustes(X, Y, form=f) for f in ("distance", "similarity")}
    Q, _ = np.linalg.qr(rng.normal(size=(X.shape[1], X.shape[1])))
    R, _ = np.linalg.qr(rng.normal(size=(Y.shape[1], Y.shape[1])))
    X2 = 3.7 * X @ Q + 11.0
    Y2 = 0.02 * Y @ R - 5.0
    for f, v in ref.items():
        assert abs(repsim.procrustes(X2, Y2, form=f) - v) <= 1e-12
    # identity: similarity 1, distance 0 (to the √(rounding of 2 − 2s) ≈ 1e-8)
    assert abs(repsim.procrustes(X, X2, form="similarity") - 1) <= 1e-12
    assert repsim.procrustes(X, X2, form="squared") <= 1e-12
    assert repsim.procrustes(X, X2) <= 1e-6
    # not invariant to a non-orthogonal map
    assert abs(repsim.procrustes(X * np.logspace(-1, 1, X.shape[1]), Y, form="similarity") - ref["similarity"]) > 1e-3


# ------------------------------------------------------------------------------------------ matrices and sites


def _three_site_moments():
    rng = np.random.default_rng(7)
    Z = rng.normal(size=(300, 4))
    a, b = naive.large_mean_pair(rng, 300, 10, 14, kappa_max=1e2, Z=Z)
    c = Z @ rng.normal(size=(4, 6)) + 0.5 * rng.normal(size=(300, 6)) + 2.0
    data = {"a": a, "b": b, "c": c}
    return data, moments_of(data, batch=64)


@pytest.mark.parametrize(
    "metric, options, pairwise",
    [
        ("cca", {}, lambda m, x, y: m.cca(x, y).mean_rho),
        ("cca", {"eps": 0.05}, lambda m, x, y: m.cca(x, y, eps=0.05).mean_rho),
        ("cca_r2", {}, lambda m, x, y: m.cca(x, y).mean_rho2),
        ("svcca", {}, lambda m, x, y: m.svcca(x, y)),
        ("svcca", {"k": 3}, lambda m, x, y: m.svcca(x, y, k=3)),
        ("pwcca", {}, lambda m, x, y: m.pwcca(x, y)),
        ("procrustes", {}, lambda m, x, y: m.procrustes(x, y)),
        ("procrustes", {"form": "angular"}, lambda m, x, y: m.procrustes(x, y, form="angular")),
    ],
)
def test_matrix_entries_equal_pairwise_calls(metric, options, pairwise):
    _, m = _three_site_moments()
    M = m.matrix(metric, **options)
    assert M.values.shape == (3, 3)
    for i, x in enumerate(m.sites):
        for j, y in enumerate(m.sites):
            np.testing.assert_allclose(M.values[i, j], pairwise(m, x, y), rtol=1e-14, atol=0, err_msg=f"{x},{y}")
    sub = m.matrix(metric, rows=["c"], cols=["a", "b"], **options)
    np.testing.assert_allclose(sub.values, M.values[2:, :2], rtol=1e-14, atol=0)


def test_google_pwcca_matrix_reuses_per_site_work_and_equals_fresh_calls():
    """The per-site google factorisations are cached on the view; every entry still equals a fresh one-shot call."""
    data, m = _three_site_moments()
    M = m.matrix("pwcca", rows=["c", "a"], cols=["b", "a"], convention="google")
    cached = {k for k in m.full_view(True).memo_keys() if k[0] == "google"}
    assert cached == {("google", s, 0.0) for s in ("a", "b", "c")}
    for i, x in enumerate(["c", "a"]):
        for j, y in enumerate(["b", "a"]):
            want = repsim.pwcca(data[x], data[y], convention="google")
            assert abs(M.values[i, j] - want) <= 1e-9, (x, y)


def test_site_methods_equal_array_functions():
    data, m = _three_site_moments()
    a, b = data["a"], data["b"]
    assert _max_abs(m.cca("a", "b").rho, repsim.cca(a, b).rho) <= ATOL
    assert abs(m.svcca("a", "b") - repsim.svcca(a, b)) <= ATOL
    assert abs(m.pwcca("a", "b") - repsim.pwcca(a, b)) <= ATOL
    assert abs(m.pwcca("a", "b", convention="google") - repsim.pwcca(a, b, convention="google")) <= 1e-9
    assert abs(m.procrustes("a", "b") - repsim.procrustes(a, b)) <= ATOL
    assert abs(m.cca("c", "a").mean_rho - naive.cca(data["c"], a)["mean_rho"]) <= ATOL
    # the diagonal: a site with itself
    np.testing.assert_allclose(m.cca("a", "a").rho, 1.0, rtol=0, atol=1e-10)
    assert abs(m.procrustes("b", "b", form="similarity") - 1) <= 1e-12


# ------------------------------------------------------------------------------------------ bad options


def test_bad_options_raise(rng):
    X, Y = naive.correlated_pair(rng, 100, 5, 4)
    m = moments_of({"x": X, "y": Y})
    with pytest.raises(ValueError, match="eps"):
        repsim.cca(X, Y, eps=-0.1)
    with pytest.raises(ValueError, match="eps"):
        repsim.cca(X, Y, eps=float("nan"))
    with pytest.raises(TypeError, match="eps"):
        repsim.cca(X, Y, eps="0.1")
    with pytest.raises(TypeError, match="eps"):
        repsim.cca(X, Y, eps=True)
    with pytest.raises(ValueError, match="rtol"):
        repsim.cca(X, Y, rtol=2.0)
    with pytest.raises(ValueError, match="rtol"):
        repsim.cca(X, Y, rtol=-1e-3)
    for keep in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="keep"):
            repsim.svcca(X, Y, keep=keep)
    for k in (0, -1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="k must be"):
            repsim.svcca(X, Y, k=k)
    with pytest.raises(ValueError, match="convention"):
        repsim.pwcca(X, Y, convention="anatome")
    with pytest.raises(ValueError, match="eps"):
        repsim.pwcca(Y, X, convention="google", eps=-1.0)
    with pytest.raises(ValueError, match="form"):
        repsim.procrustes(X, Y, form="euclidean")
    with pytest.raises(ValueError, match="unknown metric"):
        m.matrix("cca2")
    with pytest.raises(TypeError, match="unexpected option"):
        m.matrix("cca", keep=0.9)
    with pytest.raises(TypeError, match="unexpected option"):
        m.matrix("procrustes", eps=0.1)
    with pytest.raises(ValueError, match="form"):
        m.matrix("procrustes", form="nope")
    with pytest.raises(ValueError, match="unknown site"):
        m.cca("x", "z")
    with pytest.raises(TypeError, match="site name"):
        m.svcca(0, "y")
    with pytest.raises(ValueError, match=r"\(100, 5\)|\(99, 4\)|rows|samples"):
        repsim.cca(X, Y[:99])
