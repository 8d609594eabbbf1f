"""``repsim.compare``: several models, one pass over the data, every layer pair and metric → :class:`Report`.

Three steps: the plan (:mod:`repsim._plan`: checks, layer specs, captures, devices, the estimator), the stream
(:mod:`repsim._stream`: hooks and forward passes into one accumulator, checkpoints by :mod:`repsim.checkpoint`),
and the finish here (the matrices of the accumulator → :class:`~repsim.Report`). Every estimator's accumulator
implements :class:`repsim.accumulator.Accumulator`, so no step branches on the estimator.
"""
from __future__ import annotations

import dataclasses
import itertools
import sys

import numpy as np
from tqdm.std import tqdm

from . import planner
from ._limits import COMPARE_ACTIVATION_ROWS, SKETCH_CHECK_ROWS
from ._warnings import WarningSummary
from ._validation import integer, positive_int
from .accumulator import measure_value
from .checkpoint import load_checkpoint, save_checkpoint
from .metrics import registry
from .gram import GramMoments
from .ids import IdTracker
from .reservoir import Reservoir, Tee
from .inference import matrix_test
from .inference.gram_space import GRAM_MONTE_CARLO
from .inference.null import MOMENT_MEASURES, form_of, nonnegative, p_value, view_null
from .results import Report, SimilarityMatrix

__all__ = ["Report", "compare"]

DEFAULT_METRICS = ("cka", "debiased_cka", "rv2", "pwcca")


