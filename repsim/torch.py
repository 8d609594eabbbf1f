"""Capture activations of any ``torch.nn.Module`` by module name (docs/design.md §3).

>>> import torch, repsim.torch
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(inplace=True), torch.nn.Linear(8, 2))
>>> with repsim.torch.capture(model, ["0", "2"]) as cap:
...     _ = model(torch.randn(5, 4))
>>> {k: tuple(v.shape) for k, v in cap.pop().items()}
{'0': (5, 8), '2': (5, 2)}

Each layer's output is reduced to a 2-D ``(n_rows, n_features)`` tensor *inside* its forward hook, detached and
copied when needed, so a later in-place op (``ReLU(inplace=True)``) cannot change what was captured and no
autograd graph is kept. The tensors stay on the activations' device and can be passed straight to
:meth:`repsim.Moments.update`.

Reductions (``LayerSpec.reduce``)
---------------------------------
``"flatten"``
    Every non-batch dimension becomes a feature: ``(B, ...) → (B, prod(...))``. An attention mask is ignored.
``"pool"``
    Mean over the spatial or token axes: ``(B, C, H, W) → (B, C)``, ``(B, T, D) → (B, D)``. With an attention mask
    the mean is over the unmasked tokens only.
``"positions"``
    Each spatial position or token becomes a sample and the channels are the features:
    ``(B, C, H, W) → (B·H·W, C)`` (sample-major: all positions of sample 0 first), ``(B, T, D) → (B·T, D)``. With an
    attention mask only the unmasked tokens are kept.

Outputs of shape ``(B, D)`` are the same under all three reductions; ``(B,)`` becomes ``(B, 1)``.

Channel axis (``LayerSpec.channels``)
-------------------------------------
``"first"`` is PyTorch's convolution convention ``(B, C, *spatial)``; ``"last"`` is the token convention
``(B, T, D)`` (or ``(B, *spatial, C)``). ``"auto"`` (the default) picks ``"last"`` for ``Linear``, ``LayerNorm``,
``RMSNorm``, ``Embedding``, ``MultiheadAttention``, the ``Transformer*`` layers and the recurrent layers, for
Hugging Face style outputs (objects with ``last_hidden_state``) and whenever an attention mask is given; otherwise
``"first"``. Activations and other shape-preserving layers placed after a ``Linear`` on tokens inherit nothing:
give them ``channels="last"`` explicitly.

Sequence-first modules (``MultiheadAttention``, ``Transformer*`` and ``RNN``/``LSTM``/``GRU`` built with
``batch_first=False``) return ``(T, B, D)``; their main output is transposed to ``(B, T, D)`` before reducing.
Nested tensors (``TransformerEncoder``'s fast path with a padding mask) are padded back with zeros.

float16 and bfloat16 activations are upcast to float32 before any reduction; float32/float64 keep their dtype.
"""

from __future__ import annotations

import collections
import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from typing_extensions import Self

__all__ = ["Capture", "LayerSpec", "capture", "layer_specs", "reduce_tensor", "resolve_module_name"]

REDUCTIONS = ("flatten", "pool", "positions")
CHANNELS = ("auto", "first", "last")

# Wrapper prefixes added to module names: DataParallel / DistributedDataParallel, torch.compile.
_PREFIXES = ("module.", "_orig_mod.")

_TOKEN_MODULES = tuple(
    c
    for c in (
        nn.Linear,
        nn.Bilinear,
        nn.LayerNorm,
        getattr(nn, "RMSNorm", None),
        nn.Embedding,
        nn.EmbeddingBag,
        nn.MultiheadAttention,
        nn.TransformerEncoderLayer,
        nn.TransformerDecoderLayer,
        nn.TransformerEncoder,
        nn.TransformerDecoder,
        nn.Transformer,
        nn.RNNBase,
    )
    if c is not None
)


