"""Gram space (docs/math.md §4): ``GramMoments``, an n × n Gram per site accumulated over *feature* blocks.

Feature space (``Moments``) keeps (Σp)² statistics and streams samples; Gram space keeps one n × n Gram per site
and streams features (channels, spatial blocks of a conv map, shards of a wide layer). It is the right space when
the layers are much wider than the number of samples (p + q > ~1.5 n, :func:`choose_space`) and it is the only
space for kernel methods such as RBF CKA.

Each block X_J (all n rows, some columns) is converted to float64 and column-centred exactly (its own means, with
a refinement pass), and K += X̄_J X̄_Jᵀ is added in place with BLAS, one DGEMM per strip of T columns, into a
strip-packed symmetric float64 buffer of n(n+1)/2 + O(n·T) words (layout: repsim/_kernels/numba_gram.py).
Because K = Σ_J X̄_J X̄_Jᵀ is a plain sum over blocks, shards of the features merge by addition (:meth:`merge`).
Alongside K each site keeps v = Σ_J X̄_J μ_J and m = Σ_J |μ_J|², so the uncentred Gram K + v1ᵀ + 1vᵀ + m11ᵀ is
exact too (uncentred RV / RV2), without ever subtracting large numbers.

Metrics come from one fused Numba pass over the tiles of a pair of Grams (``_kernels.numba_gram.pair_pass``):
S_KL = Σ_{i≠j} K_ij L_ij, S_KK, S_LL with the diagonal masked inside each tile, the off-diagonal row sums and the
diagonals. Then (docs/math.md §4)

    CKA  = (S_KL + d_K·d_L) / √((S_KK + |d_K|²)(S_LL + |d_L|²))         (K, L from centred features)
    RV2  = S_KL / √(S_KK S_LL)
    n(n−3)·HSIC₁ = S_KL + (1ᵀK̃1)(1ᵀL̃1)/((n−1)(n−2)) − 2/(n−2)·r̃_K·r̃_L,  r̃ = off-diagonal row sums

RBF CKA: D_ij = G_ii + G_jj − 2G_ij from the linear Gram of centred features, K = exp(−D/(2σ²)) formed tile by
tile, centred on the fly (H K H, or Székely–Rizzo U-centring for the debiased form) from a first pass's row sums.
No n × n matrix other than the stored Grams is ever formed.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.linalg import blas

from . import _validation
from ._engines import default_threads

# Strip width / tile side of the packed Gram storage (n itself when n is smaller).
TILE = 512
# Column-chunk size (elements) in which a feature block is converted to float64 and centred (64 MiB), and the
# fewest columns per chunk.
CHUNK_ELEMENTS = 1 << 23
MIN_CHUNK_COLUMNS = 1024
# Gram space is chosen automatically when p + q > GRAM_RATIO · n (docs/math.md §4, crossover rule).
GRAM_RATIO = 1.5
# Largest accepted |centred activation|² · features of one block: Gram entries are squared in the sums.
MAX_BLOCK_NORM = 1e150

BANDWIDTHS = ("median", "median_lower", "median_offdiag", "fixed")
KERNELS = ("linear", "rbf")
SPACES = ("auto", "feature", "gram")

# Metrics that have a Gram-space form, and those that do not (docs/math.md §4: feature space only).
GRAM_METRICS = ("cka", "debiased_cka", "rv", "rv2", "rbf_cka", "debiased_rbf_cka")
FEATURE_ONLY_METRICS = (
    "cca", "cca_r2", "svcca", "pwcca", "procrustes", "affine_map", "max_match", "match_curve", "simple_matches",
)


def gram_form_error(metric: str) -> ValueError:
    """The error for a metric asked for in Gram space that has no Gram-space form here."""
    return ValueError(
        f"metric {metric!r} has no Gram-space form in repsim (Gram space supports {list(GRAM_METRICS)}): the CCA "
        "family, Procrustes, affine maps and neuron matches need the feature-space statistics; use "
        "repsim.Moments (space='feature') for it"
    )


# ============================================================================================ crossover rule


def gram_nbytes(n: int, sites: int = 2, tile: int | None = None) -> int:
    """Bytes of the packed float64 Grams of ``sites`` sites of n samples (n(n+1)/2 words + tile padding each)."""
    n = int(n)
    T = _tile_side(n, tile)
    return int(sites) * 8 * sum(min(T, n - c0) * (n - c0) for c0 in range(0, n, T))


def available_memory() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (Linux), else None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def choose_space(n: int, widths: Sequence[int], space: str = "auto", *, full_columns: bool = True,
                 memory_limit: int | None = None) -> str:
    """Feature or Gram space for linear metrics of sites with ``widths`` features on n samples (docs/math.md §4).

    ``space="auto"`` picks ``"gram"`` only if all of these hold: Σp > GRAM_RATIO·n (1.5 n); the samples come as
    full-column blocks (``full_columns``; true for arrays, false for sample streams and sharded samples); and the
    packed Grams (8 bytes · n(n+1)/2 per site) fit in ``memory_limit`` (default: half of the available memory,
    2 GiB when that is unknown). Otherwise ``"feature"``. ``"feature"`` and ``"gram"`` are returned as given.
    """
    if space not in SPACES:
        raise ValueError(f"space must be one of {list(SPACES)}, got {space!r}")
    if space != "auto":
        return space
    if not full_columns or sum(int(w) for w in widths) <= GRAM_RATIO * n:
        return "feature"
    if memory_limit is None:
        avail = available_memory()
        memory_limit = avail // 2 if avail else 2 << 30
    return "gram" if gram_nbytes(n, len(widths)) <= memory_limit else "feature"


# ============================================================================================ tile layout


@dataclass(frozen=True)
class _Tiles:
    """Strip-packed layout (repsim/_kernels/numba_gram.py): column strips of width T, and the square tiles the
    kernels iterate over."""

    n: int
    T: int
    ti0: np.ndarray
    tj0: np.ndarray
    tr: np.ndarray
    tc: np.ndarray
    toff: np.ndarray
    tstr: np.ndarray
    strips: tuple  # (first column, width, offset) per strip
    size: int

    @staticmethod
    def make(n: int, tile: int | None = None) -> "_Tiles":
        T = _tile_side(n, tile)
        ti0, tj0, tr, tc, toff, tstr, strips = [], [], [], [], [], [], []
        off = 0
        for c0 in range(0, n, T):
            w = min(T, n - c0)
            strips.append((c0, w, off))
            for r0 in range(c0, n, T):  # tile rows r0 … of this strip: a C-ordered block with row stride w
                ti0.append(r0), tj0.append(c0), tr.append(min(T, n - r0)), tc.append(w)
                toff.append(off + (r0 - c0) * w), tstr.append(w)
            off += (n - c0) * w
        arr = lambda v: np.asarray(v, dtype=np.int64)  # noqa: E731
        return _Tiles(n, T, arr(ti0), arr(tj0), arr(tr), arr(tc), arr(toff), arr(tstr), tuple(strips), off)

    @property
    def arrays(self):
        return self.ti0, self.tj0, self.tr, self.tc, self.toff, self.tstr

    @property
    def count(self) -> int:
        return int(self.ti0.shape[0])


def _tile_side(n: int, tile: int | None) -> int:
    return max(1, min(int(tile) if tile else TILE, n))


def _kernels():
    from ._kernels import numba_gram

    return numba_gram


# Below this many Gram entries a pass runs on one thread: waking a thread team (and, on a busy machine, competing
# with the BLAS threads that still spin after the accumulation) costs more than the pass.
PARALLEL_MIN_ENTRIES = 1 << 20


class _threads:
    """Context manager: numba's thread count for the current thread, restored on exit (docs/contributing.md rule 3).

    Uses at most ``n_threads``, at most one thread per tile, and one thread for Grams under PARALLEL_MIN_ENTRIES.
    """

    def __init__(self, n_threads: int, tiles: "_Tiles | None" = None):
        import numba

        self._numba = numba
        want = int(n_threads)
        if tiles is not None:
            want = min(want, tiles.count) if tiles.n * tiles.n >= PARALLEL_MIN_ENTRIES else 1
        self._want = max(1, min(want, numba.config.NUMBA_NUM_THREADS))

    def __enter__(self):
        self._old = self._numba.get_num_threads()
        self._numba.set_num_threads(self._want)
        return self

    def __exit__(self, *exc):
        self._numba.set_num_threads(self._old)


# ============================================================================================ results


@dataclass(frozen=True)
class GramPairSums:
    """The fused off-diagonal sums of one pair of (transformed) Grams K, L (docs/math.md §4).

    s_kl, s_kk, s_ll : Σ_{i≠j} K_ij L_ij, Σ_{i≠j} K_ij², Σ_{i≠j} L_ij²
    r_k, r_l : off-diagonal row sums Σ_{j≠i} K_ij (length n)
    d_k, d_l : diagonals
    """

    n: int
    s_kl: float
    s_kk: float
    s_ll: float
    r_k: np.ndarray
    r_l: np.ndarray
    d_k: np.ndarray
    d_l: np.ndarray

    def cka(self) -> tuple[float, float, float]:
        """(⟨K, L⟩, ⟨K, K⟩, ⟨L, L⟩) with the diagonal included: CKA / RV numerator and self terms."""
        return (self.s_kl + float(self.d_k @ self.d_l), self.s_kk + float(self.d_k @ self.d_k),
                self.s_ll + float(self.d_l @ self.d_l))

    def rv2(self) -> tuple[float, float, float]:
        return self.s_kl, self.s_kk, self.s_ll

    def swapped(self) -> GramPairSums:
        """The same sums for the pair (L, K)."""
        return GramPairSums(self.n, self.s_kl, self.s_ll, self.s_kk, self.r_l, self.r_k, self.d_l, self.d_k)

    def hsic1_scaled(self) -> tuple[float, float, float]:
        """n(n−3)·HSIC₁ for (K,L), (K,K), (L,L) by Song's formula with the masked sums."""
        n = self.n
        a, b = 1.0 / ((n - 1.0) * (n - 2.0)), 2.0 / (n - 2.0)
        sk, sl = float(self.r_k.sum()), float(self.r_l.sum())
        kl = self.s_kl + sk * sl * a - b * float(self.r_k @ self.r_l)
        kk = self.s_kk + sk * sk * a - b * float(self.r_k @ self.r_k)
        ll = self.s_ll + sl * sl * a - b * float(self.r_l @ self.r_l)
        return kl, kk, ll


