"""Permutation inference: the exact permutation moments against full enumeration, the closed forms of Kazi-Aoual
et al. / Josse et al., Monte Carlo, and the calibrated-similarity package; feature-space nulls = dense nulls."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import repsim
from repsim.inference import Invariants, permutation_test, raw_moments
from repsim.inference.null import dense_null, form_of, null_matrix, view_null
from repsim.inference.testing import monte_carlo, summarise_monte_carlo

FORMS = [("cka", {}), ("debiased_cka", {}), ("rv2", {}), ("rv", {"center": False}), ("rv2", {"center": False})]


def _pair(rng, n, p=6, q=5, signal=1.0, mean=0.0):
    X = rng.normal(size=(n, p)) + mean
    Y = signal * X[:, :3] @ rng.normal(size=(3, q)) + rng.normal(size=(n, q)) - mean
    return X, Y


def _null_matrices(X, Y, metric, options):
    form = form_of(metric, options)
    grams = []
    for a in (X, Y):
        a = a if form in ("raw", "rv2_raw") else a - a.mean(0)
        grams.append(null_matrix(a @ a.T, form))
    return grams


@pytest.mark.parametrize("metric,options", FORMS)
def test_moments_equal_full_enumeration(rng, metric, options):
    n = 7
    X, Y = _pair(rng, n, mean=3.0)
    A, B = _null_matrices(X, Y, metric, options)
    values = np.array([np.sum(A * B[np.ix_(p, p)]) for p in itertools.permutations(range(n))])
    exact = [values.mean(), (values**2).mean(), (values**3).mean()]
    assert np.allclose(raw_moments(n, A, B, 3), exact, rtol=1e-11, atol=1e-12 * np.abs(exact).max())
    two = raw_moments(n, Invariants.of(A), Invariants.of(B), 2)
    assert np.allclose(two, exact[:2], rtol=1e-11, atol=1e-12 * np.abs(exact[:2]).max())


def test_kazi_aoual_josse_closed_forms(rng):
    """E[RV] = √(β_x β_y)/(n − 1) and Var[RV] as in Josse, Pagès & Husson (2008), eqs. 3–4."""
    n = 30
    X, Y = _pair(rng, n, 8, 6)
    H = np.eye(n) - 1.0 / n
    W1, W2 = H @ X @ X.T @ H, H @ Y @ Y.T @ H

    def beta(W):
        return np.trace(W) ** 2 / np.trace(W @ W)

    def tau(W):
        b = beta(W)
        return (n - 1) / ((n - 3) * (n - 1 - b)) * (n * (n + 1) * np.sum(np.diag(W) ** 2) / np.trace(W @ W)
                                                    - (n - 1) * (b + 2))

    bx, by = beta(W1), beta(W2)
    mean = np.sqrt(bx * by) / (n - 1)
    var = 2 * (n - 1 - bx) * (n - 1 - by) / ((n + 1) * (n - 1) ** 2 * (n - 2)) * (
        1 + (n - 3) / (2 * n * (n - 1)) * tau(W1) * tau(W2))
    r = permutation_test(X, Y, "rv")
    assert r.null_mean == pytest.approx(mean, rel=1e-12) and r.null_sd**2 == pytest.approx(var, rel=1e-10)
    assert r.statistic == pytest.approx(repsim.rv(X, Y), rel=1e-12)


@pytest.mark.parametrize("metric,options", FORMS[:3])
def test_streamed_statistics_give_the_dense_null(rng, metric, options):
    """Two moments from the feature-space statistics (no n × n matrix) = the dense ones; streamed in batches with
    a large mean."""
    X, Y = _pair(rng, 80, 9, 7, mean=1e3)
    m = repsim.Moments()
    for k in range(0, 80, 17):
        m.update({"x": X[k:k + 17], "y": Y[k:k + 17]})
    form = form_of(metric, options)
    streamed = view_null(m.pair_view(), "x", "y", form)
    dense, _ = dense_null(*_null_matrices(X, Y, metric, options), order=2)
    assert streamed.mean == pytest.approx(dense.mean, rel=1e-9, abs=1e-12)
    assert streamed.var == pytest.approx(dense.var, rel=1e-9)
    with pytest.raises(ValueError, match="uncentred"):
        view_null(m.pair_view(), "x", "y", "raw")


@pytest.mark.parametrize("n,p,signal", [(20, 5, 0.0), (20, 5, 0.4), (60, 200, 0.0), (60, 200, 0.15), (150, 30, 0.1)])
def test_moment_p_values_match_monte_carlo(rng, n, p, signal):
    X, Y = _pair(rng, n, p, p, signal=signal)
    for metric, options in FORMS:
        exact = permutation_test(X, Y, metric, **options)
        mc = permutation_test(X, Y, metric, method="monte_carlo", n_permutations=10_000, seed=1, **options)
        if 0.001 <= mc.p_value <= 0.5:
            assert abs(exact.p_value - mc.p_value) < 0.01, (metric, options, exact.p_value, mc.p_value)
        assert exact.null_mean == pytest.approx(mc.null_mean, abs=4 * mc.null_sd / 100)
        assert exact.null_sd == pytest.approx(mc.null_sd, rel=0.05)
        assert exact.method == "pearson3" and mc.method == "monte_carlo" and mc.mc_se > 0


def test_monte_carlo_any_measure_and_refusals(rng):
    X, Y = _pair(rng, 25, 4, 4, signal=2.0)
    r = permutation_test(X, Y, "cca", method="monte_carlo", n_permutations=60, seed=0)
    assert r.p_value == pytest.approx(1 / 61) and r.statistic == pytest.approx(repsim.cca(X, Y).mean_rho)
    assert permutation_test(X, Y, "cka", method="monte_carlo", n_permutations=50, seed=3) == \
        permutation_test(X, Y, "cka", method="monte_carlo", n_permutations=50, seed=3)
    with pytest.raises(ValueError, match="monte_carlo"):
        permutation_test(X, Y, "cca")
    with pytest.raises(ValueError, match="method"):
        permutation_test(X, Y, "cka", method="exact")
    with pytest.raises(ValueError, match="alpha"):
        permutation_test(X, Y, "cka", alpha=1.0)
    with pytest.raises(ValueError, match="n_permutations"):
        permutation_test(X, Y, "cka", method="monte_carlo", n_permutations=0)


def test_reproduces_calibrated_similarity(rng):
    """Gröger et al.'s calibrated score, p-value and threshold as the calibrated-similarity package computes them,
    with the same permutations."""
    cs = pytest.importorskip("calibrated_similarity")
    torch = pytest.importorskip("torch")
    n = 40
    X, Y = _pair(rng, n, 10, 7)
    perms = [rng.permutation(n) for _ in range(200)]
    it = iter(perms)

    def cka(A, B):
        A, B = A - A.mean(0), B - B.mean(0)
        return (A.T @ B).norm() ** 2 / ((A.T @ A).norm() * (B.T @ B).norm())

    score, p, tau = cs.calibrate(torch.from_numpy(X), torch.from_numpy(Y), cka, K=200,
                                 perm_fn=lambda n_, device: torch.from_numpy(next(it)))
    obs, null = monte_carlo(X, Y, "cka", {}, perms)
    ours = summarise_monte_carlo("cka", obs, null, 0.05, 1.0, n, {})
    assert ours.calibrated == pytest.approx(float(score), abs=1e-6)
    assert ours.p_value == pytest.approx(float(p), abs=1e-6) and ours.threshold == pytest.approx(float(tau), abs=1e-6)
    # the exact-moment version of the same score is close to the Monte-Carlo one
    exact = permutation_test(X, Y, "cka")
    assert abs(exact.calibrated - ours.calibrated) < 0.05


def test_null_calibration_of_independent_wide_pairs():
    """Independent pairs at n = 50, p = 500 (raw CKA ≈ 0.7, so a raw-magnitude verdict says "similar" every time):
    the p-values are uniform — at most 12 of 100 below 0.05 for every form (expected 5; bench/report_inference.py
    runs 2,000 pairs)."""
    rng = np.random.default_rng(11)
    hits = np.zeros(len(FORMS), int)
    for _ in range(100):
        X, Y = rng.normal(size=(50, 500)), rng.normal(size=(50, 500))
        for k, (metric, options) in enumerate(FORMS):
            hits[k] += permutation_test(X, Y, metric, **options).p_value < 0.05
    assert (hits <= 12).all() and hits.sum() >= 5, hits


def test_matrix_test_from_one_accumulation(rng):
    """p-values of a whole matrix from streamed statistics: = the dense two-moment null of each cell; planted
    dependence significant after Benjamini–Hochberg, an independent site not; exported with the matrix."""
    n = 200
    X, Y = _pair(rng, n, 12, 9, signal=0.5)
    Z = rng.normal(size=(n, 7))
    m = repsim.Moments()
    for k in range(0, n, 64):
        m.update({"x": X[k:k + 64] + 50.0, "y": Y[k:k + 64], "z": Z[k:k + 64]})
    for metric in ("cka", "debiased_cka", "rv2"):
        mat = repsim.inference.matrix_test(m, metric, rows=["x", "y"], cols=["y", "z"])
        dense, _ = dense_null(*_null_matrices(X, Z, metric, {}), order=2)
        assert mat.null_mean[0, 1] == pytest.approx(dense.mean, rel=1e-9, abs=1e-12)
        assert mat.null_sd[0, 1] == pytest.approx(dense.sd, rel=1e-9)
        sig = mat.significant(0.05)
        assert sig[0, 0] and not sig[0, 1] and sig[1, 0] and not sig[1, 1]
        assert mat.to_dict()["p_values"][0][1] == pytest.approx(mat.p_values[0, 1])
        assert "two exact moments" in mat.inference
    with pytest.raises(ValueError, match="exact-moment"):
        repsim.inference.matrix_test(m, "cca")
    with pytest.raises(ValueError, match="no p-values"):
        m.matrix("cka").significant()


def test_benjamini_hochberg():
    from repsim.results import reject

    p = np.array([[0.001, 0.008, 0.039], [0.041, 0.042, 0.06], [0.074, 0.205, np.nan]])
    # BH at 0.05 over 8 tests: thresholds 0.05·k/8 → the two smallest pass
    assert reject(p, 0.05).sum() == 2 and reject(p, 0.05, "bonferroni").sum() == 1
    assert reject(p, 0.05, "none").sum() == 5 and not reject(p)[2, 2]
    with pytest.raises(ValueError, match="correction"):
        reject(p, 0.05, "holm")


def test_compare_inference_one_pass_and_several():
    """compare(inference="moments"): every cell's p-value = the matrix_test of the statistics, in one pass and in
    several passes (the same nulls); measures without a null carry none."""
    torch = pytest.importorskip("torch")
    from repsim.blocks import blocked_nbytes

    torch.manual_seed(0)

    def mlp():
        return torch.nn.Sequential(torch.nn.Linear(8, 40), torch.nn.ReLU(), torch.nn.Linear(40, 30), torch.nn.ReLU(),
                                   torch.nn.Linear(30, 20))

    models = {"a": mlp(), "b": mlp()}
    data = [torch.randn(50, 8) for _ in range(6)]
    kw = dict(metrics=("cka", "debiased_cka", "rv2", "cca"), progress=False, inference="moments")
    one = repsim.compare(models, data, ["0", "2", "4"], **kw)
    budget = (blocked_nbytes([40, 30, 20] * 2, ()) + 8 * 50 * 187 + 4 * 50 * 180 + repsim._limits.WORKSPACE_BYTES
              + 8 * 40 * 40 + 8)
    many = repsim.compare(models, data, ["0", "2", "4"], max_memory=budget, **kw)
    assert many.plan.n_passes > 1
    for metric in ("cka", "debiased_cka", "rv2"):
        ref = repsim.inference.matrix_test(one.statistics, metric, rows=one[metric].rows, cols=one[metric].cols)
        for r in (one, many):
            np.testing.assert_allclose(r[metric].p_values, ref.p_values, rtol=1e-8, atol=1e-300)
            np.testing.assert_allclose(r[metric].null_sd, ref.null_sd, rtol=1e-9)
    assert one["cca"].p_values is None
    with pytest.raises(ValueError, match="inference"):
        repsim.compare(models, data, ["0"], metrics=("cca",), inference="moments", progress=False)


def test_report_exports_p_values(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    models = {"a": torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.ReLU(), torch.nn.Linear(12, 5)),
              "b": torch.nn.Sequential(torch.nn.Linear(6, 9), torch.nn.ReLU(), torch.nn.Linear(9, 4))}
    data = [torch.randn(40, 6) for _ in range(3)]
    r = repsim.compare(models, data, ["0", "2"], metrics=("cka", "cca"), progress=False, inference="moments")
    df = r.to_pandas()
    cka = df[df.metric == "cka"]
    assert np.allclose(cka.p_value.to_numpy(), r["cka"].p_values.ravel()) and df[df.metric == "cca"].p_value.isna().all()
    written = r.save(tmp_path, plots=False)
    assert "csv:cka.p_values" in written and "csv:cca.p_values" not in written
    doc = r.to_dict()["matrices"]["cka"]
    assert doc["p_values"][0][0] == pytest.approx(r["cka"].p_values[0, 0]) and doc["inference"]


def test_combine_is_merge(rng):
    parts = [repsim.Moments().update({"x": rng.normal(size=(40, 5)) + 100.0 * k, "y": rng.normal(size=(40, 4))})
             for k in range(4)]
    merged = repsim.Moments()
    for p in [parts[0], parts[0], parts[2], parts[3]]:
        merged.merge(p)
    combined = repsim.Moments.combine(parts, [2, 0, 1, 1])
    assert combined.n == merged.n == 160
    for metric in ("cka", "debiased_cka", "rv2", "pwcca", "procrustes"):
        # the Procrustes distance of a site to itself is √(rounding) ≈ 1e-8 either way
        tol = 1e-7 if metric == "procrustes" else 1e-13
        assert combined.matrix(metric).values == pytest.approx(merged.matrix(metric).values, rel=1e-10, abs=tol)
    with pytest.raises(ValueError, match="weights"):
        repsim.Moments.combine(parts, [1, -1, 1, 1])
    with pytest.raises(ValueError, match="no rows"):
        repsim.Moments.combine(parts, [0, 0, 0, 0])


def test_jackknife_intervals_cover_the_population_value():
    """Delete-a-group jackknife over 20 shards: the 95 % interval of debiased CKA covers the population value
    (from the population covariances) in 95 % ± 4 % of 150 independent draws (bench: 2,000 draws)."""
    from repsim.inference import ShardedMoments

    rng = np.random.default_rng(5)
    A = rng.normal(size=(8, 6)) * 0.4
    population = np.sum(A**2) / np.sqrt(8 * np.sum((A.T @ A + np.eye(6)) ** 2))
    covered, widths = 0, []
    for _ in range(150):
        sm = ShardedMoments(20)
        for _ in range(40):
            x = rng.normal(size=(100, 8))
            sm.update({"x": x, "y": x @ A + rng.normal(size=(100, 6))})
        iv = sm.interval("cka", "x", "y", debiased=True)
        covered += iv.low <= population <= iv.high
        widths.append(iv.high - iv.low)
    assert 0.91 <= covered / 150 <= 0.99 and 0.005 < np.median(widths) < 0.1


def test_sharded_matrix_bootstrap_and_aggregate(rng):
    from repsim.inference import ShardedMoments, aggregate

    sm = ShardedMoments(5)
    with pytest.raises(ValueError, match="no rows"):
        sm.total()
    for _ in range(10):
        x = rng.normal(size=(30, 6))
        sm.update({"x": x, "y": x[:, :3] @ rng.normal(size=(3, 4)) + rng.normal(size=(30, 4))})
    mat = sm.matrix("cka")
    one = sm.interval("cka", "x", "y")
    assert mat["x", "y"] == pytest.approx(one.estimate) and mat.interval_low[0, 1] == pytest.approx(one.low)
    assert mat.interval_low[0, 0] == pytest.approx(1.0) and "jackknife" in mat.interval
    boot = sm.interval("cka", "x", "y", method="bootstrap", n_boot=200, seed=1)
    assert boot.low < boot.estimate < boot.high and boot.replicates == 200
    assert sm.interval("cka", "x", "y", method="bootstrap", n_boot=50, seed=2) == \
        sm.interval("cka", "x", "y", method="bootstrap", n_boot=50, seed=2)
    agg = aggregate([mat, dataclasses_replace(mat, 0.01), dataclasses_replace(mat, -0.02)])
    assert agg.values[0, 1] == pytest.approx(mat.values[0, 1] - 0.01 / 3) and agg.interval_high[0, 1] > agg.values[0, 1]
    with pytest.raises(ValueError, match="level"):
        sm.interval("cka", "x", "y", level=1.5)
    with pytest.raises(ValueError, match="at least two"):
        aggregate([mat])


def dataclasses_replace(mat, shift):
    return repsim.SimilarityMatrix(mat.metric, mat.rows, mat.cols, mat.values + shift, mat.options)


def test_heatmap_hatches_cells_that_do_not_beat_the_null():
    pytest.importorskip("matplotlib")
    from repsim.plot import heatmap

    rng = np.random.default_rng(0)  # x–z and y–z are independent here and not significant (p = 0.51, 0.84)
    X, Y = _pair(rng, 120, 8, 6, signal=1.0)
    m = repsim.Moments().update({"x": X, "y": Y, "z": rng.normal(size=(120, 5))})
    mat = repsim.inference.matrix_test(m, "cka")
    ax = heatmap(mat)
    hatched = [p for p in ax.patches if p.get_hatch()]
    assert len(hatched) == int((~mat.significant()).sum()) == 4 and "permutation null" in ax.get_title()
    assert not [p for p in heatmap(m.matrix("cka")).patches if p.get_hatch()]