@dataclass(frozen=True)
class LayerSpec:
    """Which module to hook and how to turn its output into a 2-D ``(n_rows, n_features)`` tensor.

    Parameters
    ----------
    name : str
        Module name as in ``model.named_modules()`` (not a ``state_dict`` key: ``"layer1.0.conv1"``, not
        ``"layer1.0.conv1.weight"``). A ``module.`` prefix (DataParallel/DDP) or ``_orig_mod.`` prefix
        (``torch.compile``) is added or removed when that makes the name match.
    reduce : {"flatten", "pool", "positions"}
        See the module docstring.
    output : None, int, str or callable
        Which part of a non-tensor output to use. None: the tensor itself; ``last_hidden_state`` for Hugging Face
        style outputs; otherwise the first tensor found in a tuple/list/dict (depth first). An int indexes a
        tuple/list, a str is a dict key or attribute name, a callable receives the raw output and returns a tensor.
    channels : {"auto", "first", "last"}
        Position of the channel (feature) axis for ``pool`` and ``positions``; see the module docstring.
    """

    name: str
    reduce: str = "flatten"
    output: object = None
    channels: str = "auto"

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise TypeError(f"LayerSpec.name must be a module name (str), got {type(self.name).__name__}")
        if self.reduce not in REDUCTIONS:
            raise ValueError(f"layer {self.name!r}: reduce must be one of {list(REDUCTIONS)}, got {self.reduce!r}")
        if self.channels not in CHANNELS:
            raise ValueError(f"layer {self.name!r}: channels must be one of {list(CHANNELS)}, got {self.channels!r}")
        out = self.output
        if not (
            out is None or callable(out) or isinstance(out, str) or (isinstance(out, int) and not isinstance(out, bool))
        ):
            raise TypeError(
                f"layer {self.name!r}: output must be None, an int index, a str key/attribute or a callable, "
                f"got {type(out).__name__}"
            )


def layer_specs(layers, reduce: str = "flatten") -> list[LayerSpec]:
    """Normalise a layer selection into a list of :class:`LayerSpec`.

    ``layers`` is a module name, a :class:`LayerSpec`, a sequence of those, or a mapping ``name → reduction``
    (a str such as ``"pool"``) or ``name → LayerSpec`` (whose name must then equal the key). Names given
    without a spec use ``reduce``.
    """
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {list(REDUCTIONS)}, got {reduce!r}")
    if isinstance(layers, (str, LayerSpec)):
        layers = [layers]
    specs = []
    if isinstance(layers, Mapping):
        for name, value in layers.items():
            if not isinstance(name, str):
                raise TypeError(f"layer names must be str, got {name!r}")
            if value is None:
                specs.append(LayerSpec(name, reduce))
            elif isinstance(value, str):
                specs.append(LayerSpec(name, value))
            elif isinstance(value, LayerSpec):
                if value.name != name:
                    raise ValueError(f"layers[{name!r}] is a LayerSpec named {value.name!r}; the names must agree")
                specs.append(value)
            else:
                raise TypeError(
                    f"layers[{name!r}] must be a reduction name (str) or a LayerSpec, got {type(value).__name__}"
                )
    elif isinstance(layers, Sequence):
        for item in layers:
            if isinstance(item, str):
                specs.append(LayerSpec(item, reduce))
            elif isinstance(item, LayerSpec):
                specs.append(item)
            else:
                raise TypeError(f"layers must be module names (str) or LayerSpec objects, got {item!r}")
    else:
        raise TypeError(
            f"layers must be a module name, a LayerSpec, a list of them or a dict name -> reduction, "
            f"got {type(layers).__name__}"
        )
    if not specs:
        raise ValueError("no layers given")
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"layer(s) {dup} given more than once")
    return specs


def resolve_module_name(model: nn.Module, name: str, names=None) -> str:
    """The name in ``model.named_modules()`` that ``name`` refers to.

    Exact names win; otherwise a ``module.`` / ``_orig_mod.`` prefix is added or removed. Unknown names raise a
    ``ValueError`` listing close matches.
    """
    if names is None:
        names = [n for n, _ in model.named_modules()]
    known = set(names)
    if name in known:
        return name
    candidates = [p + name for p in _PREFIXES]
    candidates += [name[len(p) :] for p in _PREFIXES if name.startswith(p)]
    candidates += [p + name[len(q) :] for p in _PREFIXES for q in _PREFIXES if p != q and name.startswith(q)]
    for c in candidates:
        if c in known:
            return c
    msg = f"the model has no module named {name!r}"
    base, _, leaf = name.rpartition(".")
    if leaf in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked") and (
        base in known or any(p + base in known for p in _PREFIXES)
    ):
        msg += f" ({name!r} looks like a state_dict key; the module is {base!r})"
    else:
        close = difflib.get_close_matches(name, [n for n in names if n], n=5, cutoff=0.5)
        if close:
            msg += f"; did you mean {', '.join(repr(c) for c in close)}?"
    shown = [n for n in names if n][:40]
    more = f", ... ({len(names) - 1} in all)" if len(names) - 1 > len(shown) else ""
    msg += f". Names come from model.named_modules(): {', '.join(shown)}{more}"
    raise ValueError(msg)


