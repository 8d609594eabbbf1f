"""Shape metrics (Williams et al. 2021 with netrep's conventions), permutation Procrustes, the Bures distance and
ReSi's closed forms (docs/math.md §9): each against its naive float64 oracle on the activations (tests/naive_shape.py),
on data with large means, planted structure and pure noise; the invariances each has (also those that hold only for
some options); streaming = one shot; ids; errors and degenerate input."""
from __future__ import annotations

import numpy as np
import pytest

import naive_shape
import repsim

TOL = 1e-10

ORACLES = {  # name → (options, oracle)
    "bures_distance": ({}, naive_shape.bures_distance),
    "hard_correlation_match": ({}, naive_shape.hard_correlation_match),
    "soft_correlation_match": ({}, naive_shape.soft_correlation_match),
    "eigenspace_overlap": ({}, naive_shape.eigenspace_overlap),
    "magnitude_difference": ({}, naive_shape.magnitude_difference),
}
for _a in (0.0, 0.3, 0.5, 1.0):
    for _s in ("angular", "euclidean"):
        ORACLES[f"shape_metric[{_a},{_s}]"] = ({"alpha": _a, "score": _s},
                                               lambda X, Y, alpha, score: naive_shape.shape_metric(X, Y, alpha, score))
for _c in (True, False):
    for _s in ("angular", "euclidean"):
        ORACLES[f"permutation_metric[{_c},{_s}]"] = (
            {"center": _c, "score": _s}, lambda X, Y, center, score: naive_shape.permutation_procrustes(X, Y, center,
                                                                                                         score))
for _r in (0.0, 0.1):
    ORACLES[f"gulp[{_r}]"] = ({"ridge": _r}, lambda X, Y, ridge: naive_shape.gulp(X, Y, ridge))
for _t in ("x", "y"):
    ORACLES[f"linear_r2[{_t}]"] = ({"target": _t}, lambda X, Y, target: naive_shape.linear_regression(X, Y, target))


def _pair(rng, n, p, q, mean, k=3, noise=0.5):
    Z = rng.normal(size=(n, k))
    X = Z @ rng.normal(size=(k, p)) + noise * rng.normal(size=(n, p)) + mean * rng.normal(size=(1, p))
    Y = Z @ rng.normal(size=(k, q)) + noise * rng.normal(size=(n, q)) + mean * rng.normal(size=(1, q))
    return X, Y


def _close(got, want, tol=TOL, what=""):
    assert abs(got - want) <= tol * max(1.0, abs(want)), f"{what}: got {got!r}, want {want!r}"


@pytest.mark.parametrize("key", list(ORACLES))
@pytest.mark.parametrize("n, p, q, mean", [(150, 6, 6, 0.0), (200, 5, 9, 1e3), (120, 11, 4, 30.0), (60, 3, 1, 5.0)])
def test_measure_equals_its_oracle(key, n, p, q, mean, rng):
    name = key.split("[")[0]
    options, oracle = ORACLES[key]
    X, Y = _pair(rng, n, p, q, mean)
    _close(repsim.measure(name)(X, Y, **options), oracle(X, Y, **options), what=f"{key} {(n, p, q, mean)}")


def test_streamed_and_matrix_equal_one_shot(rng):
    X, Y = _pair(rng, 300, 7, 5, 100.0)
    m = repsim.Moments()
    for i in range(0, 300, 37):
        m.update({"x": X[i:i + 37], "y": Y[i:i + 37]})
    for key, (options, _) in ORACLES.items():
        name = key.split("[")[0]
        M = m.matrix(name, **options)
        _close(M["x", "y"], repsim.measure(name)(X, Y, **options), 1e-10, key)
        # a site with itself: 0 (distances) or 1; the array call sees two copies, √(rounding) · size for distances
        scale = np.linalg.norm(X - X.mean(0)) if options.get("score") == "euclidean" or name == "bures_distance" else 1
        assert M["x", "x"] == pytest.approx(repsim.measure(name)(X, X.copy(), **options), abs=1e-6 * scale + 1e-7)


# ---------------------------------------------------------------------------------------------- planted structure
def test_planted_orthogonal_map_gives_zero_for_every_alpha(rng):
    X, _ = _pair(rng, 200, 6, 6, 50.0)
    Q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    Y = X @ Q + 7.0
    for alpha in (0.0, 0.25, 0.5, 1.0):
        for score in ("angular", "euclidean"):
            scale = np.linalg.norm(X - X.mean(0)) if score == "euclidean" else 1.0  # √(rounding) of the sizes
            assert repsim.measure("shape_metric")(X, Y, alpha=alpha, score=score) < 1e-7 * scale
    assert repsim.measure("bures_distance")(X, Y) < 1e-7 * np.linalg.norm(X - X.mean(0))
    assert repsim.measure("gulp")(X, Y) == pytest.approx(0.0, abs=1e-10)


