"""Statistics across processes and frameworks equal one pass: torch.distributed all_reduce of pair-blocked
statistics (2 gloo ranks), Dask tree reductions on a 2-worker LocalCluster, the torchmetrics Metric, pickling."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

import repsim


def _data(seed=3, n=240):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)) + 5
    return {"a.h0": x, "a.h1": np.tanh(x @ rng.normal(size=(6, 4))), "b.h0": x[:, :3] ** 2 + rng.normal(size=(n, 3))}


GROUPS = [["a.h0", "a.h1"], ["b.h0"]]


def test_moments_pickle_with_a_fresh_lock():
    m = repsim.Moments(pairs="between", groups=GROUPS).update(_data())
    m.cka("a.h0", "b.h0")
    back = pickle.loads(pickle.dumps(m))
    assert back._guard.lock is not m._guard.lock and back._guard.broken is None
    assert back.cka("a.h0", "b.h0") == m.cka("a.h0", "b.h0")


def _rank(rank, world, init, out):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        data = _data()
        part = {k: v[rank::world] for k, v in data.items()}
        m = repsim.Moments(pairs="between", groups=GROUPS).update(part)
        m.all_reduce()
        if rank == 0:
            m.save(out)
    finally:
        dist.destroy_process_group()


def test_all_reduce_of_pair_blocked_statistics_on_two_gloo_ranks(tmp_path):
    torch = pytest.importorskip("torch")
    import torch.multiprocessing as mp

    out = str(tmp_path / "reduced.npz")
    mp.spawn(_rank, args=(2, f"file://{tmp_path / 'rendezvous'}", out), nprocs=2, join=True)
    got = repsim.Moments.load(out)
    ref = repsim.Moments(pairs="between", groups=GROUPS).update(_data())
    assert got.n == ref.n
    for metric in ("cka", "debiased_cka", "rv2", "pwcca"):
        np.testing.assert_allclose(got.matrix(metric, rows=GROUPS[0], cols=GROUPS[1]).values,
                                   ref.matrix(metric, rows=GROUPS[0], cols=GROUPS[1]).values, rtol=0, atol=1e-10)
    assert torch is not None


def _ids_rank(rank, world, init, out, overlap):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        data = _data()
        rows = np.arange(240)[rank::world] if not overlap else np.arange(rank * 100, rank * 100 + 140)
        m = repsim.Moments(pairs="between", groups=GROUPS).update({k: v[rows] for k, v in data.items()}, ids=rows)
        try:
            m.all_reduce()
        except ValueError as exc:
            with open(f"{out}.{rank}.err", "w") as fh:
                fh.write(str(exc))
            return
        if rank == 0:
            m.save(out)
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("overlap", [False, True])
def test_all_reduce_merges_the_ranks_ids_and_refuses_overlapping_shards(tmp_path, overlap):
    pytest.importorskip("torch")
    import torch.multiprocessing as mp

    out = str(tmp_path / "reduced.npz")
    mp.spawn(_ids_rank, args=(2, f"file://{tmp_path / 'rendezvous'}", out, overlap), nprocs=2, join=True)
    if overlap:  # ranks 0 and 1 share rows 100..139: refused on both ranks, nothing saved
        for rank in (0, 1):
            assert "overlap: 40" in (tmp_path / f"reduced.npz.{rank}.err").read_text()
        assert not os.path.exists(out)
        return
    got = repsim.Moments.load(out)
    assert got.ids.n == 240 and got.ids.digest == repsim.io.IdTracker().update(np.arange(240)).digest


def _metric_rank(rank, world, init, out):
    import torch
    import torch.distributed as dist

    from repsim.integrations.torchmetrics import RepresentationSimilarity

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        data = _data()
        X, Y = data["a.h0"][rank::world], data["b.h0"][rank::world]
        values = {}
        for metric in ("cka", "debiased_cka", "rv2", "pwcca"):
            m = RepresentationSimilarity(metric)
            for s in range(0, X.shape[0], 40):
                m.update(torch.from_numpy(X[s:s + 40]), torch.from_numpy(Y[s:s + 40]))
            values[metric] = float(m.compute())  # synchronised across the ranks (sum of the states)
        np.savez(f"{out}.{rank}.npz", **values)
    finally:
        dist.destroy_process_group()


def test_torchmetrics_metric_under_two_gloo_ranks_equals_one_pass(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("torchmetrics")
    import torch.multiprocessing as mp

    out = str(tmp_path / "metric")
    mp.spawn(_metric_rank, args=(2, f"file://{tmp_path / 'rendezvous'}", out), nprocs=2, join=True)
    data = _data()
    ref = repsim.Moments().update({"x": data["a.h0"], "y": data["b.h0"]})
    for rank in (0, 1):
        got = np.load(f"{out}.{rank}.npz")
        for metric, tol in (("cka", 1e-12), ("debiased_cka", 1e-12), ("rv2", 1e-12), ("pwcca", 1e-9)):
            assert abs(float(got[metric]) - ref.matrix(metric, rows=["x"], cols=["y"]).values[0, 0]) <= tol, metric


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("dask.distributed")
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as c:
        yield c


def test_dask_array_dataframe_and_files_equal_one_pass(client, tmp_path):
    da = pytest.importorskip("dask.array")
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    from repsim.integrations.dask import moments_from_arrays, moments_from_dataframe, moments_from_files

    data = _data()
    ref = repsim.Moments(pairs="between", groups=GROUPS).update(data)
    want = ref.matrix("cka", rows=GROUPS[0], cols=GROUPS[1]).values
    arrays = {k: da.from_array(v, chunks=(37, v.shape[1])) for k, v in data.items()}
    m = moments_from_arrays(arrays, pairs="between", groups=GROUPS, split_every=3)
    np.testing.assert_allclose(m.matrix("cka", rows=GROUPS[0], cols=GROUPS[1]).values, want, rtol=0, atol=1e-10)
    frame = pd.DataFrame({f"{k}.{j}": v[:, j] for k, v in data.items() for j in range(v.shape[1])})
    sites = {k: [f"{k}.{j}" for j in range(v.shape[1])] for k, v in data.items()}
    m = moments_from_dataframe(dd.from_pandas(frame, npartitions=5), sites)
    np.testing.assert_allclose(m.matrix("cka", rows=GROUPS[0], cols=GROUPS[1]).values, want, rtol=0, atol=1e-10)
    ids = np.arange(240)
    shards = []
    for k, part in enumerate(np.array_split(np.arange(240), 3)):
        np.savez(tmp_path / f"a_{k}.npz", h0=data["a.h0"][part], h1=data["a.h1"][part], ids=ids[part])
        np.savez(tmp_path / f"b_{k}.npz", h0=data["b.h0"][part][::-1], ids=ids[part][::-1])
        shards.append([str(tmp_path / f"a_{k}.npz"), str(tmp_path / f"b_{k}.npz")])
    m, tracker = moments_from_files(shards, names=["a", "b"], split_every=2)
    assert tracker.n == 240
    np.testing.assert_allclose(m.matrix("cka", rows=GROUPS[0], cols=GROUPS[1]).values, want, rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="overlap"):
        moments_from_files(shards + shards[:1], names=["a", "b"])


def test_torchmetrics_metric_equals_one_pass():
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchmetrics")
    from repsim.integrations.torchmetrics import RepresentationSimilarity

    data = _data()
    X, Y = data["a.h0"], data["b.h0"]
    ref = repsim.Moments().update({"x": X, "y": Y})
    for metric, tol in (("cka", 1e-12), ("debiased_cka", 1e-12), ("rv2", 1e-12), ("pwcca", 1e-9)):
        for reference in ("first", "zero", (X.mean(0), Y.mean(0))):
            m = RepresentationSimilarity(metric, reference=reference)
            for s in range(0, 240, 50):
                m.update(torch.from_numpy(X[s:s + 50]), torch.from_numpy(Y[s:s + 50]))
            np.testing.assert_allclose(float(m.compute()), ref.matrix(metric, rows=["x"], cols=["y"]).values[0, 0],
                                       rtol=0, atol=tol)
    with pytest.raises(ValueError, match="same rows"):
        RepresentationSimilarity().update(torch.zeros(3, 2), torch.zeros(4, 2))


@pytest.mark.skipif(os.environ.get("REPSIM_TEST_RAY") != "1", reason="Ray starts a local cluster (~20 s): "
                    "REPSIM_TEST_RAY=1 runs it")
def test_ray_recipe_equals_one_pass():
    ray = pytest.importorskip("ray")
    data = _data()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        @ray.remote
        def partial(part):
            return repsim.Moments(pairs="between", groups=GROUPS).update(part)

        parts = [{k: v[s:s + 80] for k, v in data.items()} for s in range(0, 240, 80)]
        total = None
        for m in ray.get([partial.remote(p) for p in parts]):
            total = m if total is None else total.merge(m)
    finally:
        ray.shutdown()
    ref = repsim.Moments(pairs="between", groups=GROUPS).update(data)
    np.testing.assert_allclose(total.matrix("cka", rows=GROUPS[0], cols=GROUPS[1]).values,
                               ref.matrix("cka", rows=GROUPS[0], cols=GROUPS[1]).values, rtol=0, atol=1e-10)


def test_dask_tasks_limit_their_threads(monkeypatch):
    """Each task's BLAS and Numba threads are limited to threads_per_task (worker threads would otherwise each start
    a pool as wide as the machine), the limit is lifted when the tasks are done, and the statistics do not change.
    (BLAS threads are read on the synchronous scheduler: read beside other running tasks the reading races.)"""
    pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    from threadpoolctl import threadpool_info

    import repsim.integrations.dask as rd

    def blas():
        return [d["num_threads"] for d in threadpool_info() if d.get("user_api") == "blas"]

    seen = []

    class Spy(repsim.Moments):
        def update(self, batch, **kw):
            seen.append((self._n_threads, max(blas(), default=1)))
            return super().update(batch, **kw)

    monkeypatch.setattr(rd, "Moments", Spy)
    data = _data()
    arrays = {k: da.from_array(v, chunks=(60, v.shape[1])) for k, v in data.items()}
    before = blas()
    m = rd.moments_from_arrays(arrays, scheduler="sync")
    assert len(seen) == 4 and all(t == (1, 1) for t in seen), seen
    assert blas() == before  # lifted afterwards
    ref = repsim.Moments().update(data)
    assert m.cka("a.h0", "b.h0") == pytest.approx(ref.cka("a.h0", "b.h0"), abs=1e-12)
    seen.clear()
    threaded = rd.moments_from_arrays(arrays, scheduler="threads")
    assert [t[0] for t in seen] == [1] * 4 and blas() == before
    assert threaded.cka("a.h0", "b.h0") == pytest.approx(ref.cka("a.h0", "b.h0"), abs=1e-12)
    seen.clear()
    rd.moments_from_arrays(arrays, scheduler="sync", threads_per_task=None, n_threads=2)
    assert [t[0] for t in seen] == [2] * 4 and [t[1] for t in seen] == [max(before, default=1)] * 4
