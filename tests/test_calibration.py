"""Aggregation-aware calibration of a layer × layer comparison (repsim.inference.calibrate_layers): equal to
calibrated-similarity's calibrate_layers with the same permutations; planted vs independent models; refusals."""
from __future__ import annotations

import numpy as np
import pytest

from repsim.gram import GramMoments
from repsim.inference import calibrate_layers

N = 60


def two_models(seed=0, signal=1.0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(N, 4))
    a = {f"a{k}": np.tanh(z @ rng.normal(size=(4, 8 + k))) + 0.3 * rng.normal(size=(N, 8 + k)) + 5.0
         for k in range(3)}
    w = z if signal else rng.normal(size=(N, 4))
    b = {f"b{k}": signal * np.tanh(w @ rng.normal(size=(4, 6))) + 0.5 * rng.normal(size=(N, 6)) for k in range(2)}
    return a, b


def grams(a, b):
    return GramMoments(N, tile=16).update_features({**a, **b})


@pytest.mark.parametrize("agg", ["max", "mean"])
def test_equals_calibrated_similarity_with_the_same_permutations(agg):
    torch = pytest.importorskip("torch")
    cs = pytest.importorskip("calibrated_similarity")
    a, b = two_models(1, signal=0.4)
    g = grams(a, b)
    K = 60
    ours = calibrate_layers(g, list(a), list(b), "cka", agg=agg, n_permutations=K, seed=5)
    rng = np.random.default_rng(5)
    perms = iter([torch.from_numpy(rng.permutation(N)) for _ in range(K)])

    def cka(X, Y):  # the linear CKA of calibrated-similarity's documentation
        X, Y = X - X.mean(0), Y - Y.mean(0)
        return (X @ X.T * (Y @ Y.T)).sum() / (X @ X.T).norm() / (Y @ Y.T).norm()

    score, p, tau = cs.calibrate_layers([torch.from_numpy(v) for v in a.values()],
                                        [torch.from_numpy(v) for v in b.values()], cka, agg=agg, K=K,
                                        perm_fn=lambda n, device: next(perms))
    assert ours.p_value == pytest.approx(float(p), abs=1e-6)
    assert ours.threshold == pytest.approx(float(tau), abs=1e-6)  # theirs is float32
    assert ours.calibrated == pytest.approx(float(score), abs=1e-5)
    assert ours.metric == f"cka ({agg} over 3 × 2 cells)"


def test_planted_models_are_calibrated_above_zero_and_independent_ones_are_not():
    a, b = two_models(2)
    hit = calibrate_layers(grams(a, b), list(a), list(b), "cka", n_permutations=99)
    assert hit.p_value == 0.01 and hit.calibrated > 0.3
    ps = []
    for seed in range(30):
        a, b = two_models(100 + seed, signal=0.0)
        ps.append(calibrate_layers(grams(a, b), list(a), list(b), "rbf_cka", n_permutations=39, seed=seed).p_value)
    assert np.mean(np.array(ps) <= 0.05) < 0.25  # the max over 6 cells keeps its level (5 % expected)
    assert np.mean(ps) > 0.3


def test_a_callable_aggregate_and_the_refusals():
    a, b = two_models(3)
    g = grams(a, b)
    diag = calibrate_layers(g, ["a0", "a1"], ["b0", "b1"], agg=lambda S: float(np.trace(S)), n_permutations=20)
    assert diag.metric == "cka (<lambda> over 2 × 2 cells)"
    with pytest.raises(ValueError, match="agg must be"):
        calibrate_layers(g, ["a0"], ["b0"], agg="median")
    with pytest.raises(TypeError, match="agg must be"):
        calibrate_layers(g, ["a0"], ["b0"], agg=3)
    with pytest.raises(ValueError, match=r"cols: \['zz'\]"):
        calibrate_layers(g, ["a0"], ["zz"])
    with pytest.raises(ValueError, match="covers"):
        calibrate_layers(g, ["a0"], ["b0"], "cca")
    with pytest.raises(TypeError, match="GramMoments"):
        calibrate_layers({"a0": 1}, ["a0"], ["b0"])
