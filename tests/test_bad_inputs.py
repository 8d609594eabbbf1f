"""The standing bad-input table (issue 14): every public one-shot function, ``Moments.update`` and
``GramMoments.update_features`` against malformed, degenerate and extreme input.

Each case gets the documented result, a RuntimeWarning with the documented value, or a ValueError / TypeError whose
message names the argument (and, for the accumulators, the site and batch / block) — and an accumulator's statistics
are unchanged after a rejected batch. Regression tests of issue 14's items 4 and 6 follow the table.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import repsim

torch = pytest.importorskip("torch")
pd = pytest.importorskip("pandas")

RNG = np.random.default_rng(14)
N = 40
X0 = RNG.normal(size=(N, 5))
Y0 = X0[:, :4] @ RNG.normal(size=(4, 4)) + 0.1 * RNG.normal(size=(N, 4))

# name -> (call on (X, Y), documented range of its number)
FUNCS = {
    "cka": (lambda X, Y: repsim.cka(X, Y), (0.0, 1.0)),
    "cka_gram": (lambda X, Y: repsim.cka(X, Y, space="gram"), (0.0, 1.0)),
    "debiased_cka": (lambda X, Y: repsim.cka(X, Y, debiased=True), (-1.0, 1.0)),
    "rbf_cka": (lambda X, Y: repsim.cka(X, Y, kernel="rbf"), (0.0, 1.0)),
    "rv": (lambda X, Y: repsim.rv(X, Y), (0.0, 1.0)),
    "rv2": (lambda X, Y: repsim.rv2(X, Y), (-1.0, 1.0)),
    "cca": (lambda X, Y: repsim.cca(X, Y).mean_rho, (0.0, 1.0)),
    "svcca": (lambda X, Y: repsim.svcca(X, Y), (0.0, 1.0)),
    "pwcca": (lambda X, Y: repsim.pwcca(X, Y), (0.0, 1.0)),
    "procrustes": (lambda X, Y: repsim.procrustes(X, Y), (0.0, math.sqrt(2.0))),
    "affine_map": (lambda X, Y: repsim.affine_map(X, Y).r2_total, (-math.inf, 1.0)),
    "max_match": (lambda X, Y: repsim.max_match(X, Y, 0.5).similarity, (0.0, 1.0)),
    "match_curve": (lambda X, Y: repsim.match_curve(X, Y).similarity[-1], (0.0, 1.0)),
    "simple_matches": (lambda X, Y: repsim.simple_matches(X, Y, 0.5, n_threads=1).maximum.similarity, (0.0, 1.0)),
}


def _quiet(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call()


REF = {name: _quiet(lambda f=f: f(X0, Y0)) for name, (f, _) in FUNCS.items()}


# ---------------------------------------------------------------------------------------------------- inputs
def _with(a, row, col, value):
    a = a.copy()
    a[row, col] = value
    return a


def _memmap(tmp_path, a):
    mm = np.lib.format.open_memmap(str(tmp_path / "x.npy"), mode="w+", dtype=a.dtype, shape=a.shape)
    mm[:] = a
    mm.flush()
    return mm


def _read_only(a):
    a = a.copy()
    a.setflags(write=False)
    return a


def _object(a):
    return a.astype(object)


# case -> (make (X, Y) from tmp_path, expectation). Expectations: ("error", type, words the message must hold),
# ("same", rtol, (X, Y) the value must equal) — the reference pair is (X0, Y0) when None — or ("legal", warns):
# a value in the documented range, NaN only with a RuntimeWarning, or an error naming an argument; ``warns``
# requires a RuntimeWarning.
CASES = {
    "nan_first_row": (lambda t: (_with(X0, 0, 1, np.nan), Y0), ("error", ValueError, ["X", "NaN", "row 0"])),
    "inf_last_row": (lambda t: (_with(X0, N - 1, 2, np.inf), Y0), ("error", ValueError, ["X", "Inf", f"row {N - 1}"])),
    "nan_in_Y": (lambda t: (X0, _with(Y0, 5, 0, -np.inf)), ("error", ValueError, ["Y", "Inf"])),
    "int": (lambda t: (X0.astype(np.int64), Y0), ("error", TypeError, ["X", "int64"])),
    "bool": (lambda t: (X0 > 0, Y0), ("error", TypeError, ["X", "bool"])),
    "complex": (lambda t: (X0 + 0j, Y0), ("error", TypeError, ["X", "complex"])),
    "object": (lambda t: (_object(X0), Y0), ("error", TypeError, ["X", "object"])),
    "longdouble": (lambda t: (X0.astype(np.longdouble), Y0), ("error", TypeError, ["X", "float"])),
    "float16": (lambda t: (X0.astype(np.float16), Y0), ("same", 1e-6, (X0.astype(np.float16).astype(float), Y0))),
    "float32": (lambda t: (X0.astype(np.float32), Y0), ("same", 1e-6, (X0.astype(np.float32).astype(float), Y0))),
    "0_rows": (lambda t: (X0[:0], Y0[:0]), ("error", ValueError, ["X", "Y", "no rows"])),
    "1_row": (lambda t: (X0[:1], Y0[:1]), ("legal", False)),
    "2_rows": (lambda t: (X0[:2], Y0[:2]), ("legal", False)),
    "0_columns": (lambda t: (X0[:, :0], Y0), ("error", ValueError, ["X", "no features"])),
    "1-D": (lambda t: (X0[:, 0], Y0), ("error", ValueError, ["X", "2-D"])),
    "3-D": (lambda t: (X0[:, :, None], Y0), ("error", ValueError, ["X", "2-D"])),
    "row_mismatch": (lambda t: (X0, Y0[:-1]), ("error", ValueError, ["X", "Y", "same number of rows"])),
    "negative_strides": (lambda t: (X0[::-1, ::-1], Y0[::-1]),
                         ("same", 0.0, (X0[::-1, ::-1].copy(), Y0[::-1].copy()))),
    "read_only": (lambda t: (_read_only(X0), _read_only(Y0)), ("same", 0.0, None)),
    "memmap": (lambda t: (_memmap(t, X0), Y0), ("same", 0.0, None)),
    "big_endian": (lambda t: (X0.astype(">f8"), Y0), ("same", 0.0, None)),
    "huge_1e200": (lambda t: (X0 * 1e200, Y0), ("error", ValueError, ["X", "rescale"])),
    "tiny_1e-300": (lambda t: (X0 * 1e-300, Y0), ("error", ValueError, ["X", "multiply them by a constant"])),
    "tiny_1e-160": (lambda t: (X0 * 1e-160, Y0), ("error", ValueError, ["X", "multiply them by a constant"])),
    "subnormal": (lambda t: (X0 * 5e-324 * 8, Y0), ("error", ValueError, ["X", "multiply them by a constant"])),
    "small_1e-60": (lambda t: (X0 * 1e-60, Y0), ("same", 1e-9, None)),
    "large_1e60": (lambda t: (X0 * 1e60, Y0), ("same", 1e-9, None)),
    "constant_column": (lambda t: (np.column_stack([X0, np.full(N, 3.0)]), Y0), ("legal", False)),
    "all_constant": (lambda t: (np.full((N, 3), 2.0), Y0), ("legal", False)),
    "all_zero": (lambda t: (np.zeros((N, 3)), Y0), ("legal", True)),
    "duplicate_columns": (lambda t: (np.column_stack([X0, X0[:, :2]]), Y0), ("legal", False)),
    "torch_meta": (lambda t: (torch.empty(N, 5, device="meta"), Y0), ("error", ValueError, ["X", "meta"])),
    "torch_sparse": (lambda t: (torch.from_numpy(X0).to_sparse(), Y0), ("error", TypeError, ["X", "dense"])),
    "torch_requires_grad": (lambda t: (torch.tensor(X0, requires_grad=True), torch.from_numpy(Y0)),
                            ("same", 0.0, None)),
    "list": (lambda t: (X0.tolist(), Y0.tolist()), ("same", 0.0, None)),
    "list_ragged": (lambda t: ([[1.0, 2.0], [3.0]], Y0[:2]), ("error", TypeError, ["X"])),
    "dataframe": (lambda t: (pd.DataFrame(X0), pd.DataFrame(Y0)), ("same", 0.0, None)),
    "dataframe_mixed": (lambda t: (pd.DataFrame({"a": X0[:, 0], "b": ["s"] * N}), Y0), ("error", TypeError, ["X"])),
    "masked_array": (lambda t: (np.ma.masked_less(X0, 0.0), Y0), ("error", TypeError, ["X", "masked"])),
}


def _outcome(call):
    """("value", float, warnings) or ("error", exception, warnings)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = call()
        except (ValueError, TypeError) as exc:
            return "error", exc, caught
    return "value", float(value), caught


