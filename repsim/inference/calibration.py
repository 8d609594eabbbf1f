"""Aggregation-aware null calibration of a layer × layer comparison (Gröger et al., ICML 2026, Algorithm 2; the
``calibrate_layers`` of the ``calibrated-similarity`` package): when a claim rests on an aggregate of the matrix —
the best-matching layer pair (``agg="max"``) or the average alignment (``"mean"``) — the aggregate is calibrated
against its own permutation null, in which one permutation of the samples is applied to every layer of the second
model at once. Searching the matrix for its best cell and testing that cell alone would inflate false positives;
this test does not.

Here the permutations act on the statistics in Gram space (:class:`repsim.GramMoments`), each one permuting the
column sites' n × n matrices (:func:`repsim.inference.gram_space.cell_nulls`), so the activations are not needed.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .. import _validation
from ..metrics.registry import lookup
from .gram_space import cell_nulls
from .testing import PermutationResult, summarise_monte_carlo

AGGREGATES: dict[str, Callable[[np.ndarray], float]] = {"max": lambda S: float(np.max(S)),
                                                         "mean": lambda S: float(np.mean(S))}


def calibrate_layers(acc, rows: Sequence[str], cols: Sequence[str], metric: str = "cka", *, agg="max",
                     n_permutations: int = 200, seed=0, alpha: float = 0.05, smax: float = 1.0,
                     **options) -> PermutationResult:
    """Calibrate an aggregate of the ``rows`` × ``cols`` matrix of ``metric`` against its permutation null.

    Parameters
    ----------
    acc : repsim.GramMoments
        Statistics in Gram space holding every site of ``rows`` (e.g. model A's layers) and ``cols`` (model B's).
    rows, cols : sequence of str
        The two sides; the samples of every column site are permuted together.
    metric : str
        A measure with a Gram-space Monte-Carlo test (:data:`repsim.inference.gram_space.GRAM_MONTE_CARLO`: linear,
        debiased and kernel CKA, RV, RV2, RSA, distance correlation), with its ``**options``.
    agg : "max", "mean" or callable
        The aggregate of the matrix: its largest cell (the best layer pair), its mean, or any function of the
        (rows, cols) array returning a number (NaN cells are passed as they are).
    n_permutations : int
        K (calibrated-similarity's default: 200).
    seed : int or numpy Generator
    alpha : float
        τ is the ⌈(1 − α)(K + 1)⌉-th smallest of the observed aggregate and the K null aggregates.
    smax : float
        The measure's largest value: calibrated = clip((obs − τ)/(smax − τ), 0, 1).

    Returns
    -------
    PermutationResult
        ``statistic`` the observed aggregate, ``p_value`` = (1 + #{null ≥ obs})/(K + 1), ``calibrated``,
        ``threshold`` τ, the null's mean, spread and skewness, ``mc_se``; ``metric`` names the aggregate.

    Notes
    -----
    With the same permutations, equals calibrated-similarity's ``calibrate_layers`` (which recomputes the measure
    on permuted activations in float32; tests/test_calibration.py). Cost: O(K · rows · cols · n²).
    """
    if getattr(acc, "space", None) != "gram":
        raise TypeError(f"acc must be a repsim.GramMoments, got {type(acc).__name__}")
    rows, cols = (list(_validation.name_tuple(v, name, "site")) for v, name in ((rows, "rows"), (cols, "cols")))
    for name, sites in (("rows", rows), ("cols", cols)):
        missing = [s for s in sites if s not in acc.sites]
        if missing:
            raise ValueError(f"{name}: {missing} are not sites of these statistics (sites: {list(acc.sites)})")
    if isinstance(agg, str):
        if agg not in AGGREGATES:
            raise ValueError(f"agg must be 'max', 'mean' or a callable, got {agg!r}")
        fn, label = AGGREGATES[agg], agg
    elif callable(agg):
        fn, label = agg, getattr(agg, "__name__", "custom")
    else:
        raise TypeError(f"agg must be 'max', 'mean' or a callable, got {type(agg).__name__}")
    alpha = _validation.real(alpha, "alpha", 0.0, 1.0, low_open=True)
    if alpha >= 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    k = _validation.positive_int(n_permutations, "n_permutations")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    perms = [rng.permutation(acc.n) for _ in range(k)]
    obs, null = cell_nulls(acc, rows, cols, metric, perms, **options)
    if not np.isfinite(obs).any():
        raise ValueError(f"every cell of the {metric} matrix is undefined (constant sites); nothing to calibrate")
    stat = float(fn(obs))
    agg_null = np.array([float(fn(null[:, :, t])) for t in range(k)])
    name = f"{lookup(metric).name} ({label} over {len(rows)} × {len(cols)} cells)"
    return summarise_monte_carlo(name, stat, agg_null, alpha, smax, acc.n, dict(options, agg=label))
