"""From activation files to statistics and reports (docs/files.md): open the files, join their samples
(:mod:`repsim.io.join`), plan the memory (:func:`repsim.plan`), stream batches of rows into :class:`repsim.Moments`
(several passes when the plan says so), and build the same :class:`repsim.Report` as :func:`repsim.compare`.

Sites are ``"<name>.<layer>"`` (name: the file's stem unless given). With two files the report's rows are the first
file's layers and its columns the second's, and only those cross pairs are accumulated (``pairs="between"``); with
one file every pair of its layers; with more, every pair of every layer."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import numpy as np
from tqdm.std import tqdm

from .._limits import FILE_BATCH_ROWS, FILE_CACHE_BYTES, FILE_MIN_BATCH_ROWS, UPDATE_ROWS
from ..inference import matrix_test
from ..inference.null import MOMENT_MEASURES
from ..metrics import registry
from ..moments import Moments
from ..planner import budget_of, plan
from ..results import Report, SimilarityMatrix
from ..ids import IdTracker
from .formats import open_source
from .join import Alignment, align

#: The measures of a report when none are named (those of repsim.compare).
DEFAULT_METRICS = ("cka", "debiased_cka", "rv2", "pwcca")


@dataclass
class Files:
    """Open activation files, their joined samples, and how they are accumulated."""

    sources: list
    alignment: Alignment

    @property
    def names(self) -> list:
        return [s.name for s in self.sources]

    @property
    def sites(self) -> dict:
        """name → site labels ``"<name>.<layer>"``."""
        return {s.name: [f"{s.name}.{k}" for k in s.layers] for s in self.sources}

    @property
    def dims(self) -> dict:
        return {f"{s.name}.{k}": w for s in self.sources for k, w in s.layers.items()}

    def pairs(self):
        """(pairs, groups) as for Moments: between the two files' layers, else every pair."""
        if len(self.sources) == 2:
            return "between", [self.sites[n] for n in self.names]
        return "all", None

    def axes(self):
        """(rows, cols, rows_model, cols_model) as repsim.compare lays them out."""
        sites, names = self.sites, self.names
        if len(names) <= 2:
            r, c = names[0], names[-1]
            return list(sites[r]), list(sites[c]), r, c
        every = [s for n in names for s in sites[n]]
        return every, list(every), None, None

    def meta(self) -> dict:
        """What a statistics file was made from (kept beside it, read back by :func:`report_from_stats`)."""
        return {"models": self.names, "sites": self.sites, "layers": self.layers(),
                "alignment": self.alignment.describe(self.names),
                "dropped": dict(zip(self.names, self.alignment.dropped)), "capped": self.alignment.capped}

    def layers(self) -> dict:
        return {s.name: [{"name": k, "features": w, "file": s.path, "format": s.format} for k, w in s.layers.items()]
                for s in self.sources}

    def close(self) -> None:
        for s in self.sources:
            s.close()


def open_files(paths, layers=None, ids: str | None = "ids", names=None, strict: bool = False,
               max_samples: int | None = None, seed: int = 0) -> Files:
    """Open activation files and join their samples.

    Parameters
    ----------
    paths : sequence of paths
        ``.npy``, ``.npz``, ``.safetensors``, ``.parquet`` / ``.pq``, ``.arrow`` / ``.feather`` / ``.ipc``.
    layers : sequence of str, optional
        Layers to keep (names as stored, or ``"<name>.<layer>"``); each must be in at least one file, and each file
        keeps those it has (all of its layers when none of them is named).
    ids : str or None, default "ids"
        The ids array / tensor / column in each file; files without it are joined by row order.
    names : sequence of str, optional
        Model names of the files (default: their stems); needed when shards of one model have different stems.
    strict : bool
        Refuse files whose ids differ instead of dropping the unmatched ones.
    max_samples, seed
        A seeded, deterministic cap on the number of samples (see :func:`repsim.io.join.align`).
    """
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise ValueError("give at least one activation file")
    if names is not None and len(names) != len(paths):
        raise ValueError(f"names: {len(names)} names for {len(paths)} files")
    sources = []
    try:
        for k, p in enumerate(paths):
            sources.append(open_source(p, ids=ids, name=None if names is None else names[k]))
        _select(sources, layers)
        labels = [s.name for s in sources]
        if len(set(labels)) != len(labels):
            raise ValueError(f"the files' names {labels} are not unique; rename the files or give names= (--names)")
        alignment = align(sources, strict=strict, max_samples=max_samples, seed=seed)
    except BaseException:
        for s in sources:
            s.close()
        raise
    return Files(sources, alignment)