def _assert_legal(name, call, must_warn):
    kind, got, caught = _outcome(call)
    runtime = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    if kind == "error":
        assert any(word in str(got) for word in ("X", "Y", "ridge", "samples")), (name, str(got))
        return
    lo, hi = FUNCS[name][1]
    if math.isnan(got):
        assert runtime, f"{name}: NaN without a RuntimeWarning"
    else:
        assert lo - 1e-12 <= got <= hi + 1e-12, (name, got)
    if must_warn:
        assert runtime, f"{name}: {got} without a RuntimeWarning"


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("name", list(FUNCS))
def test_one_shot_table(name, case, tmp_path):
    f = FUNCS[name][0]
    X, Y = CASES[case][0](tmp_path)
    expect = CASES[case][1]
    if expect[0] == "error":
        _, exc_type, words = expect
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            with pytest.raises(exc_type) as info:
                f(X, Y)
        for word in words:
            assert word in str(info.value), (name, case, str(info.value))
    elif expect[0] == "same":
        _, rtol, pair = expect
        want = REF[name] if pair is None else _quiet(lambda: f(*pair))
        kind, got, _ = _outcome(lambda: f(X, Y))
        assert kind == "value", (name, case, got)
        assert got == pytest.approx(want, rel=rtol, abs=rtol), (name, case)
    else:
        _assert_legal(name, lambda: f(X, Y), expect[1])


