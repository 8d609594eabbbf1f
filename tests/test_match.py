"""Maximum, minimum and simple ε-matches of Wang et al. (2018) (docs/matches.md, docs/math.md §2 ix) against the oracles of
naive.py, which recompute every distance by least squares on the activation matrices.

The C++ engine works on Gram blocks with downdated Cholesky factors; the oracle on the data with np.linalg.lstsq.
Across the random cases below, and 24 000 + 8 000 (case, ε, centring) combinations tried while writing them (n 16–400,
8–40 neurons per layer, 0–2 dead, 0–2 constant and 0–6 dependent neurons per layer, means 0, 1 and 1e3), the
neuron sets were identical every time; so were the simple matches in 1 140 (case, ε, centring) combinations.
The oracle reports how close any of its decisions came to ε (``margin``); the data are checked to keep at least
1e-7 away, so that the comparison is a statement about the algorithm and not about rounding (smallest margin in
the cases below: 2.7e-4).

Linear dependence: repsim decides it at a relative distance of 1e-6 (documented); the oracle's lstsq uses
rcond = 1e-10. Both lie between the rounding level of exactly dependent neurons (~1e-13 after centring data with
means of 1e3) and the genuine directions of the test data.
"""
from __future__ import annotations

import numpy as np
import pytest

import naive
import repsim
from _helpers import moments_of

EPS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]

# (seed, n, p, q, mean, dead, constant, dependent)
CASES = [
    (0, 60, 12, 10, 0.0, 0, 0, 0),
    (1, 150, 14, 9, 1.0, 1, 1, 2),
    (2, 30, 10, 13, 1e3, 1, 1, 3),  # means 1e3: raw spans contain ~1; copy + offset puts 1 in the span exactly
    (3, 16, 9, 11, 0.0, 1, 0, 2),  # n < p + q: the spans fill the sample space
    (4, 60, 15, 15, 1e3, 0, 1, 4),
    (5, 30, 8, 12, 1.0, 1, 1, 3),
    (6, 150, 11, 8, 0.0, 0, 0, 3),
    (7, 60, 13, 14, 1.0, 1, 0, 1),
]


def _case(seed, n, p, q, mean, dead, constant, dependent):
    rng = np.random.default_rng(1000 + seed)
    return naive.match_pair(rng, n, p, q, mean=mean, dead=dead, constant=constant, dependent=dependent)


def _key(o):
    return (tuple(int(i) for i in o["x"]), tuple(int(j) for j in o["y"]))


# ------------------------------------------------------------------------------------------ the oracle itself


def test_oracle_distances_and_checker(rng):
    """span_distances is the projection residual; is_match accepts a planted match and rejects a non-match."""
    Z = rng.normal(size=(50, 4))
    S = rng.normal(size=(50, 3))
    Q, _ = np.linalg.qr(S)
    np.testing.assert_allclose(naive.span_distances(Z, S), np.linalg.norm(Z - Q @ (Q.T @ Z), axis=0), rtol=1e-12)
    np.testing.assert_allclose(naive.span_distances(Z, S[:, :0]), np.linalg.norm(Z, axis=0), rtol=0)
    X = rng.normal(size=(80, 3))
    Y = X @ rng.normal(size=(3, 3))
    assert naive.is_match(X, Y, [0, 1, 2], [0, 1, 2], 1e-8)
    assert not naive.is_match(X, Y, [0, 1, 2], [0, 1], 0.1)  # X has 3 dims, Y' only 2
    assert naive.is_match(X, Y, [], [], 0.1)


# ------------------------------------------------------------------------------------------ maximum match vs oracle