# ============================================================================================ accumulator


class GramMoments:
    """Per-site n × n Gram matrices of column-centred features, accumulated over feature blocks (docs/math.md §4).

    Every update gives, for some sites, a block of *columns* for all n samples; the Gram of a site is the sum of
    its blocks' Grams, so a wide layer can be streamed channel block by channel block (or spatial block by
    spatial block) and shards of the features computed on different workers are combined by :meth:`merge`
    (or an all-reduce SUM of :meth:`packed`). Samples cannot be streamed or sharded here: use
    :class:`repsim.Moments` for that.

    Parameters
    ----------
    n : int
        Number of samples; every block has exactly n rows, in the same order.
    sites : sequence of str, optional
        Declare the sites up front (then the first update may give any of them). By default the first update
        fixes the sites; every later update gives a non-empty subset of them.
    n_threads : int, optional
        Threads of the Numba passes (default: the number of cores, at most 8); numba's global setting is
        restored after each pass. BLAS threads are BLAS's own.
    tile : int, optional
        Strip width / tile side of the packed storage (default 512).

    Memory: 8·n(n+1)/2 bytes (+ tile padding) per site, independent of the number of features.

    Examples
    --------
    >>> import numpy as np, repsim
    >>> from repsim.gram import GramMoments
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(100, 3000)), rng.normal(size=(100, 2000))
    >>> g = GramMoments(100, sites=["x", "y"])
    >>> for j in range(0, 3000, 1000):            # stream X's channels in blocks
    ...     _ = g.update_features({"x": X[:, j:j + 1000]})
    >>> _ = g.update_features({"y": Y[:, :1000]}).update_features({"y": Y[:, 1000:]})
    >>> g.dims
    {'x': 3000, 'y': 2000}
    >>> abs(g.cka("x", "y") - repsim.cka(X, Y, space="feature")) < 1e-12
    True
    """

    def __init__(self, n: int, *, sites: Sequence[str] | None = None, n_threads: int | None = None,
                 tile: int | None = None):
        n = _validation.positive_int(n, "n", " (the number of samples)")
        n_threads = _validation.positive_int(default_threads() if n_threads is None else n_threads, "n_threads")
        if tile is not None:
            tile = _validation.positive_int(tile, "tile")
        self._n = n
        self._n_threads = n_threads
        self._tiles = _Tiles.make(self._n, tile)
        self._sites: tuple[str, ...] | None = None
        self._buf: dict[str, np.ndarray] = {}
        self._v: dict[str, np.ndarray] = {}
        self._m: dict[str, float] = {}
        self._p: dict[str, int] = {}
        self._blocks = 0
        self._cache: dict = {}
        if sites is not None:
            self._declare(sites)

    def _declare(self, sites):
        sites = _validation.name_tuple(sites, "sites", "site")
        self._sites = sites
        for s in sites:
            self._buf[s] = np.zeros(self._tiles.size)
            self._v[s] = np.zeros(self._n)
            self._m[s] = 0.0
            self._p[s] = 0

    # ------------------------------------------------------------------ state
    @property
    def n(self) -> int:
        """Number of samples."""
        return self._n

    @property
    def sites(self) -> tuple[str, ...]:
        return self._sites or ()

    @property
    def dims(self) -> dict[str, int]:
        """Number of features accumulated so far, per site."""
        return {s: self._p[s] for s in self.sites}

    @property
    def blocks(self) -> int:
        """Number of ``update_features`` calls that added features."""
        return self._blocks

    @property
    def tile(self) -> int:
        return self._tiles.T

    @property
    def nbytes(self) -> int:
        """Bytes held by the Grams and their centring vectors."""
        return sum(b.nbytes for b in self._buf.values()) + sum(v.nbytes for v in self._v.values())

    def __repr__(self) -> str:
        if not self._sites:
            return f"GramMoments(n={self._n}, empty)"
        dims = ", ".join(f"{s}={p}" for s, p in self.dims.items())
        return f"GramMoments(n={self._n}, sites: {dims}; {self.nbytes / 2**20:.1f} MiB)"

    # ------------------------------------------------------------------ accumulation
    def update_features(self, features: Mapping[str, object]) -> "GramMoments":
        """Add a block of feature columns for one or more sites.

        Parameters
        ----------
        features : mapping of str to array of shape (n, p_block)
            All n samples (rows, in the fixed order) and some columns of each named site: NumPy arrays or CPU
            torch tensors of float16/32/64. Each block is converted to float64 and centred on its own column means
            before K += X̄X̄ᵀ, so blocks of one site may have any widths and come in any order.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            A block without exactly n rows or without columns, NaN/Inf values (site, block, row and column named),
            an unknown site, or activations so large that the Gram entries could overflow when squared.
        TypeError
            Not a mapping of str to floating-point 2-D arrays.
        """
        blk = self._blocks
        _validation.check_site_mapping(features, f"block {blk}", "update_features()", "(n, p_block) array")
        if self._sites is not None:
            unknown = [k for k in features if k not in self._sites]
            if unknown:
                raise ValueError(
                    f"block {blk}: unknown site(s) {unknown}; the sites are fixed by the first update: "
                    f"{list(self._sites)} (declare them with GramMoments(n, sites=[...]))"
                )
        arrays = {}
        means = {}
        for s, value in features.items():
            where = f"site {s!r} (block {blk})"
            a = _validation.as_float_matrix(value, where)
            if a.shape[0] != self._n:
                raise ValueError(
                    f"{where}: expected {self._n} rows (all samples; GramMoments streams feature blocks, not "
                    f"samples), got shape {tuple(a.shape)}"
                )
            if a.shape[1] == 0:
                raise ValueError(f"{where}: has no features (shape {tuple(a.shape)})")
            mu = np.mean(a, axis=0, dtype=np.float64)
            if not np.isfinite(mu).all():
                bad = _validation.first_nonfinite(a)
                if bad is not None:
                    raise ValueError(f"{where}: {bad}; activations must be finite")
                raise ValueError(f"{where}: column sums overflow float64; rescale the activations")
            amax = max(abs(float(a.max())), abs(float(a.min())))
            if (2.0 * amax) ** 2 * a.shape[1] > MAX_BLOCK_NORM:
                raise ValueError(
                    f"{where}: values up to {amax:.3g} are too large for float64 Gram sums (squared row norms "
                    f"could exceed {MAX_BLOCK_NORM:g}); rescale the activations (the metrics are scale invariant)"
                )
            arrays[s], means[s] = a, mu
        if self._sites is None:
            self._declare(list(arrays))
        for s, a in arrays.items():
            self._add_block(s, a, means[s])
        self._blocks += 1
        self._cache.clear()
        return self

    def _add_block(self, site: str, a: np.ndarray, mu: np.ndarray) -> None:
        n, p = a.shape
        buf, v = self._buf[site], self._v[site]
        # Columns per float64 chunk: at most CHUNK_ELEMENTS entries, but at least MIN_CHUNK_COLUMNS (the GEMMs'
        # inner dimension: smaller is memory-bound), in equal chunks.
        width = min(p, max(MIN_CHUNK_COLUMNS, CHUNK_ELEMENTS // n))
        chunks = -(-p // width)
        width = -(-p // chunks)
        for c0 in range(0, p, width):
            x = np.asarray(a[:, c0:c0 + width], dtype=np.float64)
            xc = x - mu[c0:c0 + width]
            delta = xc.mean(axis=0)  # refinement: removes the rounding of the first mean
            xc -= delta
            xc = np.ascontiguousarray(xc)
            mu_eff = mu[c0:c0 + width] + delta
            self._accumulate(buf, xc)
            # v += xc μ with SciPy's BLAS, like the Gram update: NumPy's and SciPy's wheels each bring an OpenBLAS
            # whose idle threads spin for a while after a call; alternating the two pools stalls both.
            v += blas.dgemv(1.0, xc.T, mu_eff, trans=1)
            self._m[site] += float(np.sum(mu_eff * mu_eff))
        self._p[site] += p

    def _accumulate(self, buf: np.ndarray, xc: np.ndarray) -> None:
        """buf += the strips of xc xcᵀ (xc C-contiguous float64, n × w), in place, one BLAS call per strip.

        A strip holds K[c0:, c0:c0+w] as a C-ordered (h, w) block, i.e. the Fortran-ordered (w, h) matrix
        K[c0:c0+w, c0:], which DGEMM updates in place (M = w, N = h). Its diagonal block is computed whole (both
        triangles, a fraction T/n of extra flops): one large GEMM runs faster than a small SYRK plus a GEMM. The
        last strip, which is only its diagonal block, uses DSYRK.
        """
        n = self._n
        for c0, w, off in self._tiles.strips:
            h = n - c0
            S = buf[off:off + h * w].reshape(h, w).T
            XI = xc[c0:c0 + w]
            if h == w:  # upper triangle of the C-ordered tile = lower triangle of S
                out = blas.dsyrk(1.0, XI.T, beta=1.0, c=S, trans=1, lower=1, overwrite_c=1)
            else:
                out = blas.dgemm(1.0, XI.T, xc[c0:].T, beta=1.0, c=S, trans_a=1, trans_b=0, overwrite_c=1)
            if not np.shares_memory(out, buf):  # pragma: no cover - guards a BLAS wrapper change
                raise RuntimeError("BLAS did not update the Gram buffer in place")

    def merge(self, other: "GramMoments") -> "GramMoments":
        """Add the Grams of ``other`` (another shard of the *features* of the same samples), in place.

        Both must have the same n, tile and sites. The result equals one accumulator fed with both shards'
        blocks. (Shards of the samples cannot be merged in Gram space: the cross blocks K_IJ need both.)
        """
        if not isinstance(other, GramMoments):
            raise TypeError(f"other must be a GramMoments, got {type(other).__name__}")
        if other._n != self._n:
            raise ValueError(
                f"cannot merge GramMoments of different sample counts: n={self._n} vs n={other._n} (Gram space "
                "merges shards of the features of the same samples)"
            )
        if other._tiles.T != self._tiles.T:
            raise ValueError(f"cannot merge GramMoments with different tiles: {self._tiles.T} vs {other._tiles.T}")
        if other._sites is None:
            return self
        if self._sites is None:
            self._declare(other._sites)
        elif set(self._sites) != set(other._sites):
            raise ValueError(
                f"cannot merge GramMoments with different sites: {list(self._sites)} vs {list(other._sites)}"
            )
        for s in other._sites:
            self._buf[s] += other._buf[s]
            self._v[s] += other._v[s]
            self._m[s] += other._m[s]
            self._p[s] += other._p[s]
        self._blocks += other._blocks
        self._cache.clear()
        return self

    def copy(self) -> "GramMoments":
        other = GramMoments(self._n, n_threads=self._n_threads, tile=self._tiles.T)
        if self._sites is not None:
            other._declare(self._sites)
            other.merge(self)
        return other

    def packed(self, site: str) -> np.ndarray:
        """A read-only view of the site's tile-packed Gram buffer (for an all-reduce SUM across feature shards:
        reduce into a copy, together with ``dims``)."""
        self._check_site(site)
        view = self._buf[site].view()
        view.setflags(write=False)
        return view

    # ------------------------------------------------------------------ inspection
    def gram(self, site: str, center: bool = True) -> np.ndarray:
        """The full n × n Gram of a site (materialised: 8n² bytes): K = X̄X̄ᵀ of the column-centred features, or
        the raw XXᵀ with ``center=False``."""
        self._check_site(site, need_data=True)
        out = np.empty((self._n, self._n))
        with _threads(self._n_threads, self._tiles):
            _kernels().unpack(self._buf[site], *self._tiles.arrays, out)
        if not center:
            v = self._v[site]
            out += v[:, None]
            out += v[None, :]
            out += self._m[site]
        return out

    def diagonal(self, site: str) -> np.ndarray:
        """diag(K) of the centred Gram: squared norms of the centred samples."""
        self._check_site(site, need_data=True)
        out = np.empty(self._n)
        _kernels().gram_diagonal(self._buf[site], *self._tiles.arrays, out)
        return out

    # ------------------------------------------------------------------ the fused passes
    def _linear_params(self, site: str, center: bool):
        if center:
            return (0, np.zeros(self._n), 0.0, np.zeros(self._n), 0.0)
        return (0, self._v[site], self._m[site], np.zeros(self._n), 0.0)

    def _pair_pass(self, x: str, y: str, px, py) -> GramPairSums:
        k = _kernels()
        T = self._tiles
        kinds = np.array([px[0], py[0]], dtype=np.int64)
        vecs = np.ascontiguousarray(np.stack([px[1], py[1]]), dtype=np.float64)
        scal = np.array([px[2], px[4], py[2], py[4]], dtype=np.float64)
        avec = np.ascontiguousarray(np.stack([px[3], py[3]]), dtype=np.float64)
        tile_sums = np.empty((T.count, 3))
        rowpart = np.zeros((T.count, 4, T.T))
        diag = np.empty((2, self._n))
        rows = np.zeros((2, self._n))
        with _threads(self._n_threads, self._tiles):
            k.pair_pass(self._buf[x], self._buf[y], *T.arrays, kinds, vecs, scal, avec, tile_sums, rowpart, diag)
        k.reduce_rows(rowpart, *T.arrays, rows)
        s = tile_sums.sum(axis=0)
        return GramPairSums(self._n, float(s[0]), float(s[1]), float(s[2]), rows[0], rows[1], diag[0], diag[1])

    def _site_pass(self, site: str, params):
        """(Σ_{i≠j} e², off-diagonal row sums, diagonal) of one transformed Gram."""
        k = _kernels()
        T = self._tiles
        kind, vec, s, a, c = params
        tile_sums = np.empty(T.count)
        rowpart = np.zeros((T.count, 2, T.T))
        diag = np.empty(self._n)
        rows = np.zeros((1, self._n))
        with _threads(self._n_threads, self._tiles):
            k.site_pass(self._buf[site], *T.arrays, int(kind), np.ascontiguousarray(vec, dtype=np.float64),
                        float(s), np.ascontiguousarray(a, dtype=np.float64), float(c), tile_sums, rowpart, diag)
        k.reduce_rows(rowpart, *T.arrays, rows)
        return float(tile_sums.sum()), rows[0], diag

    def pair_sums(self, x: str, y: str, center: bool = True) -> GramPairSums:
        """The fused off-diagonal sums of the linear Grams of sites ``x`` and ``y`` (centred or raw)."""
        self._check_site(x, "x", need_data=True), self._check_site(y, "y", need_data=True)
        return self._pair(("pair", bool(center)), x, y, self._linear_params(x, bool(center)),
                          self._linear_params(y, bool(center)))

    def _pair(self, key: tuple, x: str, y: str, px, py) -> GramPairSums:
        """Pair sums cached per unordered pair of sites (one pass serves (x, y) and (y, x)); a site with itself
        takes the cheaper one-Gram pass."""
        if self._sites.index(x) > self._sites.index(y):
            return self._pair(key, y, x, py, px).swapped()
        full = key + (x, y)
        if full not in self._cache:
            if x == y:
                sq, r, d = self._site_pass(x, px)
                self._cache[full] = GramPairSums(self._n, sq, sq, sq, r, r, d, d)
            else:
                self._cache[full] = self._pair_pass(x, y, px, py)
        return self._cache[full]

    # ------------------------------------------------------------------ RBF
    def bandwidth(self, site: str, sigma: float = 0.5, rule: str = "median") -> float:
        """The RBF bandwidth σ of a site (K = exp(−D/(2σ²)), D the squared Euclidean distances).

        rule : {"median", "median_lower", "median_offdiag", "fixed"}
            "median" (Kornblith et al. 2019): σ² = sigma²·median(D) over the full n × n matrix including its zero
            diagonal, the two middle values averaged as ``numpy.median`` does. "median_lower": the same with the
            lower middle value (``torch.median``; ckatorch). "median_offdiag": the median over i ≠ j only.
            "fixed": σ = sigma.
        Returns 0.0 when the median is 0 (more than half of the distances vanish).
        """
        self._check_site(site, need_data=True)
        sigma = _check_sigma(sigma)
        if rule not in BANDWIDTHS:
            raise ValueError(f"bandwidth rule must be one of {list(BANDWIDTHS)}, got {rule!r}")
        if rule == "fixed":
            return sigma
        return sigma * math.sqrt(max(self._median_sqdist(site, rule), 0.0))

    def _median_sqdist(self, site: str, rule: str) -> float:
        key = ("median", site, rule)
        if key in self._cache:
            return self._cache[key]
        k = _kernels()
        n = self._n
        G, tiles, g = self._buf[site], self._tiles.arrays, self.diagonal(site)
        m = n * (n - 1) // 2
        if m == 0:
            val = 0.0
        else:
            with _threads(self._n_threads, self._tiles):
                ext = np.empty((self._tiles.count, 2))
                cnt = np.empty((self._tiles.count, 2), dtype=np.int64)
                k.offdiag_scan(G, *tiles, g, ext, cnt)
                stats = (float(ext[:, 0].min()), float(ext[:, 1].max()), m)
                neg, nonpos = (int(v) for v in cnt.sum(axis=0))

                def select(ranks):
                    return k.select_offdiag(G, tiles, g, ranks, stats, nchunks=max(1, self._n_threads))

                if rule == "median_offdiag":  # numpy.median of the m off-diagonal values
                    lo_i, hi_i = (m - 1) // 2, m // 2
                    a, b = select([lo_i, hi_i])
                    val = (a + b) / 2.0 if lo_i != hi_i else a
                else:
                    # The full n × n matrix sorted: each negative off-diagonal value twice, then the n zeros of the
                    # diagonal and the zero off-diagonal values (twice), then each positive value twice.
                    N = n * n
                    full = [(N - 1) // 2] if (rule == "median_lower" or N % 2 == 1) else [N // 2 - 1, N // 2]
                    off_rank = {}
                    for j in full:
                        if j < 2 * neg:
                            off_rank[j] = j // 2
                        elif j >= 2 * nonpos + n:
                            off_rank[j] = (j - n) // 2
                    vals = dict(zip(off_rank, select(list(off_rank.values())))) if off_rank else {}
                    picked = [vals.get(j, 0.0) for j in full]
                    val = picked[0] if len(picked) == 1 else (picked[0] + picked[1]) / 2.0
        self._cache[key] = float(val)
        return float(val)

    def _rbf_params(self, site: str, sigma: float, rule: str, debiased: bool):
        key = ("rbf", site, sigma, rule, bool(debiased))
        if key in self._cache:
            return self._cache[key]
        s = self.bandwidth(site, sigma, rule)
        if not s > 0.0:
            self._cache[key] = None
            return None
        n = self._n
        g = self.diagonal(site)
        gamma = 1.0 / (2.0 * s * s)
        rows_key = ("rbfrows", site, gamma)  # the kernel's row sums serve both centrings
        if rows_key not in self._cache:
            self._cache[rows_key] = self._site_pass(site, (1, g, gamma, np.zeros(n), 0.0))[1:]
        r_off, d = self._cache[rows_key]
        if debiased:  # Székely–Rizzo U-centring, diagonal masked
            a = r_off / (n - 2.0)
            c = float(r_off.sum()) / ((n - 1.0) * (n - 2.0))
        else:  # H K H = K − r1ᵀ/n − 1rᵀ/n + (1ᵀr/n²) 11ᵀ
            r = r_off + d
            a = r / n
            c = float(r.sum()) / (n * float(n))
        params = (1, g, gamma, a, c)
        self._cache[key] = params
        return params

    # ------------------------------------------------------------------ metrics
    def cka(self, x: str, y: str, debiased: bool = False, *, kernel: str = "linear", sigma: float = 0.5,
            bandwidth: str = "median") -> float:
        """CKA between sites ``x`` and ``y`` in Gram space (see :func:`repsim.cka`).

        ``kernel="linear"``: from the fused off-diagonal sums of the centred Grams. ``kernel="rbf"``:
        K = exp(−D/(2σ²)) with σ from :meth:`bandwidth` (``sigma``, ``bandwidth``), centred with H (or
        U-centred when ``debiased``) on the fly.
        """
        from .metrics._common import cosine
        from .metrics.cka import check_debiased_n

        self._check_site(x, "x", need_data=True), self._check_site(y, "y", need_data=True)
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {list(KERNELS)}, got {kernel!r}")
        if debiased:
            check_debiased_n(self._n)
        if kernel == "linear":
            ps = self.pair_sums(x, y, center=True)
            num, kk, ll = ps.hsic1_scaled() if debiased else ps.cka()
            return cosine(num, kk, ll, "debiased CKA" if debiased else "linear CKA", x, y)
        sigma = _check_sigma(sigma)
        if bandwidth not in BANDWIDTHS:
            raise ValueError(f"bandwidth must be one of {list(BANDWIDTHS)}, got {bandwidth!r}")
        px = self._rbf_params(x, sigma, bandwidth, debiased)
        py = self._rbf_params(y, sigma, bandwidth, debiased)
        name = "debiased RBF CKA" if debiased else "RBF CKA"
        if px is None or py is None:
            bad = [s for s, p in ((x, px), (y, py)) if p is None]
            warnings.warn(
                f"{name} is undefined for site(s) {bad}: the median squared distance is 0 (constant "
                "representation, or most samples identical), so the bandwidth is 0; returning NaN "
                "(use bandwidth='median_offdiag' or 'fixed')",
                RuntimeWarning,
                stacklevel=2,
            )
            return float("nan")
        ps = self._pair(("rbfpair", sigma, bandwidth, bool(debiased)), x, y, px, py)
        num, kk, ll = ps.rv2() if debiased else ps.cka()
        return cosine(num, kk, ll, name, x, y)

    def rv(self, x: str, y: str, center: bool = True) -> float:
        """RV coefficient between sites ``x`` and ``y`` in Gram space (see :func:`repsim.rv`)."""
        from .metrics._common import cosine

        num, kk, ll = self.pair_sums(x, y, center=center).cka()
        return cosine(num, kk, ll, "RV", x, y)

    def rv2(self, x: str, y: str, center: bool = True) -> float:
        """Modified RV coefficient RV2 in Gram space: S_KL/√(S_KK S_LL), diagonals masked in the tiles."""
        from .metrics._common import cosine

        num, kk, ll = self.pair_sums(x, y, center=center).rv2()
        return cosine(num, kk, ll, "RV2", x, y)

    def matrix(self, metric: str, rows: Sequence[str] | None = None, cols: Sequence[str] | None = None,
               **options):
        """The site × site matrix of one metric: "cka" (``debiased``, ``kernel``, ``sigma``, ``bandwidth``),
        "debiased_cka", "rv" / "rv2" (``center``), "rbf_cka" / "debiased_rbf_cka" (``sigma``, ``bandwidth``).
        Metrics without a Gram-space form (CCA family, Procrustes, maps, matches) raise ValueError."""
        from .metrics.matrix import merge_options, tabulate

        if not isinstance(metric, str):
            raise TypeError(f"metric must be a str, got {type(metric).__name__}")
        table = {
            "cka": (lambda x, y, **o: self.cka(x, y, **o),
                    {"debiased": False, "kernel": "linear", "sigma": 0.5, "bandwidth": "median"}),
            "debiased_cka": (lambda x, y: self.cka(x, y, debiased=True), {}),
            "rv": (lambda x, y, **o: self.rv(x, y, **o), {"center": True}),
            "rv2": (lambda x, y, **o: self.rv2(x, y, **o), {"center": True}),
            "rbf_cka": (lambda x, y, **o: self.cka(x, y, kernel="rbf", **o), {"sigma": 0.5, "bandwidth": "median"}),
            "debiased_rbf_cka": (lambda x, y, **o: self.cka(x, y, debiased=True, kernel="rbf", **o),
                                 {"sigma": 0.5, "bandwidth": "median"}),
        }
        if metric in FEATURE_ONLY_METRICS:
            raise gram_form_error(metric)
        if metric not in table:
            raise ValueError(f"unknown metric {metric!r}; Gram space supports {list(table)}")
        fn, defaults = table[metric]
        opts = merge_options(metric, options, defaults)
        return tabulate(metric, self._site_list(rows, "rows"), self._site_list(cols, "cols"),
                        lambda x, y: fn(x, y, **opts), opts)

    def _site_list(self, names, argname):
        if self._sites is None:
            raise ValueError("GramMoments is empty: call update_features() first")
        if names is None:
            return list(self._sites)
        if isinstance(names, str):
            names = [names]
        names = list(names)
        if not names:
            raise ValueError(f"{argname} is empty")
        for s in names:
            self._check_site(s, argname)
        return names

    def _check_site(self, site, name: str = "site", need_data: bool = False):
        if not isinstance(site, str):
            raise TypeError(f"{name} must be a site name (str), got {type(site).__name__}")
        if self._sites is None:
            raise ValueError("GramMoments is empty: call update_features() with at least one block first")
        if site not in self._sites:
            raise ValueError(f"{name}: unknown site {site!r}; the sites are {list(self._sites)}")
        if need_data and self._p[site] == 0:
            raise ValueError(f"{name}: site {site!r} has no features yet; call update_features() for it")
        return site


def _no_gram_form(metric: str):
    def method(self, *args, **kwargs):
        raise gram_form_error(metric)

    method.__name__ = metric
    method.__doc__ = f"Not available in Gram space: raises ValueError (use repsim.Moments for {metric})."
    return method


for _name in FEATURE_ONLY_METRICS:
    if _name != "cca_r2":
        setattr(GramMoments, _name, _no_gram_form(_name))
del _name


def _check_sigma(sigma) -> float:
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float, np.integer, np.floating)):
        raise TypeError(f"sigma must be a real number, got {type(sigma).__name__}")
    sigma = float(sigma)
    if not (math.isfinite(sigma) and sigma > 0.0):
        raise ValueError(f"sigma must be positive and finite, got {sigma!r}")
    return sigma


# ============================================================================================ one-shot helpers


def one_shot_gram(x: np.ndarray, y: np.ndarray, n_threads: int | None = None) -> GramMoments:
    """A GramMoments with sites "X" and "Y" from two validated arrays (full columns)."""
    g = GramMoments(x.shape[0], n_threads=n_threads)
    return g.update_features({"X": x, "Y": y})


def gram_inputs(X, Y, space: str = "auto"):
    """Validate two arrays for a linear metric; return (x, y, g) with g a one-shot GramMoments (sites "X", "Y")
    when :func:`choose_space` picks Gram space (array inputs are full-column blocks), else None."""
    from ._validation import check_pair

    if space not in SPACES:
        raise ValueError(f"space must be one of {list(SPACES)}, got {space!r}")
    x, y = check_pair(X, Y)
    if choose_space(x.shape[0], (x.shape[1], y.shape[1]), space) == "gram":
        return x, y, one_shot_gram(x, y)
    return x, y, None
