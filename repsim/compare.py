"""``repsim.compare``: several models, one pass over the data, every layer pair and metric → :class:`Report`."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping

import numpy as np

from . import _validation
from .metrics import registry
from .results import Report, SimilarityMatrix

__all__ = ["Report", "compare"]

DEFAULT_METRICS = ("cka", "debiased_cka", "rv2", "pwcca")
ESTIMATORS = ("exact", "minibatch")
CHECKPOINT_FORMAT = "repsim.compare.checkpoint"
FORMAT_VERSION = 1


# ---------------------------------------------------------------------------------------------------- checks
def _check_models(models):
    from torch import nn

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


def _per_model_layers(models, layers, reduce, layer_specs):
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


def _check_metrics(metrics, metric_options, estimator):
    metrics = _validation.name_tuple(metrics, "metrics", "metric")
    known = registry.names("feature", matrix=True)
    unknown = [m for m in metrics if m not in known]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {list(known)}")
    if estimator == "minibatch":
        other = [m for m in metrics if m != "cka"]
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
    options = {}
    for m in metrics:
        opts = metric_options.get(m) or {}
        if not isinstance(opts, Mapping):
            raise TypeError(f"metric_options[{m!r}] must be a dict, got {type(opts).__name__}")
        if estimator == "minibatch" and opts:
            raise ValueError(f"estimator='minibatch' takes no options for 'cka', got {dict(opts)}")
        registry.lookup(m).options("feature", opts)
        options[m] = dict(opts)
    return metrics, options


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


# ---------------------------------------------------------------------------------------------------- batches
def _model_device(model):
    import torch

    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def _to_device(obj, device):
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, Mapping):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return tuple(_to_device(v, device) for v in obj)
    if isinstance(obj, list):
        return [_to_device(v, device) for v in obj]
    return obj


def _inputs(batch, index):
    import torch

    x = batch
    if isinstance(x, (tuple, list)):
        if not x:
            raise TypeError(f"batch {index} is an empty {type(batch).__name__}")
        x = x[0]
    if isinstance(x, (torch.Tensor, Mapping)):
        return x
    raise TypeError(
        f"batch {index}: cannot call the models on a {type(x).__name__}; batches must be tensors, (inputs, ...) "
        "tuples whose first element is a tensor or a dict, or dicts of keyword arguments (or pass forward=)"
    )


def _attention_mask(inputs):
    import torch

    if isinstance(inputs, Mapping):
        m = inputs.get("attention_mask")
        if isinstance(m, torch.Tensor):
            return m
    return None


# ---------------------------------------------------------------------------------------------------- checkpoints
def _checkpoint_meta(estimator, batch_size, precision, sites, layers):
    return {"estimator": estimator, "batch_size": batch_size, "precision": precision, "sites": list(sites),
            "layers": layers}


def _load_checkpoint(directory, meta):
    from ._minibatch import MinibatchCKA
    from .moments import Moments

    state_path = os.path.join(directory, "state.json")
    if not os.path.exists(state_path):
        return None
    with open(state_path, encoding="utf-8") as fh:
        state = json.load(fh)
    if state.get("format") != CHECKPOINT_FORMAT or state.get("version") != FORMAT_VERSION:
        raise ValueError(f"{state_path!r} is not a repsim.compare checkpoint of version {FORMAT_VERSION}")
    for key in ("estimator", "batch_size", "precision", "sites", "layers"):
        if state.get(key) != meta[key]:
            raise ValueError(
                f"checkpoint {directory!r} was made with {key}={state.get(key)!r}, this call has {meta[key]!r}; "
                "use another checkpoint directory or the same models, layers, estimator and precision"
            )
    path = os.path.join(directory, state["file"])
    if state["estimator"] == "exact":
        acc = Moments.load(path, precision=meta["precision"])
        if acc.n != state["n"]:
            raise ValueError(
                f"checkpoint {directory!r} is inconsistent: {path!r} holds n={acc.n}, state.json n={state['n']}"
            )
    else:
        with np.load(path, allow_pickle=False) as data:
            acc = MinibatchCKA.from_state({k: data[k] for k in data.files})
    return acc, int(state["batches"]), int(state["samples"])


def _save_checkpoint(directory, acc, batches, samples, meta):
    exact = meta["estimator"] == "exact"
    if exact and acc.n == 0:
        return
    os.makedirs(directory, exist_ok=True)
    prefix = "moments" if exact else "minibatch"
    fname = f"{prefix}-{batches:09d}.npz"
    path = os.path.join(directory, fname)
    tmp = path + ".tmp"
    if exact:
        acc.save(tmp)
        n = acc.n
    else:
        with open(tmp, "wb") as fh:
            np.savez(fh, **acc.state())
        n = acc.n_rows
    os.replace(tmp, path)
    state = {
        "format": CHECKPOINT_FORMAT,
        "version": FORMAT_VERSION,
        "batches": batches,
        "samples": samples,
        "n": n,
        "file": fname,
        **meta,
    }
    tmp = os.path.join(directory, "state.json.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(state, fh, indent=1)
    os.replace(tmp, os.path.join(directory, "state.json"))
    for old in os.listdir(directory):  # earlier snapshots, now superseded
        if old != fname and old.startswith(prefix + "-") and old.endswith(".npz"):
            os.remove(os.path.join(directory, old))


# ---------------------------------------------------------------------------------------------------- compare
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
    data : iterable of batches (e.g. a ``DataLoader``)
        How a batch reaches the models: a tensor ``x`` → ``model(x)``; a tuple/list ``(inputs, labels, ...)`` →
        its first element is used as below (the rest is ignored); a dict → ``model(**batch)`` (Hugging Face style;
        its ``"attention_mask"``, if present, masks tokens in ``pool``/``positions`` and makes ``channels="auto"``
        channel-last). Tensors are moved to ``device``. For anything else pass ``forward``.
    layers : list of module names / LayerSpec, dict name → reduction, or dict model name → one of those
        Module names as in ``model.named_modules()``; one selection is used for every model unless keyed by
        model name. Unknown names raise ``ValueError`` with close matches.
    metrics : str or sequence of str
        Any of ``"cka", "debiased_cka", "rv", "rv2", "cca", "cca_r2", "svcca", "pwcca", "procrustes"`` (see
        :meth:`repsim.Moments.matrix`); with ``estimator="minibatch"`` only ``"cka"``.
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
        batch, sites with different row counts, bad checkpoint, bad estimator settings.
    TypeError
        A hooked layer returning no tensor (the message names the layer), wrong argument types.
    """
    import torch

    from .torch import Capture, layer_specs

    models = _check_models(models)
    specs = _per_model_layers(models, layers, reduce, layer_specs)
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {list(ESTIMATORS)}, got {estimator!r}")
    metrics, options = _check_metrics(metrics, metric_options, estimator)
    allowed = ("fp64", "window32") if estimator == "exact" else ("fp64", "fp32")
    if precision not in allowed:
        raise ValueError(f"precision must be one of {list(allowed)} with estimator={estimator!r}, got {precision!r}")
    if estimator == "minibatch":
        if batch_size is None:
            raise ValueError("estimator='minibatch' needs batch_size (rows per chunk, at least 4)")
        from ._minibatch import check_batch_size

        batch_size = check_batch_size(batch_size)
    elif batch_size is not None:
        raise ValueError("batch_size is the chunk size of estimator='minibatch'; the exact estimator takes none")
    if checkpoint_every is not None:
        if checkpoint is None:
            raise ValueError("checkpoint_every needs checkpoint (a directory)")
        checkpoint_every = _validation.positive_int(checkpoint_every, "checkpoint_every")
    if checkpoint is not None:
        checkpoint = os.fspath(checkpoint)
        if os.path.exists(checkpoint) and not os.path.isdir(checkpoint):
            raise ValueError(f"checkpoint must be a directory, {checkpoint!r} is a file")
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
    devices = {name: (torch.device(device) if device is not None else _model_device(m)) for name, m in models.items()}
    meta = _checkpoint_meta(estimator, batch_size, precision, sites, layer_info)

    resumed = _load_checkpoint(checkpoint, meta) if checkpoint is not None else None
    if resumed is not None:
        acc, skip, n_samples = resumed
    else:
        from ._minibatch import MinibatchCKA
        from .moments import Moments

        acc = Moments(precision=precision) if estimator == "exact" else MinibatchCKA(batch_size, precision)
        skip, n_samples = 0, 0

    it = iter(data)
    for k in range(skip):
        try:
            next(it)
        except StopIteration:
            raise ValueError(
                f"the checkpoint in {checkpoint!r} has consumed {skip} batches, but data yields only {k}; "
                "resume with the same data in the same order"
            ) from None

    try:
        total = len(data)
    except TypeError:
        total = None
    from tqdm.std import tqdm

    saved = [(mod, mod.training) for model in models.values() for mod in model.modules()]
    done = skip
    bar = tqdm(it, total=total, initial=skip, disable=not progress, desc="repsim.compare", unit="batch")
    try:
        for model in models.values():
            model.eval()
        for cap in caps.values():
            cap.register()
        with torch.no_grad():
            for batch in bar:
                acts = {}
                sizes = {}
                # what the models take (the whole batch for forward=, else only its inputs), on each device needed
                given = batch if forward is not None else _inputs(batch, done)
                moved = {}
                for name, model in models.items():
                    cap = caps[name]
                    for other in caps.values():  # the same module may belong to several models
                        other.enabled = other is cap
                    dev = devices[name]
                    if dev not in moved:
                        moved[dev] = _to_device(given, dev)
                    x = moved[dev]
                    if forward is not None:
                        cap.attention_mask = _attention_mask(x[0] if isinstance(x, (tuple, list)) and x else x)
                        forward(model, x)
                    else:
                        inputs = x
                        cap.attention_mask = _attention_mask(inputs)
                        if isinstance(inputs, Mapping):
                            model(**inputs)
                        else:
                            model(inputs)
                    repeated = cap.repeated
                    if repeated:
                        raise ValueError(
                            f"model {name!r}: layer(s) {repeated} ran more than once in one forward pass (batch "
                            f"{done}); hook modules that run once per forward (a shared module is called for "
                            "each use: hook the modules around it instead)"
                        )
                    sizes[name] = cap.batch_sizes
                    got = cap.pop()
                    for spec, label in zip(specs[name], labels[name]):
                        acts[label] = got[spec.name]
                _check_batch_sizes(sizes, done)
                _check_rows(acts, done)
                acc.update(acts)
                n_samples += next(iter(sizes[next(iter(models))].values()))
                done += 1
                if checkpoint_every is not None and done % checkpoint_every == 0:
                    _save_checkpoint(checkpoint, acc, done, n_samples, meta)
    finally:
        bar.close()
        for cap in caps.values():
            cap.remove()
            cap.clear()
            cap.attention_mask = None
            cap.enabled = True
        for mod, flag in saved:
            mod.training = flag

    if done == 0:
        raise ValueError("data yielded no batches")
    info = {}
    if estimator == "exact":
        if acc.n == 0:
            raise ValueError(f"data yielded {done} batches but no rows")
    else:
        acc.finalize()
        info = {"chunks": acc.n_chunks, "rows_used": acc.n_used, "rows_dropped": acc.n_dropped}
    if checkpoint is not None:
        _save_checkpoint(checkpoint, acc, done, n_samples, meta)

    matrices = {}
    if estimator == "exact":
        for metric in metrics:
            matrices[metric] = acc.matrix(metric, rows=rows, cols=cols, **options[metric])
        n = acc.n
    else:
        opts = {"estimator": "minibatch", "batch_size": batch_size, "precision": precision}
        matrices["cka"] = SimilarityMatrix("cka", rows, cols, acc.values(rows, cols), opts)
        n = acc.n_rows
    return Report(
        matrices,
        models=list(models),
        sites=labels,
        rows_model=rows_model,
        cols_model=cols_model,
        layers=layer_info,
        n=n,
        n_samples=n_samples,
        n_batches=done,
        estimator=estimator,
        batch_size=batch_size,
        moments=acc if estimator == "exact" else None,
        info=info,
    )


def _check_batch_sizes(sizes, index):
    """sizes: model → layer → batch size. All layers of all models must agree."""
    first = None
    for model, per_layer in sizes.items():
        for layer, b in per_layer.items():
            if first is None:
                first = (model, layer, b)
                continue
            m0, l0, b0 = first
            if b != b0:
                if model != m0:
                    raise ValueError(
                        f"models {m0!r} and {model!r} produced different batch sizes for batch {index}: {b0} "
                        f"(layer {l0!r}) and {b} (layer {layer!r}); every model must see the same samples"
                    )
                raise ValueError(
                    f"model {model!r}: layers {l0!r} and {layer!r} have different leading dimensions ({b0} and {b}) "
                    f"in batch {index}; hook layers whose outputs have the batch on the first axis"
                )


def _check_rows(acts, index):
    rows = {k: int(v.shape[0]) for k, v in acts.items()}
    if len(set(rows.values())) > 1:
        raise ValueError(
            f"the sites have different numbers of rows in batch {index}: {rows}; every site must give one row per "
            "sample (reduce='flatten' or 'pool') or the same positions per sample (reduce='positions' on layers "
            "of equal spatial size / token count)"
        )
