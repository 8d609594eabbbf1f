"""Numba version of the match engine (the fallback when the C++ extension is not built).

Same contract as ``repsim._core.max_match_curve`` / ``minimum_matches`` (csrc/kernels/maxmatch.hpp, whose comments
describe the algorithm: a span is the Cholesky factor L of a basis subset and the coordinate matrix Z, downdated by
Givens rotations, rebuilt by LAPACK or by promotion in index order). This is a line-by-line port: the same
operations in the same order — no fused multiply-adds, no reassociation (Numba's default, and the C++ core's
portable ``-O3``) — and the same LAPACK routines (SciPy's ``dpotrf`` / ``dtrsm``, passed in as ctypes function
pointers, which keeps the compiled code cacheable), so it makes the same decisions as the C++ engine, even for ε
one ulp either side of a jump of s(ε) (tests/test_match_numba.py). Compiled on first use and cached on disk.

State layout (C++ class → tuple of arrays, mutated in place):

* span ``(L, Z, s2, sg, alive, in_basis, basis, meta)``: ``L`` m_all × m_all (row-major lower factor), ``Z``
  m_all × (m_all + t_all + 1), ``basis[:meta[0]]`` the basis neurons, ``meta = [m, has_one, dirty, use_lapack]``;
* side ``(own_gram, cross, own_mean)`` with ``cross[t, j]`` the centred cross Gram of query t and own neuron j
  (C for span(Y), Cᵀ for span(X));
* match state ``(ax, ay, span_x, span_y)``; problem ``(A, B, C, Cᵀ, mu, nu, n, center)``.

Threads: :func:`minimum_matches` splits its neurons v over ``n_threads`` Python threads, as the C++ core does over
``std::thread`` (the kernels release the GIL; Numba's own thread pool is not used). Results do not depend on the
number of threads.
"""
from __future__ import annotations

import ctypes
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from .._limits import DEP_TOL, ONE_TOL

_KW = dict(cache=True, nogil=True, error_model="numpy")

_M, _HAS_ONE, _DIRTY, _LAPACK = 0, 1, 2, 3
_CH_U, _CH_R, _CH_N = ord("U"), ord("R"), ord("N")

_P = ctypes.c_void_p
_POTRF_T = ctypes.CFUNCTYPE(None, _P, _P, _P, _P, _P)
_TRSM_T = ctypes.CFUNCTYPE(None, _P, _P, _P, _P, _P, _P, _P, _P, _P, _P, _P)


def _lapack():
    """SciPy's dpotrf and dtrsm as ctypes function pointers (the routines the C++ core borrows), and whether found."""
    try:
        from numba.extending import get_cython_function_address

        potrf = _POTRF_T(get_cython_function_address("scipy.linalg.cython_lapack", "dpotrf"))
        trsm = _TRSM_T(get_cython_function_address("scipy.linalg.cython_blas", "dtrsm"))
        return potrf, trsm, True
    except Exception:  # pragma: no cover - SciPy is a dependency; without it the kernels run their scalar code
        return _POTRF_T(lambda *a: None), _TRSM_T(lambda *a: None), False


POTRF, TRSM, LAPACK_FOUND = _lapack()
#: Testing switch (like ``repsim._core._match_lapack``): False runs the scalar code only.
lapack_enabled = True


# ------------------------------------------------------------------------------------------------ SpanState


@numba.njit(**_KW)
def _span_new(m_all, t_all, use_lapack):
    cols = m_all + t_all + 1
    meta = np.zeros(4, np.int64)
    meta[_LAPACK] = 1 if use_lapack else 0
    return (np.zeros((m_all, m_all)), np.zeros((m_all, cols)), np.zeros(cols), np.zeros(cols),
            np.zeros(m_all, np.uint8), np.zeros(m_all, np.uint8), np.zeros(m_all, np.int64), meta)


@numba.njit(**_KW)
def _span_copy(sp):
    return (sp[0].copy(), sp[1].copy(), sp[2].copy(), sp[3].copy(), sp[4].copy(), sp[5].copy(), sp[6].copy(),
            sp[7].copy())


@numba.njit(**_KW)
def _add_row_stats(sp, r):
    Z, s2, sg = sp[1], sp[2], sp[3]
    cols = Z.shape[1]
    g = Z[r, cols - 1]
    for j in range(cols):
        s2[j] += Z[r, j] * Z[r, j]
        sg[j] += g * Z[r, j]


