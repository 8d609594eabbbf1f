"""Feature space or Gram space: the crossover rule (docs/math.md §4) and the memory of packed Grams."""
from __future__ import annotations

from collections.abc import Sequence

from .._limits import DEFAULT_GRAM_BUDGET, GRAM_RATIO
from .._validation import choice, flag
from .tiles import tile_side

#: The ``space=`` choices of the array functions.
SPACES = ("auto", "feature", "gram")


def gram_nbytes(n: int, sites: int = 2, tile: int | None = None) -> int:
    """Bytes of the packed float64 Grams of ``sites`` sites of n samples (n(n+1)/2 words + tile padding each)."""
    n = int(n)
    T = tile_side(n, tile)
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
    choice(space, "space", SPACES)
    full_columns = flag(full_columns, "full_columns")
    if space != "auto":
        return space
    if not full_columns or sum(int(w) for w in widths) <= GRAM_RATIO * n:
        return "feature"
    if memory_limit is None:
        avail = available_memory()
        memory_limit = avail // 2 if avail else DEFAULT_GRAM_BUDGET
    return "gram" if gram_nbytes(n, len(widths)) <= memory_limit else "feature"
