"""``repsim.compare``, step 2 — the stream: every batch through every model once, the hooked layers' activations
into the accumulator, checkpoints on the way. Hooks are always removed and every module's training flag restored,
also on exceptions."""
from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.std import tqdm

from ._limits import DATA_BATCH_ROWS
from ._plan import Plan
from .ids import hash_ids
from .checkpoint import save_checkpoint


def as_batches(data):
    """``data`` as an iterable of batches: one tensor or NumPy array holding every sample is cut into batches of
    DATA_BATCH_ROWS along its first axis (iterating it would give single samples); anything else is returned as it
    is."""
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(data)
    if isinstance(data, torch.Tensor):
        if data.ndim < 2:
            raise ValueError(f"data is one tensor of shape {tuple(data.shape)}; give samples along the first axis "
                             "(at least 2-D: samples × features) or an iterable of batches")
        return [data[k:k + DATA_BATCH_ROWS] for k in range(0, int(data.shape[0]), DATA_BATCH_ROWS)]
    return data


def skip_batches(plan: Plan, it, skip: int) -> None:
    """Take the ``skip`` batches a checkpoint already holds from the iterator, without running the models."""
    for k in range(skip):
        try:
            batch = next(it)
        except StopIteration:
            raise ValueError(
                f"the checkpoint in {plan.checkpoint!r} has consumed {skip} batches, but data yields only {k}; "
                "resume with the same data in the same order"
            ) from None
        if plan.ids is not None:  # the skipped samples count in the run's ids
            n = _ids_length(plan, batch, k)
            plan.id_tracker.update_hashes(batch_ids(plan, batch, n, k))


@contextlib.contextmanager
def hooked(plan: Plan):
    """The models in eval mode under no_grad with the capture hooks registered; everything restored on exit."""
    saved = [(mod, mod.training) for model in plan.models.values() for mod in model.modules()]
    try:
        for model in plan.models.values():
            model.eval()
        for cap in plan.captures.values():
            cap.register()
        with torch.no_grad():
            yield
    finally:
        for cap in plan.captures.values():
            cap.remove()
            cap.clear()
            cap.attention_mask = None
            cap.enabled = True
        for mod, flag in saved:
            mod.training = flag


@dataclass
class Probed:
    """A batch already run through the models (by :func:`probe`): :func:`stream` uses its activations instead of
    running the models on it again."""

    batch: object
    acts: dict
    sizes: dict


def probe(plan: Plan, batch) -> Probed:
    """Run the models on one batch (to learn the widths before planning the memory); the result goes first into
    :func:`stream`, which does not run the models on that batch again."""
    with hooked(plan):
        acts, sizes = _forward_all(plan, batch, 0)
        _check_batch_sizes(sizes, 0)
        _check_rows(acts, 0)
    return Probed(batch, acts, sizes)


def stream(plan: Plan, batches, acc, start: int, n_samples: int, progress: bool, total=None, expect=None,
           desc: str = "repsim.compare") -> tuple[int, int, list]:
    """Feed ``batches`` (an iterator; the first ``start`` batches already consumed) through the plan's models into
    ``acc``; return (batches consumed, samples seen, the batches' fingerprints). With ``expect`` (the fingerprints
    of an earlier pass) every batch must be the same as in that pass (ValueError otherwise). An item that is a
    :class:`Probed` batch is accumulated from the activations it carries."""
    done, prints = start, []
    bar = tqdm(batches, total=total, initial=start, disable=not progress, desc=desc, unit="batch")
    try:
        with hooked(plan):
            for batch in bar:
                if isinstance(batch, Probed):
                    batch, acts, sizes = batch.batch, batch.acts, batch.sizes
                else:
                    acts, sizes = _forward_all(plan, batch, done)
                    _check_batch_sizes(sizes, done)
                    _check_rows(acts, done)
                size = next(iter(sizes[next(iter(plan.models))].values()))
                hashes = batch_ids(plan, batch, size, done)
                fp = fingerprint(batch, hashes)
                if expect is not None:
                    _check_same(fp, expect, done, hashes is not None)
                acc.update(acts)
                if hashes is not None and expect is None:
                    plan.id_tracker.update_hashes(hashes)
                n_samples += size
                done += 1
                prints.append(fp)
                if plan.checkpoint_every is not None and done % plan.checkpoint_every == 0:
                    save_checkpoint(plan.checkpoint, acc, done, n_samples, plan.checkpoint_meta)
    finally:
        bar.close()
    if expect is not None and len(prints) != len(expect):
        raise ValueError(
            f"data yielded {len(prints)} batches in this pass and {len(expect)} in the first: several passes need a "
            "re-iterable data source that yields the same batches in the same order (no shuffling)"
        )
    return done, n_samples, prints


def fingerprint(batch, hashes=None) -> str:
    """A digest of a batch's structure, shapes and first rows — and of every sample id, in order, when the batches
    carry ids: two passes over the same data give the same fingerprints (a shuffled or augmented loader does not)."""
    h = hashlib.blake2b(digest_size=16)
    _digest(batch, h)
    if hashes is not None:
        h.update(hashes.tobytes())
    return h.hexdigest()


