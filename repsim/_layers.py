"""Which layers a model has to compare: :func:`list_layers` runs one batch with a forward hook on every leaf module
and lists those that return a tensor repsim can compare, with its shape; :func:`expand_all` turns
``repsim.compare(..., layers="all")`` into those names."""
from __future__ import annotations

import itertools
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.std import tqdm

from ._plan import check_models, model_device
from ._stream import as_batches, call_model, model_inputs
from .torch import _first_tensor

__all__ = ["ALL", "LayerInfo", "LayerList", "expand_all", "list_layers"]

#: ``compare(layers=ALL)``: every leaf module of every model that returns a tensor (or per model: {name: ALL}).
ALL = "all"


@dataclass(frozen=True)
class LayerInfo:
    """One leaf module and its output on the batch: ``name`` (as in ``model.named_modules()``), ``module`` (its
    class name), ``shape`` and ``dtype`` (a ``torch.dtype``) of the tensor it returned."""

    name: str
    module: str
    shape: tuple
    dtype: torch.dtype


@dataclass(frozen=True)
class LayerList:
    """The layers of a model that ``repsim.compare(..., layers="all")`` compares, found on one batch by
    :func:`repsim.list_layers`; a sequence of :class:`LayerInfo` in the order of ``model.named_modules()``.

    Attributes
    ----------
    layers : tuple of LayerInfo
        Every leaf module (a module without children) that ran once and returned a floating-point tensor with
        the batch on its first axis.
    skipped : tuple of (name, module class, reason)
        The other leaf modules and why (a tuple output, an integer dtype, did not run, ran several times, ...).
    batch_size : int or None
        The batch's leading dimension (of its first tensor), None when the batch holds no tensor.
    """

    layers: tuple
    skipped: tuple = ()
    batch_size: int | None = None

    @property
    def names(self) -> list:
        """The module names, as ``compare(layers=...)`` takes them."""
        return [info.name for info in self.layers]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __getitem__(self, index):
        return self.layers[index]

    def __str__(self) -> str:
        rows = [("name", "module", "output shape", "dtype")]
        rows += [(i.name, i.module, str(tuple(i.shape)), str(i.dtype).removeprefix("torch.")) for i in self.layers]
        widths = [max(len(r[k]) for r in rows) for k in range(3)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[3] for r in rows]
        if not self.layers:
            lines.append("(no leaf module returned a floating-point tensor with the batch on its first axis)")
        lines += [f"skipped {name} ({module}): {why}" for name, module, why in self.skipped]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"LayerList of {len(self.layers)} layers (batch size {self.batch_size}):\n{self}"


def list_layers(model, batch, *, forward=None, device=None) -> LayerList:
    """The layers ``repsim.compare(..., layers="all")`` would compare, with their output shapes on one batch.

    Runs ``model`` once on ``batch`` (eval mode, ``torch.no_grad()``; every module's training flag restored) with
    a forward hook on every leaf module (one without children; not the model itself) and keeps those that ran
    once and returned a floating-point tensor whose first axis is the batch. Modules returning tuples, dicts or
    integer tensors are skipped, as are modules that did not run or ran several times (shared modules).

    Parameters
    ----------
    model : torch.nn.Module
    batch : tensor, tuple/list ``(inputs, labels, ...)`` or dict of keyword arguments
        One batch as :func:`repsim.compare` takes it: a tensor ``x`` → ``model(x)``, a tuple/list → its first
        element, a dict → ``model(**batch)``.
    forward : callable(model, batch), optional
        Runs the model on the batch (moved to ``device``) in place of the rule above.
    device : torch.device or str, optional
        Where the batch goes (default: the device of the model's first parameter or buffer, else the CPU).

    Returns
    -------
    LayerList
        ``.names`` (for ``compare(layers=...)``), one :class:`LayerInfo` (name, module, shape, dtype) per layer,
        ``.skipped`` with the reasons; printing it gives a table.

    Raises
    ------
    TypeError
        ``model`` is not a module, ``forward`` is not callable, or the batch is of a kind the model cannot be
        called with.
    ValueError
        The forward pass on ``batch`` failed (the message gives the original error).

    Examples
    --------
    >>> import torch, repsim
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> repsim.list_layers(net, torch.randn(5, 4)).names
    ['0', '1', '2']
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if forward is not None and not callable(forward):
        raise TypeError(f"forward must be callable(model, batch), got {type(forward).__name__}")
    device = torch.device(device) if device is not None else model_device(model)
    return _list(model, batch, forward, device, "list_layers")


def _list(model, batch, forward, device, where: str, ids=None) -> LayerList:
    x = model_inputs(batch, forward, device, ids)
    first = _first_tensor(x)
    batch_size = int(first.shape[0]) if first is not None and first.ndim else None
    leaves = [(name, m) for name, m in model.named_modules() if name and next(m.children(), None) is None]
    outputs = {name: [] for name, _ in leaves}
    saved = [(m, m.training) for m in model.modules()]
    handles = []
    try:
        for name, m in leaves:
            handles.append(m.register_forward_hook(_recorder(outputs[name])))
        model.eval()
        with torch.no_grad():
            try:
                call_model(model, x, forward)
            except Exception as exc:
                raise ValueError(f"{where}: the forward pass on the batch failed ({type(exc).__name__}: {exc}); "
                                 "pass a batch the model accepts, or forward=callable(model, batch)") from exc
    finally:
        for h in handles:
            h.remove()
        for m, flag in saved:
            m.training = flag
    layers, skipped = [], []
    for name, m in leaves:
        why = _unusable(outputs[name], batch_size)
        if why is None:
            shape, dtype = outputs[name][0]
            layers.append(LayerInfo(name, type(m).__name__, shape, dtype))
        else:
            skipped.append((name, type(m).__name__, why))
    return LayerList(tuple(layers), tuple(skipped), batch_size)


def _recorder(calls: list):
    """A forward hook noting (shape, dtype) of a tensor output, or why the output is not one (the tensor itself is
    not kept)."""

    def hook(module, args, output):
        if not isinstance(output, torch.Tensor):
            calls.append(f"returns a {type(output).__name__}, not a tensor")
        elif getattr(output, "is_nested", False) or output.layout != torch.strided:
            calls.append("returns a nested or sparse tensor")
        elif output.is_complex() or not output.is_floating_point():
            calls.append(f"returns dtype {str(output.dtype).removeprefix('torch.')}, not floating point")
        else:
            calls.append((tuple(output.shape), output.dtype))

    return hook


def _unusable(calls: list, batch_size) -> str | None:
    """Why a leaf module's outputs cannot be compared, None when they can."""
    if not calls:
        return "did not run"
    if len(calls) > 1:
        return f"ran {len(calls)} times in one forward pass"
    if isinstance(calls[0], str):
        return calls[0]
    shape = calls[0][0]
    if not shape:
        return "returns a scalar"
    if batch_size is not None and shape[0] != batch_size:
        return f"its first axis has {shape[0]} entries, not the batch's {batch_size}"
    return None


