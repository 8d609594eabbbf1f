"""NumPy files: ``.npy`` (one layer per file, named ``"x"``; ids in a sibling ``<stem>.<ids>.npy``) and ``.npz`` (one
array per layer, the ids an array of the archive). Stored (uncompressed) members and ``.npy`` files are read with
``pread`` at their byte offset; members of a compressed archive (``np.savez_compressed``) are streamed forward."""
from __future__ import annotations

import os
import zipfile

import numpy as np

from .._limits import FILE_CACHE_BYTES
from ._source import RawMatrix, Source, as_rows, check_ids, check_matrix

#: The layer name of a ``.npy`` file (one layer per file; the site is ``"<stem>.x"``).
NPY_LAYER = "x"


def _header(fh, path: str, key: str):
    """(shape, dtype) of the ``.npy`` header at the file object's position; refuses Fortran order."""
    try:
        version = np.lib.format.read_magic(fh)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = reader(fh)
    except ValueError as exc:
        raise ValueError(f"{path}: {key!r} is not a readable .npy array ({exc})") from None
    if fortran and len(shape) > 1:
        raise ValueError(f"{path}: {key!r} is stored in Fortran (column-major) order; save it C-ordered "
                         "(np.ascontiguousarray) to read it by rows")
    return tuple(int(s) for s in shape), dtype


class NpySource(Source):
    """One ``.npy`` file: one layer ``"x"``; with ``ids="KEY"`` the ids are the sibling file ``<stem>.KEY.npy``."""

    format = "npy"

    def __init__(self, path, ids: str | None = None, name: str | None = None):
        super().__init__(path, name)
        self._fd = os.open(self.path, os.O_RDONLY)
        with open(self.path, "rb") as fh:
            shape, dtype = _header(fh, self.path, NPY_LAYER)
            offset = fh.tell()
        rows, width = check_matrix(self.path, NPY_LAYER, shape, dtype)
        self._matrix = RawMatrix(self._fd, offset, rows, width, dtype)
        self.layers, self.itemsize, self.n_rows = {NPY_LAYER: width}, {NPY_LAYER: dtype.itemsize}, rows
        if ids is not None:
            sibling = os.path.join(os.path.dirname(self.path), f"{self.name}.{ids}.npy")
            if os.path.exists(sibling):
                self.ids = check_ids(sibling, np.load(sibling, allow_pickle=False), rows, ids)

    def read(self, index):
        return {NPY_LAYER: self._matrix.read(index)}

    def close(self):
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class _StreamedMember:
    """A compressed ``.npz`` member read forward in rows (restarting when rows behind the position are asked for)."""

    def __init__(self, zf: zipfile.ZipFile, member: str, path: str, n_rows: int, width: int, dtype):
        self.zf, self.member, self.path = zf, member, path
        self.n_rows, self.width, self.dtype = n_rows, width, np.dtype(dtype)
        self.row_bytes = width * self.dtype.itemsize
        self.fh, self.pos, self.restarts = None, 0, 0

    def _open(self):
        if self.fh is not None:
            self.fh.close()
            self.restarts += 1
        self.fh = self.zf.open(self.member)
        _header(self.fh, self.path, self.member)
        self.pos = 0

    def _rows(self, count: int) -> np.ndarray:
        data = self.fh.read(count * self.row_bytes)
        if len(data) != count * self.row_bytes:
            raise ValueError(f"{self.path}: {self.member!r} ends before its {self.n_rows} rows")
        self.pos += count
        return np.frombuffer(data, dtype=self.dtype).reshape(count, self.width)

    def read(self, index) -> np.ndarray:
        rows, _ = as_rows(index, self.n_rows)
        out = np.empty((rows.size, self.width), dtype=self.dtype)
        if rows.size == 0:
            return out
        order = np.argsort(rows, kind="stable")
        lo, hi = int(rows[order[0]]), int(rows[order[-1]]) + 1
        if self.fh is None or lo < self.pos:
            self._open()
        step = max(1, FILE_CACHE_BYTES // max(1, self.row_bytes) // 4)
        if lo > self.pos:
            while self.pos < lo:
                self._rows(min(step, lo - self.pos))
        srt = rows[order]
        k = 0
        while self.pos < hi:
            start = self.pos
            block = self._rows(min(step, hi - start))
            j = int(np.searchsorted(srt, start + block.shape[0], side="left"))
            out[order[k:j]] = block[srt[k:j] - start]
            k = j
        return out

    def close(self):
        if self.fh is not None:
            self.fh.close()
            self.fh = None


class NpzSource(Source):
    """An ``.npz`` archive: every float array is a layer (higher dimensions flattened per row); ``ids`` names the
    ids array. Stored members are read at their offsets; compressed ones are streamed."""

    format = "npz"

    def __init__(self, path, ids: str | None = None, name: str | None = None):
        super().__init__(path, name)
        try:
            self._zf = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ValueError(f"{self.path}: not a readable .npz archive ({exc})") from None
        self._fd = os.open(self.path, os.O_RDONLY)
        self._matrices = {}
        self.random_access = True
        rows_of = {}
        for info in self._zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            key = info.filename[:-4]
            if key == ids:
                with self._zf.open(info) as fh:
                    raw = np.lib.format.read_array(fh, allow_pickle=False)
                self._ids_raw = raw
                continue
            with self._zf.open(info) as fh:
                shape, dtype = _header(fh, self.path, key)
                header_bytes = fh.tell()
            rows, width = check_matrix(self.path, key, shape, dtype)
            rows_of[key] = rows
            if info.compress_type == zipfile.ZIP_STORED:
                offset = self._data_offset(info) + header_bytes
                self._matrices[key] = RawMatrix(self._fd, offset, rows, width, dtype)
            else:
                self._matrices[key] = _StreamedMember(self._zf, info.filename, self.path, rows, width, dtype)
                self.random_access = False
            self.layers[key], self.itemsize[key] = width, np.dtype(dtype).itemsize
        self._settle(rows_of, ids, "arrays", getattr(self, "_ids_raw", None))

    def _data_offset(self, info: zipfile.ZipInfo) -> int:
        """Where a stored member's bytes start: after its local header (whose extra field may differ from the
        central directory's)."""
        head = os.pread(self._fd, 30, info.header_offset)
        if head[:4] != b"PK\x03\x04":
            raise ValueError(f"{self.path}: damaged archive (member {info.filename!r})")
        name_len = int.from_bytes(head[26:28], "little")
        extra_len = int.from_bytes(head[28:30], "little")
        return info.header_offset + 30 + name_len + extra_len

    def read(self, index):
        return {k: self._matrices[k].read(index) for k in self.layers}

    def close(self):
        for m in self._matrices.values():
            if isinstance(m, _StreamedMember):
                m.close()
        self._zf.close()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
