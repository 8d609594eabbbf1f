"""Activation files → exact statistics (docs/files.md): readers of ``.npy`` / ``.npz`` / safetensors / Parquet /
Arrow IPC (one module per format), the id join, sample identity across shards, and the file-based comparison behind
``repsim compare FILE...``, ``repsim stats``, ``repsim merge`` and ``repsim report``.

Not imported by ``import repsim`` (it loads pyarrow where installed): ``import repsim.io``.
"""
from .accumulate import (DEFAULT_METRICS, Files, build_report, compare_files, compare_open, file_statistics,
                         load_stats, memory_plan, merge_stats, open_files, report_from_stats, save_stats, stream)
from .formats import READERS, open_source
from ..ids import IdTracker, hash_ids
from .join import Alignment, align

__all__ = ["Alignment", "DEFAULT_METRICS", "Files", "IdTracker", "READERS", "align", "build_report", "compare_files",
           "compare_open", "file_statistics", "hash_ids", "load_stats", "memory_plan", "merge_stats", "open_files", "open_source",
           "report_from_stats", "save_stats", "stream"]
