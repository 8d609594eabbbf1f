"""Brute-force float64 oracles of the neighbourhood measures, written from their definitions (docs/math.md §7): the
full n × n score matrix, neighbours by a stable sort (score descending, index ascending)."""
from __future__ import annotations

import numpy as np


def scores(X, distance="cosine"):
    X = np.asarray(X, dtype=np.float64)
    if distance == "cosine":
        Z = X / np.linalg.norm(X, axis=1, keepdims=True)
        return Z @ Z.T
    if distance == "inner_product":
        return X @ X.T
    return -((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)


def neighbours(X, k, distance="cosine", skip_self=True):
    S = scores(X, distance)
    if skip_self:
        np.fill_diagonal(S, -np.inf)
    order = np.argsort(-S, axis=1, kind="stable")[:, :k]  # stable: equal scores keep the lower index first
    return order, np.take_along_axis(S, order, axis=1)


def mutual_knn(X, Y, k=10, distance="cosine"):
    a, b = neighbours(X, k, distance)[0], neighbours(Y, k, distance)[0]
    return float(np.mean([len(set(a[i]) & set(b[i])) / k for i in range(len(a))]))


def knn_jaccard(X, Y, k=10, distance="cosine"):
    a, b = neighbours(X, k, distance)[0], neighbours(Y, k, distance)[0]
    return float(np.mean([len(set(a[i]) & set(b[i])) / len(set(a[i]) | set(b[i])) for i in range(len(a))]))


def _rank_i(a, b):
    joint = set(a) & set(b)
    if not joint:
        return 0.0
    ra = {j: r + 1 for r, j in enumerate(a)}
    rb = {j: r + 1 for r, j in enumerate(b)}
    s = sum(2.0 / ((1 + abs(ra[j] - rb[j])) * (ra[j] + rb[j])) for j in joint)
    return s / sum(1.0 / t for t in range(1, len(joint) + 1))


def rank_similarity(X, Y, k=10, distance="cosine"):
    a, b = neighbours(X, k, distance)[0], neighbours(Y, k, distance)[0]
    return float(np.mean([_rank_i(a[i], b[i]) for i in range(len(a))]))


def joint_rank_jaccard(X, Y, k=10, distance="cosine"):
    a, b = neighbours(X, k, distance)[0], neighbours(Y, k, distance)[0]
    return float(np.mean([len(set(a[i]) & set(b[i])) / len(set(a[i]) | set(b[i])) * _rank_i(a[i], b[i])
                          for i in range(len(a))]))


def second_order_cosine(X, Y, k=10):
    a, b = neighbours(X, k)[0], neighbours(Y, k)[0]
    DX, DY = np.clip(1 - scores(X), 0, 2), np.clip(1 - scores(Y), 0, 2)
    vals = []
    for i in range(len(a)):
        U = sorted(set(a[i]) | set(b[i]))
        u, v = DX[i, U], DY[i, U]
        vals.append(u @ v / np.sqrt((u @ u) * (v @ v)))
    return float(np.mean(vals))


def _hsic(K, L, unbiased):
    m = K.shape[0]
    if unbiased:
        K, L = K.copy(), L.copy()
        np.fill_diagonal(K, 0)
        np.fill_diagonal(L, 0)
        return ((K * L.T).sum() + K.sum() * L.sum() / ((m - 1) * (m - 2)) - 2 * (K @ L).sum() / (m - 2)) / (m * (m - 3))
    H = np.eye(m) - 1.0 / m
    return np.trace(K @ H @ L @ H)


def cknna(X, Y, k=10, distance="cosine", unbiased=True, eps=0.0):
    K, L = scores(X, distance), scores(Y, distance)
    n = K.shape[0]

    def mask(A):
        M = np.zeros((n, n))
        np.put_along_axis(M, neighbours_from(A, k, unbiased), 1.0, axis=1)
        return M

    MK, ML = mask(K), mask(L)
    M = MK * ML
    kl = _hsic(M * K, M * L, unbiased)
    kk = _hsic(MK * K, MK * K, unbiased)
    ll = _hsic(ML * L, ML * L, unbiased)
    return float(kl / (np.sqrt(kk * ll) + eps))


def neighbours_from(S, k, skip_self):
    S = S.copy()
    if skip_self:
        np.fill_diagonal(S, -np.inf)
    return np.argsort(-S, axis=1, kind="stable")[:, :k]
