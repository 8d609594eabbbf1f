"""Gram space (docs/math.md §4): ``GramMoments``, the fused off-diagonal pass, RBF CKA and the crossover rule.

Oracles: tests/naive.py (linear metrics from n × n Grams) and tests/naive_gram.py (RBF CKA with the explicit
centring matrix or U-centring, the bandwidth rules, long-double RV2).

Observed worst relative errors (this file's data): Gram path vs oracle 2.2e-15 (linear CKA, debiased CKA, RV,
RV2, centred and uncentred; means up to 1e3 spreads), Gram vs feature path 1.9e-15; RBF CKA vs the H K H oracle
8.4e-16, debiased RBF CKA vs the U-centred oracle 8.3e-16. float32 data with diagonal-dominant Grams (n = 200,
p = 4000, q = 2000, seeds 0–2) against a long-double oracle: Gram-space RV2 4.5e-16–8.1e-16, feature-space RV2
2.2e-14–1.5e-13. Tolerance 1e-12 throughout.
"""
from __future__ import annotations

import functools
import warnings

import numba
import numpy as np
import pytest

import naive
import naive_gram
import repsim
from repsim import api
from repsim import gram as gram_mod
from repsim.gram import tiles as gram_tiles
from repsim._kernels import numba_gram
from repsim.gram import GramMoments

RTOL = 1e-12

LINEAR = ["cka", "debiased_cka", "rv", "rv_uncentred", "rv2", "rv2_uncentred"]


@functools.lru_cache(maxsize=None)
def dataset(name: str):
    rng = np.random.default_rng({"large_mean": 11, "correlated": 12, "ill_conditioned": 13, "wide": 14,
                                 "very_wide": 15}[name])
    if name == "large_mean":  # post-ReLU, |mean|/spread up to 1e3
        return naive.large_mean_pair(rng, 300, 24, 16, kappa_max=1e3)
    if name == "correlated":
        return naive.correlated_pair(rng, 250, 30, 20, mean=5.0)
    if name == "ill_conditioned":
        return naive.ill_conditioned_pair(rng, 240, 24, 16)
    if name == "wide":  # p + q > 1.5 n: the automatic rule picks Gram space
        return naive.large_mean_pair(rng, 150, 180, 140, kappa_max=1e2)
    if name == "very_wide":  # p, q ≫ n, several tiles at tile=64
        return naive.correlated_pair(rng, 130, 900, 700, mean=2.0)
    raise KeyError(name)


DATASETS = ["large_mean", "correlated", "ill_conditioned", "wide", "very_wide"]


def gram_metric(g: GramMoments, metric: str, x="x", y="y") -> float:
    return {
        "cka": lambda: g.cka(x, y),
        "debiased_cka": lambda: g.cka(x, y, debiased=True),
        "rv": lambda: g.rv(x, y),
        "rv_uncentred": lambda: g.rv(x, y, center=False),
        "rv2": lambda: g.rv2(x, y),
        "rv2_uncentred": lambda: g.rv2(x, y, center=False),
    }[metric]()


def public(metric: str, X, Y, space: str) -> float:
    return {
        "cka": lambda: repsim.cka(X, Y, space=space),
        "debiased_cka": lambda: repsim.cka(X, Y, debiased=True, space=space),
        "rv": lambda: repsim.rv(X, Y, space=space),
        "rv_uncentred": lambda: repsim.rv(X, Y, center=False, space=space),
        "rv2": lambda: repsim.rv2(X, Y, space=space),
        "rv2_uncentred": lambda: repsim.rv2(X, Y, center=False, space=space),
    }[metric]()


