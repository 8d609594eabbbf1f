"""RSA at smoke size (the full run and its figures: ``python bench/report_rsa.py``): agreement with rsatoolbox for
every RDM × comparison, and a layer matrix against rsatoolbox's."""
from __future__ import annotations

import pytest

pytest.importorskip("rsatoolbox")

import report_rsa as rr  # noqa: E402  (bench/ is on sys.path under pytest)


def test_report_rsa_quick(benchmark):
    out = benchmark.pedantic(lambda: rr.main(["--quick"]), rounds=1, iterations=1)
    assert max(out["agreement"]["max_abs_diff"].values()) < 1e-10
    assert all(r["max_abs_diff"] < 1e-10 for r in out["matrix"]["rows"])
