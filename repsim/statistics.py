"""The augmented second-moment matrix G of MATH.md §1: its layout, exact shifts T G Tᵀ, and read-only views.

G is kept as the **upper triangle** of a Fortran-ordered (d, d) float64 array, the storage that BLAS ``dsyrk``
updates in place. For sites s = 1..L with p_s features each, the augmented row is

    w = [x̃⁽¹⁾ … x̃⁽ᴸ⁾ ; |x̃⁽¹⁾|² … |x̃⁽ᴸ⁾|² ; 1],   x̃ = x − c,   d = Σp_s + L + 1.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.linalg import blas

_SYM_BLOCK = 512


@dataclass(frozen=True)
class Layout:
    """Where each site's blocks live inside G."""

    sites: tuple[str, ...]
    dims: tuple[int, ...]

    @cached_property
    def offsets(self) -> tuple[int, ...]:
        return tuple(int(v) for v in np.concatenate([[0], np.cumsum(self.dims)[:-1]]))

    @property
    def n_features(self) -> int:
        return int(sum(self.dims))

    @property
    def d(self) -> int:
        return self.n_features + len(self.sites) + 1

    @property
    def one(self) -> int:
        """Index of the ones column."""
        return self.d - 1

    def index(self, site: str) -> int:
        try:
            return self.sites.index(site)
        except ValueError:
            raise ValueError(f"unknown site {site!r}; the sites are {list(self.sites)}") from None

    def cols(self, site: str) -> slice:
        k = self.index(site)
        off = self.offsets[k]
        return slice(off, off + self.dims[k])

    def norm_col(self, site: str) -> int:
        """Index of the |x̃|² column of a site."""
        return self.n_features + self.index(site)


def symmetrize_upper(G: np.ndarray) -> np.ndarray:
    """Copy the upper triangle of a square array into its lower triangle, in place, block by block."""
    d = G.shape[0]
    for j0 in range(0, d, _SYM_BLOCK):
        j1 = min(d, j0 + _SYM_BLOCK)
        # lower part of the diagonal block
        blk = G[j0:j1, j0:j1]
        low = np.tril_indices(j1 - j0, -1)
        blk[low] = blk.T[low]
        # rows below the block mirror the columns to its right
        if j1 < d:
            G[j1:, j0:j1] = G[j0:j1, j1:].T
    return G


def shift_factors(layout: Layout, deltas) -> tuple[np.ndarray, np.ndarray]:
    """U, V (d × (L+1), Fortran order) with T = I + U Vᵀ, the reference move by δ_s per site (MATH.md §1.1).

    Column 0 carries the ones column's terms (−δ in the x-rows, |δ|² in the a-rows); column 1+s the −2δ_sᵀ row of
    site s's a-row.
    """
    d, L = layout.d, len(layout.sites)
    U = np.zeros((d, L + 1), order="F")
    V = np.zeros((d, L + 1), order="F")
    V[layout.one, 0] = 1.0
    for s, site in enumerate(layout.sites):
        cols = layout.cols(site)
        delta = np.asarray(deltas[s], dtype=np.float64)
        a = layout.norm_col(site)
        U[cols, 0] = -delta
        U[a, 0] = float(delta @ delta)
        U[a, 1 + s] = 1.0
        V[cols, 1 + s] = -2.0 * delta
    return U, V


def shift_upper(G: np.ndarray, layout: Layout, deltas: list[np.ndarray]) -> np.ndarray:
    """Move the reference of G by δ_s per site, in place: G ← T G Tᵀ (MATH.md §1.1).

    ``G`` holds the upper triangle (Fortran order). With x' = x̃ − δ and a' = a − 2δᵀx̃ + |δ|², the map is
    T = I + U Vᵀ of rank ≤ L + 1, so T G Tᵀ = G + U Nᵀ + N Uᵀ with M = G V, S = Vᵀ M and N = M + ½ U S:
    one DSYMM and one DSYR2K, O(d²·L) work instead of the O(d³) of a dense congruence.
    """
    U, V = shift_factors(layout, deltas)
    M = blas.dsymm(1.0, G, V, side=0, lower=0)
    S = V.T @ M
    S = 0.5 * (S + S.T)
    N = np.asfortranarray(M + 0.5 * (U @ S))
    out = blas.dsyr2k(1.0, U, N, beta=1.0, c=G, trans=0, lower=0, overwrite_c=1)
    if not np.shares_memory(out, G):  # pragma: no cover - scipy always honours overwrite_c for F-ordered fp64
        G[...] = out
    return G


def site_sums(G: np.ndarray, layout: Layout) -> list[np.ndarray]:
    """Σ x̃ for every site (the ones-column entries of the upper triangle)."""
    return [np.array(G[layout.cols(s), layout.one]) for s in layout.sites]


class StatisticsView:
    """Read-only, fully symmetric statistics at one reference point (the sample mean, or 0 for raw moments).

    Metrics read blocks by site name: ``A = view.block(x, x)``, ``C = view.block(x, y)``, the fourth-order terms
    ``t_xy = Σ a_i b_i = view.fourth(x, y)``, ``tr A = view.trace(x)``, ``Σ x̃ = view.sum(x)``.
    """

    def __init__(self, G_full: np.ndarray, layout: Layout, n: int, reference: list[np.ndarray], centered: bool):
        self._G = G_full
        self.layout = layout
        self.n = int(n)
        self.reference = reference
        self.centered = centered
        self._frob2: dict[tuple[str, str], float] = {}
        self.cache: dict = {}  # per-site factorisations reused across pairs (e.g. CCA whitening)

    def block(self, x: str, y: str) -> np.ndarray:
        return self._G[self.layout.cols(x), self.layout.cols(y)]

    def frob2(self, x: str, y: str) -> float:
        """‖Σ x̃ ỹᵀ‖²_F, cached (symmetric in x and y)."""
        key = (x, y) if self.layout.index(x) <= self.layout.index(y) else (y, x)
        val = self._frob2.get(key)
        if val is None:
            B = self.block(*key)
            val = float(np.einsum("ij,ij->", B, B))
            self._frob2[key] = val
        return val

    def fourth(self, x: str, y: str) -> float:
        return float(self._G[self.layout.norm_col(x), self.layout.norm_col(y)])

    def trace(self, x: str) -> float:
        return float(self._G[self.layout.norm_col(x), self.layout.one])

    def sum(self, x: str) -> np.ndarray:
        return self._G[self.layout.cols(x), self.layout.one]

    def third(self, x: str, y: str) -> np.ndarray:
        """Σ |ỹ|² x̃ (a vector over the features of x)."""
        return self._G[self.layout.cols(x), self.layout.norm_col(y)]