def compare(
    models,
    data,
    layers,
    metrics=DEFAULT_METRICS,
    reduce: str = "flatten",
    device=None,
    progress: bool = True,
    checkpoint=None,
    checkpoint_every: int | None = None,
    estimator: str = "exact",
    batch_size: int | None = None,
    metric_options=None,
    *,
    forward=None,
    precision: str = "fp64",
    pairs=None,
    max_memory=None,
    approximate=None,
    sketch_dim=None,
    inference=None,
    ids=None,
    activation_rows=None,
) -> Report:
    """Compare the layers of one or more models on the same data in one pass.

    Every requested layer of every model is captured with forward hooks (:mod:`repsim.torch`), reduced to
    ``(rows, features)`` inside the hook, and accumulated as site ``"<model>.<layer>"`` into one
    :class:`~repsim.Moments`; every metric is then computed from those statistics. The models run in eval mode under
    ``torch.no_grad()``; every module's previous training flag is restored afterwards (also on exceptions), and the
    hooks are always removed.

    Parameters
    ----------
    models : dict of str → torch.nn.Module, or one module (named ``"model"``)
        Compared on the same batches, in this order.
    data : iterable of batches (e.g. a ``DataLoader``), or one tensor / array holding every sample
        A single tensor (or NumPy array) is one dataset: it is cut into batches of DATA_BATCH_ROWS samples along its
        first axis (not iterated sample by sample).
        How a batch reaches the models: a tensor ``x`` → ``model(x)``; a tuple/list ``(inputs, labels, ...)`` →
        its first element is used as below (the rest is ignored); a dict → ``model(**batch)`` (Hugging Face style;
        its ``"attention_mask"``, if present, masks tokens in ``pool``/``positions`` and makes ``channels="auto"``
        channel-last). Tensors are moved to ``device``. For anything else pass ``forward``.
    layers : list of module names / LayerSpec, dict name → reduction, "all", or dict model name → one of those
        Module names as in ``model.named_modules()``; one selection is used for every model unless keyed by
        model name. Unknown names raise ``ValueError`` with close matches. ``"all"``: every leaf module (one
        without children) that returns a floating-point tensor with the batch on its first axis, found by one
        extra forward pass on the first batch (:func:`repsim.list_layers`; tuple outputs, integer outputs and
        modules run more than once are skipped), each reduced by ``reduce``; with ``progress`` the chosen layers
        and their output shapes are printed. ``{"a": "all", "b": ["fc"]}`` gives it for one model only.
    metrics : str or sequence of str
        Any measure of the registry (:func:`repsim.measures`) with a feature-space form and one number per pair —
        ``"cka", "debiased_cka", "rv", "rv2", "cca", "cca_r2", "svcca", "pwcca", "procrustes", "affine_map",
        "max_match"`` — by name or by another library's id (see :meth:`repsim.Moments.matrix`); the neighbourhood
        measures (``"mutual_knn"``, ``"cknna"``, ...: see ``activation_rows``); with
        ``estimator="minibatch"`` only ``"cka"``. Measures that exist only in Gram space — ``"rbf_cka"``,
        ``"debiased_rbf_cka"``, ``"cka"`` with ``metric_options={"cka": {"kernel": "rbf"}}`` — run the whole
        comparison in Gram space (n × n kernels; ``data`` needs a len(); no checkpoints; every other measure must
        have a Gram-space form too).
    reduce : {"flatten", "pool", "positions"}
        Reduction for layers given by name only (see :mod:`repsim.torch`).
    device : torch.device or str, optional
        Where the inputs go (default: the device of each model's first parameter or buffer, else the CPU). The
        models are not moved.
    progress : bool
        Show a tqdm progress bar.
    checkpoint : path, optional
        A directory. Every ``checkpoint_every`` batches (and at the end) the statistics and the number of batches
        consumed are saved there (``state.json`` + one ``.npz``, replaced atomically). If it already holds a
        checkpoint of the same models, layers and estimator, that is loaded and its batches are skipped (taken
        from ``data`` without running the models), so an interrupted run resumes with the same result as an
        uninterrupted one. **The data order must be deterministic** (no unseeded shuffling or augmentation).
    checkpoint_every : int, optional
        Batches between checkpoints (default: only at the end).
    estimator : {"exact", "minibatch"}
        ``"exact"``: full-data metrics from the exact statistics. ``"minibatch"``: Nguyen et al.'s minibatch CKA,
        a cheaper, different estimator whose value depends on ``batch_size`` (see :mod:`repsim._minibatch`).
    batch_size : int, optional
        Rows per chunk of the minibatch estimator (required there, at least 4; a trailing chunk with fewer than 4
        rows is dropped). Chunks are taken from the stream of rows regardless of the data's batch size.
    metric_options : dict metric → dict, optional
        Options per metric, e.g. ``{"pwcca": {"convention": "google"}, "svcca": {"k": 20}}``.
    forward : callable(model, batch), optional
        Runs one model on one batch (already moved to the device), replacing the rule above.
    precision : str, default "fp64"
        ``estimator="exact"``: ``"fp64"`` or ``"window32"`` — how CUDA activations are accumulated on their device
        (:class:`~repsim.Moments`; CPU activations always take the float64 path). ``estimator="minibatch"``:
        ``"fp64"`` or ``"fp32"`` — the precision of the chunk Grams (float32 is the peers' precision and 2–4× faster
        on CPUs; the HSIC₁ sums stay float64, |ΔCKA| ≈ 1e-9). Statistics and sums are float64 either way.

    pairs : None, "all", "between" or list of (site, site), keyword-only
        Which cross blocks the exact statistics keep (:class:`~repsim.Moments` ``pairs=``; docs/math.md §1.3).
        Default: with two models ``"between"`` — only the blocks between their layers, which is what the report
        shows (memory Σ(p + 1)² + Σ_a Σ_b p_a p_b instead of (Σp)²) — else ``"all"``. ``report.moments`` then
        answers metrics of those pairs only.
    max_memory : int or str, keyword-only
        Memory budget of the exact statistics (bytes or e.g. ``"8GB"``; default half of the available memory).
        The widths come from a first forward pass on the first batch; then :func:`repsim.plan` chooses one pass
        (the joint matrix, or the kept blocks) or several passes over the data (each keeping every layer's own
        block and a share of the cross blocks — exact; ``data`` must be re-iterable and yield the same batches in
        the same order, which is checked batch by batch), printed before streaming (``progress=True``) and kept in
        ``Report.plan``. When nothing fits, :class:`repsim.planner.PlanError` says what would. With ``checkpoint``
        only one pass is allowed.
    approximate : {None, "sketch"}, keyword-only
        Allow an approximate strategy when no exact plan fits the budget (never used when one does):
        ``"sketch"`` hashes every layer wider than k to k columns (CountSketch, :mod:`repsim._sketch`; k the widest
        that fits, or ``sketch_dim``) and accumulates the sketched activations exactly. Only for the Gram-based
        measures (``"cka"``, ``"debiased_cka"``, ``"rv"``, ``"rv2"``); not with ``checkpoint``. The error is
        measured on the first batch (both sides exactly, in Gram space) and reported in
        ``Report.approximation``; every cell involving a sketched layer is marked in
        ``SimilarityMatrix.approximate`` (``~`` when printed), the others are exact.
    sketch_dim : int, keyword-only
        The sketch width k of ``approximate="sketch"``.
    inference : {None, "moments", "monte_carlo"} or dict, keyword-only
        ``"moments"``: every matrix of a measure with an exact-moment permutation null ("cka", "debiased_cka",
        "rv", "rv2") carries ``p_values``, ``null_mean`` and ``null_sd`` — two exact permutation moments of each
        cell from the same statistics, no permutation drawn (docs/math.md §6); ``report["cka"].significant()``
        marks the cells that beat chance after Benjamini–Hochberg. Exact estimator only.
        ``"monte_carlo"`` (or ``{"method": "monte_carlo", "n_permutations": 1000, "seed": 0}``): the run is made
        in Gram space and every cell of every measure with a Gram-space Monte-Carlo test (linear, debiased and
        kernel CKA, RV, RV2, RSA: :func:`repsim.inference.gram_permutation_test`) gets seeded permutation
        p-values — O(cells·K·n²) after the pass.

    ids : str or int, keyword-only
        Where each batch carries its samples' ids (integers or strings, one per sample): a key of dict batches
        (removed before the models are called) or a position in tuple batches (``(inputs, labels, ids)`` →
        ``ids=2``). The run then checks that every batch holds one id per sample, that no sample appears twice, and
        — with several passes over the data — that every pass sees the same ids in the same order;
        ``report.info["ids"]`` gives their count and an order-independent digest (:class:`repsim.io.IdTracker`),
        to compare with another run's.

    activation_rows : int, keyword-only
        The measures of the activations themselves (the neighbourhood family: ``"mutual_knn"``, ``"cknna"``,
        ``"knn_jaccard"``, ...; no sufficient statistic holds a sample's nearest neighbours) are computed on a
        uniform sample of at most this many rows of the stream (default COMPARE_ACTIVATION_ROWS = 10,000), the same
        samples for every layer, drawn by seeded reservoir sampling (:class:`repsim.reservoir.Reservoir`; kept in
        float32, memory rows × Σp × 4 bytes, counted in the memory plan). ``report.info["activations"]`` states the
        rows kept and seen; every such matrix names the sample in ``SimilarityMatrix.info``-style text of the
        report. The other measures still use every row.

    Returns
    -------
    Report
        ``report["cka"]`` etc.: one :class:`~repsim.SimilarityMatrix` per metric. Rows/columns: one model → its
        layers × its layers; two models → first model's layers (rows) × second model's (columns); more → all
        layers × all layers.

    Raises
    ------
    ValueError
        Unknown layer (with suggestions) or metric, empty data, models giving different batch sizes for the same
        batch, sites with different row counts, bad checkpoint, bad estimator settings; ``layers="all"`` when
        the forward pass on the first batch fails or no layer qualifies.
    TypeError
        A hooked layer returning no tensor (the message names the layer), wrong argument types.
    """
    # torch is optional for `import repsim`: the plan and the stream (which need it) load with the first call
    from ._layers import expand_all
    from ._plan import make_plan
    from ._stream import as_batches, probe, skip_batches, stream

    layers, data = expand_all(models, layers, data, forward, device, progress, reduce, ids)  # "all": on batch 1
    plan = make_plan(models, layers, metrics, reduce, device, checkpoint, checkpoint_every, estimator, batch_size,
                     metric_options, forward, precision, pairs)
    _split_activation_metrics(plan, activation_rows)
    _check_approximate(plan, approximate, sketch_dim)
    plan.inference = _check_inference(plan, inference)
    plan.ids, plan.id_tracker = _check_ids(ids), (None if ids is None else IdTracker())
    data = as_batches(data)
    total = _length(data)
    resumed = load_checkpoint(plan.checkpoint, plan.checkpoint_meta, plan.load_accumulator) if plan.checkpoint else None
    it = iter(data)
    if resumed is not None:
        acc, skip, n_samples = resumed
        skip_batches(plan, it, skip)
        done, n_samples, _ = stream(plan, it, acc, skip, n_samples, progress, total)
        return finish(plan, acc, done, n_samples)
    if plan.estimator != "exact":
        acc = plan.new_accumulator()
        done, n_samples, _ = stream(plan, it, acc, 0, 0, progress, total)
        return finish(plan, acc, done, n_samples)
    if not plan.metrics:  # only measures of the activations: the reservoir is the whole run
        done, n_samples, _ = stream(plan, it, plan.reservoir, 0, 0, progress, total)
        if done == 0:
            raise ValueError("data yielded no batches")
        return _report(plan, {}, plan.reservoir.seen, n_samples, done, None, {}, None)
    first = next(it, _END)
    if first is _END:
        raise ValueError("data yielded no batches")
    probed = probe(plan, first)  # the widths before anything is allocated; this batch is not run again
    acts = probed.acts
    rows = next(iter(acts.values())).shape[0]
    monte_carlo = bool(plan.inference) and plan.inference["method"] == "monte_carlo"
    gram = "required" if plan.needs_gram or monte_carlo else (
        plan.checkpoint is None and all("gram" in registry.lookup(m).spaces for m in plan.metrics))
    memory = planner.plan({s: int(a.shape[1]) for s, a in acts.items()}, plan.pairs, plan.groups,
                          n=rows * total if total else None, max_memory=max_memory, batch_rows=max(rows, 1),
                          max_passes=1 if plan.checkpoint is not None else None,
                          activation_bytes=sum(a.numel() * a.element_size() for a in acts.values())
                          + _reservoir_bytes(plan, acts), gram=gram,
                          approximate=approximate, sketch_dim=sketch_dim)
    if memory.sketch:
        plan.use_sketch(memory.sketch, acts)
    if progress:
        tqdm.write(str(memory), file=sys.stderr)
    batches = itertools.chain([probed], it)
    if memory.n_passes > 1 and it is data:
        raise ValueError(
            f"the statistics need {memory.n_passes} passes over the data under the memory budget, but data is an "
            "iterator that can be read once; pass a re-iterable source (a list, a DataLoader) or raise max_memory"
        )
    if memory.space == "gram":
        return _gram_passes(plan, memory, data, batches, total, progress, stream)
    if memory.n_passes > 1:
        return _passes(plan, memory, data, batches, total, progress, stream)
    acc = plan.new_accumulator(memory, memory.passes[0])
    done, n_samples, _ = stream(plan, batches, _first_pass(plan, acc), 0, 0, progress, total)
    return finish(plan, acc, done, n_samples, memory)


