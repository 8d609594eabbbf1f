"""Checkpoints of a :func:`repsim.compare` run: the accumulator's state and the number of batches consumed.

A checkpoint directory holds ``state.json`` (what was compared, how far the stream got, which state file is
current) and one state file written by the accumulator's own ``save`` (atomically, :mod:`repsim._files`). Writing
a new snapshot first writes its state file, then replaces ``state.json``, then removes the superseded snapshot, so a
crash at any point leaves a consistent checkpoint (the old one or the new one).
"""
from __future__ import annotations

import json
import os
from typing import Callable

from ._files import atomic_write

CHECKPOINT_FORMAT = "repsim.compare.checkpoint"
#: Version 2: the state file is the accumulator's own versioned ``save`` (any estimator), and the kept pairs.
CHECKPOINT_VERSION = 2
_KEYS = ("estimator", "batch_size", "precision", "sites", "layers", "pairs")


def load_checkpoint(directory: str, meta: dict, load: Callable):
    """(accumulator, batches consumed, samples seen) from ``directory``, or None when it holds no checkpoint.

    ``meta`` describes this call (estimator, batch_size, precision, sites, layers); a checkpoint made with other
    values is refused. ``load(path)`` reads the accumulator's state file.
    """
    state_path = os.path.join(directory, "state.json")
    if not os.path.exists(state_path):
        return None
    with open(state_path, encoding="utf-8") as fh:
        state = json.load(fh)
    if state.get("format") != CHECKPOINT_FORMAT or state.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{state_path!r} is not a repsim.compare checkpoint of version {CHECKPOINT_VERSION}")
    for key in _KEYS:
        if state.get(key) != meta[key]:
            raise ValueError(
                f"checkpoint {directory!r} was made with {key}={state.get(key)!r}, this call has {meta[key]!r}; "
                "use another checkpoint directory or the same models, layers, estimator, precision and pairs"
            )
    path = os.path.join(directory, state["file"])
    acc = load(path)
    if acc.n != state["n"]:
        raise ValueError(
            f"checkpoint {directory!r} is inconsistent: {path!r} holds n={acc.n}, state.json n={state['n']}"
        )
    return acc, int(state["batches"]), int(state["samples"])


def save_checkpoint(directory: str, acc, batches: int, samples: int, meta: dict) -> None:
    """Snapshot ``acc`` after ``batches`` batches (``samples`` samples) into ``directory`` (created if needed)."""
    if acc.n == 0 and meta["estimator"] == "exact":
        return  # nothing to resume from (an empty Moments has no layout to save)
    os.makedirs(directory, exist_ok=True)
    prefix = meta["estimator"]
    fname = f"{prefix}-{batches:09d}.npz"
    acc.save(os.path.join(directory, fname))
    state = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "batches": batches, "samples": samples,
             "n": acc.n, "file": fname, **{k: meta[k] for k in _KEYS}}
    atomic_write(os.path.join(directory, "state.json"), lambda fh: json.dump(state, fh, indent=1), mode="w",
                 encoding="utf-8")
    for old in os.listdir(directory):  # earlier snapshots, now superseded
        if old != fname and old.startswith(prefix + "-") and old.endswith(".npz"):
            os.remove(os.path.join(directory, old))