@numba.njit(**_KW)
def _refresh_column_stats(sp):
    sp[2][:] = 0.0
    sp[3][:] = 0.0
    for r in range(sp[7][_M]):
        _add_row_stats(sp, r)


@numba.njit(**_KW)
def _update_has_one(sp, side, n, center):
    own, mean = side[0], side[2]
    alive, in_basis, sg, meta = sp[4], sp[5], sp[3], sp[7]
    meta[_HAS_ONE] = 0
    if center:
        return
    for u in range(own.shape[0]):
        if alive[u] == 0 or in_basis[u] != 0:
            continue
        delta = mean[u] - sg[u]
        norm2 = own[u, u] + n * mean[u] * mean[u]
        if n * delta * delta > ONE_TOL * norm2:
            meta[_HAS_ONE] = 1
            return


@numba.njit(**_KW)
def _try_promote(sp, u, side, center):
    own, cross, mean = side
    L, Z, in_basis, basis, meta = sp[0], sp[1], sp[5], sp[6], sp[7]
    m_all, t_all = own.shape[0], cross.shape[0]
    cols = Z.shape[1]
    m = meta[_M]
    buu = own[u, u]
    if not buu > 0.0:
        return
    res = buu - sp[2][u]
    if not res > DEP_TOL * buu:
        return
    diag = np.sqrt(res)
    for r in range(m):
        L[m, r] = Z[r, u]
    L[m, m] = diag
    for j in range(m_all):  # full_row(u): own Gram row, cross column, ν_u
        Z[m, j] = own[u, j]
    for t in range(t_all):
        Z[m, m_all + t] = cross[t, u]
    Z[m, m_all + t_all] = 0.0 if center else mean[u]
    for r in range(m):
        c = L[m, r]
        if c == 0.0:
            continue
        for j in range(cols):
            Z[m, j] -= c * Z[r, j]
    inv = 1.0 / diag
    for j in range(cols):
        Z[m, j] *= inv
    basis[m] = u
    meta[_M] = m + 1
    in_basis[u] = 1
    _add_row_stats(sp, m)


@numba.njit(**_KW)
def _promote_dependents(sp, side, center):
    alive, in_basis = sp[4], sp[5]
    for u in range(alive.shape[0]):
        if alive[u] != 0 and in_basis[u] == 0:
            _try_promote(sp, u, side, center)


@numba.njit(**_KW)
def _lapack_build(sp, side, center, potrf, trsm):
    """Fast path of _rebuild (C++ lapack_build): all alive neurons independent → L = chol(G_SS) by dpotrf, Z's cross
    and ν columns by one dtrsm. False, leaving an empty basis, when LAPACK is off or a pivot is too small."""
    own, cross, mean = side
    L, Z, alive, in_basis, basis, meta = sp[0], sp[1], sp[4], sp[5], sp[6], sp[7]
    if meta[_LAPACK] == 0:
        return False
    m_all, t_all = own.shape[0], cross.shape[0]
    cols = Z.shape[1]
    cand = np.empty(m_all, np.int64)
    c = 0
    for u in range(m_all):
        if alive[u] == 0:
            continue
        if not own[u, u] > 0.0:
            return False
        cand[c] = u
        c += 1
    if c == 0:
        return True
    for i in range(c):
        for j in range(i + 1):
            L[i, j] = own[cand[i], cand[j]]
        for j in range(i + 1, m_all):
            L[i, j] = 0.0
    chars = np.array([_CH_U, _CH_R, _CH_N], np.uint8)
    ints = np.array([c, m_all, 0, t_all + 1, cols], np.int32)  # nn, lda, info, rows, ldb
    potrf(chars[0:].ctypes, ints[0:].ctypes, L.ctypes, ints[1:].ctypes, ints[2:].ctypes)
    ok = ints[2] == 0
    i = 0
    while ok and i < c:
        lii = L[i, i]
        ok = lii * lii > DEP_TOL * own[cand[i], cand[i]]
        i += 1
    if not ok:
        for i in range(c):
            for j in range(m_all):
                L[i, j] = 0.0
        return False
    for i in range(c):
        for j in range(m_all):
            Z[i, j] = 0.0
        for j in range(i, c):
            Z[i, cand[j]] = L[j, i]
        for t in range(t_all):
            Z[i, m_all + t] = cross[t, cand[i]]
        Z[i, cols - 1] = 0.0 if center else mean[cand[i]]
    one = np.ones(1)
    # Z[:, cross|ν] = L⁻¹ R  ⇔ (column-major) Zᵀ·Lᵀ = Rᵀ, and the row-major L buffer is Lᵀ column-major
    trsm(chars[1:].ctypes, chars[0:].ctypes, chars[2:].ctypes, chars[2:].ctypes, ints[3:].ctypes, ints[0:].ctypes,
         one.ctypes, L.ctypes, ints[1:].ctypes, Z.reshape(Z.size)[m_all:].ctypes, ints[4:].ctypes)
    for i in range(c):
        basis[i] = cand[i]
        in_basis[cand[i]] = 1
    meta[_M] = c
    _refresh_column_stats(sp)
    return True


