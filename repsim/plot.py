"""Figures of repsim's results with matplotlib: heatmaps of similarity matrices, maximum-match curves, simple-match
sizes, subspace-projection curves and stitching tables.

Figures are made with ``matplotlib.figure.Figure`` and rendered by the Agg canvas, so nothing here selects or
changes pyplot's global backend (works headless, in scripts, and in notebooks, which display the returned Figure).
matplotlib is imported on first use only. Every ``plot_*`` function draws into ``ax`` when one is given (a panel of
the caller's figure) or into a new figure, and returns the ``Axes``; the result objects' ``plot()`` methods call
them. The functions read the result objects' public attributes only (this module sits below them, docs/design.md
§4).
"""

from __future__ import annotations

import os

import numpy as np

__all__ = [
    "DISPLAY_NAMES",
    "STITCHING_KINDS",
    "display_name",
    "heatmap",
    "plot_match_curve",
    "plot_projection",
    "plot_report",
    "plot_simple_matches",
    "plot_stitching",
    "save_heatmaps",
]

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
    """One heatmap per metric of a :class:`~repsim.Report` → ``Figure`` (PNG at ``path``).

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


# ------------------------------------------------------------------------------------ result objects' figures
#: :func:`plot_simple_matches` puts a tick under every bar up to this many sizes (beyond: integer ticks).
SIZE_TICKS = 15
#: ``kind`` of :func:`plot_stitching` (the StitchingTable attribute drawn) → (default title, colourbar label, whether
#: it is an accuracy, coloured on [0, 1]).
STITCHING_KINDS = {
    "accuracy": ("test accuracy: affine maps (Table 5.2)", "test accuracy", True),
    "logit": ("test accuracy: logit maps (Table 5.3)", "test accuracy", True),
    "naive": ("test accuracy: naive swap (§5.6)", "test accuracy", True),
    "delta": ("affine maps: change from the row model's own accuracy", "relative change", False),
    "r2": ("R² of the affine maps (training features)", "R²", False),
}


class _Grid:
    """The attributes of a SimilarityMatrix that :func:`heatmap` reads, for a table that is not one."""

    p_values = None

    def __init__(self, metric: str, rows, cols, values):
        self.metric, self.rows, self.cols, self.values = metric, list(rows), list(cols), values


def _axes(ax, figsize):
    """``ax`` checked to be a matplotlib Axes, or the Axes of a new figure of ``figsize`` when ``ax`` is None."""
    if ax is None:
        return _figure(figsize=figsize, layout="constrained").add_subplot()
    from matplotlib.axes import Axes  # matplotlib stays off `import repsim` (as in heatmap)

    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    return ax


def _needs(obj, name: str, what: str, attributes) -> None:
    missing = [a for a in attributes if not hasattr(obj, a)]
    if missing:
        raise TypeError(f"{name} must be {what}, got {type(obj).__name__} (no {', '.join(missing)})")


def _text(value, name: str):
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a str or None, got {type(value).__name__}")
    return value


def _bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def plot_match_curve(curve, ax=None, *, label: str | None = None, title: str | None = None,
                     legend: bool | None = None, **kwargs):
    """Draw a maximum-match curve s(ε) against ε (Wang et al. 2018, Fig. 3) and return the ``Axes``.

    s(ε) = (|X*| + |Y*|) / (n_x + n_y) is the maximal matching similarity: the fraction of the two layers' neurons
    in the maximum ε-approximate match (docs/matches.md). One line, its points in increasing ε; the y axis is fixed
    to [0, 1] (with a small margin) so that curves of different layers compare. Call it again on the same ``ax``
    to overlay curves (e.g. trained against untrained).

    Parameters
    ----------
    curve : MatchCurve
        ``curve.eps`` and ``curve.similarity``, 1-D of the same length m ≥ 1 (:func:`repsim.match_curve`).
    ax : matplotlib Axes, optional
        Where to draw; default a new figure.
    label : str, optional
        The line's legend entry.
    title : str, optional
        The Axes' title. Default: on a new figure, the layers' neuron counts; on a given ``ax``, left unchanged.
    legend : bool, optional
        Draw the legend; default when ``label`` is given.
    **kwargs
        Passed to ``Axes.plot`` (default ``marker="o"``).

    Returns
    -------
    matplotlib.axes.Axes
    """
    _needs(curve, "curve", "a MatchCurve", ("eps", "similarity"))
    eps = np.asarray(curve.eps, dtype=float)
    sim = np.asarray(curve.similarity, dtype=float)
    if eps.ndim != 1 or sim.shape != eps.shape or eps.size == 0:
        raise ValueError(f"curve: eps and similarity must be 1-D of one length >= 1, got shapes {eps.shape} and "
                         f"{sim.shape}")
    label, title = _text(label, "label"), _text(title, "title")
    legend = label is not None if legend is None else _bool(legend, "legend")
    new = ax is None
    ax = _axes(ax, (5.0, 3.6))
    order = np.argsort(eps, kind="stable")
    kwargs.setdefault("marker", "o")
    ax.plot(eps[order], sim[order], label=label, **kwargs)
    ax.set_xlabel("ε")
    ax.set_ylabel("maximal matching similarity s(ε)")
    ax.set_ylim(-0.03, 1.03)
    matches = getattr(curve, "matches", ())
    if title is None and new:
        title = "Maximum matches (Wang et al. 2018)"
        if matches:
            title += f": {matches[0].n_x} × {matches[0].n_y} neurons"
    if title is not None:
        ax.set_title(title)
    if legend:
        ax.legend(fontsize=8, loc="upper left")
    return ax


def plot_simple_matches(matches, ax=None, *, title: str | None = None, **kwargs):
    """Draw the size distribution of the simple matches of one ε (Wang et al. 2018, Fig. 5) and return the ``Axes``.

    One bar per size |X| + |Y| that occurs, its height the number of simple matches of that size
    (``SimpleMatches.size_distribution()``); an empty result (the maximum match is empty) is said in the panel.

    Parameters
    ----------
    matches : SimpleMatches
        The result of :func:`repsim.simple_matches`.
    ax : matplotlib Axes, optional
        Where to draw; default a new figure.
    title : str, optional
        Default: ε, the number of simple matches and the size of the maximum match.
    **kwargs
        Passed to ``Axes.bar`` (default ``width=0.8``).

    Returns
    -------
    matplotlib.axes.Axes
    """
    _needs(matches, "matches", "a SimpleMatches", ("eps", "maximum", "size_distribution"))
    title = _text(title, "title")
    ax = _axes(ax, (5.0, 3.6))
    dist = matches.size_distribution()
    if dist:
        kwargs.setdefault("width", 0.8)
        ax.bar(list(dist), list(dist.values()), **kwargs)
        from matplotlib.ticker import MaxNLocator  # matplotlib stays off `import repsim`

        if len(dist) <= SIZE_TICKS:
            ax.set_xticks(list(dist))  # sizes and counts are integers: no fractional ticks
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(min(dist) - 1, max(dist) + 1)  # a lone bar stays a bar, not the whole panel
    else:
        ax.text(0.5, 0.5, "no simple matches: the maximum match is empty", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel("simple-match size |X| + |Y|")
    ax.set_ylabel("number of simple matches")
    if title is None:
        m = matches.maximum
        title = (f"ε = {matches.eps:g}: {len(matches)} simple matches\n(maximum match: {m.size} of "
                 f"{m.n_x + m.n_y} neurons)")
    ax.set_title(title, fontsize=9)
    return ax


def plot_projection(curves, ax=None, *, methods=None, retrained: bool = False, title: str | None = None,
                    ylabel: str | None = None):
    """Draw subspace-projection curves (seed 000, §4.2; Raghu et al. 2017, Fig. 2) and return the ``Axes``.

    One line per method: test accuracy against the subspace dimension n (log₂ axis), with a band of ± one standard
    deviation over the repeats where it is not zero (the random methods); a dashed line at the unprojected accuracy
    and a dotted one at n = n_classes. ``len(methods) + 2`` lines in all.

    Parameters
    ----------
    curves : ProjectionCurves
        The result of :func:`repsim.experiments.projection_curves`.
    ax : matplotlib Axes, optional
        Where to draw; default a new figure.
    methods : str or sequence of str, optional
        The methods to draw, a subset of ``curves.methods`` (default all, in their order).
    retrained : bool, default False
        Draw the accuracies of the heads retrained on the projected features (``curves.retrained``; needs
        ``projection_curves(..., retrain=True)``).
    title, ylabel : str, optional
        Default: the experiment, and which head classifies.

    Returns
    -------
    matplotlib.axes.Axes
    """
    _needs(curves, "curves", "a ProjectionCurves",
           ("n_values", "methods", "accuracy", "std", "baseline", "n_classes", "retrained"))
    if methods is None:
        methods = list(curves.methods)
    else:
        methods = [methods] if isinstance(methods, str) else methods
        if not isinstance(methods, (list, tuple)) or not all(isinstance(m, str) for m in methods):
            raise TypeError(f"methods must be a str or a sequence of str, got {methods!r}")
        unknown = [m for m in methods if m not in curves.methods]
        if unknown or not methods:
            raise ValueError(f"methods must name curves of this result {list(curves.methods)}, got {list(methods)}")
    retrained = _bool(retrained, "retrained")
    title, ylabel = _text(title, "title"), _text(ylabel, "ylabel")
    if retrained and curves.retrained is None:
        raise ValueError("retrained=True needs curves computed with projection_curves(..., retrain=True)")
    acc = curves.retrained if retrained else curves.accuracy
    std = curves.retrained_std if retrained else curves.std
    baseline = curves.retrained_baseline if retrained else curves.baseline
    ax = _axes(ax, (7.5, 4.8))
    x = np.asarray(curves.n_values)
    for method in methods:
        y = np.asarray(acc[method], dtype=float)
        (line,) = ax.plot(x, y, marker="o", markersize=3, label=method)
        s = np.asarray(std[method], dtype=float)
        if np.any(s > 0):
            ax.fill_between(x, y - s, y + s, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.axhline(baseline, color="black", linestyle="--", linewidth=1, label="unprojected")
    ax.axvline(curves.n_classes, color="grey", linestyle=":", linewidth=1, label=f"n = n_c = {curves.n_classes}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("subspace dimension n")
    ax.set_ylabel(ylabel or ("test accuracy of a head retrained on the projection" if retrained
                             else "test accuracy of model A's own head"))
    ax.set_ylim(0, 1)
    ax.set_title(title or "Subspace projection of model A's features (seed 000, §4.2)")
    ax.legend(fontsize=8, loc="lower right")
    return ax


def plot_stitching(table, ax=None, *, kind: str = "accuracy", title: str | None = None, **kwargs):
    """Draw one table of a stitching experiment (McNeely-White 2020, ch. 5) as a heatmap and return the ``Axes``.

    Rows are the feature extractors (source models), columns the classifiers (target models), as in
    :class:`repsim.experiments.StitchingTable`; the cells carry their values.

    Parameters
    ----------
    table : StitchingTable
        The result of :func:`repsim.experiments.stitching_table`.
    ax : matplotlib Axes, optional
        Where to draw; default a new figure.
    kind : str, default "accuracy"
        Which k × k table (:data:`STITCHING_KINDS`): ``"accuracy"`` (least-squares affine maps, Table 5.2),
        ``"logit"`` (logit-compatibility maps, Table 5.3), ``"naive"`` (unmapped features, §5.6) — coloured on
        [0, 1] — ``"delta"`` (relative change from the row model's own accuracy) or ``"r2"`` (R² of the maps).
    title : str, optional
        Default: the table's description in :data:`STITCHING_KINDS`.
    **kwargs
        Passed to :func:`heatmap` (``annotate``, ``cmap``, ``mark_best``, ``vmin``, ``vmax``).

    Returns
    -------
    matplotlib.axes.Axes
    """
    if not isinstance(kind, str) or kind not in STITCHING_KINDS:
        raise ValueError(f"kind must be one of {list(STITCHING_KINDS)}, got {kind!r}")
    _needs(table, "table", "a StitchingTable", ("models", kind))
    title = _text(title, "title")
    if ax is not None:
        _axes(ax, None)  # a given ax must be an Axes; heatmap sizes a new figure to the table
    what, label, unit = STITCHING_KINDS[kind]
    values = np.asarray(getattr(table, kind), dtype=float)
    k = len(table.models)
    if values.shape != (k, k):
        raise ValueError(f"table.{kind} must have shape ({k}, {k}) (one row and column per model), got "
                         f"{values.shape}")
    if unit:
        kwargs.setdefault("vmin", 0.0)
        kwargs.setdefault("vmax", 1.0)
    kwargs.setdefault("colorbar_label", label)
    ax = heatmap(_Grid(kind, table.models, table.models, values), ax, title=title or what, **kwargs)
    ax.set_ylabel("feature extractor (rows)")
    ax.set_xlabel("classifier (columns)")
    return ax
