"""Statistics accumulated with torch ops (the device path of Moments) and Moments.all_reduce over torch.distributed.

The device path runs on CPU tensors here with ``backend="torch"``: the same code runs on CUDA tensors, where it is
chosen automatically; the CUDA-only test at the end skips without a GPU.
"""
import os
import tempfile

import numpy as np
import pytest

import repsim

import naive

torch = pytest.importorskip("torch")

METRICS = ("cka", "debiased_cka", "rv2", "cca")


def _data(rng, n=1500):
    """Post-ReLU-like data with means up to 1e3 × the spread, and a correlated second site."""
    return naive.large_mean_pair(rng, n, 24, 12)


def _stream(m, X, Y, batch, to=lambda a: torch.from_numpy(a)):
    for i in range(0, X.shape[0], batch):
        m.update({"x": to(X[i : i + batch]), "y": to(Y[i : i + batch])})
    return m


def _values(m):
    return {k: m.matrix(k).values for k in METRICS}


@pytest.mark.parametrize("batch", [1, 7, 256])
def test_torch_fp64_equals_cpu_path(rng, batch):
    X, Y = _data(rng, 600)
    cpu = repsim.Moments().update({"x": X, "y": Y})
    dev = _stream(repsim.Moments(backend="torch"), X, Y, batch)
    assert dev.n == cpu.n
    for k, v in _values(cpu).items():
        np.testing.assert_allclose(_values(dev)[k], v, rtol=1e-10, atol=1e-12)  # observed ≤ 1e-15
    np.testing.assert_allclose(dev.full_view().block("x", "y"), cpu.full_view().block("x", "y"), rtol=1e-10,
                               atol=1e-6)


def test_window32_is_close_to_exact(rng):
    """docs/math.md §3.4: float32 windows flushed into float64 reach ~1e-7 on CKA even with means ~1e3 × the spread."""
    X, Y = _data(rng, 3000)
    cpu = repsim.Moments().update({"x": X, "y": Y})
    dev = _stream(repsim.Moments(backend="torch", precision="window32", window=512), X, Y, 256,
                  to=lambda a: torch.from_numpy(a).float())
    for k in ("cka", "debiased_cka", "rv2"):
        np.testing.assert_allclose(dev.matrix(k).values, cpu.matrix(k).values, rtol=0, atol=1e-6)  # observed 1.3e-8


def test_device_statistics_survive_interleaved_reads(rng):
    """Reading metrics drains the device buffers into CPU float64; accumulation then continues exactly."""
    X, Y = _data(rng, 800)
    dev = repsim.Moments(backend="torch")
    dev.update({"x": torch.from_numpy(X[:300]), "y": torch.from_numpy(Y[:300])})
    dev.cka("x", "y")
    dev.update({"x": torch.from_numpy(X[300:]), "y": torch.from_numpy(Y[300:])})
    np.testing.assert_allclose(dev.cka("x", "y"), repsim.cka(X, Y), rtol=1e-12)
    # nothing pending: further reads do not drain (copy the device matrix to the host) again
    assert not dev._acc.pending
    drains = []
    real = dev._acc.drain
    dev._acc.drain = lambda: drains.append(1) or real()
    dev.cka("x", "y"), dev.rv2("x", "y"), dev.mean("x")
    assert drains == []


def test_device_merge_save_load(rng, tmp_path):
    X, Y = _data(rng, 900)
    a = _stream(repsim.Moments(backend="torch"), X[:400], Y[:400], 100)
    b = _stream(repsim.Moments(backend="torch"), X[400:], Y[400:], 100)
    a.merge(b)
    a.update({"x": torch.from_numpy(X[:50]), "y": torch.from_numpy(Y[:50])})  # continues after the rebase
    ref = repsim.Moments().update({"x": np.vstack([X, X[:50]]), "y": np.vstack([Y, Y[:50]])})
    np.testing.assert_allclose(a.cka("x", "y", debiased=True), ref.cka("x", "y", debiased=True), rtol=1e-10)
    a.save(tmp_path / "m.npz")
    back = repsim.Moments.load(tmp_path / "m.npz")
    assert back.cka("x", "y") == a.cka("x", "y")


