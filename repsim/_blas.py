"""Level-3 BLAS updates of the augmented second-moment matrix in bounded tiles.

No single BLAS call of the per-batch update sees more than ``TILE_EDGE`` columns (repsim._limits): diagonal tiles by
DSYRK, tiles above the diagonal by DGEMM, written in place into the upper triangle of the Fortran-ordered G. The
compiled core does it with SciPy's own BLAS routines and the GIL released (``_core.syrk_tiles``); without it the
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


def add_gram(G: np.ndarray, W: np.ndarray, edge: int | None = None) -> None:
    """G[upper] += WᵀW in place: W is a C-ordered (rows, d) float64 batch, G the Fortran-ordered (d, d) statistics;
    tiles of at most ``edge`` (default TILE_EDGE) columns."""
    edge = TILE_EDGE if edge is None else edge
    d = W.shape[1]
    if HAVE_CORE:
        try:
            _core.syrk_tiles(W, G, edge)
            return
        except ValueError:  # pragma: no cover - SciPy without the cython_blas capsules
            pass
    if d <= edge:
        out = blas.dsyrk(1.0, W.T, beta=1.0, c=G, trans=0, lower=0, overwrite_c=1)
        if not np.shares_memory(out, G):  # pragma: no cover - scipy honours overwrite_c for F-ordered fp64
            G[...] = out
        return
    bounds = tile_bounds(d, edge)
    for j0, j1 in bounds:
        WJ = W[:, j0:j1]
        G[j0:j1, j0:j1] = blas.dsyrk(1.0, WJ.T, beta=1.0, c=G[j0:j1, j0:j1], trans=0, lower=0)
        for i0, i1 in bounds:
            if i0 >= j0:
                break
            G[i0:i1, j0:j1] = blas.dgemm(1.0, W[:, i0:i1], WJ, beta=1.0, c=G[i0:i1, j0:j1], trans_a=1)