_END = object()
SKETCHABLE = ("cka", "debiased_cka", "rv", "rv2")


def _check_inference(plan, inference):
    """False, or the inference asked for as a dict: {"method": "moments"} or {"method": "monte_carlo",
    "n_permutations": K, "seed": s}."""
    if inference is None or inference is False:
        return False
    if isinstance(inference, str):
        inference = {"method": inference}
    if not isinstance(inference, dict):
        raise TypeError(f"inference must be None, 'moments', 'monte_carlo' or a dict, got {type(inference).__name__}")
    unknown = set(inference) - {"method", "n_permutations", "seed"}
    if unknown:
        raise ValueError(f"inference: unknown key(s) {sorted(unknown)} (it takes 'method', 'n_permutations', 'seed')")
    method = inference.get("method")
    if method not in ("moments", "monte_carlo"):
        raise ValueError(f"inference must be None, 'moments' or 'monte_carlo', got {method!r}")
    if plan.estimator != "exact":
        raise ValueError(f"inference={method!r} reads the exact statistics; estimator='minibatch' has none")
    if method == "moments":
        if set(inference) != {"method"}:
            raise ValueError("inference='moments' draws no permutation: n_permutations and seed are Monte Carlo's")
        if not any(registry.lookup(m).name in MOMENT_MEASURES for m in plan.metrics):
            raise ValueError(f"inference='moments' covers {sorted(MOMENT_MEASURES)}; none of {list(plan.metrics)} "
                             "is one")
        return {"method": "moments"}
    if not any(registry.lookup(m).name in GRAM_MONTE_CARLO for m in plan.metrics):
        raise ValueError(f"inference='monte_carlo' covers {list(GRAM_MONTE_CARLO)}; none of {list(plan.metrics)} "
                         "is one")
    if plan.checkpoint is not None:
        raise ValueError("inference='monte_carlo' runs in Gram space, which keeps no checkpoint; drop checkpoint=")
    k = positive_int(inference.get("n_permutations", 1000), "inference['n_permutations']")
    return {"method": "monte_carlo", "n_permutations": k, "seed": inference.get("seed", 0)}


