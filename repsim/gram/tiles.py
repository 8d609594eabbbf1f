"""Strip-packed storage of the symmetric n × n Grams (layout: repsim/_kernels/numba_gram.py) and the thread
setting of the Numba passes over its tiles."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._limits import PARALLEL_MIN_ENTRIES, TILE


@dataclass(frozen=True)
class Tiles:
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
    def make(n: int, tile: int | None = None) -> "Tiles":
        T = tile_side(n, tile)
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
        return Tiles(n, T, arr(ti0), arr(tj0), arr(tr), arr(tc), arr(toff), arr(tstr), tuple(strips), off)

    @property
    def arrays(self):
        return self.ti0, self.tj0, self.tr, self.tc, self.toff, self.tstr

    @property
    def count(self) -> int:
        return int(self.ti0.shape[0])


def tile_side(n: int, tile: int | None) -> int:
    return max(1, min(int(tile) if tile else TILE, n))


class threads:
    """Context manager: numba's thread count for the current thread, restored on exit (docs/contributing.md rule 3).

    Uses at most ``n_threads``, at most one thread per tile, and one thread for Grams under PARALLEL_MIN_ENTRIES.
    """

    def __init__(self, n_threads: int, tiles: "Tiles | None" = None):
        import numba  # Numba loads on the first Gram-space pass, not with `import repsim` (about 0.5 s)

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


def kernels():
    """The Numba tile kernels (compiled on first use; imported here so `import repsim` stays light)."""
    from .._kernels import numba_gram

    return numba_gram
