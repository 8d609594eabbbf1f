"""The permutation null of the Gram-type similarities: each as offset + T/scale with T = Σ A_ij B_π(i)π(j)
(:mod:`repsim.inference.permutation`), from a statistics view (feature or Gram space: two moments) or from the
n × n matrices (three moments), and the Pearson type III approximation of its distribution (docs/math.md §6).

=================  =========================================  ===============================  ==============
measure            A (from X's Gram K)                         scale                            sign of T
=================  =========================================  ===============================  ==============
cka, rv (centred)  K = X̄X̄ᵀ (doubly centred)                  ‖K‖ ‖L‖                          T ≥ 0
rv2                K̃ = K − diag K (centred or raw K)          ‖K̃‖ ‖L̃‖                          any
debiased_cka       K^U, the U-centred K̃ (zero diagonal and     n(n−3)·√(HSIC₁(K,K) HSIC₁(L,L))  any
                   row sums; ⟨K^U, L^U⟩ = n(n − 3)·HSIC₁)
rv (raw)           K = XXᵀ                                     ‖K‖ ‖L‖                          T ≥ 0
=================  =========================================  ===============================  ==============

With three moments the p-value is Pearson type III's (a gamma distribution matched to mean, variance and skewness;
Kazi-Aoual et al. 1995). With two (feature-space statistics: the third moment needs contractions such as Σ K_ij³ that
only the n × n Grams give), a statistic that is never negative gets the gamma distribution matched to its mean and
variance (Pearson III with skewness 2σ/μ, lower end 0), any other the normal one; the method is named in every
result.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import special

from ..metrics.cka import hsic1_scaled
from ..views import TraceView
from .permutation import Invariants, NullMoments, centred_shift, null_moments

#: Measures with an exact-moment permutation null, and whether their numerator T is never negative.
MOMENT_MEASURES = {"cka": True, "rv": True, "rv2": False, "debiased_cka": False}


def form_of(metric: str, options: dict) -> str:
    """The null's form: "centred" (cka, centred rv), "rv2", "rv2_raw", "debiased", "raw" (uncentred rv)."""
    if metric == "cka":
        return "debiased" if options.get("debiased") else "centred"
    if metric == "debiased_cka":
        return "debiased"
    if metric == "rv":
        return "centred" if options.get("center", True) else "raw"
    if metric == "rv2":
        return "rv2" if options.get("center", True) else "rv2_raw"
    raise ValueError(f"no exact permutation moments for {metric!r}; use method='monte_carlo'")


def nonnegative(form: str) -> bool:
    return form in ("centred", "raw")


def view_null(view: TraceView, x: str, y: str, form: str) -> NullMoments:
    """Two exact permutation moments of the measure between sites x and y from a (centred) statistics view."""
    if form in ("raw", "rv2_raw"):
        raise ValueError(
            "the permutation moments of the uncentred measures need Σ|x_i|²x_i-type terms that the statistics view "
            "does not expose; use the arrays (repsim.permutation_test) or method='monte_carlo'"
        )
    n = view.n
    tx, ty, txy = view.terms(x, x), view.terms(y, y), view.terms(x, y)
    a, b = _invariants(tx, form), _invariants(ty, form)
    if form == "centred":
        a, _ = centred_shift(a, n)
        b, c = centred_shift(b, n)
        # T = T' + c_b·tr(A): shift back by the constant (the variance is unchanged)
        scale = math.sqrt(tx.kk * ty.kk)
        moments = null_moments(n, a, b, scale)
        offset = c * (-tx.total_k) / scale
        return NullMoments(moments.mean + offset, moments.var, None)
    if form == "rv2":
        return null_moments(n, a, b, math.sqrt(tx.off_kk * ty.off_kk))
    hk, hl = hsic1_scaled(tx)[1], hsic1_scaled(ty)[1]
    return null_moments(n, a, b, math.sqrt(hk * hl))