# ---------------------------------------------------------------------------------------------- output handling
def _first_tensor(out, depth=0):
    if isinstance(out, torch.Tensor):
        return out
    if depth > 4:
        return None
    if isinstance(out, Mapping):
        values = out.values()
    elif isinstance(out, (tuple, list)):
        values = out
    else:
        return None
    for v in values:
        t = _first_tensor(v, depth + 1)
        if t is not None:
            return t
    return None


def _select(out, selector, layer: str):
    """(tensor, hf) from a module output; hf tells whether it came from a Hugging Face style object."""
    hf = False
    if selector is None:
        if isinstance(out, torch.Tensor):
            return out, False
        lhs = getattr(out, "last_hidden_state", None)
        if isinstance(lhs, torch.Tensor):
            return lhs, True
        t = _first_tensor(out)
        if t is None:
            raise TypeError(
                f"layer {layer!r}: the module returned {type(out).__name__}, which holds no tensor; "
                "hook a module that returns a tensor or pass LayerSpec(output=...)"
            )
        return t, False
    if callable(selector):
        t = selector(out)
    elif isinstance(selector, int):
        if not isinstance(out, (tuple, list)):
            raise TypeError(
                f"layer {layer!r}: output={selector} indexes a tuple/list, but the module returned {type(out).__name__}"
            )
        if not -len(out) <= selector < len(out):
            raise ValueError(
                f"layer {layer!r}: output={selector} is out of range for a {type(out).__name__} of length {len(out)}"
            )
        t = out[selector]
    else:
        hf = hasattr(out, "last_hidden_state")
        if isinstance(out, Mapping) and selector in out:
            t = out[selector]
        elif hasattr(out, selector):
            t = getattr(out, selector)
        else:
            keys = list(out.keys()) if isinstance(out, Mapping) else []
            raise ValueError(
                f"layer {layer!r}: output={selector!r} is neither a key nor an attribute of the module's "
                f"{type(out).__name__} output" + (f"; its keys are {keys}" if keys else "")
            )
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"layer {layer!r}: output={selector!r} selects a {type(t).__name__}, not a tensor")
    return t, hf


def _sequence_first(module: nn.Module) -> bool:
    """Whether ``module``'s main output is (T, B, ...) (torch modules built with batch_first=False)."""
    if isinstance(module, (nn.MultiheadAttention, nn.RNNBase, nn.Transformer)):
        return not module.batch_first
    if isinstance(module, (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)):
        return not module.self_attn.batch_first
    if isinstance(module, (nn.TransformerEncoder, nn.TransformerDecoder)) and len(module.layers):
        return not module.layers[0].self_attn.batch_first
    return False


def _check_mask(mask, where: str):
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor):
        raise TypeError(
            f"{where}: attention_mask must be a torch.Tensor of shape (batch, tokens), got {type(mask).__name__}"
        )
    if mask.ndim < 2:
        raise ValueError(f"{where}: attention_mask must have shape (batch, tokens), got {tuple(mask.shape)}")
    return mask if mask.dtype == torch.bool else mask != 0


def _check_dense(t: torch.Tensor, layer: str) -> None:
    """Activations with values in strided memory: sparse and meta-device outputs are refused, naming the layer."""
    if t.layout != torch.strided:
        raise TypeError(
            f"layer {layer!r}: the module returned a {t.layout} tensor; capture a dense output "
            "(e.g. LayerSpec(output=lambda out: out.to_dense()))"
        )
    if t.device.type == "meta":
        raise ValueError(
            f"layer {layer!r}: the activations are on the 'meta' device and hold no data; materialise the model "
            "(model.to_empty(device=...) and load its weights) before capturing"
        )


