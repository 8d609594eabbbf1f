"""Sample-space float64 oracles and seeded data generators for the repsim tests.

Nothing here imports repsim. Every metric is computed straight from its definition with n × n Gram matrices
(MATH.md §2 i–iii, PEERS.md §1), so keep n ≤ ~600.

A note on centring. The textbook centred Gram is HKH with K = XXᵀ. For activations with large means
(|mean|/spread up to 1e3) forming K first and then HKH cancels ~κ² ≈ 1e6 of the magnitude, which would make the
*oracle* wrong at the 1e-10 level. Mathematically HKH = (HX)(HX)ᵀ, so the oracles apply H to the data instead
(``center_columns``: X − mean, with a second pass that removes the rounding of the first mean). The literal
HKH form is kept (``linear_cka_gram_literal``) and the tests check it against the centred-data form on data with
small means. Song's HSIC₁ is exactly translation invariant (MATH.md §2 ii), so the debiased oracles are, by
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
    """Székely–Rizzo U-centring as described in PEERS.md §1 (Kornblith's unbiased ``center_gram``).

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
    """The golden-value data of PEERS.md §1 (Kornblith demo)."""
    rs = np.random.RandomState(1337)  # the same stream as np.random.seed(1337), without touching global state
    X = rs.randn(100, 10)
    Y = rs.randn(100, 10) + X
    return X, Y
