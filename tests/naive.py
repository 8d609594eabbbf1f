"""Sample-space float64 oracles and seeded data generators for the repsim tests.

Nothing here imports repsim. Every metric is computed straight from its definition with n × n Gram matrices
(docs/math.md §2 i–iii, docs/peers.md §1), so keep n ≤ ~600.

A note on centring. The textbook centred Gram is HKH with K = XXᵀ. For activations with large means
(|mean|/spread up to 1e3) forming K first and then HKH cancels ~κ² ≈ 1e6 of the magnitude, which would make the
*oracle* wrong at the 1e-10 level. Mathematically HKH = (HX)(HX)ᵀ, so the oracles apply H to the data instead
(``center_columns``: X − mean, with a second pass that removes the rounding of the first mean). The literal
HKH form is kept (``linear_cka_gram_literal``) and the tests check it against the centred-data form on data with
small means. Song's HSIC₁ is exactly translation invariant (docs/math.md §2 ii), so the debiased oracles are, by
default, evaluated on column-centred data for the same reason.
"""
from __future__ import annotations

import numpy as np

# --------------------------------------------------------------------------------------------- basic pieces


def centering_matrix(n: int) -> np.ndarray:
    """H = I − 11ᵀ/n."""
    return np.eye(n) - np.full((n, n), 1.0 / n)


def center_columns(X) -> np.ndarray:
    """HX computed as X − mean(X), with a second (refinement) pass; float64."""
    X = np.asarray(X, dtype=np.float64)
    Xc = X - X.mean(axis=0)
    return Xc - Xc.mean(axis=0)