def _select(sources, layers) -> None:
    if layers is None:
        return
    layers = [str(x) for x in layers]
    used = set()
    for s in sources:
        mine = [x for x in layers if x in s.layers or (x.startswith(s.name + ".") and x[len(s.name) + 1:] in s.layers)]
        used.update(mine)
        if mine:
            s.select(mine)
    unknown = [x for x in layers if x not in used]
    if unknown:
        raise ValueError(f"layers {unknown} are in none of the files; they hold "
                         + "; ".join(f"{s.path}: {list(s.layers)}" for s in sources))


def batch_rows_for(files: Files, max_memory=None, statistics_bytes: int = 0) -> int:
    """Rows per read batch: FILE_BATCH_ROWS, fewer when the budget left beside the statistics is smaller (a batch
    is held twice while rows read out of order are put in place), never below FILE_MIN_BATCH_ROWS."""
    row_bytes = sum(s.row_bytes for s in files.sources)
    room = budget_of(max_memory) - statistics_bytes
    rows = room // max(1, 2 * row_bytes) if room > 0 else FILE_MIN_BATCH_ROWS
    return int(max(FILE_MIN_BATCH_ROWS, min(FILE_BATCH_ROWS, rows, max(1, files.alignment.n))))


def memory_plan(files: Files, max_memory=None, max_passes: int | None = None):
    """The :class:`repsim.planner.MemoryPlan` of accumulating ``files`` (PlanError when nothing fits)."""
    pairs, groups = files.pairs()
    d = sum(files.dims.values()) + len(files.dims) + 1
    streamed = FILE_CACHE_BYTES if any(not s.random_access for s in files.sources) else 0
    first = plan(files.dims, pairs, groups, n=files.alignment.n, max_memory=max_memory, max_passes=max_passes,
                 batch_rows=FILE_BATCH_ROWS, workspace=0)
    rows = batch_rows_for(files, max_memory, first.statistics_peak - 8 * FILE_BATCH_ROWS * d + streamed)
    act = 2 * rows * sum(s.row_bytes for s in files.sources) + streamed
    return plan(files.dims, pairs, groups, n=files.alignment.n, max_memory=max_memory, max_passes=max_passes,
                batch_rows=min(rows, UPDATE_ROWS), activation_bytes=act), rows


def stream(files: Files, acc, rows: int, tracker: IdTracker | None = None, progress: bool = True,
           desc: str = "repsim") -> int:
    """Read every joined sample, ``rows`` at a time, into ``acc`` (and its ids into ``tracker``); returns batches."""
    al, sources = files.alignment, files.sources
    bar = tqdm(total=al.n, desc=desc, unit="samples", unit_scale=True, disable=not progress, file=sys.stderr,
               mininterval=0.5)
    batches = 0
    try:
        for start in range(0, al.n, rows):
            stop = min(al.n, start + rows)
            batch = {}
            for k, s in enumerate(sources):
                for layer, a in s.read(al.rows[k][start:stop]).items():
                    batch[f"{s.name}.{layer}"] = a
            acc.update(batch)
            if tracker is not None and al.ids is not None:
                tracker.update(al.ids[start:stop])
            batches += 1
            bar.update(stop - start)
    finally:
        bar.close()
    return batches


def file_statistics(files: Files, max_memory=None, progress: bool = True):
    """(Moments, IdTracker or None, batches) of ``files`` in one pass (PlanError when one pass does not fit)."""
    memory, rows = memory_plan(files, max_memory, max_passes=1)
    pairs, groups = files.pairs()
    acc = Moments(pairs=pairs, groups=groups, max_memory=memory.budget)
    tracker = IdTracker() if files.alignment.ids is not None else None
    batches = stream(files, acc, rows, tracker, progress, desc="repsim stats")
    return acc, tracker, batches


