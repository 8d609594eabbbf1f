"""The typed interface between statistics and metrics: what a *statistics view* offers.

A view is a read-only snapshot of an accumulator's statistics at one reference point (the sample mean for centred
metrics, the origin for raw ones). Metrics (``repsim.metrics``) are pure functions ``f(view, x, y, **options)``
of a view and two site names; they never see an accumulator. Two protocols:

* :class:`TraceView` — what the trace-type metrics (linear / debiased CKA, RV, RV2, kernel CKA) read: the
  :class:`PairTerms` of two sites, inner products of their Gram matrices K = X̃X̃ᵀ, L = ỸỸᵀ with and without the
  diagonals. Feature-space views compute them from the second- and fourth-order moments (never an n × n matrix);
  Gram-space views from the fused tile passes over the stored Grams (docs/math.md §2, §4).
* :class:`FeatureView` — a :class:`TraceView` that also exposes the feature-space blocks themselves, for the
  matrix-valued metrics (CCA family, Procrustes, affine maps, neuron matches).

Both carry a per-view memo (:meth:`TraceView.memo`): per-site work (a whitening, a bandwidth) is computed once and
reused by every pair of a matrix.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Hashable, Protocol, TypeVar, runtime_checkable

import numpy as np

T = TypeVar("T")


@dataclass(frozen=True)
class PairTerms:
    """The Gram inner products of one pair of sites x, y, computed together (docs/math.md §2 i–iii, §4).

    With K, L the (centred when the view is) Grams of x and y over the n samples and K̃ = K − diag(K):

    * ``kl, kk, ll`` — ⟨K, L⟩_F, ⟨K, K⟩_F, ⟨L, L⟩_F (= ‖X̃ᵀỸ‖²_F, ‖X̃ᵀX̃‖²_F, ‖ỸᵀỸ‖²_F)
    * ``off_kl, off_kk, off_ll`` — the same sums over i ≠ j only (⟨K̃, L̃⟩_F, …; the RV2 terms)
    * ``total_k, total_l`` — 1ᵀK̃1, 1ᵀL̃1 (centred views only, else None)
    * ``row_kl, row_kk, row_ll`` — (K̃1)ᵀ(L̃1), (K̃1)ᵀ(K̃1), (L̃1)ᵀ(L̃1) (centred views only, else None)
    """

    n: int
    kl: float
    kk: float
    ll: float
    off_kl: float
    off_kk: float
    off_ll: float
    total_k: float | None = None
    total_l: float | None = None
    row_kl: float | None = None
    row_kk: float | None = None
    row_ll: float | None = None


@runtime_checkable
class TraceView(Protocol):
    """What the trace-type metrics read: :meth:`terms` of a pair of sites, computed together so that the three
    inner products of a pair always come from one computation (feature space: moments; Gram space: one fused pass
    over the tiles of both Grams)."""

    n: int
    centered: bool

    def terms(self, x: str, y: str) -> PairTerms: ...

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T: ...


@runtime_checkable
class FeatureView(TraceView, Protocol):
    """Feature-space statistics about ``reference`` (per site): blocks Σ x̃ ỹᵀ, sums, traces, fourth-order terms."""

    layout: Any
    reference: list

    def block(self, x: str, y: str) -> np.ndarray: ...

    def fourth(self, x: str, y: str) -> float: ...

    def trace(self, x: str) -> float: ...


class Memo:
    """A small per-view cache keyed by hashable tuples: ``memo(key, compute)`` (mixin)."""

    __slots__ = ()

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        store = self._memo  # type: ignore[attr-defined]
        try:
            return store[key]
        except KeyError:
            value = store[key] = compute()
            return value

    def memo_keys(self) -> tuple:
        """The keys computed so far (for tests and diagnostics)."""
        return tuple(self._memo)  # type: ignore[attr-defined]
