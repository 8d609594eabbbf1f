"""Sample identity across shards (docs/files.md §3): :class:`IdTracker` records a 64-bit hash of every sample id an
accumulation has seen, so that merging two shards that share samples — the same file given to two tasks of an array
job, overlapping ranges — is refused instead of silently counting those samples twice.

A :class:`repsim.Moments` keeps one when its updates give ``ids=`` (saved in its file, checked by its merge); the
command line keeps one beside its statistics file (``<stats>.ids.npz``); ``repsim.compare(..., ids=KEY)`` keeps
one per run. Its :attr:`digest` is an order-independent fingerprint of the set of ids (the same for any order and
any sharding of the same samples)."""
from __future__ import annotations

import hashlib
import json

import numpy as np

from ._files import FieldError, atomic_write, read_field, read_int, read_npz

FORMAT_NAME = "repsim.IdTracker"
FORMAT_VERSION = 1
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def hash_ids(ids) -> np.ndarray:
    """64-bit hashes of integer ids (splitmix64, vectorised) or string / bytes ids (BLAKE2b-64), as uint64."""
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D (one per row), got shape {ids.shape}")
    if ids.dtype.kind in "iu":
        with np.errstate(over="ignore"):
            z = ids.astype(np.int64).view(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            return z ^ (z >> np.uint64(31))
    if ids.dtype.kind in "USO":
        out = np.empty(ids.shape[0], dtype=np.uint64)
        for k, v in enumerate(ids.tolist()):
            b = v if isinstance(v, bytes) else str(v).encode("utf-8")
            out[k] = int.from_bytes(hashlib.blake2b(b, digest_size=8).digest(), "little")
        return out
    raise TypeError(f"ids must be integers or strings, got dtype {ids.dtype}")


class IdTracker:
    """The ids (as 64-bit hashes) an accumulation has seen; merging refuses shards that share samples.

    Memory: 8 bytes per sample. Two different ids collide with probability ≈ n² / 2⁶⁵ (1e-10 for n = 10⁵), so a
    refusal can, very rarely, be a false alarm — an overlap is never missed.

    Examples
    --------
    >>> import numpy as np
    >>> from repsim.io import IdTracker
    >>> a, b = IdTracker().update(np.arange(0, 100)), IdTracker().update(np.arange(100, 200))
    >>> a.merge(b).n
    200
    >>> a.digest == IdTracker().update(np.arange(200)[::-1]).digest
    True
    """

    def __init__(self):
        self._parts: list[np.ndarray] = []
        self._sorted: np.ndarray | None = np.empty(0, dtype=np.uint64)
        self.meta: dict = {}

    @property
    def n(self) -> int:
        """Samples recorded."""
        return int(sum(p.shape[0] for p in self._parts)) if self._sorted is None else int(self._sorted.shape[0])

    def update(self, ids) -> "IdTracker":
        """Record the ids of one batch (a repeat is found when the hashes are next read: :attr:`hashes`)."""
        return self.update_hashes(hash_ids(ids))

    def update_hashes(self, h: np.ndarray) -> "IdTracker":
        """Record already hashed ids (:func:`hash_ids`): one uint64 per sample."""
        if self._sorted is not None:
            self._parts = [self._sorted] if self._sorted.size else []
        self._parts.append(h)
        self._sorted = None
        return self

    @property
    def hashes(self) -> np.ndarray:
        """The sorted hashes (ValueError when an id was recorded twice)."""
        if self._sorted is None:
            h = np.sort(np.concatenate(self._parts)) if self._parts else np.empty(0, dtype=np.uint64)
            repeats = int(np.count_nonzero(h[1:] == h[:-1]))
            if repeats:
                raise ValueError(f"{repeats} sample id(s) were recorded twice; each sample may be added once")
            self._sorted, self._parts = h, []
        return self._sorted

    @property
    def digest(self) -> str:
        """Order-independent fingerprint of the set of ids: count, sum and xor of the hashes (hex)."""
        h = self.hashes
        with np.errstate(over="ignore"):
            total = int(np.add.reduce(h, dtype=np.uint64)) if h.size else 0
        xor = int(np.bitwise_xor.reduce(h)) if h.size else 0
        return f"{h.shape[0]:x}-{total:016x}-{xor:016x}"

    def overlap(self, other: "IdTracker") -> int:
        """Number of samples both trackers have seen."""
        return int(np.intersect1d(self.hashes, other.hashes, assume_unique=True).shape[0])

    def merge(self, other: "IdTracker") -> "IdTracker":
        """Add ``other``'s ids, in place; ValueError when the two share samples (the shards overlap)."""
        if not isinstance(other, IdTracker):
            raise TypeError(f"other must be an IdTracker, got {type(other).__name__}")
        shared = self.overlap(other)
        if shared:
            raise ValueError(f"the shards overlap: {shared} of their samples (of {self.n} and {other.n}) were "
                             "accumulated in both; merging would count them twice")
        self._sorted = np.union1d(self.hashes, other.hashes)
        return self

    def copy(self) -> "IdTracker":
        t = IdTracker()
        t._sorted, t.meta = self.hashes.copy(), dict(self.meta)
        return t

    @classmethod
    def from_hashes(cls, hashes: np.ndarray) -> "IdTracker":
        """A tracker holding ``hashes`` (sorted, distinct uint64: ValueError otherwise)."""
        hashes = np.asarray(hashes)
        if hashes.dtype != np.uint64 or hashes.ndim != 1 or np.any(hashes[1:] <= hashes[:-1]):
            raise ValueError("hashes must be sorted, distinct uint64 values")
        t = cls()
        t._sorted = hashes
        return t

    def save(self, path, meta: dict | None = None) -> None:
        """Write the hashes (and ``meta``, a JSON-able dict: what the statistics beside it were made from) to a
        versioned ``.npz``, atomically."""
        fields = dict(format=np.array(FORMAT_NAME), version=np.array(FORMAT_VERSION), n=np.array(self.n),
                      hashes=self.hashes, meta=np.array(json.dumps(meta or {})))
        atomic_write(path, lambda fh: np.savez(fh, **fields))

    @classmethod
    def load(cls, path) -> "IdTracker":
        """Read a tracker written by :meth:`save` (ValueError naming the file when it is not one); its ``meta``
        dict is the attribute ``meta``."""
        with read_npz(path, FORMAT_NAME, (FORMAT_VERSION,), {"format", "version", "n", "hashes", "meta"}) as data:
            n = read_int(data, "n")
            hashes = read_field(data, "hashes")
            if hashes.dtype != np.uint64 or hashes.shape != (n,) or np.any(hashes[1:] <= hashes[:-1]):
                raise FieldError("hashes", f"is not {n} sorted, distinct uint64 hashes")
            try:
                meta = json.loads(str(read_field(data, "meta")))
            except ValueError:
                raise FieldError("meta", "is not JSON") from None
        t = cls()
        t._sorted, t.meta = hashes, meta
        return t
