"""ReSi's Gram-space measures (docs/math.md §9.5): RSM norm difference, distance correlation, uniformity and
concentricity differences, aligned cosine similarity, and the Gram-space form of the magnitude difference.

Each against its naive float64 oracle written from the definition on the n × n matrices (tests/naive_resi.py), on
random data with large means, wide layers (n < p), one-feature layers and planted structure; the invariances each
claims (and the transforms that change it); ``GramMoments.matrix`` from feature blocks = the one-shot call; the
Lanczos path of the spectral norm; degenerate inputs; ReSi's own implementation, when a copy of it imports
(``<peers>/resi``, REPSIM_PEERS, default /work/peers; it needs scikit-learn, einops, loguru and torch); and how many
of ReSi's measures repsim reaches by name.
"""
from __future__ import annotations

import importlib
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import naive_resi
import naive_shape
import repsim
from repsim.metrics import resi as resi_metrics

TOL = 1e-10

NEW = ("rsm_norm_difference", "distance_correlation", "uniformity_difference", "concentricity_difference",
       "aligned_cosine")
ORACLES = {name: getattr(naive_resi, name) for name in NEW}
ORACLES["magnitude_difference"] = naive_shape.magnitude_difference

RESI_MEASURES = naive_resi.RESI_MEASURES


def _pair(rng, n, p, q, mean, k=3, noise=0.5, scale=1.0):
    Z = rng.normal(size=(n, k))
    X = Z @ rng.normal(size=(k, p)) + noise * rng.normal(size=(n, p))
    Y = Z @ rng.normal(size=(k, q)) + noise * rng.normal(size=(n, q))
    return scale * X + mean * rng.normal(size=(1, p)), scale * Y + mean * rng.normal(size=(1, q))


def _close(got, want, tol=TOL, what=""):
    assert abs(got - want) <= tol * max(1.0, abs(want)), f"{what}: got {got!r}, want {want!r}"


CASES = [  # (n, p, q, mean, scale): large means, wide (n < p), one feature, small spread (uniformity informative)
    (150, 6, 6, 0.0, 1.0), (200, 5, 9, 1e3, 1.0), (120, 11, 4, 30.0, 0.2), (60, 3, 1, 5.0, 1.0),
    (40, 90, 70, 10.0, 0.05), (80, 12, 12, 1.0, 0.1),
]


@pytest.mark.parametrize("name", list(ORACLES))
@pytest.mark.parametrize("n, p, q, mean, scale", CASES)
def test_measure_equals_its_oracle(name, n, p, q, mean, scale, rng):
    X, Y = _pair(rng, n, p, q, mean, scale=scale)
    want = ORACLES[name](X, Y)
    _close(repsim.measure(name)(X, Y, space="gram"), want, what=f"{name} {(n, p, q, mean, scale)}")
    # the arguments swapped: every one of them is symmetric
    _close(repsim.measure(name)(Y, X, space="gram"), want, what=f"{name} swapped")


def test_uniformity_cases_are_informative(rng):
    """The data of the oracle test reach both regimes of exp(−2‖x_i − x_j‖²): all off-diagonal terms vanish (wide
    unscaled layers: U = −log n on both sides) and a value in between."""
    X, Y = _pair(rng, 80, 12, 12, 1.0, scale=0.1)
    assert -np.log(80) + 0.1 < naive_resi.uniformity(X) < -0.1
    assert naive_resi.uniformity_difference(X, Y) > 1e-3


