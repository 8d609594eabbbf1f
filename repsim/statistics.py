"""The augmented second-moment matrix G of docs/math.md §1: its layout, exact shifts T G Tᵀ, and the two feature-space
statistics views (:class:`FullStatistics`, :class:`PairStatistics`).

G is kept as the **upper triangle** of a Fortran-ordered (d, d) float64 array, the storage that BLAS ``dsyrk``
updates in place. For sites s = 1..L with p_s features each, the augmented row is

    w = [x̃⁽¹⁾ … x̃⁽ᴸ⁾ ; |x̃⁽¹⁾|² … |x̃⁽ᴸ⁾|² ; 1],   x̃ = x − c,   d = Σp_s + L + 1.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.linalg import blas

from ._limits import CHECK_BLOCK, LAZY_CHUNK, MAX_STATISTIC, SYM_BLOCK
from .views import Memo, PairTerms


@dataclass(frozen=True)
class Layout:
    """Where each site's blocks live inside G."""

    sites: tuple[str, ...]
    dims: tuple[int, ...]

    @cached_property
    def offsets(self) -> tuple[int, ...]:
        return tuple(int(v) for v in np.concatenate([[0], np.cumsum(self.dims)[:-1]]))

    @cached_property
    def dim_of(self) -> dict[str, int]:
        """Number of features of each site."""
        return dict(zip(self.sites, self.dims))

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
    for j0 in range(0, d, SYM_BLOCK):
        j1 = min(d, j0 + SYM_BLOCK)
        # lower part of the diagonal block
        blk = G[j0:j1, j0:j1]
        low = np.tril_indices(j1 - j0, -1)
        blk[low] = blk.T[low]
        # rows below the block mirror the columns to its right
        if j1 < d:
            G[j1:, j0:j1] = G[j0:j1, j1:].T
    return G


