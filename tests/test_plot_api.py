"""The public plot functions of repsim.plot (issue 18): projection curves, stitching tables, match curves and
simple-match sizes, each returning the Axes it drew; the demo's figures are drawn by them."""
from __future__ import annotations

import subprocess
import sys
import types

import numpy as np
import pytest

import repsim
import repsim.plot as rplot
from repsim.experiments import ALL_METHODS, fit_logistic, projection_curves, stitching_table

pytest.importorskip("matplotlib")

NEW = ("plot_match_curve", "plot_simple_matches", "plot_projection", "plot_stitching")
C = 3


def _data(seed=0, n=600, p=8):
    rng = np.random.default_rng(seed)
    means = 1.5 * rng.normal(size=(C, 3))
    y = rng.integers(0, C, n)
    z = means[y] + 0.6 * rng.normal(size=(n, 3))
    return z, y, rng


@pytest.fixture(scope="module")
def curves():
    z, y, rng = _data()
    A = np.hstack([z, 0.3 * rng.normal(size=(z.shape[0], 5))]) @ rng.normal(size=(8, 8))
    B = np.hstack([z, rng.normal(size=(z.shape[0], 3))]) @ rng.normal(size=(6, 6))
    head = fit_logistic(A[:400], y[:400], C)
    return projection_curves(A[:400], A[400:], B[:400], head, (y[:400], y[400:]), repeats=3, retrain=True)


@pytest.fixture(scope="module")
def table():
    z, y, rng = _data(1)
    features, heads = {}, {}
    for name, p in (("net1", 6), ("net2", 7), ("net3", 5)):
        X = z @ rng.normal(size=(3, p)) + 0.3 * rng.normal(size=(z.shape[0], p))
        features[name] = (X[:400], X[400:])
        heads[name] = fit_logistic(X[:400], y[:400], C)
    return stitching_table(features, heads, (y[:400], y[400:]))


def test_new_functions_are_public_and_matplotlib_loads_on_first_use():
    for name in NEW:
        assert name in rplot.__all__ and callable(getattr(rplot, name))
        assert getattr(repsim.plot, name) is getattr(rplot, name)
        assert rplot.__dict__[name].__doc__ and "Returns" in rplot.__dict__[name].__doc__
    code = ("import sys, repsim, repsim.plot, repsim.experiments; "
            "assert 'matplotlib' not in sys.modules, 'importing the plot functions must not import matplotlib'")
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------------------------------- projection
def test_plot_projection_draws_every_method_with_bands_for_the_random_ones(curves):
    from matplotlib.axes import Axes
    from matplotlib.collections import PolyCollection

    ax = curves.plot()
    assert isinstance(ax, Axes)
    assert len(ax.lines) == len(ALL_METHODS) + 2  # one per method, the unprojected accuracy, n = n_c
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [*ALL_METHODS, "unprojected", f"n = n_c = {C}"]
    for line, m in zip(ax.lines, ALL_METHODS):
        np.testing.assert_array_equal(line.get_xdata(), curves.n_values)
        np.testing.assert_array_equal(line.get_ydata(), curves.accuracy[m])
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == sum(np.any(curves.std[m] > 0) for m in ALL_METHODS) >= 2  # random methods only
    assert ax.lines[-2].get_ydata()[0] == curves.baseline and ax.lines[-1].get_xdata()[0] == C
    assert ax.get_xscale() == "log" and ax.get_ylim() == (0, 1)
    assert ax.get_xlabel() == "subspace dimension n" and "seed 000" in ax.get_title()


def test_plot_projection_subset_retrained_and_labels(curves):
    ax = rplot.plot_projection(curves, methods=["PCA", "CCA_highest"], retrained=True, title="t", ylabel="acc")
    assert len(ax.lines) == 4 and ax.get_title() == "t" and ax.get_ylabel() == "acc"
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), curves.retrained["PCA"])
    assert ax.lines[2].get_ydata()[0] == curves.retrained_baseline
    one = rplot.plot_projection(curves, methods="PCA")
    assert len(one.lines) == 3


