"""Kernel CKA (RBF, Laplace) from a Gram-space kernel view (docs/math.md §4, §8): K = exp(−D/(2σ²)) or
K = exp(−√D/σ) centred with H, or U-centred (Székely–Rizzo) for the debiased form, formed tile by tile by the view; the metric is the cosine of the two kernel
matrices (with the diagonal for the biased form, without it for the U-centred one)."""
from __future__ import annotations

import math
import warnings

from .._limits import RBF_MIN_EXPONENT
from ._common import cosine


def kernel_cka(view, x: str, y: str) -> float:
    """RBF or Laplace CKA (``view.kernel``) between sites ``x`` and ``y`` of a kernel view (``view.debiased`` selects
    the U-centred form).

    NaN with a RuntimeWarning when a site's bandwidth is 0 (its median squared distance vanishes). ValueError naming
    ``sigma`` when a bandwidth is outside what float64 resolves (:func:`check_bandwidth`)."""
    label = "Laplace" if view.kernel == "laplace" else "RBF"
    name = f"debiased {label} CKA" if view.debiased else f"{label} CKA"
    bad = [s for s in (x, y) if not view.bandwidth(s) > 0.0]
    for s in (x, y):
        if s not in bad:
            check_bandwidth(view, s)
    if bad:
        warnings.warn(
            f"{name} is undefined for site(s) {bad}: the median squared distance is 0 (constant "
            "representation, or most samples identical), so the bandwidth is 0; returning NaN "
            "(use bandwidth='median_offdiag' or 'fixed')",
            RuntimeWarning,
            stacklevel=3,
        )
        return float("nan")
    t = view.terms(x, y)
    if view.debiased:
        return cosine(t.off_kl, t.off_kk, t.off_ll, name, x, y)
    return cosine(t.kl, t.kk, t.ll, name, x, y)


def check_bandwidth(view, site: str) -> None:
    """ValueError naming ``sigma`` when a site's bandwidth σ > 0 gives a kernel float64 cannot resolve: 1/(2σ²)
    overflows (σ → 0: the kernel would tend to the identity), or γ·D̄ = D̄/(2σ²) < RBF_MIN_EXPONENT with D̄ the mean
    squared distance (σ → ∞: every kernel entry rounds towards 1; the limit of RBF CKA is linear CKA). Laplace
    kernels: 1/σ overflows, or √D̄/σ < RBF_MIN_EXPONENT."""
    if getattr(view, "kernel", "rbf") == "laplace":
        return _check_laplace(view, site)
    bw = view.bandwidth(site)
    two_s2 = 2.0 * bw * bw
    given = f"sigma={view.sigma!r} (bandwidth={view.rule!r})"
    if not (two_s2 > 0.0 and math.isfinite(1.0 / two_s2)):
        raise ValueError(
            f"{given} gives site {site!r} an RBF bandwidth σ = {bw:.3g} so small that 1/(2σ²) overflows float64; "
            "use a larger sigma (as σ → 0 the kernel tends to the identity matrix)"
        )
    spread = view.mean_sqdist(site)
    limit = 1.0 / math.sqrt(2.0 * RBF_MIN_EXPONENT)  # σ/√D̄ at which D̄/(2σ²) = RBF_MIN_EXPONENT
    if spread > 0.0 and bw / math.sqrt(spread) > limit:
        raise ValueError(
            f"{given} gives site {site!r} an RBF bandwidth σ = {bw:.3g}, {bw / math.sqrt(spread):.3g} times the root "
            f"mean squared distance between its samples ({math.sqrt(spread):.3g}); above {limit:.4g} times, "
            f"exp(−D/(2σ²)) lies within {RBF_MIN_EXPONENT:g} of 1 and the centred kernel keeps fewer than 8 "
            "significant digits. Use a smaller sigma, or kernel='linear' (the σ → ∞ limit of RBF CKA is linear CKA)"
        )


def _check_laplace(view, site: str) -> None:
    """:func:`check_bandwidth` for K = exp(−√D/σ): γ = 1/σ finite and γ·√D̄ ≥ RBF_MIN_EXPONENT."""
    bw = view.bandwidth(site)
    given = f"sigma={view.sigma!r} (bandwidth={view.rule!r})"
    if not (bw > 0.0 and math.isfinite(1.0 / bw)):
        raise ValueError(
            f"{given} gives site {site!r} a Laplace bandwidth σ = {bw:.3g} so small that 1/σ overflows float64; "
            "use a larger sigma (as σ → 0 the kernel tends to the identity matrix)"
        )
    spread = math.sqrt(view.mean_sqdist(site))
    limit = 1.0 / RBF_MIN_EXPONENT  # σ/√D̄ at which √D̄/σ = RBF_MIN_EXPONENT
    if spread > 0.0 and bw / spread > limit:
        raise ValueError(
            f"{given} gives site {site!r} a Laplace bandwidth σ = {bw:.3g}, {bw / spread:.3g} times the root mean "
            f"squared distance between its samples ({spread:.3g}); above {limit:.4g} times, exp(−‖x_i − x_j‖/σ) lies "
            f"within {RBF_MIN_EXPONENT:g} of 1 and the centred kernel keeps fewer than 8 significant digits. Use a "
            "smaller sigma"
        )