# ---------------------------------------------------------------------------------------------------- parameters
PARAMS = [
    ("cka", {"kernel": "poly"}, ValueError, "kernel"),
    ("cka", {"space": "gramm"}, ValueError, "space"),
    ("cka", {"kernel": "rbf", "sigma": 0.0}, ValueError, "sigma"),
    ("cka", {"kernel": "rbf", "sigma": "1"}, TypeError, "sigma"),
    ("cka", {"kernel": "rbf", "sigma": 1e-200}, ValueError, "sigma"),
    ("cka", {"kernel": "rbf", "sigma": 1e200}, ValueError, "sigma"),
    ("cka", {"kernel": "rbf", "sigma": 1e12, "bandwidth": "fixed"}, ValueError, "sigma"),
    ("cka", {"kernel": "rbf", "sigma": 1e-170, "bandwidth": "fixed"}, ValueError, "sigma"),
    ("cka", {"kernel": "rbf", "bandwidth": "mean"}, ValueError, "bandwidth"),
    ("cca", {"eps": -1.0}, ValueError, "eps"),
    ("cca", {"eps": "0.1"}, TypeError, "eps"),
    ("cca", {"rtol": 2.0}, ValueError, "rtol"),
    ("svcca", {"keep": 0.0}, ValueError, "keep"),
    ("svcca", {"k": 0}, ValueError, "k must be"),
    ("svcca", {"k": 50}, ValueError, "k=50"),
    ("svcca", {"k": 5}, ValueError, "k=5"),  # Y has 4 features
    ("pwcca", {"convention": "anatome"}, ValueError, "convention"),
    ("pwcca", {"eps": -1.0}, ValueError, "eps"),
    ("procrustes", {"form": "euclidean"}, ValueError, "form"),
    ("affine_map", {"ridge": -1.0}, ValueError, "ridge"),
    ("affine_map", {"ridge": float("inf")}, ValueError, "ridge"),
    ("affine_map", {"ridge": "1"}, TypeError, "ridge"),
    ("max_match", {"eps": 1.5}, ValueError, "eps"),
    ("max_match", {"eps": float("nan")}, ValueError, "eps"),
    ("max_match", {"eps": "0.3"}, TypeError, "eps"),
    ("max_match", {"eps": True}, TypeError, "eps"),
    ("max_match", {"eps": 0.3, "dead": "drop"}, ValueError, "dead"),
    ("max_match", {"eps": 0.3, "dtype": "int8"}, ValueError, "dtype"),
    ("max_match", {"eps": 0.3, "dtype": "half-ish"}, TypeError, "dtype"),
    ("match_curve", {"eps": []}, ValueError, "eps"),
    ("match_curve", {"eps": [0.1, 2.0]}, ValueError, "eps"),
    ("match_curve", {"eps": [[0.1]]}, ValueError, "eps"),
    ("simple_matches", {"eps": 0.3, "n_threads": -2}, ValueError, "n_threads"),
    ("simple_matches", {"eps": 0.3, "n_threads": 0}, ValueError, "n_threads"),
    ("simple_matches", {"eps": 0.3, "n_threads": 2.0}, TypeError, "n_threads"),
    ("simple_matches", {"eps": 0.3, "n_threads": "2"}, TypeError, "n_threads"),
]
# every boolean option of the public API: a non-bool is refused, naming the option
FLAGS = [
    ("cka", "debiased"), ("rv", "center"), ("rv2", "center"), ("svcca", "return_result"), ("pwcca", "return_result"),
    ("max_match", "center"), ("match_curve", "center"), ("simple_matches", "center"),
]


