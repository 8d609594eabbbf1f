"""Pair-blocked statistics (Moments(pairs=...)): every metric of a kept pair equals the joint matrix's, streamed,
merged, saved and loaded, all-reduced; pairs that were not kept are refused by name; the memory is the blocks'."""
from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest

import naive
import repsim
from repsim.blocks import BlockedStore, blocked_nbytes, resolve_pairs

REL = 1e-12  # blocked vs joint: the same arithmetic on the same entries, another summation order at most

# every registry measure read pair by pair, with options that matter
METRICS = [
    ("cka", {}), ("cka", {"debiased": True}), ("debiased_cka", {}), ("rv", {"center": True}),
    ("rv", {"center": False}), ("rv2", {"center": True}), ("rv2", {"center": False}), ("cca", {}), ("cca_r2", {}),
    ("svcca", {"keep": 0.9}), ("pwcca", {}), ("procrustes", {"form": "distance"}), ("affine_map", {}),
    ("max_match", {"eps": 0.4}),
]


def _sites(rng, n=300):
    """Three sites per 'model' with shared structure and large means, so every metric is non-trivial."""
    Z = rng.normal(size=(n, 4))
    out = {}
    for model, mean in (("a", 1e3), ("b", -50.0)):
        for k, p in enumerate((5, 8, 6)):
            out[f"{model}{k}"] = Z @ rng.normal(size=(4, p)) + 0.5 * rng.normal(size=(n, p)) + mean
    return out


def _stream(m, data, step=64):
    n = next(iter(data.values())).shape[0]
    for s in range(0, n, step):
        m.update({k: v[s : s + step] for k, v in data.items()})
    return m


GROUPS = [["a0", "a1", "a2"], ["b0", "b1", "b2"]]


def _value(m, metric, x, y, options):
    return repsim.measure(metric).spec.matrix_value(
        repsim.accumulator.measure_value(m, metric, x, y, options))


@pytest.mark.parametrize("metric, options", METRICS)
def test_every_metric_of_a_kept_pair_equals_the_joint_one(rng, metric, options):
    data = _sites(rng)
    joint = _stream(repsim.Moments(), data)
    blocked = _stream(repsim.Moments(pairs="between", groups=GROUPS), data)
    for x in GROUPS[0]:
        for y in GROUPS[1]:
            want = _value(joint, metric, x, y, options)
            assert _value(blocked, metric, x, y, options) == pytest.approx(want, rel=REL, abs=1e-14), (x, y)
        want = _value(joint, metric, x, x, options)  # a site with itself is always kept
        assert _value(blocked, metric, x, x, options) == pytest.approx(want, rel=REL, abs=1e-14)
    if metric in ("cka", "rv2", "cca"):  # and both equal the oracle
        X, Y = data["a1"], data["b2"]
        oracle = {"cka": naive.debiased_cka if options.get("debiased") else naive.linear_cka,
                  "rv2": lambda a, b: naive.rv2(a, b, options.get("center", True)),
                  "cca": lambda a, b: naive.cca(a, b)["mean_rho"]}[metric]
        assert _value(blocked, metric, "a1", "b2", options) == pytest.approx(oracle(X, Y), rel=1e-9)


def test_matrices_between_and_refusal_of_pairs_not_kept(rng):
    data = _sites(rng)
    joint = _stream(repsim.Moments(), data)
    blocked = _stream(repsim.Moments(pairs="between", groups={"A": GROUPS[0], "B": GROUPS[1]}), data)
    for metric in ("cka", "debiased_cka", "rv2", "pwcca", "svcca"):
        M = blocked.matrix(metric, rows=GROUPS[0], cols=GROUPS[1])
        np.testing.assert_allclose(M.values, joint.matrix(metric, rows=GROUPS[0], cols=GROUPS[1]).values, rtol=REL)
    with pytest.raises(ValueError, match="(?=.*'a0')(?=.*'a1')(?=.*not kept)"):
        blocked.cka("a0", "a1")
    with pytest.raises(ValueError, match="not kept"):
        blocked.matrix("cka")  # the full matrix needs the within-model pairs
    with pytest.raises(ValueError, match="not kept"):
        blocked.cca("b2", "b0")


