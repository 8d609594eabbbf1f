"""Exact statistics from Dask collections by a tree reduction (docs/files.md §5.2): every partition (a chunk of rows
of a ``dask.array``, a partition of a ``dask.dataframe``, a shard of activation files in a ``dask.bag``) becomes a
:class:`repsim.Moments`; the partials are merged pairwise up a tree (:meth:`Moments.merge`, exact) and the metric is
read from the root — equal to one pass over all rows. Needs ``pip install "dask[distributed]"``
(``repsim-engine[dask]``); runs on any scheduler (threads, processes, a ``distributed`` cluster: Moments pickles).

Each intermediate Moments is used once, so merges happen in place. Memory per worker: one partition and two
statistics (a partial and the one merged into it).

Threads: Dask runs one task per worker thread, so every task here limits its own BLAS and Numba threads to
``threads_per_task`` (default 1; ``threadpoolctl``): otherwise each of the worker threads starts a BLAS pool as wide
as the machine and they fight over the cores (measured on 2 cores, 20,000 × 26 sites of 256 on the threaded
scheduler: 3.1× the single-process time unlimited, 1.4× limited).
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping

import dask
import dask.bag as db
from dask.delayed import delayed
from threadpoolctl import threadpool_limits

from ..moments import Moments
from ..io import file_statistics, open_files

#: Partials merged per node of the reduction tree.
SPLIT_EVERY = 8


#: BLAS and Numba threads per task (see the module docstring).
THREADS_PER_TASK = 1


_limit_lock = threading.Lock()
_limit = {"depth": 0, "limiter": None}


@contextlib.contextmanager
def _threads(n):
    """The BLAS thread limit of a task (None: no limit). The limit is process-wide, so it is set when the first of
    the tasks running at once enters and restored when the last one leaves (one task restoring it would lift it
    under the others)."""
    if n is None:
        yield
        return
    with _limit_lock:
        if _limit["depth"] == 0:
            _limit["limiter"] = threadpool_limits(n)
        _limit["depth"] += 1
    try:
        yield
    finally:
        with _limit_lock:
            _limit["depth"] -= 1
            if _limit["depth"] == 0:
                _limit["limiter"].restore_original_limits()
                _limit["limiter"] = None


def _task_options(options: dict, threads) -> dict:
    """Moments options of a task: its Numba passes use ``threads`` unless the caller chose ``n_threads``."""
    return options if threads is None or "n_threads" in options else dict(options, n_threads=threads)


def _partition(blocks: dict, options: dict, threads=None) -> Moments:
    with _threads(threads):
        return Moments(**_task_options(options, threads)).update(blocks)


def _merge_all(parts, threads=None):
    """Merge a list of partials (Moments, or (Moments, IdTracker or None) pairs) into the first, in place."""
    parts = list(parts)  # a Bag reduction hands an iterator
    first = parts[0]
    with _threads(threads):
        for other in parts[1:]:
            if isinstance(first, tuple):
                if first[1] is not None:
                    first[1].merge(other[1])  # ValueError when two shards share samples
                first[0].merge(other[0])
            else:
                first.merge(other)
    return first


def tree_reduce(partials: list, split_every: int = SPLIT_EVERY, threads_per_task=THREADS_PER_TASK):
    """A ``dask.delayed`` tree merging ``partials`` (delayed Moments) ``split_every`` at a time → one delayed."""
    if not partials:
        raise ValueError("no partitions to reduce")
    if split_every < 2:
        raise ValueError(f"split_every must be at least 2, got {split_every}")
    level = list(partials)
    while len(level) > 1:
        level = [delayed(_merge_all)(level[i:i + split_every], threads_per_task)
                 for i in range(0, len(level), split_every)]
    return level[0]


def moments_from_arrays(arrays: Mapping, *, split_every: int = SPLIT_EVERY, compute: bool = True,
                        threads_per_task: int | None = THREADS_PER_TASK, **options):
    """Moments of sites given as ``dask.array`` objects of the same samples (chunked by rows alike).

    Parameters
    ----------
    arrays : mapping of site name → dask.array of shape (n_samples, n_features)
        Rows chunked the same way in every array; columns are gathered into one chunk per row block.
    split_every : int
        Partials merged per tree node.
    compute : bool
        Return the computed Moments (default) or the ``dask.delayed`` root.
    threads_per_task : int or None, default 1
        BLAS and Numba threads of each task (the module docstring); None leaves them alone (e.g. one worker per
        machine with one thread).
    **options
        Arguments of :class:`repsim.Moments` (``pairs=``, ``groups=``, ``max_memory=``, ...).

    Returns
    -------
    Moments or dask.delayed.Delayed

    Examples
    --------
    >>> import dask.array as da, numpy as np
    >>> from repsim.integrations.dask import moments_from_arrays
    >>> x = da.from_array(np.random.default_rng(0).normal(size=(1000, 5)), chunks=(250, 5))
    >>> m = moments_from_arrays({"x": x, "y": x ** 2}, scheduler="sync")
    >>> m.n
    1000
    """
    scheduler = options.pop("scheduler", None)
    if not isinstance(arrays, Mapping) or not arrays:
        raise TypeError("arrays must be a non-empty mapping of site name → dask.array")
    names = list(arrays)
    chunks = {k: a.chunks[0] for k, a in arrays.items()}
    if len(set(chunks.values())) != 1:
        raise ValueError(f"arrays: the sites' row chunks differ {chunks}; rechunk them alike (a.rechunk({{0: ...}}))")
    for k, a in arrays.items():
        if a.ndim != 2:
            raise ValueError(f"arrays[{k!r}] has shape {a.shape}; expected (n_samples, n_features)")
    blocks = {k: a.rechunk({1: -1}).to_delayed()[:, 0] for k, a in arrays.items()}
    n_parts = len(chunks[names[0]])
    partials = [delayed(_partition)({k: blocks[k][i] for k in names}, options, threads_per_task)
                for i in range(n_parts)]
    root = tree_reduce(partials, split_every, threads_per_task)
    return root.compute(scheduler=scheduler) if compute else root


def moments_from_dataframe(df, sites: Mapping, *, split_every: int = SPLIT_EVERY, compute: bool = True,
                           threads_per_task: int | None = THREADS_PER_TASK, **options):
    """Moments of a ``dask.dataframe`` whose column groups are the sites.

    Parameters
    ----------
    df : dask.dataframe.DataFrame
    sites : mapping of site name → list of column names (its features, in order)
    split_every, compute, threads_per_task, **options
        As in :func:`moments_from_arrays`.
    """
    scheduler = options.pop("scheduler", None)
    if not isinstance(sites, Mapping) or not sites:
        raise TypeError("sites must be a non-empty mapping of site name → list of columns")
    missing = [c for cols in sites.values() for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"sites: columns {missing} are not in the dataframe")
    spec = {k: list(v) for k, v in sites.items()}
    partials = [delayed(_frame_partition)(part, spec, options, threads_per_task) for part in df.to_delayed()]
    root = tree_reduce(partials, split_every, threads_per_task)
    return root.compute(scheduler=scheduler) if compute else root


def _frame_partition(frame, spec: dict, options: dict, threads=None) -> Moments:
    return _partition({k: frame[cols].to_numpy(dtype="float64") for k, cols in spec.items()}, options, threads)


def moments_from_files(shards, *, split_every: int = SPLIT_EVERY, compute: bool = True, max_memory=None,
                       threads_per_task: int | None = THREADS_PER_TASK, **open_options):
    """Statistics of activation files in a ``dask.bag``: each element one shard (the files of the same samples, as
    given to ``repsim stats``), accumulated where it runs, merged up a ``Bag.reduction`` tree.

    Parameters
    ----------
    shards : sequence of sequences of paths, or a dask.bag of them
    split_every, compute, threads_per_task
        As in :func:`moments_from_arrays`.
    max_memory : int or str, optional
        Each shard's budget.
    **open_options
        Arguments of :func:`repsim.io.open_files` (``layers=``, ``ids=``, ``names=`` — give ``names`` when the
        shards' file stems differ).

    Returns
    -------
    (Moments, IdTracker or None)
        The ids tracker refuses (ValueError) shards that share samples.
    """
    scheduler = open_options.pop("scheduler", None)
    bag = shards if isinstance(shards, db.Bag) else db.from_sequence([list(s) for s in shards], partition_size=1)
    def accumulate(part):
        return _merge_all([_shard(p, max_memory, open_options, threads_per_task) for p in part], threads_per_task)

    root = bag.reduction(accumulate, lambda parts: _merge_all(parts, threads_per_task), split_every=split_every)
    return dask.compute(root, scheduler=scheduler)[0] if compute else root


def _shard(paths, max_memory, open_options, threads=None):
    files = open_files(paths, **open_options)
    try:
        with _threads(threads):
            acc, tracker, _ = file_statistics(files, max_memory, progress=False)
    finally:
        files.close()
    return acc, (tracker if tracker is not None else None)


__all__ = ["SPLIT_EVERY", "THREADS_PER_TASK", "moments_from_arrays", "moments_from_dataframe", "moments_from_files",
           "tree_reduce"]