def gram_of(X, Y, tile=None, n_threads=None, blocks=None) -> GramMoments:
    """A GramMoments with X and Y fed in column blocks (``blocks``: list of column-split points per side)."""
    g = GramMoments(X.shape[0], sites=["x", "y"], tile=tile, n_threads=n_threads)
    if blocks is None:
        return g.update_features({"x": X, "y": Y})
    for site, A in (("x", X), ("y", Y)):
        edges = [0, *blocks, A.shape[1]]
        for a, b in zip(edges[:-1], edges[1:]):
            if b > a:
                g.update_features({site: A[:, a:b]})
    return g


# ============================================================================ linear metrics: Gram = feature = oracle


@pytest.mark.parametrize("metric", LINEAR)
@pytest.mark.parametrize("name", DATASETS)
def test_gram_path_matches_feature_path_and_oracle(name, metric):
    X, Y = dataset(name)
    ref = naive.ORACLES[metric](X, Y)
    via_gram = public(metric, X, Y, "gram")
    via_feature = public(metric, X, Y, "feature")
    via_auto = public(metric, X, Y, "auto")
    np.testing.assert_allclose(via_gram, ref, rtol=RTOL, atol=0)
    np.testing.assert_allclose(via_feature, ref, rtol=RTOL, atol=0)
    np.testing.assert_allclose(via_gram, via_feature, rtol=RTOL, atol=0)
    assert via_auto == (via_gram if name in ("wide", "very_wide") else via_feature)


@pytest.mark.parametrize("tile", [None, 64, 37, 1])
def test_streamed_blocks_and_tiles(tile):
    """Any column blocking and any tile side give the oracle's values (blocks are centred on their own means)."""
    X, Y = dataset("very_wide")
    g = gram_of(X, Y, tile=tile, blocks=[1, 250, 251, 600])
    assert g.dims == {"x": 900, "y": 700}
    for metric in LINEAR:
        np.testing.assert_allclose(gram_metric(g, metric), naive.ORACLES[metric](X, Y), rtol=RTOL, atol=0,
                                   err_msg=metric)


def test_large_mean_blocks_streamed():
    X, Y = dataset("large_mean")
    g = gram_of(X, Y, tile=50, blocks=[3, 7, 8, 15])
    for metric in LINEAR:
        np.testing.assert_allclose(gram_metric(g, metric), naive.ORACLES[metric](X, Y), rtol=RTOL, atol=0,
                                   err_msg=metric)


def test_gram_matrices_exact():
    X, Y = dataset("ill_conditioned")
    g = gram_of(X, Y, tile=64, blocks=[5, 11])
    Xc = naive.center_columns(X)
    K = g.gram("x")
    np.testing.assert_array_equal(K, K.T)
    np.testing.assert_allclose(K, Xc @ Xc.T, rtol=0, atol=1e-13 * np.abs(K).max())
    Kr = g.gram("x", center=False)
    np.testing.assert_allclose(Kr, X @ X.T, rtol=0, atol=1e-14 * np.abs(Kr).max())
    np.testing.assert_allclose(g.diagonal("x"), np.diag(K), rtol=0, atol=0)


def test_pair_sums_are_the_masked_sums():
    X, Y = dataset("correlated")
    g = gram_of(X, Y, tile=32)
    K, L = naive.gram(naive.center_columns(X)), naive.gram(naive.center_columns(Y))
    off = ~np.eye(X.shape[0], dtype=bool)
    ps = g.pair_sums("x", "y")
    np.testing.assert_allclose(ps.s_kl, np.sum((K * L)[off]), rtol=1e-13)
    np.testing.assert_allclose(ps.s_kk, np.sum((K * K)[off]), rtol=1e-13)
    np.testing.assert_allclose(ps.s_ll, np.sum((L * L)[off]), rtol=1e-13)
    np.testing.assert_allclose(ps.d_k, np.diag(K), rtol=1e-13)
    np.testing.assert_allclose(ps.r_k, K.sum(axis=1) - np.diag(K), rtol=0, atol=1e-12 * np.abs(K).max())
    np.testing.assert_allclose(ps.r_l, L.sum(axis=1) - np.diag(L), rtol=0, atol=1e-12 * np.abs(L).max())


