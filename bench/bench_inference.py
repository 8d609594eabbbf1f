"""Inference at smoke size (the full run and its figures: ``python bench/report_inference.py``): exact-moment
p-values against Monte Carlo, calibration, interval coverage, and the costs."""
from __future__ import annotations

import report_inference as ri  # bench/ is on sys.path under pytest


def test_report_inference_quick(benchmark):
    out = benchmark.pedantic(lambda: ri.main(["--quick"]), rounds=1, iterations=1)
    assert out["agreement"]["tests"] == 10 and out["matrix_cost"]["ratio"] > 0
    # A smoke run on a shared machine: the speed-up is a figure for the report, not a verdict here (n = 200 is far
    # below the size where the permuted-Gram kernel pays; the full run measures it at n = 2,000).
    assert out["mc_speed"]["speedup"] > 0