@pytest.mark.parametrize("fn,kwargs,exc,word", PARAMS, ids=[f"{p[0]}-{sorted(p[1].items())}" for p in PARAMS])
def test_out_of_range_parameters_name_the_argument(fn, kwargs, exc, word):
    with pytest.raises(exc, match=word):
        getattr(repsim, fn)(X0, Y0, **kwargs)


@pytest.mark.parametrize("value", ["no", 1, None, 0.0])
@pytest.mark.parametrize("fn,option", FLAGS)
def test_non_bool_flags_are_refused(fn, option, value):
    eps = {"eps": 0.3} if fn in ("max_match", "simple_matches") else {}
    with pytest.raises(TypeError, match=f"{option} must be a bool"):
        getattr(repsim, fn)(X0, Y0, **eps, **{option: value})


@pytest.mark.parametrize("metric,option", [("cka", "debiased"), ("rv", "center"), ("rv2", "center"),
                                           ("max_match", "center")])
def test_registry_flags_are_refused(metric, option):
    m = repsim.Moments().update({"a": X0, "b": Y0})
    g = repsim.GramMoments(N).update_features({"a": X0, "b": Y0})
    extra = {"eps": 0.3} if metric == "max_match" else {}
    for acc in (m, g) if metric != "max_match" else (m,):
        with pytest.raises(TypeError, match=option):
            acc.matrix(metric, **extra, **{option: "no"})
    with pytest.raises(TypeError, match=option):
        repsim.measure(metric)(X0, Y0, **extra, **{option: "no"})


def test_numpy_bools_are_flags():
    assert repsim.rv(X0, Y0, center=np.bool_(True)) == repsim.rv(X0, Y0, center=True)


# ---------------------------------------------------------------------------------------------------- accumulators
# batch variants for site "a" -> (value or maker(tmp_path), expectation for a first / a later batch)
def _a(value):
    return lambda t: value


