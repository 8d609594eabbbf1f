"""Exact k nearest neighbours of the rows of one matrix: float32 SGEMM tiles screen, float64 certifies
(docs/math.md §7.2). Memory O(n·k + tile²) besides one float32 copy of the rows; never an n × n matrix."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

try:  # BLAS's thread count for the screening SGEMMs (threadpoolctl comes with SciPy's usual stacks; optional)
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - without it BLAS keeps its own thread count
    threadpool_limits = None

from ._limits import KNN_BOUND_SAFETY, KNN_MARGIN, KNN_TILE, MAX_DEFAULT_THREADS
from ._validation import choice, integer

#: The neighbour relations: cosine similarity, inner product, (negative squared) Euclidean distance.
DISTANCES = ("cosine", "inner_product", "euclidean")
_KIND = {"cosine": 0, "inner_product": 1, "euclidean": 2}
_U32 = 2.0 ** -24  # unit roundoff of float32
_TINY = 1e-37  # float32 underflow: absolute error of one product at the bottom of the normal range (2⁻¹²⁶ ≈ 1.2e-38)
_ROWS = 8192  # rows per chunk of the float64 norm pass and the float32 copy


@dataclass(frozen=True)
class Neighbours:
    """Each row's k nearest neighbours: ``index`` (n, k) int64 in order (score descending, index ascending),
    ``score`` (n, k) float64 — the exact scores (cosine, inner product, or −‖x_i − x_j‖²) — and ``recomputed``, how
    many rows the float32 screen could not certify and float64 recomputed over all columns."""

    index: np.ndarray
    score: np.ndarray
    recomputed: int


class threads:
    """Context manager: Numba's and (with threadpoolctl) BLAS's thread counts for one search, restored on exit
    (docs/contributing.md boundary rule 3)."""

    def __init__(self, n_threads: int | None):
        import numba  # Numba loads with the first k-NN search, not with `import repsim`

        self._numba = numba
        want = MAX_DEFAULT_THREADS if n_threads is None else n_threads
        self._want = max(1, min(int(want), numba.config.NUMBA_NUM_THREADS))

    def __enter__(self):
        self._old = self._numba.get_num_threads()
        self._numba.set_num_threads(self._want)
        self._blas = threadpool_limits(self._want, user_api="blas") if threadpool_limits is not None else None
        return self

    def __exit__(self, *exc):
        if self._blas is not None:
            self._blas.restore_original_limits()
        self._numba.set_num_threads(self._old)


def check_k(k, n: int, skip_self: bool = True, low: int = 1) -> int:
    """``k`` as an int in [low, n − 1] (n when the sample itself counts); ValueError naming k and n otherwise."""
    k = integer(k, "k", low, "an int (the number of neighbours)")
    most = n - 1 if skip_self else n
    if k > most:
        raise ValueError(f"k={k} must be at most {most}: there are n={n} samples"
                         + (" and a sample is not its own neighbour" if skip_self else ""))
    return k


def row_norms(X: np.ndarray) -> np.ndarray:
    """‖x_i‖² in float64, in chunks (no float64 copy of X)."""
    out = np.empty(X.shape[0])
    for r0 in range(0, X.shape[0], _ROWS):
        chunk = X[r0 : r0 + _ROWS].astype(np.float64)
        out[r0 : r0 + _ROWS] = np.einsum("ij,ij->i", chunk, chunk)
    return out


def norms(X: np.ndarray, name: str = "X") -> np.ndarray:
    """‖x_i‖ in float64; ValueError naming the first zero row (its cosine is undefined)."""
    sq = row_norms(X)
    zero = np.flatnonzero(sq == 0.0)
    if zero.size:
        raise ValueError(f"{name}: row {int(zero[0])} is zero ({zero.size} zero row(s)); the cosine of a zero "
                         "vector is undefined — drop those samples or use distance='euclidean'")
    return np.sqrt(sq)


def _screen_copy(X: np.ndarray, kind: int, norm: np.ndarray):
    """The float32 rows the screen multiplies (unit rows; or rows over the largest norm, centred for Euclidean),
    their float64 norms, and the column term of the screening score."""
    n, d = X.shape
    mean = np.zeros(d)
    if kind == 2:  # translation-invariant: centre first (smaller norms, smaller rounding bound)
        for r0 in range(0, n, _ROWS):
            mean += X[r0 : r0 + _ROWS].sum(axis=0, dtype=np.float64)
        mean /= n
    if kind == 0:
        scale = 1.0 / norm
    else:
        top = 0.0
        for r0 in range(0, n, _ROWS):
            c = X[r0 : r0 + _ROWS].astype(np.float64) - mean
            top = max(top, float(np.einsum("ij,ij->i", c, c).max()))
        scale = np.full(n, 1.0 / np.sqrt(top) if top > 0 else 1.0)
    P = np.empty((n, d), dtype=np.float32)
    pn = np.empty(n)
    for r0 in range(0, n, _ROWS):
        c = (X[r0 : r0 + _ROWS].astype(np.float64) - mean) * scale[r0 : r0 + _ROWS, None]
        P[r0 : r0 + _ROWS] = c
        pn[r0 : r0 + _ROWS] = np.einsum("ij,ij->i", c, c)
    colterm = pn.astype(np.float32) if kind == 2 else np.zeros(n, dtype=np.float32)
    return P, np.sqrt(pn), colterm


def knn(X: np.ndarray, k: int, distance: str = "cosine", *, skip_self: bool = True, n_threads: int | None = None,
        tile: int | None = None, name: str = "X") -> Neighbours:
    """The exact k nearest neighbours of every row of X among all rows (docs/math.md §7.2).

    Parameters
    ----------
    X : ndarray, shape (n_samples, n_features)
        C-contiguous float32 or float64, finite (the caller validates).
    k : int
        Neighbours per row, 1 ≤ k ≤ n − 1 (≤ n with ``skip_self=False``).
    distance : {"cosine", "inner_product", "euclidean"}
        Nearest = largest cosine, largest inner product, or smallest Euclidean distance.
    skip_self : bool
        A sample is not its own neighbour (platonic-rep and ReSi); False lets it be one (CKNNA's biased form).
    n_threads : int, optional
        Threads of the Numba kernels and, with threadpoolctl, of BLAS (default: up to MAX_DEFAULT_THREADS).
    tile : int, optional
        Edge of the screening tile (default KNN_TILE).

    Returns
    -------
    Neighbours
        ``index`` and exact ``score`` (n, k), sorted by score descending, ties by lower index first.
    """
    from ._kernels import numba_knn as kern  # Numba compiles on the first search, not with `import repsim`

    kind = _KIND[choice(distance, "distance", DISTANCES)]
    n, d = X.shape
    k = check_k(k, n, skip_self)
    norm = norms(X, name) if kind == 0 else np.ones(n)
    cand = n - 1 if skip_self else n
    K = min(k + max(KNN_MARGIN, k), cand)
    T = max(1, int(tile or KNN_TILE))
    out_idx = np.empty((n, k), dtype=np.int64)
    out_score = np.empty((n, k))
    with threads(n_threads):
        P, pn, colterm = _screen_copy(X, kind, norm)
        top = float(pn.max())
        gamma = KNN_BOUND_SAFETY * (d + 6) * _U32
        if kind == 2:  # score 2 p_i·p_j − ‖p_j‖²: dot error doubled, plus the column term's
            bound = gamma * (2.0 * pn * top + top * top) + d * _TINY
        else:
            bound = gamma * pn * top + d * _TINY
        scale = np.float32(2.0 if kind == 2 else 1.0)
        vals = np.full((n, K), -np.inf, dtype=np.float32)
        idx = np.full((n, K), -1, dtype=np.int64)
        buf = np.empty(T * T, dtype=np.float32)
        buf_t = np.empty(T * T, dtype=np.float32)
        for r0 in range(0, n, T):
            A = P[r0 : r0 + T]
            for c0 in range(r0, n, T):  # one SGEMM per tile pair (I, J ≥ I); its transpose serves rows J
                B = P[c0 : c0 + T]
                S = buf[: A.shape[0] * B.shape[0]].reshape(A.shape[0], B.shape[0])
                np.matmul(A, B.T, out=S)
                kern.screen_tile(S, scale, colterm, r0, c0, skip_self, vals, idx)
                if c0 != r0:
                    St = buf_t[: S.size].reshape(B.shape[0], A.shape[0])
                    St[...] = S.T
                    kern.screen_tile(St, scale, colterm, c0, r0, skip_self, vals, idx)
        del buf, buf_t, P
        certified = np.empty(n, dtype=np.bool_)
        kern.finish_rows(X, norm, kind, k, vals, idx, bound, K == cand, out_idx, out_score, certified)
        bad = np.flatnonzero(~certified).astype(np.int64)
        if bad.size:
            kern.brute_rows(X, norm, kind, k, bad, skip_self, out_idx, out_score)
    return Neighbours(out_idx, out_score, int(bad.size))



# ---------------------------------------------------------------------------------------------------- per-row sums
def overlap(NX: np.ndarray, NY: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the number of common neighbours of two (n, k) lists, and ReSi's rank similarity of them."""
    from ._kernels import numba_knn as kern  # Numba compiles on first use, not with `import repsim`

    common, rank = np.empty(NX.shape[0], dtype=np.int64), np.empty(NX.shape[0])
    kern.overlap_rows(NX, NY, common, rank)
    return common, rank


def second_order(X: np.ndarray, Y: np.ndarray, NX: np.ndarray, NY: np.ndarray) -> np.ndarray:
    """Per row: ReSi's second-order cosine similarity over the union of the two neighbour lists (NaN where a
    vector of distances is 0)."""
    from ._kernels import numba_knn as kern  # Numba compiles on first use, not with `import repsim`

    out = np.empty(X.shape[0])
    kern.second_order_rows(X, norms(X, "X"), Y, norms(Y, "Y"), NX, NY, out)
    return out


def transpose_sum(N: np.ndarray, A: np.ndarray, B: np.ndarray) -> float:
    """Σ_ij A_ij B_ji of two sparse n × n matrices stored on one support N (n, k) (−1: absent)."""
    from ._kernels import numba_knn as kern  # Numba compiles on first use, not with `import repsim`

    out = np.empty(N.shape[0])
    kern.transpose_products(N, A, B, out)
    return float(out.sum())
