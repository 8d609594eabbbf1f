"""Small helpers shared by the test modules (imports repsim; the oracles in naive.py do not)."""
from __future__ import annotations

import numpy as np

import repsim


def moments_of(data: dict, engine: str = "auto", batch=None, n_threads=None) -> repsim.Moments:
    """A Moments fed with the arrays in ``data`` (same rows): one update (batch=None), a fixed batch size
    (int), or an explicit list of batch sizes."""
    m = repsim.Moments(engine=engine, n_threads=n_threads)
    n = next(iter(data.values())).shape[0]
    if batch is None:
        sizes = [n]
    elif isinstance(batch, int):
        sizes = [min(batch, n - s) for s in range(0, n, batch)]
    else:
        sizes = list(batch)
        assert sum(sizes) == n
    start = 0
    for b in sizes:
        m.update({k: v[start:start + b] for k, v in data.items()})
        start += b
    return m


def all_metrics(m, x: str, y: str) -> dict:
    """Every trace metric between two sites of ``m`` (Moments or GramMoments): name → float."""
    return {
        "cka": m.cka(x, y),
        "debiased_cka": m.cka(x, y, debiased=True),
        "rv": m.rv(x, y),
        "rv_uncentred": m.rv(x, y, center=False),
        "rv2": m.rv2(x, y),
        "rv2_uncentred": m.rv2(x, y, center=False),
    }


def all_statistics(m: repsim.Moments, center: bool) -> dict:
    """Every block of G through the public StatisticsView accessors: second-order blocks, sums, traces,
    third-order vectors and fourth-order scalars of every site pair."""
    st = m.full_view(center=center)
    out = {}
    for x in m.sites:
        out[("sum", x)] = np.array(st.sum(x))
        out[("trace", x)] = np.array(st.trace(x))
        for y in m.sites:
            out[("block", x, y)] = np.array(st.block(x, y))
            out[("third", x, y)] = np.array(st.third(x, y))
            out[("fourth", x, y)] = np.array(st.fourth(x, y))
    return out


def normwise_rel_err(actual, desired) -> float:
    actual = np.asarray(actual, dtype=np.float64)
    desired = np.asarray(desired, dtype=np.float64)
    scale = float(np.max(np.abs(desired))) if desired.size else 0.0
    err = float(np.max(np.abs(actual - desired))) if desired.size else 0.0
    if scale == 0.0:
        return err
    return err / scale


def assert_normwise_close(actual, desired, rtol, what=""):
    """max|actual − desired| ≤ rtol · max|desired|: the relative error in the max norm (entries near zero are
    judged against their block's scale, not their own)."""
    assert np.shape(actual) == np.shape(desired), (what, np.shape(actual), np.shape(desired))
    err = normwise_rel_err(actual, desired)
    assert err <= rtol, f"{what}: normwise relative error {err:.3e} > {rtol:.1e}"


def assert_statistics_close(a: dict, b: dict, rtol: float):
    assert a.keys() == b.keys()
    for k in a:
        if k[0] == "sum" and not np.any(b[k]):
            # centred sums are exactly zero
            np.testing.assert_array_equal(a[k], b[k], err_msg=str(k))
        else:
            assert_normwise_close(a[k], b[k], rtol, what=str(k))


def assert_statistics_equal(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=str(k))
