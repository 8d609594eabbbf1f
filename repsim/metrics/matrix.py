"""Site × site matrices of a metric from one accumulation."""
from __future__ import annotations

import numpy as np

from ..results import SimilarityMatrix
from . import cca as _cca
from . import cka as _cka
from . import rv as _rv


def _cka_fn(view, x, y, debiased):
    return _cka.debiased_cka(view, x, y) if debiased else _cka.linear_cka(view, x, y)


# name -> (function(view, x, y, **options) -> float, default options, centred view? (bool or the option naming it))
_METRICS = {
    "cka": (_cka_fn, {"debiased": False}, True),
    "debiased_cka": (lambda v, x, y: _cka.debiased_cka(v, x, y), {}, True),
    "rv": (_rv.rv_from_stats, {"center": True}, "center"),
    "rv2": (_rv.rv2_from_stats, {"center": True}, "center"),
    "cca": (lambda v, x, y, eps, rtol: _cca.cca_from_stats(v, x, y, eps, rtol).mean_rho, {"eps": 0.0, "rtol": 1e-10}, True),
    "cca_r2": (
        lambda v, x, y, eps, rtol: _cca.cca_from_stats(v, x, y, eps, rtol).mean_rho2,
        {"eps": 0.0, "rtol": 1e-10},
        True,
    ),
    "svcca": (
        lambda v, x, y, keep, k, rtol: _cca.svcca_from_stats(v, x, y, keep, k, rtol).mean_rho,
        {"keep": 0.99, "k": None, "rtol": 1e-10},
        True,
    ),
    "pwcca": (
        lambda v, x, y, convention, eps, rtol: _cca.pwcca_from_stats(v, x, y, convention, eps, rtol).value,
        {"convention": "morcos", "eps": 0.0, "rtol": 1e-10},
        True,
    ),
    "procrustes": (_cca.procrustes_from_stats, {"form": "distance"}, True),
}


# metrics computed from LazyStatistics (Frobenius norms of blocks, fourth-order terms, traces)
_TRACE_METRICS = frozenset({"cka", "debiased_cka", "rv", "rv2"})


def metric_names() -> tuple[str, ...]:
    return tuple(_METRICS)


def similarity_matrix(moments, metric: str, rows, cols, options: dict) -> SimilarityMatrix:
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a str, got {type(metric).__name__}")
    if metric not in _METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {list(_METRICS)}")
    fn, defaults, centred = _METRICS[metric]
    unknown = set(options) - set(defaults)
    if unknown:
        raise TypeError(
            f"metric {metric!r} got unexpected option(s) {sorted(unknown)}; it accepts {sorted(defaults)}"
        )
    opts = {**defaults, **options}
    if metric == "debiased_cka" or (metric == "cka" and opts["debiased"]):
        _cka.check_debiased_n(moments.n)
    center = opts[centred] if isinstance(centred, str) else centred
    if metric in _TRACE_METRICS:  # norms and corner entries only: no copy of the whole statistics
        view = moments.lazy_statistics(center)
    else:
        view = moments.statistics(center)
    fn_opts = {k: v for k, v in opts.items() if not (isinstance(centred, str) and k == centred)}
    values = np.empty((len(rows), len(cols)))
    for i, x in enumerate(rows):
        for j, y in enumerate(cols):
            values[i, j] = fn(view, x, y, **fn_opts)
    return SimilarityMatrix(metric, rows, cols, values, opts)
