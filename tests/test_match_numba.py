"""The Numba match engine (repsim/_kernels/numba_match.py) against the C++ one (csrc/kernels/maxmatch.hpp).

The Numba engine is a line-by-line port that calls the same LAPACK routines (SciPy's dpotrf / dtrsm) and keeps the
C++ order of floating-point operations, so it must make *the same decisions*, not merely decisions that agree away
from ties: the tests compare every entry point on random, planted and degenerate inputs, and at ε one ulp either
side of each jump of s(ε) (the knife edges, where a single rounding difference would show). A build without a
compiler is simulated twice: in-process (``repsim._engines.HAVE_CORE`` patched) and in a subprocess in which
``repsim._core`` cannot be imported at all.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import naive
import repsim
import repsim._blas
import repsim._engines
from _helpers import moments_of
from repsim._engines import HAVE_CORE, resolve_match_engine
from repsim._kernels import numba_match
from repsim.metrics.match import _Blocks, match_curve_from_stats, max_match_from_stats, simple_matches_from_stats

needs_core = pytest.mark.skipif(not HAVE_CORE, reason="compares with the compiled core, which is not built")

EPS = [0.45, 0.05, 0.8, 0.2, 0.3, 0.6, 0.1, 0.7]  # unsorted on purpose

# (seed, n, p, q, k, mean, dead, constant, dependent): the cases of test_match.py plus larger and wider ones
CASES = [
    (0, 60, 12, 10, 3, 0.0, 0, 0, 0),
    (1, 150, 14, 9, 3, 1.0, 1, 1, 2),
    (2, 30, 10, 13, 3, 1e3, 1, 1, 3),
    (3, 16, 9, 11, 3, 0.0, 1, 0, 2),  # n < p + q
    (4, 60, 15, 15, 3, 1e3, 0, 1, 4),
    (5, 30, 8, 12, 3, 1.0, 1, 1, 3),
    (6, 150, 11, 8, 3, 0.0, 0, 0, 3),
    (7, 60, 13, 14, 3, 1.0, 1, 0, 1),
    (8, 400, 60, 45, 12, 1.0, 2, 1, 6),  # wide enough for the LAPACK rebuilds and blocked dpotrf
    (9, 90, 70, 50, 20, 1e3, 1, 2, 8),  # n < p + q, large means
    (10, 300, 40, 80, 30, 0.0, 0, 0, 10),
]

SIMPLE_CASES = [
    (10, 30, 9, 8, 3, 0.0, 0, 0, 2),
    (11, 60, 10, 9, 3, 1.0, 1, 1, 3),
    (12, 16, 8, 10, 3, 1e3, 1, 0, 3),
    (13, 60, 11, 10, 3, 0.0, 0, 0, 0),
    (14, 120, 18, 16, 5, 1.0, 1, 1, 4),
]


def _case(seed, n, p, q, k, mean, dead, constant, dependent):
    rng = np.random.default_rng(2000 + seed)
    return naive.match_pair(rng, n, p, q, k=k, mean=mean, dead=dead, constant=constant, dependent=dependent)


def _view(X, Y, batch=None):
    return moments_of({"x": X, "y": Y}, batch=batch).view("pairs", center=True)


def _same_match(a, b):
    assert a.key() == b.key()
    assert (a.similarity == b.similarity) or (np.isnan(a.similarity) and np.isnan(b.similarity))
    assert (a.eps, a.n_x, a.n_y) == (b.eps, b.n_x, b.n_y)
    np.testing.assert_array_equal(a.dead_x, b.dead_x)
    np.testing.assert_array_equal(a.dead_y, b.dead_y)


def _same_curve(a, b):
    np.testing.assert_array_equal(a.eps, b.eps)
    np.testing.assert_array_equal(a.similarity, b.similarity)
    assert len(a.matches) == len(b.matches)
    for ma, mb in zip(a.matches, b.matches):
        _same_match(ma, mb)


def _same_simple(a, b):
    assert [m.key() for m in a] == [m.key() for m in b]
    _same_match(a.maximum, b.maximum)
    assert a.size_distribution() == b.size_distribution()


@pytest.fixture
def scalar_kernels():
    """Both engines without LAPACK (their scalar rebuilds), restored afterwards."""
    core = repsim._engines.require_core("the scalar comparison")
    previous, previous_nb = core._match_lapack(False), numba_match.lapack_enabled
    numba_match.lapack_enabled = False
    try:
        yield
    finally:
        core._match_lapack(previous)
        numba_match.lapack_enabled = previous_nb


# ------------------------------------------------------------------------------------------ maximum matches


@needs_core
@pytest.mark.parametrize("case", CASES, ids=[f"case{c[0]}" for c in CASES])
@pytest.mark.parametrize("center", [False, True])
def test_match_curve_equals_cpp(case, center):
    X, Y = _case(*case)
    view = _view(X, Y)
    for dead in ("count", "exclude"):
        a = match_curve_from_stats(view, "x", "y", EPS, center=center, dead=dead, engine="cpp")
        b = match_curve_from_stats(view, "x", "y", EPS, center=center, dead=dead, engine="numba")
        _same_curve(a, b)
    for e in (0.0, 0.25, 1.0):
        _same_match(max_match_from_stats(view, "x", "y", e, center=center, engine="cpp"),
                    max_match_from_stats(view, "x", "y", e, center=center, engine="numba"))


@needs_core
@pytest.mark.parametrize("center", [False, True])
def test_cases_are_not_trivial(center):
    """The random cases exercise partial matches at many ε, not only empty or complete ones."""
    partial = 0
    for case in CASES:
        X, Y = _case(*case)
        s = match_curve_from_stats(_view(X, Y), "x", "y", EPS, center=center, engine="numba").similarity
        partial += int(((s > 0.05) & (s < 0.95)).sum())
    assert partial >= 40  # of 88


@needs_core
@pytest.mark.parametrize("center", [False, True])
def test_numba_equals_the_oracle(center):
    """Not only equal to C++: right (the least-squares oracle of naive.py, away from ties)."""
    for case in CASES[:4]:
        X, Y = _case(*case)
        curve = match_curve_from_stats(_view(X, Y), "x", "y", EPS, center=center, engine="numba")
        for e, m in zip(EPS, curve.matches):
            o = naive.max_match(X, Y, e, center)
            if o["margin"] > 1e-7:
                assert m.key() == (tuple(o["x"].tolist()), tuple(o["y"].tolist()))


def _masks(kernels, blocks, eps):
    (mx, my), = kernels.max_match_curve(*blocks.args(), blocks.live_x, blocks.live_y, np.array([eps]))
    return mx.tobytes(), my.tobytes()


def _knife_edges(blocks, kernels, grid):
    """Adjacent doubles (lo, hi) with different Numba maximum matches, one pair per jump of s(ε) on ``grid``."""
    masks = [_masks(kernels, blocks, e) for e in grid]
    edges = []
    for i in range(len(grid) - 1):
        if masks[i] == masks[i + 1]:
            continue
        lo, hi, at_lo = grid[i], grid[i + 1], masks[i]
        while np.nextafter(lo, 2.0) < hi:
            mid = 0.5 * (lo + hi)
            if not lo < mid < hi:
                mid = np.nextafter(lo, 2.0)
            if _masks(kernels, blocks, mid) == at_lo:
                lo = mid
            else:
                hi = mid
        edges.append((lo, hi))
    return edges


@needs_core
@pytest.mark.parametrize("lapack", [True, False], ids=["lapack", "scalar"])
def test_same_decisions_one_ulp_either_side_of_every_jump(lapack, request):
    """At ε one ulp below and above each jump of s(ε) (a decision d² > ε²‖z‖² that flips) the engines agree: they
    compute the same distances, not merely distances close to each other."""
    if not lapack:
        request.getfixturevalue("scalar_kernels")
    _, cpp = resolve_match_engine("cpp")
    _, nb = resolve_match_engine("numba")
    grid = np.linspace(0.02, 0.98, 17)
    checked = 0
    for case in (CASES[1], CASES[2], CASES[4], CASES[8], CASES[9]):
        X, Y = _case(*case)
        view = _view(X, Y)
        for center in (False, True):
            blocks = _Blocks(view, "x", "y", center, "count")
            for lo, hi in _knife_edges(blocks, nb, grid):
                assert _masks(cpp, blocks, lo) == _masks(nb, blocks, lo)
                assert _masks(cpp, blocks, hi) == _masks(nb, blocks, hi)
                checked += 1
    assert checked >= 40


@needs_core
@pytest.mark.parametrize("center", [False, True])
def test_scalar_paths_equal_cpp(center, scalar_kernels):
    for case in CASES[:3] + CASES[8:]:
        X, Y = _case(*case)
        view = _view(X, Y)
        _same_curve(match_curve_from_stats(view, "x", "y", EPS, center=center, engine="cpp"),
                    match_curve_from_stats(view, "x", "y", EPS, center=center, engine="numba"))
    X, Y = _case(*SIMPLE_CASES[1])
    view = _view(X, Y)
    _same_simple(simple_matches_from_stats(view, "x", "y", 0.3, center=center, engine="cpp"),
                 simple_matches_from_stats(view, "x", "y", 0.3, center=center, engine="numba"))


# ------------------------------------------------------------------------------------------ planted, degenerate


def _both(X, Y, eps, center, **kw):
    view = _view(X, Y)
    nb = max_match_from_stats(view, "x", "y", eps, center=center, engine="numba", **kw)
    if HAVE_CORE:
        _same_match(max_match_from_stats(view, "x", "y", eps, center=center, engine="cpp", **kw), nb)
    return nb


@pytest.mark.parametrize("center", [False, True])
def test_planted_subspace(center, rng):
    X, Y, px, py = naive.planted_subspace_pair(rng, 2000, 10, 10, 4)
    for e in (0.02, 0.1, 0.3):
        m = _both(X, Y, e, center)
        np.testing.assert_array_equal(m.x_indices, px)
        np.testing.assert_array_equal(m.y_indices, py)
    X, Y, px, py = naive.planted_subspace_pair(rng, 600, 80, 70, 25, mean=5.0)
    m = _both(X, Y, 0.1, center)
    np.testing.assert_array_equal(m.x_indices, px)
    np.testing.assert_array_equal(m.y_indices, py)


@pytest.mark.parametrize("mean", [0.0, 3.0, 1e3])
@pytest.mark.parametrize("center", [False, True])
def test_invertible_mixture_and_independent_layers(mean, center, rng):
    X = rng.normal(size=(300, 12)) + mean * rng.normal(size=12)
    Y = X @ rng.normal(size=(12, 12))
    for e in (1e-4, 0.01, 0.5, 1.0):
        assert _both(X, Y, e, center).similarity == 1.0
    X, Y = naive.independent_noise(rng, 2000, 10, 12)
    for e in (0.1, 0.9):
        assert _both(X, Y, e, center).size == 0
        _both(X + mean, Y + mean, e, center)  # large common means: the raw spans share the direction of 1


def test_dead_constant_and_duplicated_neurons(rng):
    X, Y = naive.independent_noise(rng, 500, 6, 7)
    X[:, 2] = 3.0  # constant: a match of the raw spans, dead when centred
    Y[:, 4] = -2.0
    X[:, 5] = 0.0  # dead
    Y[:, 0] = 1e-30 * rng.normal(size=500)  # at the rounding level of its layer: dead
    Y[:, 6] = 2.0 * X[:, 0] + 1.0  # dependent with a constant offset (puts 1 in the raw span)
    Y[:, 1] = Y[:, 6]  # a duplicate
    for center in (False, True):
        for dead in ("count", "exclude"):
            for e in (0.0, 1e-6, 0.1, 0.5, 1.0):
                m = _both(X, Y, e, center, dead=dead)
                assert not set(m.x_indices) & set(m.dead_x) and not set(m.y_indices) & set(m.dead_y)
    m = _both(X, Y, 0.1, False)
    assert m.key() == ((0, 2), (1, 4, 6))
    m = _both(X, Y, 0.1, True)
    assert m.key() == ((0,), (1, 6)) and m.dead_x.tolist() == [2, 5] and m.dead_y.tolist() == [0, 4]


def test_all_dead_layer_and_single_neurons(rng):
    X = np.zeros((20, 3))
    Y = rng.normal(size=(20, 4))
    with pytest.warns(RuntimeWarning, match="every neuron of site 'x' is dead"):
        m = _both(X, Y, 0.5, False, dead="exclude")
    assert (m.size, m.n_x, m.n_y) == (0, 0, 4)
    x = rng.normal(size=(50, 1))
    assert _both(x, -3.0 * x, 0.01, False).key() == ((0,), (0,))
    assert _both(x, rng.normal(size=(50, 1)), 0.5, True).size == 0


# ------------------------------------------------------------------------------------------ simple matches


@pytest.mark.parametrize("case", SIMPLE_CASES, ids=[f"case{c[0]}" for c in SIMPLE_CASES])
@pytest.mark.parametrize("center", [False, True])
def test_simple_matches_equal_cpp(case, center):
    X, Y = _case(*case)
    view = _view(X, Y)
    for eps in (0.25, 0.5):
        nb = simple_matches_from_stats(view, "x", "y", eps, center=center, engine="numba", n_threads=1)
        _same_simple(nb, simple_matches_from_stats(view, "x", "y", eps, center=center, engine="numba", n_threads=3))
        if HAVE_CORE:
            _same_simple(nb, simple_matches_from_stats(view, "x", "y", eps, center=center, engine="cpp"))
        if case is SIMPLE_CASES[0]:
            assert sorted(m.key() for m in nb) == sorted(naive.simple_matches(X, Y, eps, center))


def test_simple_matches_planted_pairs_and_empty(rng):
    n = 500
    Z = rng.normal(size=(n, 3))
    X = np.hstack([rng.normal(size=(n, 2)), Z * [1.0, -2.0, 0.5]])
    Y = np.hstack([Z[:, ::-1] * [3.0, 1.0, -1.0], rng.normal(size=(n, 2))])
    sm = simple_matches_from_stats(_view(X, Y), "x", "y", 0.1, engine="numba")
    assert sorted(m.key() for m in sm) == [((2,), (2,)), ((3,), (1,)), ((4,), (0,))]
    X, Y = naive.independent_noise(rng, 500, 4, 5)
    sm = simple_matches_from_stats(_view(X, Y), "x", "y", 0.2, engine="numba")
    assert len(sm) == 0 and sm.maximum.size == 0


# ------------------------------------------------------------------------------------------ kernel contract


def _problem(case, center):
    X, Y = _case(*case)
    return _Blocks(_view(X, Y), "x", "y", center, "count")


@needs_core
@pytest.mark.parametrize("center", [False, True])
def test_kernels_from_arbitrary_start_sets_and_vs(center, rng):
    """Warm starts from arbitrary sets, several ε at once, and minimum matches for a subset of v, in any order."""
    b = _problem(CASES[8], center)
    _, cpp = resolve_match_engine("cpp")
    for _ in range(3):
        sx, sy = b.live_x & (rng.random(b.p) < 0.7), b.live_y & (rng.random(b.q) < 0.7)
        eps = np.sort(rng.uniform(0, 1, 4))[::-1].copy()
        a = cpp.max_match_curve(*b.args(), sx, sy, eps)
        c = numba_match.max_match_curve(*b.args(), sx, sy, eps)
        assert [(x.tobytes(), y.tobytes()) for x, y in a] == [(x.tobytes(), y.tobytes()) for x, y in c]
        assert all(x.dtype == bool and x.shape == (b.p,) and y.shape == (b.q,) for x, y in c)
    b = _problem(SIMPLE_CASES[4], center)
    (mx, my), = cpp.max_match_curve(*b.args(), b.live_x, b.live_y, np.array([0.4]))
    members = np.concatenate([np.flatnonzero(mx), b.p + np.flatnonzero(my)])
    vs = rng.permutation(members)[: max(1, members.size // 2)].astype(np.int64)
    for threads in (1, 2):
        a = cpp.minimum_matches(*b.args(), mx, my, 0.4, vs, threads)
        c = numba_match.minimum_matches(*b.args(), mx, my, 0.4, vs, threads)
        assert [(x.tobytes(), y.tobytes()) for x, y in a] == [(x.tobytes(), y.tobytes()) for x, y in c]
    assert numba_match.minimum_matches(*b.args(), mx, my, 0.4, np.zeros(0, np.int64), 2) == []


def test_kernel_errors_are_those_of_the_core():
    b = _problem(CASES[0], False)
    kernels = [numba_match] + ([repsim._engines.require_core("the error comparison")] if HAVE_CORE else [])
    (mx, my), = numba_match.max_match_curve(*b.args(), b.live_x, b.live_y, np.array([0.5]))
    outside = int(np.flatnonzero(~mx)[0])
    inside = np.array([int(np.flatnonzero(mx)[0])], np.int64)
    for k in kernels:
        with pytest.raises(ValueError, match="descending"):
            k.max_match_curve(*b.args(), b.live_x, b.live_y, np.array([0.1, 0.2]))
        with pytest.raises(ValueError, match="wrong length"):
            k.max_match_curve(*b.args(), b.live_x[:-1], b.live_y, np.array([0.1]))
        with pytest.raises(ValueError, match="inconsistent shapes"):
            k.max_match_curve(b.A, b.B, b.C[:-1], b.mu, b.nu, b.n, False, b.live_x, b.live_y, np.array([0.1]))
        with pytest.raises(ValueError, match="n must be positive"):
            k.max_match_curve(b.A, b.B, b.C, b.mu, b.nu, 0.0, False, b.live_x, b.live_y, np.array([0.1]))
        with pytest.raises(ValueError, match="out of range"):
            k.minimum_matches(*b.args(), mx, my, 0.5, np.array([b.p + b.q], np.int64), 1)
        with pytest.raises(ValueError, match="maximum match"):
            k.minimum_matches(*b.args(), mx, my, 0.5, np.array([outside], np.int64), 1)
        with pytest.raises(ValueError, match="not an eps-match"):  # the maximum match of 0.5 is none of 0.05
            k.minimum_matches(*b.args(), mx, my, 0.05, inside, 1)
        with pytest.raises(TypeError):
            k.max_match_curve(b.A.astype(np.float32), b.B, b.C, b.mu, b.nu, b.n, False, b.live_x, b.live_y,
                              np.array([0.1]))


def test_engine_argument():
    X, Y = _case(*CASES[0])
    view = _view(X, Y)
    auto = match_curve_from_stats(view, "x", "y", EPS)
    _same_curve(auto, match_curve_from_stats(view, "x", "y", EPS, engine="numba"))
    with pytest.raises(ValueError, match="engine must be"):
        max_match_from_stats(view, "x", "y", 0.3, engine="fortran")
    with pytest.raises(TypeError, match="engine must be a str"):
        simple_matches_from_stats(view, "x", "y", 0.3, engine=None)
    assert resolve_match_engine("numba") == ("numba", numba_match)
    assert resolve_match_engine()[0] == ("cpp" if HAVE_CORE else "numba")


# ------------------------------------------------------------------------------------------ no compiled core


def _public_results(X, Y):
    """Every public match entry point on (X, Y), as plain comparable values."""
    m = moments_of({"x": X, "y": Y}, batch=17)
    out = {}
    for center in (False, True):
        curve = repsim.match_curve(X, Y, eps=EPS, center=center)
        out[f"curve{center}"] = [list(curve.similarity), [mm.key() for mm in curve.matches]]
        out[f"max{center}"] = repsim.max_match(X, Y, 0.3, center=center, dead="exclude").key()
        sm = repsim.simple_matches(X, Y, 0.4, center=center)
        out[f"simple{center}"] = [[s.key() for s in sm], sm.maximum.key()]
        out[f"moments{center}"] = [m.max_match("x", "y", 0.3, center=center).key(),
                                   [s.key() for s in m.simple_matches("y", "x", 0.4, center=center)],
                                   list(m.match_curve("x", "y", eps=EPS, center=center).similarity)]
    return json.loads(json.dumps(out))  # tuples → lists, as after the subprocess's JSON


def test_public_functions_without_the_compiled_core(monkeypatch):
    """A build without a compiler (HAVE_CORE False): the public match functions run on Numba, with the same
    results as the compiled core (or, without one here, the least-squares oracle)."""
    X, Y = _case(*SIMPLE_CASES[1])
    reference = _public_results(X, Y)
    monkeypatch.setattr(repsim._engines, "HAVE_CORE", False)
    monkeypatch.setattr(repsim._engines, "_core", None)
    monkeypatch.setattr(repsim._engines, "_CORE_ERROR", "simulated: no C++ compiler")
    monkeypatch.setattr(repsim._blas, "HAVE_CORE", False)
    assert repsim._engines.available_engines() == ("numba",)
    assert repsim.Moments().engine == "numba"
    assert _public_results(X, Y) == reference
    o = naive.max_match(X, Y, 0.3, False)
    assert repsim.max_match(X, Y, 0.3).key() == (tuple(o["x"].tolist()), tuple(o["y"].tolist()))
    with pytest.raises(ImportError, match="compiled extension"):
        repsim.metrics.match.max_match_from_stats(_view(X, Y), "x", "y", 0.3, engine="cpp")


_NO_CORE = """
import json, sys
sys.modules["repsim._core"] = None  # `from . import _core` raises ImportError, as on a build without a compiler
sys.path.insert(0, {tests!r})
import numpy as np
import repsim, repsim._engines
assert not repsim._engines.HAVE_CORE and repsim._engines.available_engines() == ("numba",)
from test_match_numba import SIMPLE_CASES, _case, _public_results
X, Y = _case(*SIMPLE_CASES[1])
print(json.dumps(_public_results(X, Y)))
"""


def test_public_functions_in_a_process_without_the_compiled_core():
    tests = str(Path(__file__).resolve().parent)
    X, Y = _case(*SIMPLE_CASES[1])
    reference = _public_results(X, Y)
    run = subprocess.run([sys.executable, "-c", _NO_CORE.format(tests=tests)], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == reference
