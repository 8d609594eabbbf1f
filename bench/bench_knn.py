"""Neighbourhood measures at smoke size (the full run and its figures: ``python bench/report_knn.py``): mutual k-NN
and CKNNA against platonic-rep's float32 implementation when /work/peers has it, and the large-n repsim run."""
from __future__ import annotations

import report_knn as rk  # bench/ is on sys.path under pytest


def test_report_knn_quick(benchmark):
    out = benchmark.pedantic(lambda: rk.main(["--quick", "--threads", "2"]), rounds=1, iterations=1)
    ok = [r for r in out["rows"] if "error" not in r]
    assert len(ok) == len(out["rows"]) and all(r["seconds"] > 0 for r in ok)
    if out["platonic"]:  # same neighbour sets: the same mutual k-NN (to platonic-rep's float32 mean)
        mk = {r["impl"]: r["value"] for r in ok if r["metric"] == "mutual_knn" and r["n"] == 600}
        assert abs(mk["repsim"] - mk["platonic-rep"]) < 1e-6