def test_pair_sums_are_cached_per_unordered_pair(monkeypatch):
    """(y, x) reuses the (x, y) pass with the roles swapped; (x, x) takes one single-Gram pass; the RBF row sums
    serve both centrings. Values equal the masked sums of the naive Grams."""
    X, Y = dataset("correlated")
    g = gram_of(X, Y, tile=32)
    passes = []
    for name in ("_pair_pass", "_site_pass"):
        real = getattr(g, name)
        monkeypatch.setattr(g, name, lambda *a, _r=real, _n=name: passes.append(_n) or _r(*a))
    xy, yx, xx = g.pair_sums("x", "y"), g.pair_sums("y", "x"), g.pair_sums("x", "x")
    assert passes == ["_pair_pass", "_site_pass"]
    assert (yx.s_kl, yx.s_kk, yx.s_ll) == (xy.s_kl, xy.s_ll, xy.s_kk)
    np.testing.assert_array_equal(yx.r_k, xy.r_l), np.testing.assert_array_equal(yx.d_l, xy.d_k)
    K = naive.gram(naive.center_columns(X))
    off = ~np.eye(X.shape[0], dtype=bool)
    np.testing.assert_allclose([xx.s_kl, xx.s_kk, xx.s_ll], np.sum((K * K)[off]), rtol=1e-13)
    np.testing.assert_allclose(xx.r_k, K.sum(axis=1) - np.diag(K), rtol=0, atol=1e-12 * np.abs(K).max())
    np.testing.assert_allclose(xx.d_k, np.diag(K), rtol=1e-13)
    passes.clear()
    assert g.matrix("cka").values[0, 0] == pytest.approx(1.0, rel=1e-14)
    assert passes == ["_site_pass"]  # only (y, y) was new: 3 entries of 4 from the cache
    assert g.cka("y", "x") == g.cka("x", "y") and passes == ["_site_pass"]
    passes.clear()
    g.cka("x", "y", kernel="rbf"), g.cka("x", "y", kernel="rbf", debiased=True)
    assert passes.count("_site_pass") == 2 and passes.count("_pair_pass") == 2  # rows: one per site, not per form


def test_threads_do_not_change_results_and_are_restored(monkeypatch):
    """Per-tile partial sums reduced in tile order: bit-identical for any thread count; numba's setting restored."""
    monkeypatch.setattr(gram_tiles, "PARALLEL_MIN_ENTRIES", 0)  # small Grams would otherwise run on one thread
    X, Y = dataset("very_wide")
    before = numba.get_num_threads()
    vals = []
    for threads in (1, 2, 3):
        g = gram_of(X, Y, tile=64, n_threads=threads)
        vals.append([gram_metric(g, m) for m in LINEAR] + [g.cka("x", "y", kernel="rbf"),
                                                          g.cka("x", "y", kernel="rbf", debiased=True)])
        assert numba.get_num_threads() == before
    assert vals[0] == vals[1] == vals[2]


# ============================================================================ additivity across feature shards


def test_merge_of_feature_shards():
    X, Y = dataset("very_wide")
    a = GramMoments(X.shape[0], sites=["x", "y"], tile=64)
    b = GramMoments(X.shape[0], sites=["y", "x"], tile=64)
    a.update_features({"x": X[:, :400], "y": Y[:, :100]})
    b.update_features({"x": X[:, 400:]}).update_features({"y": Y[:, 100:]})
    buf_a, buf_b = a.packed("x").copy(), b.packed("x").copy()
    merged = a.copy().merge(b)
    np.testing.assert_array_equal(merged.packed("x"), buf_a + buf_b)  # a plain sum of the packed buffers
    assert merged.dims == {"x": 900, "y": 700} and merged.blocks == 3
    whole = gram_of(X, Y, tile=64)
    for metric in LINEAR:
        np.testing.assert_allclose(gram_metric(merged, metric), gram_metric(whole, metric), rtol=RTOL, atol=0)
        np.testing.assert_allclose(gram_metric(merged, metric), naive.ORACLES[metric](X, Y), rtol=RTOL, atol=0)
    np.testing.assert_allclose(merged.cka("x", "y", kernel="rbf"), whole.cka("x", "y", kernel="rbf"), rtol=RTOL)
    # the shards are untouched; merging into an empty accumulator copies
    assert np.array_equal(a.packed("x"), buf_a)
    empty = GramMoments(X.shape[0], tile=64).merge(a)
    assert empty.sites == ("x", "y") and empty.cka("x", "y") == a.cka("x", "y")


