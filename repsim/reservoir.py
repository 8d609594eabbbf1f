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
from ._validation import all_finite, check_batch, first_nonfinite, positive_int
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
    ``check(batch)`` validates a batch without keeping it; ``update`` checks, then commits all at once (a rejected
    batch leaves the sample unchanged). :meth:`store` gives the kept rows as an :class:`~repsim.ActivationStore`.
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

    def check(self, batch: Mapping[str, object]):
        """(sites, arrays, rows) of a valid batch: the same sites and widths as before, finite values."""
        order, arrays, rows = check_batch(batch, self._sites, self._dims, self._batches)
        for s, a in zip(order, arrays):
            if not all_finite(a):
                raise ValueError(f"site {s!r} (batch {self._batches}): {first_nonfinite(a)}; activations must be "
                                 "finite")
        return order, arrays, rows

    @locked
    def update(self, batch: Mapping[str, object]) -> "Reservoir":
        order, arrays, rows = self.check(batch)
        t0 = self._seen
        idx = np.arange(t0, t0 + rows)
        fill = idx < self.cap  # the first rows fill the reservoir in order
        late = idx[~fill]
        slots = np.empty(0, dtype=np.int64)
        src = np.empty(0, dtype=np.int64)
        if late.size:
            draws = self._rng.integers(0, late + 1)  # row t replaces slot j ~ U{0..t} when j < cap
            keep = draws < self.cap
            slots, src = draws[keep], np.flatnonzero(~fill)[keep]
            # a slot drawn twice in one batch holds the later row (as if the rows came one at a time)
            last = slots.size - 1 - np.unique(slots[::-1], return_index=True)[1]
            slots, src = slots[last], src[last]
        nfill = int(fill.sum())
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
                    buf[slots] = a[src]
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


def reservoir_nbytes(rows: int, widths) -> int:
    """Bytes of a float32 reservoir of ``rows`` rows over sites of these widths."""
    return 4 * int(rows) * int(sum(int(p) for p in widths))


def host(acts) -> dict:
    """A batch's activations as NumPy arrays on the host (torch tensors, on any device, are copied over)."""
    return {k: (v.detach().to("cpu").numpy() if hasattr(v, "detach") else v) for k, v in acts.items()}


class Tee:
    """The first pass's accumulator and the reservoir of the activation measures, fed the same batches: the
    reservoir checks a batch first, the accumulator takes it, then the reservoir keeps its sample of it (a batch
    either rejects changes neither)."""

    def __init__(self, acc, reservoir: Reservoir):
        self.acc, self.reservoir = acc, reservoir

    @property
    def n(self) -> int:
        return self.acc.n

    def update(self, acts) -> None:
        rows = host(acts)
        self.reservoir.check(rows)
        self.acc.update(acts)
        self.reservoir.update(rows)