def test_streamed_matrix_equals_one_shot(rng):
    """GramMoments fed column blocks in any order: the site × site matrix = the one-shot calls, symmetric, each site
    prepared once (memoised on the view)."""
    n = 70
    sites = {"a": _pair(rng, n, 9, 5, 20.0)[0], "b": _pair(rng, n, 40, 3, 0.0, scale=0.3)[0],
             "c": _pair(rng, n, 2, 2, 3.0)[1]}
    g = repsim.GramMoments(n)
    g.update_features({s: v[:, :1] for s, v in sites.items()})
    for s, v in sites.items():
        for j in range(1, v.shape[1], 4):
            g.update_features({s: v[:, j:j + 4]})
    for name in ORACLES:
        M = g.matrix(name)
        for s in sites:
            for t in sites:
                _close(M[s, t], ORACLES[name](sites[s], sites[t]), what=f"{name} {s},{t}")
                assert M[s, t] == pytest.approx(M[t, s], rel=1e-12, abs=1e-15)
        ident = 1.0 if repsim.measure(name).kind == "similarity" else 0.0
        assert np.allclose(np.diag(M.values), ident, atol=1e-9)
    keys = g.view("geometry").memo_keys()
    assert sum(k[0] == "resi-dist" for k in keys) == len(sites)
    assert sum(k[0] == "resi-aligned" for k in keys) == len(sites)


def test_compare_routes_them_to_gram_space():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.ReLU(), torch.nn.Linear(6, 4))
    data = [torch.randn(32, 5) for _ in range(3)]
    ids = ["DistanceCorrelation", "RSMNormDifference", "AlignedCosineSimilarity", "UniformityDifference",
           "ConcentricityDifference", "MagnitudeDifference"]
    report = repsim.compare({"a": model}, data, ["0", "2"], metrics=ids, progress=False)
    X = torch.cat([model[0](x) for x in data]).detach().numpy().astype(np.float64)
    Y = torch.cat([model(x) for x in data]).detach().numpy().astype(np.float64)
    for i in ids:
        _close(report[i]["a.0", "a.2"], ORACLES[repsim.measure(i).name](X, Y), 1e-9, i)


# ---------------------------------------------------------------------------------------------- planted structure
def _orthogonal(rng, p):
    return np.linalg.qr(rng.normal(size=(p, p)))[0]


def test_planted_maps_give_the_extreme_value(rng):
    X, _ = _pair(rng, 120, 7, 7, 4.0)
    Q = _orthogonal(rng, 7)
    moved = X @ Q + 13.0  # rotated and translated: every distance kept
    assert repsim.measure("rsm_norm_difference")(X, moved) < 1e-10 * np.abs(naive_resi.distances(X)).max() * 120
    assert repsim.measure("uniformity_difference")(X, moved) < 1e-12
    assert repsim.measure("distance_correlation")(X, 3.0 * moved) == pytest.approx(1.0, abs=1e-12)
    rotated = 0.25 * X @ Q  # rotated and scaled: every cosine kept
    assert repsim.measure("concentricity_difference")(X, rotated) < 1e-12
    assert repsim.measure("aligned_cosine")(X, rotated) == pytest.approx(1.0, abs=1e-12)
    assert repsim.measure("magnitude_difference")(X, X @ Q, space="gram") < 1e-12


def test_rsm_norm_difference_is_the_spectral_norm(rng):
    """ReSi's ord=2: the largest singular value, below the Frobenius norm of the same difference."""
    X, Y = _pair(rng, 50, 4, 6, 0.0)
    D = naive_resi.distances(X) - naive_resi.distances(Y)
    got = repsim.measure("rsm_norm_difference")(X, Y)
    _close(got, np.linalg.svd(D, compute_uv=False)[0])
    assert got < 0.99 * np.linalg.norm(D)


