"""The approximate feature sketch (approximate="sketch"): planned only when allowed and when no exact plan fits,
unbiased for inner products, its cells labelled approximate and its measured error true to the real one; narrow
sites stay exact."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import repsim
from repsim._sketch import CountSketch
from repsim.planner import PlanError, plan


def test_planner_sketches_only_when_allowed_and_needed():
    sites = {"a": 6000, "b": 6000, "c": 100}
    exact = plan(sites, max_memory="2GB", workspace=0, batch_rows=128)
    assert exact.exact and exact.sketch is None
    assert plan(sites, max_memory="2GB", workspace=0, batch_rows=128, approximate="sketch").sketch is None
    with pytest.raises(PlanError, match="approximate='sketch'"):
        plan(sites, max_memory="60MB", workspace=0, batch_rows=128)
    p = plan(sites, max_memory="60MB", workspace=0, batch_rows=128, approximate="sketch")
    assert not p.exact and p.sketch in repsim._limits.SKETCH_DIMS and p.sketched == ("a", "b")
    assert all(not s.exact for s in p.steps) and "APPROXIMATE" in str(p)
    assert p.statistics_peak <= p.budget
    q = plan(sites, max_memory="60MB", workspace=0, batch_rows=128, approximate="sketch", sketch_dim=256)
    assert q.sketch == 256
    with pytest.raises(PlanError, match="No sketch width"):
        plan(sites, max_memory="1MB", workspace=0, batch_rows=128, approximate="sketch")
    with pytest.raises(ValueError, match="approximate"):
        plan(sites, approximate="yes")
    with pytest.raises(ValueError, match="sketch_dim"):
        plan(sites, sketch_dim=64)


def test_countsketch_is_unbiased_and_fixed_by_seed(rng):
    x = torch.from_numpy(rng.normal(size=(5, 300)))
    exact = (x @ x.T).numpy()
    draws = [CountSketch({"s": 300}, 32, seed=s).apply({"s": x})["s"] for s in range(400)]
    mean = np.mean([(y @ y.T).numpy() for y in draws], axis=0)
    # each entry's sketch noise has sd ≈ sqrt(2/k)·scale; the mean of 400 draws is within a few sd/20 of the truth
    assert np.abs(mean - exact).max() < 0.05 * np.abs(exact).max()
    one = CountSketch({"s": 300, "t": 10}, 32, seed=1)
    y = one.apply({"s": x, "t": x[:, :10]})
    assert torch.equal(y["s"], CountSketch({"s": 300}, 32, seed=1).apply({"s": x})["s"])
    assert torch.equal(y["t"], x[:, :10]) and one.sketched == ["s"] and one.width("t") == 10
    assert y["s"].dtype == torch.float64 and y["s"].shape == (5, 32)
    # the sketch is linear: it commutes with centring, so the mean is sketched like every row
    assert torch.allclose(one.apply({"s": x - x.mean(0)})["s"], y["s"] - y["s"].mean(0))


class _Wide(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(20, 3000), nn.Linear(3000, 30), nn.Linear(30, 2500)

    def forward(self, x):
        return self.c(torch.relu(self.b(torch.relu(self.a(x)))))


def test_compare_sketch_labels_cells_and_measures_its_error():
    torch.manual_seed(0)
    models = {"A": _Wide(), "B": _Wide()}
    data = [torch.randn(256, 20) for _ in range(6)]
    kw = dict(metrics=["cka", "debiased_cka"], progress=False)
    exact = repsim.compare(models, data, ["a", "b", "c"], **kw)
    # an iterator: n unknown, so Gram space is out and one pass is all there is
    with pytest.raises(PlanError):
        repsim.compare(models, iter(data), ["a", "b", "c"], max_memory="400MB", **kw)
    r = repsim.compare(models, iter(data), ["a", "b", "c"], max_memory="400MB", approximate="sketch", **kw)
    assert r.plan.sketch == 1024 and not r.plan.exact
    assert r.approximation["sketched"] == ["A.a", "A.c", "B.a", "B.c"]
    for m in ("cka", "debiased_cka"):
        mat = r[m]
        assert not mat.exact and mat.approximate.sum() == 8 and not mat.approximate[1, 1]
        # the cell between two narrow layers is exact
        assert mat["A.b", "B.b"] == pytest.approx(exact[m]["A.b", "B.b"], rel=1e-10)
        err = np.abs(mat.values - exact[m].values).max()
        measured = r.approximation["measured_error"][m]
        assert 0.001 < err < 0.15 and measured / 4 < err < 4 * measured
        assert "~" in repr(mat) and mat.to_dict()["approximate"][0][0] is True
    assert "APPROXIMATE" in repr(r) and r.to_dict()["approximation"]["k"] == 1024


def test_compare_sketch_refusals():
    models = {"A": _Wide(), "B": _Wide()}
    data = [torch.randn(16, 20)]
    with pytest.raises(ValueError, match="pwcca"):
        repsim.compare(models, data, ["a"], metrics=["cka", "pwcca"], approximate="sketch", progress=False)
    with pytest.raises(ValueError, match="checkpoint"):
        repsim.compare(models, data, ["a"], metrics=["cka"], approximate="sketch", checkpoint="ck", progress=False)
    with pytest.raises(ValueError, match="sketch_dim"):
        repsim.compare(models, data, ["a"], metrics=["cka"], sketch_dim=64, progress=False)
    with pytest.raises(ValueError, match="approximate"):
        repsim.compare(models, data, ["a"], metrics=["cka"], approximate="minibatch", progress=False)
