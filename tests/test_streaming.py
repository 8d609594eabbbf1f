"""Streaming = one-shot = merged shards = saved and loaded, for every metric and every statistic (docs/design.md §5:
≤ 1e-10 relative). Also dtypes (float16/32/64, torch tensors), engine agreement, and site × site matrices.

Observed (n = 600, post-ReLU sites with |mean|/spread up to 1e3 plus an ill-conditioned site, both engines):
streaming with batch sizes 1, 7, 256 and uneven chunks vs one update: worst metric relative error 7.8e-15, worst
statistic (max-norm relative per block, centred and raw; the third-order vectors are the worst) 9.3e-14.
3-shard merges (two tree orders): 6.4e-15 (metrics), 9.6e-14 (statistics). Tolerance 1e-10.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import pytest

import naive
import repsim
from _helpers import (
    all_metrics,
    all_statistics,
    assert_normwise_close,
    assert_statistics_close,
    assert_statistics_equal,
    moments_of,
)

RTOL = 1e-10
N = 600
PAIRS = [("a", "b"), ("a", "c"), ("b", "c"), ("a", "a")]


@functools.lru_cache(maxsize=None)
def three_sites():
    """Sites a, b: post-ReLU with |mean|/spread up to 1e3; c: ill-conditioned (scales 1e-2..1e2, near-collinear
    columns, means up to 300 spreads); all three driven by one latent, so every pair is clearly similar."""
    rng = np.random.default_rng(11)
    Z = rng.normal(size=(N, 5))
    a, b = naive.large_mean_pair(rng, N, 20, 12, kappa_max=1e3, Z=Z)
    c, _ = naive.ill_conditioned_pair(rng, N, 10, 3, Z=Z)
    return {"a": a, "b": b, "c": c}


def _assert_metrics_close(m1, m2, rtol, pairs=PAIRS):
    for x, y in pairs:
        v1, v2 = all_metrics(m1, x, y), all_metrics(m2, x, y)
        for k in v1:
            np.testing.assert_allclose(v1[k], v2[k], rtol=rtol, atol=0, err_msg=f"{k}({x}, {y})")


def _assert_metrics_equal(m1, m2, pairs=PAIRS):
    for x, y in pairs:
        v1, v2 = all_metrics(m1, x, y), all_metrics(m2, x, y)
        for k in v1:
            assert v1[k] == v2[k], (k, x, y, v1[k], v2[k])


# ------------------------------------------------------------------------------------------ streaming


@pytest.mark.parametrize("batch", [1, 7, 256, "uneven"])
def test_streaming_equals_one_shot(batch, engine):
    data = three_sites()
    one = moments_of(data, engine=engine)
    if batch == "uneven":
        batch = [1, 2, 3, 97, 1, 200, 5, 291]
    stream = moments_of(data, engine=engine, batch=batch)
    assert stream.n == one.n == N
    assert stream.sites == ("a", "b", "c")
    assert stream.dims == {"a": 20, "b": 12, "c": 10}
    _assert_metrics_close(stream, one, RTOL)
    for center in (True, False):
        assert_statistics_close(all_statistics(stream, center), all_statistics(one, center), RTOL)
    for s in data:
        np.testing.assert_allclose(stream.mean(s), data[s].mean(axis=0), rtol=1e-12, atol=0)


def test_streaming_matches_oracle_on_large_means():
    """Batch size 7 on κ up to 1e3: every metric still equals the sample-space oracle."""
    data = three_sites()
    m = moments_of(data, batch=7)
    X, Y = data["a"], data["b"]
    got = all_metrics(m, "a", "b")
    for k, f in naive.ORACLES.items():
        np.testing.assert_allclose(got[k], f(X, Y), rtol=RTOL, atol=0, err_msg=k)


def test_centred_statistics_match_direct():
    """The centred blocks equal the two-pass sample-space quantities (Xcᵀ Yc, Σ|xc|²|yc|², Σ|yc|² xc)."""
    data = three_sites()
    m = moments_of(data, batch=64)
    st = m.full_view(center=True)
    Xc = {s: naive.center_columns(v) for s, v in data.items()}
    nrm = {s: np.sum(v * v, axis=1) for s, v in Xc.items()}
    for x, y in PAIRS:
        assert_normwise_close(st.block(x, y), Xc[x].T @ Xc[y], 1e-12, f"block {x}{y}")
        np.testing.assert_allclose(st.fourth(x, y), nrm[x] @ nrm[y], rtol=1e-12, atol=0)
        assert_normwise_close(st.third(x, y), Xc[x].T @ nrm[y], 1e-10, f"third {x}{y}")
    for s in data:
        np.testing.assert_allclose(st.trace(s), nrm[s].sum(), rtol=1e-12, atol=0)
        np.testing.assert_array_equal(st.sum(s), 0.0)
    raw = m.full_view(center=False)
    for x, y in PAIRS:
        assert_normwise_close(raw.block(x, y), data[x].T @ data[y], 1e-13, f"raw block {x}{y}")
        np.testing.assert_allclose(raw.sum(x), data[x].sum(axis=0), rtol=1e-12, atol=0)


# ------------------------------------------------------------------------------------------ merge


def _sorted_shards(data, sizes):
    """Split the rows into shards after sorting by one unit, so the shards have clearly different means (and
    therefore different references)."""
    order = np.argsort(data["a"][:, 0] + data["c"][:, 0] / data["c"][:, 0].std())
    srt = {k: v[order] for k, v in data.items()}
    out, start = [], 0
    for size in sizes:
        out.append({k: v[start:start + size] for k, v in srt.items()})
        start += size
    return srt, out


@pytest.mark.parametrize("tree", ["left", "right"])
def test_merge_three_shards_equals_one_pass(tree, engine):
    data = three_sites()
    srt, shards = _sorted_shards(data, [123, 1, 476])
    ms = [moments_of(sh, engine=engine, batch=b) for sh, b in zip(shards, [17, 1, 256])]
    refs = [m.reference["a"] for m in ms]
    assert np.max(np.abs(refs[0] - refs[2])) > 1e-3 * np.max(np.abs(refs[2])), "shards need different references"
    if tree == "left":
        merged = ms[0].copy().merge(ms[1]).merge(ms[2])
    else:
        merged = ms[0].copy().merge(ms[1].copy().merge(ms[2]))
    one = moments_of(srt, engine=engine)
    assert merged.n == N
    _assert_metrics_close(merged, one, RTOL)
    for center in (True, False):
        assert_statistics_close(all_statistics(merged, center), all_statistics(one, center), RTOL)
    for s in data:
        np.testing.assert_allclose(merged.mean(s), srt[s].mean(axis=0), rtol=1e-12, atol=0)


def test_merge_returns_self_and_leaves_other_untouched():
    data = three_sites()
    _, shards = _sorted_shards(data, [300, 300])
    m1, m2 = moments_of(shards[0]), moments_of(shards[1])
    before = all_statistics(m2, True)
    out = m1.merge(m2)
    assert out is m1
    assert m1.n == N and m2.n == 300
    assert_statistics_equal(all_statistics(m2, True), before)


def test_merge_into_empty_and_of_empty():
    data = three_sites()
    m = moments_of(data, batch=100)
    empty = repsim.Moments()
    assert empty.n == 0 and empty.sites == () and empty.dims == {} and empty.reference == {}
    out = empty.merge(m)
    assert out is empty
    assert empty.n == m.n and empty.sites == m.sites and empty.dims == m.dims
    _assert_metrics_equal(empty, m)
    assert_statistics_equal(all_statistics(empty, False), all_statistics(m, False))
    # an independent copy: updating m afterwards does not change the merged one
    snapshot = all_metrics(empty, "a", "b")
    m.update({k: v[:5] for k, v in data.items()})
    assert all_metrics(empty, "a", "b") == snapshot
    # merging an empty Moments changes nothing
    stats = all_statistics(empty, True)
    empty.merge(repsim.Moments())
    assert empty.n == N
    assert_statistics_equal(all_statistics(empty, True), stats)


def test_merge_with_itself_doubles():
    data = three_sites()
    m = moments_of(data)
    doubled = moments_of({k: np.concatenate([v, v]) for k, v in data.items()})
    m.merge(m)
    assert m.n == 2 * N
    _assert_metrics_close(m, doubled, RTOL)


def test_site_order_of_later_batches_is_irrelevant():
    data = three_sites()
    m = repsim.Moments().update({k: v[:100] for k, v in data.items()})
    m.update({k: data[k][100:] for k in ("c", "a", "b")})
    assert m.sites == ("a", "b", "c")
    _assert_metrics_close(m, moments_of(data, batch=100), 1e-14)


def test_reference_and_dims_are_copies():
    data = three_sites()
    m = moments_of(data, batch=100)
    before = all_metrics(m, "a", "b")
    ref = m.reference
    first = m.reference["a"].copy()
    np.testing.assert_allclose(ref["a"], data["a"][:100].mean(axis=0), rtol=1e-13, atol=1e-14)  # first batch mean
    ref["a"][:] = 0.0
    m.dims["a"] = 99
    assert m.dims["a"] == 20
    np.testing.assert_array_equal(m.reference["a"], first)
    m.update({k: v[:10] for k, v in data.items()})
    m2 = moments_of(data, batch=100).update({k: v[:10] for k, v in data.items()})
    assert all_metrics(m, "a", "b") == all_metrics(m2, "a", "b") != before


def test_copy_is_independent():
    data = three_sites()
    m = moments_of({k: v[:300] for k, v in data.items()})
    c = m.copy()
    assert c.n == m.n and c.sites == m.sites
    _assert_metrics_equal(c, m)
    c.update({k: v[300:] for k, v in data.items()})
    assert m.n == 300 and c.n == N
    np.testing.assert_allclose(m.mean("a"), data["a"][:300].mean(axis=0), rtol=1e-12, atol=0)
    _assert_metrics_close(c, moments_of(data), RTOL)


# ------------------------------------------------------------------------------------------ save / load


def test_save_load_round_trip_is_bitwise(tmp_path, engine):
    data = three_sites()
    m = moments_of(data, engine=engine, batch=77)
    path = tmp_path / "stats.npz"
    m.save(path)
    m2 = repsim.Moments.load(path, engine=engine)
    assert m2.n == m.n and m2.sites == m.sites and m2.dims == m.dims
    for s in m.sites:
        np.testing.assert_array_equal(m2.reference[s], m.reference[s])
        np.testing.assert_array_equal(m2.mean(s), m.mean(s))
    _assert_metrics_equal(m2, m)
    for center in (True, False):
        assert_statistics_equal(all_statistics(m2, center), all_statistics(m, center))
    # resuming from the file is the same as never having stopped
    extra = {k: v[:50] * 1.5 for k, v in data.items()}
    m.update(extra)
    m2.update(extra)
    _assert_metrics_equal(m2, m)
    # and str paths work, without an added suffix
    p2 = str(tmp_path / "plain_name")
    m.save(p2)
    _assert_metrics_equal(repsim.Moments.load(p2), m)


def test_save_load_after_merge(tmp_path):
    data = three_sites()
    _, shards = _sorted_shards(data, [200, 400])
    m = moments_of(shards[0]).merge(moments_of(shards[1]))
    m.save(tmp_path / "m.npz")
    _assert_metrics_equal(repsim.Moments.load(tmp_path / "m.npz"), m)


# ------------------------------------------------------------------------------------------ dtypes


def test_float32_agrees_with_float64(engine):
    """float32 input is widened exactly: equal to the float64 copy of the same values to ~1e-15, and to the
    original float64 data to float32 precision (data with modest means: rounding the data to float32 itself
    moves a metric by ~κ·6e-8)."""
    rng = np.random.default_rng(5)
    X, Y = naive.correlated_pair(rng, 500, 20, 15, mean=2.0)
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    m32 = moments_of({"x": X32, "y": Y32}, engine=engine, batch=64)
    m64c = moments_of({"x": X32.astype(np.float64), "y": Y32.astype(np.float64)}, engine=engine, batch=64)
    m64 = moments_of({"x": X, "y": Y}, engine=engine, batch=64)
    v32, v64c, v64 = (all_metrics(m, "x", "y") for m in (m32, m64c, m64))
    for k in v32:
        np.testing.assert_allclose(v32[k], v64c[k], rtol=1e-13, atol=0, err_msg=k)
        np.testing.assert_allclose(v32[k], v64[k], rtol=1e-5, atol=0, err_msg=k)


def test_float32_large_means_equals_widened_values():
    data = three_sites()
    d32 = {k: v.astype(np.float32) for k, v in data.items()}
    d64 = {k: v.astype(np.float64) for k, v in d32.items()}
    _assert_metrics_close(moments_of(d32, batch=50), moments_of(d64, batch=50), 1e-13)


def test_float16_accepted():
    rng = np.random.default_rng(6)
    X, Y = naive.correlated_pair(rng, 200, 8, 6, mean=1.0)
    X16, Y16 = X.astype(np.float16), Y.astype(np.float16)
    ref = naive.linear_cka(X16.astype(np.float64), Y16.astype(np.float64))
    np.testing.assert_allclose(repsim.cka(X16, Y16), ref, rtol=1e-12, atol=0)
    m = moments_of({"x": X16, "y": Y16}, batch=30)
    np.testing.assert_allclose(m.cka("x", "y", debiased=True),
                               naive.debiased_cka(X16.astype(np.float64), Y16.astype(np.float64)), rtol=1e-12, atol=0)
    np.testing.assert_allclose(m.cka("x", "y"), repsim.cka(X, Y), rtol=1e-2, atol=0)  # float16 precision


def test_mixed_dtypes_across_sites_and_batches():
    data = three_sites()
    d32 = {k: v.astype(np.float32) for k, v in data.items()}
    d64 = {k: v.astype(np.float64) for k, v in d32.items()}
    m = repsim.Moments()
    m.update({"a": d32["a"][:300], "b": d64["b"][:300], "c": d32["c"][:300]})
    m.update({"a": d64["a"][300:], "b": d32["b"][300:], "c": d64["c"][300:]})
    _assert_metrics_close(m, moments_of(d64, batch=300), 1e-13)


def test_non_contiguous_and_fortran_input():
    data = three_sites()
    X, Y = data["a"], data["b"]
    ref = repsim.cka(X, Y, debiased=True)
    np.testing.assert_allclose(repsim.cka(np.asfortranarray(X), Y, debiased=True), ref, rtol=1e-14, atol=0)
    wide = np.stack([X, -X], axis=2).reshape(X.shape[0], -1)[:, ::2]  # strided view, equal to X
    np.testing.assert_array_equal(wide, X)
    np.testing.assert_allclose(repsim.cka(wide, Y, debiased=True), ref, rtol=1e-14, atol=0)


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16", "float16"])
@pytest.mark.parametrize("requires_grad", [False, True])
def test_torch_cpu_tensors(dtype, requires_grad):
    torch = pytest.importorskip("torch")
    data = three_sites()
    X, Y = data["a"][:200], data["c"][:200]
    tdt = getattr(torch, dtype)
    tx = torch.tensor(X, dtype=tdt, requires_grad=requires_grad)
    ty = torch.tensor(Y, dtype=tdt)
    # the numpy equivalent of the tensor's values
    nx = tx.detach().to(torch.float64).numpy()
    ny = ty.detach().to(torch.float64).numpy()
    for debiased in (False, True):
        np.testing.assert_allclose(repsim.cka(tx, ty, debiased=debiased), repsim.cka(nx, ny, debiased=debiased),
                                   rtol=1e-13, atol=0)
    np.testing.assert_allclose(repsim.rv2(tx, ty, center=False), repsim.rv2(nx, ny, center=False), rtol=1e-13, atol=0)
    m = repsim.Moments()
    for s in range(0, 200, 64):
        m.update({"x": tx[s:s + 64], "y": ty[s:s + 64]})
    mn = moments_of({"x": nx, "y": ny}, batch=64)
    _assert_metrics_close(m, mn, 1e-13, pairs=[("x", "y")])
    if requires_grad:
        assert tx.grad is None  # nothing was differentiated


def test_torch_non_contiguous_tensor():
    torch = pytest.importorskip("torch")
    data = three_sites()
    X, Y = data["a"], data["b"]
    tX = torch.tensor(np.ascontiguousarray(X.T)).T  # a transposed (non-contiguous) view with X's values
    assert not tX.is_contiguous()
    np.testing.assert_allclose(repsim.cka(tX, Y), repsim.cka(X, Y), rtol=1e-14, atol=0)


# ------------------------------------------------------------------------------------------ engines


@pytest.mark.skipif(len(repsim._engines.available_engines()) < 2, reason="needs both the C++ and the Numba engine")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_threads", [1, 4])
def test_engines_give_the_same_G(dtype, n_threads):
    """C++ (including its multi-threaded path: rows·d ≥ 2·65536) and Numba build the same G."""
    rng = np.random.default_rng(9)
    a, b = naive.large_mean_pair(rng, 6000, 60, 40, kappa_max=1e3)
    data = {"a": a.astype(dtype), "b": b.astype(dtype)}
    mc = moments_of(data, engine="cpp", batch=[100, 5000, 900], n_threads=n_threads)
    mn = moments_of(data, engine="numba", batch=[100, 5000, 900], n_threads=n_threads)
    assert mc.engine == "cpp" and mn.engine == "numba"
    for center in (True, False):
        assert_statistics_close(all_statistics(mc, center), all_statistics(mn, center), 1e-12)
    _assert_metrics_close(mc, mn, 1e-12, pairs=[("a", "b")])


def test_n_threads_do_not_change_results(engine):
    rng = np.random.default_rng(10)
    a, b = naive.large_mean_pair(rng, 5000, 40, 30)
    data = {"a": a, "b": b}
    m1 = moments_of(data, engine=engine, n_threads=1)
    m8 = moments_of(data, engine=engine, n_threads=8)
    _assert_metrics_close(m1, m8, 1e-14, pairs=[("a", "b")])


# ------------------------------------------------------------------------------------------ matrices


@functools.lru_cache(maxsize=None)
def four_sites():
    rng = np.random.default_rng(12)
    a, b = naive.large_mean_pair(rng, 300, 12, 9, kappa_max=1e2)
    c, d = naive.correlated_pair(rng, 300, 7, 5, mean=3.0)
    return {"a": a, "b": b, "c": c, "d": d}


MATRIX_CASES = [  # (metric, options, the pairwise call it must equal, the naive.ORACLES key)
    ("cka", {}, lambda m, x, y: m.cka(x, y), "cka"),
    ("cka", {"debiased": True}, lambda m, x, y: m.cka(x, y, debiased=True), "debiased_cka"),
    ("debiased_cka", {}, lambda m, x, y: m.cka(x, y, debiased=True), "debiased_cka"),
    ("rv", {}, lambda m, x, y: m.rv(x, y), "rv"),
    ("rv", {"center": False}, lambda m, x, y: m.rv(x, y, center=False), "rv_uncentred"),
    ("rv2", {}, lambda m, x, y: m.rv2(x, y), "rv2"),
    ("rv2", {"center": False}, lambda m, x, y: m.rv2(x, y, center=False), "rv2_uncentred"),
]


@pytest.mark.parametrize("metric,options,pairwise,oracle", MATRIX_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in MATRIX_CASES])
def test_matrix_equals_pairwise_calls(metric, options, pairwise, oracle):
    data = four_sites()
    m = moments_of(data, batch=64)
    S = m.matrix(metric, **options)
    assert isinstance(S, repsim.SimilarityMatrix)
    assert S.metric == metric
    assert S.rows == S.cols == ("a", "b", "c", "d")
    assert S.shape == S.values.shape == (4, 4)
    for k, v in options.items():
        assert S.options[k] == v
    for i, x in enumerate(S.rows):
        for j, y in enumerate(S.cols):
            np.testing.assert_allclose(S.values[i, j], pairwise(m, x, y), rtol=1e-14, atol=0)
            assert S[x, y] == S.values[i, j]
    np.testing.assert_allclose(S.values, S.values.T, rtol=1e-14, atol=0)
    np.testing.assert_allclose(np.diag(S.values), 1.0, rtol=1e-12, atol=0)
    # and the entries are the oracle's
    for x, y in [("a", "c"), ("b", "d"), ("a", "b")]:
        np.testing.assert_allclose(S[x, y], naive.ORACLES[oracle](data[x], data[y]), rtol=RTOL, atol=0)


def test_matrix_default_options_recorded():
    m = moments_of(four_sites())
    assert m.matrix("cka").options == {"debiased": False}
    assert m.matrix("rv").options == {"center": True}
    assert m.matrix("rv2", center=False).options == {"center": False}
    assert m.matrix("debiased_cka").options == {}


def test_matrix_rows_cols_subsets_and_labels():
    data = four_sites()
    m = moments_of(data)
    S = m.matrix("cka", rows=["d", "a"], cols=["b", "c", "a"])
    assert S.rows == ("d", "a") and S.cols == ("b", "c", "a")
    assert S.shape == (2, 3)
    for i, x in enumerate(S.rows):
        for j, y in enumerate(S.cols):
            assert S.values[i, j] == m.cka(x, y)
            assert S[x, y] == m.cka(x, y)
    np.testing.assert_allclose(S["a", "a"], 1.0, rtol=1e-12, atol=0)
    assert S[0, 2] == S["d", "a"]
    single = m.matrix("rv2", rows="c")
    assert single.rows == ("c",) and single.cols == ("a", "b", "c", "d") and single.shape == (1, 4)
    with pytest.raises(KeyError, match="'zz'"):
        S["zz", "a"]
    with pytest.raises(KeyError, match="'b'"):
        S["b", "a"]  # 'b' is a column label, not a row label
    with pytest.raises(ValueError):
        S.values[0, 0] = 0.5  # read only


def test_to_dict_and_to_pandas():
    data = four_sites()
    m = moments_of(data)
    S = m.matrix("rv2", rows=["a", "b"], cols=["c", "d", "a"], center=False)
    d = S.to_dict()
    assert d["metric"] == "rv2"
    assert d["options"] == {"center": False}
    assert d["rows"] == ["a", "b"] and d["cols"] == ["c", "d", "a"]
    assert isinstance(d["values"], list) and all(isinstance(r, list) for r in d["values"])
    np.testing.assert_array_equal(np.array(d["values"]), S.values)
    assert all(type(v) is float for r in d["values"] for v in r)
    import json

    assert json.loads(json.dumps(d)) == d
    pd = pytest.importorskip("pandas")
    df = S.to_pandas()
    assert isinstance(df, pd.DataFrame)
    assert list(df.index) == ["a", "b"] and list(df.columns) == ["c", "d", "a"]
    np.testing.assert_array_equal(df.to_numpy(), S.values)
    assert df.loc["b", "d"] == S["b", "d"]


def test_to_dict_nan_is_none():
    rng = np.random.default_rng(13)
    m = repsim.Moments().update({"x": rng.normal(size=(20, 3)), "k": np.full((20, 2), 4.25)})
    with pytest.warns(RuntimeWarning, match="'k'"):
        S = m.matrix("cka")
    assert math.isnan(S["x", "k"]) and math.isnan(S["k", "k"])
    np.testing.assert_allclose(S["x", "x"], 1.0, rtol=1e-12, atol=0)
    d = S.to_dict()
    assert d["values"][0][1] is None and d["values"][1][0] is None and d["values"][1][1] is None
    assert d["values"][0][0] == S["x", "x"]
