"""A uniform sample of a stream's rows, for the measures that need the activations themselves (the neighbourhood
family, docs/math.md §7) inside ``repsim.compare``: :class:`Reservoir` keeps at most ``rows`` rows of every site —
the same samples for every site — chosen by reservoir sampling (Vitter's Algorithm R) with a seeded generator, so
every row of the stream is kept with the same probability min(1, rows / n) whatever the batch sizes, and the same
stream and seed give the same sample. Rows are kept in float32 (float64 inputs stay float64).

Memory: at most rows × Σ p × 4 (or 8) bytes; the buffers grow (doubling) with the rows seen up to the cap.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._guard import Guard, locked
from ._validation import all_finite, check_batch, check_site_mapping, first_nonfinite, positive_int
from .activations import ActivationStore


class Reservoir:
    """Reservoir sample of ``rows`` rows of a stream of batches (site → (rows, features)).

    Parameters
    ----------
    rows : int
        Rows kept (the cap). The first ``rows`` rows of the stream fill it; row t > rows then replaces a uniformly
        chosen kept row with probability rows / t.
    seed : int
        Seeds the replacement draws.

    Notes
    -----
    ``update`` draws which rows of a batch it keeps, copies and checks only those, then commits all at once (a
    rejected batch leaves the sample and the generator unchanged). :meth:`store` gives the kept rows as an
    :class:`~repsim.ActivationStore`.
    """

    def __init__(self, rows: int, seed: int = 0):
        self.cap = positive_int(rows, "activation_rows")
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._guard = Guard()
        self._sites: tuple[str, ...] | None = None
        self._dims: dict[str, int] | None = None
        self._buf: dict[str, np.ndarray] = {}
        self._seen = 0
        self._batches = 0

    @property
    def n(self) -> int:
        """Rows kept."""
        return min(self._seen, self.cap)

    @property
    def seen(self) -> int:
        """Rows of the stream seen."""
        return self._seen

    @property
    def nbytes(self) -> int:
        return int(sum(b.nbytes for b in self._buf.values()))

    def _check(self, batch: Mapping[str, object]):
        """(sites, arrays, rows) of a batch of kept rows: the same sites and widths as before, finite values."""
        order, arrays, rows = check_batch(batch, self._sites, self._dims, self._batches)
        for s, a in zip(order, arrays):
            if not all_finite(a):
                raise ValueError(f"site {s!r} (batch {self._batches}): {first_nonfinite(a)}; activations must be "
                                 "finite")
        return order, arrays, rows

    def _rows_of(self, batch: Mapping[str, object]) -> int:
        """The rows of a batch (every site the same), read from the shapes alone (nothing is copied)."""
        check_site_mapping(batch, f"batch {self._batches}", "update()", "2-D array")
        shapes = {s: tuple(getattr(v, "shape", np.shape(v))) for s, v in batch.items()}
        for s, shape in shapes.items():
            if len(shape) != 2:
                raise ValueError(f"site {s!r} (batch {self._batches}): expected a 2-D array (rows × features), got "
                                 f"shape {shape}")
        if len({shape[0] for shape in shapes.values()}) != 1:
            raise ValueError(f"batch {self._batches}: every site must have the same number of rows (samples); got "
                             f"shapes {shapes}")
        return next(iter(shapes.values()))[0]

    def _draw(self, rows: int):
        """(the batch's rows to keep, the slots the late ones replace, how many fill the reservoir in order)."""
        t0 = self._seen
        nfill = max(0, min(rows, self.cap - t0))  # the first rows fill the reservoir in order
        late = np.arange(t0 + nfill, t0 + rows)
        slots = src = np.empty(0, dtype=np.int64)
        if late.size:
            draws = self._rng.integers(0, late + 1)  # row t replaces slot j ~ U{0..t} when j < cap
            keep = draws < self.cap
            slots, src = draws[keep], (late - t0)[keep]
            # a slot drawn twice in one batch holds the later row (as if the rows came one at a time)
            last = slots.size - 1 - np.unique(slots[::-1], return_index=True)[1]
            slots, src = slots[last], src[last]
        return np.concatenate([np.arange(nfill), src]).astype(np.int64), slots, nfill

    @locked
    def update(self, batch: Mapping[str, object]) -> "Reservoir":
        """Offer a batch (site → (rows, features) arrays or tensors, on any device): only the rows kept are copied
        to the host and checked (dtype, widths, finite); a rejected batch leaves the sample — and the generator —
        unchanged."""
        rows = self._rows_of(batch)
        state = self._rng.bit_generator.state
        try:
            pick, slots, nfill = self._draw(rows)
            order, arrays, _ = self._check({s: _take(v, pick) for s, v in batch.items()})
        except BaseException:
            self._rng.bit_generator.state = state
            raise
        t0 = self._seen
        need = min(self.cap, t0 + rows)
        grown = {}
        if self._sites is None:
            size = min(self.cap, max(need, 1024))
            grown = {s: np.empty((size, a.shape[1]), dtype=np.float64 if a.dtype == np.float64 else np.float32)
                     for s, a in zip(order, arrays)}
        elif need > next(iter(self._buf.values())).shape[0]:
            size = min(self.cap, max(need, 2 * next(iter(self._buf.values())).shape[0]))
            for s, b in self._buf.items():
                g = np.empty((size, b.shape[1]), dtype=b.dtype)
                g[:t0] = b[:t0]
                grown[s] = g
        with self._guard.commit(f"update (batch {self._batches})"):
            if self._sites is None:
                self._sites, self._dims = tuple(order), {s: int(a.shape[1]) for s, a in zip(order, arrays)}
            self._buf.update(grown)
            for s, a in zip(order, arrays):
                buf = self._buf[s]
                if nfill:
                    buf[t0:t0 + nfill] = a[:nfill]
                if slots.size:
                    buf[slots] = a[nfill:]
            self._seen += rows
            self._batches += 1
        return self

    def store(self) -> ActivationStore:
        """The kept rows as an ActivationStore (views of the reservoir's buffers, no copy)."""
        if not self._seen:
            raise ValueError("the reservoir is empty: the data yielded no rows")
        n = self.n
        return ActivationStore(max_rows=n).update({s: self._buf[s][:n] for s in self._sites}, copy=False)

    @property
    def info(self) -> dict:
        return {"activation_rows": self.n, "rows_seen": self._seen, "cap": self.cap, "seed": self.seed,
                "nbytes": self.nbytes}


def _take(value, pick: np.ndarray):
    """Rows ``pick`` of an array or a tensor (on any device; only those rows reach the host)."""
    if hasattr(value, "detach"):  # a torch tensor: index where it lives, then copy the kept rows over
        return value.detach()[pick].to("cpu")
    return np.asarray(value)[pick]


class Tee:
    """The first pass's accumulator and the reservoir of the activation measures, fed the same batches: the
    accumulator takes (and checks) a batch first, then the reservoir keeps its sample of it — copying only the rows
    it keeps to the host. A batch the accumulator rejects reaches neither."""

    def __init__(self, acc, reservoir: Reservoir):
        self.acc, self.reservoir = acc, reservoir

    @property
    def n(self) -> int:
        return self.acc.n

    def update(self, acts) -> None:
        self.acc.update(acts)
        self.reservoir.update(acts)
