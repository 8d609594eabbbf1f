"""PairStatistics (the trace-type statistics read from the accumulated upper triangle) against the full shifted
view of Moments.statistics and against the sample-space oracles."""
from __future__ import annotations

import numpy as np
import pytest

import naive
import repsim
from repsim._limits import MAX_STATISTIC
from repsim.statistics import PairStatistics, site_sums


def _moments(rng, dims, n=300, mean=0.0, batch=64):
    data = {f"s{k}": mean + rng.normal(size=(n, p)) @ rng.normal(size=(p, p)) for k, p in enumerate(dims)}
    m = repsim.Moments()
    for i in range(0, n, batch):
        m.update({k: v[i : i + batch] for k, v in data.items()})
    return m, data


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("mean", [0.0, 1e3])
def test_scalars_equal_the_full_view(center, mean, rng):
    # widths above and below the chunk size, so the diagonal blocks' chunk squares and off-chunk parts both occur
    m, _ = _moments(rng, (3, 130, 7, 300), mean=mean)
    sc = m.pair_view(center)
    assert isinstance(sc, PairStatistics)
    full = m.full_view(center)
    sites = full.layout.sites
    for x in sites:
        assert sc.trace(x) == pytest.approx(full.trace(x), rel=1e-12)
        for y in sites:
            assert sc.frob2(x, y) == pytest.approx(full.frob2(x, y), rel=1e-12), (x, y)
            assert sc.fourth(x, y) == pytest.approx(full.fourth(x, y), rel=1e-12), (x, y)
        for y in sites:
            np.testing.assert_allclose(sc.block(x, y), full.block(x, y), rtol=1e-12,
                                       atol=1e-12 * np.abs(full.block(x, y)).max())
    for c_sc, c_full in zip(sc.reference, full.reference):
        np.testing.assert_allclose(c_sc, c_full, rtol=1e-13, atol=1e-12)
    # the scalars are cached and do not depend on whether the full view exists
    assert m.pair_view(center) is sc


def test_metrics_through_scalars_match_the_oracles(rng):
    m, data = _moments(rng, (5, 140, 9), mean=1e3)
    X, Y = data["s1"], data["s2"]
    assert m.cka("s1", "s2") == pytest.approx(naive.linear_cka(X, Y), rel=1e-11)
    assert m.cka("s1", "s2", debiased=True) == pytest.approx(naive.debiased_cka(X, Y), rel=1e-10)
    assert m.rv("s1", "s2", center=False) == pytest.approx(naive.rv(X, Y, center=False), rel=1e-11)
    assert m.rv2("s1", "s2") == pytest.approx(naive.rv2(X, Y, center=True), rel=1e-10)
    # the matrix path uses the scalars too (no full view is built)
    mat = m.matrix("cka")
    assert ("full", True) not in m._views
    np.testing.assert_allclose(mat.values[1, 2], naive.linear_cka(X, Y), rtol=1e-11)
    np.testing.assert_allclose(np.diag(mat.values), 1.0, rtol=1e-13)


def test_scalars_follow_updates(rng):
    m, data = _moments(rng, (4, 6))
    before = m.cka("s0", "s1")
    extra = {k: rng.normal(size=(50, v.shape[1])) for k, v in data.items()}
    m.update(extra)
    after = m.cka("s0", "s1")
    X = np.vstack([data["s0"], extra["s0"]])
    Y = np.vstack([data["s1"], extra["s1"]])
    assert after == pytest.approx(naive.linear_cka(X, Y), rel=1e-12) and after != before


def test_scalars_reject_overflow():
    G = np.zeros((4, 4), order="F")
    layout = repsim.statistics.Layout(("a",), (2,))
    G[0, 0] = G[1, 1] = 1e160
    G[3, 3] = 10.0
    sc = PairStatistics(G, layout, 10, [np.zeros(2)], True, MAX_STATISTIC)
    with pytest.raises(ValueError, match="safe range"):
        sc.frob2("a", "a")
    with pytest.raises(ValueError, match="safe range"):
        sc.block("a", "a")
    assert site_sums(G, layout)[0].shape == (2,)