def test_merge_errors():
    X, Y = dataset("correlated")
    a = gram_of(X, Y)
    with pytest.raises(TypeError, match="GramMoments"):
        a.merge(repsim.Moments())
    with pytest.raises(ValueError, match="sample counts"):
        a.merge(GramMoments(X.shape[0] - 1).update_features({"x": X[1:], "y": Y[1:]}))
    with pytest.raises(ValueError, match="different sites"):
        a.merge(GramMoments(X.shape[0]).update_features({"x": X}))
    with pytest.raises(ValueError, match="different tiles"):
        a.merge(gram_of(X, Y, tile=17))


def test_packed_view_is_read_only_and_packed():
    n = 300
    g = GramMoments(n, tile=128).update_features({"x": np.random.default_rng(0).normal(size=(n, 5))})
    buf = g.packed("x")
    with pytest.raises(ValueError):
        buf[0] = 1.0
    assert buf.size == sum(min(128, n - c0) * (n - c0) for c0 in range(0, n, 128)) < n * n
    assert gram_mod.gram_nbytes(n, 1, tile=128) == buf.nbytes


# ============================================================================ RBF CKA


def test_golden_values():
    """docs/peers.md §1 (Kornblith's demo data): RBF CKA (threshold 0.5) 0.65483, linear 0.55761, debiased 0.51346."""
    X, Y = naive.kornblith_golden()
    assert round(repsim.cka(X, Y, kernel="rbf", sigma=0.5), 5) == 0.65483
    assert round(repsim.cka(X, Y, kernel="rbf"), 5) == 0.65483  # sigma = 0.5 is the default
    assert round(repsim.cka(X, Y, space="gram"), 5) == 0.55761
    assert round(repsim.cka(X, Y, debiased=True, space="gram"), 5) == 0.51346
    np.testing.assert_allclose(repsim.cka(X, Y, kernel="rbf"), naive_gram.rbf_cka(X, Y, 0.5), rtol=RTOL)


@pytest.mark.parametrize("sigma", [0.2, 0.5, 1.0, 4.0])
@pytest.mark.parametrize("name", ["correlated", "large_mean", "very_wide"])
def test_rbf_cka_matches_oracle(name, sigma):
    X, Y = dataset(name)
    for debiased in (False, True):
        ref = naive_gram.rbf_cka(X, Y, sigma, debiased=debiased)
        got = repsim.cka(X, Y, kernel="rbf", sigma=sigma, debiased=debiased)
        np.testing.assert_allclose(got, ref, rtol=RTOL, atol=0, err_msg=f"debiased={debiased}")


@pytest.mark.parametrize("rule", ["median", "median_lower", "median_offdiag", "fixed"])
def test_rbf_bandwidth_rules(rule):
    X, Y = dataset("correlated")
    sigma = 20.0 if rule == "fixed" else 0.7
    for debiased in (False, True):
        ref = naive_gram.rbf_cka(X, Y, sigma, debiased=debiased, rule=rule)
        got = repsim.cka(X, Y, kernel="rbf", sigma=sigma, bandwidth=rule, debiased=debiased)
        np.testing.assert_allclose(got, ref, rtol=RTOL, atol=0)


