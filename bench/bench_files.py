"""`repsim compare` from files at smoke size (the full run and its figures: ``python bench/report_files.py``)."""
from __future__ import annotations

import report_files as rf  # bench/ is on sys.path under pytest


def test_report_files_quick(benchmark):
    out = benchmark.pedantic(lambda: rf.main(["--quick"]), rounds=1, iterations=1)
    assert out["max_abs_diff"] <= 1e-12
    assert out.get("dask_max_abs_diff", 0.0) <= 1e-10
