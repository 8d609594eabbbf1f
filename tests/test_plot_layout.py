"""Report.plot's layout (issue 18): a grid of heatmaps titled with display names, labelled colourbars, readable
cell text and an optional best-match outline per row."""
from __future__ import annotations

import numpy as np
import pytest

import repsim
from repsim.plot import DISPLAY_NAMES, display_name, heatmap

pytest.importorskip("matplotlib")


def _report(metrics):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4))
    acts = {"a.l0": x, "a.l1": x @ rng.normal(size=(4, 3)), "b.l0": x + 0.1 * rng.normal(size=(60, 4)),
            "b.l1": rng.normal(size=(60, 5))}
    m = repsim.Moments().update(acts)
    rows, cols = ["a.l0", "a.l1"], ["b.l0", "b.l1"]
    matrices = {k: m.matrix(k, rows=rows, cols=cols) for k in metrics}
    return repsim.Report(matrices, models=("a", "b"), sites={"a": rows, "b": cols}, rows_model="a", cols_model="b",
                         layers={"a": [{"name": "l0"}, {"name": "l1"}], "b": [{"name": "l0"}, {"name": "l1"}]},
                         n=60, n_samples=60, n_batches=1, estimator="exact")


def test_six_metrics_are_laid_out_in_a_grid_with_display_names():
    metrics = ("cka", "debiased_cka", "rv", "rv2", "cca", "procrustes")
    fig = _report(metrics).plot()
    heatmaps = [ax for ax in fig.axes if ax.get_images()]
    assert len(heatmaps) == 6
    rows = {round(ax.get_position().y0, 3) for ax in heatmaps}
    assert len(rows) == 2  # two rows of three, not one strip of six
    assert heatmaps[0].get_title().startswith("Linear CKA") and heatmaps[3].get_title().startswith("RV2")
    labels = [ax.get_ylabel() for ax in fig.axes if not ax.get_images() and ax.get_ylabel()]
    assert DISPLAY_NAMES["cka"] in labels and DISPLAY_NAMES["procrustes"] in labels  # colourbars labelled


def test_best_match_outline_and_text_contrast():
    m = repsim.SimilarityMatrix("cka", ["r0", "r1"], ["c0", "c1", "c2"], np.array([[0.1, 0.9, 0.5], [0.95, 0.2, 0.3]]))
    ax = heatmap(m, mark_best=True)
    outlined = [(p.get_x(), p.get_y()) for p in ax.patches if p.get_edgecolor()[:3] == (1.0, 0.0, 0.0)]
    assert sorted(outlined) == [(-0.5, 0.5), (0.5, -0.5)]  # row 0 → column 1, row 1 → column 0
    colours = {t.get_text(): t.get_color() for t in ax.texts}
    assert colours["0.10"] == "white" and colours["0.95"] == "black"  # dark and bright viridis cells
    assert display_name("unknown_measure") == "unknown_measure"
