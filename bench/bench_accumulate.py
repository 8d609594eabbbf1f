"""Accumulation cost of one batch ``Moments.update`` vs the bare BLAS floor ``Z.T @ Z``.

Z is one fp64 batch of shape (1024, P), P in {256, 1024, 4096}; one benchmark group per P. The repsim side times
``m.update({"x": Z})`` on a Moments that already holds one batch of the same site (the first-batch setup —
reference, G allocation — is excluded). Target: repsim <= 1.25x the floor.

In each group:

* ``floor_numpy_ZtZ``          ``Z.T @ Z`` (NumPy's OpenBLAS; NumPy turns ``A.T @ A`` into SYRK + a mirror copy)
* ``kernel_scipy_dsyrk``       for information: the exact BLAS call an update makes (SciPy's OpenBLAS ``dsyrk``
                               of the augmented (1024, P+2) buffer into the F-ordered G), without the fused pass
* ``repsim_fp64``              one update, fp64 input
* ``repsim_fp32``              one update, float32 input (converted to fp64 inside the fused pass)
* ``repsim_two_sites_fp64``    one update with Z split into two sites of P/2 columns (G is (P+3)^2)

Run:  pytest bench/bench_accumulate.py            (ratios with medians: python bench/report.py --only accumulate)
"""
from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy.linalg import blas

import _common
import repsim

pytestmark = pytest.mark.parametrize("P", _common.ACCUM_P, ids=lambda P: f"P{P}")


@functools.lru_cache(maxsize=None)
def _batch(P: int) -> np.ndarray:
    Z = _common.accumulate_batch(P)
    Z.setflags(write=False)
    return Z


@functools.lru_cache(maxsize=None)
def _batch32(P: int) -> np.ndarray:
    Z = np.ascontiguousarray(_batch(P), dtype=np.float32)
    Z.setflags(write=False)
    return Z


def _group(benchmark, P: int) -> None:
    benchmark.group = f"accumulate P={P} (batch {_common.ACCUM_ROWS} rows)"
    benchmark.extra_info["P"] = P
    benchmark.extra_info["rows"] = _common.ACCUM_ROWS


def _primed(batch: dict) -> repsim.Moments:
    """A Moments that has seen one batch already (sites, reference, G and the batch buffer exist)."""
    m = repsim.Moments()
    m.update(batch)
    return m


def test_floor_numpy_ZtZ(benchmark, P):
    _group(benchmark, P)
    Z = _batch(P)
    G = benchmark(lambda: Z.T @ Z)
    assert G.shape == (P, P)


def test_kernel_scipy_dsyrk(benchmark, P):
    _group(benchmark, P)
    rows = _common.ACCUM_ROWS
    W = np.empty((rows, P + 2))  # the augmented buffer of a one-site update: [x - c, |x - c|^2, 1]
    W[:, :P] = _batch(P)
    W[:, P:] = 1.0
    G = np.zeros((P + 2, P + 2), order="F")
    out = benchmark(lambda: blas.dsyrk(1.0, W.T, beta=1.0, c=G, trans=0, lower=0, overwrite_c=1))
    assert np.shares_memory(out, G)


def test_repsim_fp64(benchmark, P):
    _group(benchmark, P)
    batch = {"x": _batch(P)}
    m = _primed(batch)
    n0 = m.n
    benchmark(m.update, batch)
    assert m.n > n0 and m.n % _common.ACCUM_ROWS == 0


def test_repsim_fp32(benchmark, P):
    _group(benchmark, P)
    batch = {"x": _batch32(P)}
    m = _primed(batch)
    n0 = m.n
    benchmark(m.update, batch)
    assert m.n > n0


def test_repsim_two_sites_fp64(benchmark, P):
    _group(benchmark, P)
    Z = _batch(P)
    h = P // 2
    batch = {"a": np.ascontiguousarray(Z[:, :h]), "b": np.ascontiguousarray(Z[:, h:])}
    m = _primed(batch)
    n0 = m.n
    benchmark(m.update, batch)
    assert m.n > n0 and m.dims == {"a": h, "b": P - h}