def batch_ids(plan: Plan, batch, size: int, index: int):
    """The hashed sample ids a batch carries (``compare(ids=...)``: a dict key or a tuple position), one per
    sample of the batch; None when the run takes no ids."""
    key = plan.ids
    if key is None:
        return None
    where = f"batch {index}: ids={key!r}"
    if isinstance(key, str):
        if not isinstance(batch, Mapping) or key not in batch:
            raise ValueError(f"{where} names a key of dict batches, but this batch is "
                             f"{'a dict without it' if isinstance(batch, Mapping) else 'a ' + type(batch).__name__}")
        ids = batch[key]
    else:
        if not isinstance(batch, (tuple, list)) or len(batch) <= key:
            raise ValueError(f"{where} names a position of tuple batches (inputs, ..., ids), but this batch is "
                             f"{'too short' if isinstance(batch, (tuple, list)) else 'a ' + type(batch).__name__}")
        ids = batch[key]
    if isinstance(ids, torch.Tensor):
        ids = ids.detach().cpu().numpy()
    try:
        hashes = hash_ids(np.asarray(ids))
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{where}: {exc}") from None
    if hashes.shape[0] != size:
        raise ValueError(f"{where} holds {hashes.shape[0]} ids for the batch's {size} samples (one id per sample)")
    return hashes


def _digest(obj, h) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach()
        h.update(repr((tuple(t.shape), str(t.dtype))).encode())
        if t.ndim and t.shape[0]:
            h.update(t.reshape(t.shape[0], -1)[:2].to("cpu", torch.float64).numpy().tobytes())
    elif isinstance(obj, Mapping):
        for k in sorted(obj, key=repr):
            h.update(repr(k).encode())
            _digest(obj[k], h)
    elif isinstance(obj, (tuple, list)):
        h.update(f"{type(obj).__name__}{len(obj)}".encode())
        for v in obj:
            _digest(v, h)
    else:
        h.update(repr(type(obj)).encode())


def _ids_length(plan: Plan, batch, index: int) -> int:
    """How many ids a skipped batch holds (its models are not run, so the ids give the batch size)."""
    try:
        return len(batch[plan.ids])
    except (KeyError, IndexError, TypeError):
        return -1  # batch_ids names the problem


def _check_same(fp: str, expect, index: int, with_ids: bool) -> None:
    if index >= len(expect) or fp != expect[index]:
        what = "differs from (its sample ids or its content)" if with_ids else "differs from"
        raise ValueError(
            f"batch {index} {what} the first pass's batch {index}: several passes over the data (the memory "
            "plan) need a re-iterable data source that yields the same batches in the same order (no shuffling or "
            "random augmentation); fix the order (e.g. DataLoader(shuffle=False)), or raise max_memory so that one "
            "pass fits"
        )


def _forward_all(plan: Plan, batch, index: int):
    """Run every model once on one batch → (site → activations, model → layer → batch size)."""
    acts, sizes = {}, {}
    # what the models take (the whole batch for forward=, else only its inputs; never the ids), on each device
    given = _given(batch, plan.forward, plan.ids, index)
    moved = {}
    for name, model in plan.models.items():
        cap = plan.captures[name]
        for other in plan.captures.values():  # the same module may belong to several models
            other.enabled = other is cap
        dev = plan.devices[name]
        if dev not in moved:
            moved[dev] = _to_device(given, dev)
        x = moved[dev]
        inputs = x[0] if plan.forward is not None and isinstance(x, (tuple, list)) and x else x
        cap.attention_mask = _attention_mask(inputs)
        call_model(model, x, plan.forward)
        repeated = cap.repeated
        if repeated:
            raise ValueError(
                f"model {name!r}: layer(s) {repeated} ran more than once in one forward pass (batch "
                f"{index}); hook modules that run once per forward (a shared module is called for "
                "each use: hook the modules around it instead)"
            )
        sizes[name] = cap.batch_sizes
        got = cap.pop()
        for spec, label in zip(plan.specs[name], plan.labels[name]):
            acts[label] = got[spec.name]
    return acts, sizes


def model_inputs(batch, forward, device, ids=None, index: int = 0):
    """What a model is called with for ``batch`` (the whole batch with ``forward``, else its inputs: TypeError for a
    batch the models cannot take; never the ids of ``compare(ids=KEY)``), moved to ``device``."""
    return _to_device(_given(batch, forward, ids, index), device)


def _given(batch, forward, ids, index: int):
    if isinstance(ids, str) and isinstance(batch, Mapping):
        batch = {k: v for k, v in batch.items() if k != ids}
    return batch if forward is not None else _inputs(batch, index)


def call_model(model, x, forward) -> None:
    """Run one model on one batch's inputs (already on its device): ``forward(model, x)``, ``model(**x)`` for a
    dict, else ``model(x)``."""
    if forward is not None:
        forward(model, x)
    elif isinstance(x, Mapping):
        model(**x)
    else:
        model(x)


def _to_device(obj, device):
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
    if isinstance(inputs, Mapping):
        m = inputs.get("attention_mask")
        if isinstance(m, torch.Tensor):
            return m
    return None


def _check_batch_sizes(sizes, index):
    """sizes: model → layer → batch size. No layer may be empty, and all layers of all models must agree."""
    first = None
    for model, per_layer in sizes.items():
        for layer, b in per_layer.items():
            if b == 0:
                raise ValueError(
                    f"batch {index}: layer {layer!r} of model {model!r} produced 0 rows (an empty batch); every "
                    "batch must hold at least one sample: drop empty batches from the data"
                )
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
