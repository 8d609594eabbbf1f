"""Per-class and per-sample results of the experiments (issue 18): stitching tables and projection curves say which
classes lose accuracy, and the per-class accuracies weighted by the class counts give back the aggregates.

The synthetic models have a known loss: model A carries one signal dimension per class 1, 2, 3 (class 0 is the
signal-free default class of the head), model B lacks class 3's dimension. B's own head and A's features mapped
into B lose exactly class 3 (B's features mapped into A lose class 0 instead: see the test), and projecting A onto
its most active neurons loses exactly the classes whose dimensions are dropped.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from repsim.experiments import projection_curves, stitching_table

C = 4
PROBS = (0.1, 0.2, 0.3, 0.4)  # unequal class counts: an unweighted mean of the classes is not the aggregate
#: Class k ≥ 1 puts this signal on dimension k (dims 1, 2 the most active, dim 3 the third; dims 0, 4, 5 noise).
SIGNAL = (0.0, 2.0, 2.0, 1.0)
#: The head: class 0 wins with logit 0.5 unless a class dimension exceeds it.
WEIGHT = np.zeros((C, 6))
WEIGHT[1:, 1:C] = np.eye(C - 1)  # logit k = x_k for k ≥ 1
BIAS = np.array([0.5, 0.0, 0.0, 0.0])


def _features(rng, y, drop_class3=False):
    n = y.size
    X = 0.05 * rng.normal(size=(n, 6))
    for k in range(1, C):
        if not (drop_class3 and k == 3):
            X[y == k, k] += SIGNAL[k]
    return X


def _labels(rng, n):
    return rng.choice(C, size=n, p=PROBS)


@pytest.fixture(scope="module")
def models():
    rng = np.random.default_rng(5)
    ytr, yte = _labels(rng, 1200), _labels(rng, 800)
    head = (WEIGHT, BIAS)
    features = {
        "A": (_features(rng, ytr), _features(rng, yte)),
        "B": (_features(rng, ytr, drop_class3=True), _features(rng, yte, drop_class3=True)),
    }
    return features, {"A": head, "B": head}, (ytr, yte)


def _weighted(per_class, counts):
    return per_class @ counts / counts.sum()


# ---------------------------------------------------------------------------------------------------- stitching
def test_stitching_loss_sits_in_the_class_that_b_lacks(models):
    features, heads, labels = models
    t = stitching_table(features, heads, labels)
    y = labels[1]
    np.testing.assert_array_equal(t.classes, np.arange(C))
    np.testing.assert_array_equal(t.class_counts, np.bincount(y, minlength=C))
    lost3 = np.array([1.0, 1.0, 1.0, 0.0])
    pc = t.per_class["accuracy"]
    assert pc.shape == (2, 2, C)
    np.testing.assert_array_equal(pc[0, 0], np.ones(C))  # A on its own: every class
    for i, j in ((1, 1), (0, 1)):  # B on its own and A mapped into B: only class 3 is lost
        np.testing.assert_array_equal(pc[i, j], lost3)
    # B → A: B cannot tell class 0 from class 3 (neither has a signal there); the least-squares map sends their
    # common region to E[A's dim 3 | no signal] = 0.4 / (0.1 + 0.4) = 0.8 > 0.5, i.e. to class 3: class 0 is lost
    np.testing.assert_array_equal(pc[1, 0], [0.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(t.per_class["naive"][0, 1], np.ones(C))  # A's raw features keep dim 3 for B's head
    np.testing.assert_array_equal(t.per_class["naive"][1, 0], lost3)
    # the aggregate is the fraction of test samples outside class 3, not the mean of the classes (0.75)
    share = 1 - np.mean(y == 3)
    assert t.accuracy[0, 1] == pytest.approx(share, abs=1e-15) and abs(share - 0.75) > 0.1


def test_stitching_per_class_weighted_by_counts_is_the_aggregate(models):
    features, heads, labels = models
    t = stitching_table(features, heads, labels)
    for kind in ("accuracy", "logit", "naive"):
        np.testing.assert_allclose(_weighted(t.per_class[kind], t.class_counts), getattr(t, kind), rtol=0,
                                   atol=1e-14)
        assert t.correct[kind].shape == (2, 2, labels[1].size) and t.correct[kind].dtype == bool
        np.testing.assert_array_equal(t.correct[kind].mean(axis=2), getattr(t, kind))  # bit for bit
    # per-sample: the misclassified samples through B are exactly class 3's
    np.testing.assert_array_equal(~t.correct["accuracy"][0, 1], labels[1] == 3)


def test_stitching_details_are_read_only_and_in_the_dict(models):
    features, heads, labels = models
    t = stitching_table(features, heads, labels)
    d = json.loads(json.dumps(t.to_dict()))
    assert d["classes"] == [0, 1, 2, 3] and d["class_counts"] == t.class_counts.tolist()
    np.testing.assert_array_equal(np.array(d["per_class"]["accuracy"]), t.per_class["accuracy"])
    assert "correct" not in d  # per sample: in the object only
    with pytest.raises(ValueError):
        t.per_class["accuracy"][0, 0, 0] = 0.5
    with pytest.raises(ValueError):
        t.correct["naive"][0, 0, 0] = False
    with pytest.raises(ValueError):
        t.class_counts[0] = 1


def test_a_class_without_test_samples_is_nan(models):
    features, heads, (ytr, yte) = models
    keep = yte != 2
    cut = {k: (tr, te[keep]) for k, (tr, te) in features.items()}
    t = stitching_table(cut, heads, (ytr, yte[keep]))
    assert t.class_counts[2] == 0
    assert np.all(np.isnan(t.per_class["accuracy"][..., 2]))
    assert np.all(np.isfinite(np.delete(t.per_class["accuracy"], 2, axis=2)))
    np.testing.assert_allclose(np.nansum(t.per_class["accuracy"] * t.class_counts, axis=2) / keep.sum(), t.accuracy,
                               atol=1e-14)
    assert json.loads(json.dumps(t.to_dict()))["per_class"]["accuracy"][0][0][2] is None


# --------------------------------------------------------------------------------------------------- projection
@pytest.fixture(scope="module")
def curves(models):
    features, heads, labels = models
    (A, At), (B, _) = features["A"], features["B"]
    return projection_curves(A, At, B, heads["A"], labels, n_values=[1, 2, 3, 6],
                             methods=("max_activation", "PCA", "random_selection"), repeats=4, random_state=3)


def test_projection_loss_sits_in_the_classes_whose_neurons_are_dropped(curves, models):
    pc = curves.per_class["max_activation"]
    assert pc.shape == (4, C)
    np.testing.assert_array_equal(curves.classes, np.arange(C))
    np.testing.assert_array_equal(curves.class_counts, np.bincount(models[2][1], minlength=C))
    np.testing.assert_array_equal(curves.baseline_per_class, np.ones(C))
    # n = 2 keeps dims 1 and 2 (the most active): class 3's dimension is replaced by its mean, below the threshold
    np.testing.assert_array_equal(pc[1], [1.0, 1.0, 1.0, 0.0])
    # n = 1 keeps one of dims 1 and 2 as well: two classes lost, class 0 (the default) always right
    assert pc[0, 0] == 1.0 and pc[0, 3] == 0.0 and sorted(pc[0, 1:3]) == [0.0, 1.0]
    np.testing.assert_array_equal(pc[2], np.ones(C))  # n = 3 keeps every class dimension
    np.testing.assert_array_equal(pc[3], np.ones(C))


def test_projection_per_class_weighted_by_counts_is_the_aggregate(curves, models):
    y = models[2][1]
    for m in curves.methods:
        np.testing.assert_allclose(_weighted(curves.per_class[m], curves.class_counts), curves.accuracy[m], rtol=0,
                                   atol=1e-12)
        h = curves.correct[m]
        assert h.shape == (curves.n_values.size, y.size) and h.min() >= 0 and h.max() <= 1
        np.testing.assert_allclose(h.mean(axis=1), curves.accuracy[m], rtol=0, atol=1e-12)
    # deterministic methods: 0/1 per sample; random ones: the fraction of the 4 repeats
    assert set(np.unique(curves.correct["max_activation"])) <= {0.0, 1.0}
    assert set(np.unique(curves.correct["random_selection"] * 4)) <= {0.0, 1.0, 2.0, 3.0, 4.0}
    np.testing.assert_array_equal(curves.correct["max_activation"][1] == 0, y == 3)
    assert curves.retrained_per_class is None


def test_projection_details_in_the_dict_and_retrained(models):
    features, heads, labels = models
    (A, At), (B, _) = features["A"], features["B"]
    c = projection_curves(A, At, B, heads["A"], labels, n_values=[2, 6], methods="max_activation", retrain=True)
    d = json.loads(json.dumps(c.to_dict()))
    assert d["classes"] == [0, 1, 2, 3] and d["baseline_per_class"] == [1.0] * C
    assert np.array(d["per_class"]["max_activation"]).shape == (2, C)
    assert "correct" not in d
    r = c.retrained_per_class["max_activation"]
    np.testing.assert_allclose(_weighted(r, c.class_counts), c.retrained["max_activation"], atol=1e-12)
    with pytest.raises(ValueError):
        c.per_class["max_activation"][0, 0] = 0.0