def test_lanczos_path_equals_the_dense_eigensolver(rng, monkeypatch):
    X, Y = _pair(rng, 90, 5, 8, 50.0)
    dense = repsim.measure("rsm_norm_difference")(X, Y)
    monkeypatch.setattr(resi_metrics, "SPECTRAL_DENSE_MAX", 10)
    lanczos = repsim.measure("rsm_norm_difference")(X, Y)
    _close(lanczos, dense, 1e-12)
    _close(lanczos, naive_resi.rsm_norm_difference(X, Y))
    # equal distances: a zero difference (no Lanczos start), or one at the rounding level
    A = rng.normal(size=(40, 3))
    assert repsim.measure("rsm_norm_difference")(A, A.copy()) == 0.0
    assert repsim.measure("rsm_norm_difference")(A, A @ _orthogonal(rng, 3) + 5.0) < 1e-12
    # every pair of a matrix: the same numbers as the dense solver
    g = repsim.GramMoments(90).update_features({"x": X, "y": Y, "z": X[:, :2]})
    M = g.matrix("rsm_norm_difference")
    monkeypatch.setattr(resi_metrics, "SPECTRAL_DENSE_MAX", 2048)
    np.testing.assert_allclose(M.values, g.copy().matrix("rsm_norm_difference").values, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------- invariances
def _transform(rng, p, kind):
    if kind == "orthogonal":
        Q = _orthogonal(rng, p)
        return lambda X: X @ Q
    if kind == "isotropic":
        return lambda X: 7.5 * X
    if kind == "translation":
        t = rng.normal(size=(1, p)) * 50
        return lambda X: X + t
    if kind == "permutation":
        perm = rng.permutation(p)
        return lambda X: X[:, perm]
    if kind == "scaling":
        s = rng.uniform(0.5, 4.0, size=(1, p))
        return lambda X: X * s
    A = rng.normal(size=(p, p)) + 3 * np.eye(p)
    return lambda X: X @ A


INVARIANT = [  # (measure, transforms that leave it unchanged, transforms that change it)
    ("rsm_norm_difference", ("orthogonal", "permutation", "translation"), ("isotropic", "scaling", "invertible")),
    ("distance_correlation", ("orthogonal", "permutation", "translation", "isotropic"), ("scaling", "invertible")),
    ("uniformity_difference", ("orthogonal", "permutation", "translation"), ("isotropic", "scaling", "invertible")),
    ("concentricity_difference", ("orthogonal", "permutation", "isotropic"), ("translation", "scaling")),
    ("aligned_cosine", ("orthogonal", "permutation", "isotropic"), ("translation", "scaling", "invertible")),
    ("magnitude_difference", ("orthogonal", "permutation"), ("isotropic", "translation")),
]


@pytest.mark.parametrize("name, holds, fails", INVARIANT)
def test_invariances(name, holds, fails, rng):
    X, Y = _pair(rng, 150, 6, 5, 2.0, k=4, scale=0.3)
    f = lambda A, B: repsim.measure(name)(A, B, space="gram")  # noqa: E731
    base = f(X, Y)
    for kind in holds:
        for side in ("x", "y"):
            T = _transform(rng, (X if side == "x" else Y).shape[1], kind)
            got = f(T(X), Y) if side == "x" else f(X, T(Y))
            _close(got, base, 1e-9, f"{name} under {kind} of {side}")
    for kind in fails:
        got = f(_transform(rng, X.shape[1], kind)(X), Y)
        assert abs(got - base) > 1e-6, f"{name} should change under {kind}"


def test_registry_claims_match_the_invariance_table():
    words = {"orthogonal": repsim.metrics.registry.ORTHOGONAL, "isotropic": repsim.metrics.registry.ISOTROPIC,
             "translation": repsim.metrics.registry.TRANSLATION}
    for name, holds, fails in INVARIANT:
        claimed = set(repsim.measure(name).invariances)
        assert {words[k] for k in holds if k in words} == claimed, name
        assert not {words[k] for k in fails if k in words} & claimed, name


# ---------------------------------------------------------------------------------------------- degenerate input
def test_constant_representation():
    rng = np.random.default_rng(3)
    X, C = rng.normal(size=(30, 4)), np.full((30, 3), 2.5)
    with pytest.warns(RuntimeWarning, match="distance_correlation"):
        assert np.isnan(repsim.measure("distance_correlation")(X, C))
    assert repsim.measure("uniformity_difference")(X, C) == pytest.approx(-naive_resi.uniformity(X), rel=1e-12)
    assert repsim.measure("rsm_norm_difference")(X, C) == pytest.approx(
        np.linalg.norm(naive_resi.distances(X), ord=2), rel=1e-12)
    _close(repsim.measure("concentricity_difference")(X, C), naive_resi.concentricity_difference(X, C))
    _close(repsim.measure("aligned_cosine")(X, C), naive_resi.aligned_cosine(X, C))


def test_zero_samples_and_zero_mean():
    """sklearn's cosine gives a zero vector cosine 0 (concentricity); ReSi's aligned cosine leaves zero samples out;
    a representation that is zero everywhere has no aligned cosine (ReSi raises, repsim warns and returns NaN)."""
    rng = np.random.default_rng(4)
    X, Y = rng.normal(size=(25, 3)) + 1.0, rng.normal(size=(25, 4))
    X[[2, 7]] = 0.0
    Y[[7, 11]] = 0.0
    for name in ("concentricity_difference", "aligned_cosine"):
        _close(repsim.measure(name)(X, Y), ORACLES[name](X, Y), what=name)
    centred = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]])  # mean exactly 0: every cosine 0
    assert naive_resi.concentricity(centred) == 0.0
    _close(repsim.measure("concentricity_difference")(centred, X[:4]), naive_resi.concentricity(X[:4]))
    with pytest.warns(RuntimeWarning, match="aligned_cosine"):
        assert np.isnan(repsim.measure("aligned_cosine")(np.zeros((10, 3)), Y[:10]))


