"""Sample-space oracles for the Gram-space engine (RBF CKA, bandwidth rules, extended-precision RV2).

Nothing here imports repsim. Everything is written from the definitions with full n × n matrices and the centring
matrix H = I − 11ᵀ/n (Kornblith et al. 2019; Székely–Rizzo U-centring as in tests/naive.py), so keep n ≤ ~600.
"""
from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.spatial.distance import pdist, squareform

import naive


def sq_distances(X, center_first: bool = True) -> np.ndarray:
    """D_ij = |x_i − x_j|² as Kornblith's ``gram_rbf`` computes it: −2XXᵀ + |x_i|² + |x_j|² (zero diagonal).

    Distances are translation invariant; ``center_first`` column-centres X first, which only protects the oracle
    from cancellation when the activations have large means.
    """
    X = naive.center_columns(X) if center_first else np.asarray(X, dtype=np.float64)
    dot = X @ X.T
    sq = np.diag(dot)
    D = -2.0 * dot + sq[:, None] + sq[None, :]
    np.fill_diagonal(D, 0.0)
    return D


def median_sqdist(D: np.ndarray, rule: str = "median") -> float:
    """The bandwidth statistic of docs/peers.md §1: numpy median over the full matrix (Kornblith), the lower middle value
    of the full matrix (torch.median, ckatorch), or the numpy median of the off-diagonal entries."""
    n = D.shape[0]
    if rule == "median":
        return float(np.median(D))
    if rule == "median_lower":
        return float(np.sort(D.ravel())[(n * n - 1) // 2])
    if rule == "median_offdiag":
        return float(np.median(D[~np.eye(n, dtype=bool)]))
    raise KeyError(rule)


def rbf_gram(X, sigma: float = 0.5, rule: str = "median") -> np.ndarray:
    """K = exp(−D/(2σ²)) with σ² = sigma²·median(D) (median rules) or σ = sigma (rule="fixed")."""
    D = sq_distances(X)
    s2 = sigma**2 if rule == "fixed" else sigma**2 * median_sqdist(D, rule)
    return np.exp(-D / (2.0 * s2))


def h_centre(K) -> np.ndarray:
    """H K H with the explicit centring matrix."""
    H = naive.centering_matrix(K.shape[0])
    return H @ K @ H


def rbf_cka(X, Y, sigma: float = 0.5, debiased: bool = False, rule: str = "median") -> float:
    """Kornblith's RBF CKA: cosine of HKH and HLH, or of the U-centred K and L when ``debiased``."""
    K, L = rbf_gram(X, sigma, rule), rbf_gram(Y, sigma, rule)
    c = naive.u_centre if debiased else h_centre
    Kc, Lc = c(K), c(L)
    return float(np.sum(Kc * Lc) / np.sqrt(np.sum(Kc * Kc) * np.sum(Lc * Lc)))


def rbf_cka_song(X, Y, sigma: float = 0.5, rule: str = "median") -> float:
    """Debiased RBF CKA by Song's HSIC₁ formula (an independent derivation of the U-centred form)."""
    K, L = rbf_gram(X, sigma, rule), rbf_gram(Y, sigma, rule)
    h = naive.hsic1_song
    return float(h(K, L) / np.sqrt(h(K, K) * h(L, L)))


# --------------------------------------------------------------------------------------------- extended precision


def _ld_centre(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.longdouble)
    X = X - X.mean(axis=0)
    return X - X.mean(axis=0)


def longdouble_rv2(X, Y, center: bool = True) -> float:
    """Smilde's RV2 with Grams, centring and sums in 80-bit long double (u ≈ 5e-20 on x86)."""
    X = _ld_centre(X) if center else np.asarray(X, dtype=np.longdouble)
    Y = _ld_centre(Y) if center else np.asarray(Y, dtype=np.longdouble)
    K, L = X @ X.T, Y @ Y.T
    np.fill_diagonal(K, 0)
    np.fill_diagonal(L, 0)
    return float(np.sum(K * L) / np.sqrt(np.sum(K * K) * np.sum(L * L)))


def diagonal_dominant_pair(rng, n: int = 200, p: int = 4000, q: int = 2000, signal: float = 0.05):
    """float32 X, Y with p, q ≫ n: independent noise plus a weak shared 3-dim latent and offsets, so the centred
    Grams are diagonal-dominant (mean diagonal / mean |off-diagonal| ≈ 75 and 55)."""
    Z = rng.normal(size=(n, 3))
    X = Z @ rng.normal(size=(3, p)) * signal + rng.normal(size=(n, p)) + 2.0
    Y = Z @ rng.normal(size=(3, q)) * signal + rng.normal(size=(n, q)) + 1.0
    return X.astype(np.float32), Y.astype(np.float32)


# --------------------------------------------------------------------------------------------- Laplace kernels


def laplace_cka(X, Y, sigma: float = 0.5, debiased: bool = False, rule: str = "median") -> float:
    """CKA of Laplace kernels K = exp(−‖x_i − x_j‖/σ), σ = sigma·√median(D) (the RBF rule) or σ = sigma (fixed)."""

    def gram(A):
        D = sq_distances(A)
        s = sigma if rule == "fixed" else sigma * np.sqrt(median_sqdist(D, rule))
        return np.exp(-np.sqrt(np.maximum(D, 0.0)) / s)

    c = naive.u_centre if debiased else h_centre
    Kc, Lc = c(gram(X)), c(gram(Y))
    return float(np.sum(Kc * Lc) / np.sqrt(np.sum(Kc * Kc) * np.sum(Lc * Lc)))


# --------------------------------------------------------------------------------------------- RSA


def rdm(X, kind: str) -> np.ndarray:
    """The condensed RDM from the definitions: squared Euclidean / p with SciPy's pdist (rsatoolbox's "euclidean");
    1 − cosine ("cosine") and 1 − Pearson r ("correlation": the cosine of the samples centred across their features)
    as ½‖x_i/‖x_i‖ − x_j/‖x_j‖‖² in long double (pdist's 1 − uᵀv/(‖u‖‖v‖) loses digits when the samples share a
    large mean pattern; ``pdist_rdm`` is pdist itself)."""
    X = np.asarray(X, dtype=np.float64)
    if kind == "euclidean":
        return pdist(X, "sqeuclidean") / X.shape[1]
    Xl = np.asarray(X, dtype=np.longdouble)
    if kind == "correlation":
        Xl = Xl - Xl.mean(axis=1, keepdims=True)
    Xl = Xl / np.sqrt(np.sum(Xl * Xl, axis=1, keepdims=True))
    n = Xl.shape[0]
    out = [0.5 * np.sum((Xl[i] - Xl[j]) ** 2) for i in range(n) for j in range(i + 1, n)]
    return np.asarray(out, dtype=np.float64)


def pdist_rdm(X, kind: str) -> np.ndarray:
    """SciPy's own condensed RDM ("sqeuclidean" / p, "correlation", "cosine")."""
    X = np.asarray(X, dtype=np.float64)
    return pdist(X, "sqeuclidean") / X.shape[1] if kind == "euclidean" else pdist(X, kind)


def tau_a(a, b) -> float:
    """Kendall's τ_A by enumerating every pair of entries: Σ sign(a_k − a_l)·sign(b_k − b_l) / (m(m − 1)/2)."""
    a, b = np.asarray(a), np.asarray(b)
    m = a.size
    s = sum(float(np.sum(np.sign(a[k] - a[k + 1:]) * np.sign(b[k] - b[k + 1:]))) for k in range(m - 1))
    return s / (m * (m - 1) / 2)


def whitened_cosine(a, b, n: int, center: bool = False) -> float:
    """⟨HAH, HBH⟩_F / (‖HAH‖ ‖HBH‖) of the n × n zero-diagonal RDMs (after subtracting the mean entry when
    ``center``): rsatoolbox's "cosine_cov" / "corr_cov" with its default covariance (Diedrichsen et al. 2021)."""
    if center:
        a, b = a - a.mean(), b - b.mean()
    H = naive.centering_matrix(n)
    A, B = H @ squareform(a) @ H, H @ squareform(b) @ H
    return float(np.sum(A * B) / np.sqrt(np.sum(A * A) * np.sum(B * B)))


def compare_rdms(a, b, compare: str, n: int) -> float:
    """The comparison of two condensed RDMs from its definition (SciPy's statistics where they exist)."""
    if compare == "pearson":
        return float(stats.pearsonr(a, b).statistic)
    if compare == "spearman":
        return float(stats.spearmanr(a, b).statistic)
    if compare == "kendall_tau_a":
        return tau_a(a, b)
    if compare == "cosine":
        return float(a @ b / np.sqrt((a @ a) * (b @ b)))
    return whitened_cosine(a, b, n, center=compare == "corr_cov")


def rsa(X, Y, rdm_kind: str = "correlation", compare: str = "spearman") -> float:
    """RSA from the definitions: compare(rdm(X), rdm(Y))."""
    return compare_rdms(rdm(X, rdm_kind), rdm(Y, rdm_kind), compare, np.asarray(X).shape[0])
