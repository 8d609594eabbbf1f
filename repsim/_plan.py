"""``repsim.compare``, step 1 — the plan: every check of the arguments, the layer specs and captures, the devices,
the estimator and its accumulator, before the first batch is drawn."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from . import _validation
from ._minibatch import MinibatchCKA, check_batch_size
from ._sketch import CountSketch, Sketched, measured_error
from .ids import IdTracker
from .reservoir import Reservoir
from .metrics import registry
from .moments import Moments
from .torch import Capture, layer_specs

@dataclass(frozen=True)
class Estimator:
    """How one estimator accumulates: a new accumulator, one read back from a checkpoint, what it computes."""

    new: Callable  # (plan, memory plan or None, kept pairs of one pass) -> accumulator
    load: Callable  # (path, precision) -> accumulator
    precisions: tuple
    metrics: tuple
    options: bool  # whether metric options are accepted
    batch_size: bool  # whether it takes a chunk size


ESTIMATORS = {
    "exact": Estimator(lambda plan, memory, kept: _moments(plan, memory, kept),
                       lambda path, p: Moments.load(path, precision=p),
                       ("fp64", "window32"),
                       tuple(m for m in registry.names(matrix=True)
                             if {"feature", "gram", "activations"} & set(registry.lookup(m).spaces)), True, False),
    "minibatch": Estimator(lambda plan, memory, kept: MinibatchCKA(plan.batch_size, plan.precision),
                           lambda path, p: MinibatchCKA.load(path),
                           ("fp64", "fp32"), ("cka",), False, True),
}


def _moments(plan, memory, kept) -> Moments:
    """The exact accumulator of one pass: the joint matrix (kept None) or the pairs the memory plan assigned, under
    its budget."""
    if memory is None:
        return Moments(precision=plan.precision, pairs=plan.pairs, groups=plan.groups)
    names = list(memory.sites)
    pairs = "all" if kept is None else [(names[i], names[j]) for i, j in kept]
    return Moments(precision=plan.precision, pairs=pairs, max_memory=memory.budget)


@dataclass
class Plan:
    """Everything :func:`repsim.compare` needs to stream: resolved and checked once."""

    models: dict
    specs: dict  # model -> [LayerSpec]
    captures: dict  # model -> Capture
    labels: dict  # model -> [site label]
    rows: list
    cols: list
    rows_model: str | None
    cols_model: str | None
    layer_info: dict
    devices: dict
    metrics: tuple
    options: dict
    estimator: str
    batch_size: int | None
    precision: str
    checkpoint: str | None
    checkpoint_every: int | None
    forward: Callable | None
    pairs: object = "all"  # which cross blocks the exact statistics keep (Moments(pairs=...))
    groups: object = None
    sketch: CountSketch | None = None  # approximate="sketch": the wide sites' hash (set after the memory plan)
    sketch_error: dict | None = None  # metric → largest |sketched − exact| on the first batch
    inference: "dict | bool" = False  # False, or the permutation test asked for (_compare._check_inference)
    spaces: dict | None = None  # metric → "feature" or "gram": where its options make it computable
    ids: "str | int | None" = None  # where each batch carries its sample ids (compare(ids=...)): dict key / position
    id_tracker: IdTracker | None = None  # the ids seen in the first pass (one per sample)
    activation_metrics: tuple = ()  # measures of the activations themselves (k-NN), from a reservoir sample
    reservoir: Reservoir | None = None  # their rows: a uniform sample of the stream (repsim/reservoir.py)

    @property
    def needs_gram(self) -> bool:
        """Whether some measure (or its options, e.g. ``kernel="rbf"``) exists only in Gram space."""
        return any(v == "gram" for v in (self.spaces or {}).values())

    @property
    def sites(self) -> list:
        return [s for name in self.models for s in self.labels[name]]

    @property
    def checkpoint_meta(self) -> dict:
        pairs = self.pairs if isinstance(self.pairs, str) else [list(p) for p in self.pairs]
        return {"estimator": self.estimator, "batch_size": self.batch_size, "precision": self.precision,
                "sites": self.sites, "layers": self.layer_info, "pairs": pairs}

    def new_accumulator(self, memory=None, kept=None):
        """A new accumulator for one pass of the memory plan (``kept``: its cross pairs, None for every pair); with
        a sketch its batches are hashed first."""
        acc = ESTIMATORS[self.estimator].new(self, memory, kept)
        return acc if self.sketch is None else Sketched(acc, self.sketch)

    def use_sketch(self, k: int, acts: dict) -> None:
        """Hash the sites wider than ``k`` from now on; measure the error on ``acts`` (the first batch)."""
        self.sketch = CountSketch({s: int(a.shape[1]) for s, a in acts.items()}, k)
        self.sketch_error = measured_error(acts, self.sketch, self.metrics, self.options, self.rows, self.cols)

    @staticmethod
    def statistics_of(acc):
        """What a report keeps of an accumulator (the statistics behind a sketch)."""
        return acc.inner if isinstance(acc, Sketched) else acc

    def load_accumulator(self, path):
        return ESTIMATORS[self.estimator].load(path, self.precision)


def make_plan(models, layers, metrics, reduce, device, checkpoint, checkpoint_every, estimator, batch_size,
              metric_options, forward, precision, pairs=None) -> Plan:
    """Check every argument of :func:`repsim.compare` and resolve the layers (ValueError / TypeError naming the
    argument), before any batch is drawn or any model runs."""
    models = check_models(models)
    specs = _per_model_layers(models, layers, reduce)
    _validation.choice(estimator, "estimator", tuple(ESTIMATORS))
    est = ESTIMATORS[estimator]
    metrics, options, spaces = _check_metrics(metrics, metric_options, estimator)
    if precision not in est.precisions:
        raise ValueError(
            f"precision must be one of {list(est.precisions)} with estimator={estimator!r}, got {precision!r}"
        )
    batch_size = _check_batch_size(batch_size, estimator, est)
    checkpoint, checkpoint_every = _check_checkpoint(checkpoint, checkpoint_every)
    if forward is not None and not callable(forward):
        raise TypeError(f"forward must be callable(model, batch), got {type(forward).__name__}")
    caps = {name: Capture(model, specs[name], label=name) for name, model in models.items()}  # resolves names
    labels = {name: [f"{name}.{s.name}" for s in specs[name]] for name in models}
    sites = [s for name in models for s in labels[name]]
    dup = sorted({s for s in sites if sites.count(s) > 1})
    if dup:
        raise ValueError(f"site labels {dup} are not unique; rename the models")
    rows, cols, rows_model, cols_model = _axes(models, labels)
    layer_info = {name: [_layer_info(s, caps[name].modules[s.name]) for s in specs[name]] for name in models}
    devices = {name: (torch.device(device) if device is not None else model_device(m)) for name, m in models.items()}
    pairs, groups = _pairs(pairs, models, labels)
    plan = Plan(models, specs, caps, labels, rows, cols, rows_model, cols_model, layer_info, devices, metrics,
                options, estimator, batch_size, precision, checkpoint, checkpoint_every, forward, pairs, groups)
    plan.spaces = spaces
    if plan.needs_gram:
        gram_only = [m for m, sp in spaces.items() if sp == "gram"]
        no_gram = [m for m in metrics if spaces[m] == "feature" and "gram" not in registry.lookup(m).spaces]
        if no_gram:
            raise ValueError(f"metric(s) {gram_only} exist only in Gram space (n × n kernels) and {no_gram} only in "
                             "feature space; compare them in two calls")
        if checkpoint is not None:
            raise ValueError(f"metric(s) {gram_only} need Gram space, which has no checkpoints; drop checkpoint=")
    return plan


def _pairs(pairs, models, labels):
    """compare's pairs: by default the blocks between the two models of a two-model comparison (what the report
    shows), else every pair; "between" keeps the pairs of layers of different models."""
    if pairs is None:
        pairs = "between" if len(models) == 2 else "all"
    if isinstance(pairs, str):
        if pairs == "all":
            return "all", None
        if pairs == "between":
            if len(models) < 2:
                raise ValueError("pairs='between' compares the layers of different models; give two or more models")
            return "between", [labels[m] for m in models]
        raise ValueError(f"pairs must be None, 'all', 'between' or a list of (site, site) pairs, got {pairs!r}")
    return [tuple(p) for p in pairs], None


def _check_batch_size(batch_size, estimator: str, est: Estimator):
    if est.batch_size:
        if batch_size is None:
            raise ValueError(f"estimator={estimator!r} needs batch_size (rows per chunk, at least 4)")
        return check_batch_size(batch_size)
    if batch_size is not None:
        raise ValueError("batch_size is the chunk size of estimator='minibatch'; the exact estimator takes none")
    return None


def _check_checkpoint(checkpoint, checkpoint_every):
    if checkpoint_every is not None:
        if checkpoint is None:
            raise ValueError("checkpoint_every needs checkpoint (a directory)")
        checkpoint_every = _validation.positive_int(checkpoint_every, "checkpoint_every")
    if checkpoint is not None:
        checkpoint = os.fspath(checkpoint)
        if os.path.exists(checkpoint) and not os.path.isdir(checkpoint):
            raise ValueError(f"checkpoint must be a directory, {checkpoint!r} is a file")
    return checkpoint, checkpoint_every


def check_models(models):
    """``models`` as a dict name → module (one module is named ``"model"``); TypeError / ValueError naming it."""
    if isinstance(models, nn.Module):
        models = {"model": models}
    if not isinstance(models, Mapping):
        raise TypeError(f"models must be a dict name -> torch.nn.Module (or one module), got {type(models).__name__}")
    if not models:
        raise ValueError("models is empty")
    for name, model in models.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"model names must be non-empty str, got {name!r}")
        if not isinstance(model, nn.Module):
            raise TypeError(f"models[{name!r}] must be a torch.nn.Module, got {type(model).__name__}")
    return dict(models)


def _per_model_layers(models, layers, reduce):
    if isinstance(layers, Mapping) and layers:
        keys = list(layers)
        is_model = [k in models for k in keys]
        if all(is_model):
            missing = [m for m in models if m not in layers]
            if missing:
                raise ValueError(f"layers gives no layers for model(s) {missing}; the models are {list(models)}")
            return {m: layer_specs(layers[m], reduce) for m in models}
        if any(is_model):
            raise ValueError(
                f"layers mixes model names {[k for k in keys if k in models]} with other keys "
                f"{[k for k in keys if k not in models]}; give either model name -> layers for every model, or "
                "one layer selection used for every model"
            )
    if isinstance(layers, Mapping) and not layers:
        raise ValueError("layers is empty")
    specs = layer_specs(layers, reduce)
    return {m: list(specs) for m in models}


def _canonical(name: str) -> str | None:
    """repsim's name of a measure given by name or by another library's id, None when unknown."""
    try:
        return registry.lookup(name).name
    except ValueError:
        return None


def _check_metrics(metrics, metric_options, estimator):
    metrics = _validation.name_tuple(metrics, "metrics", "metric")
    known = ESTIMATORS["exact"].metrics
    unknown = [m for m in metrics if _canonical(m) not in known]
    if unknown:
        raise ValueError(
            f"unknown metric(s) {unknown}; choose from {list(known)} or their ids in other libraries "
            "(repsim.measures())"
        )
    other = [m for m in metrics if _canonical(m) not in ESTIMATORS[estimator].metrics]
    if other:
        raise ValueError(
            f"estimator='minibatch' computes only 'cka' (Nguyen et al.'s minibatch CKA); got metric(s) {other}. "
            "Use estimator='exact' for the others"
        )
    if metric_options is None:
        metric_options = {}
    if not isinstance(metric_options, Mapping):
        raise TypeError(f"metric_options must be a dict metric -> dict of options, got {type(metric_options).__name__}")
    extra = [k for k in metric_options if k not in metrics]
    if extra:
        raise ValueError(f"metric_options names metric(s) {extra} that are not in metrics {list(metrics)}")
    options, spaces = {}, {}
    for m in metrics:
        opts = metric_options.get(m) or {}
        if not isinstance(opts, Mapping):
            raise TypeError(f"metric_options[{m!r}] must be a dict, got {type(opts).__name__}")
        if opts and not ESTIMATORS[estimator].options:
            raise ValueError(f"estimator={estimator!r} takes no options for {m!r}, got {dict(opts)}")
        spec, preset = registry.resolve(m)
        spaces[m] = _space_of(spec, {**preset, **opts})
        options[m] = dict(opts)
    return metrics, options, spaces


def _space_of(spec, opts) -> str:
    """"feature" when the measure with these options has a feature-space form, else "gram", else "activations"
    (the neighbourhood measures: TypeError naming an option no space takes)."""
    if "feature" not in spec.spaces and "gram" not in spec.spaces:
        spec.options("activations", opts)
        return "activations"
    if "feature" in spec.spaces:
        try:
            spec.options("feature", opts)
            return "feature"
        except TypeError:
            if "gram" not in spec.spaces:
                raise
    spec.options("gram", opts)
    return "gram"


def _axes(models, labels):
    names = list(models)
    if len(names) == 1:
        r = c = names[0]
        return list(labels[r]), list(labels[c]), r, c
    if len(names) == 2:
        r, c = names
        return list(labels[r]), list(labels[c]), r, c
    every = [s for m in names for s in labels[m]]
    return every, list(every), None, None


def _layer_info(spec, module_name):
    out = spec.output
    if not (out is None or isinstance(out, (int, str))):
        out = getattr(out, "__name__", repr(out))
    return {"name": spec.name, "module": module_name, "reduce": spec.reduce, "channels": spec.channels, "output": out}


def model_device(model):
    """The device of the model's first parameter or buffer, else the CPU."""
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")