def test_device_path_validates_like_cpu_path(rng):
    m = repsim.Moments(backend="torch")
    m.update({"a": torch.randn(5, 3)})
    bad = torch.ones(5, 3)
    bad[2, 1] = float("inf")
    with pytest.raises(ValueError, match=r"site 'a' \(batch 1\): Inf at row 2, column 1"):
        m.update({"a": bad})
    with pytest.raises(TypeError, match="floating-point"):
        m.update({"a": torch.ones(5, 3, dtype=torch.int64)})
    with pytest.raises(ValueError, match="2-D"):
        m.update({"a": torch.ones(5, 3, 2)})
    assert m.n == 5
    half = repsim.Moments(backend="torch").update({"a": torch.randn(64, 3).to(torch.bfloat16)})
    assert half.n == 64
    with pytest.raises(ValueError, match="precision"):
        repsim.Moments(precision="fp16")
    with pytest.raises(ValueError, match="backend"):
        repsim.Moments(backend="jax")


def test_cpu_tensors_use_the_compiled_path_by_default(rng):
    m = repsim.Moments().update({"a": torch.randn(10, 3)})
    assert m._acc is None


def _worker(rank, world, init_file, out_dir, X, Y):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        shard = slice(rank * 300, (rank + 1) * 300) if rank < world - 1 else slice(rank * 300, None)
        m = repsim.Moments()
        xs, ys = X[shard], Y[shard]
        for i in range(0, xs.shape[0], 64):
            m.update({"x": xs[i : i + 64], "y": ys[i : i + 64]})
        m.all_reduce()
        np.save(os.path.join(out_dir, f"rank{rank}.npy"),
                np.array([m.n, m.cka("x", "y"), m.cka("x", "y", debiased=True), m.rv2("x", "y")]))
    finally:
        dist.destroy_process_group()


def test_all_reduce_two_processes_equals_one_pass(rng):
    """Two gloo ranks on CPU, each with its own shard and its own first-batch reference."""
    import torch.multiprocessing as mp

    X, Y = _data(rng, 700)
    with tempfile.TemporaryDirectory() as d:
        init_file = os.path.join(d, "init")
        mp.spawn(_worker, args=(2, init_file, d, X, Y), nprocs=2, join=True)
        got = [np.load(os.path.join(d, f"rank{r}.npy")) for r in range(2)]
    one = repsim.Moments().update({"x": X, "y": Y})
    want = np.array([one.n, one.cka("x", "y"), one.cka("x", "y", debiased=True), one.rv2("x", "y")])
    for g in got:
        np.testing.assert_allclose(g, want, rtol=1e-12)


def test_all_reduce_needs_a_process_group():
    m = repsim.Moments().update({"a": np.random.default_rng(0).normal(size=(5, 2))})
    with pytest.raises(RuntimeError, match="process group"):
        m.all_reduce()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_tensors_accumulate_on_the_device(rng):  # pragma: no cover - runs only with a GPU
    X, Y = _data(rng, 2000)
    m = repsim.Moments()
    for i in range(0, 2000, 500):
        m.update({"x": torch.from_numpy(X[i : i + 500]).cuda(), "y": torch.from_numpy(Y[i : i + 500]).cuda()})
    assert m._acc is not None and m._acc.device.type == "cuda"
    cpu = repsim.Moments().update({"x": X, "y": Y})
    for k, v in _values(cpu).items():
        np.testing.assert_allclose(_values(m)[k], v, rtol=1e-10, atol=1e-12)


def test_loaded_statistics_continue_on_the_torch_backend(rng, tmp_path):
    X, Y = _data(rng, 600)
    first = repsim.Moments().update({"x": X[:300], "y": Y[:300]})
    first.save(tmp_path / "m.npz")
    resumed = repsim.Moments.load(tmp_path / "m.npz", backend="torch")
    resumed.update({"x": torch.from_numpy(X[300:]), "y": torch.from_numpy(Y[300:])})
    assert resumed._acc is not None
    np.testing.assert_allclose(resumed.cka("x", "y", debiased=True), repsim.cka(X, Y, debiased=True), rtol=1e-12)
