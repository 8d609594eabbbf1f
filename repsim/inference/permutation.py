"""Exact permutation moments of T = Σ_ij A_ij B_π(i)π(j) over the n! permutations π of the samples (docs/math.md §6).

Every Gram-type similarity numerator is such a statistic with fixed symmetric n × n matrices A (from X) and B (from
Y): ⟨K, L⟩ (linear CKA / centred RV, A = K, B = L centred), ⟨K̃, L̃⟩ with the diagonals removed (RV2), ⟨K, L⟩ of
raw Grams (uncentred RV) and ⟨K^U, L^U⟩ of U-centred Grams (debiased CKA: n(n − 3)·HSIC₁, Székely & Rizzo 2014).
Permuting the rows of Y permutes B's rows and columns and leaves the denominators unchanged, so the null moments
of the similarity are those of T scaled.

The m-th raw moment is a sum over the set partitions σ of the 2m index slots (i₁, j₁, …, i_m, j_m): slots in one
block take one value, distinct blocks distinct values. A uniformly random π maps k distinct indices to a uniformly
random injective k-tuple, hence

    E[T^m] = Σ_σ S_A(σ) S_B(σ) / (n)_k,     (n)_k = n(n − 1)…(n − k + 1),

where S_A(σ) sums Π_f A_{i_f j_f} over the injective index assignments of pattern σ. The unrestricted sums U_A(τ)
(indices equal within blocks, free across them) are tensor contractions; Möbius inversion on the partition lattice
gives S(σ) = Σ_{τ ⪰ σ} μ(σ, τ) U(τ), μ(σ, τ) = Π_blocks of τ (−1)^(c − 1) (c − 1)! with c the blocks of σ merged.

For m ≤ 2 every U is one of six invariants of A (:class:`Invariants`): tr A, 1ᵀA1, Σ A_ii², Σ A_ii (A1)_i, |A1|²,
‖A‖²_F — all available from feature-space statistics for the centred, RV2 and debiased forms (no n × n matrix).
The third moment needs contractions such as Σ A_ij³ that only the n × n matrices give (Gram space, arrays).

References: Kazi-Aoual, Hitier, Sabatier & Lebreton (1995), CSDA 20; Josse, Pagès & Husson (2008), CSDA 53 (the
mean and variance of RV in closed form — this module reproduces them, tests/test_inference.py).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Invariants:
    """The six invariants of a symmetric matrix A that fix the first two permutation moments of T."""

    trace: float  # tr A
    total: float  # 1ᵀA1
    diag_sq: float  # Σ A_ii²
    diag_row: float  # Σ A_ii (A1)_i
    row_sq: float  # |A1|²
    frob: float  # ‖A‖²_F

    @classmethod
    def of(cls, A: np.ndarray) -> "Invariants":
        d, r = np.diag(A), A.sum(axis=1)
        return cls(float(d.sum()), float(r.sum()), float(d @ d), float(d @ r), float(r @ r), float(np.sum(A * A)))


def set_partitions(m: int) -> list[tuple]:
    """All set partitions of range(m) as restricted-growth tuples (block label of each slot)."""
    out = []

    def grow(prefix, top):
        if len(prefix) == m:
            out.append(tuple(prefix))
            return
        for b in range(top + 2):
            grow(prefix + [b], max(top, b))

    grow([], -1)
    return out


def _canonical(labels) -> tuple:
    seen = {}
    return tuple(seen.setdefault(b, len(seen)) for b in labels)


@functools.lru_cache(maxsize=None)
def _lattice(slots: int):
    """The partitions of ``slots`` slots, and for each σ the list of (τ ⪰ σ, μ(σ, τ))."""
    parts = set_partitions(slots)
    index = {p: k for k, p in enumerate(parts)}
    coarser = []
    for sigma in parts:
        k = max(sigma) + 1
        terms = {}
        for merge in set_partitions(k):  # every coarsening of σ merges σ's blocks by a partition of them
            tau = _canonical(merge[b] for b in sigma)
            mu = 1
            for block in range(max(merge) + 1):
                c = merge.count(block)
                mu *= (-1) ** (c - 1) * math.factorial(c - 1)
            terms[index[tau]] = terms.get(index[tau], 0) + mu
        coarser.append(tuple(terms.items()))
    return parts, coarser


def _unrestricted_invariant(tau: tuple, inv: Invariants) -> float:
    """U(τ) for two factors A_{i₁j₁} A_{i₂j₂} (slots 0..3) from the invariants."""
    a, b, c, d = tau
    loop1, loop2 = a == b, c == d
    shared = len({a, b} & {c, d})
    if loop1 and loop2:
        return inv.diag_sq if a == c else inv.trace * inv.trace
    if loop1 or loop2:
        return inv.diag_row if shared else inv.trace * inv.total
    if shared == 2:
        return inv.frob
    if shared == 1:
        return inv.row_sq
    return inv.total * inv.total


def _unrestricted_dense(tau: tuple, A: np.ndarray) -> float:
    letters = "abcdefghijkl"
    subs = [letters[tau[2 * f]] + letters[tau[2 * f + 1]] for f in range(len(tau) // 2)]
    return float(np.einsum(",".join(subs) + "->", *([A] * len(subs)), optimize="greedy"))


def _restricted(m: int, unrestricted) -> np.ndarray:
    """S(σ) for every partition σ of 2m slots, from U (a function of τ) by Möbius inversion."""
    parts, coarser = _lattice(2 * m)
    U = np.array([unrestricted(t) for t in parts])
    return np.array([sum(mu * U[k] for k, mu in terms) for terms in coarser])


def _falling(n: int, k: int) -> float:
    out = 1.0
    for j in range(k):
        out *= n - j
    return out


def raw_moments(n: int, a, b, order: int = 2) -> list[float]:
    """E[T], E[T²] (and E[T³] with ``order=3``) of T = Σ A_ij B_π(i)π(j); ``a``/``b`` are :class:`Invariants`
    (order ≤ 2) or the symmetric n × n matrices themselves."""
    if order not in (1, 2, 3):
        raise ValueError(f"order must be 1, 2 or 3, got {order!r}")
    dense = isinstance(a, np.ndarray)
    if order == 3 and not dense:
        raise ValueError("the third permutation moment needs the n × n matrices (Gram space)")
    out = []
    for m in range(1, order + 1):
        parts, _ = _lattice(2 * m)
        if dense:
            sa = _restricted(m, lambda t: _unrestricted_dense(t, a))
            sb = _restricted(m, lambda t: _unrestricted_dense(t, b))
        elif m == 1:
            sa = np.array([a.trace if t == (0, 0) else a.total - a.trace for t in parts])
            sb = np.array([b.trace if t == (0, 0) else b.total - b.trace for t in parts])
        else:
            sa = _restricted(2, lambda t: _unrestricted_invariant(t, a))
            sb = _restricted(2, lambda t: _unrestricted_invariant(t, b))
        out.append(float(sum(x * y / _falling(n, max(p) + 1) for p, x, y in zip(parts, sa, sb))))
    return out


def centred_shift(inv: Invariants, n: int) -> tuple[Invariants, float]:
    """For a doubly centred A (A1 = 0): A' = A − c(I − 11ᵀ/n) with c = tr A/(n − 1) has tr A' = 0, and
    Σ A'_ij B_π(i)π(j) = T − c·tr B for any doubly centred B — the same statistic shifted by a constant, with
    mean 0 (no cancellation in the central moments). Returns (invariants of A', c)."""
    c = inv.trace / (n - 1.0)
    diag_sq = inv.diag_sq - 2.0 * c * (1.0 - 1.0 / n) * inv.trace + n * (c * (1.0 - 1.0 / n)) ** 2
    frob = inv.frob - 2.0 * c * inv.trace + c * c * (n - 1.0)
    return Invariants(0.0, 0.0, diag_sq, 0.0, 0.0, frob), c


@dataclass(frozen=True)
class NullMoments:
    """Mean, variance and skewness of a similarity under random permutation of the rows of one representation
    (``skewness`` None when only two moments are known)."""

    mean: float
    var: float
    skewness: float | None

    @property
    def sd(self) -> float:
        return math.sqrt(max(self.var, 0.0))


def null_moments(n: int, a, b, scale: float = 1.0, offset: float = 0.0, order: int = 2) -> NullMoments:
    """The permutation moments of offset + T/scale, T = Σ A_ij B_π(i)π(j)."""
    m = raw_moments(n, a, b, order)
    mean = m[0]
    var = m[1] - mean * mean
    skew = None
    if order == 3:
        third = m[2] - 3.0 * mean * m[1] + 2.0 * mean**3
        skew = third / var**1.5 if var > 0 else 0.0
    return NullMoments(offset + mean / scale, var / (scale * scale), skew)