@numba.njit(**_KW)
def _rebuild(sp, side, n, center, potrf, trsm):
    in_basis, basis, meta = sp[5], sp[6], sp[7]
    for i in range(meta[_M]):
        in_basis[basis[i]] = 0
    meta[_M] = 0
    sp[2][:] = 0.0
    sp[3][:] = 0.0
    if not _lapack_build(sp, side, center, potrf, trsm):
        _promote_dependents(sp, side, center)
    _update_has_one(sp, side, n, center)


@numba.njit(**_KW)
def _rebuild_is_cheaper(sp, positions, t_all):
    meta = sp[7]
    cols = sp[1].shape[1]
    m = float(meta[_M])
    npos = positions.shape[0]
    s = m - float(npos)
    down = 0.0
    mm = m
    for a in range(npos):
        down += 6.0 * (mm - float(positions[a])) * float(cols)
        mm -= 1.0
    build = 2.0 * (s * s * s / 3.0 + s * s * float(t_all + 1))
    return down > (0.25 if meta[_LAPACK] != 0 else 1.0) * build


@numba.njit(**_KW)
def _delete_basis_row(sp, k):
    L, Z, basis, meta = sp[0], sp[1], sp[6], sp[7]
    m = meta[_M]
    cols = Z.shape[1]
    zx = Z[k].copy()
    lx = np.zeros(m)  # the column L[:, k] below the diagonal
    for i in range(k + 1, m):
        lx[i] = L[i, k]
    for c in range(k + 1, m):
        lcc = L[c, c]
        xc = lx[c]
        r = np.hypot(lcc, xc)
        if r == 0.0:
            continue
        cs = lcc / r
        sn = xc / r
        L[c, c] = r
        for i in range(c + 1, m):
            a = L[i, c]
            b = lx[i]
            L[i, c] = cs * a + sn * b
            lx[i] = -sn * a + cs * b
        for j in range(cols):
            a = Z[c, j]
            b = zx[j]
            Z[c, j] = cs * a + sn * b
            zx[j] = -sn * a + cs * b
    for i in range(k + 1, m):  # physically remove row k and column k
        for j in range(k):
            L[i - 1, j] = L[i, j]
        for j in range(k + 1, i + 1):
            L[i - 1, j - 1] = L[i, j]
        for j in range(i, m):
            L[i - 1, j] = 0.0
    for j in range(m):
        L[m - 1, j] = 0.0
    for i in range(k, m - 1):
        for j in range(cols):
            Z[i, j] = Z[i + 1, j]
        basis[i] = basis[i + 1]
    for j in range(cols):
        Z[m - 1, j] = 0.0
    meta[_M] = m - 1


