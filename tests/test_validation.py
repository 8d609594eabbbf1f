"""Bad input: exception types and the words of the messages (site, batch, shapes, dtypes); degenerate input:
RuntimeWarning and NaN; Moments state unchanged after a rejected update; load() of foreign files.

Batches are numbered from 0 in the order of the successful ``update`` calls: the third update is "batch 2".
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

import naive
import repsim
from _helpers import all_metrics, all_statistics, assert_statistics_equal


def _stream(rng, engine="auto", batches=2, rows=20):
    m = repsim.Moments(engine=engine)
    for _ in range(batches):
        m.update({"a": rng.normal(size=(rows, 4)) + 3.0, "b": rng.normal(size=(rows, 3))})
    return m


def _good(rng, rows=20):
    return {"a": rng.normal(size=(rows, 4)) + 3.0, "b": rng.normal(size=(rows, 3))}


def _assert_unchanged(m, n, metrics, stats):
    assert m.n == n
    assert all_metrics(m, "a", "b") == metrics
    assert_statistics_equal(all_statistics(m, True), stats)


# ------------------------------------------------------------------------------------------ non-finite input


@pytest.mark.parametrize("bad,word", [(np.nan, "NaN"), (np.inf, "Inf"), (-np.inf, "Inf")])
def test_nonfinite_in_batch_2_names_site_and_batch_and_keeps_state(bad, word, engine, rng):
    m = _stream(rng, engine)  # batches 0 and 1
    n, metrics, stats = m.n, all_metrics(m, "a", "b"), all_statistics(m, True)
    batch = _good(rng)
    batch["b"][5, 2] = bad
    with pytest.raises(ValueError) as exc:
        m.update(batch)
    msg = str(exc.value)
    assert "'b'" in msg and "batch 2" in msg and word in msg, msg
    assert "row 5" in msg and "column 2" in msg, msg
    assert "'a'" not in msg
    _assert_unchanged(m, n, metrics, stats)
    # the stream goes on, and the failed batch left no trace
    ok = _good(rng)
    ref = m.copy().update(ok)
    m.update(ok)
    assert m.n == n + 20
    assert all_metrics(m, "a", "b") == all_metrics(ref, "a", "b")


@pytest.mark.parametrize("bad,word", [(np.nan, "NaN"), (np.inf, "Inf")])
def test_nonfinite_in_first_batch(bad, word, engine, rng):
    """In the first batch the reference (the batch mean) is itself poisoned by the NaN; the message must still
    say NaN/Inf and point at the right entry, and the Moments must stay empty."""
    m = repsim.Moments(engine=engine)
    batch = _good(rng)
    batch["b"][7, 1] = bad
    with pytest.raises(ValueError) as exc:
        m.update(batch)
    msg = str(exc.value)
    assert "'b'" in msg and "batch 0" in msg and word in msg, msg
    assert "row 7" in msg and "column 1" in msg, msg
    assert m.n == 0 and m.sites == () and m.dims == {}
    m.update(_good(rng))  # still usable
    assert m.n == 20 and m.sites == ("a", "b")


def test_nan_found_in_a_late_row_of_a_threaded_batch(engine, rng):
    """Large batch (the C++ pass splits rows across threads): the NaN sits in the last chunk."""
    m = repsim.Moments(engine=engine, n_threads=4)
    m.update({"a": rng.normal(size=(10, 40)), "b": rng.normal(size=(10, 30))})
    a, b = rng.normal(size=(8000, 40)), rng.normal(size=(8000, 30))
    b[7777, 29] = np.nan
    with pytest.raises(ValueError, match=r"site 'b' \(batch 1\): NaN at row 7777, column 29"):
        m.update({"a": a, "b": b})
    assert m.n == 10


@pytest.mark.parametrize("first", [True, False])
def test_overflow_values_rejected(first, engine, rng):
    """1e200 is finite, but its square is not."""
    m = repsim.Moments(engine=engine)
    if not first:
        m.update(_good(rng))
    batch = _good(rng)
    batch["a"][3] = 1e200
    with pytest.raises(ValueError) as exc:
        m.update(batch)
    msg = str(exc.value)
    assert "'a'" in msg and f"batch {0 if first else 1}" in msg and "too large" in msg, msg
    assert m.n == (0 if first else 20)


def test_one_shot_nonfinite(rng):
    X, Y = rng.normal(size=(30, 4)), rng.normal(size=(30, 3))
    Y[4, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        repsim.cka(X, Y)
    X[2, 2] = np.inf
    with pytest.raises(ValueError, match="Inf"):
        repsim.rv2(X, Y)


def _accurate_or_rejected(X, Y, ref):
    """A scale-invariant metric of finite, in-range float64 data must be accurate or raise ValueError; a silently
    wrong number (or a NaN blamed on a 'constant representation') is a bug."""
    try:
        v = repsim.cka(X, Y, debiased=False)
        d = repsim.cka(X, Y, debiased=True)
    except ValueError:
        return
    np.testing.assert_allclose(v, ref[0], rtol=1e-10, atol=0)
    np.testing.assert_allclose(d, ref[1], rtol=1e-10, atol=0)


@pytest.mark.parametrize("scale", [1e-60, 1e60, 1e74, 1e75, 1e76, 1e100])
def test_huge_scales_are_exact_or_rejected(scale, rng):
    """Measured before the kMaxNorm check: 1e75-scaled data returned CKA = 0.0 silently."""
    X, Y = naive.correlated_pair(rng, 50, 4, 3, noise=0.5)
    ref = (repsim.cka(X, Y), repsim.cka(X, Y, debiased=True))
    _accurate_or_rejected(scale * X, Y, ref)


@pytest.mark.parametrize("scale", [1e-78, 1e-80])
def test_tiny_scales_are_exact_or_rejected(scale, rng):
    """Values ~1e-80 are normal float64 numbers; CKA is scale invariant. The fourth powers underflow into
    subnormals (1e-320), and the metrics come back silently wrong (measured: relative error 2.4e-8 at 1e-80,
    NaN with a 'constant representation' warning at 1e-82) — they should be exact or rejected like the
    overflow case."""
    X, Y = naive.correlated_pair(rng, 50, 4, 3, noise=0.5)
    ref = (repsim.cka(X, Y), repsim.cka(X, Y, debiased=True))
    _accurate_or_rejected(scale * X, Y, ref)


@pytest.mark.parametrize("offset", [1e70, 1e74, 1e76])
def test_uncentred_metrics_far_from_origin_are_exact_or_rejected(offset, rng):
    """X = offset·(1 + 1e-3·X0): the spread about the reference (offset·1e-3) passes the 1e150 squared-norm check,
    but the uncentred metrics shift the statistics to 0, where |x|² ≈ offset²·p and its square overflows.
    Measured at offset 1e76: uncentred RV = 0.0 and RV2 = −0.0 returned silently (expected 0.0096 and −0.021),
    while the centred metrics stay exact."""
    X0, Y = naive.correlated_pair(rng, 50, 4, 3, noise=0.5)
    X = offset * (1.0 + 1e-3 * X0)
    Xs = X / offset  # uncentred RV/RV2 are scale invariant: the oracle sees the same data at scale 1
    try:
        got_rv = repsim.rv(X, Y, center=False)
        got_rv2 = repsim.rv2(X, Y, center=False)
    except ValueError:
        got_rv = got_rv2 = None
    if got_rv is not None:
        np.testing.assert_allclose(got_rv, naive.rv(Xs, Y, center=False), rtol=1e-10, atol=0)
        np.testing.assert_allclose(got_rv2, naive.rv2(Xs, Y, center=False), rtol=1e-10, atol=0)
    # the centred metrics are affine invariant: X is an affine image of X0
    np.testing.assert_allclose(repsim.cka(X, Y), naive.linear_cka(X0, Y), rtol=1e-10, atol=0)
    np.testing.assert_allclose(repsim.rv2(X, Y), naive.rv2(X0, Y), rtol=1e-10, atol=0)


def test_merge_of_far_apart_shards_is_exact_or_rejected(rng):
    """Two shards whose references are 1e76 apart. One pass over the same rows is rejected (the squared distance
    to the reference exceeds the 1e150 guard); the merge must not turn the same data into a silently wrong
    number. Measured: every metric of the merged Moments is 0.0, with no warning.

    Exact value: centred, the second site is Xc + 1e76·(u − ū)1ᵀ with u the shard indicator, so to ~1e-76 the
    metrics are those of the rank-one matrix (u − ū)1ᵀ."""
    X, Y = naive.correlated_pair(rng, 100, 4, 3)
    u = np.r_[np.zeros(50), np.ones(50)]
    X2 = X + 1e76 * u[:, None]
    with pytest.raises(ValueError, match="too large"):
        repsim.cka(X2, Y)
    a = repsim.Moments().update({"x": X2[:50], "y": Y[:50]})
    b = repsim.Moments().update({"x": X2[50:], "y": Y[50:]})
    try:
        a.merge(b)
        got = (a.cka("x", "y"), a.rv2("x", "y"))
    except ValueError:
        return
    R = np.outer(u, np.ones(4))
    np.testing.assert_allclose(got[0], naive.linear_cka(R, Y), rtol=1e-10, atol=0)
    np.testing.assert_allclose(got[1], naive.rv2(R, Y), rtol=1e-10, atol=0)


# ------------------------------------------------------------------------------------------ shapes


@pytest.mark.parametrize("shape", [(10,), (2, 5, 3), ()])
def test_not_2d_rejected(shape, rng):
    m = repsim.Moments()
    bad = rng.normal(size=shape) if shape else np.float64(1.0)
    with pytest.raises(ValueError) as exc:
        m.update({"a": rng.normal(size=(10, 4)), "b": bad})
    msg = str(exc.value)
    assert "'b'" in msg and "batch 0" in msg and "2-D" in msg and str(tuple(shape)) in msg, msg
    assert m.n == 0
    with pytest.raises(ValueError, match=re.escape(str(tuple(shape)))):
        repsim.cka(rng.normal(size=(10, 3)), bad)


def test_not_2d_in_later_batch(rng):
    m = _stream(rng)
    with pytest.raises(ValueError, match=r"'a'.*batch 2.*2-D.*\(20,\)"):
        m.update({"a": rng.normal(size=20), "b": rng.normal(size=(20, 3))})
    assert m.n == 40


def test_row_count_mismatch(rng):
    m = repsim.Moments()
    with pytest.raises(ValueError) as exc:
        m.update({"a": rng.normal(size=(10, 4)), "b": rng.normal(size=(9, 3))})
    msg = str(exc.value)
    assert "batch 0" in msg and "(10, 4)" in msg and "(9, 3)" in msg and "rows" in msg, msg
    m = _stream(rng)
    with pytest.raises(ValueError, match=r"batch 2.*(?=.*\(20, 4\))(?=.*\(21, 3\))"):
        m.update({"a": rng.normal(size=(20, 4)), "b": rng.normal(size=(21, 3))})
    assert m.n == 40
    with pytest.raises(ValueError) as exc:
        repsim.cka(rng.normal(size=(10, 3)), rng.normal(size=(11, 3)))
    assert "(10, 3)" in str(exc.value) and "(11, 3)" in str(exc.value)


def test_width_change_in_later_update(rng):
    m = _stream(rng)
    n, metrics, stats = m.n, all_metrics(m, "a", "b"), all_statistics(m, True)
    with pytest.raises(ValueError) as exc:
        m.update({"a": rng.normal(size=(20, 5)), "b": rng.normal(size=(20, 3))})
    msg = str(exc.value)
    assert "'a'" in msg and "batch 2" in msg and "4 features" in msg and "(20, 5)" in msg, msg
    _assert_unchanged(m, n, metrics, stats)


def test_unknown_and_missing_sites(rng):
    m = _stream(rng)
    n, metrics, stats = m.n, all_metrics(m, "a", "b"), all_statistics(m, True)
    with pytest.raises(ValueError) as exc:
        m.update({**_good(rng), "zz": rng.normal(size=(20, 2))})
    msg = str(exc.value)
    assert "unknown" in msg and "'zz'" in msg and "batch 2" in msg, msg
    with pytest.raises(ValueError) as exc:
        m.update({"a": rng.normal(size=(20, 4))})
    msg = str(exc.value)
    assert "missing" in msg and "'b'" in msg and "batch 2" in msg, msg
    with pytest.raises(ValueError, match="(?=.*unknown.*'c')(?=.*missing.*'b')"):
        m.update({"a": rng.normal(size=(20, 4)), "c": rng.normal(size=(20, 3))})
    _assert_unchanged(m, n, metrics, stats)


def test_zero_rows(rng):
    m = repsim.Moments()
    with pytest.raises(ValueError, match="(?=.*batch 0)(?=.*at least one row)"):
        m.update({"a": np.empty((0, 4)), "b": np.empty((0, 3))})
    assert m.n == 0 and m.sites == ()
    # a later empty batch is a legal no-op
    m = _stream(rng)
    n, metrics = m.n, all_metrics(m, "a", "b")
    m.update({"a": np.empty((0, 4)), "b": np.empty((0, 3))})
    assert m.n == n and all_metrics(m, "a", "b") == metrics
    with pytest.raises(ValueError, match="X and Y have no rows"):
        repsim.cka(np.empty((0, 3)), np.empty((0, 2)))


def test_zero_features(rng):
    with pytest.raises(ValueError, match=r"(?=.*'b')(?=.*no features)(?=.*\(10, 0\))"):
        repsim.Moments().update({"a": rng.normal(size=(10, 4)), "b": np.empty((10, 0))})


def test_empty_and_non_mapping_batches(rng):
    m = repsim.Moments()
    with pytest.raises(ValueError, match="(?=.*batch 0)(?=.*no sites)"):
        m.update({})
    for bad in ([rng.normal(size=(10, 3))], rng.normal(size=(10, 3)), "a", None, [("a", np.ones((3, 2)))]):
        with pytest.raises(TypeError, match="mapping"):
            m.update(bad)
    with pytest.raises(TypeError, match="site names must be str"):
        m.update({0: rng.normal(size=(10, 3))})
    assert m.n == 0


# ------------------------------------------------------------------------------------------ dtypes


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_, np.complex128, np.complex64, object])
def test_non_float_dtypes_rejected(dtype, rng):
    bad = (rng.normal(size=(10, 3)) * 3).astype(dtype)
    m = repsim.Moments()
    with pytest.raises(TypeError) as exc:
        m.update({"a": rng.normal(size=(10, 4)), "b": bad})
    msg = str(exc.value)
    assert "'b'" in msg and "batch 0" in msg and np.dtype(dtype).name in msg, msg
    assert m.n == 0
    with pytest.raises(TypeError, match=np.dtype(dtype).name):
        repsim.cka(bad, rng.normal(size=(10, 2)))
    # in a later batch, too
    m.update({"a": rng.normal(size=(10, 4)), "b": rng.normal(size=(10, 3))})
    with pytest.raises(TypeError, match="(?=.*'b')(?=.*batch 1)"):
        m.update({"a": rng.normal(size=(10, 4)), "b": bad})
    assert m.n == 10


def test_integer_lists_rejected():
    with pytest.raises(TypeError, match="int"):
        repsim.rv([[1, 2], [3, 4], [5, 7]], [[1.0], [2.0], [4.0]])


def test_ragged_input_rejected():
    with pytest.raises((TypeError, ValueError)):
        repsim.cka([[1.0, 2.0], [3.0]], [[1.0], [2.0]])


def test_torch_non_float_rejected(rng):
    torch = pytest.importorskip("torch")
    for t in (torch.arange(30).reshape(10, 3), torch.ones(10, 3, dtype=torch.bool),
              torch.ones(10, 3, dtype=torch.complex64)):
        with pytest.raises(TypeError, match="(?=.*'b')(?=.*batch 0)"):
            repsim.Moments().update({"a": rng.normal(size=(10, 2)), "b": t})
    with pytest.raises(ValueError, match=r"2-D.*\(10,\)"):
        repsim.Moments().update({"a": torch.ones(10)})


def test_big_endian_float64_accepted(rng):
    """'>f8' is float64 (e.g. data read from a big-endian file); it should be accepted like '<f8'."""
    X, Y = naive.correlated_pair(rng, 50, 4, 3)
    ref = repsim.cka(X, Y)
    np.testing.assert_allclose(repsim.cka(X.astype(">f8"), Y), ref, rtol=1e-14, atol=0)
    np.testing.assert_allclose(repsim.cka(X.astype(">f4"), Y), repsim.cka(X.astype("<f4"), Y), rtol=1e-14, atol=0)


# ------------------------------------------------------------------------------------------ debiased n ≥ 4


def test_debiased_needs_four_samples(rng):
    X, Y = rng.normal(size=(3, 4)), rng.normal(size=(3, 2))
    with pytest.raises(ValueError, match="(?=.*at least 4)(?=.*n=3)"):
        repsim.cka(X, Y, debiased=True)
    m = repsim.Moments().update({"a": X, "b": Y})
    with pytest.raises(ValueError, match="n=3"):
        m.cka("a", "b", debiased=True)
    with pytest.raises(ValueError, match="n=3"):
        m.matrix("debiased_cka")
    with pytest.raises(ValueError, match="n=3"):
        m.matrix("cka", debiased=True)
    # the biased metrics are defined at n = 3, and one more row makes debiased CKA legal
    np.testing.assert_allclose(m.cka("a", "b"), naive.linear_cka(X, Y), rtol=1e-12, atol=0)
    m.update({"a": rng.normal(size=(1, 4)), "b": rng.normal(size=(1, 2))})
    assert math.isfinite(m.cka("a", "b", debiased=True))


# ------------------------------------------------------------------------------------------ degenerate input


@pytest.mark.parametrize("value", [0.0, 0.1, 1.0 / 3.0, 1e3 + 0.1, -7.25])
def test_constant_site_warns_and_returns_nan(value, rng):
    X = rng.normal(size=(50, 4))
    C = np.full((50, 3), value)
    calls = [
        ("linear CKA", lambda: repsim.cka(X, C)),
        ("linear CKA", lambda: repsim.cka(C, X)),
        ("debiased CKA", lambda: repsim.cka(X, C, debiased=True)),
        ("RV", lambda: repsim.rv(X, C)),
        ("RV2", lambda: repsim.rv2(C, X)),
    ]
    if value == 0.0:  # an all-zero site has no uncentred Gram either
        calls += [("RV", lambda: repsim.rv(X, C, center=False)), ("RV2", lambda: repsim.rv2(X, C, center=False))]
    for name, call in calls:
        with pytest.warns(RuntimeWarning, match=name) as rec:
            v = call()
        assert math.isnan(v), (name, v)
        assert any("'Y'" in str(w.message) or "'X'" in str(w.message) for w in rec)


def test_constant_site_in_a_stream_names_the_site(rng):
    m = repsim.Moments()
    for _ in range(3):
        m.update({"x": rng.normal(size=(20, 3)), "dead": np.full((20, 5), 2.5)})
    with pytest.warns(RuntimeWarning, match="'dead'"):
        assert math.isnan(m.cka("x", "dead"))
    with pytest.warns(RuntimeWarning, match="'dead'"):
        assert math.isnan(m.rv2("dead", "x"))
    # uncentred RV of a nonzero constant is defined (its raw Gram is not zero): no warning
    v = m.rv("x", "dead", center=False)
    assert 0.0 <= v <= 1.0


def test_constant_column_is_not_degenerate(rng):
    """One dead unit inside a live layer is legal and changes nothing."""
    X, Y = naive.correlated_pair(rng, 80, 5, 4)
    Xd = np.concatenate([X, np.full((80, 1), 3.0)], axis=1)
    np.testing.assert_allclose(repsim.cka(Xd, Y), repsim.cka(X, Y), rtol=1e-12, atol=0)
    np.testing.assert_allclose(repsim.cka(Xd, Y, debiased=True), repsim.cka(X, Y, debiased=True), rtol=1e-12, atol=0)


def test_single_sample_warns(rng):
    with pytest.warns(RuntimeWarning):
        assert math.isnan(repsim.cka(rng.normal(size=(1, 3)), rng.normal(size=(1, 2))))
    with pytest.warns(RuntimeWarning):
        assert math.isnan(repsim.rv2(rng.normal(size=(1, 3)), rng.normal(size=(1, 2)), center=False))


# ------------------------------------------------------------------------------------------ metric arguments


def test_matrix_bad_metric_and_options(rng):
    m = _stream(rng)
    with pytest.raises(ValueError, match="(?=.*unknown metric)(?=.*'not_a_metric')"):
        m.matrix("not_a_metric")
    with pytest.raises(ValueError, match="unknown metric"):
        m.matrix("Cka")  # names are case sensitive ("CKA" is ReSi's id of cka)
    with pytest.raises(TypeError, match="metric must be a str"):
        m.matrix(3)
    with pytest.raises(TypeError, match="(?=.*'rv')(?=.*debiased)"):
        m.matrix("rv", debiased=True)
    with pytest.raises(TypeError, match="center"):
        m.matrix("cka", center=False)
    with pytest.raises(TypeError, match="debiased"):
        m.matrix("debiased_cka", debiased=True)
    with pytest.raises(ValueError, match="(?=.*rows)(?=.*'zz')"):
        m.matrix("cka", rows=["a", "zz"])
    with pytest.raises(ValueError, match="(?=.*cols)(?=.*'zz')"):
        m.matrix("cka", cols=["zz"])
    with pytest.raises(ValueError, match="rows is empty"):
        m.matrix("cka", rows=[])
    with pytest.raises(TypeError, match="rows"):
        m.matrix("cka", rows=[1])


def test_metric_on_unknown_or_bad_site(rng):
    m = _stream(rng)
    with pytest.raises(ValueError, match="(?=.*unknown site)(?=.*'q')"):
        m.cka("a", "q")
    with pytest.raises(ValueError, match="'q'"):
        m.rv("q", "a")
    with pytest.raises(ValueError, match="'q'"):
        m.rv2("a", "q", center=False)
    with pytest.raises(ValueError, match="'q'"):
        m.mean("q")
    with pytest.raises(TypeError, match="str"):
        m.cka("a", 1)


def test_empty_moments_rejects_queries(tmp_path):
    m = repsim.Moments()
    for call in (lambda: m.cka("a", "b"), lambda: m.matrix("cka"), lambda: m.mean("a"),
                 lambda: m.save(tmp_path / "x.npz")):
        with pytest.raises(ValueError, match="empty"):
            call()


def test_constructor_arguments():
    with pytest.raises(ValueError, match="engine"):
        repsim.Moments(engine="fortran")
    with pytest.raises(TypeError, match="engine"):
        repsim.Moments(engine=None)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="n_threads"):
            repsim.Moments(n_threads=bad)


def test_merge_incompatible(rng):
    m = _stream(rng)
    with pytest.raises(TypeError, match="Moments"):
        m.merge({"a": np.ones((3, 4))})
    other = repsim.Moments().update({"a": rng.normal(size=(5, 4)), "c": rng.normal(size=(5, 3))})
    with pytest.raises(ValueError, match="different sites"):
        m.merge(other)
    wider = repsim.Moments().update({"a": rng.normal(size=(5, 5)), "b": rng.normal(size=(5, 3))})
    with pytest.raises(ValueError, match="different sites"):
        m.merge(wider)
    assert m.n == 40


# ------------------------------------------------------------------------------------------ load


def test_load_rejects_foreign_files(tmp_path, rng):
    p = tmp_path / "random.npz"
    np.savez(p, a=rng.normal(size=(3, 3)), b=np.arange(4))
    with pytest.raises(ValueError, match="not a repsim Moments file"):
        repsim.Moments.load(p)
    t = tmp_path / "notes.txt"
    t.write_text("hello, this is not an npz archive\n" * 10)
    with pytest.raises(ValueError, match="not a repsim Moments file"):
        repsim.Moments.load(t)
    s = tmp_path / "single.npy"
    np.save(s, rng.normal(size=(4, 4)))
    with pytest.raises(ValueError, match="not a repsim Moments file"):
        repsim.Moments.load(s)


def test_load_rejects_empty_file(tmp_path):
    """A zero-byte file (e.g. a save interrupted before any byte was written) is not a Moments file either."""
    e = tmp_path / "empty.npz"
    e.write_bytes(b"")
    with pytest.raises(ValueError, match="not a repsim Moments file"):
        repsim.Moments.load(e)


def _rewrite(src, dst, **changes):
    with np.load(src) as d:
        fields = {k: d[k] for k in d.files}
    for k, v in changes.items():
        if v is None:
            fields.pop(k)
        else:
            fields[k] = v
    np.savez(dst, **fields)


def test_load_rejects_wrong_version_and_damage(tmp_path, rng):
    m = _stream(rng)
    good = tmp_path / "good.npz"
    m.save(good)
    assert repsim.Moments.load(good).n == m.n
    for version in (0, 2, 99):
        bad = tmp_path / f"v{version}.npz"
        _rewrite(good, bad, version=np.array(version))
        with pytest.raises(ValueError, match=f"(?=.*version {version})"):
            repsim.Moments.load(bad)
    nov = tmp_path / "noversion.npz"
    _rewrite(good, nov, version=None)
    with pytest.raises(ValueError, match="version"):
        repsim.Moments.load(nov)
    fmt = tmp_path / "format.npz"
    _rewrite(good, fmt, format=np.array("something.else"))
    with pytest.raises(ValueError, match="format"):
        repsim.Moments.load(fmt)
    missing = tmp_path / "missing.npz"
    _rewrite(good, missing, G_upper=None)
    with pytest.raises(ValueError, match="(?=.*damaged)(?=.*G_upper)"):
        repsim.Moments.load(missing)
    short = tmp_path / "short.npz"
    with np.load(good) as d:
        g = d["G_upper"]
    _rewrite(good, short, G_upper=g[:-1])
    with pytest.raises(ValueError, match="damaged"):
        repsim.Moments.load(short)


def test_name_lists_and_positive_ints_are_checked_in_one_place():
    from repsim._validation import name_tuple, positive_int

    assert name_tuple("a", "sites", "site") == ("a",)
    assert name_tuple(["a", "b"], "sites", "site") == ("a", "b")
    with pytest.raises(TypeError, match="metrics must be a metric name or a sequence of them, got int"):
        name_tuple(3, "metrics", "metric")
    with pytest.raises(ValueError, match="metrics is empty"):
        name_tuple([], "metrics", "metric")
    with pytest.raises(TypeError, match="metric names must be str, got 1"):
        name_tuple(["cka", 1], "metrics", "metric")
    with pytest.raises(ValueError, match=r"metrics: metric\(s\) \['cka'\] given more than once"):
        name_tuple(["cka", "rv", "cka"], "metrics", "metric")
    assert positive_int(np.int64(3), "k") == 3 and type(positive_int(np.int64(3), "k")) is int
    for bad in (0, -1, True, 2.0, "3"):
        with pytest.raises(ValueError, match="k must be a positive int"):
            positive_int(bad, "k")


def test_one_shot_errors_name_the_callers_row_beyond_the_first_chunk(rng):
    """One-shot functions stream chunks of 8192 rows; a NaN found by the fused pass is reported at its row in the
    caller's array, not in the chunk."""
    X, Y = rng.normal(size=(9000, 3)), rng.normal(size=(9000, 2))
    X[8500, 1] = np.nan
    with pytest.raises(ValueError, match=r"^X: NaN at row 8500, column 1; activations must be finite"):
        repsim.cka(X, Y)
    X[8500, 1] = 0.0
    Y[8200, 0] = np.inf
    with pytest.raises(ValueError, match=r"^Y: Inf at row 8200, column 0"):
        repsim.rv2(X, Y)


def test_compiled_boundary_rejects_what_python_would_never_send():
    """The C++ fused pass checks its inputs once more (a misuse must raise, not read out of bounds)."""
    from repsim._engines import require_core

    core = require_core("fill_augmented")
    out = np.zeros((4, 3 + 1 + 1))
    ref = np.zeros(3)
    good = np.ones((4, 3))
    assert core.fill_augmented(out, [good], [ref]) == (-1, -1)
    for bad in (good.astype(np.int64), good.astype(">f8"), np.ones((3, 4)).T, good.astype(np.float16)):
        with pytest.raises(TypeError, match="site 0 must be a C-contiguous float32 or float64 array"):
            core.fill_augmented(out, [bad], [ref])
    with pytest.raises(ValueError, match="site 0 must be 2-D with as many rows as out"):
        core.fill_augmented(out, [np.ones((5, 3))], [ref])
    with pytest.raises(TypeError, match="reference 0 must be a C-contiguous float64 array"):
        core.fill_augmented(out, [good], [ref.astype(np.float32)])
    with pytest.raises(ValueError, match="reference 0 must be a vector of the site's width"):
        core.fill_augmented(out, [good], [np.zeros(2)])