def _asks_all(models: dict, layers) -> list:
    """The models whose layers are ``"all"``: every model (``layers="all"``), or those with ``"all"`` in a
    selection keyed by model name."""
    if isinstance(layers, str):
        return list(models) if layers == ALL else []
    if isinstance(layers, Mapping) and layers and all(k in models for k in layers):
        return [m for m in models if isinstance(layers.get(m), str) and layers[m] == ALL]
    return []


def expand_all(models, layers, data, forward, device, progress: bool, reduce: str = "flatten", ids=None):
    """``repsim.compare``'s ``layers="all"``: → (layers with every ``"all"`` replaced by the names
    :func:`list_layers` finds on the first batch of ``data``, a ``data`` that still yields that batch first).

    With no ``"all"`` both come back unchanged and ``data`` is not touched. ``ids``: compare's dict key of the
    sample ids, removed from the batch before the models run. The chosen layers and their output
    shapes (before ``reduce``, named in the heading) are printed to stderr (through tqdm) when ``progress``.
    """
    if layers is None:
        raise TypeError("layers is required: module names as in model.named_modules(), a dict name -> reduction, "
                        "either keyed by model name, or 'all' (every leaf module that returns a tensor; "
                        "repsim.list_layers(model, batch) shows them)")
    models = check_models(models)
    asked = _asks_all(models, layers)
    if not asked:
        return layers, data
    if forward is not None and not callable(forward):
        raise TypeError(f"forward must be callable(model, batch), got {type(forward).__name__}")
    batches = as_batches(data)
    it = iter(batches)
    first = next(it, _END)
    if first is _END:
        raise ValueError("data yielded no batches (layers='all' finds the layers on the first batch)")
    chosen = {}
    for name in asked:
        dev = torch.device(device) if device is not None else model_device(models[name])
        listing = _list(models[name], first, forward, dev, f"layers='all' of model {name!r}", ids)
        if not listing.layers:
            raise ValueError(
                f"layers='all' of model {name!r}: no leaf module returned a floating-point tensor with the batch on "
                f"its first axis; name the layers to compare (LayerSpec(output=...) selects a tensor from a tuple "
                f"output).\n{listing}"
            )
        if progress:
            tqdm.write(f"layers='all' of model {name!r}: {len(listing)} layers, reduce={reduce!r}\n{listing}",
                       file=sys.stderr)
        chosen[name] = listing.names
    layers = {m: chosen[m] if m in chosen else layers[m] for m in models}
    # a source read once (an iterator) gets its first batch back; a re-iterable one is read again from its start
    return layers, (itertools.chain([first], it) if it is batches else batches)


_END = object()
