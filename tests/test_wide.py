"""Statistics at any width: no single BLAS call on the statistics sees more than TILE_EDGE columns, and the tiled
update equals one SYRK over all columns."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy.linalg import blas

import naive
import repsim
from repsim import _blas
from repsim._engines import HAVE_CORE


@pytest.mark.parametrize("use_core", [True, False] if HAVE_CORE else [False])
@pytest.mark.parametrize("d, edge", [(300, 4096), (1000, 128), (1001, 250), (7, 2)])
def test_tiled_update_equals_one_syrk(rng, monkeypatch, use_core, d, edge):
    if not use_core:
        monkeypatch.setattr(_blas, "HAVE_CORE", False)
    W = rng.normal(size=(53, d)) + 100.0
    G = np.asfortranarray(np.triu(rng.normal(size=(d, d))))
    want = blas.dsyrk(1.0, W.T, beta=1.0, c=G.copy(order="F"), trans=0, lower=0)
    lower_before = np.tril(G, -1).copy()
    _blas.add_block(W, 0, 0, G, True, edge)
    np.testing.assert_allclose(np.triu(G), np.triu(want), rtol=1e-13, atol=1e-9)
    np.testing.assert_array_equal(np.tril(G, -1), lower_before)  # the lower triangle is never touched


def test_tile_bounds_are_equal_and_bounded():
    for d in (1, 7, 4096, 4097, 18457):
        b = _blas.tile_bounds(d, 4096)
        assert b[0][0] == 0 and b[-1][1] == d and all(b[i][1] == b[i + 1][0] for i in range(len(b) - 1))
        widths = [j1 - j0 for j0, j1 in b]
        assert max(widths) <= 4096 and max(widths) - min(widths) < len(b)  # no sliver: all within a few columns


@pytest.mark.parametrize("use_core", [True, False] if HAVE_CORE else [False])
def test_streamed_metrics_with_small_tiles_equal_the_oracles(rng, monkeypatch, use_core):
    """Moments with tiles of 5 columns (sites of 7 and 9 features: tiles cross site boundaries) gives the same
    metrics as the oracles at large means."""
    if not use_core:
        monkeypatch.setattr(_blas, "HAVE_CORE", False)
    monkeypatch.setattr(_blas, "TILE_EDGE", 5)
    X, Y = naive.correlated_pair(rng, 400, 7, 9, mean=1e3)
    m = repsim.Moments()
    for s in range(0, 400, 64):
        m.update({"x": X[s:s + 64], "y": Y[s:s + 64]})
    assert m.cka("x", "y") == pytest.approx(naive.linear_cka(X, Y), rel=1e-10)
    assert m.cka("x", "y", debiased=True) == pytest.approx(naive.debiased_cka(X, Y), rel=1e-9)
    assert m.rv2("x", "y", center=False) == pytest.approx(naive.rv2(X, Y, center=False), rel=1e-9)
    assert m.cca("x", "y").mean_rho == pytest.approx(naive.cca(X, Y)["mean_rho"], rel=1e-9)


def test_all_hidden_states_of_two_bert_sized_models_do_not_crash():
    """26 sites × 768 features (d ≈ 20,000): one DSYRK of this width segfaults SciPy's threaded OpenBLAS. Run in a
    subprocess so that a crash is a failed test, not a dead test run."""
    code = textwrap.dedent(
        """
        import numpy as np, repsim
        rng = np.random.default_rng(0)
        m = repsim.Moments(max_memory="5GB")  # not half of whatever memory is free at the time: 3.2 GB are needed
        for _ in range(2):
            m.update({f"s{i}": rng.normal(size=(300, 768)) for i in range(26)})
        v = m.matrix("cka", rows=["s0", "s13"], cols=["s1", "s25"]).values
        assert np.all((v > 0.2) & (v < 0.6)), v  # independent noise, n = 600 < p: biased well above 0
        print("ok", m.n)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.strip() == "ok 600"


@pytest.mark.parametrize("precision", ["fp64", "window32"])
def test_device_path_tiles_equal_the_cpu_statistics(rng, monkeypatch, precision):
    """The torch (device) accumulator in tiles of 5 columns, on CPU tensors: the same code runs on CUDA."""
    torch = pytest.importorskip("torch")
    X, Y = naive.correlated_pair(rng, 300, 7, 9, mean=10.0)
    cpu = repsim.Moments().update({"x": X, "y": Y})
    monkeypatch.setattr(_blas, "TILE_EDGE", 5)
    dev = repsim.Moments(backend="torch", precision=precision, window=128)
    for s in range(0, 300, 50):
        dev.update({"x": torch.from_numpy(X[s:s + 50]), "y": torch.from_numpy(Y[s:s + 50])})
    tol = 1e-11 if precision == "fp64" else 2e-6
    np.testing.assert_allclose(dev.full_view().block("x", "y"), cpu.full_view().block("x", "y"), rtol=tol,
                               atol=tol * np.abs(cpu.full_view().block("x", "y")).max())
    assert dev.cka("x", "y") == pytest.approx(cpu.cka("x", "y"), rel=tol)
    assert dev.cka("x", "y", debiased=True) == pytest.approx(cpu.cka("x", "y", debiased=True), rel=10 * tol)


def test_large_batches_are_filled_in_chunks_all_or_nothing(rng, monkeypatch):
    """A batch of more than UPDATE_ROWS rows is checked, then filled and added chunk by chunk: the buffer stays at
    UPDATE_ROWS rows, the statistics equal small batches', and a bad row anywhere leaves them untouched."""
    from repsim import moments as moments_mod

    monkeypatch.setattr(moments_mod, "UPDATE_ROWS", 64)
    X, Y = naive.correlated_pair(rng, 1000, 7, 9, mean=1e3)
    big = repsim.Moments().update({"x": X[:700], "y": Y[:700]}).update({"x": X[700:], "y": Y[700:]})
    assert big._buffer.shape[0] == 64
    small = repsim.Moments()
    for s in range(0, 1000, 50):
        small.update({"x": X[s:s + 50], "y": Y[s:s + 50]})
    for x, y in (("x", "x"), ("x", "y"), ("y", "y")):  # about the mean (the references differ: 700 vs 50 rows)
        np.testing.assert_allclose(big.full_view().block(x, y), small.full_view().block(x, y), rtol=1e-11,
                                   atol=1e-9 * np.abs(small.full_view().block(x, y)).max())
    assert big.cka("x", "y", debiased=True) == pytest.approx(naive.debiased_cka(X, Y), rel=1e-10)
    before = big._store.G.copy()
    bad = X[:300].copy()
    bad[250, 3] = np.nan
    with pytest.raises(ValueError, match="(?=.*site 'x')(?=.*batch 2)(?=.*row 250)"):
        big.update({"x": bad, "y": Y[:300]})
    np.testing.assert_array_equal(big._store.G, before)
    assert big.n == 1000
    huge = X[:300].copy()
    huge[200] = 1e80  # passes the finiteness check, fails the norm bound, in the fourth chunk
    with pytest.raises(ValueError, match="row 200 is too large"):
        big.update({"x": huge, "y": Y[:300]})
    np.testing.assert_array_equal(big._store.G, before)
    tiny = repsim.Moments()
    with pytest.raises(ValueError, match="spread"):  # the first batch's spread is summed over its chunks
        tiny.update({"x": X[:200] * 1e-75, "y": Y[:200]})
    assert tiny.n == 0
