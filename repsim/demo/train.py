"""Training on the CPU with torch, and the on-disk cache of trained weights.

Weights are cached under ``$REPSIM_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/repsim/demo`` (``~/.cache/repsim/demo``
when XDG_CACHE_HOME is unset), one ``.pt`` file per model, named by a hash of everything that determines the
trained weights: architecture and its configuration, seed, epochs and the other training settings, the dataset
arguments and the torch version. A second run with the same settings loads them instead of training.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from .models import build

CACHE_FORMAT = 2


def cache_dir() -> str:
    """``$REPSIM_CACHE_DIR``, else ``$XDG_CACHE_HOME/repsim/demo``, else ``~/.cache/repsim/demo``."""
    explicit = os.environ.get("REPSIM_CACHE_DIR")
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "repsim", "demo")


@dataclass(frozen=True)
class TrainSpec:
    """Everything that determines one trained model (and its cache key)."""

    arch: str
    seed: int
    epochs: int
    config: dict = field(default_factory=dict)
    lr: float = 1e-2
    weight_decay: float = 1e-2
    batch_size: int = 128

    def key(self, data_args: dict) -> str:
        payload = {
            "format": CACHE_FORMAT,
            "spec": asdict(self),
            "data": data_args,
            "torch": torch.__version__.split("+")[0],
        }
        blob = json.dumps(payload, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:20]

    def filename(self, data_args: dict) -> str:
        return f"{self.arch}-seed{self.seed}-ep{self.epochs}-{self.key(data_args)}.pt"


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray, batch: int = 1024) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            pred = model(torch.from_numpy(x[i : i + batch])).argmax(1).numpy()
            correct += int((pred == y[i : i + batch]).sum())
    return correct / len(y)


def train(spec: TrainSpec, x: np.ndarray, y: np.ndarray, progress=None) -> nn.Module:
    """Train ``spec.arch`` from its seeded initialisation with AdamW and a one-cycle learning-rate schedule.

    The minibatch order comes from a generator seeded with ``spec.seed``, and dropout draws from the global torch
    generator seeded with ``spec.seed`` inside ``torch.random.fork_rng``, so training is reproducible and the
    caller's global RNG state is left as it was. ``progress(epoch, loss)`` is called after every epoch.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(spec.seed))
        return _train(spec, x, y, progress)


def _train(spec: TrainSpec, x: np.ndarray, y: np.ndarray, progress) -> nn.Module:
    n_classes = int(y.max()) + 1
    model = build(spec.arch, spec.seed, length=x.shape[1], n_classes=n_classes, **spec.config)
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    bs = int(spec.batch_size)
    steps = (len(Y) + bs - 1) // bs
    opt = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=spec.lr, total_steps=spec.epochs * steps)
    gen = torch.Generator().manual_seed(int(spec.seed))
    model.train()
    for epoch in range(spec.epochs):
        perm = torch.randperm(len(Y), generator=gen)
        total = 0.0
        for i in range(0, len(Y), bs):
            idx = perm[i : i + bs]
            loss = nn.functional.cross_entropy(model(X[idx]), Y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        if progress is not None:
            progress(epoch + 1, total / len(Y))
    model.eval()
    return model


def load_or_train(spec: TrainSpec, data, use_cache: bool = True, progress=None):
    """The trained model of ``spec`` on ``data`` (a :class:`~repsim.demo.data.Dataset`) and whether it came from
    the cache. With ``use_cache=False`` the model is retrained and the cache entry overwritten."""
    path = os.path.join(cache_dir(), spec.filename(data.args))
    model = build(spec.arch, spec.seed, length=data.length, n_classes=data.n_classes, **spec.config)
    if use_cache and os.path.exists(path):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
            model.eval()
            return model, True
        except (OSError, RuntimeError, EOFError, ValueError, KeyError, pickle.UnpicklingError):
            pass  # a truncated or stale file: retrain and overwrite it
    model = train(spec, data.x_train, data.y_train, progress=progress)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, path)
    return model, False
