"""Numba kernels of the Gram-space engine (docs/math.md §4): fused off-diagonal pair sums, RBF tiles, exact selection.

Storage ("strip-packed" symmetric fp64). A site's n × n Gram is cut into column strips of width T; strip J holds
K[J0:, J0:J0+T] (its diagonal block and everything below it) as a C-ordered (n − J0) × T block, one strip after
the other in a flat float64 buffer: n(n+1)/2 + O(nT) words. (Stored C-ordered, a strip is the Fortran-ordered
K[J0:J0+T, J0:], so one BLAS DGEMM updates it in place.) Of a diagonal block only the upper triangle of the stored
(C-ordered) tile is read. The kernels see the strips as
square tiles of side T, each a sub-block of its strip with the strip's row stride, described by six int64 arrays of
one entry per tile: ``ti0`` / ``tj0`` (first row / column), ``tr`` / ``tc`` (rows / columns), ``toff`` (offset of
the tile's first entry in the buffer) and ``tstr`` (row stride). A tile is diagonal when ti0 == tj0; every other
tile stands for itself and its mirror image.

Entries. A kernel never forms a transformed matrix: it maps each stored G_ij on the fly to

    kind 0 (linear): e_ij = G_ij + v_i + v_j + m                      (v = 0, m = 0: G itself)
    kind 1 (RBF)   : e_ij = exp(−γ·(g_i + g_j − 2G_ij)),  g = diag(G)
    kind 2 (Laplace): e_ij = exp(−γ·√max(g_i + g_j − 2G_ij, 0))

and then centres it, e_ij − a_i − a_j + c (a = 0, c = 0: no centring). Per site the parameters are a vector
``vec`` (v, or g), a scalar ``s`` (m, or γ), a vector ``a`` and a scalar ``c``.

Outputs are written per tile (sums over the tile's off-diagonal entries, both triangles counted, its row and
column sums, the diagonal) and reduced afterwards in tile order, so every result is independent of the number of
threads (bit for bit).

All entry points have explicit signatures, are compiled on first import of this module and cached on disk
(``cache=True``). Threads: ``numba.set_num_threads`` is set by the caller (repsim.gram) and restored.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

_TILES = "int64[::1], int64[::1], int64[::1], int64[::1], int64[::1], int64[::1]"
_KW = dict(cache=True, nogil=True)


@numba.njit(inline="always")
def _row_entries(kind, G, base, cnt, ig, j0, vec, s, a, c, out):
    """out[k] = centred entry (ig, j0 + k) for k < cnt, from the stored row segment G[base : base + cnt]."""
    if kind == 0:
        ci = vec[ig] + s - a[ig] + c
        for k in range(cnt):
            out[k] = (G[base + k] + (vec[j0 + k] - a[j0 + k])) + ci
    elif kind == 1:
        gi = vec[ig]
        ci = c - a[ig]
        for k in range(cnt):
            d = (gi + vec[j0 + k]) - 2.0 * G[base + k]
            out[k] = (np.exp(-s * d) - a[j0 + k]) + ci
    else:
        gi = vec[ig]
        ci = c - a[ig]
        for k in range(cnt):
            d = (gi + vec[j0 + k]) - 2.0 * G[base + k]
            out[k] = (np.exp(-s * np.sqrt(max(d, 0.0))) - a[j0 + k]) + ci


@numba.njit(inline="always")
def _diag_entry(kind, Gii, ig, vec, s, a, c):
    if kind == 0:
        return Gii + 2.0 * vec[ig] + s - 2.0 * a[ig] + c
    d = (vec[ig] + vec[ig]) - 2.0 * Gii
    if kind == 2:
        d = np.sqrt(max(d, 0.0))
    return np.exp(-s * d) - 2.0 * a[ig] + c


# --------------------------------------------------------------------------------------------- pair pass
@numba.njit(
    "void(float64[::1], float64[::1], " + _TILES + ", int64[::1], float64[:, ::1], float64[::1], float64[:, ::1], "
    "float64[:, ::1], float64[:, :, ::1], float64[:, ::1])",
    parallel=True,
    **_KW,
)
def pair_pass(K, L, ti0, tj0, tr, tc, toff, tstr, kinds, vecs, scal, avec, tile_sums, rowpart, diag):
    """Fused pass over the tiles of two Grams K and L (same layout).

    kinds[2]; vecs[2, n]; scal[4] = (s_K, c_K, s_L, c_L); avec[2, n].
    tile_sums[t] = (Σ e^K e^L, Σ e^K e^K, Σ e^L e^L) over the off-diagonal entries of tile t (both triangles);
    rowpart[t] (zeroed by the caller, shape (4, T)) = row sums of e^K over the tile's off-diagonal entries for its
    rows (0) and its columns (1), likewise for e^L (2, 3); diag[0/1, i] = e^K_ii, e^L_ii.
    """
    nt = ti0.shape[0]
    kK, kL = kinds[0], kinds[1]
    vK, vL, aK, aL = vecs[0], vecs[1], avec[0], avec[1]
    sK, cK, sL, cL = scal[0], scal[1], scal[2], scal[3]
    for t in prange(nt):
        i0, j0, r, cc, off, st = ti0[t], tj0[t], tr[t], tc[t], toff[t], tstr[t]
        eK = np.empty(cc)
        eL = np.empty(cc)
        skl = 0.0
        skk = 0.0
        sll = 0.0
        if i0 == j0:
            for i in range(r):
                ig = i0 + i
                base = off + i * st
                diag[0, ig] = _diag_entry(kK, K[base + i], ig, vK, sK, aK, cK)
                diag[1, ig] = _diag_entry(kL, L[base + i], ig, vL, sL, aL, cL)
                m = cc - i - 1
                if m <= 0:
                    continue
                _row_entries(kK, K, base + i + 1, m, ig, j0 + i + 1, vK, sK, aK, cK, eK)
                _row_entries(kL, L, base + i + 1, m, ig, j0 + i + 1, vL, sL, aL, cL, eL)
                akl = 0.0
                akk = 0.0
                all_ = 0.0
                rk = 0.0
                rl = 0.0
                for k in range(m):
                    x = eK[k]
                    y = eL[k]
                    akl += x * y
                    akk += x * x
                    all_ += y * y
                    rk += x
                    rl += y
                    rowpart[t, 0, i + 1 + k] += x
                    rowpart[t, 2, i + 1 + k] += y
                rowpart[t, 0, i] += rk
                rowpart[t, 2, i] += rl
                skl += akl
                skk += akk
                sll += all_
        else:
            for i in range(r):
                ig = i0 + i
                base = off + i * st
                _row_entries(kK, K, base, cc, ig, j0, vK, sK, aK, cK, eK)
                _row_entries(kL, L, base, cc, ig, j0, vL, sL, aL, cL, eL)
                akl = 0.0
                akk = 0.0
                all_ = 0.0
                rk = 0.0
                rl = 0.0
                for k in range(cc):
                    x = eK[k]
                    y = eL[k]
                    akl += x * y
                    akk += x * x
                    all_ += y * y
                    rk += x
                    rl += y
                    rowpart[t, 1, k] += x
                    rowpart[t, 3, k] += y
                rowpart[t, 0, i] += rk
                rowpart[t, 2, i] += rl
                skl += akl
                skk += akk
                sll += all_
        tile_sums[t, 0] = 2.0 * skl
        tile_sums[t, 1] = 2.0 * skk
        tile_sums[t, 2] = 2.0 * sll


# --------------------------------------------------------------------------------------------- site pass
@numba.njit(
    "void(float64[::1], " + _TILES + ", int64, float64[::1], float64, float64[::1], float64, "
    "float64[::1], float64[:, :, ::1], float64[::1])",
    parallel=True,
    **_KW,
)
def site_pass(K, ti0, tj0, tr, tc, toff, tstr, kind, vec, s, a, c, tile_sums, rowpart, diag):
    """One Gram alone: tile_sums[t] = Σ e² over the tile's off-diagonal entries (both triangles); rowpart[t]
    (zeroed by the caller, shape (2, T)) = off-diagonal row sums for the tile's rows (0) and columns (1);
    diag[i] = e_ii."""
    nt = ti0.shape[0]
    for t in prange(nt):
        i0, j0, r, cc, off, st = ti0[t], tj0[t], tr[t], tc[t], toff[t], tstr[t]
        e = np.empty(cc)
        skk = 0.0
        if i0 == j0:
            for i in range(r):
                ig = i0 + i
                base = off + i * st
                diag[ig] = _diag_entry(kind, K[base + i], ig, vec, s, a, c)
                m = cc - i - 1
                if m <= 0:
                    continue
                _row_entries(kind, K, base + i + 1, m, ig, j0 + i + 1, vec, s, a, c, e)
                akk = 0.0
                rk = 0.0
                for k in range(m):
                    x = e[k]
                    akk += x * x
                    rk += x
                    rowpart[t, 0, i + 1 + k] += x
                rowpart[t, 0, i] += rk
                skk += akk
        else:
            for i in range(r):
                ig = i0 + i
                base = off + i * st
                _row_entries(kind, K, base, cc, ig, j0, vec, s, a, c, e)
                akk = 0.0
                rk = 0.0
                for k in range(cc):
                    x = e[k]
                    akk += x * x
                    rk += x
                    rowpart[t, 1, k] += x
                rowpart[t, 0, i] += rk
                skk += akk
        tile_sums[t] = 2.0 * skk


@numba.njit("void(float64[:, :, ::1], " + _TILES + ", float64[:, ::1])", **_KW)
def reduce_rows(rowpart, ti0, tj0, tr, tc, toff, tstr, out):
    """out[s] += the row sums of site s (rowpart[:, 2s] for the tiles' rows, rowpart[:, 2s+1] for their
    columns), in tile order (deterministic)."""
    nsite = out.shape[0]
    for t in range(ti0.shape[0]):
        i0, j0, r, cc = ti0[t], tj0[t], tr[t], tc[t]
        for s in range(nsite):
            for i in range(r):
                out[s, i0 + i] += rowpart[t, 2 * s, i]
            if i0 != j0:
                for k in range(cc):
                    out[s, j0 + k] += rowpart[t, 2 * s + 1, k]


# --------------------------------------------------------------------------------------------- layout helpers
@numba.njit("void(float64[::1], " + _TILES + ", float64[::1])", **_KW)
def gram_diagonal(G, ti0, tj0, tr, tc, toff, tstr, out):
    """out[i] = G_ii."""
    for t in range(ti0.shape[0]):
        if ti0[t] == tj0[t]:
            st = tstr[t]
            for i in range(tr[t]):
                out[ti0[t] + i] = G[toff[t] + i * st + i]


@numba.njit("void(float64[::1], " + _TILES + ", float64[:, ::1])", parallel=True, **_KW)
def unpack(G, ti0, tj0, tr, tc, toff, tstr, out):
    """The full symmetric n × n matrix (both triangles) from the tile-packed buffer."""
    for t in prange(ti0.shape[0]):
        i0, j0, r, cc, off, st = ti0[t], tj0[t], tr[t], tc[t], toff[t], tstr[t]
        for i in range(r):
            k0 = i if i0 == j0 else 0
            for k in range(k0, cc):
                v = G[off + i * st + k]
                out[i0 + i, j0 + k] = v
                out[j0 + k, i0 + i] = v


# --------------------------------------------------------------------------------------------- RDMs (docs/math.md §8)
@numba.njit(
    "void(float64[::1], " + _TILES + ", int64, float64[::1], float64[::1], float64[::1], float64[::1], float64, "
    "float64, float64[::1])",
    parallel=True,
    **_KW,
)
def condensed_rdm(G, ti0, tj0, tr, tc, toff, tstr, kind, g, u, t, a, h, scale, out):
    """The condensed upper triangle (``scipy.spatial.distance.pdist`` order: (0,1), (0,2), …, (n−2,n−1)) of an
    RDM of the samples, from the stored centred Gram G (diagonal g):

        D_ij = g_i + g_j − 2G_ij − h·(u_i − u_j)²              (h > 0: distances of row-centred samples)
        kind 0: out = scale · D_ij                             (squared Euclidean)
        kind 1: out = (D_ij − δ²) / (2 a_i a_j),  δ = (t_i − t_j)/(a_i + a_j)   (1 − cosine of the samples)

    with a the samples' norms and t their squared norms less a common constant (t_i − t_j = a_i² − a_j² without
    the cancellation of two large squared norms): 2a_i a_j(1 − cos) = ‖x_i − x_j‖² − (a_i − a_j)²."""
    n = g.shape[0]
    for tt in prange(ti0.shape[0]):
        i0, j0, r, cc, off, st = ti0[tt], tj0[tt], tr[tt], tc[tt], toff[tt], tstr[tt]
        for i in range(r):
            k0 = i + 1 if i0 == j0 else 0
            for k in range(k0, cc):
                p = min(i0 + i, j0 + k)
                q = max(i0 + i, j0 + k)
                du = u[p] - u[q]
                d = (g[p] + g[q]) - 2.0 * G[off + i * st + k] - h * (du * du)
                if kind == 0:
                    e = scale * d
                else:
                    dl = (t[p] - t[q]) / (a[p] + a[q])
                    e = (d - dl * dl) / (2.0 * a[p] * a[q])
                out[p * n - (p * (p + 1)) // 2 + (q - p - 1)] = e



# --------------------------------------------------------------------------------------------- squared distances
# D_ij = g_i + g_j − 2 G_ij over the off-diagonal upper triangle (i < j), the same expression as in _row_entries,
# so the bandwidth's median is an exact order statistic of the values the RBF tiles use.


@numba.njit("void(float64[::1], " + _TILES + ", float64[::1], float64[:, ::1], int64[:, ::1])", parallel=True, **_KW)
def offdiag_scan(G, ti0, tj0, tr, tc, toff, tstr, g, ext, cnt):
    """Per tile t: ext[t] = (min, max) of its off-diagonal D values (+inf, −inf when it has none) and
    cnt[t] = (#D < 0, #D <= 0) (a few D are slightly negative by rounding for near-duplicate samples)."""
    for t in prange(ti0.shape[0]):
        i0, j0, r, cc, off, st = ti0[t], tj0[t], tr[t], tc[t], toff[t], tstr[t]
        lo = np.inf
        hi = -np.inf
        neg = 0
        nonpos = 0
        for i in range(r):
            gi = g[i0 + i]
            k0 = i + 1 if i0 == j0 else 0
            for k in range(k0, cc):
                d = (gi + g[j0 + k]) - 2.0 * G[off + i * st + k]
                lo = min(lo, d)
                hi = max(hi, d)
                if d <= 0.0:
                    nonpos += 1
                    if d < 0.0:
                        neg += 1
        ext[t, 0] = lo
        ext[t, 1] = hi
        cnt[t, 0] = neg
        cnt[t, 1] = nonpos


@numba.njit(inline="always")
def _bin(d, lo, scale, nbins):
    b = int((d - lo) * scale)
    return nbins - 1 if b >= nbins else b


@numba.njit(
    "void(float64[::1], " + _TILES + ", float64[::1], float64, float64, float64, int64[:, ::1])",
    parallel=True,
    **_KW,
)
def offdiag_histogram(G, ti0, tj0, tr, tc, toff, tstr, g, lo, hi, scale, counts):
    """Histogram of the D values in [lo, hi]: bin = min(nbins − 1, int((D − lo)·scale)), monotone in D, so a bin
    holds an interval of the sorted values. Chunk c (prange) handles the tiles t ≡ c (mod nchunks) into counts[c]
    (zeroed by the caller); the counts do not depend on the number of chunks."""
    nchunk, nbins = counts.shape[0], counts.shape[1]
    nt = ti0.shape[0]
    for ch in prange(nchunk):
        for t in range(ch, nt, nchunk):
            i0, j0, r, cc, off, st = ti0[t], tj0[t], tr[t], tc[t], toff[t], tstr[t]
            for i in range(r):
                gi = g[i0 + i]
                k0 = i + 1 if i0 == j0 else 0
                for k in range(k0, cc):
                    d = (gi + g[j0 + k]) - 2.0 * G[off + i * st + k]
                    if d >= lo and d <= hi:
                        counts[ch, _bin(d, lo, scale, nbins)] += 1


@numba.njit(
    "int64(float64[::1], " + _TILES + ", float64[::1], float64, float64, float64, int64, int64, int64, "
    "float64[::1])",
    **_KW,
)
def offdiag_collect(G, ti0, tj0, tr, tc, toff, tstr, g, lo, hi, scale, nbins, b0, b1, out):
    """Write the D values in [lo, hi] whose bin (as in offdiag_histogram) is in [b0, b1] into out, in tile order;
    return how many there were (only the first out.size are written)."""
    cnt = 0
    cap = out.shape[0]
    for t in range(ti0.shape[0]):
        i0, j0, r, cc, off, st = ti0[t], tj0[t], tr[t], tc[t], toff[t], tstr[t]
        for i in range(r):
            gi = g[i0 + i]
            k0 = i + 1 if i0 == j0 else 0
            for k in range(k0, cc):
                d = (gi + g[j0 + k]) - 2.0 * G[off + i * st + k]
                if d >= lo and d <= hi:
                    b = _bin(d, lo, scale, nbins)
                    if b >= b0 and b <= b1:
                        if cnt < cap:
                            out[cnt] = d
                        cnt += 1
    return cnt


@numba.njit(
    "void(float64[::1], " + _TILES + ", float64[::1], float64, float64, float64, int64, int64, int64, int64[::1], "
    "float64[::1])",
    parallel=True,
    **_KW,
)
def offdiag_collect_chunks(G, ti0, tj0, tr, tc, toff, tstr, g, lo, hi, scale, nbins, b0, b1, starts, out):
    """Parallel offdiag_collect with the chunks of offdiag_histogram: chunk c (tiles t ≡ c mod nchunks) writes its
    values with bin in [b0, b1] to out[starts[c]:], starts being the prefix sums of its histogram counts."""
    nchunk = starts.shape[0]
    nt = ti0.shape[0]
    for ch in prange(nchunk):
        pos = starts[ch]
        for t in range(ch, nt, nchunk):
            i0, j0, r, cc, off, st = ti0[t], tj0[t], tr[t], tc[t], toff[t], tstr[t]
            for i in range(r):
                gi = g[i0 + i]
                k0 = i + 1 if i0 == j0 else 0
                for k in range(k0, cc):
                    d = (gi + g[j0 + k]) - 2.0 * G[off + i * st + k]
                    if d >= lo and d <= hi:
                        b = _bin(d, lo, scale, nbins)
                        if b >= b0 and b <= b1:
                            out[pos] = d
                            pos += 1


@numba.njit(
    "void(float64[::1], " + _TILES + ", float64[::1], float64, float64, float64, int64, int64, float64[::1])",
    **_KW,
)
def offdiag_bin_range(G, ti0, tj0, tr, tc, toff, tstr, g, lo, hi, scale, nbins, b, out):
    """out = (min, max) of the D values in [lo, hi] that fall into bin b."""
    mn = np.inf
    mx = -np.inf
    for t in range(ti0.shape[0]):
        i0, j0, r, cc, off, st = ti0[t], tj0[t], tr[t], tc[t], toff[t], tstr[t]
        for i in range(r):
            gi = g[i0 + i]
            k0 = i + 1 if i0 == j0 else 0
            for k in range(k0, cc):
                d = (gi + g[j0 + k]) - 2.0 * G[off + i * st + k]
                if d >= lo and d <= hi and _bin(d, lo, scale, nbins) == b:
                    mn = min(mn, d)
                    mx = max(mx, d)
    out[0] = mn
    out[1] = mx


def select_offdiag(G, tiles, g, ranks, ext, nbins: int = 1 << 16, cap: int = 1 << 18, nchunks: int = 1) -> list:
    """The order statistics ``ranks`` (0-based, ascending order) of the m off-diagonal upper values D_ij (i < j),
    exactly, without storing them: one histogram pass narrows [lo, hi] (O(nbins) memory), then the values of the
    bins holding the wanted ranks (at most ``cap``) are collected and selected with ``np.partition``; a bin with
    more than ``cap`` values is narrowed again. ``ext`` = (min, max, m) from :func:`offdiag_scan`."""
    lo0, hi0, m = float(ext[0]), float(ext[1]), int(ext[2])
    out = {}
    # groups of ranks that share a search interval: (lo, hi, values below lo, values in [lo, hi], ranks)
    todo = [(lo0, hi0, 0, m, sorted(set(int(k) for k in ranks)))]
    while todo:
        lo, hi, below, inside, ks = todo.pop()
        if lo == hi:
            out.update({k: lo for k in ks})
            continue
        scale = nbins / (hi - lo)
        if inside <= cap or not np.isfinite(scale):
            scale = 1.0 if not np.isfinite(scale) else scale
            buf = np.empty(inside)
            got = offdiag_collect(G, *tiles, g, lo, hi, scale, nbins, 0, nbins - 1, buf)
            if got != inside:  # pragma: no cover - would mean that two passes disagree
                raise RuntimeError(f"selection: collected {got} values, expected {inside}")
            idx = [k - below for k in ks]
            part = np.partition(buf, idx)
            out.update({k: float(part[i]) for k, i in zip(ks, idx)})
            continue
        counts = np.zeros((nchunks, nbins), dtype=np.int64)
        offdiag_histogram(G, *tiles, g, lo, hi, scale, counts)
        c = counts.sum(axis=0)
        cum = np.cumsum(c)
        bins = {}
        for k in ks:
            bins.setdefault(int(np.searchsorted(cum, k - below, side="right")), []).append(k)
        order = sorted(bins)
        span_count = int(cum[order[-1]] - (cum[order[0] - 1] if order[0] > 0 else 0))
        if span_count <= cap and order[-1] - order[0] <= 1:  # adjacent bins (a median): one collecting pass
            b0, b1 = order[0], order[-1]
            per_chunk = counts[:, b0:b1 + 1].sum(axis=1)
            starts = np.concatenate([[0], np.cumsum(per_chunk)[:-1]]).astype(np.int64)
            buf = np.empty(span_count)
            offdiag_collect_chunks(G, *tiles, g, lo, hi, scale, nbins, b0, b1, starts, buf)
            base = below + (int(cum[b0 - 1]) if b0 > 0 else 0)
            idx = [k - base for k in ks]
            part = np.partition(buf, idx)
            out.update({k: float(part[i]) for k, i in zip(ks, idx)})
            continue
        for b, kb in bins.items():
            base = below + (int(cum[b - 1]) if b > 0 else 0)
            rng = np.empty(2)
            offdiag_bin_range(G, *tiles, g, lo, hi, scale, nbins, b, rng)
            todo.append((float(rng[0]), float(rng[1]), base, int(c[b]), kb))
    return [out[int(k)] for k in ranks]