def test_debiased_rbf_oracles_agree():
    """U-centring and Song's HSIC₁ formula are independent derivations of the debiased RBF CKA."""
    X, Y = dataset("correlated")
    np.testing.assert_allclose(naive_gram.rbf_cka(X, Y, 0.5, debiased=True), naive_gram.rbf_cka_song(X, Y, 0.5),
                               rtol=1e-12)


@pytest.mark.parametrize("rule", ["median", "median_lower", "median_offdiag"])
def test_bandwidth_medians_are_exact(rule):
    """The median is an exact order statistic of the distances the tiles use (== numpy / torch medians of the same
    matrix), including ties and slightly negative distances from duplicated samples, for even and odd n."""
    rng = np.random.default_rng(5)
    for n, dup in ((60, 0), (61, 25), (90, 50), (7, 7)):
        X = rng.normal(size=(n, 4)) + 3.0
        X[:dup] = X[0]
        g = GramMoments(n, tile=16).update_features({"x": X})
        K = g.gram("x")
        d = np.diag(K)
        D = d[:, None] + d[None, :] - 2.0 * K  # the same expression, in the same order, as the kernels
        np.fill_diagonal(D, 0.0)
        assert g._median_sqdist("x", rule) == naive_gram.median_sqdist(D, rule)
        np.testing.assert_allclose(g.bandwidth("x", 0.5, rule) ** 2, 0.25 * max(naive_gram.median_sqdist(D, rule), 0))
    assert g.bandwidth("x", 3.0, "fixed") == 3.0


