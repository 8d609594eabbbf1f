"""Numba kernels of the exact k-nearest-neighbour search (docs/math.md §7) and of the neighbourhood measures.

Scores. A neighbour is a *larger score*: kind 0 cosine x_i·x_j/(‖x_i‖‖x_j‖), kind 1 inner product x_i·x_j,
kind 2 negative squared Euclidean distance −‖x_i − x_j‖². The exact score (:func:`exact_score`) is computed in
float64 from the stored rows (float32 or float64), one fixed summation order, so equal rows give bit-equal scores.

Order. Row i's neighbours are sorted by (score descending, index ascending): of equal scores the lower index comes
first. Sample i itself is skipped when ``skip_self``.

Screening (:func:`screen_tile`): a float32 tile S of scores from one SGEMM (the caller's) updates a running list of
the K best float32 scores per row (sorted, ties keep the earlier column). :func:`finish_rows` rescores those K
candidates exactly, keeps the best k and certifies the row (docs/math.md §7.2); :func:`brute_rows` recomputes an
uncertified row over all columns in float64.

Threads: ``prange`` over rows; the caller sets ``numba.set_num_threads`` and restores it. Every per-row result is
independent of the number of threads.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

_KW = dict(cache=True, nogil=True)


@numba.njit(inline="always")
def exact_score(X, norm, kind, i, j):
    """The float64 score of rows i and j of X (``norm`` = ‖x‖ per row, read for kind 0)."""
    d = X.shape[1]
    acc = 0.0
    if kind == 2:
        for t in range(d):
            diff = np.float64(X[i, t]) - np.float64(X[j, t])
            acc += diff * diff
        return -acc
    if kind == 0:  # the unit rows' inner product (x/‖x‖, as the references normalise): parallel rows give ±1
        a, b = norm[i], norm[j]
        for t in range(d):
            acc += (np.float64(X[i, t]) / a) * (np.float64(X[j, t]) / b)
        return acc
    for t in range(d):
        acc += np.float64(X[i, t]) * np.float64(X[j, t])
    return acc


@numba.njit(inline="always")
def _before(s, j, t, jt):
    """(s, j) ranks before (t, jt): larger score, then lower index."""
    return s > t or (s == t and j < jt)


@numba.njit(parallel=True, **_KW)
def screen_tile(S, scale, colterm, row0, col0, skip_self, vals, idx):
    """Merge the float32 tile S (rows row0…, columns col0…) into the running top-K lists vals/idx (float32 / int64,
    (n, K), sorted descending; −inf / −1 when empty). The score of entry (r, c) is scale·S[r, c] − colterm[col0 + c]."""
    K = vals.shape[1]
    for r in prange(S.shape[0]):
        i = row0 + r
        last = vals[i, K - 1]
        for c in range(S.shape[1]):
            j = col0 + c
            if skip_self and j == i:
                continue
            s = np.float32(scale * S[r, c] - colterm[j])
            if s > last:
                p = K - 1
                while p > 0 and vals[i, p - 1] < s:
                    vals[i, p] = vals[i, p - 1]
                    idx[i, p] = idx[i, p - 1]
                    p -= 1
                vals[i, p] = s
                idx[i, p] = j
                last = vals[i, K - 1]


@numba.njit(parallel=True, **_KW)
def finish_rows(X, norm, kind, k, vals, idx, bound, complete, out_idx, out_score, certified):
    """Rescore each row's K screened candidates in float64 and keep the best k in (score desc, index asc) order.

    A row is certified when its candidate list is ``complete`` (K is every column but the row itself) or its K-th
    float32 score lies below the k-th one minus 2·bound[i] (then no column left out can belong to the exact top k,
    docs/math.md §7.2); the others are left to :func:`brute_rows`."""
    n, K = vals.shape
    for i in prange(n):
        certified[i] = complete or (vals[i, K - 1] < vals[i, k - 1] - 2.0 * bound[i])
        if not certified[i]:
            continue
        sc = np.empty(K)
        for t in range(K):
            sc[t] = exact_score(X, norm, kind, i, idx[i, t])
        for a in range(k):  # selection of the k best by (score desc, index asc)
            best = a
            for b in range(a + 1, K):
                if _before(sc[b], idx[i, b], sc[best], idx[i, best]):
                    best = b
            if best != a:
                sc[a], sc[best] = sc[best], sc[a]
                idx[i, a], idx[i, best] = idx[i, best], idx[i, a]
            out_idx[i, a] = idx[i, a]
            out_score[i, a] = sc[a]


@numba.njit(parallel=True, **_KW)
def brute_rows(X, norm, kind, k, rows, skip_self, out_idx, out_score):
    """The exact top k of each row in ``rows`` over all columns, in float64 (rows the screen could not certify)."""
    n = X.shape[0]
    for q in prange(rows.shape[0]):
        i = rows[q]
        sc = np.full(k, -np.inf)
        ix = np.full(k, n, dtype=np.int64)
        for j in range(n):
            if skip_self and j == i:
                continue
            s = exact_score(X, norm, kind, i, j)
            if _before(s, j, sc[k - 1], ix[k - 1]):
                p = k - 1
                while p > 0 and _before(s, j, sc[p - 1], ix[p - 1]):
                    sc[p] = sc[p - 1]
                    ix[p] = ix[p - 1]
                    p -= 1
                sc[p] = s
                ix[p] = j
        for t in range(k):
            out_idx[i, t] = ix[t]
            out_score[i, t] = sc[t]


# ---------------------------------------------------------------------------------------------------- measures
@numba.njit(parallel=True, **_KW)
def overlap_rows(NX, NY, common, rank):
    """Per row: the number of common neighbours, and ReSi's rank similarity of the common ones (ranks 1-based in
    each list; Σ 2/((1 + |r_X − r_Y|)(r_X + r_Y)) / Σ_{t ≤ #common} 1/t, 0 when none is common)."""
    n, k = NX.shape
    for i in prange(n):
        c = 0
        s = 0.0
        for a in range(k):
            for b in range(k):
                if NX[i, a] == NY[i, b]:
                    c += 1
                    s += 2.0 / ((1.0 + abs(a - b)) * (a + b + 2.0))
                    break
        common[i] = c
        norm = 0.0
        for t in range(1, c + 1):
            norm += 1.0 / t
        rank[i] = s / norm if c > 0 else 0.0


@numba.njit(parallel=True, **_KW)
def second_order_rows(X, normx, Y, normy, NX, NY, out):
    """ReSi's second-order cosine similarity per row: the cosine between the vectors of cosine distances
    clip(1 − cos, 0, 2) from sample i to the union of its neighbours in X and in Y, in X and in Y (NaN when a
    vector is 0)."""
    n, k = NX.shape
    for i in prange(n):
        uv = 0.0
        uu = 0.0
        vv = 0.0
        for side in range(2):
            for a in range(k):
                j = NX[i, a] if side == 0 else NY[i, a]
                if side == 1:
                    dup = False
                    for b in range(k):
                        if NX[i, b] == j:
                            dup = True
                            break
                    if dup:
                        continue
                u = min(max(1.0 - exact_score(X, normx, 0, i, j), 0.0), 2.0)
                v = min(max(1.0 - exact_score(Y, normy, 0, i, j), 0.0), 2.0)
                uv += u * v
                uu += u * u
                vv += v * v
        if uu == 0.0 or vv == 0.0:
            out[i] = np.nan
        else:
            out[i] = min(max(uv / np.sqrt(uu * vv), -1.0), 1.0)


@numba.njit(parallel=True, **_KW)
def transpose_products(N, A, B, out):
    """out[i] = Σ_j A[i, a]·B[j, b] over the entries (i, j = N[i, a]) whose mirror (j, i = N[j, b]) is also stored
    (−1 marks an absent entry): the row terms of Σ_ij A_ij B_ji for two sparse matrices on one support N."""
    n, k = N.shape
    for i in prange(n):
        s = 0.0
        for a in range(k):
            j = N[i, a]
            if j < 0:
                continue
            for b in range(k):
                if N[j, b] == i:
                    s += A[i, a] * B[j, b]
                    break
        out[i] = s
