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
    values is refused. ``load(path)`` reads the accumulator's state file. A damaged or inconsistent ``state.json``
    (not JSON, a field missing or of the wrong type, a state file that is not there or disagrees) raises ValueError
    naming it.
    """
    state_path = os.path.join(directory, "state.json")
    if not os.path.exists(state_path):
        return None
    state = read_state(state_path)
    for key in _KEYS:
        if state.get(key) != meta[key]:
            raise ValueError(
                f"checkpoint {directory!r} was made with {key}={state.get(key)!r}, this call has {meta[key]!r}; "
                "use another checkpoint directory or the same models, layers, estimator, precision and pairs"
            )
    check_counts(state, state_path)
    path = os.path.join(directory, state["file"])
    if not os.path.isfile(path):
        raise ValueError(f"{state_path!r} is a damaged checkpoint state: its state file {path!r} does not exist")
    acc = load(path)
    if acc.n != state["n"]:
        raise ValueError(
            f"checkpoint {directory!r} is inconsistent: {path!r} holds n={acc.n}, state.json n={state['n']}"
        )
    return acc, state["batches"], state["samples"]


def read_state(state_path: str) -> dict:
    """The parsed ``state.json`` of a checkpoint of this format and version; ValueError naming the file otherwise."""
    try:
        with open(state_path, encoding="utf-8") as fh:
            state = json.load(fh)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{state_path!r} is a damaged checkpoint state: {type(exc).__name__}: {exc}") from exc
    tagged = isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT
    if not tagged or state.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{state_path!r} is not a repsim.compare checkpoint of version {CHECKPOINT_VERSION}")
    return state


def check_counts(state: dict, state_path: str) -> None:
    """ValueError naming ``state.json`` and the field unless batches, samples and n are integers >= 0 (all 0 when
    no batch was consumed) and ``file`` is the name :func:`save_checkpoint` gives the snapshot of those batches."""
    for key in ("batches", "samples", "n"):
        value = state.get(key)
        if type(value) is not int or value < 0:
            raise ValueError(f"{state_path!r} is a damaged checkpoint state: field {key!r} must be an integer >= 0, "
                             f"got {value!r}")
    if state["batches"] == 0 and (state["samples"] or state["n"]):
        raise ValueError(f"{state_path!r} is a damaged checkpoint state: fields 'samples' and 'n' must be 0 when "
                         f"'batches' is 0, got {state['samples']} and {state['n']}")
    expected = snapshot_name(state["estimator"], state["batches"])
    if state.get("file") != expected:
        raise ValueError(f"{state_path!r} is a damaged checkpoint state: field 'file' must be {expected!r} (the "
                         f"snapshot of {state['batches']} batches), got {state.get('file')!r}")


def snapshot_name(estimator: str, batches: int) -> str:
    """The state file of the snapshot after ``batches`` batches."""
    return f"{estimator}-{batches:09d}.npz"


def save_checkpoint(directory: str, acc, batches: int, samples: int, meta: dict) -> None:
    """Snapshot ``acc`` after ``batches`` batches (``samples`` samples) into ``directory`` (created if needed)."""
    if acc.n == 0 and meta["estimator"] == "exact":
        return  # nothing to resume from (an empty Moments has no layout to save)
    os.makedirs(directory, exist_ok=True)
    prefix = meta["estimator"]
    fname = snapshot_name(prefix, batches)
    acc.save(os.path.join(directory, fname))
    state = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "batches": batches, "samples": samples,
             "n": acc.n, "file": fname, **{k: meta[k] for k in _KEYS}}
    atomic_write(os.path.join(directory, "state.json"), lambda fh: json.dump(state, fh, indent=1), mode="w",
                 encoding="utf-8")
    for old in os.listdir(directory):  # earlier snapshots, now superseded
        if old != fname and old.startswith(prefix + "-") and old.endswith(".npz"):
            os.remove(os.path.join(directory, old))