BAD_BATCHES = {
    "nan": (_a(_with(X0, 3, 1, np.nan)), ValueError, ["'a'", "NaN", "row 3"]),
    "inf": (_a(_with(X0, N - 1, 0, np.inf)), ValueError, ["'a'", "Inf"]),
    "int": (_a(X0.astype(np.int32)), TypeError, ["'a'", "int32"]),
    "bool": (_a(X0 > 0), TypeError, ["'a'", "bool"]),
    "complex": (_a(X0.astype(np.complex64)), TypeError, ["'a'", "complex"]),
    "object": (_a(_object(X0)), TypeError, ["'a'", "object"]),
    "0_columns": (_a(X0[:, :0]), ValueError, ["'a'", "features"]),
    "1-D": (_a(X0[:, 0]), ValueError, ["'a'", "2-D"]),
    "3-D": (_a(X0[:, :, None]), ValueError, ["'a'", "2-D"]),
    "rows_mismatch": (_a(X0[:-1]), ValueError, ["rows"]),
    "width_change": (_a(X0[:, :3]), ValueError, ["'a'", "features"]),
    "huge": (_a(X0 * 1e200), ValueError, ["'a'", "rescale"]),
    "meta": (lambda t: torch.empty(N, 5, device="meta"), ValueError, ["'a'", "meta"]),
    "sparse": (lambda t: torch.from_numpy(X0).to_sparse(), TypeError, ["'a'", "dense"]),
    "masked": (_a(np.ma.masked_less(X0, 0.0)), TypeError, ["'a'", "masked"]),
    "ragged_list": (_a([[1.0, 2.0], [3.0]]), TypeError, ["'a'"]),
}
FIRST_ONLY = {  # rejected as a first batch (they fix the scale), accepted later
    "tiny_1e-300": (_a(X0 * 1e-300), ValueError, ["'a'", "batch 0", "multiply them by a constant"]),
    "subnormal": (_a(X0 * 4e-323), ValueError, ["'a'", "batch 0", "multiply them by a constant"]),
    "tiny_1e-160": (_a(X0 * 1e-160), ValueError, ["'a'", "batch 0", "multiply them by a constant"]),
    "0_rows": (_a(X0[:0]), ValueError, ["at least one row"]),
}
GOOD_VARIANTS = {
    "list": lambda t: X0.tolist(),
    "dataframe": lambda t: pd.DataFrame(X0),
    "memmap": lambda t: _memmap(t, X0),
    "negative_strides": lambda t: X0[::-1][::-1],
    "read_only": lambda t: _read_only(X0),
    "requires_grad": lambda t: torch.tensor(X0, requires_grad=True),
    "float32": lambda t: X0.astype(np.float32),
}


def _feature_state(m):
    return m.n, m.sites, m.dims, tuple(m.mean("a")), m.cka("a", "b"), m.rv("a", "b", center=False)


def _second(rows=N):
    return {"a": RNG.normal(size=(rows, 5)), "b": RNG.normal(size=(rows, 4))}


@pytest.mark.parametrize("case", [c for c in BAD_BATCHES if c != "width_change"] + list(FIRST_ONLY))
def test_moments_rejects_a_bad_first_batch_and_stays_empty(case, tmp_path):
    make, exc, words = {**BAD_BATCHES, **FIRST_ONLY}[case]
    m = repsim.Moments()
    with pytest.raises(exc) as info:
        m.update({"a": make(tmp_path), "b": Y0[:0] if case == "0_rows" else Y0})
    for word in words:
        assert word in str(info.value), (case, str(info.value))
    assert m.n == 0 and m.sites == ()
    m.update({"a": X0, "b": Y0})  # still usable
    assert m.n == N


@pytest.mark.parametrize("case", list(BAD_BATCHES))
def test_moments_rejects_a_bad_later_batch_and_keeps_its_statistics(case, tmp_path):
    make, exc, words = BAD_BATCHES[case]
    m = repsim.Moments().update({"a": X0, "b": Y0})
    before = _feature_state(m)
    with pytest.raises(exc) as info:
        m.update({"a": make(tmp_path), "b": Y0})
    for word in words + ["batch 1"]:
        assert word in str(info.value), (case, str(info.value))
    assert _feature_state(m) == before


def test_moments_later_batch_unknown_or_missing_site():
    m = repsim.Moments().update({"a": X0, "b": Y0})
    before = _feature_state(m)
    with pytest.raises(ValueError, match="unknown site"):
        m.update({"a": X0, "b": Y0, "c": Y0})
    with pytest.raises(ValueError, match=r"missing site\(s\) \['b'\]"):
        m.update({"a": X0})
    with pytest.raises(TypeError, match="mapping"):
        m.update([X0, Y0])
    assert _feature_state(m) == before


