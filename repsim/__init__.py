"""repsim: fast, exact, streaming representational similarity.

One path: activations → :class:`Moments` (exact sufficient statistics, MATH.md §1) → metric.
"""
from ._config import show_config
from .metrics.cka import cka
from .metrics.rv import rv, rv2
from .moments import Moments
from .results import SimilarityMatrix

__version__ = "0.1.0"

__all__ = ["Moments", "SimilarityMatrix", "cka", "rv", "rv2", "show_config", "__version__"]
