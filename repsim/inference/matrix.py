"""Permutation inference for a whole site × site matrix from one accumulation (no permutation drawn, no n × n
matrix in feature space): every cell's observed value, the exact mean and variance of its permutation null
(:func:`repsim.inference.null.view_null`), and its p-value."""
from __future__ import annotations

import dataclasses

import numpy as np

from .. import _validation
from ..metrics.registry import lookup
from .gram_space import GRAM_MONTE_CARLO, cell_nulls
from .null import MOMENT_MEASURES, form_of, nonnegative, p_value, view_null

METHODS = ("moments", "monte_carlo")


def matrix_test(acc, metric: str, rows=None, cols=None, *, method: str = "moments", n_permutations: int = 1000,
                seed=0, **options):
    """The :class:`~repsim.SimilarityMatrix` of ``metric`` with ``p_values``, ``null_mean`` and ``null_sd``.

    Parameters
    ----------
    acc : repsim.Moments or repsim.GramMoments
        The statistics (``method="moments"``: centred forms only: "cka" (``debiased=``), "debiased_cka", "rv",
        "rv2").
    metric, rows, cols, **options
        As in ``acc.matrix``.
    method : {"moments", "monte_carlo"}
        "moments": two exact permutation moments per cell, no permutation drawn. "monte_carlo" (GramMoments only:
        the n × n matrices are needed): :func:`~repsim.inference.gram_permutation_test` for every cell, the same
        ``n_permutations`` seeded permutations in each — also for kernel CKA and RSA. Cost O(cells·K·n²).
    n_permutations, seed
        Monte Carlo only.

    Returns
    -------
    SimilarityMatrix
        ``p_values[i, j]``: upper-tail p-value of the cell under random permutation of the samples of one side
        (two exact moments; gamma approximation for CKA / RV, which are never negative, normal for RV2 and
        debiased CKA — ``inference`` names it). ``significant(alpha, correction="bh")`` marks the cells that
        survive Benjamini–Hochberg over the matrix.
    """
    spec = lookup(metric)
    _validation.choice(method, "method", METHODS)
    if method == "monte_carlo":
        return _monte_carlo(acc, spec.name, metric, rows, cols, n_permutations, seed, options)
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


def _monte_carlo(acc, name, metric, rows, cols, n_permutations, seed, options):
    if getattr(acc, "space", None) != "gram":
        raise ValueError("method='monte_carlo' permutes the n × n matrices of statistics in Gram space "
                         "(repsim.GramMoments); these statistics are in feature space — use method='moments', or "
                         "repsim.permutation_test(X, Y, method='monte_carlo') on the activations")
    if name not in GRAM_MONTE_CARLO:
        raise ValueError(f"method='monte_carlo' on GramMoments covers {list(GRAM_MONTE_CARLO)}; not {metric!r}")
    mat = acc.matrix(metric, rows=rows, cols=cols, **options)
    k = _validation.positive_int(n_permutations, "n_permutations")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    perms = [rng.permutation(acc.n) for _ in range(k)]
    obs, null = cell_nulls(acc, list(mat.rows), list(mat.cols), metric, perms, **options)
    done = np.isfinite(mat.values) & np.isfinite(obs)
    p = np.where(done, (1.0 + np.sum(null >= obs[..., None], axis=-1)) / (k + 1.0), np.nan)
    mean = np.where(done, null.mean(axis=-1), np.nan)
    sd = np.where(done, null.std(axis=-1, ddof=1) if k > 1 else 0.0, np.nan)
    text = f"permutation null, Monte Carlo ({k} permutations, seed {seed!r}; the same permutations in every cell)"
    return dataclasses.replace(mat, p_values=p, null_mean=mean, null_sd=sd, inference=text)
