"""safetensors files: one tensor per layer (any float dtype; bfloat16 widened to float32), the ids an integer tensor.

The format is a little-endian u64 header length, a JSON header (name → dtype, shape, byte offsets) and the raw
row-major tensors (https://github.com/huggingface/safetensors#format). Reading needs only that header, so the
``safetensors`` package is not required to read (it writes the files: ``pip install safetensors``); tensors are
read by rows with ``pread`` at their offsets."""
from __future__ import annotations

import json
import os
import struct

import numpy as np

from ._source import RawMatrix, Source, check_matrix

#: safetensors dtype names → NumPy (BF16 is read as uint16 and widened).
DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.uint16, "I64": np.int64,
          "I32": np.int32, "I16": np.int16, "I8": np.int8, "U64": np.uint64, "U32": np.uint32, "U16": np.uint16,
          "U8": np.uint8}
#: Largest JSON header accepted (the format's own limit is 100 MB).
MAX_HEADER = 100_000_000


def _widen_bf16(a: np.ndarray) -> np.ndarray:
    return (a.astype(np.uint32) << 16).view(np.float32)


class SafetensorsSource(Source):
    """A ``.safetensors`` file: every float tensor a layer (higher dimensions flattened per row); ``ids`` names an
    integer tensor of one id per row."""

    format = "safetensors"

    def __init__(self, path, ids: str | None = None, name: str | None = None):
        super().__init__(path, name)
        self._fd = os.open(self.path, os.O_RDONLY)
        size = os.fstat(self._fd).st_size
        head = os.pread(self._fd, 8, 0)
        length = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
        if length <= 0 or length > min(MAX_HEADER, size - 8):
            self.close()
            raise ValueError(f"{self.path}: not a safetensors file (header length {length})")
        try:
            header = json.loads(os.pread(self._fd, length, 8))
        except ValueError as exc:
            self.close()
            raise ValueError(f"{self.path}: damaged safetensors header ({exc})") from None
        base = 8 + length
        self._matrices = {}
        rows_of = {}
        for key, spec in header.items():
            if key == "__metadata__":
                continue
            kind = spec.get("dtype")
            if kind not in DTYPES:
                raise ValueError(f"{self.path}: tensor {key!r} has dtype {kind!r}, which repsim does not read")
            shape, (begin, end) = tuple(spec["shape"]), spec["data_offsets"]
            dtype = np.dtype(DTYPES[kind])
            if key == ids:
                raw = np.frombuffer(os.pread(self._fd, end - begin, base + begin), dtype=dtype)
                self._ids_raw = raw.reshape(shape)
                continue
            if base + end > size or end - begin != int(np.prod(shape)) * dtype.itemsize:
                raise ValueError(f"{self.path}: tensor {key!r} ({shape}, {kind}) does not match its byte range")
            rows, width = check_matrix(self.path, key, shape, np.float32 if kind == "BF16" else dtype)
            rows_of[key] = rows
            self._matrices[key] = RawMatrix(self._fd, base + begin, rows, width, dtype,
                                            _widen_bf16 if kind == "BF16" else None)
            self.layers[key], self.itemsize[key] = width, dtype.itemsize
        self._settle(rows_of, ids, "tensors", getattr(self, "_ids_raw", None))

    def read(self, index):
        return {k: self._matrices[k].read(index) for k in self.layers}

    def close(self):
        if getattr(self, "_fd", -1) >= 0:
            os.close(self._fd)
            self._fd = -1