def test_selection_refines_histograms():
    """Tiny histograms and caps force several refinement rounds: still the exact order statistics."""
    rng = np.random.default_rng(6)
    n = 83
    X = rng.normal(size=(n, 3))
    X[10:30] = X[3]  # a block of ties
    g = GramMoments(n, tile=10).update_features({"x": X})
    K = g.gram("x")
    d = g.diagonal("x")
    D = d[:, None] + d[None, :] - 2.0 * K
    u = np.sort(D[np.triu_indices(n, 1)])
    tiles = g._tiles.arrays
    ext = np.empty((g._tiles.count, 2))
    cnt = np.empty((g._tiles.count, 2), dtype=np.int64)
    numba_gram.offdiag_scan(g._buf["x"], *tiles, d, ext, cnt)
    stats = (ext[:, 0].min(), ext[:, 1].max(), u.size)
    assert (int(cnt[:, 0].sum()), int(cnt[:, 1].sum())) == (int(np.sum(u < 0)), int(np.sum(u <= 0)))
    ranks = [0, 1, 5, u.size // 2 - 1, u.size // 2, u.size - 1, 1000, 1001]
    for nbins, cap in ((2, 1), (3, 4), (4, 40), (1 << 16, 1 << 21)):
        for nchunks in (1, 3):
            got = numba_gram.select_offdiag(g._buf["x"], tiles, d, ranks, stats, nbins=nbins, cap=cap,
                                            nchunks=nchunks)
            assert got == [u[k] for k in ranks]


def test_rbf_invariances(rng):
    X, Y = dataset("correlated")
    Q, _ = np.linalg.qr(rng.normal(size=(X.shape[1], X.shape[1])))
    base = repsim.cka(X, Y, kernel="rbf")
    base_d = repsim.cka(X, Y, kernel="rbf", debiased=True)
    for X2 in (X @ Q, X + 100.0, 7.5 * X):
        np.testing.assert_allclose(repsim.cka(X2, Y, kernel="rbf"), base, rtol=1e-11)
        np.testing.assert_allclose(repsim.cka(X2, Y, kernel="rbf", debiased=True), base_d, rtol=1e-11)
    np.testing.assert_allclose(repsim.cka(Y, X, kernel="rbf"), base, rtol=1e-14)
    np.testing.assert_allclose(repsim.cka(X, X, kernel="rbf"), 1.0, rtol=1e-14)


def test_rbf_torch_and_float32_inputs():
    torch = pytest.importorskip("torch")
    X, Y = dataset("correlated")
    ref = repsim.cka(X, Y, kernel="rbf")
    np.testing.assert_allclose(repsim.cka(torch.from_numpy(X), torch.from_numpy(Y), kernel="rbf"), ref, rtol=1e-14)
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    np.testing.assert_allclose(repsim.cka(X32, Y32, kernel="rbf"),
                               naive_gram.rbf_cka(X32.astype(np.float64), Y32.astype(np.float64)), rtol=RTOL)


# ============================================================================ accuracy: masked sums, float32, p ≫ n


@pytest.mark.parametrize("seed", [0, 1])
def test_masked_gram_sum_beats_feature_space_on_diagonal_dominant_float32(seed):
    """docs/math.md §4: with p ≫ n the Grams are diagonal-dominant, and the feature-space RV2 numerator ‖C‖² − Σaᵢbᵢ is a
    difference of two large numbers; the Gram path masks the diagonal inside the tiles instead. Both against an
    80-bit long-double oracle: the Gram path is closer (observed 4.5e-16–8.1e-16 vs 2.2e-14–1.5e-13)."""
    rng = np.random.default_rng(seed)
    X, Y = naive_gram.diagonal_dominant_pair(rng)
    Xc = naive.center_columns(X)
    K = Xc @ Xc.T
    off = ~np.eye(X.shape[0], dtype=bool)
    assert np.diag(K).mean() / np.abs(K[off]).mean() > 50  # diagonal-dominant
    ref = naive_gram.longdouble_rv2(X, Y)
    err_gram = abs(repsim.rv2(X, Y, space="gram") - ref) / abs(ref)
    err_feature = abs(repsim.rv2(X, Y, space="feature") - ref) / abs(ref)
    assert err_gram < 1e-14
    assert err_gram < err_feature, (err_gram, err_feature)
    assert repsim.rv2(X, Y) == repsim.rv2(X, Y, space="gram")  # "auto" picks Gram space here
    np.testing.assert_allclose(repsim.cka(X, Y), naive.linear_cka(X, Y), rtol=RTOL)


# ============================================================================ crossover rule


def test_choose_space_rule():
    choose = gram_mod.choose_space
    assert choose(1000, (700, 800)) == "feature"  # p + q = 1.5 n: not above
    assert choose(1000, (700, 801)) == "gram"
    assert choose(1000, (700, 801), full_columns=False) == "feature"  # samples streamed / sharded
    assert choose(1000, (700, 801), memory_limit=gram_mod.gram_nbytes(1000, 2) - 1) == "feature"
    assert choose(1000, (700, 801), memory_limit=gram_mod.gram_nbytes(1000, 2)) == "gram"
    assert choose(10, (1, 1), "gram") == "gram" and choose(10, (100, 100), "feature") == "feature"
    with pytest.raises(ValueError, match="space"):
        choose(10, (1, 1), "grams")


def test_auto_dispatch_calls_gram_space_only_when_wide(monkeypatch):
    calls = []
    real = api.one_shot_gram

    def spy(x, y, n_threads=None):
        calls.append(x.shape)
        return real(x, y, n_threads)

    monkeypatch.setattr(api, "one_shot_gram", spy)
    X, Y = dataset("wide")
    repsim.cka(X, Y), repsim.rv(X, Y), repsim.rv2(X, Y, center=False)
    assert len(calls) == 3
    X, Y = dataset("correlated")
    repsim.cka(X, Y), repsim.rv2(X, Y)
    assert len(calls) == 3
    repsim.cka(X, Y, kernel="rbf")
    assert len(calls) == 4


def test_matrix_of_sites():
    X, Y = dataset("very_wide")
    Z = X[:, :300] + 0.1
    g = GramMoments(X.shape[0], sites=["a", "b", "c"]).update_features({"a": X, "b": Y, "c": Z})
    for metric, opts in (("cka", {}), ("debiased_cka", {}), ("rv2", {"center": False}), ("rbf_cka", {"sigma": 0.8}),
                         ("debiased_rbf_cka", {}), ("cka", {"kernel": "rbf", "debiased": True})):
        m = g.matrix(metric, **opts)
        assert m.rows == ("a", "b", "c") and m.metric == metric
        np.testing.assert_allclose(m.values, m.values.T, rtol=1e-13)
        np.testing.assert_allclose(np.diag(m.values), 1.0, rtol=1e-13)
    m = g.matrix("rv", rows=["a"], cols=["b", "c"], center=True)
    assert m.values.shape == (1, 2)
    np.testing.assert_allclose(m["a", "b"], naive.rv(X, Y), rtol=RTOL)
    with pytest.raises(TypeError, match="unexpected option"):
        g.matrix("rv2", debiased=True)
    with pytest.raises(ValueError, match="unknown metric"):
        g.matrix("nope")


# ============================================================================ errors and warnings


@pytest.mark.parametrize("metric", ["cca", "svcca", "pwcca", "procrustes", "affine_map", "max_match",
                                    "match_curve", "simple_matches", "cca_r2"])
def test_no_gram_form_is_a_clear_error(metric):
    X, Y = dataset("correlated")
    g = gram_of(X, Y)
    with pytest.raises(ValueError, match="no Gram-space form"):
        g.matrix(metric)
    if metric != "cca_r2":
        with pytest.raises(ValueError, match="no Gram-space form"):
            getattr(g, metric)("x", "y")


def test_argument_errors():
    X, Y = dataset("correlated")
    with pytest.raises(ValueError, match="kernel"):
        repsim.cka(X, Y, kernel="poly")
    with pytest.raises(ValueError, match="space"):
        repsim.cka(X, Y, space="gramm")
    with pytest.raises(ValueError, match="space"):
        repsim.rv2(X, Y, space="Gram")
    with pytest.raises(ValueError, match="no feature-space form"):
        repsim.cka(X, Y, kernel="rbf", space="feature")
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="sigma"):
            repsim.cka(X, Y, kernel="rbf", sigma=bad)
    with pytest.raises(TypeError, match="sigma"):
        repsim.cka(X, Y, kernel="rbf", sigma="0.5")
    with pytest.raises(ValueError, match="bandwidth"):
        repsim.cka(X, Y, kernel="rbf", bandwidth="mean")
    with pytest.raises(ValueError, match="at least 4 samples"):
        repsim.cka(X[:3], Y[:3], kernel="rbf", debiased=True)
    with pytest.raises(ValueError, match="at least 4 samples"):
        repsim.cka(X[:3], Y[:3], debiased=True, space="gram")
    with pytest.raises(ValueError, match="same number of rows"):
        repsim.cka(X, Y[:-1], kernel="rbf")
    with pytest.raises(TypeError, match="dtype"):
        repsim.cka(X.astype(int), Y, kernel="rbf")
    g = gram_of(X, Y)
    with pytest.raises(ValueError, match="kernel"):
        g.cka("x", "y", kernel="polynomial")
    with pytest.raises(ValueError, match="bandwidth"):
        g.bandwidth("x", 0.5, "iqr")
    with pytest.raises(ValueError, match="unknown site 'z'"):
        g.cka("x", "z")
    with pytest.raises(TypeError, match="site name"):
        g.rv2("x", 3)


