"""Level-3 BLAS updates of the augmented second-moment matrix in bounded tiles.

No single BLAS call of the per-batch update sees more than ``TILE_EDGE`` columns (repsim._limits): diagonal tiles by
DSYRK, tiles above the diagonal by DGEMM, written in place into the upper triangle of the Fortran-ordered G. The
compiled core does it with SciPy's own BLAS routines and the GIL released (``_core.gram_block``); without it the
same tiles go through SciPy's wrappers (a tile that is not contiguous in G is copied in and out).
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import blas

from ._engines import HAVE_CORE, _core
from ._limits import TILE_EDGE


def tile_bounds(d: int, edge: int | None = None) -> list[tuple[int, int]]:
    """Equal tiles of at most ``edge`` (default TILE_EDGE) columns covering 0..d (no sliver at the end)."""
    edge = TILE_EDGE if edge is None else edge
    tiles = max(1, -(-d // edge))
    step = -(-d // tiles)
    return [(j0, min(d, j0 + step)) for j0 in range(0, d, step)]


def add_block(W: np.ndarray, i0: int, j0: int, C: np.ndarray, upper: bool, edge: int | None = None) -> None:
    """C += W[:, i0:i0+ni]ᵀ W[:, j0:j0+nj] in place, (ni, nj) = C.shape, in tiles of at most ``edge`` (default
    TILE_EDGE) columns. W: the C-ordered (rows, d) float64 batch; C: a Fortran-ordered float64 block of the
    statistics. ``upper`` (a diagonal block: i0 == j0, ni == nj): only the tiles on and above the diagonal, DSYRK on
    the diagonal ones, and only C's upper triangle is written. The joint matrix is the block (0, 0) of all d
    columns."""
    edge = TILE_EDGE if edge is None else edge
    if C.size == 0:
        return
    if HAVE_CORE:
        try:
            _core.gram_block(W, i0, j0, C, upper, edge)
            return
        except ValueError:  # pragma: no cover - SciPy without the cython_blas capsules
            pass
    ni, nj = C.shape
    rows_i = tile_bounds(ni, edge)
    for b0, b1 in tile_bounds(nj, edge):
        WB = W[:, j0 + b0 : j0 + b1]
        for a0, a1 in rows_i:
            if upper and a0 > b0:
                break
            c = C[a0:a1, b0:b1]  # a tile that is not contiguous in C is copied in and out by SciPy's wrapper
            if upper and a0 == b0:
                C[a0:a1, b0:b1] = blas.dsyrk(1.0, WB.T, beta=1.0, c=c, trans=0, lower=0)
            else:
                C[a0:a1, b0:b1] = blas.dgemm(1.0, W[:, i0 + a0 : i0 + a1], WB, beta=1.0, c=c, trans_a=1)