@pytest.mark.parametrize("case", CASES, ids=[f"case{c[0]}" for c in CASES])
@pytest.mark.parametrize("center", [False, True])
def test_max_match_equals_oracle(case, center):
    X, Y = _case(*case)
    p, q = X.shape[1], Y.shape[1]
    curve = repsim.match_curve(X, Y, eps=EPS, center=center)
    assert isinstance(curve, repsim.MatchCurve)
    np.testing.assert_array_equal(curve.eps, EPS)
    sizes = []
    for e, m in zip(EPS, curve.matches):
        o = naive.max_match(X, Y, e, center)
        assert o["margin"] > 1e-7, f"test data too close to a decision at eps={e}: {o['margin']:.2e}"
        assert isinstance(m, repsim.Match) and m.eps == e
        assert m.key() == _key(o), (e, m.key(), _key(o))
        np.testing.assert_array_equal(m.dead_x, o["dead_x"])
        np.testing.assert_array_equal(m.dead_y, o["dead_y"])
        assert (m.n_x, m.n_y) == (p, q)
        assert m.similarity == (o["x"].size + o["y"].size) / (p + q)
        assert naive.is_match(X, Y, m.x_indices, m.y_indices, e, center)
        assert not set(m.x_indices) & set(m.dead_x) and not set(m.y_indices) & set(m.dead_y)
        sizes.append(m.size)
    assert sizes == sorted(sizes)  # nested in eps
    # the same through max_match and through a Moments with a third site, streamed
    for e in (EPS[1], EPS[5]):
        assert repsim.max_match(X, Y, e, center=center).key() == curve.matches[EPS.index(e)].key()
    m = moments_of({"x": X, "z": np.ones((X.shape[0], 2)), "y": Y}, batch=7)
    assert m.max_match("x", "y", EPS[3], center=center).key() == curve.matches[3].key()


def test_random_cases_are_not_trivial():
    """The cases above exercise partial matches, not only empty or complete ones."""
    partial = 0
    for case in CASES:
        X, Y = _case(*case)
        for center in (False, True):
            for s in repsim.match_curve(X, Y, eps=EPS, center=center).similarity:
                partial += 0.05 < s < 0.95
    assert partial >= 40  # of 128


# ------------------------------------------------------------------------------------------ planted structure


@pytest.mark.parametrize("mean", [0.0, 3.0, 1e3])
@pytest.mark.parametrize("center", [False, True])
def test_invertible_mixture_matches_everything(mean, center, rng):
    X = rng.normal(size=(300, 12)) + mean * rng.normal(size=12)
    Y = X @ rng.normal(size=(12, 12))
    curve = repsim.match_curve(X, Y, eps=[1e-4, 1e-3, 0.01, 0.1, 0.5, 1.0], center=center)
    np.testing.assert_array_equal(curve.similarity, 1.0)


@pytest.mark.parametrize("center", [False, True])
def test_planted_shared_subspace_matches_exactly_the_planted_neurons(center, rng):
    X, Y, px, py = naive.planted_subspace_pair(rng, 2000, 10, 10, 4)
    for e in (0.02, 0.1, 0.3):
        m = repsim.max_match(X, Y, e, center=center)
        np.testing.assert_array_equal(m.x_indices, px)
        np.testing.assert_array_equal(m.y_indices, py)
        assert m.similarity == 8 / 20


@pytest.mark.parametrize("center", [False, True])
def test_independent_layers_do_not_match(center, rng):
    X, Y = naive.independent_noise(rng, 2000, 10, 12)
    for e in (0.1, 0.5, 0.9):
        m = repsim.max_match(X, Y, e, center=center)
        assert m.size == 0 and m.similarity == 0.0


def test_constant_neurons_match_each_other_only_in_the_raw_span(rng):
    """Two constant neurons span the same line {c·1}: a match without centring; dead with center=True."""
    X, Y = naive.independent_noise(rng, 500, 5, 6)
    X[:, 2] = 3.0
    Y[:, 4] = -2.0
    m = repsim.max_match(X, Y, 0.1)
    assert (m.key(), m.dead_x.size, m.dead_y.size) == (((2,), (4,)), 0, 0)
    m = repsim.max_match(X, Y, 0.1, center=True)
    assert m.size == 0
    np.testing.assert_array_equal(m.dead_x, [2])
    np.testing.assert_array_equal(m.dead_y, [4])


def test_eps_one_matches_every_live_neuron():
    X, Y = _case(*CASES[1])
    for center in (False, True):
        m = repsim.max_match(X, Y, 1.0, center=center)
        live = X.shape[1] + Y.shape[1] - m.dead_x.size - m.dead_y.size
        assert m.size == live


# ------------------------------------------------------------------------------------------ invariances, curves