@numba.njit(**_KW)
def _remove_many(sp, us, side, n, center, potrf, trsm):
    """Remove own neurons us: Givens downdates of their basis rows, or a rebuild when that is cheaper."""
    nus = us.shape[0]
    alive, in_basis, basis, meta = sp[4], sp[5], sp[6], sp[7]
    if meta[_DIRTY] != 0:
        for a in range(nus):
            alive[us[a]] = 0
        return
    positions = np.empty(nus, np.int64)
    npos = 0
    for a in range(nus):
        u = us[a]
        if alive[u] == 0:
            continue
        alive[u] = 0
        if in_basis[u] != 0:
            k = 0
            while basis[k] != u:
                k += 1
            positions[npos] = k
            npos += 1
    if npos == 0:
        _update_has_one(sp, side, n, center)
        return
    for a in range(1, npos):  # descending (insertion sort: a handful of distinct positions)
        k = positions[a]
        b = a
        while b > 0 and positions[b - 1] < k:
            positions[b] = positions[b - 1]
            b -= 1
        positions[b] = k
    positions = positions[:npos].copy()  # (a fresh array: its length is not a compile-time constant)
    if _rebuild_is_cheaper(sp, positions, side[1].shape[0]):
        _rebuild(sp, side, n, center, potrf, trsm)
        return
    for a in range(npos):
        k = positions[a]
        in_basis[basis[k]] = 0
        _delete_basis_row(sp, k)
    _refresh_column_stats(sp)
    _promote_dependents(sp, side, center)
    _update_has_one(sp, side, n, center)


@numba.njit(**_KW)
def _distance(sp, t, query_gram, query_mean, n, center):
    """(squared distance of query neuron t to the span, its squared norm), raw or centred."""
    s2, sg, meta = sp[2], sp[3], sp[7]
    m_all = sp[0].shape[0]
    cols = sp[1].shape[1]
    ct = m_all + t
    a = query_gram[t, t]
    d = a - s2[ct]
    if center:
        norm2 = a
    else:
        mu = query_mean[t]
        norm2 = a + n * mu * mu
        if meta[_HAS_ONE] == 0:
            beta0 = mu - sg[ct]
            d += n * beta0 * beta0 / (1.0 + n * sg[cols - 1])
    return (d if d > 0.0 else 0.0), norm2


# ------------------------------------------------------------------------------------------------ MatchState


@numba.njit(**_KW)
def _state_new(pr, start_x, start_y, use_lapack):
    A, B = pr[0], pr[1]
    p, q = A.shape[0], B.shape[0]
    ax = np.zeros(p, np.uint8)
    ay = np.zeros(q, np.uint8)
    span_x = _span_new(p, q, use_lapack)  # span of X queried by Y
    span_y = _span_new(q, p, use_lapack)  # span of Y queried by X
    for i in range(p):
        if start_x[i] != 0:
            ax[i] = 1
            span_x[4][i] = 1
    for j in range(q):
        if start_y[j] != 0:
            ay[j] = 1
            span_y[4][j] = 1
    span_x[7][_DIRTY] = 1
    span_y[7][_DIRTY] = 1
    return (ax, ay, span_x, span_y)


@numba.njit(**_KW)
def _state_copy(st):
    return (st[0].copy(), st[1].copy(), _span_copy(st[2]), _span_copy(st[3]))


@numba.njit(**_KW)
def _side_x(pr):
    return (pr[0], pr[3], pr[4])  # own A, cross Cᵀ (query y, own x), mean mu


@numba.njit(**_KW)
def _side_y(pr):
    return (pr[1], pr[2], pr[5])  # own B, cross C (query x, own y), mean nu


@numba.njit(**_KW)
def _contains(st, v):
    p = st[0].shape[0]
    return st[0][v] != 0 if v < p else st[1][v - p] != 0


@numba.njit(**_KW)
def _eliminate(st, pr, eps, keep, potrf, trsm):
    """Algorithm 1 from the current sets: remove all violators of X against span(Y), then of Y against span(X) (C++
    MatchState::sweep, written once for both sides), until stable. With keep ≥ 0 stop and return False as soon as
    that neuron is removed."""
    e2 = eps * eps
    n, center = pr[6], pr[7]
    ax, ay, span_x, span_y = st
    side_x, side_y = _side_x(pr), _side_y(pr)
    out = np.empty(max(ax.shape[0], ay.shape[0]), np.int64)
    changed = True
    while changed:
        changed = False
        for which in range(2):
            if which == 0:  # X against span(Y)
                alive, span, side, other, other_side, gram, mean = ax, span_x, side_x, span_y, side_y, pr[0], pr[4]
            else:
                alive, span, side, other, other_side, gram, mean = ay, span_y, side_y, span_x, side_x, pr[1], pr[5]
            if other[7][_DIRTY] != 0:  # ensure(): the span is built on first use
                _rebuild(other, other_side, n, center, potrf, trsm)
                other[7][_DIRTY] = 0
            nout = 0
            for i in range(alive.shape[0]):
                if alive[i] == 0:
                    continue
                d2, nn = _distance(other, i, gram, mean, n, center)
                if d2 > e2 * nn:
                    out[nout] = i
                    nout += 1
            if nout > 0:
                for a in range(nout):
                    alive[out[a]] = 0
                _remove_many(span, out[:nout].copy(), side, n, center, potrf, trsm)
                changed = True
            if keep >= 0 and not _contains(st, keep):
                return False
    return True


