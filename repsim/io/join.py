"""Which rows of each file are the same sample (docs/files.md §2): an inner join on ids when the files carry them
(with the count of dropped ids, or a refusal with ``strict``), row order when none does (equal row counts), then a
seeded, deterministic sample cap. The result lists, per file, the rows to read, in one common order — the order of
the streamed file when there is one (so it is read front to back), else the first file's."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import integer


@dataclass(frozen=True)
class Alignment:
    """The joined samples: ``rows[k]`` are the rows of file k, aligned (``rows[k][i]`` of every k is sample i);
    ``ids`` their ids (None without ids); ``dropped[k]`` rows of file k that were left out for lack of a partner;
    ``capped`` samples left out by the sample cap."""

    rows: tuple
    ids: np.ndarray | None
    dropped: tuple
    capped: int = 0

    @property
    def n(self) -> int:
        return int(self.rows[0].shape[0]) if self.rows else 0

    def describe(self, names) -> str:
        """One line: how many samples were joined and what was dropped."""
        head = f"{self.n:,} samples" + (" joined by id" if self.ids is not None else " in row order")
        drops = [f"{d:,} of {name}" for d, name in zip(self.dropped, names) if d]
        tail = ("; dropped (id in no other file): " + ", ".join(drops)) if drops else ""
        cap = f"; {self.capped:,} left out by the sample cap" if self.capped else ""
        return head + tail + cap


def align(sources, strict: bool = False, max_samples: int | None = None, seed: int = 0) -> Alignment:
    """Join the rows of ``sources`` (each with ``n_rows``, ``ids``, ``random_access``, ``path``).

    Parameters
    ----------
    sources : sequence of repsim.io Source
    strict : bool
        Refuse (ValueError) any id that is not in every file, instead of dropping it.
    max_samples : int, optional
        Keep at most this many samples, drawn without replacement by ``numpy.random.default_rng(seed)`` — from the
        sorted ids when there are ids (the same samples whatever order the files store them in), else from the rows.
    seed : int

    Returns
    -------
    Alignment
    """
    if not sources:
        raise ValueError("no files to read")
    have = [s.ids is not None for s in sources]
    if any(have) and not all(have):
        missing = [s.path for s, h in zip(sources, have) if not h]
        raise ValueError(f"some files carry ids and {missing} do not; give every file its ids (or none)")
    if all(have):
        keys, rows = _join_ids(sources)
        dropped = tuple(int(s.n_rows - keys.shape[0]) for s in sources)
        if strict and any(dropped):
            bad = [f"{s.path}: {d} ids not in every other file" for s, d in zip(sources, dropped) if d]
            raise ValueError("--strict: the files' ids differ (" + "; ".join(bad) + ")")
        if keys.shape[0] == 0:
            raise ValueError("the files share no ids: " + ", ".join(f"{s.path} ({s.n_rows} rows)" for s in sources))
    else:
        counts = {s.path: s.n_rows for s in sources}
        if len(set(counts.values())) != 1:
            raise ValueError(f"the files have different numbers of rows {counts} and no ids to join them by; store "
                             "an ids array / column in each file (--ids) or give files of the same samples")
        keys, rows = None, [np.arange(sources[0].n_rows, dtype=np.int64) for _ in sources]
        dropped = tuple(0 for _ in sources)
    n = rows[0].shape[0]
    capped = 0
    if max_samples is not None:
        max_samples = integer(max_samples, "max_samples", 1, bound="at least")
        if max_samples < n:
            pick = np.sort(np.random.default_rng(integer(seed, "seed", 0)).permutation(n)[:max_samples])
            rows = [r[pick] for r in rows]
            keys = None if keys is None else keys[pick]
            capped = n - max_samples
    driver = next((k for k, s in enumerate(sources) if not s.random_access), 0)
    order = np.argsort(rows[driver], kind="stable")
    return Alignment(tuple(r[order] for r in rows), None if keys is None else keys[order], dropped, capped)


def _join_ids(sources):
    """(the common ids, sorted; per source the row of each) — an inner join of unique ids."""
    keys = np.sort(sources[0].ids)
    for s in sources[1:]:
        if (keys.dtype.kind in "iu") != (s.ids.dtype.kind in "iu"):
            raise TypeError(f"{s.path}: ids of type {s.ids.dtype} cannot be joined with ids of type {keys.dtype} "
                            f"({sources[0].path})")
        keys = np.intersect1d(keys, s.ids, assume_unique=True)
    rows = []
    for s in sources:
        order = np.argsort(s.ids, kind="stable")
        pos = np.searchsorted(s.ids, keys, sorter=order)
        rows.append(order[pos].astype(np.int64))
    return keys, rows