def _split_activation_metrics(plan, activation_rows) -> None:
    """Take the measures of the activations themselves (k-NN) out of the statistics' metrics: they are computed
    from a reservoir sample of the rows (``activation_rows``)."""
    plan.activation_metrics = tuple(m for m in plan.metrics if plan.spaces[m] == "activations")
    if activation_rows is not None and not plan.activation_metrics:
        raise ValueError("activation_rows sets the sample of the measures of the activations themselves (k-NN: "
                         f"{[m for m in registry.names() if registry.lookup(m).spaces == ('activations',)]}); "
                         "none is asked for")
    if not plan.activation_metrics:
        return
    if plan.checkpoint is not None:
        raise ValueError(f"metric(s) {list(plan.activation_metrics)} keep a sample of the activations, which a "
                         "checkpoint does not hold; drop checkpoint= (or compute them in a second call)")
    plan.metrics = tuple(m for m in plan.metrics if m not in plan.activation_metrics)
    rows = COMPARE_ACTIVATION_ROWS if activation_rows is None else activation_rows
    if isinstance(rows, bool) or not isinstance(rows, int):
        raise TypeError(f"activation_rows must be an int, got {type(rows).__name__}")
    if rows < 4:
        raise ValueError(f"activation_rows must be at least 4, got {rows}")
    plan.reservoir = Reservoir(rows, seed=0)