def gram(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    return X @ X.T


def _zero_diag(K: np.ndarray) -> np.ndarray:
    K = np.array(K, dtype=np.float64, copy=True)
    np.fill_diagonal(K, 0.0)
    return K


def _frob_inner(K: np.ndarray, L: np.ndarray) -> float:
    """⟨K, L⟩_F = tr(KᵀL)."""
    return float(np.einsum("ij,ij->", K, L))


def _cosine(kl: float, kk: float, ll: float) -> float:
    return kl / np.sqrt(kk * ll)


# --------------------------------------------------------------------------------------------- linear CKA


def linear_cka(X, Y) -> float:
    """Kornblith's linear CKA: ⟨HKH, HLH⟩ / (‖HKH‖_F ‖HLH‖_F), K = XXᵀ, L = YYᵀ (HKH formed as (HX)(HX)ᵀ)."""
    Kc = gram(center_columns(X))
    Lc = gram(center_columns(Y))
    return _cosine(_frob_inner(Kc, Lc), _frob_inner(Kc, Kc), _frob_inner(Lc, Lc))


def linear_cka_gram_literal(X, Y) -> float:
    """The same with the literal HKH (K formed from raw X first). Only accurate for data with small means."""
    n = np.asarray(X).shape[0]
    H = centering_matrix(n)
    Kc = H @ gram(X) @ H
    Lc = H @ gram(Y) @ H
    return _cosine(_frob_inner(Kc, Lc), _frob_inner(Kc, Kc), _frob_inner(Lc, Lc))


# --------------------------------------------------------------------------------------------- debiased CKA


def hsic1_song(K, L) -> float:
    """Song et al. (2012) unbiased HSIC₁ of two Gram matrices (no centring needed):

    n(n−3)·HSIC₁ = tr(K̃L̃) + (1ᵀK̃1)(1ᵀL̃1)/((n−1)(n−2)) − 2/(n−2)·1ᵀK̃L̃1,  K̃, L̃ = K, L with zero diagonal.
    """
    Kt = _zero_diag(K)
    Lt = _zero_diag(L)
    n = Kt.shape[0]
    one = np.ones(n)
    tr_KL = float(np.einsum("ij,ji->", Kt, Lt))
    sK = float(one @ Kt @ one)
    sL = float(one @ Lt @ one)
    cross = float((Kt @ one) @ (Lt @ one))  # 1ᵀK̃L̃1 = (K̃1)ᵀ(L̃1) (K̃ symmetric)
    val = tr_KL + sK * sL / ((n - 1.0) * (n - 2.0)) - 2.0 / (n - 2.0) * cross
    return val / (n * (n - 3.0))


def u_centre(K) -> np.ndarray:
    """Székely–Rizzo U-centring as described in docs/peers.md §1 (Kornblith's unbiased ``center_gram``).

    Zero the diagonal; subtract r_i/(n−2) from row i and r_j/(n−2) from column j (r = row sums); add
    S/((n−1)(n−2)) (S = total sum); zero the diagonal again.
    """
    Kt = _zero_diag(K)
    n = Kt.shape[0]
    r = Kt.sum(axis=1)
    S = r.sum()
    U = Kt - r[:, None] / (n - 2.0) - r[None, :] / (n - 2.0) + S / ((n - 1.0) * (n - 2.0))
    np.fill_diagonal(U, 0.0)
    return U


def hsic1_ucentre(K, L) -> float:
    """⟨Ũ(K), Ũ(L)⟩ / (n(n−3)), which equals Song's HSIC₁."""
    n = np.asarray(K).shape[0]
    return _frob_inner(u_centre(K), u_centre(L)) / (n * (n - 3.0))


def debiased_cka(X, Y, method: str = "song", center_first: bool = True) -> float:
    """Kornblith's debiased linear CKA: HSIC₁(K,L)/√(HSIC₁(K,K)·HSIC₁(L,L)).

    method : "song" (Song's formula with zero-diagonal Grams) or "ucentre" (Kornblith's U-centring, Gram form).
    center_first : use the Grams of the column-centred data (HSIC₁ is exactly translation invariant; this only
        protects the oracle from cancellation at large means).
    """
    if center_first:
        X, Y = center_columns(X), center_columns(Y)
    K, L = gram(X), gram(Y)
    h = {"song": hsic1_song, "ucentre": hsic1_ucentre}[method]
    return _cosine(h(K, L), h(K, K), h(L, L))


# --------------------------------------------------------------------------------------------- RV and RV2


def rv(X, Y, center: bool = True) -> float:
    """Robert & Escoufier's RV = tr(KL)/√(tr(K²) tr(L²)), on column-centred data when ``center``."""
    if center:
        X, Y = center_columns(X), center_columns(Y)
    K, L = gram(X), gram(Y)
    tr = lambda A, B: float(np.einsum("ij,ji->", A, B))  # noqa: E731 - tr(AB)
    return _cosine(tr(K, L), tr(K, K), tr(L, L))


def rv2(X, Y, center: bool = True) -> float:
    """Smilde et al. (2009) modified RV: RV with diag(K) and diag(L) removed."""
    if center:
        X, Y = center_columns(X), center_columns(Y)
    Kt, Lt = _zero_diag(gram(X)), _zero_diag(gram(Y))
    tr = lambda A, B: float(np.einsum("ij,ji->", A, B))  # noqa: E731
    return _cosine(tr(Kt, Lt), tr(Kt, Kt), tr(Lt, Lt))


ORACLES = {
    "cka": lambda X, Y: linear_cka(X, Y),
    "debiased_cka": lambda X, Y: debiased_cka(X, Y, "song"),
    "rv": lambda X, Y: rv(X, Y, True),
    "rv_uncentred": lambda X, Y: rv(X, Y, False),
    "rv2": lambda X, Y: rv2(X, Y, True),
    "rv2_uncentred": lambda X, Y: rv2(X, Y, False),
}


def rel_err(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


# --------------------------------------------------------------------------------------------- data


def relu_units(rng, Z, p: int, kappa_max: float = 1e3, noise: float = 0.3) -> np.ndarray:
    """Post-ReLU-like activations driven by the latent Z (n × k).

    Unit j is max(0, s_j·(g_j + r_j)) with g_j of unit variance and r_j log-spaced in [−0.5, kappa_max]
    (shuffled): units with r_j < 0 are sparse (many exact zeros), units with r_j ≫ 1 are always on with
    |mean|/spread ≈ r_j, up to ``kappa_max``. The scales s_j are log-uniform in [0.1, 10].
    """
    n, k = Z.shape
    W = rng.normal(size=(k, p)) / np.sqrt(k)
    g = Z @ W + noise * rng.normal(size=(n, p))
    g /= g.std(axis=0)
    n_pos = max(1, p - max(1, p // 4))
    r = np.concatenate([np.logspace(-1, np.log10(kappa_max), n_pos), rng.uniform(-0.5, 0.0, p - n_pos)])
    rng.shuffle(r)
    s = 10.0 ** rng.uniform(-1, 1, p)
    return np.maximum(0.0, (g + r) * s)


def large_mean_pair(rng, n: int, p: int, q: int, kappa_max: float = 1e3, k: int = 6, Z=None):
    """Correlated post-ReLU X, Y with shared latent structure (Z, n × k) and |mean|/spread up to ``kappa_max``."""
    if Z is None:
        Z = rng.normal(size=(n, k))
    return relu_units(rng, Z, p, kappa_max), relu_units(rng, Z, q, kappa_max)


def correlated_pair(rng, n: int, p: int, q: int, k: int = 4, noise: float = 0.5, mean: float = 0.0):
    """Gaussian X, Y sharing a k-dimensional latent; optional common offset ``mean``."""
    Z = rng.normal(size=(n, k))
    X = Z @ rng.normal(size=(k, p)) + noise * rng.normal(size=(n, p)) + mean
    Y = Z @ rng.normal(size=(k, q)) + noise * rng.normal(size=(n, q)) + mean
    return X, Y


def ill_conditioned_pair(rng, n: int, p: int, q: int, k: int = 5, Z=None):
    """Shared-latent data with column scales log-spaced over 1e-2..1e2, a near-collinear column pair on each
    side, and means up to ~300× the spread."""
    if Z is None:
        Z = rng.normal(size=(n, k))
    k = Z.shape[1]

    def side(m):
        X = Z @ rng.normal(size=(k, m)) + 0.3 * rng.normal(size=(n, m))
        X[:, 1] = X[:, 0] + 1e-6 * rng.normal(size=n)  # near-collinear pair
        X += rng.uniform(-300, 300, size=m) * X.std(axis=0)
        scales = np.logspace(-2, 2, m)
        rng.shuffle(scales)
        return X * scales

    return side(p), side(q)


def independent_noise(rng, n: int, p: int, q: int):
    return rng.normal(size=(n, p)), rng.normal(size=(n, q))


def kornblith_golden():
    """The golden-value data of docs/peers.md §1 (Kornblith demo)."""
    rs = np.random.RandomState(1337)  # the same stream as np.random.seed(1337), without touching global state
    X = rs.randn(100, 10)
    Y = rs.randn(100, 10) + X
    return X, Y


# ============================================================================================================
# CCA, SVCCA, PWCCA, Procrustes, affine maps and max-matches (docs/math.md §2 iv–ix, docs/matches.md, docs/peers.md §1).
# Everything below works on the data themselves (sample space): orthonormal bases of the centred columns, least
# squares on the activation matrices. Nothing is computed from covariance or Gram statistics except where the
# definition itself is written that way (google's compute_pwcca).
# ============================================================================================================

import scipy.linalg as _sla  # noqa: E402  (appended section; the oracles above need only NumPy)

# A column is constant when its centred norm is at the rounding level of its mean (what centring an exactly
# constant column leaves behind); the same criterion repsim documents for "constant neurons".
_CONST_RTOL = 1e-12


def nonconstant_columns(X) -> np.ndarray:
    """Boolean mask of the columns of X that are not constant."""
    X = np.asarray(X, dtype=np.float64)
    Xc = center_columns(X)
    n = X.shape[0]
    ss = np.einsum("ij,ij->j", Xc, Xc)
    return ss > n * (_CONST_RTOL * np.abs(X.mean(axis=0))) ** 2 + np.finfo(float).tiny


def standardized(X) -> np.ndarray:
    """Centred columns scaled to unit Euclidean norm (constant columns left out). CCA is invariant to column
    scaling, and unit columns make the rank decision below a statement about the correlation matrix."""
    X = np.asarray(X, dtype=np.float64)
    Xc = center_columns(X)[:, nonconstant_columns(X)]
    return Xc / np.linalg.norm(Xc, axis=0)


def column_space(Xs, rtol: float = 1e-10):
    """Orthonormal basis Q of the column space of Xs (n × p, unit columns) and its numerical rank.

    Full numerical rank (every singular value s with s² > rtol·s_max²): Householder QR (Björck–Golub). Otherwise
    the leading left singular vectors of the SVD above that tolerance. Returns (Q, s) with s the singular values
    of Xs that were kept (all of them for the QR branch).
    """
    n, p = Xs.shape
    if p == 0:
        return np.zeros((n, 0)), np.zeros(0)
    U, s, _ = np.linalg.svd(Xs, full_matrices=False)
    keep = s**2 > rtol * s[0] ** 2 if s[0] > 0 else np.zeros(s.shape, bool)
    if keep.all() and p <= n:
        Q, _ = np.linalg.qr(Xs)
        return Q, s
    return U[:, keep], s[keep]


def cca(X, Y, rtol: float = 1e-10, eps: float = 0.0) -> dict:
    """Canonical correlations in sample space (Björck & Golub 1973).

    ρ = singular values of QxᵀQy, where Qx, Qy are orthonormal bases of the centred, standardised, non-constant
    columns (numerical rank by ``rtol`` on the squared singular values, as for a correlation-matrix
    pseudo-inverse). k = min(rank_x, rank_y) correlations, descending, clipped to [0, 1].

    ``eps`` > 0: regularised CCA with ``eps`` added to the unit diagonal of both correlation matrices. With
    Xs = U S Vᵀ, (XsᵀXs + εI)^{-1/2} Xsᵀ = V diag(s/√(s²+ε)) Uᵀ, so ρ = σ(diag(sx/√(sx²+ε)) UxᵀUy diag(sy/√(sy²+ε)));
    every non-constant direction then counts (k = min(p_kept, q_kept), zero-padded).

    Returns a dict: rho, rank_x, rank_y, k, mean_rho, mean_rho2, and the unit-norm canonical variates hx, hy
    (n × k; columns i of hx and hy have correlation ρ_i, eps = 0 only).
    """
    Xs, Ys = standardized(X), standardized(Y)
    if eps == 0.0:
        Qx, _ = column_space(Xs, rtol)
        Qy, _ = column_space(Ys, rtol)
        rx, ry = Qx.shape[1], Qy.shape[1]
        k = min(rx, ry)
        a, rho, bt = np.linalg.svd(Qx.T @ Qy, full_matrices=False)
        hx, hy = Qx @ a[:, :k], Qy @ bt[:k].T
    else:
        Ux, sx, _ = np.linalg.svd(Xs, full_matrices=False)
        Uy, sy, _ = np.linalg.svd(Ys, full_matrices=False)
        T = (Ux * (sx / np.sqrt(sx**2 + eps))).T @ (Uy * (sy / np.sqrt(sy**2 + eps)))
        rho = np.linalg.svd(T, compute_uv=False)
        rx, ry = Xs.shape[1], Ys.shape[1]
        k = min(rx, ry)
        rho = np.concatenate([rho, np.zeros(max(0, k - rho.size))])
        hx = hy = None
    rho = np.clip(rho[:k], 0.0, 1.0)
    return {
        "rho": rho,
        "rank_x": rx,
        "rank_y": ry,
        "k": k,
        "mean_rho": float(rho.mean()),
        "mean_rho2": float(np.sum(rho**2) / k),
        "hx": hx,
        "hy": hy,
    }


def svcca(X, Y, keep: float = 0.99, k=None, rtol: float = 1e-10) -> dict:
    """SVCCA (Raghu et al. 2017) from the SVD of the centred data: keep the fewest leading singular directions
    whose s² reach ``keep`` of Σs² (or exactly ``k``), then CCA between the principal scores U_r S_r, whose
    column spaces are spanned by U_r: ρ = σ(U_rxᵀ U_ry). Singular values with s² ≤ rtol·s_max² do not count.
    """

    def principal_basis(A):
        U, s, _ = np.linalg.svd(center_columns(A), full_matrices=False)
        pos = s**2 > rtol * s[0] ** 2
        U, s = U[:, pos], s[pos]
        if k is not None:
            r = min(int(k), s.size)
        else:
            # (cumulative sums carry rounding: keep = 1 must mean "all", so allow a 1e-12 relative slack)
            frac = np.cumsum(s**2) / np.sum(s**2)
            r = int(np.argmax(frac >= keep * (1 - 1e-12))) + 1
        return U[:, :r]

    Ux, Uy = principal_basis(X), principal_basis(Y)
    rho = np.clip(np.linalg.svd(Ux.T @ Uy, compute_uv=False), 0.0, 1.0)
    return {"rho": rho, "mean_rho": float(rho.mean()), "rank_x": Ux.shape[1], "rank_y": Uy.shape[1]}


def pwcca_morcos(X, Y, rtol: float = 1e-10) -> dict:
    """Projection-weighted CCA (Morcos et al. 2018) from explicit canonical variates.

    The weighted side is the one with fewer neurons (X when p ≤ q). With h_i its unit-norm canonical variates
    (from :func:`cca`) and x_j its centred neurons, α_i = Σ_j |⟨h_i, x_j⟩|, PWCCA = Σ α_i ρ_i / Σ α_i.
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    res = cca(X, Y, rtol)
    side, Z, H = ("x", X, res["hx"]) if X.shape[1] <= Y.shape[1] else ("y", Y, res["hy"])
    alpha = np.abs(H.T @ center_columns(Z)).sum(axis=1)
    w = alpha / alpha.sum()
    return {"value": float(w @ res["rho"]), "weights": w, "rho": res["rho"], "side": side}


def google_pwcca(acts1, acts2, epsilon: float = 0.0) -> dict:
    """What google/svcca's ``compute_pwcca(acts1, acts2, epsilon)`` computes, written procedurally from its
    description (docs/peers.md §1), on (neurons × samples) arrays.

    1. Covariance of the stacked neurons with ddof = 1; the X block is divided by its largest absolute entry, the
       Y block by its own, the cross block by the geometric mean of the two.
    2. Neurons whose scaled variance is below ``epsilon`` are dropped; ``epsilon`` is added to the diagonals.
    3. Σ^{-1/2} of each side = symmetric square root (eigendecomposition) of the pseudo-inverse. (google takes the
       square root of the eigenvalues as they come; a rounding-negative eigenvalue of a singular block would give
       NaN there, so they are clipped at 0 here, which is what that code means.)
    4. ρ = |singular values| of Σxx^{-1/2} Σxy Σyy^{-1/2}, with the full left singular vectors u of X's side.
    5. Only when X keeps no more neurons than Y: directions = uᵀ(acts − μ) + μ (neuron i's mean μ_i is added to
       direction i, no Σ^{-1/2}); P = orthonormal factor of a QR of the directions (as columns); α_i =
       Σ_j |⟨P_i, acts_j⟩| against the *uncentred* activations; weights α/Σα; value Σ weights·ρ.
       (X wider: google indexes acts1 with Y's neurons, its PR #9; raised here.)
    """
    a1 = np.asarray(acts1, dtype=np.float64)
    a2 = np.asarray(acts2, dtype=np.float64)
    nx = a1.shape[0]
    cov = np.cov(np.vstack([a1, a2]))
    sxx, sxy, syy = cov[:nx, :nx], cov[:nx, nx:], cov[nx:, nx:]
    xmax, ymax = np.max(np.abs(sxx)), np.max(np.abs(syy))
    sxx, syy, sxy = sxx / xmax, syy / ymax, sxy / np.sqrt(xmax * ymax)
    kx = np.abs(np.diag(sxx)) >= epsilon
    ky = np.abs(np.diag(syy)) >= epsilon
    if kx.sum() > ky.sum():
        raise ValueError("google_pwcca: X keeps more neurons than Y (google's PR #9 branch)")
    sxx = sxx[np.ix_(kx, kx)] + epsilon * np.eye(kx.sum())
    syy = syy[np.ix_(ky, ky)] + epsilon * np.eye(ky.sum())
    sxy = sxy[np.ix_(kx, ky)]

    def inv_sqrt(M):
        lam, V = np.linalg.eigh(np.linalg.pinv(M))
        return V @ np.diag(np.sqrt(np.clip(lam, 0.0, None))) @ V.T

    u, s, _ = np.linalg.svd(inv_sqrt(sxx) @ sxy @ inv_sqrt(syy))
    rho = np.abs(s)
    acts = a1[kx]
    mu = acts.mean(axis=1, keepdims=True)
    dirns = u.T @ (acts - mu) + mu
    P, _ = np.linalg.qr(dirns.T)
    alpha = np.abs(P.T @ acts.T).sum(axis=1)
    w = alpha / alpha.sum()
    return {"value": float(np.sum(w * rho)), "weights": w, "rho": rho, "kept_x": kx, "kept_y": ky}


def procrustes(X, Y, form: str = "distance") -> float:
    """Orthogonal Procrustes on centred, Frobenius-normalised data, the narrower side padded with zero columns:
    R = scipy.linalg.orthogonal_procrustes(Ŷ, X̂), d = ‖X̂ − ŶR‖_F computed from the residual itself, s = 1 − d²/2.
    Forms: distance d, squared d², angular arccos s, similarity s."""
    Xc, Yc = center_columns(X), center_columns(Y)
    Xh, Yh = Xc / np.linalg.norm(Xc), Yc / np.linalg.norm(Yc)
    w = max(Xh.shape[1], Yh.shape[1])
    Xh = np.pad(Xh, ((0, 0), (0, w - Xh.shape[1])))
    Yh = np.pad(Yh, ((0, 0), (0, w - Yh.shape[1])))
    R, _ = _sla.orthogonal_procrustes(Yh, Xh)
    d = float(np.linalg.norm(Xh - Yh @ R))
    s = 1.0 - d * d / 2.0
    return {"distance": d, "squared": d * d, "angular": float(np.arccos(np.clip(s, -1.0, 1.0))), "similarity": s}[form]


# --------------------------------------------------------------------------------------------- affine maps


def affine_lstsq(X, Y, ridge: float = 0.0, literal: bool = False) -> dict:
    """min_{W,b} ‖XW + 1bᵀ − Y‖²_F + ridge·‖W‖²_F by np.linalg.lstsq on the augmented system

        [[X, 1], [√ridge·I, 0]] · [W; bᵀ] = [[Y], [0]]   (no penalty rows when ridge = 0).

    ``literal`` solves exactly that. By default (for large means and column scales) the same system is solved with
    X centred and its columns scaled to unit norm: [X 1] and [Xc 1] have the same column space, so
    [X 1][W; bᵀ] = [Xc 1][W; (b + Wᵀμ)ᵀ]; the scaling D is undone as W = D⁻¹W̃ and the penalty rows become
    √ridge·D⁻¹. R² per target column from the residuals of the fit: 1 − ‖y_k − ŷ_k‖²/‖y_k − ȳ_k‖².
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    n, p = X.shape
    q = Y.shape[1]
    if literal:
        A = np.hstack([X, np.ones((n, 1))])
        pen = np.hstack([np.sqrt(ridge) * np.eye(p), np.zeros((p, 1))])
        M = np.linalg.lstsq(np.vstack([A, pen]) if ridge else A,
                            np.vstack([Y, np.zeros((p, q))]) if ridge else Y, rcond=None)[0]
        W, b = M[:p], M[p]
    else:
        mu = X.mean(axis=0)
        Xc = center_columns(X)
        d = np.linalg.norm(Xc, axis=0)
        d = np.where(d > 0, d, 1.0)
        A = np.hstack([Xc / d, np.full((n, 1), 1.0 / np.sqrt(n))])
        if ridge:
            pen = np.hstack([np.diag(np.sqrt(ridge) / d), np.zeros((p, 1))])
            A = np.vstack([A, pen])
            rhs = np.vstack([Y, np.zeros((p, q))])
        else:
            rhs = Y
        M = np.linalg.lstsq(A, rhs, rcond=None)[0]
        W = M[:p] / d[:, None]
        c = M[p] / np.sqrt(n)
        b = c - W.T @ mu
    Yc = center_columns(Y)
    E = Yc - center_columns(X) @ W  # = Y − (XW + 1bᵀ) for the least-squares intercept
    rss = np.einsum("ij,ij->j", E, E)
    tss = np.einsum("ij,ij->j", Yc, Yc)
    return {"W": W, "b": b, "r2": 1.0 - rss / tss, "r2_total": float(1.0 - rss.sum() / tss.sum())}


# --------------------------------------------------------------------------------------------- max-matches


def _match_vectors(X, Y, center: bool):
    """Activation vectors z (columns), their norms, and the dead masks (all-zero; constant when ``center``)."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if center:
        dead_x, dead_y = np.ptp(X, axis=0) == 0, np.ptp(Y, axis=0) == 0
        X, Y = center_columns(X), center_columns(Y)
        X[:, dead_x] = 0.0
        Y[:, dead_y] = 0.0
    else:
        dead_x, dead_y = ~np.any(X, axis=0), ~np.any(Y, axis=0)
    return X, Y, np.linalg.norm(X, axis=0), np.linalg.norm(Y, axis=0), dead_x, dead_y


# Numerical rank of a span: singular values below SPAN_RCOND·s_max count as zero. Exact linear dependences made in
# floating point (a column times 2.5, a sum of two columns, both then centred about a mean of 1e3) leave rounding
# directions of relative size ~1e-13; in exact arithmetic they are part of the span and can move a distance by a
# random ~1/√n. repsim decides dependence at a relative distance of 1e-6 (documented), and so does this cut-off, far
# from both the rounding level and the genuine directions of the test data (≥ 1e-3).
SPAN_RCOND = 1e-10


def span_distances(Z, S) -> np.ndarray:
    """dist(z, span S) for every column z of Z: the residual of np.linalg.lstsq(S, z) (rcond = SPAN_RCOND)."""
    if S.shape[1] == 0:
        return np.linalg.norm(Z, axis=0)
    coef = np.linalg.lstsq(S, Z, rcond=SPAN_RCOND)[0]
    return np.linalg.norm(Z - S @ coef, axis=0)


def max_match(X, Y, eps: float, center: bool = False, start_x=None, start_y=None) -> dict:
    """Maximum ε-match by Algorithm 1 (docs/matches.md), distances recomputed from the activations by least squares.

    Starts from all live neurons (or from the boolean masks ``start_x``/``start_y``, for Algorithm 2's
    restricted calls); removes every x with dist(z_x, span z_Y) > ε‖z_x‖, then every such y against the updated X,
    until nothing changes. Returns x, y (sorted index arrays), dead_x, dead_y (index arrays), and ``margin``:
    the smallest |dist/‖z‖ − ε| over every test made — a decision closer than ~1e-9 to ε could go either way
    in floating point, so tests check that their data keep away from it.
    """
    Zx, Zy, nx, ny, dead_x, dead_y = _match_vectors(X, Y, center)
    xs = ~dead_x if start_x is None else (~dead_x & np.asarray(start_x, bool))
    ys = ~dead_y if start_y is None else (~dead_y & np.asarray(start_y, bool))
    margin = np.inf
    while True:
        changed = False
        for Z, zn, cur, other, Zo in ((Zx, nx, xs, ys, Zy), (Zy, ny, ys, xs, Zx)):
            idx = np.flatnonzero(cur)
            if idx.size == 0:
                continue
            rel = span_distances(Z[:, idx], Zo[:, other]) / zn[idx]
            margin = min(margin, float(np.min(np.abs(rel - eps))))
            bad = idx[rel > eps]
            if bad.size:
                cur[bad] = False
                changed = True
        if not changed:
            break
    return {"x": np.flatnonzero(xs), "y": np.flatnonzero(ys), "dead_x": np.flatnonzero(dead_x),
            "dead_y": np.flatnonzero(dead_y), "margin": margin}


def is_match(X, Y, xs, ys, eps: float, center: bool = False) -> bool:
    """Whether (xs, ys) is an ε-approximate match: every x ∈ xs has dist(z_x, span z_ys) ≤ ε‖z_x‖ and every
    y ∈ ys has dist(z_y, span z_xs) ≤ ε‖z_y‖ (least-squares distances on the activation vectors)."""
    Zx, Zy, nx, ny, _, _ = _match_vectors(X, Y, center)
    xs, ys = np.asarray(xs, int), np.asarray(ys, int)
    dx = span_distances(Zx[:, xs], Zy[:, ys])
    dy = span_distances(Zy[:, ys], Zx[:, xs])
    return bool(np.all(dx <= eps * nx[xs]) and np.all(dy <= eps * ny[ys]))


def _masks(p, q, xs, ys):
    mx, my = np.zeros(p, bool), np.zeros(q, bool)
    mx[np.asarray(xs, int)] = True
    my[np.asarray(ys, int)] = True
    return mx, my


def _contains(m, v, p):
    return (v in set(m["x"].tolist())) if v < p else ((v - p) in set(m["y"].tolist()))


def minimum_match(X, Y, eps: float, v: int, center: bool = False, maximum=None) -> dict:
    """The v-minimum match by Algorithm 2 (docs/matches.md): from the maximum match, try to remove each other neuron
    u in index order (X's neurons 0..p−1, then Y's as p..p+q−1); keep the removal when v still belongs to the
    maximum match of what is left. v < p is X's neuron v, v ≥ p is Y's neuron v − p."""
    p, q = np.shape(X)[1], np.shape(Y)[1]
    cur = maximum if maximum is not None else max_match(X, Y, eps, center)
    assert _contains(cur, v, p), "v is not in the maximum match"
    for u in range(p + q):
        if u == v or not _contains(cur, u, p):
            continue
        mx, my = _masks(p, q, cur["x"], cur["y"])
        if u < p:
            mx[u] = False
        else:
            my[u - p] = False
        trial = max_match(X, Y, eps, center, mx, my)
        if _contains(trial, v, p):
            cur = trial
    return cur


def simple_matches(X, Y, eps: float, center: bool = False) -> dict:
    """The distinct v-minimum matches over every v of the maximum match: {(x tuple, y tuple): [v, ...]}."""
    p = np.shape(X)[1]
    top = max_match(X, Y, eps, center)
    out = {}
    for v in list(top["x"]) + [p + j for j in top["y"]]:
        m = minimum_match(X, Y, eps, int(v), center, top)
        out.setdefault((tuple(m["x"].tolist()), tuple(m["y"].tolist())), []).append(int(v))
    return out


def is_v_minimum(X, Y, xs, ys, v: int, eps: float, center: bool = False) -> bool:
    """Whether (xs, ys) ∋ v is a match from which no single neuron u ≠ v can be removed while v stays in the
    maximum match of the rest (the fixpoint of Algorithm 2)."""
    p, q = np.shape(X)[1], np.shape(Y)[1]
    if not _contains({"x": np.asarray(xs, int), "y": np.asarray(ys, int)}, v, p):
        return False
    members = list(xs) + [p + j for j in ys]
    for u in members:
        if u == v:
            continue
        mx, my = _masks(p, q, xs, ys)
        if u < p:
            mx[u] = False
        else:
            my[u - p] = False
        if _contains(max_match(X, Y, eps, center, mx, my), v, p):
            return False
    return True


# --------------------------------------------------------------------------------------------- data (matches)


def planted_subspace_pair(rng, n: int, p: int, q: int, k: int, mean: float = 0.0):
    """X (n × p) and Y (n × q): k neurons of each layer (at random positions) are an invertible mixture of a
    shared k-dim latent, the others independent Gaussian noise. Returns X, Y, planted_x, planted_y (sorted)."""
    Z = rng.normal(size=(n, k))
    X = rng.normal(size=(n, p)) + mean
    Y = rng.normal(size=(n, q)) + mean
    px = np.sort(rng.choice(p, k, replace=False))
    py = np.sort(rng.choice(q, k, replace=False))
    X[:, px] = Z @ (np.eye(k) + 0.5 * rng.normal(size=(k, k)))
    Y[:, py] = Z @ (np.eye(k) + 0.5 * rng.normal(size=(k, k)))
    return X, Y, px, py


def match_pair(rng, n: int, p: int, q: int, k: int = 3, noise=(0.02, 2.0), mean: float = 0.0, dead: int = 0,
               constant: int = 0, dependent: int = 0):
    """Two layers for max-match tests: neuron j = Z a_j + σ_j·noise_j (Z an n × k shared latent, σ_j log-uniform
    over ``noise`` so that relative distances to the other layer spread over (0, 1)), plus ``mean``·N(0, 1)
    offsets. Then, at random positions of each layer: ``dead`` all-zero neurons, ``constant`` constant non-zero
    neurons, and ``dependent`` neurons that are an exact copy of another (scaled), a combination of two others, or
    a copy plus a constant offset (which puts the constant vector 1 into the raw span)."""
    Z = rng.normal(size=(n, k))

    def layer(m):
        sig = np.exp(rng.uniform(np.log(noise[0]), np.log(noise[1]), m))
        L = Z @ rng.normal(size=(k, m)) + sig * rng.normal(size=(n, m)) + mean * rng.normal(size=m)
        cols = rng.permutation(m)
        special, c = cols[: dead + constant + dependent], 0
        base = [j for j in range(m) if j not in set(special.tolist())]
        for j in special[:dead]:
            L[:, j] = 0.0
        for j in special[dead:dead + constant]:
            L[:, j] = rng.normal() * 3.0 + 0.5
        for j in special[dead + constant:]:
            a, b = rng.choice(base, 2, replace=False)
            kind = c % 3
            c += 1
            if kind == 0:
                L[:, j] = 2.5 * L[:, a]
            elif kind == 1:
                L[:, j] = 0.7 * L[:, a] - 1.3 * L[:, b]
            else:
                L[:, j] = L[:, a] + 4.0
        return L

    return layer(p), layer(q)
