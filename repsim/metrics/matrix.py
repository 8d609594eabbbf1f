"""Site × site matrices of a metric from one accumulation."""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from ..results import SimilarityMatrix
from . import cca as _cca
from . import cka as _cka
from . import rv as _rv


def _cka_fn(view, x, y, debiased):
    return _cka.debiased_cka(view, x, y) if debiased else _cka.linear_cka(view, x, y)


class _Metric(NamedTuple):
    fn: Callable  # (view, x, y, **options) -> float
    defaults: dict  # the options it accepts, with their defaults
    centred: bool | str  # centred statistics? (or the name of the option that says)
    lazy: bool = False  # from LazyStatistics (block norms, fourth-order terms, traces): no full shifted copy


_METRICS = {
    "cka": _Metric(_cka_fn, {"debiased": False}, True, lazy=True),
    "debiased_cka": _Metric(lambda v, x, y: _cka.debiased_cka(v, x, y), {}, True, lazy=True),
    "rv": _Metric(_rv.rv_from_stats, {"center": True}, "center", lazy=True),
    "rv2": _Metric(_rv.rv2_from_stats, {"center": True}, "center", lazy=True),
    "cca": _Metric(
        lambda v, x, y, eps, rtol: _cca.cca_from_stats(v, x, y, eps, rtol).mean_rho, {"eps": 0.0, "rtol": 1e-10}, True
    ),
    "cca_r2": _Metric(
        lambda v, x, y, eps, rtol: _cca.cca_from_stats(v, x, y, eps, rtol).mean_rho2,
        {"eps": 0.0, "rtol": 1e-10},
        True,
    ),
    "svcca": _Metric(
        lambda v, x, y, keep, k, rtol: _cca.svcca_from_stats(v, x, y, keep, k, rtol).mean_rho,
        {"keep": 0.99, "k": None, "rtol": 1e-10},
        True,
    ),
    "pwcca": _Metric(
        lambda v, x, y, convention, eps, rtol: _cca.pwcca_from_stats(v, x, y, convention, eps, rtol).value,
        {"convention": "morcos", "eps": 0.0, "rtol": 1e-10},
        True,
    ),
    "procrustes": _Metric(_cca.procrustes_from_stats, {"form": "distance"}, True),
}


def merge_options(metric: str, options, defaults: dict) -> dict:
    """``options`` merged over ``defaults``; TypeError naming any option the metric does not accept."""
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise TypeError(f"metric {metric!r} got unexpected option(s) {unknown}; it accepts {sorted(defaults)}")
    return {**defaults, **options}


def check_metric_options(metric: str, options) -> dict:
    """The options of one of :func:`metric_names`, merged over its defaults (TypeError for unknown ones)."""
    return merge_options(metric, options, _METRICS[metric].defaults)


def tabulate(metric: str, rows, cols, fn, options: dict) -> SimilarityMatrix:
    """``fn(x, y)`` for every (row site, column site) → :class:`SimilarityMatrix` (feature or Gram space)."""
    values = np.empty((len(rows), len(cols)))
    for i, x in enumerate(rows):
        for j, y in enumerate(cols):
            values[i, j] = fn(x, y)
    return SimilarityMatrix(metric, rows, cols, values, options)


def metric_names() -> tuple[str, ...]:
    return tuple(_METRICS)


def similarity_matrix(moments, metric: str, rows, cols, options: dict) -> SimilarityMatrix:
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a str, got {type(metric).__name__}")
    if metric not in _METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {list(_METRICS)}")
    fn, _, centred, lazy = _METRICS[metric]
    opts = check_metric_options(metric, options)
    if metric == "debiased_cka" or (metric == "cka" and opts["debiased"]):
        _cka.check_debiased_n(moments.n)
    center = opts[centred] if isinstance(centred, str) else centred
    view = moments.lazy_statistics(center) if lazy else moments.statistics(center)
    fn_opts = {k: v for k, v in opts.items() if not (isinstance(centred, str) and k == centred)}
    return tabulate(metric, rows, cols, lambda x, y: fn(view, x, y, **fn_opts), opts)
