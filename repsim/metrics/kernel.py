"""Kernel CKA (RBF) from a Gram-space kernel view (docs/math.md §4): K = exp(−D/(2σ²)) centred with H, or U-centred
(Székely–Rizzo) for the debiased form, formed tile by tile by the view; the metric is the cosine of the two kernel
matrices (with the diagonal for the biased form, without it for the U-centred one)."""
from __future__ import annotations

import warnings

from ._common import cosine


def kernel_cka(view, x: str, y: str) -> float:
    """RBF CKA between sites ``x`` and ``y`` of a kernel view (``view.debiased`` selects the U-centred form).

    NaN with a RuntimeWarning when a site's bandwidth is 0 (its median squared distance vanishes)."""
    name = "debiased RBF CKA" if view.debiased else "RBF CKA"
    bad = [s for s in (x, y) if not view.bandwidth(s) > 0.0]
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