def test_plot_projection_refuses_bad_arguments(curves):
    z, y, rng = _data()
    A = z @ rng.normal(size=(3, 4))
    plain = projection_curves(A[:400], A[400:], A[:400], fit_logistic(A[:400], y[:400], C), (y[:400], y[400:]),
                              methods="PCA")
    with pytest.raises(ValueError, match=r"retrained=True needs .*retrain=True"):
        plain.plot(retrained=True)
    with pytest.raises(ValueError, match=r"methods must name curves of this result \['PCA'\]"):
        plain.plot(methods=["CCA_highest"])
    with pytest.raises(TypeError, match="methods must be a str or a sequence of str"):
        plain.plot(methods=3)
    with pytest.raises(TypeError, match="retrained must be a bool"):
        plain.plot(retrained=1)
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        plain.plot(ax=object())
    with pytest.raises(TypeError, match=r"curves must be a ProjectionCurves.*no n_values"):
        rplot.plot_projection({"accuracy": {}})


# ---------------------------------------------------------------------------------------------------- stitching
@pytest.mark.parametrize("kind", list(rplot.STITCHING_KINDS))
def test_plot_stitching_draws_each_table(table, kind):
    ax = table.plot(kind=kind)
    (image,) = ax.get_images()
    np.testing.assert_array_equal(np.asarray(image.get_array()), getattr(table, kind))
    assert [t.get_text() for t in ax.get_xticklabels()] == list(table.models)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(table.models)
    assert ax.get_ylabel() == "feature extractor (rows)" and ax.get_xlabel() == "classifier (columns)"
    assert ax.get_title() == rplot.STITCHING_KINDS[kind][0]
    assert len(ax.texts) == 9  # every cell annotated
    if rplot.STITCHING_KINDS[kind][2]:
        assert image.get_clim() == (0.0, 1.0)


def test_plot_stitching_into_given_axes(table):
    fig = rplot._figure()
    axes = fig.subplots(1, 2)
    assert rplot.plot_stitching(table, axes[1], kind="naive", title="swap", annotate=False) is axes[1]
    assert axes[1].get_title() == "swap" and not axes[1].texts and not axes[0].get_images()


def test_plot_stitching_refuses_bad_arguments(table):
    with pytest.raises(ValueError, match=r"kind must be one of \['accuracy', 'logit', 'naive', 'delta', 'r2'\]"):
        table.plot(kind="own_accuracy")
    with pytest.raises(ValueError, match="kind must be one of"):
        table.plot(kind=None)
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        table.plot(ax="left")
    with pytest.raises(TypeError, match=r"table must be a StitchingTable.*no models"):
        rplot.plot_stitching(np.eye(3))
    fake = types.SimpleNamespace(models=("a", "b"), accuracy=np.eye(3))
    with pytest.raises(ValueError, match=r"table.accuracy must have shape \(2, 2\)"):
        rplot.plot_stitching(fake)


# ---------------------------------------------------------------------------------------------------- the demo
def test_demo_figures_come_from_the_public_functions(tmp_path, table, curves, monkeypatch):
    from repsim.demo import report

    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 6))
    Y = np.hstack([X[:, :3], rng.normal(size=(300, 3))])
    m = repsim.Moments().update({"a.l0": X, "b.l0": Y})
    layer_report = repsim.Report({"cka": m.matrix("cka", rows=["a.l0"], cols=["b.l0"])}, models=("a", "b"),
                                 sites={"a": ["a.l0"], "b": ["b.l0"]}, rows_model="a", cols_model="b",
                                 layers={"a": [{"name": "l0"}], "b": [{"name": "l0"}]}, n=300, n_samples=300,
                                 n_batches=1, estimator="exact")
    mc = {"fc": {"trained": m.match_curve("a.l0", "b.l0", eps=[0.1, 0.3]),
                 "untrained": m.match_curve("a.l0", "b.l0", eps=[0.1, 0.3]), "rows": 300, "neurons": 6}}
    simple = {"fc @ eps=0.3": m.simple_matches("a.l0", "b.l0", 0.3)}
    result = types.SimpleNamespace(stitching=table, projection=curves, layer_report=layer_report, match_curves=mc,
                                   simple=simple)
    calls = []
    for name in NEW:
        real = getattr(rplot, name)
        monkeypatch.setattr(rplot, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))
    for mod in (report, repsim.metrics.match, repsim.experiments.projection, repsim.experiments.stitching):
        for name in NEW:
            if hasattr(mod, name):
                monkeypatch.setattr(mod, name, getattr(rplot, name))
    paths = report.write_figures(result, tmp_path)
    for key in ("stitching", "projection", "layer_similarity", "max_match", "simple_matches"):
        with open(paths[key], "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n", key
    assert calls.count("plot_stitching") == 3 and calls.count("plot_projection") == 1
    assert calls.count("plot_match_curve") == 2 and calls.count("plot_simple_matches") == 1
