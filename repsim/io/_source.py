"""What every activation file looks like to repsim: a :class:`Source` of named layers, each a (n_rows, n_features)
matrix, optionally with one id per row, read by rows in any order (docs/files.md §1).

Formats live in their own modules (:mod:`repsim.io.numpy_files`, :mod:`repsim.io.safetensors_files`,
:mod:`repsim.io.arrow_files`); :class:`RawMatrix` reads the row-major matrices that ``.npy``, stored ``.npz`` members
and safetensors keep uncompressed at a byte offset — with ``pread`` into the process's own buffers, never a memory
map, so the resident memory is the batch, not the file.
"""
from __future__ import annotations

import abc
import os

import numpy as np

#: The float dtypes an activation file may hold (bfloat16 is widened to float32 as it is read).
FLOAT_KINDS = ("f",)


class Source(abc.ABC):
    """One activation file: ``layers`` (name → width), ``n_rows``, ``ids`` (one per row, or None), and
    :meth:`read`. ``random_access`` says whether rows in any order cost the same as in file order (``.npy``,
    safetensors, stored ``.npz``, Arrow IPC); streamed formats (Parquet, compressed ``.npz``) re-read when asked for
    rows behind the ones they hold."""

    format = "?"
    random_access = True

    def __init__(self, path, name: str | None = None):
        self.path = os.fspath(path)
        stem = os.path.basename(self.path)
        for suffix in (".safetensors", ".parquet", ".arrow", ".feather", ".ipc", ".npy", ".npz", ".pq"):
            if stem.endswith(suffix):
                stem = stem[: -len(suffix)]
                break
        self.name = stem if name is None else str(name)
        self.layers: dict[str, int] = {}
        self.n_rows = 0
        self.ids: np.ndarray | None = None
        self.itemsize: dict[str, int] = {}

    @property
    def row_bytes(self) -> int:
        """Bytes of one row of every selected layer as read (before the float64 conversion of the fused pass)."""
        return sum(self.layers[k] * self.itemsize.get(k, 4) for k in self.layers)

    def select(self, layers) -> None:
        """Keep only ``layers`` (names as in the file, or ``"<name>.<layer>"``), in that order. ValueError naming the
        file and what it holds when one is absent."""
        if layers is None:
            return
        kept = {}
        for want in layers:
            key = want[len(self.name) + 1:] if want.startswith(self.name + ".") and want not in self.layers else want
            if key not in self.layers:
                raise ValueError(f"{self.path}: no layer {want!r}; it holds {list(self.layers)}")
            kept[key] = self.layers[key]
        self.layers = kept

    def _settle(self, rows_of: dict, ids, what: str, ids_raw=None) -> None:
        """After a format has found its layers (``rows_of``: layer → rows): every layer must hold the same samples;
        sets ``n_rows`` and, when the file holds the ids array ``ids_raw``, checks it into ``self.ids``."""
        if not self.layers:
            raise ValueError(f"{self.path}: no float {what} (layers) in this file")
        counts = set(rows_of.values())
        if len(counts) != 1:
            raise ValueError(f"{self.path}: the layers have different numbers of rows {rows_of}; every layer of a file "
                             "holds the same samples")
        self.n_rows = counts.pop()
        if ids is not None and ids_raw is not None:
            self.ids = check_ids(self.path, ids_raw, self.n_rows, ids)

    @abc.abstractmethod
    def read(self, index) -> dict[str, np.ndarray]:
        """Rows ``index`` (a slice of file rows, or an int array in any order) of every selected layer:
        layer → (len(index), width) array (float16/32/64); every format implements it."""

    def close(self) -> None:
        """Release the file (idempotent)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r}: {self.n_rows} rows, layers {self.layers})"


def check_matrix(path: str, key: str, shape, dtype) -> tuple[int, int]:
    """(rows, features) of a stored layer: at least 1-D, a float dtype; higher dimensions are flattened per row."""
    if len(shape) == 0:
        raise ValueError(f"{path}: {key!r} is a scalar, not a (n_samples, n_features) layer")
    if np.dtype(dtype).kind not in FLOAT_KINDS:
        raise TypeError(f"{path}: layer {key!r} has dtype {np.dtype(dtype)}; activations must be float16/32/64 "
                        "(or bfloat16 in safetensors). Name the ids with --ids / ids= if it holds sample ids")
    features = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    return int(shape[0]), features


def check_ids(path: str, ids: np.ndarray, n_rows: int, key: str) -> np.ndarray:
    """One id per row, all different: integers or strings (as a 1-D NumPy array)."""
    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.shape[0] != n_rows:
        raise ValueError(f"{path}: the ids {key!r} have shape {ids.shape}; expected one id per row ({n_rows},)")
    if ids.dtype.kind not in "iuUSO":
        raise TypeError(f"{path}: the ids {key!r} have dtype {ids.dtype}; ids are integers or strings")
    if ids.dtype.kind == "O":
        ids = ids.astype(str)
    uniq = np.unique(ids)
    if uniq.shape[0] != ids.shape[0]:
        srt = np.sort(ids)
        dup = srt[1:][srt[1:] == srt[:-1]][:3]
        raise ValueError(f"{path}: the ids {key!r} repeat ({ids.shape[0] - uniq.shape[0]} duplicates, e.g. "
                         f"{[d.item() for d in dup]}); every row needs its own id")
    return ids


def as_rows(index, n_rows: int) -> tuple[np.ndarray, bool]:
    """(row numbers as int64, whether they are consecutive ascending) of a slice or an int array."""
    if isinstance(index, slice):
        start, stop, step = index.indices(n_rows)
        return np.arange(start, stop, step, dtype=np.int64), step == 1
    rows = np.asarray(index, dtype=np.int64)
    contiguous = rows.size == 0 or (rows[-1] - rows[0] + 1 == rows.size and bool(np.all(np.diff(rows) == 1)))
    return rows, contiguous


class RawMatrix:
    """A row-major (n_rows, width) matrix stored uncompressed at ``offset`` in an open file, read with ``pread``.

    ``dtype`` is the stored dtype; ``widen`` converts after reading (bfloat16 → float32)."""

    def __init__(self, fd: int, offset: int, n_rows: int, width: int, dtype, widen=None):
        self.fd, self.offset, self.n_rows, self.width = fd, int(offset), int(n_rows), int(width)
        self.dtype = np.dtype(dtype)
        self.widen = widen
        self.row_bytes = self.width * self.dtype.itemsize

    def read(self, index) -> np.ndarray:
        rows, contiguous = as_rows(index, self.n_rows)
        if rows.size and (rows.min() < 0 or rows.max() >= self.n_rows):
            raise IndexError(f"rows out of range 0..{self.n_rows - 1}")
        if contiguous:
            out = np.empty((rows.size, self.width), dtype=self.dtype)
            if rows.size:
                self._read_run(out, int(rows[0]))
        else:
            order = np.argsort(rows, kind="stable")
            srt = rows[order]
            buf = np.empty((rows.size, self.width), dtype=self.dtype)
            breaks = np.flatnonzero(np.diff(srt) != 1) + 1
            starts = np.concatenate(([0], breaks))
            stops = np.concatenate((breaks, [rows.size]))
            for a, b in zip(starts.tolist(), stops.tolist()):
                self._read_run(buf[a:b], int(srt[a]))
            out = np.empty_like(buf)
            out[order] = buf
        return out if self.widen is None else self.widen(out)

    def _read_run(self, out: np.ndarray, row0: int) -> None:
        view = memoryview(out).cast("B")
        pos, done = self.offset + row0 * self.row_bytes, 0
        while done < view.nbytes:
            got = os.preadv(self.fd, [view[done:]], pos + done)
            if got <= 0:
                raise ValueError(f"unexpected end of file reading {view.nbytes} bytes at offset {pos}")
            done += got
