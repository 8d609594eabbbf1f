"""Result containers: :class:`SimilarityMatrix` (one metric between sites) and :class:`Report` (every matrix of a
:func:`repsim.compare` run, with its metadata, export and plots)."""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field

import numpy as np

from ._files import atomic_write
from ._validation import flag
from ._version import __version__
from .plot import plot_report, save_heatmaps

REPORT_FORMAT = "repsim.Report"
#: Version of the report.json layout written by :meth:`Report.to_dict` / :meth:`Report.save`.
REPORT_VERSION = 1


@dataclass(frozen=True)
class SimilarityMatrix:
    """A labelled matrix of one metric between sites: ``values[i, j] = metric(rows[i], cols[j])``.

    Attributes
    ----------
    metric : str
        Metric name, e.g. ``"cka"`` or ``"rv2"``.
    rows, cols : tuple of str
        Site labels of the row and column axes.
    values : ndarray of shape (len(rows), len(cols))
    options : dict
        The metric's options (e.g. ``{"center": True}``).
    approximate : ndarray of bool, same shape as values, or None
        The cells computed by an approximate strategy (``compare(..., approximate="sketch")``); None: every cell is
        exact. ``approximation`` says how they were approximated and the error measured.
    approximation : str or None
    p_values, null_mean, null_sd : ndarray of the values' shape, or None
        The permutation test of every cell when asked for (:func:`repsim.inference.matrix_test`): upper-tail
        p-values and the permutation null's mean and spread; ``inference`` names the method.
    inference : str or None
    interval_low, interval_high : ndarray of the values' shape, or None
        A confidence interval per cell (:class:`repsim.inference.ShardedMoments`, :func:`repsim.inference.aggregate`);
        ``interval`` names the method and level.
    interval : str or None
    """

    metric: str
    rows: tuple
    cols: tuple
    values: np.ndarray
    options: dict = field(default_factory=dict)
    approximate: object = None
    approximation: str | None = None
    p_values: object = None
    null_mean: object = None
    null_sd: object = None
    inference: str | None = None
    interval_low: object = None
    interval_high: object = None
    interval: str | None = None

    def __post_init__(self):
        v = np.asarray(self.values, dtype=np.float64)
        if v.shape != (len(self.rows), len(self.cols)):
            raise ValueError(f"values has shape {v.shape}, expected {(len(self.rows), len(self.cols))}")
        v.setflags(write=False)
        object.__setattr__(self, "values", v)
        if self.approximate is not None:
            a = np.asarray(self.approximate, dtype=bool)
            if a.shape != v.shape:
                raise ValueError(f"approximate has shape {a.shape}, expected {v.shape}")
            if not a.any():
                a = None
            else:
                a.setflags(write=False)
            object.__setattr__(self, "approximate", a)
        for name in ("p_values", "null_mean", "null_sd", "interval_low", "interval_high"):
            arr = getattr(self, name)
            if arr is not None:
                arr = np.array(arr, dtype=np.float64)
                if arr.shape != v.shape:
                    raise ValueError(f"{name} has shape {arr.shape}, expected {v.shape}")
                arr.setflags(write=False)
                object.__setattr__(self, name, arr)
        object.__setattr__(self, "rows", tuple(self.rows))
        object.__setattr__(self, "cols", tuple(self.cols))

    @property
    def shape(self):
        return self.values.shape

    @property
    def exact(self) -> bool:
        """Whether every cell is exact."""
        return self.approximate is None

    def significant(self, alpha: float = 0.05, correction: str = "bh") -> np.ndarray:
        """Cells whose similarity exceeds the permutation null at level ``alpha`` after the multiple-comparison
        ``correction`` over the matrix: ``"bh"`` (Benjamini–Hochberg false discovery rate), ``"bonferroni"``
        (family-wise) or ``"none"``. Needs ``p_values``."""
        if self.p_values is None:
            raise ValueError(f"this {self.metric} matrix has no p-values; compute it with inference "
                             "(repsim.inference.matrix_test or compare(..., inference='moments'))")
        return reject(self.p_values, alpha, correction)

    def __getitem__(self, key):
        """``m["layer1", "layer2"]`` by labels, or integer indices as on ``values``."""
        if isinstance(key, tuple) and len(key) == 2 and all(isinstance(k, str) for k in key):
            r, c = key
            if r not in self.rows:
                raise KeyError(f"row {r!r} not in {list(self.rows)}")
            if c not in self.cols:
                raise KeyError(f"column {c!r} not in {list(self.cols)}")
            return float(self.values[self.rows.index(r), self.cols.index(c)])
        return self.values[key]

    def to_dict(self) -> dict:
        """JSON-ready dict: metric, options, rows, cols and values as nested lists (NaN as None)."""
        vals = [[None if np.isnan(v) else float(v) for v in row] for row in self.values]
        return {
            "metric": self.metric,
            "options": dict(self.options),
            "rows": list(self.rows),
            "cols": list(self.cols),
            "values": vals,
            "approximate": None if self.approximate is None else self.approximate.tolist(),
            "approximation": self.approximation,
            "inference": self.inference,
            "interval": self.interval,
            **{name: None if getattr(self, name) is None else
               [[None if np.isnan(v) else float(v) for v in row] for row in getattr(self, name)]
               for name in ("p_values", "null_mean", "null_sd", "interval_low", "interval_high")},
        }

    def to_pandas(self):
        """A ``pandas.DataFrame`` indexed by the row labels with the column labels as columns."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_pandas() needs pandas: pip install pandas") from None
        return pd.DataFrame(np.array(self.values), index=list(self.rows), columns=list(self.cols))

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        head = f"SimilarityMatrix({self.metric}{', ' + opts if opts else ''}; rows = {len(self.rows)}, cols = {len(self.cols)})"
        width = max([len(r) for r in self.rows] + [4])
        cw = max([len(c) for c in self.cols] + [8])
        lines = [head, " " * width + "  " + "  ".join(f"{c:>{cw}}" for c in self.cols)]
        approx = np.zeros(self.values.shape, bool) if self.approximate is None else self.approximate
        for r, row, mark in zip(self.rows, self.values, approx):
            lines.append(f"{r:>{width}}  " + "  ".join(f"{('~' if a else '') + format(v, '.4f'):>{cw}}"
                                                      for v, a in zip(row, mark)))
        if self.approximate is not None:
            lines.append(f"~ approximate: {self.approximation}")
        return "\n".join(lines)


def reject(p_values, alpha: float = 0.05, correction: str = "bh") -> np.ndarray:
    """Boolean mask of the p-values rejected at level ``alpha`` after ``correction`` ("bh": Benjamini & Hochberg
    1995, step-up on the sorted p-values; "bonferroni"; "none"); NaN p-values are never rejected and do not count
    as tests."""
    if correction not in ("bh", "bonferroni", "none"):
        raise ValueError(f"correction must be 'bh', 'bonferroni' or 'none', got {correction!r}")
    if not (isinstance(alpha, (int, float)) and 0.0 < alpha < 1.0):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    p = np.asarray(p_values, dtype=np.float64)
    ok = np.isfinite(p)
    m = int(ok.sum())
    out = np.zeros(p.shape, bool)
    if m == 0:
        return out
    if correction == "none":
        out[ok] = p[ok] <= alpha
    elif correction == "bonferroni":
        out[ok] = p[ok] <= alpha / m
    else:
        flat = p[ok]
        order = np.argsort(flat)
        passed = np.nonzero(flat[order] <= alpha * np.arange(1, m + 1) / m)[0]
        keep = np.zeros(m, bool)
        if passed.size:
            keep[order[: passed[-1] + 1]] = True
        out[ok] = keep
    return out


def _write_csv(path, corner: str, rows, cols, values) -> None:
    """One labelled matrix as CSV (NaN as "nan", floats round-tripping), written atomically."""

    def write(fh):
        w = csv.writer(fh)
        w.writerow([corner, *cols])
        for r, row in zip(rows, values):
            w.writerow([r, *("nan" if np.isnan(v) else repr(float(v)) for v in row)])

    atomic_write(path, write, mode="w", encoding="utf-8", newline="")


class Report:
    """Similarity matrices of every requested metric between the layers of one or more models.

    Index by metric name: ``report["cka"]`` is a :class:`~repsim.SimilarityMatrix` whose labels are sites
    ``"<model>.<layer>"``.

    Axes
    ----
    * one model: rows and columns are its layers;
    * two models: rows are the first model's layers (``rows_model``), columns the second's (``cols_model``);
    * more: rows and columns are all layers of all models (``rows_model`` and ``cols_model`` are None).

    Attributes
    ----------
    matrices : dict metric → SimilarityMatrix
    models : tuple of str
    sites : dict model → tuple of site labels
    rows_model, cols_model : str or None
        The model whose layers are the rows / columns (None: all models).
    layers : dict model → list of dict
        Each layer's name, resolved module name, reduction, channel axis and output selector.
    n : int
        Rows accumulated (samples; with ``reduce="positions"``, positions or tokens).
    n_samples : int
        Samples (the models' batch dimension summed over batches).
    n_batches : int
        Batches of data consumed.
    estimator : {"exact", "minibatch"}
    batch_size : int or None
        Chunk size of the minibatch estimator.
    metric_options : dict metric → dict
        The options each metric was computed with.
    statistics : accumulator
        What the run accumulated (:class:`repsim.Moments` for the exact estimator, the minibatch estimator's
        state otherwise): ``report.statistics.matrix("svcca", ...)``, ``report.statistics.save(path)``.
    info : dict
        Estimator details (exact: batches and engine, or the number of passes; minibatch: chunks, rows used and
        dropped).
    plan : repsim.planner.MemoryPlan or None
        The memory plan of the exact statistics (strategy, memory and flops per group of blocks, passes).
    approximation : dict or None
        None when every cell is exact; else the approximate strategy (``"sketch"``), its width ``k``, the sketched
        sites and ``measured_error`` (metric → largest |approximate − exact| over the cells on the first batch's
        ``check_rows`` rows). The matrices mark their approximate cells (``SimilarityMatrix.approximate``).
    """

    def __init__(
        self,
        matrices,
        *,
        models,
        sites,
        rows_model,
        cols_model,
        layers,
        n,
        n_samples,
        n_batches,
        estimator,
        batch_size=None,
        statistics=None,
        info=None,
        plan=None,
        approximation=None,
    ):
        self.matrices = dict(matrices)
        self.models = tuple(models)
        self.sites = {k: tuple(v) for k, v in sites.items()}
        self.rows_model = rows_model
        self.cols_model = cols_model
        self.layers = layers
        self.n = int(n)
        self.n_samples = int(n_samples)
        self.n_batches = int(n_batches)
        self.estimator = estimator
        self.batch_size = batch_size
        self.statistics = statistics
        self.plan = plan
        self.approximation = approximation
        self.info = dict(info or {})

    @property
    def moments(self):
        """The exact statistics (a :class:`repsim.Moments`) when the run kept them, else None."""
        return self.statistics if getattr(self.statistics, "space", None) == "feature" else None

    # -- mapping interface
    @property
    def metrics(self) -> tuple:
        return tuple(self.matrices)

    @property
    def metric_options(self) -> dict:
        return {k: dict(m.options) for k, m in self.matrices.items()}

    def __getitem__(self, metric: str) -> SimilarityMatrix:
        try:
            return self.matrices[metric]
        except KeyError:
            raise KeyError(f"no metric {metric!r} in this report; it has {list(self.matrices)}") from None

    def __contains__(self, metric) -> bool:
        return metric in self.matrices

    def __iter__(self):
        return iter(self.matrices)

    def __len__(self) -> int:
        return len(self.matrices)

    def keys(self):
        return self.matrices.keys()

    def items(self):
        return self.matrices.items()

    # -- descriptions
    def model_of(self, site: str) -> str:
        """The model a site label belongs to."""
        for m, labels in self.sites.items():
            if site in labels:
                return m
        raise KeyError(f"unknown site {site!r}")

    def layer_of(self, site: str) -> str:
        """The layer name of a site label (the label without its ``"<model>."`` prefix)."""
        return site[len(self.model_of(site)) + 1 :]

    @property
    def axes(self) -> str:
        """Which model is on which axis, in words."""
        if self.rows_model is not None and self.rows_model == self.cols_model:
            return f"rows and columns: layers of model {self.rows_model!r}"
        if self.rows_model is not None and self.cols_model is not None:
            return f"rows: layers of model {self.rows_model!r}; columns: layers of model {self.cols_model!r}"
        return "rows and columns: layers of all models (" + ", ".join(repr(m) for m in self.models) + ")"

    def __repr__(self) -> str:
        head = f"Report({self.estimator} estimator"
        if self.batch_size is not None:
            head += f", batch_size={self.batch_size}"
        head += f"; n={self.n} rows from {self.n_samples} samples in {self.n_batches} batches)"
        if self.approximation is not None:
            head += (f"\nAPPROXIMATE cells (~): {self.approximation['strategy']} k = {self.approximation['k']}, "
                     f"measured error on the first batch {self.approximation['measured_error']}")
        lines = [head, self.axes, "metrics: " + ", ".join(self.matrices)]
        for m in self.matrices.values():
            lines.append("")
            lines.append(repr(m))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready dict: metadata and every matrix (NaN as None)."""
        return {
            "format": REPORT_FORMAT,
            "version": REPORT_VERSION,
            "repsim_version": __version__,
            "models": list(self.models),
            "rows_model": self.rows_model,
            "cols_model": self.cols_model,
            "axes": self.axes,
            "sites": {k: list(v) for k, v in self.sites.items()},
            "layers": self.layers,
            "n": self.n,
            "n_samples": self.n_samples,
            "n_batches": self.n_batches,
            "estimator": self.estimator,
            "batch_size": self.batch_size,
            "info": self.info,
            "plan": None if self.plan is None else str(self.plan),
            "approximation": self.approximation,
            "metric_options": self.metric_options,
            "matrices": {k: m.to_dict() for k, m in self.matrices.items()},
        }

    def to_pandas(self, metric: str | None = None):
        """One metric's matrix as a DataFrame (rows × cols), or with ``metric=None`` every entry of every metric in
        long form (columns ``metric, row, col, row_model, col_model, value``)."""
        if metric is not None:
            return self[metric].to_pandas()
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_pandas() needs pandas: pip install pandas") from None
        records = []
        tested = any(m.p_values is not None for m in self.matrices.values())
        for name, m in self.matrices.items():
            for i, r in enumerate(m.rows):
                for j, c in enumerate(m.cols):
                    row = (name, r, c, self.model_of(r), self.model_of(c), float(m.values[i, j]))
                    if tested:
                        row += tuple(float("nan") if a is None else float(a[i, j])
                                     for a in (m.p_values, m.null_mean, m.null_sd))
                    records.append(row)
        columns = ["metric", "row", "col", "row_model", "col_model", "value"]
        return pd.DataFrame.from_records(records, columns=columns + (["p_value", "null_mean", "null_sd"] if tested
                                                                      else []))

    # -- output
    def plot(self, path=None, metrics=None, **kwargs):
        """Heatmaps of the matrices (one panel per metric) → ``matplotlib.figure.Figure``; saved as PNG when
        ``path`` is given. Axis labels name the layers and the model on each axis. Uses matplotlib's Agg canvas
        without touching pyplot's global backend. ``kwargs`` go to :func:`repsim.plot.heatmap`."""
        return plot_report(self, path=path, metrics=metrics, **kwargs)

    def save(self, directory, plots: bool = True) -> dict:
        """Write ``report.json`` (all matrices and metadata), ``<metric>.csv`` and, with ``plots=True``,
        ``<metric>.png`` into ``directory`` (created if needed). Returns a dict of the paths written."""
        plots = flag(plots, "plots")
        directory = os.fspath(directory)
        os.makedirs(directory, exist_ok=True)
        written = {}
        path = os.path.join(directory, "report.json")
        doc = self.to_dict()
        atomic_write(path, lambda fh: json.dump(doc, fh, indent=1, allow_nan=False), mode="w", encoding="utf-8")
        written["json"] = path
        for name, m in self.matrices.items():
            tables = [("", f"{name}.csv", m.values)]
            if m.p_values is not None:
                tables.append((" p-values", f"{name}.p_values.csv", m.p_values))
            for what, filename, values in tables:
                path = os.path.join(directory, filename)
                _write_csv(path, f"rows\\cols ({name}{what})", m.rows, m.cols, values)
                written[f"csv:{filename[:-4]}"] = path
        if plots:
            for name, path in save_heatmaps(self, directory).items():
                written[f"png:{name}"] = path
        return written
