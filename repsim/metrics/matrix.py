"""Site × site matrices of a metric from one accumulation."""
from __future__ import annotations

import numpy as np

from ..results import SimilarityMatrix
from . import cka as _cka
from . import rv as _rv

# name -> (function of (view, x, y), allowed options, default options)
_METRICS = {
    "cka": ({"debiased"}, {"debiased": False}),
    "debiased_cka": (set(), {}),
    "rv": ({"center"}, {"center": True}),
    "rv2": ({"center"}, {"center": True}),
}


def metric_names() -> tuple[str, ...]:
    return tuple(_METRICS)


def similarity_matrix(moments, metric: str, rows, cols, options: dict) -> SimilarityMatrix:
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a str, got {type(metric).__name__}")
    if metric not in _METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {list(_METRICS)}")
    allowed, defaults = _METRICS[metric]
    unknown = set(options) - allowed
    if unknown:
        raise TypeError(f"metric {metric!r} got unexpected option(s) {sorted(unknown)}; it accepts {sorted(allowed)}")
    opts = {**defaults, **options}
    if metric == "debiased_cka" or (metric == "cka" and opts["debiased"]):
        _cka.check_debiased_n(moments.n)
        fn, view = _cka.debiased_cka, moments.statistics(True)
    elif metric == "cka":
        fn, view = _cka.linear_cka, moments.statistics(True)
    elif metric == "rv":
        fn, view = _rv.rv_from_stats, moments.statistics(opts["center"])
    else:
        fn, view = _rv.rv2_from_stats, moments.statistics(opts["center"])
    values = np.empty((len(rows), len(cols)))
    for i, x in enumerate(rows):
        for j, y in enumerate(cols):
            values[i, j] = fn(view, x, y)
    return SimilarityMatrix(metric, rows, cols, values, opts)
