"""Neuron-subspace matches of Wang et al. (2018): maximum match, match curves, minimum and simple matches.

The elimination runs in C++ (csrc/kernels/maxmatch.hpp) on the Gram blocks of the statistics — no activations,
no column subsampling (docs/matches.md, docs/math.md §2 ix).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from .._engines import require_core
from ..statistics import StatisticsView
from ._common import one_shot

# A neuron is dead when its squared norm is below DEAD_RTOL times the largest squared norm of its layer.
DEAD_RTOL = 1e-28


@dataclass(frozen=True)
class Match:
    """An ε-approximate match (X, Y) between the neurons of two layers.

    Attributes
    ----------
    x_indices, y_indices : ndarray of int
        The matched neurons of each layer (sorted).
    similarity : float
        (|X| + |Y|) / (n_x + n_y): for a maximum match, Wang et al.'s maximal matching similarity s(ε).
    eps : float
    n_x, n_y : int
        Neurons counted in the denominator (all neurons, or the live ones with ``dead="exclude"``).
    dead_x, dead_y : ndarray of int
        Dead neurons (zero activation vector; constant ones with ``center=True``), never matched.
    """

    x_indices: np.ndarray
    y_indices: np.ndarray
    similarity: float
    eps: float
    n_x: int
    n_y: int
    dead_x: np.ndarray
    dead_y: np.ndarray

    @property
    def size(self) -> int:
        return int(self.x_indices.size + self.y_indices.size)

    def key(self) -> tuple:
        return (tuple(int(i) for i in self.x_indices), tuple(int(j) for j in self.y_indices))


@dataclass(frozen=True)
class MatchCurve:
    """Maximum matches over several ε: ``similarity[k]`` is s(eps[k])."""

    eps: np.ndarray
    similarity: np.ndarray
    matches: tuple

    def to_dict(self) -> dict:
        return {"eps": self.eps.tolist(), "similarity": self.similarity.tolist()}


class SimpleMatches(list):
    """The distinct v-minimum matches (the simple matches) of one ε, largest first, with their size distribution."""

    def __init__(self, matches, eps: float, maximum: Match):
        super().__init__(matches)
        self.eps = eps
        self.maximum = maximum

    @property
    def sizes(self) -> np.ndarray:
        """|X| + |Y| of every simple match."""
        return np.array([m.size for m in self], dtype=int)

    def size_distribution(self) -> dict:
        """size → number of simple matches of that size (seed 003's Figure 2)."""
        return dict(sorted(Counter(self.sizes.tolist()).items()))


def _check_eps(eps, name="eps"):
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(eps).__name__}")
    e = float(eps)
    if not (0.0 <= e <= 1.0):
        raise ValueError(f"{name} must be in [0, 1], got {eps!r}")
    return e


def _row_major_symmetric(S: np.ndarray) -> np.ndarray:
    """A C-contiguous array equal to the symmetric S: its transpose when S is Fortran-ordered (no copy)."""
    return S.T if S.flags.f_contiguous and not S.flags.c_contiguous else np.ascontiguousarray(S)


