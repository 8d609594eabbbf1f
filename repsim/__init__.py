"""repsim: fast, exact, streaming representational similarity.

One path: activations → :class:`Moments` (exact sufficient statistics, docs/math.md §1) → metric.

Import side effect: ``OPENBLAS_THREAD_TIMEOUT`` is set to 4 unless already set, before SciPy's OpenBLAS loads.
repsim's BLAS calls (SciPy's bundled OpenBLAS) alternate with other thread pools — torch's forward passes in
:func:`compare`, NumPy's own OpenBLAS — and OpenBLAS's workers otherwise spin for ~2²⁸ cycles after every call,
taking a core from whoever runs next (measured: the forward passes of ``compare`` 1.5 s instead of 0.9 s). With
the timeout they sleep after 2⁴ cycles; a library that was loaded before repsim keeps its setting. Set the
variable yourself (any value, e.g. 28 for OpenBLAS's default) to override.
"""
import os as _os

_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

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
