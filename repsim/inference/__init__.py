"""Inference for similarities: exact permutation moments (:mod:`~repsim.inference.permutation`), the nulls of the
Gram-type measures (:mod:`~repsim.inference.null`), the permutation test (:func:`permutation_test`), the
p-values of a whole matrix from one accumulation (:func:`matrix_test`), Monte Carlo on statistics in Gram space
(:func:`gram_permutation_test`) and the aggregation-aware calibration of a whole layer × layer comparison
(:func:`calibrate_layers`), and confidence intervals from shards of the
statistics (:class:`ShardedMoments`) or across seeds (:func:`aggregate`)."""
from .calibration import calibrate_layers
from .gram_space import gram_permutation_test
from .intervals import Interval, ShardedMoments, aggregate
from .matrix import matrix_test
from .permutation import Invariants, NullMoments, null_moments, raw_moments
from .testing import PermutationResult, permutation_test

__all__ = ["Interval", "ShardedMoments", "aggregate", "calibrate_layers", "gram_permutation_test", "Invariants", "NullMoments", "PermutationResult", "matrix_test", "null_moments", "permutation_test",
           "raw_moments"]