@pytest.mark.parametrize("case", ["tiny_1e-300", "subnormal", "0_rows"])
def test_moments_accepts_tiny_or_empty_later_batches(case):
    m = repsim.Moments().update({"a": X0, "b": Y0})
    batch = {"a": FIRST_ONLY[case][0](None), "b": Y0[: 0 if case == "0_rows" else N]}
    m.update(batch)
    assert m.n == (N if case == "0_rows" else 2 * N)
    assert math.isfinite(m.cka("a", "b"))


@pytest.mark.parametrize("case", list(GOOD_VARIANTS))
def test_moments_accepts_every_array_form(case, tmp_path):
    ref = repsim.Moments().update({"a": X0, "b": Y0})
    m = repsim.Moments().update({"a": X0, "b": Y0})
    a = GOOD_VARIANTS[case](tmp_path)
    ref.update({"a": np.asarray(X0.astype(np.float32), dtype=float) if case == "float32" else X0, "b": Y0})
    m.update({"a": a, "b": Y0})
    assert _feature_state(m) == _feature_state(ref)


def _gram_state(g):
    return g.dims, g.blocks, g.cka("a", "b"), g.rv("a", "b", center=False)


_GRAM_SKIP = {"rows_mismatch", "width_change"}  # blocks have any width; the row rule is tested separately
def _gram_cases(extra=()):
    return [c for c in BAD_BATCHES if c not in _GRAM_SKIP] + list(extra)


@pytest.mark.parametrize("case", _gram_cases(("tiny_1e-300", "subnormal", "tiny_1e-160")))
def test_gram_rejects_a_bad_first_block_and_stays_empty(case, tmp_path):
    make, exc, words = {**BAD_BATCHES, **FIRST_ONLY}[case]
    g = repsim.GramMoments(N)
    with pytest.raises(exc) as info:
        g.update_features({"a": make(tmp_path), "b": Y0})
    for word in [w.replace("batch", "block") for w in words]:
        assert word in str(info.value), (case, str(info.value))
    assert g.sites == ()


@pytest.mark.parametrize("case", _gram_cases())
def test_gram_rejects_a_bad_later_block_and_keeps_its_grams(case, tmp_path):
    make, exc, words = BAD_BATCHES[case]
    g = repsim.GramMoments(N).update_features({"a": X0, "b": Y0})
    before = _gram_state(g)
    with pytest.raises(exc) as info:
        g.update_features({"a": make(tmp_path)})
    for word in words + ["block 1"]:
        assert word in str(info.value), (case, str(info.value))
    assert _gram_state(g) == before


def test_gram_block_rows_and_sites():
    g = repsim.GramMoments(N).update_features({"a": X0, "b": Y0})
    before = _gram_state(g)
    with pytest.raises(ValueError, match=rf"'a' \(block 1\): expected {N} rows"):
        g.update_features({"a": X0[:-1]})
    with pytest.raises(ValueError, match="unknown site"):
        g.update_features({"c": X0})
    assert _gram_state(g) == before


@pytest.mark.parametrize("case", list(GOOD_VARIANTS))
def test_gram_accepts_every_array_form(case, tmp_path):
    ref = repsim.GramMoments(N).update_features({"a": X0, "b": Y0})
    g = repsim.GramMoments(N).update_features({"a": X0, "b": Y0})
    a = GOOD_VARIANTS[case](tmp_path)
    ref.update_features({"a": X0.astype(np.float32).astype(float) if case == "float32" else X0})
    g.update_features({"a": a})
    assert _gram_state(g) == _gram_state(ref)


def test_gram_accepts_a_tiny_later_block():
    """Only a site's first block fixes its scale: a later block of tiny values is a legal (negligible) addition."""
    g = repsim.GramMoments(N).update_features({"a": X0, "b": Y0})
    g.update_features({"a": X0 * 1e-300})
    assert g.dims["a"] == 10 and g.cka("a", "b") == pytest.approx(repsim.cka(X0, Y0), rel=1e-12)


