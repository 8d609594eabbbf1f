"""Sample-space float64 oracles of the shape metrics and ReSi's closed forms (docs/math.md §9), written from the
definitions on the activations: zero-padding, eigh of XᵀX, SVD, scipy's linear_sum_assignment, lstsq, the n × n
Grams. Deliberately naive and independent of repsim's statistics."""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

EIGVAL_TOL = 1e-7  # netrep's whiten(eigval_tol)


def _pad(X, Y):
    m = max(X.shape[1], Y.shape[1])
    return (np.pad(X, ((0, 0), (0, m - X.shape[1]))), np.pad(Y, ((0, 0), (0, m - Y.shape[1]))))


def _whiten(X, alpha):
    """netrep.utils.whiten(X, alpha, preserve_variance=True) as written there."""
    if alpha > 1 - EIGVAL_TOL:
        return X
    lam, V = np.linalg.eigh(X.T @ X)
    lam = np.maximum(lam, EIGVAL_TOL)
    d = alpha + (1 - alpha) * lam ** -0.5
    new_var = np.sum(alpha ** 2 * lam + 2 * alpha * (1 - alpha) * lam ** 0.5 + (1 - alpha) ** 2)
    d = d * np.sqrt(np.sum(lam) / new_var)
    return X @ ((V * d) @ V.T)


def _ground(A, B, score):
    if score == "angular":
        c = np.sum(A * B) / (np.linalg.norm(A) * np.linalg.norm(B))
        return float(np.arccos(np.clip(c, -1.0, 1.0)))
    return float(np.linalg.norm(A - B))


def shape_metric(X, Y, alpha=1.0, score="angular"):
    """Williams et al. 2021: centre, zero-pad, partially whiten, align by the optimal rotation, compare."""
    X, Y = _pad(X - X.mean(0), Y - Y.mean(0))
    Xw, Yw = _whiten(X, alpha), _whiten(Y, alpha)
    U, _, Vt = np.linalg.svd(Xw.T @ Yw)
    return _ground(Xw @ U, Yw @ Vt.T, score)


def bures_distance(X, Y):
    """Bures distance of the centred linear Grams: tr K + tr L − 2 tr (K^½ L K^½)^½ (n × n, eigh)."""
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    K, L = Xc @ Xc.T, Yc @ Yc.T  # = HKH, HLH

    def sqrtm(Z):  # (ZZᵀ)^½ = U S Uᵀ from the thin SVD of Z (no square roots of rounding-level eigenvalues)
        U, S, _ = np.linalg.svd(Z, full_matrices=False)
        return (U * S) @ U.T

    f = np.linalg.svd(sqrtm(Xc) @ sqrtm(Yc), compute_uv=False).sum()  # tr (K^½ L K^½)^½ = ‖K^½ L^½‖_*
    return float(np.sqrt(max(0.0, np.trace(K) + np.trace(L) - 2 * f)))


def permutation_procrustes(X, Y, center=True, score="angular"):
    """netrep's PermutationMetric (centred) / ReSi's PermutationProcrustes (raw): pad, assign, compare."""
    if center:
        X, Y = X - X.mean(0), Y - Y.mean(0)
    X, Y = _pad(X, Y)
    r, c = linear_sum_assignment(X.T @ Y, maximize=True)
    return _ground(X[:, r], Y[:, c], score)


def _corr(X, Y):
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    nx, ny = np.linalg.norm(Xc, axis=0), np.linalg.norm(Yc, axis=0)
    return (Xc / np.where(nx > 0, nx, 1)).T @ (Yc / np.where(ny > 0, ny, 1))


def hard_correlation_match(X, Y):
    R = _corr(X, Y)
    r, c = linear_sum_assignment(R, maximize=True)
    return float(R[r, c].mean())


def soft_correlation_match(X, Y):
    R = _corr(X, Y)
    return float((R.max(1).mean() + R.max(0).mean()) / 2)


def eigenspace_overlap(X, Y):
    """May et al. 2019: left singular vectors of the raw data, ranks by numpy's matrix_rank."""
    U = np.linalg.svd(X)[0][:, : np.linalg.matrix_rank(X)]
    V = np.linalg.svd(Y)[0][:, : np.linalg.matrix_rank(Y)]
    return float(np.linalg.norm(U.T @ V) ** 2 / max(X.shape[1], Y.shape[1]))


def gulp(X, Y, ridge=0.0):
    """GULP (Boix-Adserà et al. 2022) as ReSi normalises it: centred, ‖·‖²_F = n, covariances /n, d² returned."""
    n = X.shape[0]
    A = X - X.mean(0)
    B = Y - Y.mean(0)
    A, B = np.sqrt(n) * A / np.linalg.norm(A), np.sqrt(n) * B / np.linalg.norm(B)
    Sa, Sb, Sab = A.T @ A / n, B.T @ B / n, A.T @ B / n

    def inv(S):
        if ridge > 0:
            return np.linalg.inv(S + ridge * np.eye(len(S)))
        return np.linalg.pinv(S, rcond=1e-10, hermitian=True)

    Ia, Ib = inv(Sa), inv(Sb)
    return float(np.trace(Sa @ Ia @ Sa @ Ia) + np.trace(Sb @ Ib @ Sb @ Ib) - 2 * np.trace(Ia @ Sab @ Ib @ Sab.T))


def linear_regression(X, Y, target="y"):
    """Pooled R² of least squares with intercept (lstsq on the activations)."""
    src, dst = (X, Y) if target == "y" else (Y, X)
    D = np.column_stack([src, np.ones(len(src))])
    W = np.linalg.lstsq(D, dst, rcond=None)[0]
    res = dst - D @ W
    return float(1 - np.sum(res ** 2) / np.sum((dst - dst.mean(0)) ** 2))


def magnitude_difference(X, Y):
    return float(abs(np.linalg.norm(X.mean(0)) - np.linalg.norm(Y.mean(0))))