def test_no_feature_space_form():
    X = np.ones((10, 2)) + np.arange(20).reshape(10, 2)
    for name in NEW:
        assert repsim.measure(name).spaces == ("gram",)
        with pytest.raises(ValueError, match="no feature-space form"):
            repsim.measure(name)(X, X, space="feature")
    m = repsim.Moments().update({"a": X, "b": X})
    with pytest.raises(ValueError, match="no feature-space form"):
        m.matrix("rsm_norm_difference")


# ---------------------------------------------------------------------------------------------- ReSi itself
def test_resi_ids_reach_at_least_twenty_measures():
    """Issue 16: ≥ 20 of ReSi's measures reachable by name (``repsim.measure(<ReSi class name>)``)."""
    reached = {}
    for rid, name in RESI_MEASURES.items():
        try:
            reached[rid] = repsim.measure(rid).name
        except ValueError:
            reached[rid] = None
    assert reached == RESI_MEASURES
    assert sum(v is not None for v in reached.values()) >= 21  # of the 25 classes; 20 of the paper's 24


def _load_resi():
    """ReSi's ``ALL_MEASURES`` from the copy at <peers>/resi, imported with that folder on sys.path for the import
    only; skip when the copy or its dependencies are missing."""
    peers = Path(os.environ.get("REPSIM_PEERS", "/work/peers"))
    if not (peers / "resi" / "measures" / "__init__.py").is_file():
        pytest.skip(f"no copy of ReSi at {peers / 'resi'}")
    sys.path.insert(0, str(peers))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                measures = importlib.import_module("resi.measures")
            except ImportError as e:  # its own dependencies (scikit-learn, einops, loguru, torch)
                pytest.skip(f"ReSi does not import here: {e}")
    finally:
        sys.path.remove(str(peers))
    try:
        from loguru import logger
        logger.remove()  # ReSi logs each call at INFO
    except ImportError:  # pragma: no cover
        pass
    return measures.ALL_MEASURES


@pytest.fixture(scope="module")
def resi_measures():
    return _load_resi()


def test_resi_measure_list_is_the_one_counted(resi_measures):
    assert set(resi_measures) == set(RESI_MEASURES)


RESI_NEW = ("RSMNormDifference", "DistanceCorrelation", "UniformityDifference", "ConcentricityDifference",
            "AlignedCosineSimilarity", "MagnitudeDifference")


@pytest.mark.parametrize("rid", RESI_NEW)
@pytest.mark.parametrize("n, p, q, mean, scale", CASES)
def test_equals_resi(rid, n, p, q, mean, scale, rng, resi_measures):
    """Same call order, same number: ≤ 1e-9 relative (ReSi's sklearn Euclidean distances are |x|² + |y|² − 2xy,
    which loses ~1e-12 relative at means of 1e3; repsim's come from the centred Gram)."""
    X, Y = _pair(rng, n, p, q, mean, scale=scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = float(resi_measures[rid](X, Y, shape="nd"))
    _close(repsim.measure(rid)(X, Y, space="gram"), want, 1e-9, f"{rid} {(n, p, q, mean, scale)}")
