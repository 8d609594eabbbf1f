"""The memory planner and its budget: estimates against measured memory, several exact passes equal to one,
refusals that say what would fit, non-replayable data refused."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import repsim
import repsim._limits
from repsim.blocks import blocked_nbytes, resolve_pairs
from repsim.planner import PlanError, parse_bytes, plan


def test_parse_bytes():
    assert parse_bytes("8GB") == 8 * 10**9 and parse_bytes("512 MiB") == 512 * 2**20 and parse_bytes(1e6) == 10**6
    assert parse_bytes("1.5e3") == 1500
    for bad in ("eight", "8 GBs", "-1GB", 0, float("nan")):
        with pytest.raises(ValueError, match="max_memory"):
            parse_bytes(bad)
    with pytest.raises(TypeError, match="max_memory"):
        parse_bytes(True)


def _sites(widths):
    return {f"s{k}": p for k, p in enumerate(widths)}


def test_one_pass_joint_blocked_and_several_passes():
    sites = _sites([300] * 6)
    groups = [["s0", "s1", "s2"], ["s3", "s4", "s5"]]
    p = plan(sites, max_memory="1GB", batch_rows=256, n=10_000)
    assert p.n_passes == 1 and p.passes == (None,) and p.exact and "joint" in str(p)
    assert p.statistics_peak == 8 * 1807**2 + 8 * 256 * 1807
    assert p.peak == p.statistics_peak + repsim._limits.WORKSPACE_BYTES
    assert p.flops() == pytest.approx(1807**2 * 10_000)
    b = plan(sites, "between", groups, max_memory="1GB", batch_rows=256, workspace=0)
    assert b.n_passes == 1 and len(b.passes[0]) == 9
    cross = resolve_pairs("between", groups, tuple(sites))
    assert b.peak == blocked_nbytes([300] * 6, cross) + 8 * 256 * 1807
    own = blocked_nbytes([300] * 6, ())
    budget = own + 8 * 256 * 1807 + 3 * 8 * 300 * 300 + 100  # room for three cross blocks per pass
    m = plan(sites, "between", groups, max_memory=budget, batch_rows=256, workspace=0)
    assert m.n_passes == 3 and sorted(ij for g in m.passes for ij in g) == sorted(cross)
    assert m.peak <= budget and "3 passes" in str(m)
    with pytest.raises(PlanError, match="(?s)(?=.*several passes)(?=.*pool)(?=.*max_memory)"):
        plan(sites, "between", groups, max_memory=own, batch_rows=256, workspace=0)
    with pytest.raises(PlanError, match="at most 1 passes"):
        plan(sites, "between", groups, max_memory=budget, batch_rows=256, max_passes=1, workspace=0)


def test_llm_scale_plan_on_paper():
    """Two 32-layer models of width 4096, 10⁶ tokens, 40 GB: several passes, each under the budget."""
    sites = {f"a{i}": 4096 for i in range(32)} | {f"b{i}": 4096 for i in range(32)}
    groups = [[f"a{i}" for i in range(32)], [f"b{i}" for i in range(32)]]
    p = plan(sites, "between", groups, n=10**6, max_memory="40GB")
    assert p.n_passes > 1 and p.peak <= parse_bytes("40GB") and p.exact
    assert sum(len(g) for g in p.passes) == 32 * 32


@pytest.mark.parametrize("pairs", ["all", "between"])
def test_estimate_within_15_percent_of_measured_memory(rng, pairs):
    data = {f"s{k}": rng.normal(size=(512, 200)) for k in range(6)}
    groups = [["s0", "s1", "s2"], ["s3", "s4", "s5"]] if pairs == "between" else None
    p = plan({k: v.shape[1] for k, v in data.items()}, pairs, groups, batch_rows=128)
    m = repsim.Moments(pairs=pairs, groups=groups)
    tracemalloc.start()
    try:
        for s in range(0, 512, 128):
            m.update({k: v[s:s + 128] for k, v in data.items()})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert abs(peak - p.statistics_peak) <= 0.15 * p.statistics_peak, (peak, p.statistics_peak)


def test_moments_refuses_a_budget_it_cannot_meet_before_allocating(rng):
    data = {f"s{k}": rng.normal(size=(64, 400)) for k in range(4)}
    m = repsim.Moments(max_memory="2MB")
    with pytest.raises(PlanError, match="(?s)(?=.*max_memory)(?=.*pairs='between')"):
        m.update(data)
    assert m.n == 0 and m._store is None
    small = repsim.Moments(max_memory="20MB", pairs=[("s0", "s1")])
    small.update(data)
    assert small.cka("s0", "s1") == pytest.approx(repsim.cka(data["s0"], data["s1"]), rel=1e-11)


def _mlps():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)

    def mlp():
        return torch.nn.Sequential(torch.nn.Linear(8, 40), torch.nn.ReLU(), torch.nn.Linear(40, 30), torch.nn.ReLU(),
                                   torch.nn.Linear(30, 20))

    return torch, {"a": mlp(), "b": mlp()}


def test_several_passes_equal_one_pass_and_check_the_data():
    torch, models = _mlps()
    data = [torch.randn(50, 8) for _ in range(6)]
    layers = ["0", "2", "4"]
    kw = dict(metrics=("cka", "debiased_cka", "rv2", "cca"), progress=False)
    one = repsim.compare(models, data, layers, **kw)
    own = blocked_nbytes([40, 30, 20] * 2, ())
    activations = 4 * 50 * 180  # one batch of float32 activations
    budget = own + 8 * 50 * (180 + 7) + activations + repsim._limits.WORKSPACE_BYTES + 8 * 40 * 40 + 8
    many = repsim.compare(models, data, layers, max_memory=budget, **kw)
    assert many.plan.n_passes > 1 and many.info["passes"] == many.plan.n_passes and one.plan.n_passes == 1
    for metric in kw["metrics"]:
        np.testing.assert_allclose(many[metric].values, one[metric].values, rtol=1e-10)
    assert many.n == one.n == 300 and many.statistics is None
    with pytest.raises(ValueError, match="iterator"):
        repsim.compare(models, iter(data), layers, max_memory=budget, **kw)

    class Shuffled:
        def __init__(self):
            self.epoch = 0

        def __iter__(self):
            self.epoch += 1
            g = torch.Generator().manual_seed(self.epoch)
            return iter([data[i] for i in torch.randperm(len(data), generator=g).tolist()])

    with pytest.raises(ValueError, match="same batches in the same order"):
        repsim.compare(models, Shuffled(), layers, max_memory=budget, **kw)
    with pytest.raises(PlanError, match="What would fit"):
        repsim.compare(models, data, layers, max_memory=own // 2, **kw)


class _CNN:
    @staticmethod
    def make(seed):
        torch = pytest.importorskip("torch")
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.ReLU(),
                                   torch.nn.Conv2d(6, 8, 3, padding=1, stride=2), torch.nn.ReLU()).eval()


def test_flattened_conv_maps_go_to_gram_space_and_equal_the_oracle():
    """reduce="flatten" on feature maps much wider than n: the plan picks Gram space (the crossover rule), and the
    matrices equal the naive oracle on the hand-extracted flattened activations; under a small budget several Gram
    passes (column blocks) give the same matrices."""
    torch = pytest.importorskip("torch")
    import naive

    models = {"a": _CNN.make(0), "b": _CNN.make(1)}
    g = torch.Generator().manual_seed(2)
    data = [torch.randn(40, 3, 16, 16, generator=g) for _ in range(3)]  # n = 120; widths 1536 and 512
    kw = dict(metrics=("cka", "debiased_cka", "rv2"), reduce="flatten", progress=False)
    rep = repsim.compare(models, data, ["1", "3"], **kw)
    assert rep.plan.space == "gram" and rep.info == {"space": "gram", "passes": 1, "warnings": []}
    assert isinstance(rep.statistics, repsim.GramMoments)
    with torch.no_grad():
        acts = {f"{m}.{k}": torch.cat([models[m][: int(k) + 1](x).flatten(1) for x in data]).double().numpy()
                for m in models for k in ("1", "3")}
    for r in ("a.1", "a.3"):
        for c in ("b.1", "b.3"):
            assert rep["cka"][r, c] == pytest.approx(naive.linear_cka(acts[r], acts[c]), rel=1e-9)
            assert rep["debiased_cka"][r, c] == pytest.approx(naive.debiased_cka(acts[r], acts[c]), rel=1e-8)
            assert rep["rv2"][r, c] == pytest.approx(naive.rv2(acts[r], acts[c]), rel=1e-8)
    budget = repsim.gram.gram_nbytes(120, 4) + repsim._limits.WORKSPACE_BYTES + 4 * 40 * 4096 + 4 * 120 * 1100
    small = repsim.compare(models, data, ["1", "3"], max_memory=budget, **kw)
    assert small.plan.space == "gram" and small.plan.n_passes > 1
    for m in kw["metrics"]:
        np.testing.assert_allclose(small[m].values, rep[m].values, rtol=1e-10)
    # a measure without a Gram-space form keeps the feature-space plan
    feat = repsim.compare(models, data, ["1", "3"], metrics=("cka", "procrustes"), reduce="flatten", progress=False)
    assert feat.plan.space == "feature"
    np.testing.assert_allclose(feat["cka"].values, rep["cka"].values, rtol=1e-9)


def test_default_budget_of_a_device(monkeypatch):
    """Statistics kept on a CUDA device are budgeted against its free memory (torch.cuda.mem_get_info)."""
    torch = pytest.importorskip("torch")
    from repsim import planner

    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (8 << 30, 80 << 30))
    assert planner.default_budget(torch.device("cuda", 0)) == 4 << 30
    assert planner.default_budget(torch.device("cpu")) == planner.default_budget()