# ---------------------------------------------------------------------------------------------------- item 4
def test_tiny_magnitudes_never_pass_as_constant():
    """Issue 14 item 4: data ≈ 1e-300 / subnormal used to give NaN with a 'constant' warning (CKA family) or a
    silent 0.0 (matches); now the spread error, and a moderately small scale gives the right value."""
    assert repsim.max_match(X0, Y0, 0.5).similarity == REF["max_match"] > 0.5
    for scale in (1e-300, 4e-323, 1e-160):
        for call in (lambda s: repsim.cka(X0 * s, Y0), lambda s: repsim.max_match(X0 * s, Y0, 0.5),
                     lambda s: repsim.cka(X0 * s, Y0, space="gram")):
            with pytest.raises(ValueError, match="multiply them by a constant"):
                call(scale)
    # the rescan keeps the exact rule: below SPREAD_RESCAN_VALUE but wide enough, the spread is still ≥ 1e-140
    wide = RNG.normal(size=(30, 400)) * 1e-71
    assert repsim.cka(wide, wide[:, :300]) == pytest.approx(repsim.cka(wide * 1e71, wide[:, :300] * 1e71), rel=1e-12)
    with pytest.raises(ValueError, match="Y: .*spread"):  # 5 such columns have a spread of 5e-142
        repsim.cka(wide, wide[:, :5], space="gram")
    assert repsim.cka(X0 * 1e-65, Y0) == pytest.approx(REF["cka"], rel=1e-12)


def test_constant_tiny_site_is_still_a_constant_site():
    with pytest.warns(RuntimeWarning, match="undefined"):
        assert math.isnan(repsim.cka(np.full((N, 3), 1e-300), Y0))


def test_tiny_spread_on_the_device_path():
    m = repsim.Moments(backend="torch")
    with pytest.raises(ValueError, match="multiply them by a constant"):
        m.update({"a": torch.from_numpy(X0 * 1e-300), "b": torch.from_numpy(Y0)})
    assert m.n == 0


# ---------------------------------------------------------------------------------------------------- item 6
def test_affine_map_transform_refuses_nan():
    fit = repsim.affine_map(X0, Y0)
    for bad in (_with(X0, 2, 3, np.nan), torch.from_numpy(_with(X0, 2, 3, np.inf))):
        with pytest.raises(ValueError, match=r"X: (NaN|Inf) at row 2, column 3"):
            fit.transform(bad)
    with pytest.raises(TypeError, match="X must hold real numbers"):
        fit.transform(X0 > 0)
    np.testing.assert_allclose(fit.transform(X0.astype(int)), X0.astype(int) @ fit.W + fit.b, rtol=0, atol=0)


def test_gram_space_overflow_is_the_clear_error():
    for kernel in ("linear", "rbf"):
        with pytest.raises(ValueError, match="X: values up to .* too large .*rescale"):
            repsim.cka(X0 * 1e200, Y0, space="gram", kernel=kernel)


def test_rbf_sigma_range():
    with pytest.raises(ValueError, match=r"sigma=1e-200 .* so small"):
        repsim.cka(X0, Y0, kernel="rbf", sigma=1e-200)
    with pytest.raises(ValueError, match=r"sigma=1e\+200 .* linear CKA"):
        repsim.cka(X0, Y0, kernel="rbf", sigma=1e200)
    # small σ is resolved: the kernel tends to the identity, so CKA → 1 for distinct samples
    assert repsim.cka(X0, Y0, kernel="rbf", sigma=1e-4) == pytest.approx(1.0, abs=1e-12)
    # within the range, large σ approaches linear CKA
    assert repsim.cka(X0, Y0, kernel="rbf", sigma=1e3) == pytest.approx(REF["cka"], rel=1e-5)


def test_affine_map_with_every_feature_constant():
    with pytest.warns(RuntimeWarning, match="every feature of 'X' is constant"):
        fit = repsim.affine_map(np.full((N, 3), 7.0), Y0)
    assert np.all(fit.W == 0) and fit.r2_total == 0.0 and np.all(fit.r2 == 0.0)
    np.testing.assert_allclose(fit.b, Y0.mean(axis=0), rtol=1e-12)
    with pytest.warns(RuntimeWarning, match="every feature of 'X' is constant"):
        assert repsim.affine_map(np.zeros((N, 3)), Y0, ridge=0.5).r2_total == 0.0


