"""Shape metrics and ReSi's closed forms at smoke size (the full run: ``python bench/report_shape.py``): oracle (and,
when a copy is present, netrep) agreement and the costs of a pair and a matrix."""
from __future__ import annotations

import report_shape as rs  # bench/ is on sys.path under pytest


def test_report_shape_quick(benchmark):
    out = benchmark.pedantic(lambda: rs.main(["--quick"]), rounds=1, iterations=1)
    assert out["worst_oracle_diff"] < 1e-9
    assert out["worst_netrep_diff"] is None or out["worst_netrep_diff"] < 1e-9