def compare_files(paths, layers=None, metrics=DEFAULT_METRICS, *, ids: str | None = "ids", names=None,
                  max_memory=None, max_samples: int | None = None, seed: int = 0, strict: bool = False,
                  progress: bool = True, metric_options=None, inference: str | None = None) -> Report:
    """Compare the layers stored in activation files → the :class:`repsim.Report` of :func:`repsim.compare`.

    Parameters
    ----------
    paths, layers, ids, names, strict, max_samples, seed
        As in :func:`open_files`.
    metrics : sequence of str
        Registry measures (default those of :func:`repsim.compare`).
    max_memory : int or str, optional
        Budget of the statistics and the read batches (default: half the available memory); the plan may take
        several passes over the files.
    progress : bool
        A tqdm progress bar on stderr.
    metric_options : dict metric → dict, optional
    inference : {None, "moments"}
        ``"moments"``: the matrices of the measures with an exact permutation null ("cka", "debiased_cka", "rv",
        "rv2") carry p-values, null means and spreads (:func:`repsim.inference.matrix_test`), as in
        :func:`repsim.compare`.

    Examples
    --------
    >>> import numpy as np, repsim, tempfile, os
    >>> from repsim.io import compare_files
    >>> d = tempfile.mkdtemp(); rng = np.random.default_rng(0); x = rng.normal(size=(500, 8))
    >>> np.savez(os.path.join(d, "a.npz"), h1=x, h2=x @ rng.normal(size=(8, 6)))
    >>> np.savez(os.path.join(d, "b.npz"), out=np.tanh(x))
    >>> report = compare_files([os.path.join(d, "a.npz"), os.path.join(d, "b.npz")], metrics=["cka"], progress=False)
    >>> report["cka"].rows, report["cka"].cols
    (['a.h1', 'a.h2'], ['b.out'])
    """
    files = open_files(paths, layers, ids, names, strict, max_samples, seed)
    try:
        return compare_open(files, metrics, max_memory, progress, metric_options, inference)
    finally:
        files.close()


def _options(metrics, metric_options) -> dict:
    if isinstance(metrics, str):
        metrics = [metrics]
    metrics = list(dict.fromkeys(metrics))
    if not metrics:
        raise ValueError("metrics: name at least one measure")
    options = {m: {} for m in metrics}
    for m, o in (metric_options or {}).items():
        if m not in options:
            raise ValueError(f"metric_options names {m!r}, which is not in metrics {metrics}")
        options[m] = dict(o)
    for m in metrics:
        registry.lookup(m)  # ValueError naming the unknown measure
    return options


def tested_metrics(options: dict, inference) -> set:
    """The metrics whose matrices carry a permutation test (``inference="moments"``; ValueError when none can)."""
    if inference is None:
        return set()
    if inference != "moments":
        raise ValueError(f"inference must be None or 'moments', got {inference!r}")
    tested = {m for m in options if registry.lookup(m).name in MOMENT_MEASURES}
    if not tested:
        raise ValueError(f"inference='moments' covers {sorted(MOMENT_MEASURES)}; none of {list(options)} is one")
    return tested


def _matrix(acc, m, rows, cols, options, tested):
    """One measure's matrix, with its permutation test when ``m`` is tested."""
    if m in tested:
        return matrix_test(acc, m, rows=rows, cols=cols, **options)
    return acc.matrix(m, rows=rows, cols=cols, **options)


def compare_open(files: Files, metrics=DEFAULT_METRICS, max_memory=None, progress: bool = True,
                 metric_options=None, inference: str | None = None) -> Report:
    """:func:`compare_files` on files already opened by :func:`open_files` (which the caller closes)."""
    options = _options(metrics, metric_options)
    tested = tested_metrics(options, inference)
    memory, rows = memory_plan(files, max_memory)
    rows_, cols, rm, cm = files.axes()
    names = list(memory.sites)
    if memory.n_passes == 1:
        pairs, groups = files.pairs()
        acc = Moments(pairs=pairs, groups=groups, max_memory=memory.budget)
        batches = stream(files, acc, rows, None, progress, desc="repsim compare")
        matrices = {m: _matrix(acc, m, rows_, cols, o, tested) for m, o in options.items()}
        return build_report(files.meta(), matrices, acc, batches, memory)
    index = {s: k for k, s in enumerate(names)}
    shape = (len(rows_), len(cols))
    values = {m: np.full(shape, np.nan) for m in options}
    nulls = {m: tuple(np.full(shape, np.nan) for _ in range(3)) for m in tested}
    done = {}
    for k, kept in enumerate(memory.passes):
        acc = Moments(pairs=[(names[i], names[j]) for i, j in kept], max_memory=memory.budget)
        batches = stream(files, acc, rows, None, progress, desc=f"repsim compare pass {k + 1}/{memory.n_passes}")
        keep = set(kept)
        for a, r in enumerate(rows_):
            for b, c in enumerate(cols):
                i, j = sorted((index[r], index[c]))
                if (i, j) in keep or (i == j and k == 0):
                    for m, o in options.items():
                        cell = _matrix(acc, m, [r], [c], o, tested)
                        values[m][a, b] = cell.values[0, 0]
                        if m in tested:
                            for out, got in zip(nulls[m], (cell.p_values, cell.null_mean, cell.null_sd)):
                                out[a, b] = got[0, 0]
                        done[m] = cell
        del acc
    matrices = {m: SimilarityMatrix(done[m].metric, rows_, cols, values[m], done[m].options,
                                    **(dict(zip(("p_values", "null_mean", "null_sd"), nulls[m]),
                                            inference=done[m].inference) if m in tested else {}))
                for m in options}
    return build_report(files.meta(), matrices, None, batches, memory, n=files.alignment.n,
                        info={"passes": memory.n_passes})


