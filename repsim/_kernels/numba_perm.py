"""Numba kernel of the Monte-Carlo permutation test: ⟨A, P B Pᵀ⟩ = Σ_ij A_ij B_π(i)π(j) for many permutations π,
without forming any permuted matrix (docs/math.md §6). Each permutation's sum runs row by row in float64, in a fixed
order, so the result does not depend on the number of threads; permutations run in parallel."""
from __future__ import annotations

import numba
import numpy as np


@numba.njit("void(float64[:, ::1], float64[:, ::1], int64[:, ::1], float64[::1])", parallel=True, cache=True)
def permuted_inner(A, B, perms, out):  # pragma: no cover - compiled
    k, n = perms.shape
    for t in numba.prange(k):
        p = perms[t]
        total = 0.0
        for i in range(n):
            a = A[i]
            b = B[p[i]]
            row = 0.0
            for j in range(n):
                row += a[j] * b[p[j]]
            total += row
        out[t] = total


def inner_products(A: np.ndarray, B: np.ndarray, perms) -> np.ndarray:
    """Σ_ij A_ij B_π(i)π(j) for each permutation (rows of ``perms``)."""
    P = np.ascontiguousarray(np.asarray(perms, dtype=np.int64))
    out = np.empty(P.shape[0])
    permuted_inner(np.ascontiguousarray(A, dtype=np.float64), np.ascontiguousarray(B, dtype=np.float64), P, out)
    return out