def _first_pass(plan, acc):
    """The first pass's accumulator, teed into the reservoir when activation measures are asked for."""
    return acc if plan.reservoir is None else Tee(acc, plan.reservoir)


def _reservoir_bytes(plan, acts) -> int:
    if plan.reservoir is None:
        return 0
    return sum(plan.reservoir.cap * int(a.shape[1]) * (8 if a.element_size() == 8 else 4) for a in acts.values())


def _activation_matrices(plan, summary) -> dict:
    store = plan.reservoir.store()
    note = (f"on {store.n:,} of {plan.reservoir.seen:,} rows (a uniform reservoir sample, seed "
            f"{plan.reservoir.seed}; activation_rows={plan.reservoir.cap:,})")
    out = {}
    with summary.collecting():
        for m in plan.activation_metrics:
            mat = store.matrix(m, rows=plan.rows, cols=plan.cols, **plan.options[m])
            out[m] = dataclasses.replace(mat, approximation=note if store.n < plan.reservoir.seen else None)
    return out


def _check_ids(ids):
    if ids is None or isinstance(ids, str):
        return ids
    if isinstance(ids, bool) or not isinstance(ids, int):
        raise TypeError(f"ids must be a dict key (str) or a tuple position (int), got {type(ids).__name__}")
    if ids < 1:
        raise ValueError(f"ids must be a position after the inputs (at least 1), got {ids}")
    return ids


def _tested(plan, m) -> bool:
    """Whether metric m's matrix carries a permutation test in this run."""
    if not plan.inference:
        return False
    name = registry.lookup(m).name
    return name in (MOMENT_MEASURES if plan.inference["method"] == "moments" else GRAM_MONTE_CARLO)


def _matrix(plan, acc, m):
    """One metric's matrix from an accumulator, with its permutation null when the plan asks for inference."""
    if _tested(plan, m):
        if plan.inference["method"] == "monte_carlo":
            return matrix_test(acc, m, rows=plan.rows, cols=plan.cols, method="monte_carlo",
                               n_permutations=plan.inference["n_permutations"], seed=plan.inference["seed"],
                               **plan.options[m])
        return matrix_test(acc, m, rows=plan.rows, cols=plan.cols, **plan.options[m])
    return acc.matrix(m, rows=plan.rows, cols=plan.cols, **plan.options[m])


def _check_approximate(plan, approximate, sketch_dim) -> None:
    if approximate in (None, False):
        if sketch_dim is not None:
            raise ValueError("sketch_dim is the width of approximate='sketch'; give approximate='sketch' too")
        return
    if approximate != "sketch":
        raise ValueError(f"approximate must be None or 'sketch', got {approximate!r}")
    if plan.estimator != "exact":
        raise ValueError("approximate='sketch' is a strategy of the exact estimator; estimator='minibatch' is "
                         "already approximate")
    if plan.checkpoint is not None:
        raise ValueError("approximate='sketch' cannot be combined with checkpoint (a checkpoint holds exact "
                         "statistics of one pass)")
    other = [m for m in plan.metrics if registry.lookup(m).name not in SKETCHABLE]
    if other:
        raise ValueError(f"approximate='sketch' approximates only the Gram-based measures {list(SKETCHABLE)}; "
                         f"metric(s) {other} have no sketch (drop them, or pool the layers to keep them exact)")
    if sketch_dim is not None:
        integer(sketch_dim, "sketch_dim", 2, bound="at least")