def test_planted_invertible_map_gives_zero_at_alpha_zero_only(rng):
    X, _ = _pair(rng, 200, 6, 6, 50.0)
    A = rng.normal(size=(6, 6)) + 3 * np.eye(6)
    Y = X @ A - 3.0
    assert repsim.measure("shape_metric")(X, Y, alpha=0.0) < 1e-6
    assert repsim.measure("shape_metric")(X, Y, alpha=0.5) > 1e-3
    assert repsim.measure("gulp")(X, Y) == pytest.approx(0.0, abs=1e-10)
    assert repsim.measure("linear_r2")(X, Y) == pytest.approx(1.0, abs=1e-12)
    assert repsim.measure("eigenspace_overlap")(X, X @ A) == pytest.approx(1.0, abs=1e-12)


def test_planted_permutation_gives_zero_and_full_match(rng):
    X, _ = _pair(rng, 200, 8, 8, 20.0)
    perm = rng.permutation(8)
    Y = X[:, perm]
    assert repsim.measure("permutation_metric")(X, Y) < 1e-6
    assert repsim.measure("permutation_metric")(X, Y, center=False, score="euclidean") < 1e-5
    assert repsim.measure("hard_correlation_match")(X, Y) == pytest.approx(1.0, abs=1e-12)
    assert repsim.measure("soft_correlation_match")(X, Y * rng.uniform(0.5, 2, size=8)) == pytest.approx(1.0,
                                                                                                        abs=1e-12)
    assert repsim.measure("shape_metric")(X, X @ np.eye(8)[:, perm]) < 1e-6


def test_pure_noise_is_far_and_in_range(rng):
    X, Y = rng.normal(size=(2000, 5)), rng.normal(size=(2000, 5))
    assert repsim.measure("shape_metric")(X, Y) > 1.3  # near π/2 for independent noise
    assert repsim.measure("hard_correlation_match")(X, Y) < 0.1
    assert repsim.measure("gulp")(X, Y) == pytest.approx(10.0, abs=0.1)  # r_x + r_y − 2Σρ², ρ ≈ 0
    assert 0.0 <= repsim.measure("linear_r2")(X, Y) < 0.01
    assert repsim.measure("eigenspace_overlap")(X, Y) < 0.01


# ---------------------------------------------------------------------------------------------- invariances
def _transform(rng, p, kind):
    if kind == "orthogonal":
        Q, _ = np.linalg.qr(rng.normal(size=(p, p)))
        return lambda X: X @ Q
    if kind == "isotropic":
        return lambda X: 7.5 * X
    if kind == "translation":
        t = rng.normal(size=(1, p)) * 100
        return lambda X: X + t
    if kind == "invertible":
        A = rng.normal(size=(p, p)) + 3 * np.eye(p)
        return lambda X: X @ A
    if kind == "permutation":
        perm = rng.permutation(p)
        return lambda X: X[:, perm]
    s = rng.uniform(0.5, 4.0, size=(1, p))
    return lambda X: X * s


INVARIANT = [  # (measure, options, transforms that leave it unchanged, transforms that change it)
    ("shape_metric", {"alpha": 0.5}, ("orthogonal", "translation"), ("isotropic", "invertible")),
    ("shape_metric", {"alpha": 0.5, "score": "euclidean"}, ("orthogonal", "translation"), ("isotropic",)),
    ("shape_metric", {"alpha": 1.0}, ("orthogonal", "translation", "isotropic"), ("invertible",)),
    ("shape_metric", {"alpha": 0.0}, ("orthogonal", "translation", "isotropic", "invertible"), ()),
    ("shape_metric", {"alpha": 0.0, "score": "euclidean"}, ("orthogonal", "translation"), ("isotropic", "invertible")),
    ("bures_distance", {}, ("orthogonal", "translation"), ("isotropic",)),
    ("permutation_metric", {}, ("permutation", "translation", "isotropic"), ("orthogonal",)),
    ("permutation_metric", {"center": False, "score": "euclidean"}, ("permutation",), ("translation",)),
    ("hard_correlation_match", {}, ("permutation", "scaling", "isotropic", "translation"), ("orthogonal",)),
    ("soft_correlation_match", {}, ("permutation", "scaling", "isotropic", "translation"), ("orthogonal",)),
    ("eigenspace_overlap", {}, ("invertible", "orthogonal", "isotropic"), ("translation",)),
    ("gulp", {}, ("invertible", "orthogonal", "isotropic", "translation"), ()),
    ("gulp", {"ridge": 0.1}, ("orthogonal", "isotropic", "translation"), ("invertible",)),
    ("magnitude_difference", {}, ("orthogonal", "permutation"), ("isotropic", "translation")),
]