class _Blocks:
    """Gram blocks, means and live masks of one pair of sites, laid out for the C++ engine."""

    def __init__(self, view: StatisticsView, x: str, y: str, center: bool, dead: str):
        if dead not in ("count", "exclude"):
            raise ValueError(f"dead must be 'count' or 'exclude', got {dead!r}")
        self.A = _row_major_symmetric(view.block(x, x))
        self.B = _row_major_symmetric(view.block(y, y))
        self.C = np.ascontiguousarray(view.block(x, y))
        self.mu = np.ascontiguousarray(view.reference[view.layout.index(x)], dtype=np.float64)
        self.nu = np.ascontiguousarray(view.reference[view.layout.index(y)], dtype=np.float64)
        self.n = float(view.n)
        self.center = bool(center)
        self.live_x = self._live(self.A, self.mu)
        self.live_y = self._live(self.B, self.nu)
        self.p, self.q = self.A.shape[0], self.B.shape[0]
        if dead == "count":
            self.n_x, self.n_y = self.p, self.q
        else:
            self.n_x, self.n_y = int(self.live_x.sum()), int(self.live_y.sum())

    def _live(self, G, mean):
        norm2 = np.diag(G).copy()
        if not self.center:
            norm2 = norm2 + self.n * mean**2
        top = norm2.max() if norm2.size else 0.0
        return norm2 > DEAD_RTOL * top if top > 0 else np.zeros(norm2.shape, bool)

    def args(self):
        return (self.A, self.B, self.C, self.mu, self.nu, self.n, self.center)

    def match(self, mx, my, eps) -> Match:
        denom = self.n_x + self.n_y
        xi, yi = np.flatnonzero(mx), np.flatnonzero(my)
        sim = (xi.size + yi.size) / denom if denom else float("nan")
        return Match(xi, yi, float(sim), float(eps), self.n_x, self.n_y,
                     np.flatnonzero(~self.live_x), np.flatnonzero(~self.live_y))


def match_curve_from_stats(view, x, y, eps, center=False, dead="count") -> MatchCurve:
    core = require_core("max_match")
    eps_arr = np.atleast_1d(np.asarray(eps, dtype=np.float64))
    if eps_arr.ndim != 1 or eps_arr.size == 0:
        raise ValueError("eps must be a number or a non-empty 1-D sequence")
    for e in eps_arr:
        _check_eps(float(e))
    blocks = _Blocks(view, x, y, center, dead)
    order = np.argsort(-eps_arr, kind="stable")
    masks = core.max_match_curve(*blocks.args(), blocks.live_x, blocks.live_y, np.ascontiguousarray(eps_arr[order]))
    matches = [None] * eps_arr.size
    for k, (mx, my) in zip(order, masks):
        matches[k] = blocks.match(mx, my, eps_arr[k])
    return MatchCurve(eps_arr, np.array([m.similarity for m in matches]), tuple(matches))


def max_match_from_stats(view, x, y, eps, center=False, dead="count") -> Match:
    return match_curve_from_stats(view, x, y, [_check_eps(eps)], center, dead).matches[0]


def simple_matches_from_stats(view, x, y, eps, center=False, dead="count", n_threads=None) -> SimpleMatches:
    from .._engines import default_threads

    core = require_core("simple_matches")
    eps = _check_eps(eps)
    blocks = _Blocks(view, x, y, center, dead)
    (mx, my), = core.max_match_curve(*blocks.args(), blocks.live_x, blocks.live_y, np.array([eps]))
    maximum = blocks.match(mx, my, eps)
    vs = np.concatenate([maximum.x_indices, blocks.p + maximum.y_indices]).astype(np.int64)
    threads = default_threads() if n_threads is None else int(n_threads)
    found = core.minimum_matches(*blocks.args(), mx, my, eps, np.ascontiguousarray(vs), threads)
    distinct = {}
    for mx_v, my_v in found:
        m = blocks.match(mx_v, my_v, eps)
        distinct.setdefault(m.key(), m)
    ordered = sorted(distinct.values(), key=lambda m: (-m.size, m.key()))
    return SimpleMatches(ordered, eps, maximum)