@pytest.mark.parametrize("center", [False, True])
def test_permutation_of_neurons_permutes_the_result(center, rng):
    X, Y = _case(*CASES[5])
    px, py = rng.permutation(X.shape[1]), rng.permutation(Y.shape[1])
    for e in (0.2, 0.5):
        a = repsim.max_match(X, Y, e, center=center)
        b = repsim.max_match(X[:, px], Y[:, py], e, center=center)
        np.testing.assert_array_equal(np.sort(px[b.x_indices]), a.x_indices)
        np.testing.assert_array_equal(np.sort(py[b.y_indices]), a.y_indices)
        np.testing.assert_array_equal(np.sort(px[b.dead_x]), a.dead_x)
        assert a.similarity == b.similarity
        # per-neuron scaling does not change anything either
        c = repsim.max_match(X * rng.uniform(0.1, 10, X.shape[1]), Y * rng.uniform(0.1, 10, Y.shape[1]), e,
                             center=center)
        assert c.key() == a.key()
        # nor does swapping the layers
        d = repsim.max_match(Y, X, e, center=center)
        assert (d.key()[1], d.key()[0]) == a.key()


@pytest.mark.parametrize("center", [False, True])
def test_match_curve_equals_separate_calls_and_is_nested(center):
    X, Y = _case(*CASES[7])
    eps = [0.45, 0.05, 0.8, 0.2, 0.3, 0.6]  # unsorted on purpose
    curve = repsim.match_curve(X, Y, eps=eps, center=center)
    np.testing.assert_array_equal(curve.eps, eps)
    for e, m, s in zip(eps, curve.matches, curve.similarity):
        single = repsim.max_match(X, Y, e, center=center)
        assert m.key() == single.key() and m.eps == e and s == single.similarity
    order = np.argsort(eps)
    for i, j in zip(order, order[1:]):
        a, b = curve.matches[i], curve.matches[j]
        assert set(a.x_indices) <= set(b.x_indices) and set(a.y_indices) <= set(b.y_indices)
        assert curve.similarity[i] <= curve.similarity[j]
    assert curve.to_dict() == {"eps": eps, "similarity": curve.similarity.tolist()}
    # a scalar eps is a curve of one
    one = repsim.match_curve(X, Y, eps=0.3, center=center)
    assert one.matches[0].key() == repsim.max_match(X, Y, 0.3, center=center).key()


@pytest.mark.parametrize("center", [False, True])
def test_dead_exclude_changes_only_the_denominator(center):
    X, Y = _case(*CASES[1])  # one dead and one constant neuron per layer
    for e in (0.3, 0.6):
        a = repsim.max_match(X, Y, e, center=center)
        b = repsim.max_match(X, Y, e, center=center, dead="exclude")
        assert a.key() == b.key()
        np.testing.assert_array_equal(a.dead_x, b.dead_x)
        n_dead = 2 if center else 1
        assert a.dead_x.size == n_dead and a.dead_y.size == n_dead
        assert (b.n_x, b.n_y) == (X.shape[1] - n_dead, Y.shape[1] - n_dead)
        assert b.similarity == a.size / (b.n_x + b.n_y)
        assert a.similarity == a.size / (X.shape[1] + Y.shape[1])
    c = repsim.match_curve(X, Y, eps=[0.3, 0.6], center=center, dead="exclude")
    assert [m.similarity for m in c.matches] == list(c.similarity)


def test_all_dead_layer():
    X = np.zeros((20, 3))
    Y = np.random.default_rng(0).normal(size=(20, 4))
    with pytest.warns(RuntimeWarning, match="every neuron of site 'X' is dead"):
        m = repsim.max_match(X, Y, 0.5)
    assert m.size == 0 and m.dead_x.size == 3 and m.similarity == 0.0
    with pytest.warns(RuntimeWarning, match="every neuron of site 'X' is dead"):
        m = repsim.max_match(X, Y, 0.5, dead="exclude")
    assert (m.n_x, m.n_y, m.similarity) == (0, 4, 0.0)