@numba.njit(**_KW)
def _curve(A, B, C, CT, mu, nu, n, center, start_x, start_y, eps_desc, use_lapack, potrf, trsm):
    pr = (A, B, C, CT, mu, nu, n, center)
    st = _state_new(pr, start_x, start_y, use_lapack)
    p, q = A.shape[0], B.shape[0]
    out = np.zeros((eps_desc.shape[0], p + q), np.uint8)
    no_keep = -out.shape[1] - 1  # an int64 < 0 (not a literal: one compiled _eliminate for both algorithms)
    for k in range(eps_desc.shape[0]):  # nested in eps: each warm-starts from the last
        _eliminate(st, pr, eps_desc[k], no_keep, potrf, trsm)
        out[k, :p] = st[0]
        out[k, p:] = st[1]
    return out


# ------------------------------------------------------------------------------------------------ Algorithm 2


@numba.njit(**_KW)
def _minimum_match(maximum, pr, v, eps, potrf, trsm):
    """The v-minimum match from a maximum-match state (v < p: X's neuron, else Y's neuron v − p)."""
    p, q = maximum[0].shape[0], maximum[1].shape[0]
    n, center = pr[6], pr[7]
    cur = _state_copy(maximum)
    one = np.empty(1, np.int64)
    for u in range(p + q):
        if u == v or not _contains(cur, u):
            continue
        trial = _state_copy(cur)
        if u < p:
            one[0] = u
            trial[0][u] = 0
            _remove_many(trial[2], one, _side_x(pr), n, center, potrf, trsm)
        else:
            one[0] = u - p
            trial[1][u - p] = 0
            _remove_many(trial[3], one, _side_y(pr), n, center, potrf, trsm)
        if _eliminate(trial, pr, eps, v, potrf, trsm):
            cur = trial
    return cur


@numba.njit(**_KW)
def _reduced_maximum(A, B, C, CT, mu, nu, n, center, eps, use_lapack, potrf, trsm):
    """Algorithm 1 on the restricted blocks from all neurons; the state, LAPACK switched off for Algorithm 2."""
    pr = (A, B, C, CT, mu, nu, n, center)
    st = _state_new(pr, np.ones(A.shape[0], np.uint8), np.ones(B.shape[0], np.uint8), use_lapack)
    no_keep = -A.shape[0] - B.shape[0] - 1  # an int64 < 0, as in _curve
    _eliminate(st, pr, eps, no_keep, potrf, trsm)
    st[2][7][_LAPACK] = 0
    st[3][7][_LAPACK] = 0
    return st


@numba.njit(**_KW)
def _minimum_rows(reduced, A, B, C, CT, mu, nu, n, center, eps, rvs, ks, out, potrf, trsm):
    """out[k] = the v-minimum match of v = rvs[k] (restricted problem: x mask, then y mask) for each k in ks."""
    pr = (A, B, C, CT, mu, nu, n, center)
    rp = A.shape[0]
    for a in range(ks.shape[0]):
        k = ks[a]
        m = _minimum_match(reduced, pr, rvs[k], eps, potrf, trsm)
        out[k, :rp] = m[0]
        out[k, rp:] = m[1]


# ------------------------------------------------------------------------------------------------ entry points


def _problem(A, B, C, mu, nu, n, center):
    """Checked float64 C-contiguous blocks (the bindings' match_problem), plus Cᵀ for span(X)."""
    arrays = []
    for name, a, ndim in (("A", A, 2), ("B", B, 2), ("C", C, 2), ("mu", mu, 1), ("nu", nu, 1)):
        if not (isinstance(a, np.ndarray) and a.dtype == np.float64 and a.flags.c_contiguous):
            raise TypeError(f"{name} must be a C-contiguous float64 array")
        if a.ndim != ndim:
            raise ValueError("A, B, C must be 2-D and mu, nu 1-D")
        arrays.append(a)
    A, B, C, mu, nu = arrays
    p, q = A.shape[0], B.shape[0]
    if A.shape[1] != p or B.shape[1] != q or C.shape != (p, q) or mu.shape[0] != p or nu.shape[0] != q:
        raise ValueError("inconsistent shapes of A, B, C, mu, nu")
    n = float(n)
    if not n > 0:
        raise ValueError("n must be positive")
    return A, B, C, np.ascontiguousarray(C.T), mu, nu, n, bool(center)