def test_explicit_pairs_and_memory(rng):
    data = _sites(rng)
    dims = [v.shape[1] for v in data.values()]
    m = _stream(repsim.Moments(pairs=[("a0", "b1"), ("b1", "a0"), ("a2", "a2")]), data)
    assert m._store.cross == ((0, 4),)
    assert m._store.nbytes == blocked_nbytes(dims, ((0, 4),))
    assert m.cka("a0", "b1") == pytest.approx(repsim.cka(data["a0"], data["b1"]), rel=1e-11)
    with pytest.raises(ValueError, match="not kept"):
        m.rv("a0", "b2")
    between = resolve_pairs("between", GROUPS, tuple(data))
    assert len(between) == 9
    joint_bytes = 8 * (sum(dims) + len(dims) + 1) ** 2
    assert blocked_nbytes(dims, between) < joint_bytes
    # BERT-base-sized: 2 × 13 hidden states of 768, between the models: 0.92 GB instead of 3.2 GB
    bert = [768] * 26
    sites = tuple(f"s{i}" for i in range(26))
    b = resolve_pairs("between", [sites[:13], sites[13:]], sites)
    assert blocked_nbytes(bert, b) / 2**30 == pytest.approx(0.855, abs=0.01)
    assert 8 * (sum(bert) + 27) ** 2 / 2**30 == pytest.approx(2.98, abs=0.01)


def test_pairs_arguments_are_checked():
    x = {"a": np.eye(4)[:, :2] + 1.0, "b": np.arange(8.0).reshape(4, 2) ** 2}
    with pytest.raises(ValueError, match="groups"):
        repsim.Moments(pairs="between").update(x)
    with pytest.raises(ValueError, match="unknown site 'c'"):
        repsim.Moments(pairs="between", groups=[["a"], ["c"]]).update(x)
    with pytest.raises(ValueError, match="more than one group"):
        repsim.Moments(pairs="between", groups=[["a"], ["a", "b"]]).update(x)
    with pytest.raises(ValueError, match="pairs must be"):
        repsim.Moments(pairs="some").update(x)
    with pytest.raises(TypeError, match="two site names"):
        repsim.Moments(pairs=[("a",)]).update(x)
    with pytest.raises(ValueError, match="CPU"):
        repsim.Moments(pairs="between", groups=[["a"], ["b"]], backend="torch")
    m = repsim.Moments(pairs="between", groups=[["a"], ["b"]])
    with pytest.raises(ValueError, match="unknown site"):
        m.update({"a": x["a"], "c": x["b"]})
    assert m.n == 0  # a rejected first batch leaves the accumulator empty
    m.update(x)
    assert m.n == 4


def test_merged_saved_loaded_copied_and_resumed_equal_one_pass(rng, tmp_path):
    data = _sites(rng, 400)
    one = _stream(repsim.Moments(pairs="between", groups=GROUPS), data, step=400)
    first = {k: v[:150] for k, v in data.items()}
    second = {k: v[150:] for k, v in data.items()}
    a = _stream(repsim.Moments(pairs="between", groups=GROUPS), first, step=50)
    b = _stream(repsim.Moments(pairs="between", groups=GROUPS), second, step=70)
    merged = a.copy().merge(b)
    a.save(tmp_path / "a.npz")
    resumed = _stream(repsim.Moments.load(tmp_path / "a.npz"), second, step=33)
    for m in (merged, resumed):
        assert m.n == 400
        for x, y in (("a0", "b0"), ("a2", "b1"), ("b2", "b2")):
            for metric, options in (("cka", {}), ("cka", {"debiased": True}), ("rv2", {"center": False}),
                                    ("cca", {})):
                assert _value(m, metric, x, y, options) == pytest.approx(_value(one, metric, x, y, options),
                                                                         rel=1e-10)
        np.testing.assert_allclose(m.mean("a1"), data["a1"].mean(axis=0), rtol=1e-12)
    loaded = repsim.Moments.load(tmp_path / "a.npz")
    np.testing.assert_array_equal(loaded._store.packed(), a._store.packed())
    assert loaded.cka("a0", "b0") == a.cka("a0", "b0")
    with pytest.raises(ValueError, match="different pairs"):
        a.copy().merge(_stream(repsim.Moments(), first))
    with pytest.raises(ValueError, match="not kept"):
        loaded.cka("a0", "a1")


