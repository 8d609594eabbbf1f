"""repsim: fast, exact, streaming representational similarity.

One path: activations → :class:`Moments` (exact sufficient statistics, MATH.md §1) → metric.
"""
from ._config import show_config
from .compare import Report, compare
from .gram import GramMoments
from .metrics.cca import CCAResult, PWCCAResult, cca, procrustes, pwcca, svcca
from .metrics.cka import cka
from .metrics.maps import AffineMap, affine_map, logit_map
from .metrics.match import Match, MatchCurve, SimpleMatches, match_curve, max_match, simple_matches
from .metrics.rv import rv, rv2
from .moments import Moments
from .results import SimilarityMatrix

__version__ = "0.1.0"

__all__ = [
    "AffineMap",
    "CCAResult",
    "GramMoments",
    "Match",
    "MatchCurve",
    "Moments",
    "PWCCAResult",
    "Report",
    "SimpleMatches",
    "SimilarityMatrix",
    "affine_map",
    "cca",
    "cka",
    "compare",
    "logit_map",
    "match_curve",
    "max_match",
    "procrustes",
    "pwcca",
    "rv",
    "rv2",
    "show_config",
    "simple_matches",
    "svcca",
    "__version__",
]
