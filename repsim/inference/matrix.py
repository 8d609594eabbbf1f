"""Permutation inference for a whole site × site matrix from one accumulation (no permutation drawn, no n × n
matrix in feature space): every cell's observed value, the exact mean and variance of its permutation null
(:func:`repsim.inference.null.view_null`), and its p-value."""
from __future__ import annotations

import dataclasses

import numpy as np

from ..metrics.registry import lookup
from .null import MOMENT_MEASURES, form_of, nonnegative, p_value, view_null


def matrix_test(acc, metric: str, rows=None, cols=None, **options):
    """The :class:`~repsim.SimilarityMatrix` of ``metric`` with ``p_values``, ``null_mean`` and ``null_sd``.

    Parameters
    ----------
    acc : repsim.Moments or repsim.GramMoments
        The statistics (centred forms only: "cka" (``debiased=``), "debiased_cka", "rv", "rv2").
    metric, rows, cols, **options
        As in ``acc.matrix``.

    Returns
    -------
    SimilarityMatrix
        ``p_values[i, j]``: upper-tail p-value of the cell under random permutation of the samples of one side
        (two exact moments; gamma approximation for CKA / RV, which are never negative, normal for RV2 and
        debiased CKA — ``inference`` names it). ``significant(alpha, correction="bh")`` marks the cells that
        survive Benjamini–Hochberg over the matrix.
    """
    spec = lookup(metric)
    if spec.name not in MOMENT_MEASURES:
        raise ValueError(f"matrix_test covers {sorted(MOMENT_MEASURES)}; {metric!r} has no exact-moment null "
                         "(use repsim.permutation_test(..., method='monte_carlo') on the activations)")
    form = form_of(spec.name, options)
    mat = acc.matrix(metric, rows=rows, cols=cols, **options)
    view = acc.view("gram", center=True) if acc.space == "gram" else acc.view("pairs", center=True)
    shape = mat.values.shape
    p, mean, sd = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    methods = set()
    for i, x in enumerate(mat.rows):
        for j, y in enumerate(mat.cols):
            null = view_null(view, x, y, form)
            mean[i, j], sd[i, j] = null.mean, null.sd
            if np.isfinite(mat.values[i, j]):
                p[i, j], how = p_value(float(mat.values[i, j]), null, nonnegative(form))
                methods.add(how)
    text = "permutation null, two exact moments (" + ", ".join(sorted(methods)) + ")"
    return dataclasses.replace(mat, p_values=p, null_mean=mean, null_sd=sd, inference=text)
