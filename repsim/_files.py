"""One writer for every file repsim writes: a temporary file in the target's directory, flushed and fsynced, then
renamed over the target — so a crash, a kill or a full disk leaves either the old file or the new one, never a
truncated mix."""
from __future__ import annotations

import os
import tempfile
from typing import Callable

import numpy as np


def atomic_write(path, write: Callable, mode: str = "wb", encoding: str | None = None) -> str:
    """Call ``write(fh)`` on a temporary file beside ``path`` and move it over ``path`` once complete."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    return path


class read_npz:
    """Open a repsim ``.npz`` state file and check it (context manager yielding the open archive).

    Raises FileNotFoundError for a missing file and ValueError naming the file for anything that is not an
    ``.npz`` archive tagged ``format_name`` at ``version`` holding the ``required`` fields.
    """

    def __init__(self, path, format_name: str, version, required):
        self.path, self.format_name, self.required = os.fspath(path), format_name, set(required)
        self.versions = (version,) if isinstance(version, int) else tuple(version)

    def __enter__(self):
        path, kind = self.path, self.format_name.split(".")[-1]
        if not os.path.exists(path):
            raise FileNotFoundError(f"no such file: {path!r}")
        try:
            data = np.load(path, allow_pickle=False)
        except Exception as exc:  # empty, truncated or foreign files: numpy raises EOFError, BadZipFile, ...
            raise ValueError(f"{path!r} is not a repsim {kind} file (.npz): {type(exc).__name__}: {exc}") from None
        if not hasattr(data, "files"):
            raise ValueError(f"{path!r} is not a repsim {kind} file: it holds a single array, not an .npz archive")
        self._data = data
        if "format" not in data.files or str(data["format"]) != self.format_name:
            data.close()
            raise ValueError(f"{path!r} is not a repsim {kind} file (no '{self.format_name}' format tag)")
        version = int(data["version"]) if "version" in data.files else -1
        if version not in self.versions:
            data.close()
            readable = " or ".join(str(v) for v in self.versions)
            raise ValueError(f"{path!r} has {kind} format version {version}; this repsim reads version {readable}")
        missing = self.required - set(data.files)
        if missing:
            data.close()
            raise ValueError(f"{path!r} is a damaged {kind} file: missing fields {sorted(missing)}")
        return data

    def __exit__(self, *exc):
        self._data.close()
