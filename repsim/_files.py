"""One writer for every file repsim writes: a temporary file in the target's directory, flushed and fsynced, then
renamed over the target — so a crash, a kill or a full disk leaves either the old file or the new one, never a
truncated mix. One reader for the ``.npz`` state files, with the field checks every loader shares: a damaged or
inconsistent file raises ValueError naming the file and the field, never a low-level exception."""
from __future__ import annotations

import os
import struct
import tempfile
import zipfile
import zlib
from typing import Callable

import numpy as np

#: What reading a damaged archive raises besides numpy's ValueErrors (converted by :class:`read_npz`).
#: NotImplementedError is zipfile's answer to a member header naming a compression method it does not know (a flipped
#: bit there), not an unfinished part of repsim.
READ_ERRORS = (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, zlib.error, KeyError, struct.error)


def atomic_write(path, write: Callable, mode: str = "wb", encoding: str | None = None, newline: str | None = None) -> str:
    """Call ``write(fh)`` on a temporary file beside ``path`` and move it over ``path`` once complete."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, mode, encoding=encoding, newline=newline) as fh:
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


class FieldError(ValueError):
    """A field of a stored file that is missing, unreadable, malformed or inconsistent with the others.

    Raised by the field readers below inside a :class:`read_npz` block, which replaces it with a ValueError naming
    the file as well.
    """

    def __init__(self, field: str, problem: str):
        super().__init__(f"field {field!r} {problem}")


class read_npz:
    """Open a repsim ``.npz`` state file and check it (context manager yielding the open archive).

    Raises FileNotFoundError for a missing file and ValueError naming the file for anything that is not an
    ``.npz`` archive tagged ``format_name`` at ``version`` holding the ``required`` fields. Inside the block, a
    :class:`FieldError` or a low-level read error (:data:`READ_ERRORS`) becomes
    ``ValueError("'path' is a damaged repsim <kind> file: ...")``; other exceptions (a bad keyword argument of the
    loader, say) pass unchanged.
    """

    def __init__(self, path, format_name: str, version, required):
        self.path, self.format_name, self.required = os.fspath(path), format_name, set(required)
        self.kind = format_name.split(".")[-1]
        self.versions = (version,) if isinstance(version, int) else tuple(version)
        self._data = None

    def __enter__(self):
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"no such file: {self.path!r}")
        self._fh = open(self.path, "rb")  # ours to close: np.load leaks its own handle when the zip is unreadable
        try:
            self._data = self._open()
            refusal = self._refusal(self._data)
        except Exception as exc:
            self._close()
            error = self._damage(exc)
            if error is None:
                raise
            raise error from exc
        if refusal is not None:
            self._close()
            raise ValueError(refusal)
        return self._data

    def __exit__(self, exc_type, exc, tb):
        self._close()
        error = None if exc is None else self._damage(exc)
        if error is not None:
            raise error from exc
        return False

    def _close(self) -> None:
        if self._data is not None:
            self._data.close()
            self._data = None
        self._fh.close()

    def _open(self):
        path, kind = self.path, self.kind
        try:
            data = np.load(self._fh, allow_pickle=False)
        except Exception as exc:  # empty, truncated or foreign files: numpy raises EOFError, BadZipFile, ...
            raise ValueError(f"{path!r} is not a repsim {kind} file (.npz): {type(exc).__name__}: {exc}") from exc
        if not hasattr(data, "files"):
            raise ValueError(f"{path!r} is not a repsim {kind} file: it holds a single array, not an .npz archive")
        return data

    def _refusal(self, data) -> str | None:
        """Why the open archive is not a readable file of this format and version, or None."""
        path, kind = self.path, self.kind
        if "format" not in data.files or str(read_field(data, "format")) != self.format_name:
            return f"{path!r} is not a repsim {kind} file (no '{self.format_name}' format tag)"
        version = read_int(data, "version") if "version" in data.files else -1
        if version not in self.versions:
            readable = " or ".join(str(v) for v in self.versions)
            return f"{path!r} has {kind} format version {version}; this repsim reads version {readable}"
        missing = self.required - set(data.files)
        if missing:
            return f"{path!r} is a damaged repsim {kind} file: missing fields {sorted(missing)}"
        return None

    def _damage(self, exc: BaseException) -> ValueError | None:
        """The ValueError naming the file that replaces ``exc`` when it tells of damage, else None."""
        where = f"{self.path!r} is a damaged repsim {self.kind} file"
        if isinstance(exc, FieldError):
            return ValueError(f"{where}: {exc}")
        if isinstance(exc, READ_ERRORS):
            return ValueError(f"{where}: {type(exc).__name__}: {exc}")
        return None


# ---------------------------------------------------------------------------------------------------- field readers
def read_field(data, name: str) -> np.ndarray:
    """The array stored as ``name``; FieldError when it is missing or cannot be read (bad CRC, truncated data,
    a malformed header ...). A MemoryError passes unchanged."""
    if name not in data.files:
        raise FieldError(name, "is missing")
    try:
        value = data[name]
    except MemoryError:
        raise
    except Exception as exc:
        raise FieldError(name, f"cannot be read: {type(exc).__name__}: {exc}") from exc
    if not isinstance(value, np.ndarray):  # np.load returns the raw bytes of a member that is not an .npy array
        raise FieldError(name, "is not an array")
    return value


def _described(a: np.ndarray) -> str:
    return f"{a.dtype} array of shape {a.shape}"


def _by(source: str) -> str:
    return f" (by {source})" if source else ""


def read_int(data, name: str, low: int = 0, high: int | None = None) -> int:
    """An integer scalar field with ``low <= value`` (``<= high`` when given)."""
    a = read_field(data, name)
    if a.shape != () or a.dtype.kind not in "iu":
        raise FieldError(name, f"must be an integer scalar, got a {_described(a)}")
    value = int(a)
    if value < low or (high is not None and value > high):
        bound = f"at least {low}" if high is None else f"from {low} to {high}"
        raise FieldError(name, f"must be {bound}, got {value}")
    return value


def read_ints(data, name: str, length: int, low: int = 0, source: str = "") -> tuple[int, ...]:
    """A field of ``length`` integers (as field ``source`` says), each at least ``low``."""
    a = read_field(data, name)
    if a.shape != (length,) or a.dtype.kind not in "iu":
        raise FieldError(name, f"must be {length} integers{_by(source)}, got a {_described(a)}")
    values = tuple(int(v) for v in a)
    if any(v < low for v in values):
        raise FieldError(name, f"must hold integers of at least {low}, got {list(values)}")
    return values


def read_text(data, name: str, choices) -> str:
    """A string scalar field, one of ``choices``."""
    a = read_field(data, name)
    if a.shape != () or a.dtype.kind != "U" or str(a) not in choices:
        raise FieldError(name, f"must be one of {list(choices)}, got {a!r}")
    return str(a)


def read_names(data, name: str, empty: bool = False) -> tuple[str, ...]:
    """A field of unique, non-empty names (at least one unless ``empty``)."""
    a = read_field(data, name)
    if a.ndim != 1 or (a.dtype.kind != "U" and a.size) or (a.size == 0 and not empty):
        raise FieldError(name, f"must be a list of {'' if empty else 'one or more '}names, got a {_described(a)}")
    names = tuple(str(s) for s in a)
    if not all(names):
        raise FieldError(name, f"holds an empty name: {list(names)}")
    repeated = sorted({s for s in names if names.count(s) > 1})
    if repeated:
        raise FieldError(name, f"holds {repeated} more than once")
    return names


def read_floats(data, name: str, shape: tuple, source: str = "", numeric: bool = False) -> np.ndarray:
    """A finite float64 array field (with ``numeric``: of any real dtype) of exactly ``shape`` (None: any length on
    that axis), the shape that field(s) ``source`` give."""
    a = read_field(data, name)
    fits = a.ndim == len(shape) and all(want is None or got == want for got, want in zip(a.shape, shape))
    typed = a.dtype.kind in "fiu" if numeric else (a.dtype.kind == "f" and a.dtype.itemsize == 8)
    if not (fits and typed):
        want = "(" + ", ".join("any" if w is None else str(w) for w in shape) + ("," if len(shape) == 1 else "") + ")"
        what = "a numeric" if numeric else "a float64"
        raise FieldError(name, f"must be {what} array of shape {want}{_by(source)}, got a {_described(a)}")
    if not (np.isfinite(a.sum()) or np.isfinite(a).all()):  # a finite sum: every entry is finite
        raise FieldError(name, "holds NaN or Inf")
    return a


def read_pairs(data, name: str, count: int) -> tuple[tuple[int, int], ...]:
    """A field of index pairs (i, j), 0 <= i < j < count, each once, in increasing order (as saved)."""
    a = read_field(data, name)
    if a.ndim != 2 or a.shape[1] != 2 or (a.dtype.kind not in "iu" and a.size):
        raise FieldError(name, f"must be an integer array of shape (any, 2), got a {_described(a)}")
    pairs = tuple((int(i), int(j)) for i, j in a)
    bad = [p for p in pairs if not 0 <= p[0] < p[1] < count]
    if bad:
        raise FieldError(name, f"holds {bad}; a pair is two site indices i < j below {count}")
    if list(pairs) != sorted(set(pairs)):
        raise FieldError(name, "must hold each pair once, in increasing order")
    return pairs


def has_fields(data, names, why: str) -> None:
    """FieldError naming the first of ``names`` that the archive lacks; ``why`` says why the file must hold them."""
    missing = [name for name in names if name not in data.files]
    if missing:
        raise FieldError(missing[0], f"is missing ({why}; missing: {missing})")


def only_fields(data, allowed) -> None:
    """FieldError naming a field that this format does not have (e.g. one Gram more than there are sites)."""
    extra = sorted(set(data.files) - set(allowed))
    if extra:
        raise FieldError(extra[0], f"is not part of this file's format (unexpected fields {extra})")


def require(condition: bool, name: str, problem: str) -> None:
    """FieldError ``problem`` of field ``name`` unless ``condition`` (a consistency check between fields)."""
    if not condition:
        raise FieldError(name, problem)