def _mask(m, length, name):
    m = np.asarray(m)
    if m.ndim != 1 or m.shape[0] != length:
        raise ValueError(f"{name} has the wrong length")
    return np.ascontiguousarray(m != 0, dtype=np.uint8)


def _use_lapack() -> bool:
    return bool(LAPACK_FOUND and lapack_enabled)


def max_match_curve(A, B, C, mu, nu, n, center, start_x, start_y, eps_desc):
    """Maximum matches (Algorithm 1) for each eps (descending), warm-started from one another → [(x_mask, y_mask)]."""
    pr = _problem(A, B, C, mu, nu, n, center)
    p, q = pr[0].shape[0], pr[1].shape[0]
    sx, sy = _mask(start_x, p, "start_x"), _mask(start_y, q, "start_y")
    eps = np.ascontiguousarray(eps_desc, dtype=np.float64)
    if eps.ndim != 1:
        raise ValueError("eps must be 1-D")
    if np.any(eps[1:] > eps[:-1]):
        raise ValueError("eps must be sorted in descending order")
    out = _curve(*pr, sx, sy, eps, _use_lapack(), POTRF, TRSM).astype(bool)
    return [(row[:p].copy(), row[p:].copy()) for row in out]


def minimum_matches(A, B, C, mu, nu, n, center, max_x, max_y, eps, vs, n_threads=1):
    """v-minimum matches (Algorithm 2) for each v in vs (x: v < p, y: p + j) from the maximum match at eps."""
    A, B, C, _, mu, nu, n, center = _problem(A, B, C, mu, nu, n, center)
    p, q = A.shape[0], B.shape[0]
    mx, my = _mask(max_x, p, "max_x"), _mask(max_y, q, "max_y")
    vs = np.asarray(vs)
    if vs.ndim != 1:
        raise ValueError("vs must be 1-D")
    vs = vs.astype(np.int64)
    if np.any((vs < 0) | (vs >= p + q)):
        raise ValueError("neuron index out of range in vs")
    ix, iy = np.flatnonzero(mx), np.flatnonzero(my)
    pos = np.full(p + q, -1, np.int64)
    pos[ix] = np.arange(ix.size)
    pos[p + iy] = np.arange(iy.size)
    if np.any(pos[vs] < 0):
        raise ValueError("every v must belong to the maximum match")
    rp = ix.size
    rvs = np.where(vs < p, pos[vs], rp + pos[vs])
    Ar = np.ascontiguousarray(A[np.ix_(ix, ix)])
    Br = np.ascontiguousarray(B[np.ix_(iy, iy)])
    Cr = np.ascontiguousarray(C[np.ix_(ix, iy)])
    pr = (Ar, Br, Cr, np.ascontiguousarray(Cr.T), np.ascontiguousarray(mu[ix]), np.ascontiguousarray(nu[iy]), n,
          center)
    reduced = _reduced_maximum(*pr, float(eps), _use_lapack(), POTRF, TRSM)
    if not (reduced[0].all() and reduced[1].all()):
        raise ValueError("the given sets are not an eps-match (pass the maximum match)")
    out = np.zeros((vs.size, rp + iy.size), np.uint8)
    # Like the C++ core: worker t takes the neurons k ≡ t (mod workers), in threads (the kernel releases the GIL)
    workers = max(1, min(int(n_threads), vs.size))
    parts = [np.arange(t, vs.size, workers, dtype=np.int64) for t in range(workers)]
    run = lambda ks: _minimum_rows(reduced, *pr, float(eps), rvs, ks, out, POTRF, TRSM)  # noqa: E731
    if workers == 1:
        run(parts[0])
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, parts))
    results = []
    for row in out:
        x = np.zeros(p, bool)
        y = np.zeros(q, bool)
        x[ix] = row[:rp] != 0
        y[iy] = row[rp:] != 0
        results.append((x, y))
    return results
