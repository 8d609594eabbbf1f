"""Parquet and Arrow IPC (Feather v2) files through ``pyarrow`` (``pip install pyarrow``).

A layer is a fixed-size-list (or equal-length list) column of floats, or a block of scalar float columns named
``"<layer>.<k>"`` (k = 0, 1, …: one column per feature). The ids are a column of integers or strings. Arrow IPC
files are memory-mapped by Arrow and read by rows in any order; Parquet is read by row groups, decoded ones kept up
to FILE_CACHE_BYTES (rows asked for out of file order re-read the row groups that no longer fit)."""
from __future__ import annotations

import collections
import re

import numpy as np

from .._limits import FILE_CACHE_BYTES
from ._source import Source, as_rows, check_ids

try:  # optional: only Parquet / Arrow files need it
    import pyarrow as pa
    import pyarrow.ipc as ipc
    import pyarrow.parquet as pq
except ImportError:  # pragma: no cover - exercised where pyarrow is absent
    pa = ipc = pq = None

_BLOCK = re.compile(r"^(.*)\.(\d+)$")


def _need_pyarrow(path: str) -> None:
    if pa is None:
        raise ImportError(f"reading {path} needs pyarrow: pip install pyarrow")


def _layout(schema, path: str, ids: str | None):
    """layer → [column names] (a list column alone, or the ordered scalar columns of a block) and widths."""
    layers, widths, blocks = {}, {}, collections.defaultdict(list)
    for field in schema:
        name, t = field.name, field.type
        if name == ids:
            continue
        if pa.types.is_fixed_size_list(t) or pa.types.is_list(t) or pa.types.is_large_list(t):
            if not pa.types.is_floating(t.value_type):
                raise TypeError(f"{path}: column {name!r} holds {t.value_type}; a layer holds floats")
            layers[name] = [name]
            widths[name] = t.list_size if pa.types.is_fixed_size_list(t) else None
        elif pa.types.is_floating(t):
            m = _BLOCK.match(name)
            key, k = (m.group(1), int(m.group(2))) if m else (name, 0)
            blocks[key].append((k, name))
        else:
            raise TypeError(f"{path}: column {name!r} has type {t}; layers are float (list) columns — name the ids "
                            "column with --ids / ids=")
    for key, cols in blocks.items():
        if key in layers:
            raise ValueError(f"{path}: {key!r} is both a list column and a block of scalar columns")
        ks = sorted(k for k, _ in cols)
        if ks != list(range(len(ks))) and len(cols) > 1:
            raise ValueError(f"{path}: the scalar columns of layer {key!r} are numbered {ks}; expected 0..{len(ks) - 1}")
        layers[key] = [name for _, name in sorted(cols)]
        widths[key] = len(cols)
    if not layers:
        raise ValueError(f"{path}: no float columns (layers)")
    return layers, widths


def _matrix(columns, path: str, layer: str, width: int | None) -> np.ndarray:
    """(rows, width) NumPy array of a layer from its Arrow column(s) (ChunkedArray or Array)."""
    if len(columns) > 1:
        return np.column_stack([_flat(c).to_numpy(zero_copy_only=False) for c in columns])
    col = _flat(columns[0])
    t = col.type
    if not (pa.types.is_fixed_size_list(t) or pa.types.is_list(t) or pa.types.is_large_list(t)):
        return col.to_numpy(zero_copy_only=False).reshape(-1, 1)
    if col.null_count:
        raise ValueError(f"{path}: layer {layer!r} has {col.null_count} null rows")
    values = col.flatten().to_numpy(zero_copy_only=False)
    rows = len(col)
    if width is None:
        lengths = np.diff(col.offsets.to_numpy())
        if rows and not np.all(lengths == lengths[0]):
            raise ValueError(f"{path}: layer {layer!r} has lists of different lengths "
                             f"({lengths.min()}..{lengths.max()}); every row needs the same number of features")
        width = int(lengths[0]) if rows else 0
    return values.reshape(rows, width)


def _flat(col):
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


