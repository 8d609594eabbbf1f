"""Heatmaps of similarity matrices with matplotlib.

Figures are made with ``matplotlib.figure.Figure`` and rendered by the Agg canvas, so nothing here selects or
changes pyplot's global backend (works headless, in scripts, and in notebooks, which display the returned Figure).
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["DISPLAY_NAMES", "display_name", "heatmap", "plot_report", "save_heatmaps"]

#: Registry name → the measure's name in titles and colourbar labels (the registry's ``summary`` is a sentence, too
#: long for a title). A name not listed here is shown as it is.
DISPLAY_NAMES = {
    "cka": "Linear CKA",
    "debiased_cka": "Debiased linear CKA",
    "rv": "RV coefficient",
    "rv2": "RV2 (modified RV)",
    "cca": "Mean canonical correlation",
    "svcca": "SVCCA",
    "pwcca": "PWCCA",
    "procrustes": "Procrustes distance",
    "accuracy": "Accuracy",
}
#: Heatmaps with more columns than this are laid out in a grid of rows (Report.plot), at most this many per row.
GRID_COLUMNS = 3


def display_name(metric: str) -> str:
    """The name of ``metric`` for titles and colourbar labels (:data:`DISPLAY_NAMES`, else ``metric`` itself)."""
    return DISPLAY_NAMES.get(metric, metric)


def _text_colour(cm, norm_value: float) -> str:
    """Black or white, whichever contrasts more with the colour at ``norm_value`` (relative luminance, ITU-R BT.709)."""
    r, g, b, _ = cm(float(np.clip(norm_value, 0.0, 1.0)))
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 else "white"


def _figure(**kwargs):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install matplotlib") from None
    return Figure(**kwargs)


def _strip(labels, prefix):
    if prefix and all(lab.startswith(prefix) for lab in labels):
        return [lab[len(prefix) :] for lab in labels]
    return list(labels)


def heatmap(
    matrix,
    ax=None,
    *,
    row_model: str | None = None,
    col_model: str | None = None,
    title: str | None = None,
    annotate: bool | None = None,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    alpha: float = 0.05,
    correction: str = "bh",
    mark_best: bool = False,
    colorbar_label: str | None = None,
):
    """Draw one :class:`~repsim.SimilarityMatrix` as a heatmap and return the ``Axes``.

    Rows of the matrix run top to bottom (y axis), columns left to right (x axis). When ``row_model`` /
    ``col_model`` are given, that ``"<model>."`` prefix is removed from the tick labels and the axis is titled
    ``"<model> layers"``. ``annotate`` writes the values into the cells (default: when the matrix is at most
    12 × 12). The colour range is [0, 1] when the values lie in it, else their range. NaN cells are grey. When the
    matrix carries p-values (``inference=``), the cells that do not beat the permutation null at level ``alpha``
    after ``correction`` over the matrix (``SimilarityMatrix.significant``) are hatched, and the title says so.
    ``mark_best`` outlines the largest finite value of every row (its best match). The colourbar is labelled
    ``colorbar_label`` (default: the measure's display name, :func:`display_name`). Cell text is black or white by
    the luminance of the cell's colour and shrinks with the number of columns.
    """
    if ax is None:
        fig = _figure(figsize=(1.2 + 0.5 * len(matrix.cols), 1.0 + 0.45 * len(matrix.rows)), layout="constrained")
        ax = fig.add_subplot()
    values = np.asarray(matrix.values, dtype=float)
    finite = values[np.isfinite(values)]
    if vmin is None or vmax is None:
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        in_unit = lo >= -1e-12 and hi <= 1 + 1e-12
        vmin = (0.0 if in_unit else lo) if vmin is None else vmin
        vmax = (1.0 if in_unit else (hi if hi > lo else lo + 1.0)) if vmax is None else vmax
    import matplotlib
    import matplotlib.patches

    cm = matplotlib.colormaps[cmap].with_extremes(bad="lightgrey")
    im = ax.imshow(np.ma.masked_invalid(values), cmap=cm, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest")
    rows = _strip(matrix.rows, f"{row_model}." if row_model else None)
    cols = _strip(matrix.cols, f"{col_model}." if col_model else None)
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels(cols, rotation=90)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows)
    ax.set_ylabel(f"{row_model} layers (rows)" if row_model else "model.layer (rows)")
    ax.set_xlabel(f"{col_model} layers (columns)" if col_model else "model.layer (columns)")
    if title is None:
        title = display_name(matrix.metric)
    if getattr(matrix, "p_values", None) is not None:
        weak = ~matrix.significant(alpha, correction) & np.isfinite(values)
        for i, j in zip(*np.nonzero(weak)):
            ax.add_patch(matplotlib.patches.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///",
                                                      edgecolor="white", linewidth=0))
        title += f"\nhatched: not above the permutation null ({correction.upper()}, α = {alpha:g})"
    ax.set_title(title)
    if annotate is None:
        annotate = values.shape[0] <= 12 and values.shape[1] <= 12
    if annotate:
        size = 8 if values.shape[1] <= 8 else 7
        span = (vmax - vmin) or 1.0
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                v = values[i, j]
                finite = np.isfinite(v)
                ax.text(j, i, f"{v:.2f}" if finite else "nan", ha="center", va="center", fontsize=size,
                        color=_text_colour(cm, (v - vmin) / span) if finite else "black")
    if mark_best:
        for i, row in enumerate(values):
            if np.isfinite(row).any():
                j = int(np.nanargmax(row))
                ax.add_patch(matplotlib.patches.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red",
                                                          linewidth=1.8))
    cbar = ax.figure.colorbar(im, ax=ax, shrink=0.8)
    cbar.set_label(colorbar_label or display_name(matrix.metric))
    return ax


def _title(report, metric):
    extra = ""
    if report.estimator == "minibatch":
        extra = f" (minibatch, b={report.batch_size})"
    name = display_name(metric)
    if report.rows_model is not None and report.cols_model is not None:
        return f"{name}{extra}\nrows: {report.rows_model}, columns: {report.cols_model}"
    return f"{name}{extra}\nrows and columns: all models"


def plot_report(report, path=None, metrics=None, columns: int = GRID_COLUMNS, **kwargs):
    """One heatmap per metric of a :class:`~repsim.compare.Report` → ``Figure`` (PNG at ``path``).

    The heatmaps are laid out in a grid of at most ``columns`` per row (six metrics: two rows of three), each titled
    with the measure's display name and with a labelled colourbar; ``**kwargs`` go to :func:`heatmap`
    (``mark_best=True`` outlines each row's best match).
    """
    metrics = list(report.metrics if metrics is None else ([metrics] if isinstance(metrics, str) else metrics))
    for m in metrics:
        report[m]  # KeyError naming the available metrics
    if not metrics:
        raise ValueError("no metrics to plot")
    first = report[metrics[0]]
    w = 2.4 + 0.55 * len(first.cols)  # room for the tick labels and the labelled colourbar
    h = 2.0 + 0.45 * len(first.rows)
    ncols = max(1, min(int(columns), len(metrics)))
    nrows = -(-len(metrics) // ncols)
    fig = _figure(figsize=(w * ncols, h * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(metrics):]:
        fig.delaxes(ax)
    for ax, m in zip(axes, metrics):
        heatmap(
            report[m], ax, row_model=report.rows_model, col_model=report.cols_model, title=_title(report, m), **kwargs
        )
    if path is not None:
        fig.savefig(os.fspath(path), format="png", dpi=100)
    return fig


def save_heatmaps(report, directory, **kwargs) -> dict:
    """Write ``<metric>.png`` for every metric of ``report`` into ``directory``; return metric → path."""
    out = {}
    for m in report.metrics:
        path = os.path.join(os.fspath(directory), f"{m}.png")
        plot_report(report, path=path, metrics=[m], **kwargs)
        out[m] = path
    return out