def _invariants(t, form: str) -> Invariants:
    trace, diag_sq = -t.total_k, t.row_kk  # centred: 1ᵀK̃1 = −tr K and K̃1 = −diag K
    if form == "centred":
        return Invariants(trace, 0.0, diag_sq, 0.0, 0.0, t.kk)
    if form == "rv2":
        return Invariants(0.0, -trace, 0.0, 0.0, diag_sq, t.off_kk)
    return Invariants(0.0, 0.0, 0.0, 0.0, 0.0, hsic1_scaled(t)[1])


def null_matrix(K: np.ndarray, form: str) -> np.ndarray:
    """A for the dense null: K is the raw (``form`` raw / rv2_raw) or the doubly centred Gram."""
    if form in ("centred", "raw"):
        return K
    A = K.copy()
    np.fill_diagonal(A, 0.0)
    if form in ("rv2", "rv2_raw"):
        return A
    n = A.shape[0]
    r = A.sum(axis=1)
    A -= r[:, None] / (n - 2.0)
    A -= r[None, :] / (n - 2.0)
    A += r.sum() / ((n - 1.0) * (n - 2.0))
    np.fill_diagonal(A, 0.0)
    return A


def dense_null(A: np.ndarray, B: np.ndarray, order: int = 3) -> tuple[NullMoments, float]:
    """Permutation moments (``order`` of them) of ⟨A, B⟩/(‖A‖‖B‖) from the null matrices; also the scale."""
    n = A.shape[0]
    scale = math.sqrt(float(np.sum(A * A)) * float(np.sum(B * B)))
    return null_moments(n, A, B, scale, order=order), scale


def pearson3_sf(z: float, skew: float) -> float:
    """P(Z ≥ z) for the standardised Pearson type III distribution with skewness ``skew``: Z = (G − k)/√k with
    G ~ Gamma(k = 4/skew²) for skew > 0, its mirror image for skew < 0, the normal distribution at skew ≈ 0 (the
    same function as ``scipy.stats.pearson3.sf``, from ``scipy.special`` so that ``import repsim`` stays light)."""
    if abs(skew) < 1e-8:
        return float(special.ndtr(-z))
    k = 4.0 / (skew * skew)
    if skew > 0:
        x = k + z * math.sqrt(k)
        return float(special.gammaincc(k, x)) if x > 0 else 1.0
    x = k - z * math.sqrt(k)
    return float(special.gammainc(k, x)) if x > 0 else 0.0


def pearson3_ppf(q: float, skew: float) -> float:
    """The q-quantile of the standardised Pearson type III distribution (inverse of :func:`pearson3_sf`)."""
    if abs(skew) < 1e-8:
        return float(special.ndtri(q))
    k = 4.0 / (skew * skew)
    if skew > 0:
        return (float(special.gammaincinv(k, q)) - k) / math.sqrt(k)
    return (k - float(special.gammainccinv(k, q))) / math.sqrt(k)


def p_value(observed: float, null: NullMoments, nonneg: bool) -> tuple[float, str]:
    """Upper-tail p-value of ``observed`` under the null's Pearson type III approximation, and the method's name."""
    sd = null.sd
    if not sd > 0:
        return (float("nan"), "degenerate")
    z = (observed - null.mean) / sd
    if null.skewness is not None:
        return pearson3_sf(z, null.skewness), "pearson3"
    if nonneg and null.mean > 0:
        return pearson3_sf(z, 2.0 * sd / null.mean), "gamma2"
    return pearson3_sf(z, 0.0), "normal2"


def quantile(null: NullMoments, q: float, nonneg: bool) -> float:
    """The null's q-quantile under the same approximation as :func:`p_value`."""
    sd = null.sd
    if null.skewness is not None:
        return null.mean + sd * pearson3_ppf(q, null.skewness)
    if nonneg and null.mean > 0:
        return null.mean + sd * pearson3_ppf(q, 2.0 * sd / null.mean)
    return null.mean + sd * pearson3_ppf(q, 0.0)