class _ArrowBase(Source):
    def _setup(self, schema, ids):
        self._columns, widths = _layout(schema, self.path, ids)
        self._ids_key = ids if ids in schema.names else None
        return widths

    def _finish_widths(self, widths, first_rows):
        """Widths and item sizes of the layers, from the first rows (list columns of any length)."""
        for k, w in widths.items():
            if first_rows.num_rows:
                m = _matrix([first_rows.column(c) for c in self._columns[k]], self.path, k, w)
                w, size = m.shape[1], m.dtype.itemsize
            else:
                size = 4
            self.layers[k], self.itemsize[k] = int(w or 0), int(size)

    def _layers_of(self, table) -> dict:
        return {k: _matrix([table.column(c) for c in self._columns[k]], self.path, k, self.layers[k])
                for k in self.layers}


class ArrowSource(_ArrowBase):
    """An Arrow IPC file (``.arrow`` / ``.feather`` / ``.ipc``), memory-mapped by Arrow: rows in any order."""

    format = "arrow"

    def __init__(self, path, ids: str | None = None, name: str | None = None):
        super().__init__(path, name)
        _need_pyarrow(self.path)
        try:
            self._map = pa.memory_map(self.path)
            self._table = ipc.open_file(self._map).read_all()
        except (pa.ArrowInvalid, OSError) as exc:
            raise ValueError(f"{self.path}: not a readable Arrow IPC file ({exc})") from None
        widths = self._setup(self._table.schema, ids)
        self.n_rows = self._table.num_rows
        self._finish_widths(widths, self._table.slice(0, 1))
        if self._ids_key is not None:
            self.ids = check_ids(self.path, self._table.column(ids).to_numpy(zero_copy_only=False), self.n_rows, ids)

    def read(self, index):
        rows, contiguous = as_rows(index, self.n_rows)
        part = (self._table.slice(int(rows[0]), rows.size) if contiguous and rows.size
                else self._table.take(pa.array(rows)))
        return self._layers_of(part)

    def close(self):
        self._table = None
        if getattr(self, "_map", None) is not None:
            self._map.close()
            self._map = None


class ParquetSource(_ArrowBase):
    """A Parquet file, read by row groups (streamed: rows in file order cost one read of each row group)."""

    format = "parquet"
    random_access = False

    def __init__(self, path, ids: str | None = None, name: str | None = None):
        super().__init__(path, name)
        _need_pyarrow(self.path)
        try:
            self._file = pq.ParquetFile(self.path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ValueError(f"{self.path}: not a readable Parquet file ({exc})") from None
        schema = self._file.schema_arrow
        widths = self._setup(schema, ids)
        meta = self._file.metadata
        self.n_rows = meta.num_rows
        self._starts = np.cumsum([0] + [meta.row_group(g).num_rows for g in range(meta.num_row_groups)])
        self._cache: collections.OrderedDict = collections.OrderedDict()
        self._cached_bytes, self.group_reads = 0, 0
        first = self._file.read_row_group(0) if meta.num_row_groups else schema.empty_table()
        self._finish_widths(widths, first)
        if self._ids_key is not None:
            raw = self._file.read(columns=[ids]).column(ids).to_numpy(zero_copy_only=False)
            self.ids = check_ids(self.path, raw, self.n_rows, ids)

    def _group(self, g: int) -> dict:
        hit = self._cache.get(g)
        if hit is not None:
            self._cache.move_to_end(g)
            return hit
        cols = [c for k in self.layers for c in self._columns[k]]
        layers = self._layers_of(self._file.read_row_group(g, columns=cols))
        self.group_reads += 1
        size = sum(a.nbytes for a in layers.values())
        while self._cache and self._cached_bytes + size > FILE_CACHE_BYTES:
            _, old = self._cache.popitem(last=False)
            self._cached_bytes -= sum(a.nbytes for a in old.values())
        self._cache[g] = layers
        self._cached_bytes += size
        return layers

    def read(self, index):
        rows, _ = as_rows(index, self.n_rows)
        out = {k: None for k in self.layers}
        groups = np.searchsorted(self._starts, rows, side="right") - 1
        order = np.argsort(groups, kind="stable")
        bounds = np.flatnonzero(np.diff(groups[order])) + 1
        for part in np.split(order, bounds):
            if part.size == 0:
                continue
            g = int(groups[part[0]])
            layers = self._group(g)
            local = rows[part] - self._starts[g]
            for k, a in layers.items():
                if out[k] is None:
                    out[k] = np.empty((rows.size, a.shape[1]), dtype=a.dtype)
                out[k][part] = a[local]
        return {k: (v if v is not None else np.empty((0, self.layers[k]), dtype=np.float32)) for k, v in out.items()}

    def close(self):
        self._cache.clear()
        self._cached_bytes = 0