def reduce_tensor(t: torch.Tensor, reduce: str, channels: str, mask=None, layer: str = "tensor") -> torch.Tensor:
    """Reduce a ``(B, ...)`` activation to 2-D (see the module docstring); ``channels`` is "first" or "last".

    The result is detached, float32/float64, and never shares storage with ``t``.
    """
    src = t
    _check_dense(t, layer)
    t = t.detach()
    if t.is_complex() or not t.is_floating_point():
        raise TypeError(f"layer {layer!r}: expected floating-point activations, got dtype {t.dtype}")
    if t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float32)
    if t.ndim == 0:
        raise ValueError(f"layer {layer!r}: the output is a scalar; expected (batch, ...) activations")
    B = t.shape[0]
    if t.ndim == 1:
        r = t.reshape(B, 1)
    elif reduce == "flatten":
        r = t.reshape(B, math.prod(t.shape[1:]))  # explicit width: a 0-row batch keeps its shape (0, features)
    elif t.ndim == 2:
        r = t
    else:
        x = t.movedim(1, -1) if channels == "first" else t  # (B, *spatial, C)
        spatial = tuple(x.shape[1:-1])
        if mask is not None:
            if tuple(mask.shape) != (B, *spatial):
                raise ValueError(
                    f"layer {layer!r}: attention_mask has shape {tuple(mask.shape)} but the activations "
                    f"{tuple(t.shape)} (channels {channels}) have batch × positions {(B, *spatial)}"
                )
            mask = mask.to(x.device)
        axes = tuple(range(1, x.ndim - 1))
        if reduce == "pool":
            if mask is None:
                r = x.mean(dim=axes)
            else:
                w = mask.to(x.dtype)
                count = w.sum(dim=axes)
                if bool((count == 0).any()):
                    empty = int(torch.nonzero(count == 0)[0, 0])
                    raise ValueError(f"layer {layer!r}: sample {empty} of the batch has no unmasked tokens to pool")
                r = (x * w.unsqueeze(-1)).sum(dim=axes) / count.unsqueeze(-1)
        else:  # positions
            r = x.reshape(-1, x.shape[-1]) if mask is None else x[mask]
    if r.untyped_storage().data_ptr() == src.untyped_storage().data_ptr():
        r = r.clone()  # a view of the module's output: a later in-place op would change it
    return r.contiguous()


# ---------------------------------------------------------------------------------------------- capture
class Capture:
    """Forward hooks on named modules of one model; a context manager that always removes them.

    Use :func:`capture` to make one. Attributes: ``specs`` (the :class:`LayerSpec` list), ``modules`` (layer name →
    resolved module name), ``attention_mask`` (settable between forward passes; a ``(B, T)`` bool or 0/1 tensor,
    or None), ``enabled`` (set False to ignore forward passes while the hooks stay registered).
    """

    def __init__(
        self, model: nn.Module, layers, attention_mask=None, reduce: str = "flatten", label: str | None = None
    ):
        if label is not None and not isinstance(label, str):
            raise TypeError(f"label must be a str, got {type(label).__name__}")
        self.label = label
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.specs = layer_specs(layers, reduce)
        named = dict(model.named_modules())
        names = list(named)
        try:
            self.modules = {s.name: resolve_module_name(model, s.name, names) for s in self.specs}
        except ValueError as exc:
            if label is None:
                raise
            raise ValueError(f"model {label!r}: {exc}") from None
        self._targets = {s.name: named[self.modules[s.name]] for s in self.specs}
        self.attention_mask = attention_mask
        self._store: dict[str, list] = {s.name: [] for s in self.specs}
        self._handles = []
        self.enabled = True

    # -- hooks
    def _hook_for(self, spec: LayerSpec):
        where = spec.name if self.label is None else f"{self.label}.{spec.name}"

        def hook(module, args, output):
            if not self.enabled:
                return
            mask = self._mask
            t, hf = _select(output, spec.output, where)
            main = spec.output is None or spec.output == 0
            if main and t.ndim >= 2 and _sequence_first(module) and not getattr(t, "is_nested", False):
                t = t.transpose(0, 1)
            channels = spec.channels
            if channels == "auto":
                channels = "last" if (hf or mask is not None or isinstance(module, _TOKEN_MODULES)) else "first"
            if getattr(t, "is_nested", False):
                t = _pad_nested(t, mask, channels)
            with torch.no_grad():
                r = reduce_tensor(t, spec.reduce, channels, mask if spec.reduce != "flatten" else None, where)
            self._store[spec.name].append((int(t.shape[0]), r))

        return hook

    def register(self) -> Capture:
        if self._handles:
            return self
        try:
            for s in self.specs:
                self._handles.append(self._targets[s.name].register_forward_hook(self._hook_for(s)))
        except BaseException:
            self.remove()
            raise
        return self

    def remove(self) -> None:
        """Remove every hook (idempotent). Captured activations stay available to :meth:`pop`."""
        while self._handles:
            self._handles.pop().remove()

    def __enter__(self) -> Self:
        return self.register()

    def __exit__(self, *exc) -> None:
        self.remove()

    @property
    def attention_mask(self):
        return self._attention_mask

    @attention_mask.setter
    def attention_mask(self, mask) -> None:
        """Checked and made boolean once per forward pass, not in every layer's hook."""
        self._mask = _check_mask(mask, "capture" if self.label is None else f"model {self.label!r}")
        self._attention_mask = mask

    # -- results
    @property
    def layers(self) -> tuple:
        return tuple(s.name for s in self.specs)

    @property
    def calls(self) -> dict:
        """Number of times each layer ran since the last :meth:`pop`."""
        return {k: len(v) for k, v in self._store.items()}

    @property
    def repeated(self) -> dict:
        """Layers that ran more than once since the last :meth:`pop` → how often (per replica under multi-GPU
        ``DataParallel``, whose replicas each call every layer once)."""
        out = {}
        for k, v in self._store.items():
            if _replica_ids(self.model):
                most = max(collections.Counter(r.device for _, r in v).values(), default=0)
            else:
                most = len(v)
            if most > 1:
                out[k] = most
        return out

    @property
    def batch_sizes(self) -> dict:
        """Total batch size (leading dimension of the output, summed over calls) of each layer since the last pop."""
        return {k: sum(b for b, _ in v) for k, v in self._store.items()}

    def clear(self) -> None:
        for v in self._store.values():
            v.clear()

    def pop(self) -> dict:
        """Layer name → 2-D tensor of everything captured since the last pop, then forget it.

        Rows of repeated calls are concatenated in call order (under multi-GPU ``DataParallel``, in the order of
        ``device_ids``, gathered on the first device). Raises ``ValueError`` if a layer did not run.
        """
        missing = [k for k, v in self._store.items() if not v]
        if missing:
            self.clear()
            owner = "" if self.label is None else f"model {self.label!r}: "
            raise ValueError(
                f"{owner}layer(s) {missing} did not run during the forward pass (module(s) "
                f"{[self.modules[k] for k in missing]}); check the names and that the model calls them"
            )
        out = {}
        for k, v in self._store.items():
            chunks = [r for _, r in v]
            if len(chunks) == 1:
                out[k] = chunks[0]
            else:
                chunks = _gather_order(self.model, chunks)
                dev = chunks[0].device
                out[k] = torch.cat([c.to(dev) for c in chunks], dim=0)
        self.clear()
        return out


