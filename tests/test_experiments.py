"""The seeds' experiments: stitching tables (seed 001, ch. 5) and subspace-projection curves (seed 000, §4.2).

Synthetic data with planted structure: class-dependent Gaussian latents, models = different linear maps of the
latent plus small noise, heads fitted by logistic regression or derived exactly from a latent head.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import repsim
from repsim.experiments import (
    ALL_METHODS,
    ProjectionCurves,
    StitchingTable,
    default_n_values,
    fit_logistic,
    projection_curves,
    projection_matrix,
    stitching_table,
)

N_CLASSES = 4


# ---------------------------------------------------------------------------------------------------------- data
def _latent(rng, means, n, noise=1.0):
    y = rng.integers(0, means.shape[0], n)
    return means[y] + noise * rng.normal(size=(n, means.shape[1])), y


@pytest.fixture(scope="module")
def planted_models():
    """Three models that are exact linear images of one latent (widths 8, 12, 10; the 12-wide one has rank 8),
    with heads derived from a single latent head, so every model makes the same predictions."""
    rng = np.random.default_rng(11)
    c, d = 5, 8
    means = 1.2 * rng.normal(size=(c, d))
    ztr, ytr = _latent(rng, means, 2000)
    zte, yte = _latent(rng, means, 1000)
    W, b = fit_logistic(ztr, ytr, c)
    features, heads = {}, {}
    for name, p in (("A", 8), ("B", 12), ("C", 10)):
        M = rng.normal(size=(d, p))
        features[name] = (ztr @ M + 1e-4 * rng.normal(size=(2000, p)), zte @ M + 1e-4 * rng.normal(size=(1000, p)))
        heads[name] = (W @ np.linalg.pinv(M).T, b)  # head(z M) = W z + b
    return features, heads, (ytr, yte)


@pytest.fixture(scope="module")
def noisy_models():
    """Models sharing a class latent, each with its own noise and its own fitted (rank n_classes − 1) head."""
    rng = np.random.default_rng(12)
    d = 6
    means = 1.5 * rng.normal(size=(N_CLASSES, d))
    ztr, ytr = _latent(rng, means, 1500)
    zte, yte = _latent(rng, means, 800)
    features, heads = {}, {}
    for name, p in (("net1", 10), ("net2", 10), ("net3", 7)):
        M = rng.normal(size=(d, p))
        tr = ztr @ M + 0.3 * rng.normal(size=(1500, p))
        te = zte @ M + 0.3 * rng.normal(size=(800, p))
        features[name] = (tr, te)
        heads[name] = fit_logistic(tr, ytr, N_CLASSES)
    return features, heads, (ytr, yte)


def _planted_pair(rng, n_train=1500, n_test=800, p=16, n_signal=N_CLASSES):
    """Models A and B (width p) sharing a class signal; every other latent direction is independent noise."""
    means = 1.2 * rng.normal(size=(N_CLASSES, n_signal))
    MA, MB = rng.normal(size=(p, p)), rng.normal(size=(p, p))

    def draw(n):
        y = rng.integers(0, N_CLASSES, n)
        s = means[y] + 0.7 * rng.normal(size=(n, n_signal))
        A = np.hstack([s + 0.05 * rng.normal(size=s.shape), rng.normal(size=(n, p - n_signal))]) @ MA
        B = np.hstack([s + 0.05 * rng.normal(size=s.shape), rng.normal(size=(n, p - n_signal))]) @ MB
        return A, B, y

    A, B, y = draw(n_train)
    At, _, yt = draw(n_test)
    return A, At, B, fit_logistic(A, y, N_CLASSES), (y, yt)


@pytest.fixture(scope="module")
def planted_pair():
    return _planted_pair(np.random.default_rng(21))


@pytest.fixture(scope="module")
def curves(planted_pair):
    A, At, B, head, labels = planted_pair
    return projection_curves(A, At, B, head, labels, repeats=3)


# ---------------------------------------------------------------------------------------------------- stitching
def test_planted_linear_relation_stitches_at_the_row_models_accuracy(planted_models):
    features, heads, labels = planted_models
    t = stitching_table(features, heads, labels)
    assert isinstance(t, StitchingTable)
    assert t.models == ("A", "B", "C")
    assert t.widths == (8, 12, 10)
    assert (t.n_train, t.n_test) == (2000, 1000)
    np.testing.assert_array_equal(np.diag(t.accuracy), t.own_accuracy)
    np.testing.assert_allclose(t.accuracy, np.broadcast_to(t.own_accuracy[:, None], (3, 3)), atol=0.003)
    assert np.all(np.abs(t.delta) <= 0.004)
    np.testing.assert_array_equal(np.diag(t.delta), 0.0)
    assert np.all(t.r2 > 0.999999)
    np.testing.assert_array_equal(np.diag(t.r2), 1.0)
    assert t.own_accuracy.min() > 0.6


def test_logit_maps_reproduce_the_row_models_accuracy_exactly(noisy_models):
    features, heads, labels = noisy_models
    # fitted softmax heads have rows summing to zero (rank n_classes − 1); the maps must still be lossless
    for w, _ in heads.values():
        np.testing.assert_allclose(w.sum(axis=0), 0.0, atol=1e-6 * np.abs(w).max())
    t = stitching_table(features, heads, labels)
    np.testing.assert_array_equal(t.logit, np.broadcast_to(t.own_accuracy[:, None], (3, 3)))


def test_affine_maps_between_noisy_models_lose_little(noisy_models):
    features, heads, labels = noisy_models
    t = stitching_table(features, heads, labels)
    off = ~np.eye(3, dtype=bool)
    assert t.own_accuracy.min() > 0.8
    assert np.all(t.delta[off] > -0.08)
    assert np.all((t.r2[off] > 0.5) & (t.r2[off] < 1.0))
    np.testing.assert_allclose(t.delta, t.accuracy / t.own_accuracy[:, None] - 1.0, rtol=0, atol=1e-15)


def test_affine_cells_equal_a_direct_map_and_head(noisy_models):
    features, heads, labels = noisy_models
    t = stitching_table(features, heads, labels, ridge=0.5)
    amap = repsim.affine_map(features["net3"][0], features["net1"][0], ridge=0.5)
    w, b = heads["net1"]
    expected = np.mean(np.argmax(amap.transform(features["net3"][1]) @ w.T + b, axis=1) == labels[1])
    assert t.accuracy[2, 0] == expected
    assert t.r2[2, 0] == pytest.approx(amap.r2_total, rel=1e-12)
    assert t.ridge == 0.5


def test_naive_swap_between_unrelated_bases_is_much_worse(planted_models):
    features, heads, labels = planted_models
    t = stitching_table(features, heads, labels)
    off = ~np.eye(3, dtype=bool)
    np.testing.assert_array_equal(np.diag(t.naive), t.own_accuracy)
    assert np.all(t.naive[off] < 0.5 * np.broadcast_to(t.own_accuracy[:, None], (3, 3))[off])
    # B (12 wide) -> A (8 wide) is a truncation, A -> B a zero-padding
    w, b = heads["A"]
    trunc = np.mean(np.argmax(features["B"][1][:, :8] @ w.T + b, axis=1) == labels[1])
    assert t.naive[1, 0] == trunc
    w, b = heads["B"]
    padded = np.hstack([features["A"][1], np.zeros((1000, 4))])
    assert t.naive[0, 1] == np.mean(np.argmax(padded @ w.T + b, axis=1) == labels[1])


def test_stitching_markdown_and_dict(planted_models):
    features, heads, labels = planted_models
    t = stitching_table(features, heads, labels)
    md = t.to_markdown()
    for text in ("Table 5.2", "Table 5.3", "\u00a75.6", "naive swap", "R\u00b2", "feature extractor", "classifier",
                 "rows = feature extractor", "columns = classifier", "| A |", "| B |", "| C |", "A (8)", "B (12)"):
        assert text in md, text
    assert f"{100 * t.accuracy[0, 1]:.2f}%" in md
    d = json.loads(json.dumps(t.to_dict()))
    assert d["models"] == ["A", "B", "C"]
    assert d["axes"].startswith("rows = feature extractor")
    for key in ("accuracy", "delta", "naive", "logit", "r2"):
        np.testing.assert_array_equal(np.array(d[key]), getattr(t, key))
    assert d["own_accuracy"] == t.own_accuracy.tolist()
    with pytest.raises(ValueError):
        t.accuracy[0, 0] = 0.0  # read-only


def test_stitching_accepts_torch_tensors_and_linear_heads(noisy_models):
    torch = pytest.importorskip("torch")
    features, heads, labels = noisy_models
    t_np = stitching_table(features, heads, labels)
    tf = {k: (torch.from_numpy(a), torch.from_numpy(b)) for k, (a, b) in features.items()}
    th = {}
    for k, (w, b) in heads.items():
        lin = torch.nn.Linear(w.shape[1], w.shape[0]).double()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(b))
        th[k] = lin
    t_torch = stitching_table(tf, th, (torch.from_numpy(labels[0]), torch.from_numpy(labels[1])))
    for key in ("accuracy", "naive", "logit"):
        np.testing.assert_array_equal(getattr(t_torch, key), getattr(t_np, key))
    np.testing.assert_allclose(t_torch.r2, t_np.r2, rtol=1e-12)


def test_stitching_warns_for_a_head_that_cannot_reproduce_logits(noisy_models):
    features, heads, labels = noisy_models
    w, b = heads["net2"]
    bad = dict(heads, net2=(np.vstack([w[0], w[0], w[2], w[3]]), b))  # centred rank 2 < n_classes − 1
    with pytest.warns(RuntimeWarning, match="'net2' has rank 2"):
        t = stitching_table(features, bad, labels)
    assert t.logit[0, 1] < t.own_accuracy[0]


def test_stitching_bad_inputs(noisy_models):
    features, heads, labels = noisy_models
    with pytest.raises(ValueError, match="at least two models"):
        stitching_table({"net1": features["net1"]}, {"net1": heads["net1"]}, labels)
    with pytest.raises(ValueError, match="heads must have the same models"):
        stitching_table(features, {k: heads[k] for k in ("net1", "net2")}, labels)
    with pytest.raises(TypeError, match="features must be a mapping"):
        stitching_table(list(features.values()), heads, labels)
    short = dict(features, net2=(features["net2"][0][:-1], features["net2"][1]))
    with pytest.raises(ValueError, match="same number of train samples"):
        stitching_table(short, heads, labels)
    wide = dict(features, net2=(features["net2"][0], features["net2"][1][:, :-1]))
    with pytest.raises(ValueError, match=r"features\['net2'\]: train and test must have the same width"):
        stitching_table(wide, heads, labels)
    with pytest.raises(ValueError, match=r"heads\['net3'\] weight has shape"):
        stitching_table(features, dict(heads, net3=heads["net1"]), labels)
    with pytest.raises(TypeError, match=r"labels\[1\] \(test\) must hold integer"):
        stitching_table(features, heads, (labels[0], labels[1].astype(float)))
    with pytest.raises(ValueError, match=r"labels\[1\] \(test\) must lie in \[0, 4\)"):
        stitching_table(features, heads, (labels[0], labels[1] + 1))
    with pytest.raises(TypeError, match="labels must be a pair"):
        stitching_table(features, heads, labels[1])
    with pytest.raises(TypeError, match="ridge"):
        stitching_table(features, heads, labels, ridge="0")
    with pytest.raises(TypeError, match=r"features\['net1'\] train.*dtype int"):
        stitching_table(dict(features, net1=(labels[0][:, None], features["net1"][1])), heads, labels)


# --------------------------------------------------------------------------------------------------- projection
def test_every_method_reproduces_the_baseline_at_full_width(curves, planted_pair):
    A, At, B, (w, b), labels = planted_pair
    assert isinstance(curves, ProjectionCurves)
    assert curves.methods == ALL_METHODS
    assert curves.baseline == np.mean(np.argmax(At @ w.T + b, axis=1) == labels[1])
    assert curves.n_values[-1] == curves.width == 16
    for m in ALL_METHODS:
        assert curves.accuracy[m][-1] == curves.baseline, m
        assert curves.std[m][-1] == 0.0, m
    for m in ALL_METHODS:
        np.testing.assert_array_equal(projection_matrix(A, B, m, 16), np.eye(16))


def test_most_correlated_directions_carry_the_classes(curves):
    k = int(np.flatnonzero(curves.n_values == N_CLASSES)[0])
    acc = curves.accuracy
    assert curves.baseline > 0.85
    assert acc["CCA_highest"][k] >= curves.baseline - 0.02
    assert acc["CCA_lowest"][k] <= 1.0 / N_CLASSES + 0.08
    # the least correlated half of the space still holds nothing the head uses
    half = int(np.flatnonzero(curves.n_values == 8)[0])
    assert acc["CCA_lowest"][half] <= 1.0 / N_CLASSES + 0.08
    for m in ("CCA_random", "PCA", "max_activation", "random_selection", "random_projection"):
        assert acc["CCA_highest"][k] > acc[m][k] + 0.05, m
    assert curves.rho[: N_CLASSES].min() > 0.8 and curves.rho[N_CLASSES:].max() < 0.3


def test_std_is_zero_for_deterministic_methods(curves):
    for m in ("CCA_highest", "CCA_lowest", "PCA", "max_activation"):
        np.testing.assert_array_equal(curves.std[m], 0.0)
    for m in ("CCA_random", "random_selection", "random_projection"):
        assert curves.std[m][:-1].max() > 0.0, m


@pytest.mark.parametrize("pca_keep", [0.9999, 0.9])
def test_projection_matrices_are_idempotent_projections_of_rank_n(planted_pair, pca_keep):
    A, _, B, _, _ = planted_pair
    for m in ALL_METHODS:
        for n in (1, 3, 7, 15):
            P = projection_matrix(A, B, m, n, pca_keep=pca_keep, random_state=5)
            assert P.shape == (16, 16)
            np.testing.assert_allclose(P @ P, P, atol=1e-9 * max(1.0, np.abs(P).max()), err_msg=f"{m} n={n}")
            assert np.linalg.matrix_rank(P, tol=1e-8) == n, (m, n)
            assert np.trace(P) == pytest.approx(n, abs=1e-9)
            if m in ("PCA", "random_projection"):
                np.testing.assert_allclose(P, P.T, atol=1e-12)
            if m in ("max_activation", "random_selection"):
                np.testing.assert_array_equal(P, np.diag(np.diag(P)))
                assert set(np.unique(np.diag(P))) <= {0.0, 1.0}


def test_cca_projection_keeps_exactly_the_top_canonical_coordinates(planted_pair):
    A, At, B, head, labels = planted_pair
    res = repsim.cca(A, B)
    k = 5
    P = projection_matrix(A, B, "CCA_highest", k, pca_keep=1.0)
    # a canonical coordinate z_i = w_iᵀ(x − μ) survives the projection (Pᵀw_i = w_i) or is removed (Pᵀw_i = 0)
    scale = np.abs(res.x_weights).max()
    np.testing.assert_allclose(P.T @ res.x_weights[:, :k], res.x_weights[:, :k], atol=1e-9 * scale)
    np.testing.assert_allclose(P.T @ res.x_weights[:, k:], 0.0, atol=1e-9 * scale)
    Pl = projection_matrix(A, B, "CCA_lowest", 16 - k, pca_keep=1.0)
    np.testing.assert_allclose(Pl, np.eye(16) - P, atol=1e-9)
    c = projection_curves(A, At, B, head, labels, n_values=[16], methods="CCA_highest", pca_keep=1.0)
    np.testing.assert_allclose(c.rho, res.rho, atol=1e-10)


def test_pca_reduction_drops_low_variance_directions_last(planted_pair):
    A, At, B, head, labels = planted_pair
    c = projection_curves(A, At, B, head, labels, n_values=[16], methods="CCA_highest", pca_keep=0.9)
    r = c.rho.size
    assert 4 <= r < 16
    lam, V = np.linalg.eigh(np.cov(A.T))
    dropped = V[:, : 16 - r]  # the smallest principal directions
    for m in ("CCA_highest", "CCA_lowest", "CCA_random"):
        P = projection_matrix(A, B, m, r, pca_keep=0.9)
        np.testing.assert_allclose(P @ dropped, 0.0, atol=1e-9)
        Pn = projection_matrix(A, B, m, r + 1, pca_keep=0.9)  # the first dropped direction comes back next
        np.testing.assert_allclose(Pn @ V[:, 15 - r], V[:, 15 - r], atol=1e-9)


def test_projection_warns_when_ranks_approach_the_sample_count(planted_pair):
    A, At, B, head, labels = planted_pair
    with pytest.warns(RuntimeWarning, match="forced towards 1"):
        c = projection_curves(A[:40], At, B[:40], head, (labels[0][:40], labels[1]), n_values=[4, 16],
                              methods=["CCA_highest"])
    assert c.accuracy["CCA_highest"][-1] == c.baseline


def test_projection_accepts_torch_inputs(planted_pair):
    torch = pytest.importorskip("torch")
    A, At, B, (w, b), labels = planted_pair
    lin = torch.nn.Linear(16, N_CLASSES)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(w))
        lin.bias.copy_(torch.from_numpy(b))
    kw = dict(n_values=[2, 4, 16], methods=["CCA_highest", "PCA", "random_projection"], repeats=2)
    ref = projection_curves(A, At, B, (w.astype(np.float32).astype(float), b.astype(np.float32).astype(float)),
                            labels, **kw)
    got = projection_curves(torch.from_numpy(A), torch.from_numpy(At), torch.from_numpy(B), lin,
                            tuple(torch.from_numpy(v) for v in labels), **kw)
    for m in kw["methods"]:
        np.testing.assert_array_equal(got.accuracy[m], ref.accuracy[m])


def test_pca_and_max_activation_choose_the_documented_directions(planted_pair):
    A, _, B, _, _ = planted_pair
    lam, V = np.linalg.eigh(np.cov(A.T))
    top = V[:, ::-1][:, :3]
    np.testing.assert_allclose(projection_matrix(A, B, "PCA", 3), top @ top.T, atol=1e-10)
    order = np.argsort(-np.abs(A).mean(axis=0), kind="stable")
    P = projection_matrix(A, B, "max_activation", 5)
    assert set(np.flatnonzero(np.diag(P))) == set(order[:5])


def test_projection_replaces_removed_neurons_by_their_mean(planted_pair):
    A, At, B, (w, b), labels = planted_pair
    c = projection_curves(A, At, B, (w, b), labels, n_values=[3], methods=["max_activation"])
    keep = np.argsort(-np.abs(A).mean(axis=0), kind="stable")[:3]
    X = np.broadcast_to(A.mean(axis=0), At.shape).copy()
    X[:, keep] = At[:, keep]
    assert c.accuracy["max_activation"][0] == np.mean(np.argmax(X @ w.T + b, axis=1) == labels[1])


def test_random_methods_are_reproducible(planted_pair):
    A, At, B, head, labels = planted_pair
    methods = ("CCA_random", "random_selection", "random_projection")
    kw = dict(n_values=[2, 5], methods=methods, repeats=3)
    first = projection_curves(A, At, B, head, labels, random_state=7, **kw)
    again = projection_curves(A, At, B, head, labels, random_state=7, **kw)
    other = projection_curves(A, At, B, head, labels, random_state=8, **kw)
    for m in methods:
        np.testing.assert_array_equal(first.accuracy[m], again.accuracy[m])
        np.testing.assert_array_equal(first.std[m], again.std[m])
    assert any(not np.array_equal(first.accuracy[m], other.accuracy[m]) for m in methods)
    # a draw depends on (random_state, method, n, repeat) only, not on the other n values requested
    alone = projection_curves(A, At, B, head, labels, random_state=7, n_values=[5], methods=methods, repeats=3)
    for m in methods:
        assert alone.accuracy[m][0] == first.accuracy[m][1]
    for m in methods:
        np.testing.assert_array_equal(projection_matrix(A, B, m, 4, random_state=3),
                                      projection_matrix(A, B, m, 4, random_state=3))
        assert not np.array_equal(projection_matrix(A, B, m, 4, random_state=3),
                                  projection_matrix(A, B, m, 4, random_state=4))


def test_retrained_heads(planted_pair):
    A, At, B, head, labels = planted_pair
    methods = ("CCA_highest", "CCA_lowest", "random_projection")
    c = projection_curves(A, At, B, head, labels, n_values=[N_CLASSES, 16], methods=methods, repeats=2,
                          retrain=True)
    assert c.retrained is not None and set(c.retrained) == set(methods)
    w, b = fit_logistic(A, labels[0], N_CLASSES, init=head)
    assert c.retrained_baseline == np.mean(np.argmax(At @ w.T + b, axis=1) == labels[1])
    for m in methods:
        assert c.retrained[m][-1] == c.retrained_baseline, m
    assert c.retrained["CCA_highest"][0] >= c.retrained_baseline - 0.03
    assert c.retrained["CCA_lowest"][0] <= 1.0 / N_CLASSES + 0.08
    np.testing.assert_array_equal(c.retrained_std["CCA_highest"], 0.0)
    assert "Head retrained" in c.to_markdown()
    assert json.loads(json.dumps(c.to_dict()))["retrained"]["CCA_lowest"] == c.retrained["CCA_lowest"].tolist()


def test_fit_logistic_is_a_convex_fit():
    rng = np.random.default_rng(3)
    means = 2.0 * rng.normal(size=(3, 5))
    X, y = _latent(rng, means, 600)
    X = 50.0 * X + 7.0  # scale-free: the features are standardised internally
    w0, b0 = fit_logistic(X, y, 3)
    w1, b1 = fit_logistic(X, y, 3, init=(rng.normal(size=(3, 5)), rng.normal(size=3)))
    z0, z1 = X @ w0.T + b0, X @ w1.T + b1
    np.testing.assert_allclose(z0 - z0.mean(axis=1, keepdims=True), z1 - z1.mean(axis=1, keepdims=True), atol=1e-3)
    assert np.mean(np.argmax(z0, axis=1) == y) > 0.9
    with pytest.raises(ValueError, match="l2"):
        fit_logistic(X, y, 3, l2=0.0)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        fit_logistic(X, y, 2)


def test_default_n_values():
    np.testing.assert_array_equal(default_n_values(4, 16), [1, 2, 3, 4, 5, 6, 7, 8, 16])
    np.testing.assert_array_equal(default_n_values(8, 128), list(range(1, 17)) + [32, 64, 128])
    np.testing.assert_array_equal(default_n_values(10, 64), list(range(1, 21)) + [32, 64])
    np.testing.assert_array_equal(default_n_values(10, 50), list(range(1, 21)) + [32, 50])
    np.testing.assert_array_equal(default_n_values(5, 6), [1, 2, 3, 4, 5, 6])


def test_projection_outputs(curves):
    np.testing.assert_array_equal(curves.n_values, default_n_values(N_CLASSES, 16))
    assert curves.retrained is None and curves.retrained_baseline is None
    md = curves.to_markdown()
    for text in ("| n |", *ALL_METHODS, "4 (n_c)", "16 (all)", "\u00b1", "baseline"):
        assert text in md, text
    assert "Head retrained" not in md
    d = json.loads(json.dumps(curves.to_dict()))
    assert d["methods"] == list(ALL_METHODS)
    assert d["n_values"] == curves.n_values.tolist()
    for m in ALL_METHODS:
        assert d["accuracy"][m] == curves.accuracy[m].tolist()
        assert d["std"][m] == curves.std[m].tolist()
    assert d["retrained"] is None and d["baseline"] == curves.baseline


def test_projection_bad_inputs(planted_pair):
    A, At, B, head, labels = planted_pair

    def run(**kw):
        args = dict(train_a=A, test_a=At, train_b=B, head_a=head, labels=labels, n_values=[2], repeats=1)
        args.update(kw)
        return projection_curves(**args)

    with pytest.raises(ValueError, match=r"n_values must lie in \[1, 16\].*\[0\]"):
        run(n_values=[0, 2])
    with pytest.raises(ValueError, match=r"n_values must lie in \[1, 16\].*\[17\]"):
        run(n_values=[17])
    with pytest.raises(TypeError, match="n_values must hold ints"):
        run(n_values=[2.5])
    with pytest.raises(ValueError, match="n_values must hold at least one"):
        run(n_values=[])
    with pytest.raises(ValueError, match=r"methods: unknown method\(s\) \['CCA'\]"):
        run(methods=["CCA_highest", "CCA"])
    with pytest.raises(ValueError, match=r"methods: method\(s\) \['PCA'\] given more than once"):
        run(methods=["PCA", "PCA"])
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        run(repeats=0)
    with pytest.raises(TypeError, match="retrain must be a bool"):
        run(retrain="yes")
    with pytest.raises(ValueError, match=r"pca_keep must be in \(0, 1\]"):
        run(pca_keep=1.5)
    with pytest.raises(ValueError, match="random_state must be >= 0"):
        run(random_state=-1)
    with pytest.raises(TypeError, match="random_state must be"):
        run(random_state=1.5)
    with pytest.raises(ValueError, match="train_b must have one row per training sample"):
        run(train_b=B[:-1])
    with pytest.raises(ValueError, match="test_a must have the width of train_a"):
        run(test_a=At[:, :-1])
    with pytest.raises(ValueError, match=r"head_a weight has shape \(4, 16\).*15 columns"):
        run(train_a=A[:, :-1], test_a=At[:, :-1])
    with pytest.raises(ValueError, match=r"labels\[0\] \(train\) must have shape \(1500,\)"):
        run(labels=(labels[0][:-1], labels[1]))
    with pytest.raises(ValueError, match="train_a contains NaN"):
        bad = A.copy()
        bad[3, 2] = np.nan
        run(train_a=bad)
    with pytest.raises(TypeError, match="head_a must be a"):
        run(head_a=head[0])
    with pytest.raises(ValueError, match="train_b is constant"):
        run(train_b=np.ones_like(B))
    with pytest.raises(ValueError, match=r"pca_keep must be in \(0, 1\]"):
        projection_matrix(A, B, "PCA", 2, pca_keep=0.0)
    with pytest.raises(ValueError, match=r"n_values must lie in \[1, 16\]"):
        projection_matrix(A, B, "PCA", 0)
