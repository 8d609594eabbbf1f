"""Least-squares affine maps (docs/math.md §2 vii) against np.linalg.lstsq, and logit-compatibility maps (McNeely-White
2020) against the heads they are built from.

Observed worst errors against the lstsq oracle of naive.py (n = 400; post-ReLU data with |mean|/spread up to 1e3;
correlated data with offset 5; column scales 1e-2..1e2 with means up to 300 spreads; ridge 0, 1e-3, 1, 100):
W 2.5e-12 and b 1.4e-12 (normwise relative), R² 1.9e-14 abs, total R² 6.7e-16 (tolerance 1e-9), both engines.
With a near-collinear column pair (relative difference 1e-6) and ridge ≥ 1: 1.8e-12. Ridge at p ≥ n − 1: 2.6e-11.
Planted Y = XM + b: R² = 1 to 2e-15, W to 2.9e-13, b to 7.1e-11 (means 1e3). Streaming (batches 1, 7, 256) vs one
update: 1.7e-14.
Logit maps reproduce head A's logits to 5e-15 (tolerance 1e-9).

Not compared: ridge = 0 with the near-collinear pair (cond(corr) ≈ 1e13). There W is determined to u·cond² by the
statistics route (docs/math.md §3.5) and repsim differs from lstsq by 1.6e-5 in W and 5e-9 in R², without a warning
(the Cholesky singularity check fires at cond 1e14). That is the documented error model, not a wrong result.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest

import naive
import repsim
from _helpers import moments_of, normwise_rel_err

RTOL = 1e-9
N = 400
RIDGES = [0.0, 1e-3, 1.0, 100.0]


@functools.lru_cache(maxsize=None)
def dataset(name: str):
    if name == "large_mean":
        return naive.large_mean_pair(np.random.default_rng(1), N, 24, 16, kappa_max=1e3)
    if name == "correlated":
        return naive.correlated_pair(np.random.default_rng(2), N, 30, 20, mean=5.0)
    if name == "ill_scaled":  # scales 1e-2..1e2, means up to 300 spreads (the near-collinear column removed)
        X, Y = naive.ill_conditioned_pair(np.random.default_rng(3), N, 24, 16)
        return np.delete(X, 1, axis=1), Y
    if name == "collinear":  # the same with the near-collinear pair kept
        return naive.ill_conditioned_pair(np.random.default_rng(3), N, 24, 16)
    raise KeyError(name)


def _assert_map_matches(m, o, rtol=RTOL):
    assert normwise_rel_err(m.W, o["W"]) <= rtol, normwise_rel_err(m.W, o["W"])
    assert normwise_rel_err(m.b, o["b"]) <= rtol, normwise_rel_err(m.b, o["b"])
    assert np.max(np.abs(m.r2 - o["r2"])) <= rtol
    assert abs(m.r2_total - o["r2_total"]) <= rtol


# ------------------------------------------------------------------------------------------ the oracle itself


def test_literal_oracle_agrees_with_centred_oracle(rng):
    """The literal lstsq on [X, 1] (and the augmented ridge system) equals the centred, column-scaled form."""
    X, Y = naive.correlated_pair(rng, 150, 8, 5, mean=0.3)
    for ridge in (0.0, 0.5):
        a = naive.affine_lstsq(X, Y, ridge, literal=True)
        b = naive.affine_lstsq(X, Y, ridge)
        np.testing.assert_allclose(a["W"], b["W"], rtol=1e-11, atol=0)
        np.testing.assert_allclose(a["b"], b["b"], rtol=1e-11, atol=1e-13)
    # ridge: normal equations of the penalised problem hold at the solution
    o = naive.affine_lstsq(X, Y, 0.5)
    Xc, Yc = naive.center_columns(X), naive.center_columns(Y)
    np.testing.assert_allclose((Xc.T @ Xc + 0.5 * np.eye(8)) @ o["W"], Xc.T @ Yc, rtol=1e-11, atol=1e-11)


# ------------------------------------------------------------------------------------------ affine maps vs lstsq


@pytest.mark.parametrize("name", ["large_mean", "correlated", "ill_scaled"])
@pytest.mark.parametrize("ridge", RIDGES)
def test_affine_map_matches_lstsq(name, ridge, engine):
    X, Y = dataset(name)
    o = naive.affine_lstsq(X, Y, ridge)
    m = moments_of({"x": X, "y": Y}, engine=engine).affine_map("x", "y", ridge=ridge)
    assert isinstance(m, repsim.AffineMap)
    assert m.W.shape == (X.shape[1], Y.shape[1]) and m.b.shape == (Y.shape[1],) and m.r2.shape == (Y.shape[1],)
    assert (m.ridge, m.n) == (ridge, N)
    _assert_map_matches(m, o)  # observed ≤ 2.5e-12 (W), 1.4e-12 (b), 1.9e-14 (R²)
    f = repsim.affine_map(X, Y, ridge=ridge)
    _assert_map_matches(f, o)
    # the fitted values are the oracle's
    assert normwise_rel_err(f.transform(X), X @ o["W"] + o["b"]) <= RTOL


@pytest.mark.parametrize("ridge", [1.0, 100.0])
def test_affine_map_near_collinear_with_ridge(ridge):
    X, Y = dataset("collinear")
    _assert_map_matches(repsim.affine_map(X, Y, ridge=ridge), naive.affine_lstsq(X, Y, ridge))


def test_ridge_shrinks_the_weights():
    X, Y = dataset("correlated")
    norms = [np.linalg.norm(repsim.affine_map(X, Y, ridge=r).W) for r in (0.0, 1.0, 1e2, 1e4, 1e8)]
    assert all(a > b for a, b in zip(norms, norms[1:]))
    huge = repsim.affine_map(X, Y, ridge=1e12)
    assert np.linalg.norm(huge.W) < 1e-6
    # the intercept is not penalised: with W → 0 it tends to the mean of Y, and R² to 0
    np.testing.assert_allclose(huge.b, Y.mean(axis=0), rtol=1e-6)
    assert np.all(np.abs(huge.r2) < 1e-6)


@pytest.mark.parametrize("p", [29, 30, 45])
def test_p_at_least_n_minus_1_needs_ridge(p, rng):
    n = 30
    X = rng.normal(size=(n, p)) + 10.0
    Y = X[:, :3] @ rng.normal(size=(3, 4)) + 0.1 * rng.normal(size=(n, 4))
    with pytest.raises(ValueError, match="ridge > 0"):
        repsim.affine_map(X, Y)
    with pytest.raises(ValueError, match="ridge > 0"):
        moments_of({"x": X, "y": Y}).affine_map("x", "y")
    for ridge in (1e-3, 0.1, 10.0):
        _assert_map_matches(repsim.affine_map(X, Y, ridge=ridge), naive.affine_lstsq(X, Y, ridge))  # ≤ 2.6e-11


def test_p_just_below_the_limit_interpolates_without_ridge(rng):
    n, p = 30, 28
    X = rng.normal(size=(n, p))
    Y = rng.normal(size=(n, 3))
    m = repsim.affine_map(X, Y)
    _assert_map_matches(m, naive.affine_lstsq(X, Y), rtol=1e-8)
    assert np.all(m.r2 > 0.5)  # 28 free directions out of 29: most of pure noise is fitted


@pytest.mark.parametrize("mean", [0.0, 1e3])
def test_planted_affine_relation_is_recovered(mean, rng):
    X = naive.relu_units(rng, rng.normal(size=(N, 5)), 12, kappa_max=1e2) + mean
    X = X[:, np.flatnonzero(X.std(axis=0) > 0)]
    M = rng.normal(size=(X.shape[1], 7))
    b = rng.normal(size=7) * 10
    Y = X @ M + b
    m = repsim.affine_map(X, Y)
    np.testing.assert_allclose(m.r2, 1.0, rtol=0, atol=1e-10)
    assert abs(m.r2_total - 1) <= 1e-10
    assert normwise_rel_err(m.W, M) <= RTOL
    assert normwise_rel_err(m.b, b) <= RTOL  # b = ν − Wᵀμ carries |μ|·‖δW‖: observed 7.1e-11 at mean 1e3
    assert normwise_rel_err(m.transform(X), Y) <= 1e-12


def test_constant_feature_and_constant_target(rng):
    X, Y = naive.correlated_pair(rng, 200, 6, 4, mean=2.0)
    X[:, 2] = 3.0
    with pytest.warns(RuntimeWarning, match="constant feature"):
        m = repsim.affine_map(X, Y)
    np.testing.assert_array_equal(m.W[2], 0.0)
    _assert_map_matches(m, naive.affine_lstsq(X, Y))
    # with ridge the constant feature is regularised to 0 as well, and no warning
    m = repsim.affine_map(X, Y, ridge=0.1)
    np.testing.assert_allclose(m.W[2], 0.0, atol=1e-14)
    _assert_map_matches(m, naive.affine_lstsq(X, Y, 0.1))
    # a constant target column: the intercept fits it, R² = 1 (documented)
    Y[:, 1] = -4.0
    m = repsim.affine_map(np.delete(X, 2, axis=1), Y)
    assert m.r2[1] == 1.0
    np.testing.assert_allclose(m.transform(np.delete(X, 2, axis=1))[:, 1], -4.0, rtol=1e-12)


@pytest.mark.parametrize("batch", [1, 7, 256])
def test_streaming_equals_one_shot(batch):
    X, Y = dataset("large_mean")
    one = moments_of({"x": X, "y": Y}).affine_map("x", "y", ridge=0.01)
    st = moments_of({"x": X, "y": Y}, batch=batch).affine_map("x", "y", ridge=0.01)
    for a, b in ((st.W, one.W), (st.b, one.b), (st.r2, one.r2)):
        assert normwise_rel_err(a, b) <= 1e-10  # observed ≤ 1.7e-14


def test_transform_numpy_and_torch(rng):
    torch = pytest.importorskip("torch")
    X, Y = naive.correlated_pair(rng, 100, 6, 4, mean=1.0)
    m = repsim.affine_map(X, Y)
    ref = X @ m.W + m.b
    np.testing.assert_array_equal(m.transform(X), ref)
    np.testing.assert_array_equal(m(X), ref)
    np.testing.assert_allclose(m.transform(X.astype(np.float32)), ref, rtol=1e-5, atol=1e-5)
    t = m.transform(torch.as_tensor(X))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64
    np.testing.assert_allclose(t.numpy(), ref, rtol=1e-14, atol=1e-14)
    t32 = m.transform(torch.as_tensor(X, dtype=torch.float32))
    assert t32.dtype == torch.float32
    np.testing.assert_allclose(t32.numpy(), ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"\(n, 6\)"):
        m.transform(X[:, :5])
    with pytest.raises(ValueError, match=r"\(n, 6\)"):
        m.transform(X[0])
    with pytest.raises(ValueError, match=r"\(n, 6\)"):
        m.transform(torch.as_tensor(X[:, :5]))


def test_transform_integer_input(rng):
    """NumPy integer activations are promoted to float64. A torch integer tensor must not have W and b cast to its
    integer dtype (which truncates the map to integers): either a TypeError or the float result."""
    torch = pytest.importorskip("torch")
    X, Y = naive.correlated_pair(rng, 100, 6, 4, mean=1.0)
    m = repsim.affine_map(X, Y)
    np.testing.assert_allclose(m.transform(np.round(X).astype(np.int64)), np.round(X) @ m.W + m.b, rtol=1e-14)
    ti = torch.as_tensor(np.round(X).astype(np.int32))
    try:
        out = m.transform(ti)
    except TypeError:
        pass
    else:
        assert out.is_floating_point(), f"integer input gave {out.dtype} output (W cast to integers)"
        np.testing.assert_allclose(out.double().numpy(), np.round(X) @ m.W + m.b, rtol=1e-6, atol=1e-6)


def test_affine_map_bad_arguments(rng):
    X, Y = naive.correlated_pair(rng, 50, 3, 2)
    with pytest.raises(TypeError, match="ridge"):
        repsim.affine_map(X, Y, ridge="1")
    with pytest.raises(TypeError, match="ridge"):
        repsim.affine_map(X, Y, ridge=True)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="ridge"):
            repsim.affine_map(X, Y, ridge=bad)
    with pytest.raises(ValueError, match="same number of rows"):
        repsim.affine_map(X, Y[:40])
    with pytest.raises(TypeError, match="int"):
        repsim.affine_map(X.astype(int), Y)


# ------------------------------------------------------------------------------------------ logit maps


def _heads(rng, n_classes=10, fa=32, fb=24):
    return (rng.normal(size=(n_classes, fa)), rng.normal(size=n_classes),
            rng.normal(size=(n_classes, fb)), rng.normal(size=n_classes))


def test_logit_map_reproduces_head_a(rng):
    wa, ba, wb, bb = _heads(rng)
    m = repsim.logit_map(wa, ba, wb, bb)
    assert isinstance(m, repsim.AffineMap) and m.r2 is None and m.r2_total is None and m.n is None
    assert m.W.shape == (32, 24) and m.b.shape == (24,)
    x = rng.normal(size=(64, 32)) * 3 + 1
    assert normwise_rel_err(m.transform(x) @ wb.T + bb, x @ wa.T + ba) <= RTOL  # observed ≤ 5e-15
    # the formula: W = (C_B⁺ C_A)ᵀ, b = C_B⁺ (b_A − b_B)
    np.testing.assert_allclose(m.W, (np.linalg.pinv(wb) @ wa).T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(m.b, np.linalg.pinv(wb) @ (ba - bb), rtol=1e-10, atol=1e-12)
    # no biases
    m0 = repsim.logit_map(wa, None, wb, None)
    assert normwise_rel_err(m0.transform(x) @ wb.T, x @ wa.T) <= RTOL
    np.testing.assert_array_equal(m0.b, 0.0)


@pytest.mark.parametrize("n_classes, fb", [(10, 10), (3, 50)])
def test_logit_map_square_and_wide_heads(n_classes, fb, rng):
    wa, ba, wb, bb = _heads(rng, n_classes, 20, fb)
    x = rng.normal(size=(40, 20))
    m = repsim.logit_map(wa, ba, wb, bb)
    assert normwise_rel_err(m.transform(x) @ wb.T + bb, x @ wa.T + ba) <= RTOL


def test_logit_map_torch(rng):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ha = torch.nn.Linear(32, 10)
    hb = torch.nn.Linear(24, 10)
    x = torch.as_tensor(rng.normal(size=(64, 32)))
    with torch.no_grad():
        ref = ha.double()(x).numpy()
        for m in (repsim.logit_map(ha, hb),  # nn.Linear (converted to float64 from its float32 weights)
                  repsim.logit_map(ha.weight, ha.bias, hb.weight, hb.bias),  # tensors
                  repsim.logit_map(ha, hb.weight, hb.bias),  # mixed
                  repsim.logit_map(ha.weight.numpy(), ha.bias.numpy(), hb)):
            assert m.W.dtype == np.float64
            out = hb.double()(m.transform(x))
            assert isinstance(out, torch.Tensor)
            assert normwise_rel_err(out.numpy(), ref) <= RTOL  # observed ≤ 1e-15
        # float32 heads and float32 activations: the map itself is float64, the output follows x's dtype
        ha32, hb32 = torch.nn.Linear(32, 10), torch.nn.Linear(24, 10)
        m = repsim.logit_map(ha32, hb32)
        x32 = x.float()
        out = m.transform(x32)
        assert out.dtype == torch.float32
        np.testing.assert_allclose(hb32(out).numpy(), ha32(x32).numpy(), rtol=1e-4, atol=1e-4)


def test_logit_map_rank_deficient_head_b_warns(rng):
    wa, ba, wb, bb = _heads(rng, 10, 16, 6)  # 10 classes, 6 features: rank 6 < 10
    with pytest.warns(RuntimeWarning, match="full row rank"):
        m = repsim.logit_map(wa, ba, wb, bb)
    # least-squares logits: the residual is orthogonal to the range of weight_b
    x = rng.normal(size=(20, 16))
    resid = (x @ wa.T + ba) - (m.transform(x) @ wb.T + bb)
    np.testing.assert_allclose(resid @ wb, 0.0, atol=1e-10)
    assert np.max(np.abs(resid)) > 1e-3
    # enough features but duplicated rows (two classes with the same weights)
    wa, ba, wb, bb = _heads(rng, 5, 8, 12)
    wb[4] = wb[1]
    with pytest.warns(RuntimeWarning, match="full row rank"):
        repsim.logit_map(wa, ba, wb, bb)


def test_logit_map_bad_arguments(rng):
    wa, ba, wb, bb = _heads(rng, 4, 6, 5)
    with pytest.raises(TypeError, match="weight_a"):
        repsim.logit_map(wa.astype(np.int64), ba, wb, bb)
    with pytest.raises(TypeError, match="bias_b"):
        repsim.logit_map(wa, ba, wb, bb.astype(np.int32))
    with pytest.raises(ValueError, match=r"weight_b must be 2-D.*\(5,\)"):
        repsim.logit_map(wa, ba, wb[0], bb)
    with pytest.raises(ValueError, match="bias_a must be 1-D"):
        repsim.logit_map(wa, ba[:, None], wb, bb)
    with pytest.raises(ValueError, match=r"bias_b must have shape \(4,\)"):
        repsim.logit_map(wa, ba, wb, bb[:3])
    with pytest.raises(ValueError, match="same number of classes"):
        repsim.logit_map(wa, ba, wb[:3], bb[:3])
    bad = wa.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        repsim.logit_map(bad, ba, wb, bb)
    with pytest.raises(TypeError, match="bias_b"):
        repsim.logit_map(wa, ba, wb)
    with pytest.raises(TypeError, match="a head"):
        repsim.logit_map(wa, ba)
    with pytest.raises(TypeError, match="extra"):
        repsim.logit_map(wa, ba, wb, bb, bb)