def _length(data) -> int | None:
    try:
        return len(data)
    except TypeError:
        return None


def finish(plan, acc, done: int, n_samples: int, memory=None) -> Report:
    """Step 3: the last checkpoint, then every requested matrix from the accumulator → :class:`Report`."""
    if done == 0:
        raise ValueError("data yielded no batches")
    if acc.n == 0:
        raise ValueError(f"data yielded {done} batches but no rows")
    if plan.checkpoint is not None:
        save_checkpoint(plan.checkpoint, acc, done, n_samples, plan.checkpoint_meta)
    summary = WarningSummary(plan.sites)
    with summary.collecting():
        matrices = {m: _matrix(plan, acc, m) for m in plan.metrics}
    info = {**acc.info, "warnings": summary.emit()}
    return _report(plan, matrices, acc.n, n_samples, done, plan.statistics_of(acc), info, memory)


def _report(plan, matrices, n, n_samples, done, statistics, info, memory) -> Report:
    if plan.reservoir is not None:
        summary = WarningSummary(plan.sites)
        matrices = {**matrices, **_activation_matrices(plan, summary)}
        matrices = {m: matrices[m] for m in (*plan.metrics, *plan.activation_metrics)} | {
            m: v for m, v in matrices.items() if m not in plan.metrics and m not in plan.activation_metrics}
        info = {**info, "activations": plan.reservoir.info}
        warned = summary.emit()
        if warned:
            info["warnings"] = [*info.get("warnings", []), *warned]
    if plan.id_tracker is not None:
        try:
            digest = plan.id_tracker.digest
        except ValueError as exc:  # an id recorded twice
            raise ValueError(f"data: {exc} (ids={plan.ids!r}): a sample appears in several batches") from None
        info = {**info, "ids": {"key": plan.ids, "n": plan.id_tracker.n, "digest": digest}}
    sketch = plan.sketch
    approximation = None
    if sketch is not None:
        approximation = {"strategy": "sketch", "k": sketch.k, "sketched": sketch.sketched,
                         "measured_error": dict(plan.sketch_error), "check_rows": min(SKETCH_CHECK_ROWS, n)}
        hashed = set(sketch.sketched)
        matrices = {
            m: dataclasses.replace(
                mat, approximate=[[r in hashed or c in hashed for c in mat.cols] for r in mat.rows],
                approximation=f"CountSketch to k = {sketch.k} columns; largest |error| measured on the first batch "
                              f"{plan.sketch_error[m]:.2g}")
            for m, mat in matrices.items()}
    return Report(
        matrices,
        models=list(plan.models),
        sites=plan.labels,
        rows_model=plan.rows_model,
        cols_model=plan.cols_model,
        layers=plan.layer_info,
        n=n,
        n_samples=n_samples,
        n_batches=done,
        estimator=plan.estimator,
        batch_size=plan.batch_size,
        statistics=statistics,
        info=info,
        plan=memory,
        approximation=approximation,
    )


class _Passes:
    """Runs the memory plan's passes over the data into the accumulator of each: the first pass continues the
    probed stream, the later ones read ``data`` again and must see the same batches (the first pass's
    fingerprints)."""

    def __init__(self, plan, memory, data, batches, total, progress, stream, label: str = ""):
        self.plan, self.memory, self.data, self.batches = plan, memory, data, batches
        self.total, self.progress, self.stream, self.label = total, progress, stream, label
        self.prints = self.n = self.n_samples = self.done = None

    def run(self, k: int, acc) -> None:
        source = self.batches if k == 0 else iter(self.data)
        self.done, self.n_samples, fp = self.stream(
            self.plan, source, _first_pass(self.plan, acc) if k == 0 else acc, 0, 0, self.progress, self.total,
            expect=self.prints,
            desc=f"repsim.compare {self.label}pass {k + 1}/{self.memory.n_passes}")
        if k == 0:
            if acc.n == 0:
                raise ValueError(f"data yielded {self.done} batches but no rows")
            self.prints, self.n = fp, acc.n

    def report(self, matrices, statistics, info) -> Report:
        return _report(self.plan, matrices, self.n, self.n_samples, self.done, statistics, info, self.memory)


