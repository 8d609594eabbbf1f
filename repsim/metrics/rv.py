"""RV (Robert & Escoufier 1976) and the modified RV coefficient RV2 (Smilde et al. 2009) as functions of a
:class:`repsim.views.TraceView` (docs/math.md §2 i, iii; Gram space §4)."""
from __future__ import annotations

from ..views import TraceView
from ._common import cosine


def rv(view: TraceView, x: str, y: str) -> float:
    """RV = ⟨K, L⟩ / (‖K‖ ‖L‖) with the statistics of ``view`` (centred: equal to linear CKA; raw: uncentred RV)."""
    t = view.terms(x, y)
    return cosine(t.kl, t.kk, t.ll, "RV", x, y)


def rv2(view: TraceView, x: str, y: str) -> float:
    """RV2 = Σ_{i≠j} K_ij L_ij / √(Σ_{i≠j} K_ij² · Σ_{i≠j} L_ij²): the cosine of the Grams with their diagonals
    removed. From moments: (‖C‖² − t_ab) / √((‖A‖² − t_aa)(‖B‖² − t_bb))."""
    t = view.terms(x, y)
    return cosine(t.off_kl, t.off_kk, t.off_ll, "RV2", x, y)
