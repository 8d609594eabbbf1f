"""RSA and kernels in Gram space (docs/math.md §8): every RDM and comparison against the naive float64 oracles of
tests/naive_gram.py (SciPy's pdist and statistics, written from the definitions) and against rsatoolbox itself;
the claimed invariances; ties; streaming, merging and files; whole layer × layer matrices; the Laplace kernel."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import naive
import naive_gram
import repsim
from repsim.gram import GramMoments
from repsim.metrics import rsa as rsa_module
from repsim.views import Memo

RDMS = rsa_module.RDMS
COMPARISONS = rsa_module.COMPARISONS
TOL = 1e-12


def _gram(**sites) -> GramMoments:
    n = next(iter(sites.values())).shape[0]
    return GramMoments(n, tile=7).update_features(sites)  # small tiles: many off-diagonal tiles at n ≈ 40


def _pair(rng, n=40, p=9, q=6, mean=0.0):
    return naive.correlated_pair(rng, n, p, q, mean=mean)


# ---------------------------------------------------------------------------------------------------- RDMs
@pytest.mark.parametrize("rdm", RDMS)
@pytest.mark.parametrize("mean", [0.0, 1e3])
def test_rdm_equals_pdist(rdm, mean, rng):
    X, _ = _pair(rng, mean=mean)
    X = X + rng.normal(size=(1, X.shape[1])) * mean  # feature means that differ, too
    got = _gram(x=X).condensed_rdm("x", rdm)
    np.testing.assert_allclose(got, naive_gram.rdm(X, rdm), rtol=TOL, atol=TOL * np.abs(got).max())
    if mean == 0.0:  # pdist's 1 − uᵀv/(‖u‖‖v‖) is accurate when the samples share no large mean pattern
        np.testing.assert_allclose(got, naive_gram.pdist_rdm(X, rdm), rtol=TOL, atol=TOL * np.abs(got).max())


@pytest.mark.parametrize("rdm", RDMS)
def test_rdm_streamed_merged_and_saved_equal_one_shot(rdm, rng, tmp_path):
    X, _ = _pair(rng, p=23, mean=50.0)
    for j0, j1 in ((5, 6), (6, 17), (17, 23)):
        X[:, j0:j1] += 10.0 * j0  # blocks with other means
    g = GramMoments(X.shape[0], tile=6)
    for j0, j1 in ((0, 5), (5, 6), (6, 17), (17, 23)):
        g.update_features({"x": X[:, j0:j1]})
    want = naive_gram.rdm(X, rdm)
    np.testing.assert_allclose(g.condensed_rdm("x", rdm), want, rtol=1e-11, atol=1e-13)
    a = GramMoments(X.shape[0], tile=6).update_features({"x": X[:, :11]})
    b = GramMoments(X.shape[0], tile=6).update_features({"x": X[:, 11:]})
    a.merge(b)
    np.testing.assert_allclose(a.condensed_rdm("x", rdm), want, rtol=1e-11, atol=1e-13)
    a.save(tmp_path / "g.npz")
    loaded = GramMoments.load(tmp_path / "g.npz")
    np.testing.assert_array_equal(loaded.condensed_rdm("x", rdm), a.condensed_rdm("x", rdm))
    np.testing.assert_array_equal(a.copy().condensed_rdm("x", rdm), a.condensed_rdm("x", rdm))


def test_version_one_files_load_but_refuse_the_correlation_rdm(rng, tmp_path):
    X, _ = _pair(rng)
    g = _gram(x=X)
    g.save(tmp_path / "g.npz")
    with np.load(tmp_path / "g.npz") as d:
        fields = {k: d[k] for k in d.files if k not in ("u_0", "w_0", "r", "q", "q2")}
    fields["version"] = np.array(1)
    np.savez(tmp_path / "v1.npz", **fields)
    old = GramMoments.load(tmp_path / "v1.npz")
    assert old.cka("x", "x") == pytest.approx(1.0)
    np.testing.assert_array_equal(old.condensed_rdm("x", "euclidean"), g.condensed_rdm("x", "euclidean"))
    with pytest.raises(ValueError, match="version 1"):
        old.condensed_rdm("x", "correlation")
    old.save(tmp_path / "again.npz")  # still written as version 1
    with np.load(tmp_path / "again.npz") as d:
        assert int(d["version"]) == 1 and "u_0" not in d.files


def test_euclidean_rdm_invariances(rng):
    X, _ = _pair(rng)
    Q, _ = np.linalg.qr(rng.normal(size=(X.shape[1], X.shape[1])))
    base = _gram(x=X).condensed_rdm("x", "euclidean")
    for Z in (X @ Q, X + 300.0 * rng.normal(size=(1, X.shape[1]))):
        np.testing.assert_allclose(_gram(x=Z).condensed_rdm("x", "euclidean"), base, rtol=1e-10, atol=1e-12)
    cos = _gram(x=X).condensed_rdm("x", "cosine")
    np.testing.assert_allclose(_gram(x=3.0 * X @ Q).condensed_rdm("x", "cosine"), cos, rtol=1e-10, atol=1e-13)
    corr = _gram(x=X).condensed_rdm("x", "correlation")  # each sample's own offset and scale
    Z = X * rng.uniform(0.5, 3.0, size=(X.shape[0], 1)) + rng.normal(size=(X.shape[0], 1)) * 40
    np.testing.assert_allclose(_gram(x=Z).condensed_rdm("x", "correlation"), corr, rtol=1e-10, atol=1e-12)


def test_degenerate_samples_warn_and_give_nan(rng):
    X, Y = _pair(rng)
    X[3] = 2.5  # a constant sample: no correlation distance
    g = _gram(x=X, y=Y)
    with pytest.warns(RuntimeWarning, match="no variance"):
        d = g.condensed_rdm("x", "correlation")
    assert np.isnan(d).sum() == X.shape[0] - 1
    with pytest.warns(RuntimeWarning):
        assert np.isnan(g.matrix("rsa", rows="x", cols="y", rdm="correlation", compare="pearson")["x", "y"])


# ---------------------------------------------------------------------------------------------------- comparisons
@pytest.mark.parametrize("compare", COMPARISONS)
@pytest.mark.parametrize("rdm", RDMS)
def test_rsa_equals_the_oracle(rdm, compare, rng):
    X, Y = _pair(rng, mean=1e3)
    want = naive_gram.rsa(X, Y, rdm, compare)
    got = repsim.measure("rsa")(X, Y, rdm=rdm, compare=compare)
    assert got == pytest.approx(want, rel=TOL, abs=TOL)


def _rsatoolbox_value(X, Y, rdm, compare):
    rsatoolbox = pytest.importorskip("rsatoolbox")
    r1 = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(X), method=rdm)
    r2 = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(Y), method=rdm)
    method = {"pearson": "corr", "kendall_tau_a": "tau-a"}.get(compare, compare)
    return float(rsatoolbox.rdm.compare(r1, r2, method=method)[0][0])


@pytest.mark.parametrize("compare", COMPARISONS)
@pytest.mark.parametrize("rdm", ["euclidean", "correlation"])
@pytest.mark.parametrize("mean", [0.0, 1e3])
def test_rsa_equals_rsatoolbox(rdm, compare, mean, rng):
    """≤ 1e-12. rsatoolbox's Euclidean RDM is ΣX² + ΣX² − 2XXᵀ of the raw data, which itself loses ~8 digits when
    the data have means 1e3 × their spread; it is given the column-centred data there (distances are translation
    invariant), while repsim gets the raw data."""
    X, Y = _pair(rng, mean=mean)
    given = (X - X.mean(0), Y - Y.mean(0)) if rdm == "euclidean" else (X, Y)
    want = _rsatoolbox_value(*given, rdm, compare)
    got = repsim.measure(f"rsatoolbox/rsa-{rdm}-{dict(pearson='corr', kendall_tau_a='tau_a').get(compare, compare)}")(X, Y)
    assert got == pytest.approx(want, rel=TOL, abs=TOL)


def test_rsatoolbox_rdms_equal_ours(rng):
    rsatoolbox = pytest.importorskip("rsatoolbox")
    X, _ = _pair(rng, mean=1e3)
    g = _gram(x=X)
    corr = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(X), method="correlation").get_vectors()[0]
    np.testing.assert_allclose(g.condensed_rdm("x", "correlation"), corr, rtol=TOL, atol=TOL)
    Xc = X - X.mean(0)
    euc = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(Xc), method="euclidean").get_vectors()[0]
    np.testing.assert_allclose(g.condensed_rdm("x", "euclidean"), euc, rtol=TOL, atol=TOL * euc.max())


def test_whitened_cosine_of_euclidean_rdms_is_linear_cka(rng):
    """Diedrichsen et al. 2021: the whitened cosine of squared-Euclidean RDMs is linear CKA (similarity-repository
    maps rsa-rdm=squared_euclidean-compare=cosine_cov to cka-kernel=linear-hsic=gretton-score)."""
    X, Y = _pair(rng, mean=30.0)
    got = repsim.measure("rsa-rdm=squared_euclidean-compare=cosine_cov")(X, Y)
    assert got == pytest.approx(repsim.cka(X, Y), rel=1e-12)


class _Stub(Memo):
    """An RDM view holding given condensed vectors."""

    def __init__(self, n, **vectors):
        self.n, self.rdm, self._v, self._memo = n, "given", vectors, {}

    def condensed(self, site):
        return self._v[site]


@pytest.mark.parametrize("compare", ["spearman", "kendall_tau_a"])
def test_rank_comparisons_are_invariant_to_monotone_maps_of_the_rdm(compare, rng):
    n = 25
    a, b = rng.random(n * (n - 1) // 2), rng.random(n * (n - 1) // 2)
    base = rsa_module.rsa(_Stub(n, a=a, b=b), "a", "b", compare)
    for f in (np.exp, np.sqrt, lambda v: 3.0 * v ** 3 + 1.0):
        assert rsa_module.rsa(_Stub(n, a=f(a), b=b), "a", "b", compare) == pytest.approx(base, rel=1e-13, abs=1e-15)
    assert base == pytest.approx(naive_gram.compare_rdms(a, b, compare, n), rel=1e-12)


@pytest.mark.parametrize("compare", ["spearman", "kendall_tau_a", "pearson"])
def test_ties(compare, rng):
    """Integer lattice samples: squared Euclidean distances with many ties (average ranks; τ_A counts ties in its
    denominator), against SciPy / the pair enumeration and against rsatoolbox."""
    X = rng.integers(0, 3, size=(30, 3)).astype(float)
    Y = rng.integers(0, 2, size=(30, 4)).astype(float)
    d = naive_gram.rdm(X, "euclidean")
    assert np.unique(d).size < d.size / 20  # heavily tied
    got = repsim.measure("rsa")(X, Y, rdm="euclidean", compare=compare)
    assert got == pytest.approx(naive_gram.rsa(X, Y, "euclidean", compare), rel=TOL, abs=TOL)
    assert got == pytest.approx(_rsatoolbox_value(X, Y, "euclidean", compare), rel=TOL, abs=TOL)


def test_constant_rdm(rng):
    n = 6
    a, b = np.ones(15), rng.random(15)
    assert rsa_module.rsa(_Stub(n, a=a, b=b), "a", "b", "kendall_tau_a") == 0.0
    with pytest.warns(RuntimeWarning, match="undefined"):
        assert np.isnan(rsa_module.rsa(_Stub(n, a=a, b=b), "a", "b", "spearman"))


def test_options_are_checked(rng):
    X, Y = _pair(rng)
    with pytest.raises(ValueError, match="rdm"):
        repsim.measure("rsa")(X, Y, rdm="mahalanobis")
    with pytest.raises(ValueError, match="compare"):
        repsim.measure("rsa")(X, Y, compare="bures")
    with pytest.raises(TypeError, match="unexpected option"):
        repsim.measure("rsa")(X, Y, sigma=1.0)
    with pytest.raises(ValueError, match="no feature-space form"):
        repsim.measure("rsa")(X, Y, space="feature")


# ---------------------------------------------------------------------------------------------------- matrices
def _layers(rng, n=36, L=4):
    Z = rng.normal(size=(n, 3))
    return {f"l{k}": Z @ rng.normal(size=(3, 5 + k)) + rng.normal(size=(n, 5 + k)) * (0.3 + 0.3 * k) + 10.0 * k
            for k in range(L)}


@pytest.mark.parametrize("metric, options", [
    ("rsa", {}), ("rsa", {"rdm": "euclidean", "compare": "kendall_tau_a"}),
    ("rsa", {"rdm": "cosine", "compare": "corr_cov"}), ("rbf_cka", {}), ("debiased_rbf_cka", {"sigma": 0.7}),
    ("laplace_cka", {}), ("debiased_laplace_cka", {"bandwidth": "fixed", "sigma": 4.0}),
    ("cka", {"kernel": "laplace"}),
])
def test_layer_matrix_equals_a_loop_of_one_shot_calls(metric, options, rng):
    layers = _layers(rng)
    M = GramMoments(36, tile=8).update_features(layers).matrix(metric, **options)
    for x in layers:
        for y in layers:
            one_shot = repsim.cka if metric == "cka" else repsim.measure(metric)  # measure("cka") picks feature space
            want = one_shot(layers[x], layers[y], **options)
            assert M[x, y] == pytest.approx(want, rel=1e-12, abs=1e-14), (x, y)
    np.testing.assert_allclose(M.values, M.values.T, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.diag(M.values), 1.0, rtol=1e-12)


# ---------------------------------------------------------------------------------------------------- Laplace
@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("rule, sigma", [("median", 0.5), ("median_offdiag", 1.3), ("fixed", 6.0)])
def test_laplace_cka_equals_the_oracle(debiased, rule, sigma, rng):
    X, Y = _pair(rng, n=50, mean=1e3)
    want = naive_gram.laplace_cka(X, Y, sigma, debiased=debiased, rule=rule)
    name = "debiased_laplace_cka" if debiased else "laplace_cka"
    assert repsim.measure(name)(X, Y, sigma=sigma, bandwidth=rule) == pytest.approx(want, rel=1e-11)
    got = repsim.cka(X, Y, debiased=debiased, kernel="laplace", sigma=sigma, bandwidth=rule)
    assert got == pytest.approx(want, rel=1e-11)


def test_laplace_cka_invariances_and_limits(rng):
    X, Y = _pair(rng, n=40)
    base = repsim.measure("laplace_cka")(X, Y)
    Q, _ = np.linalg.qr(rng.normal(size=(X.shape[1], X.shape[1])))
    for Z in (X @ Q, X + 100.0, 4.0 * X):
        assert repsim.measure("laplace_cka")(Z, Y) == pytest.approx(base, rel=1e-10)
    assert repsim.measure("laplace_cka")(X, X.copy()) == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(ValueError, match="sigma"):
        repsim.measure("laplace_cka")(X, Y, sigma=1e12)
    with pytest.raises(ValueError, match="feature-space form"):
        repsim.cka(X, Y, kernel="laplace", space="feature")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        repsim.measure("laplace_cka")(X, Y, bandwidth="median_lower")