def _replica_ids(model):
    """The device_ids of a multi-GPU DataParallel model (replicas run in threads), else None."""
    ids = getattr(model, "device_ids", None) if isinstance(model, nn.DataParallel) else None
    return ids if ids and len(ids) >= 2 else None


def _gather_order(model, chunks):
    """DataParallel replicas run in threads: put their chunks back in scatter order (device_ids)."""
    ids = _replica_ids(model)
    if ids is None:
        return chunks
    rank = {torch.device("cuda", int(getattr(i, "index", i))): k for k, i in enumerate(ids)}
    if len({c.device for c in chunks}) != len(chunks):
        return chunks  # several calls per replica: keep call order
    return sorted(chunks, key=lambda c: rank.get(c.device, math.inf))


def _pad_nested(t, mask, channels):
    if mask is not None and channels == "last" and t.dim() == 3:
        B, T = mask.shape[0], mask.shape[1]
        return torch.nested.to_padded_tensor(t, 0.0, (B, T, t.size(2)))
    return torch.nested.to_padded_tensor(t, 0.0)


def capture(
    model: nn.Module, layers, attention_mask=None, reduce: str = "flatten", label: str | None = None
) -> Capture:
    """Hook the named modules of ``model``; use as a context manager.

    Parameters
    ----------
    model : torch.nn.Module
    layers : str, LayerSpec, sequence of those, or dict name → reduction / LayerSpec
        Module names as in ``model.named_modules()``. Unknown names raise ``ValueError`` with close matches.
    attention_mask : tensor of shape (batch, tokens), optional
        Token mask (True/1 = real token) for ``pool`` and ``positions``; it also makes ``channels="auto"`` mean
        channel-last. Can be changed between forward passes through ``cap.attention_mask``.
    reduce : {"flatten", "pool", "positions"}
        Reduction of layers given by name only.
    label : str, optional
        A name for the model, used in error messages (``"<label>.<layer>"``).

    Returns
    -------
    Capture
        ``cap.pop()`` → dict layer name → 2-D tensor ``(n_rows, n_features)`` (detached, float32/float64, on the
        activations' device). Hooks are removed when the ``with`` block ends, also on exceptions.

    Examples
    --------
    >>> with capture(model, {"layer1": "pool", "fc": "flatten"}) as cap:  # doctest: +SKIP
    ...     model(x)
    >>> acts = cap.pop()  # doctest: +SKIP
    """
    return Capture(model, layers, attention_mask=attention_mask, reduce=reduce, label=label)
