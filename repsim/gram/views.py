"""Gram-space statistics views (docs/math.md §4): the :class:`repsim.views.TraceView` terms of pairs of stored Grams,
from one fused Numba pass over their tiles per pair (diagonals masked inside the tiles, never an n × n temporary).

:class:`GramView` reads the linear Grams (centred, or raw with ``center=False``); :class:`KernelView` the RBF or
Laplace kernel matrices formed tile by tile from them, H-centred or U-centred (``debiased``); :class:`RDMView` the
condensed RDMs of RSA (docs/math.md §8); :class:`GeometryView` the samples' geometry that ReSi's Gram-space measures
read (distances, norms, the raw Gram; docs/math.md §9.5).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import flag
from ..views import Memo, PairTerms


@dataclass(frozen=True)
class GramPairSums:
    """The fused off-diagonal sums of one pair of (transformed) Grams K, L (docs/math.md §4).

    s_kl, s_kk, s_ll : Σ_{i≠j} K_ij L_ij, Σ_{i≠j} K_ij², Σ_{i≠j} L_ij²
    r_k, r_l : off-diagonal row sums Σ_{j≠i} K_ij (length n)
    d_k, d_l : diagonals
    """

    n: int
    s_kl: float
    s_kk: float
    s_ll: float
    r_k: np.ndarray
    r_l: np.ndarray
    d_k: np.ndarray
    d_l: np.ndarray

    def swapped(self) -> GramPairSums:
        """The same sums for the pair (L, K)."""
        return GramPairSums(self.n, self.s_kl, self.s_ll, self.s_kk, self.r_l, self.r_k, self.d_l, self.d_k)


class _PairSumsView(Memo):
    """TraceView terms from :class:`GramPairSums`, memoised per unordered pair of sites."""

    centered = True

    def __init__(self, acc, params):
        self._acc = acc
        self._params = params  # site -> the transform of its Gram (see GramMoments.linear_params / kernel_params)
        self.n = acc.n
        self._memo: dict = {}

    def sums(self, x: str, y: str) -> GramPairSums:
        """The fused sums of sites (x, y); one pass serves (x, y) and (y, x), a site with itself the one-Gram pass."""
        order = self._acc.sites
        if order.index(x) > order.index(y):
            return self.sums(y, x).swapped()
        return self.memo(("pair", x, y), lambda: self._acc.pair_pass(x, y, self._params(x), self._params(y)))

    def terms(self, x: str, y: str) -> PairTerms:
        """:class:`repsim.views.PairTerms` from the pair's one fused pass (a site with itself: one-Gram pass)."""
        s = self.sums(x, y)
        dkl, dkk, dll = float(s.d_k @ s.d_l), float(s.d_k @ s.d_k), float(s.d_l @ s.d_l)
        return PairTerms(self.n, s.s_kl + dkl, s.s_kk + dkk, s.s_ll + dll, s.s_kl, s.s_kk, s.s_ll,
                         float(s.r_k.sum()), float(s.r_l.sum()), float(s.r_k @ s.r_l), float(s.r_k @ s.r_k),
                         float(s.r_l @ s.r_l))


class GramView(_PairSumsView):
    """The linear Grams K = X̄X̄ᵀ of the column-centred features (``center=True``) or the raw XXᵀ."""

    def __init__(self, acc, center: bool = True):
        center = flag(center, "center")
        super().__init__(acc, lambda site: acc.linear_params(site, center))
        self.centered = center


class KernelView(_PairSumsView):
    """RBF kernels K = exp(−D/(2σ²)) (``kernel="rbf"``) or Laplace kernels K = exp(−√D/σ) (``kernel="laplace"``),
    D the squared distances from the centred Gram, σ from the site's bandwidth rule; H K H (``debiased=False``) or
    U-centred with the diagonal masked (``debiased=True``)."""

    def __init__(self, acc, kernel: str = "rbf", sigma: float = 0.5, bandwidth: str = "median",
                 debiased: bool = False):
        debiased = flag(debiased, "debiased")
        super().__init__(acc, lambda site: acc.kernel_params(site, kernel, float(sigma), bandwidth, debiased))
        self.kernel, self.sigma, self.rule, self.debiased = kernel, float(sigma), bandwidth, debiased

    def bandwidth(self, site: str) -> float:
        return self._acc.bandwidth(site, self.sigma, self.rule)

    def mean_sqdist(self, site: str) -> float:
        """The mean squared Euclidean distance between two distinct samples of a site, 2·tr(K)/(n − 1) from the
        centred Gram K (0 when n < 2): the scale the bandwidth is checked against."""
        n = self.n
        return self.memo(("mean-D", site), lambda: 2.0 * float(self._acc.diagonal(site).sum()) / (n - 1) if n > 1
                         else 0.0)


class RDMView(Memo):
    """Condensed RDMs of the sites' samples (RSA, docs/math.md §8): ``rdm(site)`` is the n(n−1)/2 upper triangle in
    ``pdist`` order, formed once per site from its stored Gram and memoised with whatever a comparison prepares from
    it (ranks, standardised vectors): one RDM per site in memory, the size of its packed Gram, until the next update."""

    def __init__(self, acc, rdm: str = "correlation"):
        self._acc = acc
        self.n = acc.n
        self.rdm = rdm
        self._memo: dict = {}

    def condensed(self, site: str) -> np.ndarray:
        """The site's condensed RDM (read-only)."""
        def compute():
            d = self._acc.condensed_rdm(site, self.rdm)
            d.setflags(write=False)
            return d

        return self.memo(("rdm", site), compute)


class GeometryView(Memo):
    """The geometry of each site's samples, from its stored Gram (ReSi's Gram-space measures, docs/math.md §9.5):
    condensed squared Euclidean distances, the centred Gram's diagonal, the mean terms (v = X̄μ, m = |μ|²) and the
    raw Gram XXᵀ. The measures (:mod:`repsim.metrics.resi`) memoise what they derive per site on the view, until
    the next update."""

    def __init__(self, acc):
        self._acc = acc
        self.n = acc.n
        self._memo: dict = {}

    def sqdist(self, site: str) -> np.ndarray:
        """A new array: the condensed squared Euclidean distances ‖x_i − x_j‖² = g_i + g_j − 2K_ij (i < j,
        ``pdist`` order) from the centred Gram K (a few may be slightly negative by rounding)."""
        return self._acc.condensed_sqdist(site)

    def diagonal(self, site: str) -> np.ndarray:
        """diag(K) of the centred Gram: |x̄_i|²."""
        return self._acc.diagonal(site)

    def mean_terms(self, site: str) -> tuple[np.ndarray, float]:
        """(v, m): v_i = ⟨x̄_i, μ⟩ and m = |μ|², μ the site's mean (a copy)."""
        return self._acc.mean_terms(site)

    def raw_gram(self, site: str) -> np.ndarray:
        """The raw n × n Gram XXᵀ = K + v1ᵀ + 1vᵀ + m11ᵀ (a new array, 8n² bytes)."""
        return self._acc.gram(site, center=False)
