"""The third space, ``"activations"``: :class:`ActivationStore` keeps the rows themselves (the neighbourhood measures
of docs/math.md §7 depend on every sample's nearest neighbours, which no sufficient statistic holds) under a stated
cap on the number of rows, and answers them by registry name like the other accumulators."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._files import atomic_write, only_fields, read_field, read_int, read_names, read_npz, require
from ._guard import Guard, locked
from ._limits import ACTIVATION_MAX_ROWS
from ._validation import all_finite, check_batch, first_nonfinite, flag, positive_int
from .accumulator import SiteBook, measure_matrix
from .metrics.registry import lookup
from .results import SimilarityMatrix
from .views import Memo

FORMAT_NAME = "repsim.ActivationStore"
FORMAT_VERSION = 1


class ActivationView(Memo):
    """The stored rows of each site (``rows(site)`` → (n_samples, n_features), float32 or float64 as given) and a
    per-view memo (each site's k-NN is found once per view and option set)."""

    __slots__ = ("_store", "_memo")

    def __init__(self, store: "ActivationStore"):
        self._store, self._memo = store, {}

    def rows(self, site: str) -> np.ndarray:
        return self._store.rows(site)


class ActivationStore(SiteBook):
    """The activations of named sites, row batches appended up to ``max_rows`` samples (the ``"activations"``
    space of the registry: the neighbourhood measures, docs/math.md §7).

    Parameters
    ----------
    max_rows : int
        Most samples kept (default ACTIVATION_MAX_ROWS = 200,000). An update that would pass it raises ValueError
        and leaves the store unchanged — nothing is truncated silently; subsample, or raise the cap.

    Notes
    -----
    Rows are kept in their own precision (float32 stays float32, float16 becomes float32; never a float64 copy).
    ``update(batch, copy=False)`` keeps references to the caller's arrays instead of copies (np.memmap inputs stay
    on disk); the caller must then not change them. Memory: the rows, O(n·k) per site for the neighbour lists and
    one float32 copy of a site while its k-NN is found (repsim/_knn.py); never an n × n matrix.
    """

    space = "activations"

    def __init__(self, max_rows: int = ACTIVATION_MAX_ROWS):
        self.max_rows = positive_int(max_rows, "max_rows")
        self._guard = Guard()  # the lock and broken flag: repsim/_guard.py
        self._sites: tuple[str, ...] = ()
        self._dims: dict[str, int] | None = None
        self._chunks: dict[str, list] = {}
        self._joined: dict[str, np.ndarray] = {}
        self._n = 0
        self._batches = 0
        self._view: ActivationView | None = None

    # ------------------------------------------------------------------ the accumulator protocol
    @property
    def n(self) -> int:
        return self._n

    @property
    def sites(self) -> tuple[str, ...]:
        return self._sites

    @property
    def info(self) -> dict:
        return {"rows": self._n, "max_rows": self.max_rows, "batches": self._batches, "nbytes": self.nbytes}

    @property
    def nbytes(self) -> int:
        return int(sum(c.nbytes for chunks in self._chunks.values() for c in chunks))

    def _empty_error(self) -> ValueError:
        return ValueError("ActivationStore is empty: call update() with at least one batch first")

    @locked
    def update(self, batch: Mapping[str, object], copy: bool = True) -> "ActivationStore":
        """Append one batch of rows: a mapping site name → (rows, n_features) array or tensor, the same rows for
        every site (ValueError / TypeError naming the site and the batch, the store unchanged)."""
        copy = flag(copy, "copy")
        index = self._batches
        order, arrays, rows = check_batch(batch, self._sites or None, self._dims, index)
        for s, a in zip(order, arrays):
            if not all_finite(a):
                raise ValueError(f"site {s!r} (batch {index}): {first_nonfinite(a)}; activations must be finite")
        if self._n + rows > self.max_rows:
            raise ValueError(
                f"batch {index}: {rows} more rows would make {self._n + rows} samples, over max_rows={self.max_rows} "
                "(the neighbourhood measures keep every row); subsample, or create the store with a larger max_rows"
            )
        with self._guard.commit(f"update (batch {index})"):
            if not self._sites:
                self._sites, self._dims = tuple(order), {s: a.shape[1] for s, a in zip(order, arrays)}
                self._chunks = {s: [] for s in order}
            for s, a in zip(order, arrays):
                if rows:
                    self._chunks[s].append(np.array(a) if copy else a)
            self._joined, self._view = {}, None
            self._n += rows
            self._batches += 1
        return self

    def rows(self, site: str) -> np.ndarray:
        """The stored rows of ``site``, (n_samples, n_features), C-contiguous (batches joined once, in the
        precision of their data: float64 if any batch was float64)."""
        self._check_site(site)
        if self._n == 0:
            raise self._empty_error()
        joined = self._joined.get(site)
        if joined is None:
            chunks = self._chunks[site]
            joined = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
            self._joined[site] = joined = np.ascontiguousarray(joined)
        return joined

    @locked
    def view(self, kind: str = "activations") -> ActivationView:
        """The activations view the registry's neighbourhood measures read (kept until the next update, so each
        site's k-NN is found once)."""
        if kind != "activations":
            raise ValueError(f"ActivationStore has only the 'activations' view, not {kind!r}")
        if not self._sites or self._n == 0:
            raise self._empty_error()
        if self._view is None:
            self._view = ActivationView(self)
        return self._view

    @locked
    def matrix(self, metric: str, rows: Sequence[str] | None = None, cols: Sequence[str] | None = None,
               **options) -> SimilarityMatrix:
        """The site × site matrix of a registry measure with an activations form (the neighbourhood family:
        ``repsim.measures()`` lists them); other measures raise ValueError saying where they have a form."""
        lookup(metric).check_space(self.space)
        rows, cols = self._site_list(rows, "rows"), self._site_list(cols, "cols")
        if self._n == 0:
            raise self._empty_error()
        return measure_matrix(self, metric, rows, cols, options)

    # ------------------------------------------------------------------ files
    @locked
    def save(self, path) -> None:
        """Write the rows (in their precision) to a versioned ``.npz`` file, atomically."""
        if not self._sites:
            raise self._empty_error()
        fields = {"format": np.array(FORMAT_NAME), "version": np.array(FORMAT_VERSION),
                  "max_rows": np.array(self.max_rows), "sites": np.array(self._sites)}
        for i, s in enumerate(self._sites):
            fields[f"rows_{i}"] = self.rows(s) if self._n else np.empty((0, self._dims[s]), dtype=np.float32)
        atomic_write(path, lambda fh: np.savez(fh, **fields))

    @classmethod
    def load(cls, path) -> "ActivationStore":
        """Read a store written by :meth:`save` (ValueError naming the file and the field when damaged)."""
        with read_npz(path, FORMAT_NAME, FORMAT_VERSION, {"max_rows", "sites"}) as data:
            sites = read_names(data, "sites")
            only_fields(data, {"format", "version", "max_rows", "sites", *(f"rows_{i}" for i in range(len(sites)))})
            max_rows = read_int(data, "max_rows", low=1)
            arrays = [read_field(data, f"rows_{i}") for i in range(len(sites))]
            for i, a in enumerate(arrays):
                require(a.ndim == 2 and a.dtype in (np.float32, np.float64) and a.shape[0] == arrays[0].shape[0]
                        and a.shape[0] <= max_rows and bool(np.isfinite(a).all()), f"rows_{i}",
                        f"must be finite float rows, as many as every site's and at most max_rows, got "
                        f"{a.dtype} {a.shape}")
        store = cls(max_rows)
        if arrays[0].shape[0]:
            store.update(dict(zip(sites, arrays)), copy=False)
        else:
            store._sites, store._dims = tuple(sites), {s: a.shape[1] for s, a in zip(sites, arrays)}
            store._chunks = {s: [] for s in sites}
        return store