def test_blocked_store_shift_equals_the_joint_shift(rng):
    """The blocks of a shifted blocked store are the same blocks of the shifted joint matrix."""
    data = _sites(rng, 120)
    joint = _stream(repsim.Moments(), data)
    blocked = _stream(repsim.Moments(pairs="between", groups=GROUPS), data)
    deltas = [rng.normal(size=p) * 10 for p in joint._layout.dims]
    J = joint._store.shift(deltas).G
    B = blocked._store.shift(deltas)
    lay = joint._layout
    for i, j in B.cross:
        np.testing.assert_allclose(B.blocks[(i, j)], J[lay.cols(lay.sites[i]), lay.cols(lay.sites[j])], rtol=1e-12)
    for k, s in enumerate(lay.sites):
        np.testing.assert_allclose(np.triu(B.diag[k]), np.triu(J[lay.cols(s), lay.cols(s)]), rtol=1e-12)
        np.testing.assert_allclose(B.tail[lay.cols(s), k], J[lay.cols(s), lay.norm_col(s)], rtol=1e-12)
    assert isinstance(B, BlockedStore)


def _worker(rank, world, init_file, out_dir, data):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        shard = {k: v[rank::world] for k, v in data.items()}
        m = _stream(repsim.Moments(pairs="between", groups=GROUPS), shard, step=40)
        m.all_reduce()
        np.save(os.path.join(out_dir, f"rank{rank}.npy"),
                np.array([m.n, m.cka("a0", "b1"), m.cka("a2", "b0", debiased=True), m.rv2("a1", "b1")]))
    finally:
        dist.destroy_process_group()


def test_all_reduce_of_blocked_statistics_equals_one_pass(rng):
    pytest.importorskip("torch")
    import torch.multiprocessing as mp

    data = _sites(rng, 200)
    with tempfile.TemporaryDirectory() as d:
        mp.spawn(_worker, args=(2, os.path.join(d, "init"), d, data), nprocs=2, join=True)
        got = [np.load(os.path.join(d, f"rank{r}.npy")) for r in range(2)]
    rows = np.concatenate([np.arange(0, 200, 2), np.arange(1, 200, 2)])
    one = _stream(repsim.Moments(pairs="between", groups=GROUPS), {k: v[rows] for k, v in data.items()})
    want = np.array([one.n, one.cka("a0", "b1"), one.cka("a2", "b0", debiased=True), one.rv2("a1", "b1")])
    for g in got:
        np.testing.assert_allclose(g, want, rtol=1e-11)


def test_cuda_like_batches_go_to_the_host(rng):
    torch = pytest.importorskip("torch")
    data = _sites(rng, 100)
    m = repsim.Moments(pairs="between", groups=GROUPS)
    m.update({k: torch.from_numpy(v) for k, v in data.items()})
    assert m._acc is None
    assert m.cka("a0", "b0") == pytest.approx(repsim.cka(data["a0"], data["b0"]), rel=1e-11)


def test_compare_keeps_the_blocks_between_two_models_by_default(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)

    def mlp():
        return torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.ReLU(), torch.nn.Linear(12, 9), torch.nn.ReLU(),
                                   torch.nn.Linear(9, 4))

    models = {"a": mlp(), "b": mlp()}
    data = [torch.randn(40, 6) + 3 for _ in range(4)]
    kw = dict(metrics=("cka", "debiased_cka", "rv2", "pwcca"), progress=False)
    calls = []
    hook = models["a"][0].register_forward_pre_hook(lambda mod, args: calls.append(1))
    between = repsim.compare(models, data, ["0", "2", "4"], **kw)
    hook.remove()
    assert len(calls) == len(data)  # the batch probed for the memory plan is not run again
    joint = repsim.compare(models, data, ["0", "2", "4"], pairs="all", **kw)
    for metric in kw["metrics"]:
        np.testing.assert_allclose(between[metric].values, joint[metric].values, rtol=1e-11)
    assert between.moments._store.cross is not None and len(between.moments._store.cross) == 9
    assert between.moments._store.nbytes < joint.moments._store.nbytes
    with pytest.raises(ValueError, match="not kept"):
        between.moments.cka("a.0", "a.2")
    # a checkpoint remembers the pairs: resuming with others is refused
    ck = tmp_path / "ck"
    repsim.compare(models, data, ["0", "2"], checkpoint=ck, **kw)
    with pytest.raises(ValueError, match="pairs"):
        repsim.compare(models, data, ["0", "2"], checkpoint=ck, pairs="all", **kw)
    with pytest.raises(ValueError, match="two or more models"):
        repsim.compare({"a": models["a"]}, data, ["0"], pairs="between", **kw)