@pytest.mark.parametrize("batch", [1, 7, 256])
def test_streaming_gives_the_same_matches(batch):
    X, Y = _case(*CASES[2])  # means 1e3
    one = moments_of({"x": X, "y": Y})
    st = moments_of({"x": X, "y": Y}, batch=batch)
    for center in (False, True):
        a = one.match_curve("x", "y", eps=EPS, center=center)
        b = st.match_curve("x", "y", eps=EPS, center=center)
        assert [m.key() for m in a.matches] == [m.key() for m in b.matches]
        sa = one.simple_matches("x", "y", 0.4, center=center)
        sb = st.simple_matches("x", "y", 0.4, center=center)
        assert [m.key() for m in sa] == [m.key() for m in sb]


# ------------------------------------------------------------------------------------------ simple matches


SIMPLE_CASES = [
    (10, 30, 9, 8, 0.0, 0, 0, 2),
    (11, 60, 10, 9, 1.0, 1, 1, 3),
    (12, 16, 8, 10, 1e3, 1, 0, 3),
    (13, 60, 11, 10, 0.0, 0, 0, 0),
]


@pytest.mark.parametrize("case", SIMPLE_CASES, ids=[f"case{c[0]}" for c in SIMPLE_CASES])
@pytest.mark.parametrize("center", [False, True])
@pytest.mark.parametrize("eps", [0.25, 0.5])
def test_simple_matches_equal_oracle(case, center, eps):
    X, Y = _case(*case)
    p = X.shape[1]
    sm = repsim.simple_matches(X, Y, eps, center=center)
    assert isinstance(sm, repsim.SimpleMatches) and sm.eps == eps
    top = naive.max_match(X, Y, eps, center)
    assert sm.maximum.key() == _key(top) == repsim.max_match(X, Y, eps, center=center).key()
    oracle = naive.simple_matches(X, Y, eps, center)  # {match: [the v's whose v-minimum match it is]}
    assert sorted(m.key() for m in sm) == sorted(oracle)
    # largest first; sizes and their distribution
    assert list(sm.sizes) == sorted(sm.sizes, reverse=True)
    np.testing.assert_array_equal(sm.sizes, [m.size for m in sm])
    dist = sm.size_distribution()
    assert sum(dist.values()) == len(sm) and all(dist[s] == list(sm.sizes).count(s) for s in dist)
    covered = set()
    for m in sm:
        vs = oracle[m.key()]
        members = set(m.x_indices.tolist()) | {p + j for j in m.y_indices.tolist()}
        assert set(vs) <= members  # contains its v
        covered |= members
        assert naive.is_match(X, Y, m.x_indices, m.y_indices, eps, center)
        # Algorithm 2's fixpoint: for its v, no single other neuron can be removed while v stays matched
        assert all(naive.is_v_minimum(X, Y, m.x_indices, m.y_indices, v, eps, center) for v in vs)
        assert m.similarity == m.size / (X.shape[1] + Y.shape[1])
    # every neuron of the maximum match lies in some simple match (its own v-minimum match)
    assert covered == set(top["x"].tolist()) | {p + j for j in top["y"].tolist()}
    # threads do not change the result
    assert [m.key() for m in repsim.simple_matches(X, Y, eps, center=center, n_threads=1)] == [m.key() for m in sm]


def test_simple_matches_of_planted_pairs(rng):
    """Three disjoint planted pairs (x_i ∝ y_i) plus noise: the simple matches are exactly those pairs."""
    n = 500
    Z = rng.normal(size=(n, 3))
    X = np.hstack([rng.normal(size=(n, 2)), Z * [1.0, -2.0, 0.5]])
    Y = np.hstack([Z[:, ::-1] * [3.0, 1.0, -1.0], rng.normal(size=(n, 2))])
    sm = repsim.simple_matches(X, Y, 0.1)
    assert sorted(m.key() for m in sm) == [((2,), (2,)), ((3,), (1,)), ((4,), (0,))]
    assert sm.size_distribution() == {2: 3}
    assert sm.maximum.key() == ((2, 3, 4), (0, 1, 2))


def test_simple_matches_empty_when_nothing_matches(rng):
    X, Y = naive.independent_noise(rng, 500, 4, 5)
    sm = repsim.simple_matches(X, Y, 0.2)
    assert len(sm) == 0 and sm.size_distribution() == {} and sm.maximum.size == 0