# ---------------------------------------------------------------------------------------------- array functions
def max_match(X, Y, eps: float, center: bool = False, dead: str = "count") -> Match:
    """Maximum ε-approximate match between the neurons of two layers (Wang et al. 2018, Algorithm 1).

    (X', Y') is an ε-approximate match when every neuron x ∈ X' has dist(z_x, span z_Y') ≤ ε‖z_x‖ and every
    y ∈ Y' has dist(z_y, span z_X') ≤ ε‖z_y‖, where z_v ∈ Rⁿ is neuron v's activation vector over the samples.
    Matches are closed under union, so a unique maximum match exists; it is found by removing, alternately from each
    side, every neuron that violates the condition against the other side's remaining neurons, until nothing
    changes. The distances come from the Gram blocks (docs/math.md §2 ix, stable form) with Cholesky factors of each side's
    kept neurons: removals are Givens downdates, O((p+q)·m) each, unless a sweep removes so much that refactorising
    the survivors is cheaper, which LAPACK does (``dpotrf`` + one ``dtrsm`` for every distance, SciPy's BLAS). The
    first sweep prunes X against span(Y) before span(X) is factorised at all. No activations, no subsampling.

    Parameters
    ----------
    X : array of shape (n_samples, p)
        Activations of layer 1 (for conv layers: one row per input × position, one column per channel).
    Y : array of shape (n_samples, q)
    eps : float in [0, 1]
    center : bool, default False
        False: the linear span of the raw activation vectors, as in the paper. True: centre every neuron first
        (affine span).
    dead : {"count", "exclude"}
        Dead neurons (all-zero activation; constant ones when ``center=True``) are never matched. "count" keeps
        them in the denominator of the similarity, as the original code does; "exclude" leaves them out.

    Returns
    -------
    Match
        ``x_indices``, ``y_indices``, ``similarity`` = (|X*| + |Y*|)/(n_x + n_y), ``eps``.

    Notes
    -----
    Linear dependence is decided with a relative tolerance of 1e-6 on distances, so ε below ~1e-5 is not resolved.

    Invariances
    -----------
    Invertible linear maps of either layer map matches to matches only neuron-wise: s(ε) is invariant to
    permutations and to per-neuron scaling of either layer, and s(ε) = 1 when Y = X·M with M invertible.

    References
    ----------
    Wang, Hu, Gu, Wu, Hu, He, Hopcroft. Towards Understanding Learning Representations: To What Extent Do Different
    Neural Networks Learn the Same Representation. NeurIPS 2018.
    """
    return one_shot(X, Y).max_match("X", "Y", eps, center=center, dead=dead)


def match_curve(X, Y, eps=(0.1, 0.2, 0.3, 0.4, 0.5), center: bool = False, dead: str = "count") -> MatchCurve:
    """Maximal matching similarity s(ε) for several ε from one factorisation.

    Maximum matches are nested (ε₁ < ε₂ ⇒ M(ε₁) ⊆ M(ε₂)), so the largest ε runs first and every smaller one
    continues the elimination from its result. Parameters as in :func:`max_match`.

    Returns
    -------
    MatchCurve
        ``eps``, ``similarity`` and the ``matches`` themselves, in the order of ``eps``.
    """
    return one_shot(X, Y).match_curve("X", "Y", eps, center=center, dead=dead)


def simple_matches(X, Y, eps: float, center: bool = False, dead: str = "count", n_threads=None) -> SimpleMatches:
    """The simple matches (distinct v-minimum matches) between two layers at one ε (Wang et al. 2018, Algorithm 2).

    For every neuron v of the maximum match, the v-minimum match starts from the maximum match and tries to remove
    each other neuron u in turn (index order: X's neurons, then Y's); the removal is kept when v still belongs to the
    maximum match of the remaining sets. The distinct results are the simple matches.

    Complexity: neurons outside the maximum match never return, so the search runs on the Gram blocks restricted
    to the maximum match (M = |X*| + |Y*| neurons). Each v costs up to M trial eliminations, each warm-started from
    the current state (a copy of the factorisations, O(m·M), plus the downdates of its removals) and stopped as soon
    as v leaves, so O(M³·m) overall; neurons v are processed in parallel over ``n_threads`` C++ threads.
    Measured: all simple matches of a 256-neuron layer pair (M = 256) in 8–9 s on 2 cores.

    Returns
    -------
    SimpleMatches
        A list of :class:`Match` (largest first) with ``.sizes``, ``.size_distribution()`` and ``.maximum``.
    """
    return one_shot(X, Y).simple_matches("X", "Y", eps, center=center, dead=dead, n_threads=n_threads)