def build_report(meta: dict, matrices, statistics, batches: int, memory=None, n: int | None = None,
                 info=None) -> Report:
    """The :class:`repsim.Report` of file statistics (axes as :func:`repsim.compare` lays them out)."""
    models = list(meta["models"])
    sites = {m: list(meta["sites"][m]) for m in models}
    if len(models) <= 2:
        rm, cm = models[0], models[-1]
    else:
        rm = cm = None
    n = statistics.n if n is None else n
    info = dict(info or (statistics.info if statistics is not None else {}))
    info.update(samples=meta.get("alignment"), dropped=meta.get("dropped"), capped=meta.get("capped", 0))
    return Report(matrices, models=models, sites=sites, rows_model=rm, cols_model=cm, layers=meta["layers"], n=n,
                  n_samples=n, n_batches=batches, estimator="exact", statistics=statistics, info=info, plan=memory)


def report_from_stats(statistics: Moments, meta: dict, metrics=DEFAULT_METRICS, metric_options=None,
                      inference: str | None = None) -> Report:
    """The report of saved statistics (``repsim report``): the matrices of ``metrics`` on the axes of ``meta``
    (``inference="moments"``: with permutation p-values, as in :func:`compare_files`)."""
    options = _options(metrics, metric_options)
    tested = tested_metrics(options, inference)
    models = list(meta["models"])
    sites = [s for m in models for s in meta["sites"][m]]
    if len(models) <= 2:
        rows_, cols = list(meta["sites"][models[0]]), list(meta["sites"][models[-1]])
    else:
        rows_, cols = sites, list(sites)
    matrices = {m: _matrix(statistics, m, rows_, cols, o, tested) for m, o in options.items()}
    return build_report(meta, matrices, statistics, statistics.info.get("batches", 0))


def stats_paths(path) -> str:
    """The id/meta file kept beside a statistics file: ``<stats>.ids.npz``."""
    path = os.fspath(path)
    root = path[:-4] if path.endswith(".npz") else path
    return root + ".ids.npz"


def save_stats(path, statistics: Moments, tracker: IdTracker | None, meta: dict) -> list:
    """Write the statistics (``Moments.save``) and beside them the ids and what they were made from."""
    statistics.save(path)
    side = stats_paths(path)
    (tracker if tracker is not None else IdTracker()).save(side, dict(meta, ids=tracker is not None))
    return [os.fspath(path), side]


def load_stats(path):
    """(Moments, IdTracker or None, meta) of a file written by :func:`save_stats`."""
    statistics = Moments.load(path)
    side = stats_paths(path)
    if not os.path.exists(side):
        models = sorted({s.split(".", 1)[0] for s in statistics.sites})
        meta = {"models": models, "sites": {m: [s for s in statistics.sites if s.split(".", 1)[0] == m]
                                            for m in models},
                "layers": {}, "alignment": f"{statistics.n:,} samples", "dropped": {}, "capped": 0, "ids": False}
        return statistics, None, meta
    tracker = IdTracker.load(side)
    meta = tracker.meta
    return statistics, (tracker if meta.get("ids") else None), meta


def merge_stats(paths):
    """(Moments, IdTracker or None, meta) of several statistics files merged exactly (:meth:`Moments.merge`);
    ValueError when they overlap in ids or differ in sites."""
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise ValueError("give at least one statistics file")
    total, tracker, meta = load_stats(paths[0])
    for p in paths[1:]:
        other, other_ids, other_meta = load_stats(p)
        if other_meta.get("sites") != meta.get("sites"):
            raise ValueError(f"{p}: its sites {other_meta.get('sites')} differ from {paths[0]}'s {meta.get('sites')}")
        if (other_ids is None) != (tracker is None):
            raise ValueError(f"{p}: one of the files records ids and the other does not ({paths[0]})")
        if tracker is not None:
            try:
                tracker.merge(other_ids)
            except ValueError as exc:
                raise ValueError(f"{p}: {exc} (with {', '.join(paths[:paths.index(p)])})") from None
        total.merge(other)
        meta["dropped"] = {k: meta.get("dropped", {}).get(k, 0) + v for k, v in other_meta.get("dropped", {}).items()}
        meta["capped"] = meta.get("capped", 0) + other_meta.get("capped", 0)
    meta["alignment"] = f"{total.n:,} samples from {len(paths)} merged statistics files"
    return total, tracker, meta