# ------------------------------------------------------------------------------------------ Moments and errors


def test_moments_methods_equal_array_functions():
    X, Y = _case(*CASES[5])
    W = X[:, :4] @ np.random.default_rng(3).normal(size=(4, 5))
    m = moments_of({"x": X, "y": Y, "w": W}, batch=13)
    for center in (False, True):
        assert m.max_match("x", "y", 0.4, center=center).key() == repsim.max_match(X, Y, 0.4, center=center).key()
        assert m.max_match("w", "x", 0.3, center=center).key() == repsim.max_match(W, X, 0.3, center=center).key()
        a = m.match_curve("x", "y", eps=[0.2, 0.5], center=center, dead="exclude")
        b = repsim.match_curve(X, Y, eps=[0.2, 0.5], center=center, dead="exclude")
        np.testing.assert_array_equal(a.similarity, b.similarity)
        sa = m.simple_matches("y", "x", 0.5, center=center)
        sb = repsim.simple_matches(Y, X, 0.5, center=center)
        assert [s.key() for s in sa] == [s.key() for s in sb]


def test_bad_arguments_raise(rng):
    X, Y = naive.correlated_pair(rng, 40, 4, 3)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="eps"):
            repsim.max_match(X, Y, bad)
        with pytest.raises(ValueError, match="eps"):
            repsim.simple_matches(X, Y, bad)
        with pytest.raises(ValueError, match="eps"):
            repsim.match_curve(X, Y, eps=[0.1, bad])
    for bad in ("0.1", True, None):
        with pytest.raises(TypeError, match="eps"):
            repsim.max_match(X, Y, bad)
    with pytest.raises(ValueError, match="eps"):
        repsim.match_curve(X, Y, eps=[])
    with pytest.raises(ValueError, match="eps"):
        repsim.match_curve(X, Y, eps=[[0.1, 0.2]])
    with pytest.raises(ValueError, match="dead"):
        repsim.max_match(X, Y, 0.1, dead="drop")
    with pytest.raises(ValueError, match="dead"):
        repsim.simple_matches(X, Y, 0.1, dead="")
    with pytest.raises(ValueError, match="same number of rows"):
        repsim.max_match(X, Y[:30], 0.1)
    m = moments_of({"x": X, "y": Y})
    with pytest.raises(ValueError, match="unknown site"):
        m.max_match("x", "q", 0.1)


@pytest.fixture
def scalar_match_kernels():
    """Run the match kernels without SciPy's LAPACK (their scalar fallback), restoring the setting afterwards."""
    from repsim._engines import HAVE_CORE, require_core

    if not HAVE_CORE:
        pytest.skip("the C++ match kernels are not built (the Numba engine's scalar path: tests/test_match_numba.py)")
    core = require_core("max_match")
    previous = core._match_lapack(False)
    try:
        yield
    finally:
        core._match_lapack(previous)


@pytest.mark.parametrize("center", [False, True])
def test_scalar_fallback_gives_the_same_matches(center, scalar_match_kernels):
    """The LAPACK rebuild (dpotrf + dtrsm) and the scalar promotion path decide identically, against the oracle."""
    for case in CASES[:4]:
        X, Y = _case(*case)
        curve = repsim.match_curve(X, Y, eps=EPS, center=center)
        for e, m in zip(EPS, curve.matches):
            assert m.key() == _key(naive.max_match(X, Y, e, center))
    X, Y = _case(*SIMPLE_CASES[0])
    assert sorted(m.key() for m in repsim.simple_matches(X, Y, 0.25, center=center)) == sorted(
        naive.simple_matches(X, Y, 0.25, center))


def test_match_kernels_find_scipys_lapack_and_config_says_so():
    from repsim._config import config
    from repsim._engines import HAVE_CORE, require_core

    if not HAVE_CORE:
        pytest.skip("the C++ match kernels are not built")
    assert require_core("max_match").lapack_loaded() is True  # SciPy is a dependency: its LAPACK must be found
    info = config()
    assert info["match kernels' LAPACK"] == "SciPy's dpotrf/dtrsm"
    assert info["OPENBLAS_THREAD_TIMEOUT"] != "unset"  # repsim sets a default at import
