"""Confidence intervals from shards of the statistics, and across seeds (docs/math.md §6.2).

The statistics are additive (docs/math.md §1.2), so a stream split into K shards — batch b goes to shard b mod K —
keeps K small accumulators instead of one, and every leave-one-shard-out statistic is the weighted sum of the
others (:meth:`repsim.Moments.combine`, exact): the **delete-a-group jackknife** (Kish & Frankel 1974; Shao & Tu
1995 §5) gives the standard error of any measure, and the **bootstrap over shards** (multinomial weights on the K
shards) a percentile interval. Memory: K times one accumulator's statistics.

Across seeds (independently trained model pairs), :func:`aggregate` gives the mean of each cell and its
t-interval.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from .. import _validation
from ..metrics.registry import lookup
from ..moments import Moments
from ..results import SimilarityMatrix

METHODS = ("jackknife", "bootstrap")


@dataclass(frozen=True)
class Interval:
    """A measure with its interval: ``estimate`` (all rows), ``low``/``high`` at ``level``, ``se`` (jackknife)."""

    metric: str
    estimate: float
    low: float
    high: float
    level: float
    se: float
    method: str
    shards: int
    replicates: int


class ShardedMoments:
    """K shard accumulators of :class:`repsim.Moments`: batch b goes to shard b mod K.

    Parameters
    ----------
    shards : int
        K ≥ 2 (the jackknife's groups; 10–30 is usual). Memory is K × one accumulator's statistics.
    **moments_options
        Passed to every shard's :class:`~repsim.Moments` (``pairs=``, ``groups=``, ``engine=`` …).

    Every batch must have at least one row; each shard must receive a batch before an interval is asked for.
    """

    def __init__(self, shards: int = 10, **moments_options):
        k = _validation.integer(shards, "shards", 2, bound="at least")
        self.parts = [Moments(**moments_options) for _ in range(k)]
        self._next = 0
        self._shifted = None

    @property
    def k(self) -> int:
        return len(self.parts)

    @property
    def n(self) -> int:
        return sum(p.n for p in self.parts)

    def update(self, batch) -> "ShardedMoments":
        self.parts[self._next % self.k].update(batch)
        self._next += 1
        self._shifted = None
        return self

    def total(self) -> Moments:
        """The statistics of every row (one Moments)."""
        return Moments.from_shifted(self._parts())

    def _parts(self):
        if self._shifted is None:
            empty = [k for k, p in enumerate(self.parts) if p.n == 0]
            if empty:
                raise ValueError(f"shards {empty} hold no rows yet: feed at least {self.k} batches")
            self._shifted = Moments.shifted_parts(self.parts)
        return self._shifted

    def replicates(self, metric: str, x: str, y: str, weights, **options) -> np.ndarray:
        """The measure on each weighted combination of the shards (one row of ``weights`` per replicate)."""
        spec = lookup(metric)
        shifted = self._parts()
        return np.array([spec.matrix_value(Moments.from_shifted(shifted, w)._measure(metric, x, y, **options))
                         for w in weights])

    def interval(self, metric: str, x: str, y: str, method: str = "jackknife", level: float = 0.95,
                 n_boot: int = 1000, seed=0, **options) -> Interval:
        """The measure between sites x and y with its interval.

        ``"jackknife"``: θ̂ ± t_{K−1} · se with se² = (K − 1)/K · Σ_k (θ_(k) − θ̄)², θ_(k) without shard k.
        ``"bootstrap"``: the (1 ± level)/2 percentiles of the measure over ``n_boot`` resamples of the K shards.
        """
        _validation.choice(method, "method", METHODS)
        level = _level(level)
        spec = lookup(metric)
        estimate = spec.matrix_value(self.total()._measure(metric, x, y, **options))
        if method == "jackknife":
            weights = 1.0 - np.eye(self.k)
            reps = self.replicates(metric, x, y, weights, **options)
            se = jackknife_se(reps)
            half = float(special.stdtrit(self.k - 1, 0.5 + level / 2)) * se
            return Interval(spec.name, estimate, estimate - half, estimate + half, level, se, method, self.k, self.k)
        b = _validation.positive_int(n_boot, "n_boot")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        weights = rng.multinomial(self.k, np.full(self.k, 1.0 / self.k), size=b)
        reps = self.replicates(metric, x, y, weights, **options)
        reps = reps[np.isfinite(reps)]
        low, high = np.quantile(reps, [0.5 - level / 2, 0.5 + level / 2])
        return Interval(spec.name, estimate, float(low), float(high), level, float(np.std(reps, ddof=1)), method,
                        self.k, int(reps.size))

    def matrix(self, metric: str, rows=None, cols=None, level: float = 0.95, **options) -> SimilarityMatrix:
        """The matrix of the measure from all rows, with jackknife intervals per cell (``interval_low``,
        ``interval_high``) — K + 1 matrix evaluations."""
        level = _level(level)
        mat = self.total().matrix(metric, rows=rows, cols=cols, **options)
        shifted = self._parts()
        reps = np.array([Moments.from_shifted(shifted, w).matrix(metric, rows=mat.rows, cols=mat.cols,
                                                                 **options).values
                         for w in 1.0 - np.eye(self.k)])
        se = jackknife_se(reps)
        half = float(special.stdtrit(self.k - 1, 0.5 + level / 2)) * se
        return dataclasses.replace(mat, interval_low=mat.values - half, interval_high=mat.values + half,
                                   interval=f"delete-a-group jackknife over {self.k} shards, {level:.0%} t-interval")


def jackknife_se(reps: np.ndarray) -> np.ndarray | float:
    """Delete-a-group jackknife standard error from the K leave-one-out replicates (axis 0)."""
    k = reps.shape[0]
    se = np.sqrt((k - 1.0) / k * np.sum((reps - reps.mean(axis=0)) ** 2, axis=0))
    return float(se) if np.ndim(se) == 0 else se


def aggregate(matrices, level: float = 0.95) -> SimilarityMatrix:
    """Several matrices of one measure (e.g. independently trained seed pairs) → their mean per cell with a
    t-interval (``interval_low``, ``interval_high``)."""
    matrices = list(matrices)
    if len(matrices) < 2 or not all(isinstance(m, SimilarityMatrix) for m in matrices):
        raise ValueError("aggregate needs at least two SimilarityMatrix objects")
    first = matrices[0]
    for k, m in enumerate(matrices):
        if (m.metric, m.rows, m.cols) != (first.metric, first.rows, first.cols):
            raise ValueError(f"matrices[{k}] is {m.metric} over other rows/cols than matrices[0]")
    level = _level(level)
    v = np.stack([m.values for m in matrices])
    mean = v.mean(axis=0)
    half = float(special.stdtrit(len(v) - 1, 0.5 + level / 2)) * v.std(axis=0, ddof=1) / math.sqrt(len(v))
    return SimilarityMatrix(first.metric, first.rows, first.cols, mean, dict(first.options), interval_low=mean - half,
                            interval_high=mean + half,
                            interval=f"mean of {len(v)} matrices, {level:.0%} t-interval")


def _level(level) -> float:
    level = _validation.real(level, "level", 0.0, 1.0, low_open=True)
    if level >= 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return level
