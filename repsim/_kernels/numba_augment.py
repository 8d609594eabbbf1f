"""Numba version of the fused per-batch pass (the fallback when the C++ extension is not built).

Same contract as ``repsim._core.fill_augmented`` (csrc/kernels/augment.hpp).
"""
from __future__ import annotations

import numba
import numpy as np

from .._limits import MAX_NORM


@numba.njit(cache=True, nogil=True)
def _fill_site(x, ref, out, col0, norm_col):
    rows, p = x.shape
    first_bad = -1
    for i in range(rows):
        norm = 0.0
        for j in range(p):
            v = np.float64(x[i, j]) - ref[j]
            out[i, col0 + j] = v
            norm += v * v
        out[i, norm_col] = norm
        if first_bad < 0 and not norm <= MAX_NORM:
            first_bad = i
    return first_bad


def fill_augmented(out, sites, references, n_threads=1):
    """Write the augmented rows of one batch into ``out``; return (site, row) of the first bad row or (-1, -1)."""
    total = sum(a.shape[1] for a in sites)
    L = len(sites)
    if out.shape[1] != total + L + 1:
        raise ValueError("out has the wrong number of columns for these sites")
    col = 0
    found = (-1, -1)
    best_row = out.shape[0]
    for s, (a, ref) in enumerate(zip(sites, references)):
        bad = _fill_site(a, ref, out, col, total + s)
        if 0 <= bad < best_row:
            best_row = bad
            found = (s, bad)
        col += a.shape[1]
    out[:, total + L] = 1.0
    return found
