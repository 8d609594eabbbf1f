"""Open an activation file by its suffix: ``.npy`` / ``.npz`` (:mod:`~repsim.io.numpy_files`), ``.safetensors``
(:mod:`~repsim.io.safetensors_files`), ``.parquet`` / ``.pq`` and Arrow IPC ``.arrow`` / ``.feather`` / ``.ipc``
(:mod:`~repsim.io.arrow_files`)."""
from __future__ import annotations

import os

from .arrow_files import ArrowSource, ParquetSource
from .numpy_files import NpySource, NpzSource
from .safetensors_files import SafetensorsSource

READERS = {".npy": NpySource, ".npz": NpzSource, ".safetensors": SafetensorsSource, ".parquet": ParquetSource,
           ".pq": ParquetSource, ".arrow": ArrowSource, ".feather": ArrowSource, ".ipc": ArrowSource}


def open_source(path, ids: str | None = "ids", name: str | None = None, layers=None):
    """A :class:`~repsim.io._source.Source` for ``path``.

    Parameters
    ----------
    path : str or os.PathLike
    ids : str, optional
        The name of the ids array / tensor / column (for ``.npy``: the sibling file ``<stem>.<ids>.npy``); a file
        without it has no ids. None: never read ids.
    name : str, optional
        The model name of the file's sites (default: the file name without its suffix).
    layers : sequence of str, optional
        Keep only these layers (default: every float array / tensor / column).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    suffix = os.path.splitext(path)[1].lower()
    reader = READERS.get(suffix)
    if reader is None:
        raise ValueError(f"{path}: unknown activation file type {suffix!r}; repsim reads {sorted(READERS)}")
    source = reader(path, ids=ids, name=name)
    try:
        source.select(layers)
    except ValueError:
        source.close()
        raise
    return source
