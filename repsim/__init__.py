"""repsim: fast, exact, streaming representational similarity.

One path: activations → :class:`Moments` (exact sufficient statistics, docs/math.md §1) → metric.

Import side effect: ``OPENBLAS_THREAD_TIMEOUT`` is set to 4 unless already set, before SciPy's OpenBLAS loads.
repsim's BLAS calls (SciPy's bundled OpenBLAS) alternate with other thread pools — torch's forward passes in
:func:`compare`, NumPy's own OpenBLAS — and OpenBLAS's workers otherwise spin for ~2²⁸ cycles after every call,
taking a core from whoever runs next (measured: the forward passes of ``compare`` 1.5 s instead of 0.9 s). With
the timeout they sleep after 2⁴ cycles; a library that was loaded before repsim keeps its setting. Set the
variable yourself (any value, e.g. 28 for OpenBLAS's default) to override.

Lazy loading (Scientific Python SPEC 1, PEP 562): ``import repsim`` loads only this file and ``_version``; every
public name below is imported from its module on first access (``repsim.cka``, ``from repsim import compare``),
and so is every subpackage (``repsim.inference``, ``repsim.torch``, ``repsim.experiments``). The command line
(``repsim config``, ``repsim --version``) thus answers without SciPy's statistics, torch or matplotlib, and a
script pays only for what it uses.
"""
import os as _os

_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import importlib as _importlib
import importlib.util as _importlib_util
from typing import TYPE_CHECKING

from ._version import __version__

# public name → the module (relative to repsim) that defines it; loaded on first access by __getattr__ below
_EXPORTS = {
    "show_config": "_config",
    "Measure": "api",
    "affine_map": "api",
    "cca": "api",
    "cka": "api",
    "match_curve": "api",
    "max_match": "api",
    "measure": "api",
    "measures": "api",
    "procrustes": "api",
    "pwcca": "api",
    "rv": "api",
    "rv2": "api",
    "simple_matches": "api",
    "svcca": "api",
    "ActivationStore": "activations",
    "compare": "_compare",
    "GramMoments": "gram",
    "LayerList": "_layers",
    "list_layers": "_layers",
    "PermutationResult": "inference",
    "permutation_test": "inference",
    "CCAResult": "metrics.cca",
    "PWCCAResult": "metrics.cca",
    "AffineMap": "metrics.maps",
    "logit_map": "metrics.maps",
    "Match": "metrics.match",
    "MatchCurve": "metrics.match",
    "SimpleMatches": "metrics.match",
    "Moments": "moments",
    "MemoryPlan": "planner",
    "PlanError": "planner",
    "plan": "planner",
    "Report": "results",
    "SimilarityMatrix": "results",
}

if TYPE_CHECKING:  # what static analysers see; at run time __getattr__ imports the same names on first access
    from . import inference
    from ._config import show_config
    from ._layers import LayerList, list_layers
    from .activations import ActivationStore
    from .api import (Measure, affine_map, cca, cka, match_curve, max_match, measure, measures, procrustes, pwcca,
                      rv, rv2, simple_matches, svcca)
    from ._compare import compare
    from .gram import GramMoments
    from .inference import PermutationResult, permutation_test
    from .metrics.cca import CCAResult, PWCCAResult
    from .metrics.maps import AffineMap, logit_map
    from .metrics.match import Match, MatchCurve, SimpleMatches
    from .moments import Moments
    from .planner import MemoryPlan, PlanError, plan
    from .results import Report, SimilarityMatrix


def __getattr__(name):
    """Load a public name from its module, or a subpackage/submodule, on first access (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(_importlib.import_module(f"{__name__}.{module}"), name)
        globals()[name] = value  # later accesses skip __getattr__
        return value
    if not name.startswith("__") and _importlib_util.find_spec(f"{__name__}.{name}") is not None:
        return _importlib.import_module(f"{__name__}.{name}")  # the import binds it as an attribute of repsim
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "ActivationStore",
    "AffineMap",
    "CCAResult",
    "GramMoments",
    "LayerList",
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
    "list_layers",
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