@pytest.mark.parametrize("name, options, holds, fails", INVARIANT)
def test_invariances(name, options, holds, fails, rng):
    X, Y = _pair(rng, 150, 6, 5, 10.0, k=4)
    f = repsim.measure(name)
    base = f(X, Y, **options)
    for kind in holds:
        for side in ("x", "y"):
            T = _transform(rng, (X if side == "x" else Y).shape[1], kind)
            got = f(T(X), Y, **options) if side == "x" else f(X, T(Y), **options)
            _close(got, base, 1e-8, f"{name}{options} under {kind} of {side}")
    for kind in fails:
        got = f(_transform(rng, X.shape[1], kind)(X), Y, **options)
        assert abs(got - base) > 1e-6, f"{name}{options} should change under {kind}"


def test_linear_r2_is_invariant_to_invertible_maps_of_the_predictor_only(rng):
    X, Y = _pair(rng, 150, 6, 5, 10.0)
    A = rng.normal(size=(6, 6)) + 3 * np.eye(6)
    base = repsim.measure("linear_r2")(X, Y)
    _close(repsim.measure("linear_r2")(X @ A, Y), base, 1e-9)
    assert repsim.measure("linear_r2")(Y, X, target="x") == pytest.approx(base, rel=1e-12)


# ---------------------------------------------------------------------------------------------- ids and conventions
def test_ids_of_other_libraries(rng):
    X, Y = _pair(rng, 120, 5, 7, 3.0)
    m = repsim.measure
    assert m("LinearMetric(alpha=0.5, score_method='euclidean')")(X, Y) == m("shape_metric")(X, Y, alpha=0.5,
                                                                                             score="euclidean")
    assert m("ProcrustesSizeAndShapeDistance")(X, Y) == m("bures_distance")(X, Y)
    _close(m("bures_distance")(X, Y), m("shape_metric")(X, Y, score="euclidean"), 1e-12)
    assert m("PermutationProcrustes")(X, Y) == m("permutation_metric")(X, Y, center=False, score="euclidean")
    # ReSi's LinearRegression(R, R') explains its first argument: target="x"
    _close(m("LinearRegression")(X, Y), naive_shape.linear_regression(Y, X), 1e-10)
    assert m("OrthogonalAngularShapeMetricCentered")(X, Y) == repsim.procrustes(X, Y, form="angular")
    _close(m("shape_metric")(X, Y), repsim.procrustes(X, Y, form="angular"), 1e-12)
    for rid in ("Gulp", "HardCorrelationMatch", "SoftCorrelationMatch", "EigenspaceOverlapScore",
                "MagnitudeDifference", "CKA", "PWCCA"):
        assert repsim.measure(rid).name


def test_zero_padding_follows_netrep(rng):
    """Unequal widths: the padded columns' clipped eigenvalues enter netrep's variance rescaling (euclidean)."""
    X, Y = _pair(rng, 100, 3, 9, 1.0)
    for alpha in (0.2, 0.7):
        _close(repsim.measure("shape_metric")(X, Y, alpha=alpha, score="euclidean"),
               naive_shape.shape_metric(X, Y, alpha, "euclidean"), 1e-10)


# ---------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("options, err", [({"alpha": 1.5}, ValueError), ({"alpha": -0.1}, ValueError),
                                          ({"alpha": "0"}, TypeError), ({"score": "cosine"}, ValueError)])
def test_bad_options_name_the_argument(options, err, rng):
    X, Y = _pair(rng, 50, 3, 3, 0.0)
    with pytest.raises(err, match="alpha|score"):
        repsim.measure("shape_metric")(X, Y, **options)


def test_bad_options_of_the_resi_family(rng):
    X, Y = _pair(rng, 50, 3, 3, 0.0)
    with pytest.raises(ValueError, match="target"):
        repsim.measure("linear_r2")(X, Y, target="z")
    with pytest.raises(ValueError, match="ridge"):
        repsim.measure("gulp")(X, Y, ridge=-1.0)
    with pytest.raises(TypeError, match="center"):
        repsim.measure("permutation_metric")(X, Y, center="yes")


def test_constant_site_warns_and_gives_nan(rng):
    X = rng.normal(size=(40, 3))
    C = np.full((40, 2), 3.0)
    for name in ("shape_metric", "permutation_metric", "gulp"):
        with pytest.warns(RuntimeWarning, match="constant"):
            assert np.isnan(repsim.measure(name)(X, C))
    with pytest.warns(RuntimeWarning, match="constant"):
        assert np.isnan(repsim.measure("linear_r2")(X, C))
    assert repsim.measure("hard_correlation_match")(X, C) == 0.0  # a constant neuron correlates 0 (sklearn's cosine)
    _close(repsim.measure("bures_distance")(X, C), np.sqrt(np.sum((X - X.mean(0)) ** 2)), 1e-12)
