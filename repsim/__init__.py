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

import importlib as _importlib

from ._config import show_config
from ._version import __version__
from .api import (
    Measure,
    affine_map,
    cca,
    cka,
    match_curve,
    max_match,
    measure,
    measures,
    procrustes,
    pwcca,
    rv,
    rv2,
    simple_matches,
    svcca,
)
from .activations import ActivationStore
from .compare import compare
from .gram import GramMoments
from . import inference
from .inference import PermutationResult, permutation_test
from .metrics.cca import CCAResult, PWCCAResult
from .metrics.maps import AffineMap, logit_map
from .metrics.match import Match, MatchCurve, SimpleMatches
from .moments import Moments
from .planner import MemoryPlan, PlanError, plan
from .results import Report, SimilarityMatrix

# Subpackages reachable as attributes without importing them first (``repsim.experiments.stitching_table``); they
# load on first access (torch, matplotlib and mnist1d stay optional for `import repsim`).
_LAZY_SUBMODULES = ("experiments", "demo", "torch", "plot")


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        return _importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "ActivationStore",
    "AffineMap",
    "CCAResult",
    "GramMoments",
    "Match",
    "Measure",
    "MemoryPlan",
    "MatchCurve",
    "Moments",
    "PWCCAResult",
    "PermutationResult",
    "PlanError",
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
    "measure",
    "measures",
    "inference",
    "plan",
    "procrustes",
    "permutation_test",
    "pwcca",
    "rv",
    "rv2",
    "show_config",
    "simple_matches",
    "svcca",
    "__version__",
]