def test_constructor_errors():
    for bad in (0, -3, 2.5, True, "10"):
        with pytest.raises(ValueError, match="n must be"):
            GramMoments(bad)
    with pytest.raises(ValueError, match="n_threads"):
        GramMoments(10, n_threads=0)
    with pytest.raises(ValueError, match="tile"):
        GramMoments(10, tile=0)
    with pytest.raises(ValueError, match=r"sites: site\(s\) \['a'\] given more than once"):
        GramMoments(10, sites=["a", "a"])
    with pytest.raises(TypeError, match="site names"):
        GramMoments(10, sites=["a", 1])


def test_update_validation():
    n = 20
    rng = np.random.default_rng(3)
    g = GramMoments(n)
    with pytest.raises(TypeError, match="mapping"):
        g.update_features(rng.normal(size=(n, 3)))
    with pytest.raises(ValueError, match="no sites"):
        g.update_features({})
    with pytest.raises(TypeError, match="site names must be str"):
        g.update_features({1: rng.normal(size=(n, 3))})
    with pytest.raises(ValueError, match=r"site 'a' \(block 0\): expected 20 rows .* got shape \(19, 3\)"):
        g.update_features({"a": rng.normal(size=(n - 1, 3))})
    with pytest.raises(ValueError, match="no features"):
        g.update_features({"a": np.empty((n, 0))})
    with pytest.raises(ValueError, match="2-D"):
        g.update_features({"a": rng.normal(size=n)})
    with pytest.raises(TypeError, match="dtype"):
        g.update_features({"a": np.ones((n, 2), dtype=np.int64)})
    assert g.sites == ()  # nothing was accepted
    g.update_features({"a": rng.normal(size=(n, 3)), "b": rng.normal(size=(n, 2))})
    good = g.packed("a").copy()
    X = rng.normal(size=(n, 4))
    X[7, 2] = np.nan
    with pytest.raises(ValueError, match=r"site 'b' \(block 1\): NaN at row 7, column 2"):
        g.update_features({"a": rng.normal(size=(n, 3)), "b": X})
    X[7, 2] = -np.inf
    with pytest.raises(ValueError, match=r"site 'a' \(block 1\): Inf at row 7, column 2"):
        g.update_features({"a": X})
    with pytest.raises(ValueError, match="too large"):
        g.update_features({"a": np.full((n, 2), 1e80) * rng.normal(size=(n, 1))})
    with pytest.raises(ValueError, match=r"block 1: unknown site\(s\) \['c'\]; the sites are fixed"):
        g.update_features({"c": rng.normal(size=(n, 3))})
    assert np.array_equal(g.packed("a"), good) and g.dims == {"a": 3, "b": 2} and g.blocks == 1  # atomic
    g.update_features({"b": rng.normal(size=(n, 5))})  # a subset of the sites
    assert g.dims == {"a": 3, "b": 7} and g.blocks == 2
    with pytest.raises(ValueError, match="empty"):
        GramMoments(5).cka("a", "b")
    h = GramMoments(n, sites=["a", "b"]).update_features({"a": rng.normal(size=(n, 2))})
    with pytest.raises(ValueError, match="site 'b' has no features yet"):
        h.rv2("a", "b")


def test_torch_blocks():
    torch = pytest.importorskip("torch")
    X, Y = dataset("wide")
    g = GramMoments(X.shape[0]).update_features({"x": torch.from_numpy(X), "y": torch.from_numpy(Y).float()})
    np.testing.assert_allclose(g.cka("x", "y"), naive.linear_cka(X, Y.astype(np.float32).astype(np.float64)),
                               rtol=RTOL)


def test_degenerate_inputs_warn():
    rng = np.random.default_rng(4)
    n = 30
    X = rng.normal(size=(n, 5))
    C = np.full((n, 4), 3.0)
    with pytest.warns(RuntimeWarning, match="undefined"):
        assert np.isnan(repsim.cka(X, C, space="gram"))
    with pytest.warns(RuntimeWarning, match="bandwidth is 0"):
        assert np.isnan(repsim.cka(X, C, kernel="rbf"))
    with pytest.warns(RuntimeWarning, match="undefined"):
        assert np.isnan(repsim.rv2(X[:1], C[:1], space="gram"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(repsim.cka(X, C + rng.normal(size=(n, 4)) * 1e-3, kernel="rbf"))