def test_svcca_k_larger_than_the_features():
    with pytest.raises(ValueError, match="k=50 is larger than the 5 features of site 'X'"):
        repsim.svcca(X0, Y0, k=50)
    with pytest.warns(RuntimeWarning, match="k=3 directions asked, but only 'X': 2"):
        repsim.svcca(np.column_stack([X0[:, :2], X0[:, :1]]), Y0, k=3)


def test_meta_and_sparse_tensors_name_the_argument():
    with pytest.raises(ValueError, match="X: .*meta"):
        repsim.cka(torch.empty(N, 5, device="meta"), Y0)
    with pytest.raises(TypeError, match="Y: .*dense"):
        repsim.rv(X0, torch.from_numpy(Y0).to_sparse())
    with pytest.raises(ValueError, match=r"site 'a' \(batch 0\): .*meta"):
        repsim.Moments(backend="torch").update({"a": torch.empty(N, 5, device="meta")})


def test_capture_names_the_layer_of_sparse_or_meta_outputs():
    from repsim.torch import reduce_tensor

    with pytest.raises(TypeError, match="layer 'fc'.*dense"):
        reduce_tensor(torch.ones(3, 4).to_sparse(), "flatten", "first", layer="fc")
    with pytest.raises(ValueError, match="layer 'fc'.*meta"):
        reduce_tensor(torch.empty(3, 4, device="meta"), "flatten", "first", layer="fc")
    assert tuple(reduce_tensor(torch.ones(0, 2, 3), "flatten", "first").shape) == (0, 6)


def test_compare_with_an_empty_batch_names_batch_and_layer():
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    data = [torch.randn(8, 4), torch.randn(0, 4), torch.randn(8, 4)]
    with pytest.raises(ValueError, match="batch 1: layer '0' of model 'a' produced 0 rows"):
        repsim.compare({"a": model}, data, layers={"a": ["0", "2"]}, progress=False)


def test_float32_rounding_noise_neuron_is_dead():
    """A neuron at float32 rounding level (peak 1.2e-6 in a layer whose largest activation is 29) is dead for float32
    input; given as float64 data it is a (tiny) live neuron, as before."""
    rng = np.random.default_rng(3)
    Z = rng.normal(size=(500, 6))
    X = Z @ rng.normal(size=(6, 10))
    X = (29 * X / np.abs(X).max()).astype(np.float32)
    Y = (Z @ rng.normal(size=(6, 8))).astype(np.float32)
    noisy = np.column_stack([X, rng.uniform(-1.2e-6, 1.2e-6, size=500).astype(np.float32)])
    m = repsim.max_match(noisy, Y, 0.3, dead="exclude")
    assert m.dead_x.tolist() == [10] and m.similarity == repsim.max_match(X, Y, 0.3, dead="exclude").similarity == 1.0
    m64 = repsim.max_match(noisy, Y, 0.3, dead="exclude", dtype="float64")
    assert m64.dead_x.size == 0 and m64.similarity < 1.0
    # the dtype of converted data can be given, by NumPy or torch dtype
    for dtype in ("float32", np.float32, torch.float32):
        assert repsim.max_match(noisy.astype(float), Y, 0.3, dead="exclude", dtype=dtype).dead_x.tolist() == [10]
    # a constant neuron is dead with center=True, whatever its mean
    shifted = np.column_stack([X, np.full(500, 1e3, dtype=np.float32)])
    assert repsim.max_match(shifted, Y, 0.3, center=True).dead_x.tolist() == [10]


def test_pwcca_google_with_dependent_directions_is_a_clear_error():
    """Found by the bad-input campaign: more of X's directions than samples made google's QR (a Cholesky of DᵀD
    here) fail with a bare LinAlgError, or succeed by rounding luck with a scale-dependent number."""
    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(5, 6)), rng.normal(size=(5, 6))
    for scale in (1.0, 1e-30, 1e30):
        with pytest.raises(ValueError, match=r"convention='google'.*linearly dependent"):
            repsim.pwcca(X * scale, Y, convention="google")
