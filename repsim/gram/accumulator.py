"""``GramMoments``: one n × n Gram per site, accumulated over *feature* blocks (docs/math.md §4).

Feature space (``Moments``) keeps (Σp)² statistics and streams samples; Gram space keeps one n × n Gram per site
and streams features (channels, spatial blocks of a conv map, shards of a wide layer). It is the right space when
the layers are much wider than the number of samples (p + q > ~1.5 n, :func:`repsim.gram.choose_space`) and it is
the only space for kernel methods such as RBF CKA.

Each block X_J (all n rows, some columns) is converted to float64 and column-centred exactly (its own means, with
a refinement pass), and K += X̄_J X̄_Jᵀ is added in place with BLAS, one DGEMM per strip of T columns, into a
strip-packed symmetric float64 buffer of n(n+1)/2 + O(n·T) words (layout: repsim/_kernels/numba_gram.py).
Because K = Σ_J X̄_J X̄_Jᵀ is a plain sum over blocks, shards of the features merge by addition (:meth:`merge`).
Alongside K each site keeps v = Σ_J X̄_J μ_J and m = Σ_J |μ_J|², so the uncentred Gram K + v1ᵀ + 1vᵀ + m11ᵀ is
exact too (uncentred RV / RV2), without ever subtracting large numbers. For the correlation RDM of RSA (the samples
centred across their own features, docs/math.md §8) each site also keeps the centred row sums u = Σ_J X̄_J 1 and,
relative to a fixed reference r (the mean of the first block's column means), w = Σ_J X̄_J (μ_J − r1),
q = Σ 1ᵀ(μ_J − r1) and q₂ = Σ |μ_J − r1|².

Metrics read the Grams through the views of :mod:`repsim.gram.views` (one fused pass over the tiles per pair).
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.linalg import blas

from .. import _validation
from .._engines import default_threads
from .._guard import Guard, both_locked, locked
from .._files import atomic_write, only_fields, read_floats, read_int, read_ints, read_names, read_npz, require
from .._limits import CHUNK_ELEMENTS, CONST_RTOL, MIN_CHUNK_COLUMNS
from ..accumulator import SiteBook, measure_matrix, measure_value
from ..metrics.registry import REGISTRY, lookup
from .bandwidth import BANDWIDTHS, median_sqdist
from .tiles import Tiles, kernels, threads
from .views import GeometryView, GramPairSums, GramView, KernelView, RDMView

FORMAT_NAME = "repsim.GramMoments"
FORMAT_VERSION = 2  # 2 adds the row sums of RSA's correlation RDM (u, w, r, q, q2); version 1 is still read


class GramMoments(SiteBook):
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

    space = "gram"

    def __init__(self, n: int, *, sites: Sequence[str] | None = None, n_threads: int | None = None,
                 tile: int | None = None):
        self._guard = Guard()  # the lock and broken flag: repsim/_guard.py
        n = _validation.positive_int(n, "n", " (the number of samples)")
        n_threads = _validation.positive_int(default_threads() if n_threads is None else n_threads, "n_threads")
        if tile is not None:
            tile = _validation.positive_int(tile, "tile")
        self._n = n
        self._n_threads = n_threads
        self._tiles = Tiles.make(self._n, tile)
        self._sites: tuple[str, ...] | None = None
        self._buf: dict[str, np.ndarray] = {}
        self._v: dict[str, np.ndarray] = {}
        self._m: dict[str, float] = {}
        self._p: dict[str, int] = {}
        self._rows: dict[str, dict] = {}  # per site: u, w (n-vectors), r, q, q2 (docs/math.md §8); None: unknown
        self._blocks = 0
        self._cache: dict = {}  # per-site work: bandwidths, RBF row sums and transforms
        self._views: dict = {}  # statistics views by (kind, arguments); each memoises its pair sums
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
            self._rows[s] = {"u": np.zeros(self._n), "w": np.zeros(self._n), "r": 0.0, "q": 0.0, "q2": 0.0}

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
    @locked
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
            _validation.check_gram_block(a, where, first=self._p.get(s, 0) == 0)
            arrays[s], means[s] = a, mu
        with self._guard.commit(f"update_features (block {blk})"):  # Ctrl-C waits until the block is in
            if self._sites is None:
                self._declare(list(arrays))
            for s, a in arrays.items():
                self._add_block(s, a, means[s])
            self._blocks += 1
            self._invalidate()
        return self

    def _add_block(self, site: str, a: np.ndarray, mu: np.ndarray) -> None:
        n, p = a.shape
        buf, v, rows = self._buf[site], self._v[site], self._rows[site]
        if self._p[site] == 0 and rows is not None:  # the fixed reference of the row-sum terms
            rows["r"] = float(np.mean(mu))
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
            if rows is not None:
                rows["u"] += xc.sum(axis=1)
                dmu = mu_eff - rows["r"]
                rows["w"] += blas.dgemv(1.0, xc.T, dmu, trans=1)
                rows["q"] += float(dmu.sum())
                rows["q2"] += float(dmu @ dmu)
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
        with both_locked(self, other):
            return self._merge(other)

    def _merge(self, other: "GramMoments") -> "GramMoments":
        if other._n != self._n:
            raise ValueError(
                f"cannot merge GramMoments of different sample counts: n={self._n} vs n={other._n} (Gram space "
                "merges shards of the features of the same samples)"
            )
        if other._tiles.T != self._tiles.T:
            raise ValueError(f"cannot merge GramMoments with different tiles: {self._tiles.T} vs {other._tiles.T}")
        if other._sites is None:
            return self
        if self._sites is not None and set(self._sites) != set(other._sites):
            raise ValueError(
                f"cannot merge GramMoments with different sites: {list(self._sites)} vs {list(other._sites)}"
            )
        with self._guard.commit("merge"):
            if self._sites is None:
                self._declare(other._sites)
            for s in other._sites:
                self._merge_rows(s, other)
                self._buf[s] += other._buf[s]
                self._v[s] += other._v[s]
                self._m[s] += other._m[s]
                self._p[s] += other._p[s]
            self._blocks += other._blocks
            self._invalidate()
        return self

    def _merge_rows(self, s: str, other: "GramMoments") -> None:
        """Add other's row-sum terms of site s, moved to this site's reference r (exact shift: w − δu, q − δp,
        q₂ − 2δq + δ²p with δ = r − r_other)."""
        mine, theirs = self._rows[s], other._rows[s]
        if other._p[s] == 0:
            return
        if mine is None or theirs is None:
            self._rows[s] = None
            return
        if self._p[s] == 0:
            mine["r"] = theirs["r"]
        d, p = mine["r"] - theirs["r"], other._p[s]
        mine["u"] += theirs["u"]
        mine["w"] += theirs["w"] - d * theirs["u"]
        mine["q"] += theirs["q"] - d * p
        mine["q2"] += theirs["q2"] - 2.0 * d * theirs["q"] + d * d * p

    @locked
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
    @locked
    def gram(self, site: str, center: bool = True) -> np.ndarray:
        """The full n × n Gram of a site (materialised: 8n² bytes): K = X̄X̄ᵀ of the column-centred features, or
        the raw XXᵀ with ``center=False``."""
        self._check_data(site)
        out = np.empty((self._n, self._n))
        with threads(self._n_threads, self._tiles):
            kernels().unpack(self._buf[site], *self._tiles.arrays, out)
        if not center:
            v = self._v[site]
            out += v[:, None]
            out += v[None, :]
            out += self._m[site]
        return out

    @locked
    def diagonal(self, site: str) -> np.ndarray:
        """diag(K) of the centred Gram: squared norms of the centred samples."""
        self._check_data(site)
        out = np.empty(self._n)
        kernels().gram_diagonal(self._buf[site], *self._tiles.arrays, out)
        return out

    # ------------------------------------------------------------------ the fused passes
    def linear_params(self, site: str, center: bool):
        """The transform of a site's linear Gram in the fused passes: centred (stored) or raw (v, m terms)."""
        if center:
            return (0, np.zeros(self._n), 0.0, np.zeros(self._n), 0.0)
        return (0, self._v[site], self._m[site], np.zeros(self._n), 0.0)

    def pair_pass(self, x: str, y: str, px, py) -> GramPairSums:
        """One fused pass over the tiles of the transformed Grams of sites x and y (x == y: the one-Gram pass)."""
        if x == y:
            sq, r, d = self._site_pass(x, px)
            return GramPairSums(self._n, sq, sq, sq, r, r, d, d)
        return self._pair_pass(x, y, px, py)

    def _pair_pass(self, x: str, y: str, px, py) -> GramPairSums:
        k = kernels()
        T = self._tiles
        kinds = np.array([px[0], py[0]], dtype=np.int64)
        vecs = np.ascontiguousarray(np.stack([px[1], py[1]]), dtype=np.float64)
        scal = np.array([px[2], px[4], py[2], py[4]], dtype=np.float64)
        avec = np.ascontiguousarray(np.stack([px[3], py[3]]), dtype=np.float64)
        tile_sums = np.empty((T.count, 3))
        rowpart = np.zeros((T.count, 4, T.T))
        diag = np.empty((2, self._n))
        rows = np.zeros((2, self._n))
        with threads(self._n_threads, self._tiles):
            k.pair_pass(self._buf[x], self._buf[y], *T.arrays, kinds, vecs, scal, avec, tile_sums, rowpart, diag)
        k.reduce_rows(rowpart, *T.arrays, rows)
        s = tile_sums.sum(axis=0)
        return GramPairSums(self._n, float(s[0]), float(s[1]), float(s[2]), rows[0], rows[1], diag[0], diag[1])

    def _site_pass(self, site: str, params):
        """(Σ_{i≠j} e², off-diagonal row sums, diagonal) of one transformed Gram."""
        k = kernels()
        T = self._tiles
        kind, vec, s, a, c = params
        tile_sums = np.empty(T.count)
        rowpart = np.zeros((T.count, 2, T.T))
        diag = np.empty(self._n)
        rows = np.zeros((1, self._n))
        with threads(self._n_threads, self._tiles):
            k.site_pass(self._buf[site], *T.arrays, int(kind), np.ascontiguousarray(vec, dtype=np.float64),
                        float(s), np.ascontiguousarray(a, dtype=np.float64), float(c), tile_sums, rowpart, diag)
        k.reduce_rows(rowpart, *T.arrays, rows)
        return float(tile_sums.sum()), rows[0], diag

    def pair_sums(self, x: str, y: str, center: bool = True) -> GramPairSums:
        """The fused off-diagonal sums of the linear Grams of sites ``x`` and ``y`` (centred or raw)."""
        self._check_data(x, "x"), self._check_data(y, "y")
        return self.view("gram", center=center).sums(x, y)

    # ------------------------------------------------------------------ views
    @locked
    def view(self, kind: str = "gram", **args):
        """The statistics view a metric reads: ``"gram"`` (linear Grams; ``center``), ``"kernel"`` (``kernel``,
        ``sigma``, ``bandwidth``, ``debiased``), ``"rdm"`` (``rdm``: RSA's condensed RDMs) or ``"geometry"`` (the
        samples' distances, norms and raw Gram: ReSi's Gram-space measures); cached until the next update, memoising
        its pair sums (or RDMs, or what the measures derive per site)."""
        if not self._sites or not any(self._p.values()):
            raise self._empty_error()
        key = (kind, tuple(sorted(args.items())))
        view = self._views.get(key)
        if view is None:
            if kind == "gram":
                view = GramView(self, **args)
            elif kind == "kernel":
                view = KernelView(self, **args)
            elif kind == "rdm":
                view = RDMView(self, **args)
            elif kind == "geometry":
                view = GeometryView(self, **args)
            else:
                raise ValueError(f"GramMoments has no {kind!r} view (it has 'gram', 'kernel', 'rdm' and 'geometry')")
            self._views[key] = view
        return view

    def _invalidate(self) -> None:
        self._cache.clear()
        self._views.clear()

    # ------------------------------------------------------------------ RBF
    @locked
    def bandwidth(self, site: str, sigma: float = 0.5, rule: str = "median") -> float:
        """The RBF bandwidth σ of a site (K = exp(−D/(2σ²)), D the squared Euclidean distances).

        Parameters
        ----------
        site : str
        sigma : float, default 0.5
            With a median rule, the bandwidth as a fraction of √median(D); with ``rule="fixed"``, σ itself.
        rule : {"median", "median_lower", "median_offdiag", "fixed"}
            "median" (Kornblith et al. 2019): σ² = sigma²·median(D) over the full n × n matrix including its zero
            diagonal, the two middle values averaged as ``numpy.median`` does. "median_lower": the same with the
            lower middle value (``torch.median``; ckatorch). "median_offdiag": the median over i ≠ j only.
            "fixed": σ = sigma.

        Returns
        -------
        float
            0.0 when the median is 0 (more than half of the distances vanish).
        """
        self._check_data(site)
        sigma = _validation.positive_real(sigma, "sigma")
        if rule not in BANDWIDTHS:
            raise ValueError(f"bandwidth rule must be one of {list(BANDWIDTHS)}, got {rule!r}")
        if rule == "fixed":
            return sigma
        return sigma * math.sqrt(max(self._median_sqdist(site, rule), 0.0))

    def _median_sqdist(self, site: str, rule: str) -> float:
        key = ("median", site, rule)
        if key not in self._cache:
            self._cache[key] = float(median_sqdist(self._buf[site], self._tiles, self.diagonal(site), rule,
                                                   self._n_threads))
        return self._cache[key]

    def kernel_params(self, site: str, kernel: str, sigma: float, rule: str, debiased: bool):
        """The transform of a site's kernel matrix in the fused passes (None when its bandwidth is 0): RBF
        exp(−D/(2σ²)) (kind 1) or Laplace exp(−√D/σ) (kind 2), H-centred or U-centred (``debiased``)."""
        key = (kernel, site, sigma, rule, bool(debiased))
        if key in self._cache:
            return self._cache[key]
        s = self.bandwidth(site, sigma, rule)
        if not s > 0.0:
            self._cache[key] = None
            return None
        n = self._n
        g = self.diagonal(site)
        kind, gamma = (2, 1.0 / s) if kernel == "laplace" else (1, 1.0 / (2.0 * s * s))
        rows_key = ("kernelrows", site, kind, gamma)  # the kernel's row sums serve both centrings
        if rows_key not in self._cache:
            self._cache[rows_key] = self._site_pass(site, (kind, g, gamma, np.zeros(n), 0.0))[1:]
        r_off, d = self._cache[rows_key]
        if debiased:  # Székely–Rizzo U-centring, diagonal masked
            a = r_off / (n - 2.0)
            c = float(r_off.sum()) / ((n - 1.0) * (n - 2.0))
        else:  # H K H = K − r1ᵀ/n − 1rᵀ/n + (1ᵀr/n²) 11ᵀ
            r = r_off + d
            a = r / n
            c = float(r.sum()) / (n * float(n))
        params = (kind, g, gamma, a, c)
        self._cache[key] = params
        return params

    # ------------------------------------------------------------------ RDMs (RSA, docs/math.md §8)
    def condensed_rdm(self, site: str, rdm: str) -> np.ndarray:
        """The condensed RDM of a site's samples (``pdist`` order, n(n−1)/2 float64; docs/math.md §8):
        "euclidean" ‖x_i − x_j‖²/p (rsatoolbox's), "cosine" 1 − cos(x_i, x_j) (``pdist(metric="cosine")``),
        "correlation" 1 − corr(x_i, x_j) (rsatoolbox's and ``pdist(metric="correlation")``), from the stored Gram
        and its centring terms. ValueError for "correlation" on statistics loaded from a version-1 file (no row sums).
        RuntimeWarning and NaN entries for a sample of norm 0 (cosine) or a constant sample (correlation)."""
        self._check_data(site)
        n, p = self._n, float(self._p[site])
        g = self.diagonal(site)
        zero = np.zeros(n)
        if rdm == "euclidean":
            args = (0, g, zero, zero, zero, 0.0, 1.0 / p)
        else:
            if rdm == "cosine":  # a_i² = K_ii + 2v_i + m
                u, h, t, const = zero, 0.0, g + 2.0 * self._v[site], self._m[site]
                scale = g + 2.0 * np.abs(self._v[site]) + const
            else:  # the samples centred across their features: x̃_i = (x̄_i − ū_i1) + (μ − μ̄1)
                rows = self._rows[site]
                if rows is None:
                    raise ValueError(
                        f"site {site!r}: rdm='correlation' needs the row sums of each sample, which GramMoments files "
                        "of format version 1 do not hold; accumulate the features again (or use rdm='euclidean' or "
                        "'cosine')"
                    )
                u, h, qp = rows["u"], 1.0 / p, rows["q"] / p
                t = g - u * u / p + 2.0 * (rows["w"] - qp * u)
                const = rows["q2"] - rows["q"] * qp  # |μ − μ̄1|²
                scale = g + u * u / p + 2.0 * np.abs(rows["w"] - qp * u) + abs(const)
            a2 = t + const
            a2[a2 <= CONST_RTOL * scale] = 0.0  # zero up to the rounding of its terms: a constant sample
            if not (a2 > 0.0).all():
                why = "norm 0" if rdm == "cosine" else "no variance across its features"
                warnings.warn(
                    f"rdm={rdm!r} is undefined for {int((~(a2 > 0.0)).sum())} sample(s) of site {site!r} "
                    f"({why}); their RDM entries are NaN", RuntimeWarning, stacklevel=3)
            a = np.sqrt(np.where(a2 > 0.0, a2, np.nan))
            args = (1, g, u, t, a, h, 1.0)
        out = np.empty(n * (n - 1) // 2)
        with threads(self._n_threads, self._tiles):
            kernels().condensed_rdm(self._buf[site], *self._tiles.arrays, *args, out)
        return out

    def condensed_sqdist(self, site: str) -> np.ndarray:
        """The condensed squared Euclidean distances ‖x_i − x_j‖² = g_i + g_j − 2K_ij of a site's samples (``pdist``
        order, n(n−1)/2 float64) from the stored centred Gram (translation-free: no large means cancel); a few may be
        slightly negative by rounding for near-duplicate samples."""
        self._check_data(site)
        n = self._n
        zero = np.zeros(n)
        out = np.empty(n * (n - 1) // 2)
        with threads(self._n_threads, self._tiles):
            kernels().condensed_rdm(self._buf[site], *self._tiles.arrays, 0, self.diagonal(site), zero, zero, zero,
                                    0.0, 1.0, out)
        return out

    def mean_terms(self, site: str) -> tuple[np.ndarray, float]:
        """(v, m) of a site: v_i = ⟨x̄_i, μ⟩ (x̄_i the centred sample, μ the mean) and m = |μ|², so that the raw
        Gram is K + v1ᵀ + 1vᵀ + m11ᵀ (v a copy)."""
        self._check_data(site)
        return self._v[site].copy(), float(self._m[site])

    # ------------------------------------------------------------------ metrics (the registry's Gram-space forms)
    @locked
    def cka(self, x: str, y: str, debiased: bool = False, *, kernel: str = "linear", sigma: float = 0.5,
            bandwidth: str = "median") -> float:
        """CKA between sites ``x`` and ``y`` in Gram space (see :func:`repsim.cka`).

        ``kernel="linear"``: from the fused off-diagonal sums of the centred Grams. ``kernel="rbf"``:
        K = exp(−D/(2σ²)) with σ from :meth:`bandwidth` (``sigma``, ``bandwidth``), centred with H (or
        U-centred when ``debiased``) on the fly.
        """
        self._check_data(x, "x"), self._check_data(y, "y")
        if _validation.flag(debiased, "debiased"):
            _validation.check_debiased_n(self._n)
        return measure_value(self, "cka", x, y, dict(debiased=debiased, kernel=kernel, sigma=sigma,
                                                      bandwidth=bandwidth))

    @locked
    def rv(self, x: str, y: str, center: bool = True) -> float:
        """RV coefficient between sites ``x`` and ``y`` in Gram space (see :func:`repsim.rv`)."""
        self._check_data(x, "x"), self._check_data(y, "y")
        return measure_value(self, "rv", x, y, {"center": center})

    @locked
    def rv2(self, x: str, y: str, center: bool = True) -> float:
        """Modified RV coefficient RV2 in Gram space: S_KL/√(S_KK S_LL), diagonals masked in the tiles."""
        self._check_data(x, "x"), self._check_data(y, "y")
        return measure_value(self, "rv2", x, y, {"center": center})

    @locked
    def matrix(self, metric: str, rows: Sequence[str] | None = None, cols: Sequence[str] | None = None,
               **options):
        """The site × site matrix of one registry measure with a Gram-space form: "cka" (``debiased``,
        ``kernel``, ``sigma``, ``bandwidth``), "debiased_cka", "rv" / "rv2" (``center``), "rbf_cka" /
        "debiased_rbf_cka" (``sigma``, ``bandwidth``), "rsa", ReSi's "rsm_norm_difference",
        "distance_correlation", "uniformity_difference", "concentricity_difference", "aligned_cosine",
        "magnitude_difference" (docs/math.md §9.5) — see :func:`repsim.measures`. Measures without a Gram-space form
        (CCA family, Procrustes, maps, matches) raise ValueError."""
        lookup(metric).check_space("gram")
        rows, cols = self._site_list(rows, "rows"), self._site_list(cols, "cols")
        for s in set(rows) | set(cols):
            self._check_data(s)
        return measure_matrix(self, metric, rows, cols, options)

    def __getattr__(self, name: str):
        """Registry measures without a Gram-space form, asked for as methods, raise the registry's refusal."""
        if not name.startswith("_") and name in REGISTRY and "gram" not in REGISTRY[name].spaces:
            def refuse(*args, **kwargs):
                REGISTRY[name].check_space("gram")

            return refuse
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ------------------------------------------------------------------ the accumulator protocol
    def update(self, batch: Mapping[str, object]) -> "GramMoments":
        """Same as :meth:`update_features` (the accumulator protocol's name): a block of feature columns."""
        return self.update_features(batch)

    @property
    def info(self) -> dict:
        return {"blocks": self._blocks, "nbytes": self.nbytes}

    @locked
    def save(self, path) -> None:
        """Write the Grams and their centring terms to a versioned ``.npz`` file (exact), atomically."""
        if not self._sites:
            raise self._empty_error()
        rows = all(self._rows[s] is not None for s in self._sites)  # else the version-1 fields only
        fields = {
            "format": np.array(FORMAT_NAME), "version": np.array(FORMAT_VERSION if rows else 1), "n": np.array(self._n),
            "tile": np.array(self._tiles.T), "blocks": np.array(self._blocks),
            "sites": np.array(self._sites, dtype=str), "dims": np.array([self._p[s] for s in self._sites]),
            "m": np.array([self._m[s] for s in self._sites]),
        }
        for k, s in enumerate(self._sites):
            fields[f"gram_{k}"], fields[f"v_{k}"] = self._buf[s], self._v[s]
            if rows:
                fields[f"u_{k}"], fields[f"w_{k}"] = self._rows[s]["u"], self._rows[s]["w"]
        if rows:
            for f in ("r", "q", "q2"):
                fields[f] = np.array([self._rows[s][f] for s in self._sites])
        atomic_write(path, lambda fh: np.savez(fh, **fields))

    @classmethod
    def load(cls, path, *, n_threads: int | None = None) -> "GramMoments":
        """Read statistics written by :meth:`save`; refuses other formats and versions, and raises ValueError naming
        the file and the field for a damaged or inconsistent file."""
        required = {"n", "tile", "blocks", "sites", "dims", "m"}
        with read_npz(path, FORMAT_NAME, (1, FORMAT_VERSION), required) as data:
            sites = read_names(data, "sites")
            L = len(sites)
            rows = read_int(data, "version") >= 2  # version 1: no row sums (RSA's correlation RDM unavailable)
            per_site = ("gram", "v", "u", "w") if rows else ("gram", "v")
            only_fields(data, {"format", "version", *required, *(("r", "q", "q2") if rows else ()),
                               *(f"{f}_{k}" for f in per_site for k in range(L))})
            n = read_int(data, "n", low=1)
            vs = [read_floats(data, f"v_{k}", (n,), source="'n'") for k in range(L)]  # n is bounded by real data
            if rows:
                row_terms = [{"u": read_floats(data, f"u_{k}", (n,), source="'n'"),
                              "w": read_floats(data, f"w_{k}", (n,), source="'n'")} for k in range(L)]
                for f in ("r", "q", "q2"):
                    a = read_floats(data, f, (L,), source="'sites'")
                    for k in range(L):
                        row_terms[k][f] = float(a[k])
            tile = read_int(data, "tile", low=1, high=n)
            size = Tiles.make(n, tile).size
            grams = [read_floats(data, f"gram_{k}", (size,), source="'n' and 'tile'") for k in range(L)]
            dims = read_ints(data, "dims", L, source="'sites'")
            m = read_floats(data, "m", (L,), source="'sites'")
            blocks = read_int(data, "blocks")
            require(bool(np.all(m >= 0)), "m", f"must hold sums of squares (>= 0), got {m.tolist()}")
            require(blocks <= sum(dims) and (blocks == 0) == (sum(dims) == 0), "blocks",
                    f"is {blocks} for {sum(dims)} features in all (each block adds at least one feature)")
            for k, s in enumerate(sites):  # a site without features has nothing accumulated
                require(dims[k] > 0 or not (grams[k].any() or vs[k].any() or m[k]), "dims",
                        f"is 0 for site {s!r}, but its Gram, v or m is not zero")
        g = cls(n, sites=sites, n_threads=n_threads, tile=tile)
        for k, s in enumerate(sites):
            g._buf[s][:], g._v[s][:] = grams[k], vs[k]
            g._m[s], g._p[s] = float(m[k]), dims[k]
            g._rows[s] = row_terms[k] if rows else None
        g._blocks = blocks
        return g

    # ------------------------------------------------------------------ sites
    def _empty_error(self) -> ValueError:
        return ValueError("GramMoments is empty: call update_features() with at least one block first")

    def _check_data(self, site, name: str = "site") -> str:
        self._check_site(site, name)
        if self._p[site] == 0:
            raise ValueError(f"{name}: site {site!r} has no features yet; call update_features() for it")
        return site