def shift_factors(layout: Layout, deltas) -> tuple[np.ndarray, np.ndarray]:
    """U, V (d × (L+1), Fortran order) with T = I + U Vᵀ, the reference move by δ_s per site (docs/math.md §1.1).

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


def shift_n(U, V, M):
    """N = M + ½ U S with S = sym(Vᵀ M), M = G V: the factor of T G Tᵀ = G + U Nᵀ + N Uᵀ (NumPy or torch)."""
    S = V.T @ M
    S = 0.5 * (S + S.T)
    return M + 0.5 * (U @ S)


def shift_terms(G: np.ndarray, layout: Layout, deltas) -> tuple[np.ndarray, np.ndarray]:
    """U, N with T G Tᵀ = G + U Nᵀ + N Uᵀ for the reference move δ_s per site; G holds the upper triangle."""
    U, V = shift_factors(layout, deltas)
    return U, shift_n(U, V, blas.dsymm(1.0, G, V, side=0, lower=0))


def shift_upper(G: np.ndarray, layout: Layout, deltas: list[np.ndarray]) -> np.ndarray:
    """Move the reference of G by δ_s per site, in place: G ← T G Tᵀ (docs/math.md §1.1).

    ``G`` holds the upper triangle (Fortran order). With x' = x̃ − δ and a' = a − 2δᵀx̃ + |δ|², the map is
    T = I + U Vᵀ of rank ≤ L + 1, so T G Tᵀ = G + U Nᵀ + N Uᵀ with M = G V, S = Vᵀ M and N = M + ½ U S:
    one DSYMM and one DSYR2K, O(d²·L) work instead of the O(d³) of a dense congruence.
    """
    U, N = shift_terms(G, layout, deltas)
    out = blas.dsyr2k(1.0, U, np.asfortranarray(N), beta=1.0, c=G, trans=0, lower=0, overwrite_c=1)
    if not np.shares_memory(out, G):  # pragma: no cover - scipy always honours overwrite_c for F-ordered fp64
        G[...] = out
    return G


def check_finite_statistics(G: np.ndarray, P: int, what: str) -> None:
    """Reject shifted statistics that overflowed or whose second-order entries exceed MAX_STATISTIC.

    Scans column blocks of the upper triangle (what G holds), so no temporary of G's size is made.
    """
    d = G.shape[0]
    top, finite = 0.0, True
    for j0 in range(0, d, CHECK_BLOCK):
        j1 = min(d, j0 + CHECK_BLOCK)
        blk = G[:j1, j0:j1]
        finite = finite and bool(np.isfinite(blk.sum()) or np.isfinite(blk).all())
        if j0 < P:
            top = max(top, float(np.max(np.abs(G[: min(j1, P), j0 : min(j1, P)]))))
    if not (top <= MAX_STATISTIC and finite):
        raise ValueError(
            f"{what} gives statistics beyond float64's safe range (largest second-order entry {top:.3g}, limit "
            f"{MAX_STATISTIC:g}, or an overflow): the activations are too large relative to their spread or to the "
            "origin; rescale them (the similarity metrics are scale invariant)"
        )


def full_statistics(G: np.ndarray, layout: Layout, n: int, deltas, reference, center: bool) -> "FullStatistics":
    """The :class:`FullStatistics` of the upper triangle ``G`` (a copy the caller gives away): shifted by δ_s per site,
    checked, its sums zeroed about the mean (they are exactly 0 there; this removes their rounding), symmetrised."""
    G = shift_upper(G, layout, deltas)
    check_finite_statistics(
        G, layout.n_features,
        "centring the statistics" if center else "moving the statistics to the origin (uncentred metrics)",
    )
    if center:
        for s in layout.sites:
            G[layout.cols(s), layout.one] = 0.0
    return FullStatistics(symmetrize_upper(G), layout, n, reference, center)


def site_sums(G: np.ndarray, layout: Layout) -> list[np.ndarray]:
    """Σ x̃ for every site (the ones-column entries of the upper triangle)."""
    return [np.array(G[layout.cols(s), layout.one]) for s in layout.sites]


class _TraceTerms:
    """:meth:`terms` from feature-space moments (docs/math.md §2): with a_i = |x̃_i|², ⟨K, L⟩ = ‖X̃ᵀỸ‖²_F and
    Σ_{i≠j} K_ij L_ij = ⟨K, L⟩ − Σ a_i b_i; about the mean 1ᵀK̃1 = −tr K and K̃1 = −a, so (K̃1)ᵀ(L̃1) = Σ a_i b_i."""

    def terms(self, x: str, y: str) -> PairTerms:
        kl, kk, ll = self.frob2(x, y), self.frob2(x, x), self.frob2(y, y)
        txy, txx, tyy = self.fourth(x, y), self.fourth(x, x), self.fourth(y, y)
        if not self.centered:
            return PairTerms(self.n, kl, kk, ll, kl - txy, kk - txx, ll - tyy)
        return PairTerms(self.n, kl, kk, ll, kl - txy, kk - txx, ll - tyy, -self.trace(x), -self.trace(y),
                         txy, txx, tyy)


class FullStatistics(Memo, _TraceTerms):
    """Read-only, fully symmetric statistics at one reference point (the sample mean, or 0 for raw moments): the
    view for the matrix-valued metrics (CCA family, Procrustes, affine maps), which need whole blocks.

    Metrics read blocks by site name: ``A = view.block(x, x)``, ``C = view.block(x, y)``, the fourth-order terms
    ``t_xy = Σ a_i b_i = view.fourth(x, y)``, ``tr A = view.trace(x)``, ``Σ x̃ = view.sum(x)``. Per-site
    factorisations are kept with :meth:`memo`. Implements :class:`repsim.views.FeatureView`.
    """

    def __init__(self, G_full: np.ndarray, layout: Layout, n: int, reference: list[np.ndarray], centered: bool):
        self._G = G_full
        self.layout = layout
        self.n = int(n)
        self.reference = reference
        self.centered = centered
        self._frob2: dict[tuple[str, str], float] = {}
        self._memo: dict = {}

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


class PairStatistics(Memo, _TraceTerms):
    """Statistics of T G Tᵀ read on demand from G without forming it: ‖block‖²_F, fourth-order terms, traces, and
    the shifted cross blocks of site pairs.

    ``FullStatistics`` copies, shifts and symmetrises the whole d × d matrix, which matrix-valued metrics (CCA,
    maps, matches) need. The trace-type metrics (linear and debiased CKA, RV, RV2) need only, per site pair, the
    squared Frobenius norm of the shifted cross block and two entries of the small (L+1) × (L+1) corner. With the
    shift written as T G Tᵀ = G + U Nᵀ + N Uᵀ (``shift_upper``), the shifted block of sites (x, y) is
    R + u_x n_yᵀ + n_x u_yᵀ — the stored block R plus two rank-one terms (U's x-rows are nonzero only in column 0)
    — so every norm is one read of the upper triangle in column chunks, with no G-sized temporary: the same
    arithmetic as the exact shift, in place of a copy, a DSYR2K and a symmetrisation of the whole matrix.
    ``block(x, y)`` returns one shifted block the same way (what the match engine reads). Implements
    :class:`repsim.views.FeatureView` (``sum`` and ``third`` are :class:`FullStatistics` only).
    """

    _CHUNK = LAZY_CHUNK

    def __init__(self, G: np.ndarray, layout: Layout, n: int, deltas, centered: bool, max_statistic: float,
                 reference=None):
        self._G = G
        self.layout = layout
        self.n = int(n)
        self.centered = centered
        self.reference = reference  # the point the statistics are about, per site (the mean, or 0)
        self._max = float(max_statistic)
        U, N = shift_terms(G, layout, deltas)
        self._u = U[:, 0].copy()
        self._n0 = N[:, 0].copy()
        # the (L+1) × (L+1) corner of the norm columns and the ones column, shifted exactly
        J = np.arange(layout.n_features, layout.d)
        corner = np.triu(G[np.ix_(J, J)])
        corner = corner + np.triu(corner, 1).T
        self._corner = corner + U[J] @ N[J].T + N[J] @ U[J].T
        self._frob2: dict[tuple[str, str], float] = {}
        self._memo: dict = {}

    def frob2(self, x: str, y: str) -> float:
        """‖(T G Tᵀ)[x, y]‖²_F for the shifted cross block of sites x and y, cached."""
        ix, iy = self.layout.index(x), self.layout.index(y)
        key = (x, y) if ix <= iy else (y, x)
        val = self._frob2.get(key)
        if val is None:
            val = self._block_frob2(*key)
            if not (np.isfinite(val) and val <= self._max**2):
                raise ValueError(
                    f"the statistics of sites {key[0]!r} and {key[1]!r} exceed float64's safe range after the shift "
                    f"(Frobenius norm {np.sqrt(val):.3g}, limit {self._max:g}, or an overflow): the activations are "
                    "too large relative to their spread or to the origin; rescale them (the similarity metrics are "
                    "scale invariant)"
                )
            self._frob2[key] = val
        return val

    def block(self, x: str, y: str) -> np.ndarray:
        """The shifted block (T G Tᵀ)[x, y] as a new (p_x, p_y) array."""
        if self.layout.index(x) > self.layout.index(y):
            return self.block(y, x).T
        cx, cy = self.layout.cols(x), self.layout.cols(y)
        B = np.array(self._G[cx, cy], order="F")  # one copy; G stores the block (x's columns come first)
        if B.size:
            ux, nx, uy, ny = self._u[cx], self._n0[cx], self._u[cy], self._n0[cy]
            if x == y:  # upper triangle += u nᵀ + n uᵀ (BLAS dsyr2), then mirror it
                B = blas.dsyr2(1.0, ux, nx, a=B, lower=0, overwrite_a=1)
                symmetrize_upper(B)
            else:  # B += u_x n_yᵀ + n_x u_yᵀ (two BLAS dger)
                B = blas.dger(1.0, ux, ny, a=B, overwrite_a=1)
                B = blas.dger(1.0, nx, uy, a=B, overwrite_a=1)
        top = max(float(B.max()), -float(B.min())) if B.size else 0.0
        if not top <= self._max:
            raise ValueError(
                f"the statistics of sites {x!r} and {y!r} exceed float64's safe range after the shift (largest entry "
                f"{top:.3g}, limit {self._max:g}, or an overflow): the activations are too large relative to their "
                "spread or to the origin; rescale them (the similarity metrics are scale invariant)"
            )
        return B

    def _block_frob2(self, x: str, y: str) -> float:
        cx, cy = self.layout.cols(x), self.layout.cols(y)
        ux, nx = self._u[cx], self._n0[cx]
        uy, ny = self._u[cy], self._n0[cy]
        G, total = self._G, 0.0
        step = self._CHUNK
        if x != y:  # the block lies in the stored upper triangle (x's columns come first)
            for j0 in range(0, cy.stop - cy.start, step):
                j1 = min(cy.stop - cy.start, j0 + step)
                blk = G[cx, cy.start + j0 : cy.start + j1] + np.outer(ux, ny[j0:j1])
                blk += np.outer(nx, uy[j0:j1])
                total += float(np.einsum("ij,ij->", blk, blk))
            return total
        # diagonal block: strictly-upper part above each column chunk counts twice, the chunk's square once
        off = cx.start
        p = cx.stop - cx.start
        for j0 in range(0, p, step):
            j1 = min(p, j0 + step)
            if j0:
                blk = G[off : off + j0, off + j0 : off + j1] + np.outer(ux[:j0], nx[j0:j1])
                blk += np.outer(nx[:j0], ux[j0:j1])
                total += 2.0 * float(np.einsum("ij,ij->", blk, blk))
            sq = np.triu(G[off + j0 : off + j1, off + j0 : off + j1])
            sq = sq + np.triu(sq, 1).T + np.outer(ux[j0:j1], nx[j0:j1])
            sq += np.outer(nx[j0:j1], ux[j0:j1])
            total += float(np.einsum("ij,ij->", sq, sq))
        return total

    def fourth(self, x: str, y: str) -> float:
        return float(self._corner[self.layout.index(x), self.layout.index(y)])

    def trace(self, x: str) -> float:
        return float(self._corner[self.layout.index(x), -1])