def _passes(plan, memory, data, batches, total, progress, stream) -> Report:
    """Several exact passes (the memory plan's): each keeps every site's own block and its share of the cross
    blocks, gives the matrix cells of its pairs, and is freed before the next; every pass must see the same
    batches (fingerprints of the first pass)."""
    names = list(memory.sites)
    index = {s: k for k, s in enumerate(names)}
    specs = {m: registry.resolve(m) for m in plan.metrics}
    shape = (len(plan.rows), len(plan.cols))
    values = {m: np.full(shape, np.nan) for m in plan.metrics}
    tested = [m for m in plan.metrics if _tested(plan, m)]
    nulls = {m: (np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)) for m in tested}
    runner = _Passes(plan, memory, data, batches, total, progress, stream)
    summary = WarningSummary(plan.sites)
    for k, kept in enumerate(memory.passes):
        acc = plan.new_accumulator(memory, kept)
        runner.run(k, acc)
        pairs = set(kept)
        for a, r in enumerate(plan.rows):
            for b, c in enumerate(plan.cols):
                i, j = sorted((index[r], index[c]))
                if (i, j) in pairs or (i == j and k == 0):
                    with summary.collecting():
                        _cells(plan, acc, specs, values, nulls, r, c, (a, b))
        del acc
    matrices = {m: SimilarityMatrix(spec.name, plan.rows, plan.cols, values[m],
                                    spec.options("feature", {**preset, **plan.options[m]}),
                                    **(dict(zip(("p_values", "null_mean", "null_sd"), nulls[m]),
                                            inference="permutation null, two exact moments") if m in nulls else {}))
                for m, (spec, preset) in specs.items()}
    return runner.report(matrices, None, {"passes": memory.n_passes, "warnings": summary.emit()})


def _cells(plan, acc, specs, values, nulls, r, c, cell) -> None:
    """Every metric's value (and null) of one cell from one pass's accumulator."""
    for m, (spec, _) in specs.items():
        values[m][cell] = spec.matrix_value(measure_value(acc, m, r, c, plan.options[m]))
        if m in nulls:
            _cell_null(acc, m, spec, plan.options[m], r, c, values[m][cell], nulls[m], cell)


def _cell_null(acc, m, spec, options, r, c, value, out, cell) -> None:
    form = form_of(spec.name, options)
    null = view_null(acc.view("pairs", True), r, c, form)
    out[1][cell], out[2][cell] = null.mean, null.sd
    if np.isfinite(value):
        out[0][cell] = p_value(float(value), null, nonnegative(form))[0]


class _Columns:
    """Collects one column block of every site over a pass (all rows, in the batches' order), for Gram space."""

    def __init__(self, spans: dict):
        self.spans = spans
        self.parts = {s: [] for s in spans}
        self.n = 0

    def update(self, acts) -> None:
        for s, (c0, c1) in self.spans.items():
            self.parts[s].append(acts[s][:, c0:c1].detach().to("cpu").contiguous().numpy())
        self.n += int(next(iter(acts.values())).shape[0])

    def blocks(self):
        """(site, its block of all n rows), one site at a time, each site's parts freed as its block is made (the
        transient is the parts plus one site's block, not twice every block)."""
        for s in list(self.parts):
            parts = self.parts.pop(s)
            if parts and parts[0].shape[1]:
                block = np.concatenate(parts)
                del parts
                yield s, block


def _gram_passes(plan, memory, data, batches, total, progress, stream) -> Report:
    """Gram space (the memory plan's): every pass collects a block of every site's columns for all n rows and adds
    it to the site's n × n Gram (GramMoments, exact); the metrics come from the Grams. Every pass must see the same
    batches (fingerprints of the first pass)."""
    grams = None
    runner = _Passes(plan, memory, data, batches, total, progress, stream, label="Gram ")
    for k, (f0, f1) in enumerate(memory.passes):
        cols = _Columns({s: (round(f0 * p), round(f1 * p)) for s, p in memory.sites.items()})
        runner.run(k, cols)
        if grams is None:
            grams = GramMoments(runner.n, sites=list(memory.sites))
        for site, block in cols.blocks():
            grams.update_features({site: block})
            del block
        del cols
    summary = WarningSummary(plan.sites)
    with summary.collecting():
        matrices = {m: _matrix(plan, grams, m) for m in plan.metrics}
    return runner.report(matrices, grams, {"space": "gram", "passes": memory.n_passes, "warnings": summary.emit()})
