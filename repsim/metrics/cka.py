"""Linear CKA (Kornblith et al. 2019) and debiased linear CKA (Song et al. 2012's unbiased HSIC) as functions of a
:class:`repsim.views.TraceView` — feature-space moments or Gram space alike (docs/math.md §2 i–ii, §4)."""
from __future__ import annotations

from .._validation import check_debiased_n, flag
from ..views import PairTerms, TraceView
from ._common import cosine


def linear_cka(view: TraceView, x: str, y: str) -> float:
    """CKA = ⟨K, L⟩ / (‖K‖ ‖L‖) = ‖Y_cᵀX_c‖²_F / (‖X_cᵀX_c‖_F ‖Y_cᵀY_c‖_F) from centred statistics."""
    _need_centered(view)
    t = view.terms(x, y)
    return cosine(t.kl, t.kk, t.ll, "linear CKA", x, y)


def hsic1_scaled(t: PairTerms) -> tuple[float, float, float]:
    """n(n−3)·HSIC₁ for (K, L), (K, K), (L, L): Song et al.'s unbiased HSIC with K̃ = K − diag K,

    tr(K̃L̃) + (1ᵀK̃1)(1ᵀL̃1)/((n−1)(n−2)) − 2/(n−2)·(K̃1)ᵀ(L̃1).
    """
    n = t.n
    a, b = 1.0 / ((n - 1.0) * (n - 2.0)), 2.0 / (n - 2.0)
    return (
        t.off_kl + t.total_k * t.total_l * a - b * t.row_kl,
        t.off_kk + t.total_k * t.total_k * a - b * t.row_kk,
        t.off_ll + t.total_l * t.total_l * a - b * t.row_ll,
    )


def debiased_cka(view: TraceView, x: str, y: str) -> float:
    """HSIC₁(X,Y)/√(HSIC₁(X,X)·HSIC₁(Y,Y)), Song's unbiased HSIC of linear kernels (needs n ≥ 4)."""
    _need_centered(view)
    check_debiased_n(view.n)
    return cosine(*hsic1_scaled(view.terms(x, y)), "debiased CKA", x, y)


def cka(view: TraceView, x: str, y: str, debiased: bool = False) -> float:
    """Linear CKA, or with ``debiased=True`` debiased linear CKA, between sites ``x`` and ``y``."""
    return debiased_cka(view, x, y) if flag(debiased, "debiased") else linear_cka(view, x, y)


def _need_centered(view: TraceView) -> None:
    if not view.centered:
        raise ValueError("CKA is defined on centred statistics; use a view with center=True")
