"""``Moments``: exact, additive sufficient statistics of named sites (docs/math.md §1, docs/design.md §1)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from . import _validation
from ._engines import default_threads, resolve_engine
from ._guard import Guard, both_locked, locked
from ._files import (FieldError, atomic_write, has_fields, only_fields, read_field, read_floats, read_int,
                     read_ints, read_names, read_npz, read_pairs, require)
from ._limits import CCA_RTOL, UPDATE_ROWS
from ._torch_backend import TorchAccumulator
from .accumulator import SiteBook, measure_matrix, measure_value
from .blocks import ALL, BlockedStore, JointStore, blocked_nbytes, resolve_pairs
from .ids import IdTracker, hash_ids
from .metrics.registry import REGISTRY, REQUIRED
from .planner import PlanError, budget_of, parse_bytes, plan
from .statistics import FullStatistics, Layout, PairStatistics

FORMAT_NAME = "repsim.Moments"
FORMAT_VERSION = 1  # the joint matrix (pairs="all")
BLOCKED_VERSION = 2  # pair-blocked statistics


def _mean64(a):
    """Column means in float64 as a NumPy vector, of a NumPy array or a torch tensor (on any device)."""
    if _validation._is_torch(a):
        import torch

        t = a.to(torch.float64)
        return (t[0] + (t - t[0]).mean(dim=0)).cpu().numpy()
    # about the first row: exact for a constant column (a plain mean of tiny equal values can round off them);
    # in chunks of rows, so a wide first batch is never copied whole
    first = np.asarray(a[0], dtype=np.float64)
    total = np.zeros_like(first)
    for r0 in range(0, a.shape[0], UPDATE_ROWS):
        total += (np.asarray(a[r0:r0 + UPDATE_ROWS], dtype=np.float64) - first).sum(axis=0)
    return first + total / a.shape[0]


class Moments(SiteBook):
    """Streaming, exact sufficient statistics of one or more *sites* (representations of the same samples).

    For each batch of rows the augmented rows ``w = [x̃ per site ; |x̃|² per site ; 1]`` with ``x̃ = x − c`` are
    formed in one fused pass (C++ when built, Numba otherwise) into a reused buffer, and one in-place BLAS
    ``dsyrk`` adds ``WᵀW`` to the float64 matrix ``G = Σ w wᵀ``. The reference ``c`` is the mean of the first
    batch of each site, which keeps the statistics accurate for activations with large means (docs/math.md §3).
    Memory is ``O((Σp + L)²)``, independent of the number of samples.

    Every metric (``cka``, ``rv``, ``rv2`` ...) is a function of ``G``, so the result is the same whether the data
    arrived in one array, in batches of any size, in merged shards, or from a saved file.

    Parameters
    ----------
    engine : {"auto", "cpp", "numba"}
        Implementation of the fused per-batch pass. "auto" uses the compiled C++ core when it is built.
    n_threads : int, optional
        Threads for the fused pass (default: the number of cores, at most 8). BLAS threads are BLAS's own.
    backend : {"auto", "numpy", "torch"}
        Where batches are accumulated. "auto": on the device with torch ops when the first batch holds CUDA tensors,
        otherwise the CPU path above. "torch": always with torch ops, on the device of the first batch's tensors
        (CPU tensors included). "numpy": always on the CPU (device tensors are copied to the host). Statistics
        reach CPU float64 before any metric is computed.
    precision : {"fp64", "window32"}
        Device accumulation only (docs/math.md §3.4): float64 GEMMs (default, exact), or float32 GEMMs with TF32 off
        summed over windows of ``window`` rows and flushed into float64 with an exact shift (≈1e-7 on CKA).
    window : int, default 4096
        Rows per float32 window with ``precision="window32"``.
    pairs : "all", "between" or list of (site, site), default "all"
        Which cross blocks to keep (docs/math.md §1.3). ``"all"``: the joint matrix of every pair, memory
        O((Σp + L)²). ``"between"`` with ``groups``: every site's own block plus the cross blocks of sites in
        different groups (e.g. model A's layers × model B's), memory Σ(p_s + 1)² + Σ_kept p_s p_t. A list of site
        pairs: those cross blocks. Every metric of a kept pair equals the joint one; a metric of a pair that was
        not kept raises ValueError naming the pair. Blocked statistics accumulate on the CPU (CUDA batches are
        copied to the host; ``backend="torch"`` is refused).
    groups : sequence of site-name sequences, or mapping name → sites, optional
        The groups of ``pairs="between"``.
    max_memory : int or str, optional
        Budget of the statistics and the batch buffer, in bytes or a string like ``"8GB"`` (default: half of the
        available memory at the first update — of the GPU's free memory when CUDA batches are kept on the device).
        A first update whose statistics would exceed it raises
        :class:`repsim.planner.PlanError` (a ValueError) saying what would fit, before anything is allocated; see
        :func:`repsim.plan` for several passes.

    Examples
    --------
    >>> import numpy as np, repsim
    >>> rng = np.random.default_rng(0)
    >>> m = repsim.Moments()
    >>> for _ in range(4):
    ...     x = rng.normal(size=(256, 32)); m.update({"a": x, "b": x @ rng.normal(size=(32, 16))})
    >>> m.n, m.sites, m.dims
    (1024, ('a', 'b'), {'a': 32, 'b': 16})
    >>> round(m.cka("a", "a"), 12)
    1.0
    """

    space = "feature"

    def __init__(
        self,
        *,
        engine: str = "auto",
        n_threads: int | None = None,
        backend: str = "auto",
        precision: str = "fp64",
        window: int = 4096,
        pairs="all",
        groups=None,
        max_memory=None,
    ):
        self._guard = Guard()  # the lock and broken flag: repsim/_guard.py
        _validation.choice(backend, "backend", ("auto", "numpy", "torch"))
        if not (pairs == ALL and groups is None) and backend == "torch":
            raise ValueError("pairs= other than 'all' accumulates on the CPU; use backend='auto' or 'numpy'")
        if not isinstance(pairs, str) and not hasattr(pairs, "__iter__"):
            raise TypeError(f"pairs must be 'all', 'between' or a list of (site, site) pairs, got {type(pairs).__name__}")
        self._pairs, self._groups = (pairs if isinstance(pairs, str) else tuple(tuple(p) for p in pairs)), groups
        self._max_memory = None if max_memory is None else parse_bytes(max_memory)
        _validation.choice(precision, "precision", ("fp64", "window32"))
        window = _validation.positive_int(window, "window")
        self._backend, self._precision, self._window = backend, precision, window
        self._acc = None  # TorchAccumulator when statistics are kept on a device
        self._engine_name, self._fill = resolve_engine(engine)
        self._n_threads = _validation.positive_int(default_threads() if n_threads is None else n_threads, "n_threads")
        self._layout: Layout | None = None
        self._reference: list[np.ndarray] | None = None
        self._store: JointStore | BlockedStore | None = None  # the statistics about the reference (repsim.blocks)
        self._n = 0
        self._batches = 0
        self._buffer: np.ndarray | None = None
        self._views: dict = {}
        self._ids: IdTracker | None = None  # the sample ids seen, when updates give ids= (repsim/ids.py)

    def __getstate__(self):
        """Pickle (Dask, multiprocessing) without the reused batch buffer and the cached views, rebuilt on demand;
        the guard pickles as a fresh lock and its broken flag (repsim/_guard.py)."""
        state = self.__dict__.copy()
        state["_buffer"], state["_views"] = None, {}
        return state

    # ------------------------------------------------------------------ state
    @property
    def n(self) -> int:
        """Number of samples (rows) accumulated."""
        return self._n

    @property
    def sites(self) -> tuple[str, ...]:
        """Site names, in the order of the first update."""
        return self._layout.sites if self._layout else ()

    @property
    def dims(self) -> dict[str, int]:
        """Number of features of each site."""
        return dict(self._layout.dim_of) if self._layout else {}

    @property
    def reference(self) -> dict[str, np.ndarray]:
        """The reference point c of each site (float64 copies)."""
        if self._layout is None:
            return {}
        return {s: r.copy() for s, r in zip(self._layout.sites, self._reference)}

    @property
    def engine(self) -> str:
        return self._engine_name

    @locked
    def mean(self, site: str) -> np.ndarray:
        """Sample mean of a site's features."""
        self._require_data()
        self._sync()
        k = self._layout.index(site)
        return self._reference[k] + self._store.site_sums()[k] / self._n

    def __repr__(self) -> str:
        if self._layout is None:
            return "Moments(empty)"
        dims = ", ".join(f"{s}={p}" for s, p in zip(self._layout.sites, self._layout.dims))
        return f"Moments(n={self._n}, sites: {dims}; engine={self._engine_name})"

    # ------------------------------------------------------------------ accumulation
    @property
    def ids(self) -> IdTracker | None:
        """The sample ids accumulated (a copy; None when the updates gave no ``ids``): ``.n``, ``.digest`` (an
        order-independent fingerprint of the set), ``.overlap(other)``."""
        return None if self._ids is None else self._ids.copy()

    @locked
    def update(self, batch: Mapping[str, object], *, ids=None) -> "Moments":
        """Add a batch of rows.

        Parameters
        ----------
        batch : mapping of str to array of shape (n_rows, n_features_site)
            NumPy arrays or CPU torch tensors of float16/32/64; every site has the same number of rows. The first
            update fixes the sites (and their order and widths); later updates must give exactly those sites.
        ids : 1-D array of n_rows integers or strings, optional
            The samples' ids. Given on the first update, every update must give them (and vice versa); the
            statistics then keep a 64-bit hash of every id (8 bytes per sample; :attr:`ids`), saved with them,
            and :meth:`merge` refuses two accumulations that share a sample instead of counting it twice.

        Returns
        -------
        self

        Notes
        -----
        Safe under threads and interrupts (repsim/_guard.py): the statistics change only once the whole batch is
        checked, under the accumulator's lock, with Ctrl-C held back until the batch is in — an interrupted update
        leaves the statistics exactly as before the batch or exactly as after it.
        """
        layout = self._layout
        on_device = self._acc is not None or self._wants_torch(batch)
        device = self._device_of(batch) if on_device else None
        convert = (lambda v, name, i: _validation.as_float_tensor(v, name, i, device)) if on_device else None
        order, arrays, rows = _validation.check_batch(
            batch, layout.sites if layout else None, layout.dim_of if layout else None, self._batches, convert
        )
        hashes = self._check_ids(ids, rows)
        if rows == 0:
            if layout is None:
                raise ValueError(f"batch {self._batches}: the first update must have at least one row")
            self._batches += 1  # batch numbers in messages count every update call
            return self
        first = layout is None
        if first:
            layout = Layout(tuple(order), tuple(int(a.shape[1]) for a in arrays))
            cross = resolve_pairs(self._pairs, self._groups, layout.sites)
            self._check_budget(layout, cross, rows, device if on_device else None)
            reference = [_mean64(a) for a in arrays]
        else:
            reference = self._reference
        # the backend step: augmented rows W, the first bad row, the norm means of the first batch, and G += WᵀW
        if on_device:
            acc = self._acc if self._acc is not None else self._device_accumulator(layout, reference, device)
            W, win_ref = acc.prepare(arrays)
            bad = acc.find_bad(W)
        else:
            W, bad, norm_sums = self._fill_checked(arrays, reference, rows, layout)
        if bad is not None:
            site, row = bad
            array = arrays[site].cpu().numpy() if on_device else arrays[site]
            raise ValueError(_validation.nonfinite_message(order[site], self._batches, array, row))
        if first:
            norm_means = acc.norm_means(W) if on_device else norm_sums / rows
            _validation.check_norm_means(norm_means, layout, self._batches)
            store = JointStore(layout) if cross is None else BlockedStore(layout, cross)
        with self._guard.commit(f"update (batch {self._batches})"):
            if first:
                self._layout, self._reference, self._store = layout, reference, store
            if on_device:
                self._acc = acc
                acc.add(W, win_ref)
            elif W is not None:
                self._store.add(W)  # every kept block += its part of WᵀW, in tiles of bounded edge
            else:  # a large batch: fill and add it chunk by chunk (every chunk was checked above)
                for chunk, r0, r1 in self._chunks(arrays, rows):
                    W = self._batch_buffer(r1 - r0, layout.d)
                    self._fill(W, chunk, reference, self._n_threads)
                    self._store.add(W)
            if hashes is not None:
                if self._ids is None:
                    self._ids = IdTracker()
                self._ids.update_hashes(hashes)
            self._n += rows
            self._batches += 1
            self._views.clear()
        return self

    def _check_ids(self, ids, rows: int):
        """The hashes of a batch's ids, checked against the rows and against the earlier updates (or None)."""
        where = f"batch {self._batches}"
        if ids is None:
            if self._ids is not None:
                raise ValueError(f"{where}: ids missing — the earlier updates gave ids, so every update must")
            return None
        if self._layout is not None and self._ids is None:
            raise ValueError(f"{where}: ids given, but the earlier updates gave none (give ids from the first update "
                             "on, or never)")
        try:
            hashes = hash_ids(ids)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{where}: ids: {exc}") from None
        if hashes.shape[0] != rows:
            raise ValueError(f"{where}: ids has {hashes.shape[0]} entries for {rows} rows (one id per row)")
        return hashes

    def _chunks(self, arrays, rows: int):
        for r0 in range(0, rows, UPDATE_ROWS):
            r1 = min(rows, r0 + UPDATE_ROWS)
            yield [a[r0:r1] for a in arrays], r0, r1

    def _fill_checked(self, arrays, reference, rows: int, layout: Layout):
        """The fused pass over a CPU batch: (W, first bad (site, row) or None, the first batch's Σ|x̃|² per site).

        A batch of more than UPDATE_ROWS rows is checked chunk by chunk into a buffer of UPDATE_ROWS rows and W is
        None (the update fills and adds it again chunk by chunk, only once every row is known to be good: the
        statistics change only for a whole good batch), so the buffer never exceeds UPDATE_ROWS × d."""
        if rows <= UPDATE_ROWS:
            W = self._batch_buffer(rows, layout.d)
            site, row = self._fill(W, arrays, reference, self._n_threads)
            return W, ((site, row) if site >= 0 else None), self._norm_sums(W, layout)
        sums = np.zeros(len(layout.sites))
        for chunk, r0, r1 in self._chunks(arrays, rows):
            W = self._batch_buffer(r1 - r0, layout.d)
            site, row = self._fill(W, chunk, reference, self._n_threads)
            if site >= 0:
                return None, (site, r0 + row), None
            if self._layout is None:
                sums += self._norm_sums(W, layout)
        return None, None, sums if self._layout is None else None

    def _norm_sums(self, W: np.ndarray, layout: Layout):
        """Σ |x̃|² per site over the rows of W (the first batch's spread check), None after the first batch."""
        if self._layout is not None:
            return None
        P = layout.n_features
        return W[:, P : P + len(layout.sites)].sum(axis=0)

    def _check_budget(self, layout: Layout, cross, rows: int, device=None) -> None:
        """PlanError before any allocation when the statistics (and the batch buffer) exceed the budget: by default
        half of the available memory — of the CUDA device when the statistics are kept there."""
        budget = budget_of(self._max_memory, device)
        store = 8 * layout.d * layout.d if cross is None else blocked_nbytes(layout.dims, cross)
        if store + 8 * min(rows, UPDATE_ROWS) * layout.d <= budget:
            return
        pairs = self._pairs if isinstance(self._pairs, str) else list(self._pairs)
        try:
            alt = plan(layout.dim_of, pairs, self._groups, max_memory=budget, batch_rows=rows, workspace=0)
        except PlanError as exc:
            raise PlanError(str(exc)) from None
        raise PlanError(
            f"the statistics of these {len(layout.sites)} sites need {store / 2**30:.2f} GiB (+ the batch buffer), over "
            f"the memory budget of {budget / 2**30:.2f} GiB (max_memory). What fits:\n{alt}\n"
            + ("Keep only the pairs you compare (pairs='between' with groups, or a list), " if cross is None else "")
            + "or accumulate in several passes (repsim.compare plans them), or raise max_memory."
        )

    def _device_of(self, batch):
        """The device of the accumulator, else of the batch's first tensor (CPU for NumPy-only batches)."""
        if self._acc is not None:
            return self._acc.device
        first = next((v for v in batch.values() if _validation._is_torch(v)), None) if isinstance(batch, Mapping) else None
        return first.device if first is not None else "cpu"

    def _device_accumulator(self, layout, reference, device):
        """A TorchAccumulator about ``reference`` (also when statistics loaded or merged on the host continue on
        the device)."""
        return TorchAccumulator(layout, reference, device, self._precision, self._window)

    def _wants_torch(self, batch) -> bool:
        if self._backend == "torch":
            return True
        if self._backend == "numpy" or not isinstance(batch, Mapping) or not self._joint:
            return False
        return any(_validation._is_torch(v) and getattr(v, "device", None) is not None and v.device.type != "cpu"
                   for v in batch.values())

    @property
    def _joint(self) -> bool:
        """Whether every pair is kept (the joint matrix; blocked statistics accumulate on the CPU)."""
        return self._pairs == ALL and self._groups is None

    def _sync(self) -> None:
        """Move what the device accumulated into the CPU float64 statistics (exact: same reference)."""
        if self._acc is not None and self._acc.pending:
            with self._guard.commit("moving the device statistics to the host"):
                self._store.add_dense(self._acc.drain())

    def _batch_buffer(self, rows: int, d: int) -> np.ndarray:
        buf = self._buffer
        if buf is None or buf.shape[1] != d or buf.shape[0] < rows:
            buf = np.empty((rows, d))
            self._buffer = buf
        return buf[:rows]

    # ------------------------------------------------------------------ exact operations
    @locked
    def copy(self) -> "Moments":
        """An independent copy (same engine)."""
        self._sync()
        other = Moments(engine=self._engine_name, n_threads=self._n_threads, backend=self._backend,
                        precision=self._precision, window=self._window, pairs=self._pairs, groups=self._groups,
                        max_memory=self._max_memory)
        if self._layout is not None:
            other._layout = self._layout
            other._reference = [r.copy() for r in self._reference]
            other._store = self._store.copy()
            other._n, other._batches = self._n, self._batches
            other._ids = None if self._ids is None else self._ids.copy()
        return other

    def merge(self, other: "Moments") -> "Moments":
        """Add the statistics of ``other`` (same sites and widths, any reference), in place; return self.

        Both are shifted exactly to their combined mean with T G Tᵀ (docs/math.md §1.1–1.2, Chan's merge generalised
        to every block), then added. The result equals one pass over the union of the rows.

        When the two recorded sample ids (``update(..., ids=)``), ValueError if they share a sample (the shards
        overlap) or if only one of them recorded ids; the ids are merged with the statistics.
        """
        if not isinstance(other, Moments):
            raise TypeError(f"other must be a Moments, got {type(other).__name__}")
        with both_locked(self, other):
            return self._merge(other)

    def _merge(self, other: "Moments") -> "Moments":
        self._sync()
        other._sync()
        if other._layout is None or other._n == 0:
            return self
        if self._layout is not None and self._n and (self._ids is None) != (other._ids is None):
            raise ValueError("cannot merge Moments when only one of them recorded sample ids (update(..., ids=)); "
                             "record ids in every shard, or in none")
        merged_ids = None
        if other._ids is not None:
            merged_ids = other._ids.copy() if self._ids is None else self._ids.copy().merge(other._ids)
        if self._layout is None:
            if not self._joint and other._store.cross != resolve_pairs(self._pairs, self._groups, other.sites):
                raise ValueError("cannot merge Moments that keep different pairs (pairs=...)")
            reference, store = [r.copy() for r in other._reference], other._store.copy()
            with self._guard.commit("merge"):
                self._layout, self._reference, self._store = other._layout, reference, store
                self._n, self._batches = other._n, other._batches
                self._ids = merged_ids
                self._views.clear()
            return self
        if self._layout != other._layout:
            raise ValueError(
                f"cannot merge Moments with different sites: {self.dims} (in this order) vs {other.dims}"
            )
        if self._store.cross != other._store.cross:
            raise ValueError(
                "cannot merge Moments that keep different pairs (pairs=...): the blocks of one are missing in the other"
            )
        n = self._n + other._n
        s1 = self._store.site_sums()
        s2 = other._store.site_sums()
        # combined mean expressed about each reference: μ − c1 and μ − c2
        d1, d2, mu = [], [], []
        for c1, c2, a, b in zip(self._reference, other._reference, s1, s2):
            delta = (a + b + other._n * (c2 - c1)) / n
            m = c1 + delta  # the stored reference: both stores move exactly to it (not to the unrounded c1 + δ)
            d1.append(m - c1)
            d2.append(m - c2)
            mu.append(m)
        merged = self._store.shift(d1)
        merged.add_store(other._store.shift(d2))
        merged.check_finite("merging these Moments (their references are too far apart)")
        with self._guard.commit("merge"):
            self._store = merged
            self._reference = mu
            if self._acc is not None:
                self._acc.rebase(mu)
            self._n = n
            self._batches += other._batches
            self._ids = merged_ids
            self._views.clear()
        return self

    @classmethod
    def combine(cls, parts, weights=None) -> "Moments":
        """Σ_k w_k · (statistics of part k): a new Moments (exact for integer weights — the rows of part k taken w_k
        times — and for any real weights ≥ 0 a weighted accumulation).

        All parts must have the same sites, widths and kept pairs. The statistics are additive once every part is
        moved to one reference (docs/math.md §1.2), so this is one shift per part and a weighted sum: what the
        delete-a-group jackknife (weights 1 with one 0) and the bootstrap over shards (multinomial weights) need
        (repsim.inference.intervals). See :meth:`shifted_parts` to shift once and combine many times.
        """
        return cls.from_shifted(cls.shifted_parts(parts), weights)

    @classmethod
    def shifted_parts(cls, parts) -> tuple:
        """(the parts' common layout, reference, cross pairs, and per part (n, packed statistics about that
        reference)) — the form :meth:`from_shifted` combines."""
        parts = list(parts)
        if not parts or not all(isinstance(p, Moments) for p in parts):
            raise TypeError("parts must be a non-empty list of Moments")
        first = parts[0]
        for k, p in enumerate(parts):
            p._sync()
            if p._layout is None or p._n == 0:
                raise ValueError(f"parts[{k}] is empty")
            if p._layout != first._layout or p._store.cross != first._store.cross:
                raise ValueError(f"parts[{k}] has other sites, widths or pairs than parts[0]: {p.dims} vs {first.dims}")
        reference = [r.copy() for r in first._reference]
        shifted = []
        for p in parts:
            with p._guard.lock:
                deltas = [c - r for c, r in zip(reference, p._reference)]
                shifted.append((p._n, p._store.shift(deltas).packed()))
        return first._layout, reference, first._store.cross, shifted, (first._pairs, first._groups)

    @classmethod
    def from_shifted(cls, shifted, weights=None) -> "Moments":
        """A Moments from :meth:`shifted_parts` and weights (default all 1)."""
        layout, reference, cross, parts, (pairs, groups) = shifted
        w = np.ones(len(parts)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(parts),) or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"weights must be {len(parts)} finite numbers >= 0, got {weights!r}")
        n = float(sum(wk * nk for wk, (nk, _) in zip(w, parts)))
        if n <= 0:
            raise ValueError("the weights leave no rows")
        packed = np.zeros_like(parts[0][1])
        for wk, (_, pk) in zip(w, parts):
            if wk:
                packed += wk * pk
        store_type = JointStore if cross is None else BlockedStore
        m = cls(pairs=pairs, groups=groups)
        m._layout, m._reference = layout, [r.copy() for r in reference]
        m._store = store_type.from_packed(layout, packed, cross)
        m._store.check_finite("combining statistics")
        m._n = int(round(n)) if float(n).is_integer() else n
        return m

    @locked
    def all_reduce(self, group=None) -> "Moments":
        """Sum the statistics of every rank of a ``torch.distributed`` group, in place (docs/math.md §1.2, protocol A).

        Rank 0's reference is broadcast; every rank moves its statistics to it exactly (T G Tᵀ, a no-op when the
        references already agree), then one SUM all-reduce of the packed upper triangle and n leaves every rank
        with the statistics of the union of all shards — equal to one pass over all the data. Each rank must hold
        at least one batch, with the same sites and widths. Works with the gloo (CPU) and NCCL (CUDA) backends.

        Returns
        -------
        self
        """
        import torch
        import torch.distributed as dist

        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError("all_reduce() needs an initialised torch.distributed process group")
        self._sync()
        world = dist.get_world_size(group)
        mine = (self.sites, tuple(self.dims.values()), self._n, self._ids is not None)
        everyone = [None] * world
        dist.all_gather_object(everyone, mine, group=group)
        for r, (sites, dims, n, has_ids) in enumerate(everyone):
            if n == 0:
                raise ValueError(f"all_reduce: rank {r} has no data; every rank must update() at least one batch")
            if (sites, dims) != mine[:2]:
                raise ValueError(
                    f"all_reduce: rank {r} has sites {list(sites)} with widths {list(dims)}, this rank has "
                    f"{list(mine[0])} with {list(mine[1])}"
                )
            if has_ids != mine[3]:
                raise ValueError(f"all_reduce: rank {r} {'recorded' if has_ids else 'did not record'} sample ids and "
                                 f"this rank {'did' if mine[3] else 'did not'}; record ids on every rank, or on none")
        ids = None
        if mine[3]:
            hashes = [None] * world
            dist.all_gather_object(hashes, self._ids.hashes, group=group)
            ids = IdTracker()
            for r, h in enumerate(hashes):
                try:
                    ids.merge(IdTracker.from_hashes(h))
                except ValueError as exc:
                    raise ValueError(f"all_reduce: rank {r}: {exc}") from None
        on_cuda = dist.get_backend(group) == "nccl"
        device = torch.device("cuda", torch.cuda.current_device()) if on_cuda else torch.device("cpu")
        ref = torch.from_numpy(np.concatenate(self._reference)).to(device)
        src = dist.get_global_rank(group, 0) if group is not None else 0
        dist.broadcast(ref, src=src, group=group)
        ref = ref.cpu().numpy()
        new_ref = [ref[self._layout.cols(s)].copy() for s in self._layout.sites]
        deltas = [c_new - c_old for c_new, c_old in zip(new_ref, self._reference)]
        store = self._store.shift(deltas)
        packed = torch.from_numpy(np.append(store.packed(), float(self._n))).to(device)
        dist.all_reduce(packed, op=dist.ReduceOp.SUM, group=group)
        packed = packed.cpu().numpy()
        store = type(store).from_packed(self._layout, packed[:-1], store.cross)
        store.check_finite("all_reduce")
        with self._guard.commit("all_reduce"):
            self._store, self._reference, self._n = store, new_ref, int(round(packed[-1]))
            if ids is not None:
                self._ids = ids
            if self._acc is not None:
                self._acc.rebase(new_ref)
            self._views.clear()
        return self

    # ------------------------------------------------------------------ views for metrics
    def full_view(self, center: bool = True) -> FullStatistics:
        """Every block of the statistics, shifted to the sample mean (``center=True``) or to 0 (raw moments) and
        symmetrised once, cached until the next update: what the matrix-valued metrics read (CCA family,
        Procrustes, affine maps), whose per-site factorisations are memoised on it."""
        return self.view("full", center)

    def pair_view(self, center: bool = True) -> PairStatistics:
        """Statistics read pair by pair on demand (‖block‖²_F, fourth-order terms, traces, site-pair blocks) about
        the mean or 0: what the trace metrics (linear / debiased CKA, RV, RV2) and the neuron matches read, without
        the copy, shift and symmetrisation of the whole matrix that :meth:`full_view` makes. Always this path,
        whether or not the full view is cached, so a metric's value never depends on what was computed before."""
        return self.view("pairs", center)

    @locked
    def view(self, kind: str = "pairs", center: bool = True):
        """The statistics view a registry measure reads — ``"pairs"`` (:meth:`pair_view`) or ``"full"``
        (:meth:`full_view`) — made by the statistics store (joint or pair-blocked), cached until the next update."""
        if kind not in ("pairs", "full"):
            raise ValueError(f"Moments has no {kind!r} view (it has 'pairs' and 'full'; Gram views: repsim.GramMoments)")
        self._require_data()
        self._sync()
        center = _validation.flag(center, "center")
        key = (kind, center)
        view = self._views.get(key)
        if view is None:
            deltas, ref = self._shift_to(center)
            view = self._views[key] = self._store.view(kind, self._n, deltas, ref, center)
        return view

    def _shift_to(self, center: bool):
        """Per-site reference moves δ to the sample mean (center) or to 0, and the resulting reference points."""
        if center:
            deltas = [s / self._n for s in self._store.site_sums()]
            return deltas, [c + d for c, d in zip(self._reference, deltas)]
        return [-c for c in self._reference], [np.zeros_like(c) for c in self._reference]

    def _require_data(self):
        if self._layout is None or self._n == 0:
            raise self._empty_error()

    def _empty_error(self) -> ValueError:
        return ValueError("Moments is empty: call update() with at least one batch first")

    @locked
    def _measure(self, metric: str, x, y, **options):
        self._check_site(x, "x"), self._check_site(y, "y")
        return measure_value(self, metric, x, y, options)

    # ------------------------------------------------------------------ metrics on sites (registry measures)
    def cka(self, x: str, y: str, debiased: bool = False) -> float:
        """Linear CKA between sites ``x`` and ``y`` (see :func:`repsim.cka`)."""
        return self._measure("cka", x, y, debiased=debiased)

    def rv(self, x: str, y: str, center: bool = True) -> float:
        """RV coefficient between sites ``x`` and ``y`` (see :func:`repsim.rv`)."""
        return self._measure("rv", x, y, center=center)

    def rv2(self, x: str, y: str, center: bool = True) -> float:
        """Modified RV coefficient RV2 between sites ``x`` and ``y`` (see :func:`repsim.rv2`)."""
        return self._measure("rv2", x, y, center=center)

    def cca(self, x: str, y: str, eps: float = 0.0, rtol: float = CCA_RTOL):
        """All canonical correlations between sites ``x`` and ``y`` → CCAResult (see :func:`repsim.cca`)."""
        return self._measure("cca", x, y, eps=eps, rtol=rtol)

    def svcca(self, x: str, y: str, keep: float = 0.99, k: int | None = None, *, return_result: bool = False):
        """SVCCA between sites ``x`` and ``y`` (see :func:`repsim.svcca`)."""
        res = self._measure("svcca", x, y, keep=keep, k=k)
        return res if _validation.flag(return_result, "return_result") else res.mean_rho

    def pwcca(self, x: str, y: str, convention: str = "morcos", eps: float = 0.0, *, return_result: bool = False):
        """Projection-weighted CCA between sites ``x`` and ``y`` (see :func:`repsim.pwcca`)."""
        res = self._measure("pwcca", x, y, convention=convention, eps=eps)
        return res if _validation.flag(return_result, "return_result") else res.value

    def procrustes(self, x: str, y: str, form: str = "distance") -> float:
        """Orthogonal Procrustes between sites ``x`` and ``y`` (see :func:`repsim.procrustes`)."""
        return self._measure("procrustes", x, y, form=form)

    def affine_map(self, x: str, y: str, ridge: float = 0.0):
        """Least-squares affine map from site ``x`` to site ``y`` → AffineMap (see :func:`repsim.affine_map`)."""
        return self._measure("affine_map", x, y, ridge=ridge)

    def max_match(self, x: str, y: str, eps: float, center: bool = False, dead: str = "count", dtype=None):
        """Maximum ε-approximate match between the neurons of sites ``x`` and ``y`` (see :func:`repsim.max_match`;
        ``dtype``: the activations' precision, which sets the dead-neuron threshold — float64 by default)."""
        return self._measure("max_match", x, y, eps=eps, center=center, dead=dead, dtype=dtype)

    def match_curve(self, x: str, y: str, eps=(0.1, 0.2, 0.3, 0.4, 0.5), center: bool = False, dead: str = "count",
                    dtype=None):
        """s(ε) for several ε between sites ``x`` and ``y`` (see :func:`repsim.match_curve`)."""
        return self._measure("match_curve", x, y, eps=eps, center=center, dead=dead, dtype=dtype)

    def simple_matches(self, x: str, y: str, eps: float, center: bool = False, dead: str = "count", n_threads=None,
                       dtype=None):
        """Simple matches between sites ``x`` and ``y`` (see :func:`repsim.simple_matches`)."""
        return self._measure("simple_matches", x, y, eps=eps, center=center, dead=dead, n_threads=n_threads,
                             dtype=dtype)

    @locked
    def matrix(self, metric: str, rows: Sequence[str] | None = None, cols: Sequence[str] | None = None, **options):
        """The site × site matrix of one registry measure from this single accumulation.

        Parameters
        ----------
        metric : str
            A measure of :func:`repsim.measures` with a feature-space form and one number per pair: ``"cka"``
            (``debiased=``), ``"debiased_cka"``, ``"rv"`` and ``"rv2"`` (``center=``), ``"cca"`` (mean ρ) and
            ``"cca_r2"`` (mean ρ²) (``eps=``, ``rtol=``), ``"svcca"`` (``keep=``, ``k=``), ``"pwcca"``
            (``convention=``, ``eps=``; rows are the X side), ``"procrustes"`` (``form=``), ``"affine_map"``
            (total R², ``ridge=``), ``"max_match"`` (s(ε), ``eps=`` required). Per-site factorisations are
            computed once and reused across the matrix.
        rows, cols : sequence of site names, optional
            Default: all sites, in order.

        Returns
        -------
        SimilarityMatrix
            ``values[i, j]`` is the metric between ``rows[i]`` and ``cols[j]``.
        """
        self._require_data()
        rows = self._site_list(rows, "rows")
        cols = self._site_list(cols, "cols")
        return measure_matrix(self, metric, rows, cols, options)

    @property
    def info(self) -> dict:
        """Accumulator details for reports (rows, batches, engine)."""
        return {"batches": self._batches, "engine": self._engine_name}

    # ------------------------------------------------------------------ persistence
    @locked
    def save(self, path) -> None:
        """Write the statistics to a versioned ``.npz`` file, atomically (exact). Version 1: the joint matrix's
        packed upper triangle; version 2: pair-blocked statistics (the kept pairs and their packed blocks)."""
        self._require_data()
        self._sync()
        fields = dict(
            format=np.array(FORMAT_NAME),
            version=np.array(FORMAT_VERSION if self._joint else BLOCKED_VERSION),
            sites=np.array(self._layout.sites, dtype=str),
            dims=np.array(self._layout.dims, dtype=np.int64),
            n=np.array(self._n, dtype=np.int64),
            batches=np.array(self._batches, dtype=np.int64),
            reference=np.concatenate(self._reference),
        )
        if self._ids is not None:
            fields["id_hashes"] = self._ids.hashes  # ValueError here if an id was accumulated twice
        if self._joint:
            fields["G_upper"] = self._store.packed()
        else:
            fields["pairs"] = np.array(self._store.cross, dtype=np.int64).reshape(-1, 2)
            fields["blocks"] = self._store.packed()
        atomic_write(path, lambda fh: np.savez(fh, **fields))

    @classmethod
    def load(cls, path, *, engine: str = "auto", n_threads: int | None = None, backend: str = "auto",
             precision: str = "fp64", window: int = 4096) -> "Moments":
        """Read statistics written by :meth:`save`. Refuses files of another format or a newer version.

        The keyword arguments are those of :class:`Moments` and apply to further updates (CUDA batches continue on
        the device; pair-blocked statistics continue on the CPU). A damaged or inconsistent file (a field missing,
        malformed, non-finite or disagreeing with the others) raises ValueError naming the file and the field."""
        required = {"format", "version", "sites", "dims", "n", "reference"}
        with read_npz(path, FORMAT_NAME, (FORMAT_VERSION, BLOCKED_VERSION), required) as data:
            version = read_int(data, "version")
            joint = version == FORMAT_VERSION
            stats = "G_upper" if joint else "blocks"
            kept = (stats,) if joint else (stats, "pairs")
            has_fields(data, kept, f"a file of format version {version} holds {list(kept)}")
            only_fields(data, required | {"batches", "id_hashes", *kept})
            sites = read_names(data, "sites")
            layout = Layout(sites, read_ints(data, "dims", len(sites), low=1, source="'sites'"))
            n = read_int(data, "n", low=1)
            batches = read_int(data, "batches") if "batches" in data.files else 0
            ref = read_floats(data, "reference", (layout.n_features,), source="'dims'")
            cross = None if joint else read_pairs(data, "pairs", len(sites))
            store_type = JointStore if joint else BlockedStore
            by = "'dims'" if joint else "'dims' and 'pairs'"
            packed = read_floats(data, stats, (store_type.packed_size(layout, cross),), source=by)
            # the last packed entry is G's ones-column diagonal (Σ 1 over the rows, in both stores): n itself
            require(packed[-1] == n, "n", f"is {n}, but the statistics in {stats!r} count {packed[-1]:.17g} rows")
            ids = None
            if "id_hashes" in data.files:
                try:
                    ids = IdTracker.from_hashes(read_field(data, "id_hashes"))
                except ValueError as exc:
                    raise FieldError("id_hashes", str(exc)) from None
                require(ids.n == n, "id_hashes", f"holds {ids.n} ids for n = {n} rows")
        pairs = ALL if joint else [(sites[i], sites[j]) for i, j in cross]
        m = cls(engine=engine, n_threads=n_threads, backend=backend if joint else "auto", precision=precision,
                window=window, pairs=pairs)
        m._layout = layout
        m._reference = [np.array(ref[layout.cols(s)], dtype=np.float64) for s in sites]
        m._store = store_type.from_packed(layout, np.asarray(packed, dtype=np.float64), cross)
        m._n = n
        m._batches = batches
        m._ids = ids
        return m


def _registry_method(spec):
    """``Moments.<name>(x, y, **options)`` for a registry measure with a feature-space form and no hand-written
    method: the registry's defaults, summary and reference make its signature and docstring."""

    def method(self, x: str, y: str, **options):
        return self._measure(spec.name, x, y, **options)

    shown = ", ".join(f"{k}={'…' if v is REQUIRED else repr(v)}" for k, v in spec.defaults.items())
    method.__name__ = method.__qualname__ = spec.name
    method.__doc__ = (f"{spec.summary} between sites ``x`` and ``y`` (registry measure {spec.name!r}; options "
                      f"{shown or 'none'}).\n\n        {spec.formula}\n\n        Reference: {spec.reference}")
    return method


for _spec in REGISTRY.values():
    if "feature" in _spec.spaces and not hasattr(Moments, _spec.name):
        setattr(Moments, _spec.name, _registry_method(_spec))
