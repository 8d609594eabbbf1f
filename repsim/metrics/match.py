"""Neuron-subspace matches of Wang et al. (2018): maximum match, match curves, minimum and simple matches.

The elimination runs on the Gram blocks of the statistics — no activations, no column subsampling — in C++
(csrc/kernels/maxmatch.hpp) or, on a build without a compiler, in its Numba port (repsim/_kernels/numba_match.py;
``engine=``), with the same results (docs/matches.md, docs/math.md §2 ix).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import warnings

import numpy as np

from .._engines import default_threads, resolve_match_engine
from .._limits import DEAD_EPS
from .._validation import choice, dtype_eps, flag, integer, real
from ..plot import plot_match_curve, plot_simple_matches
from ..views import FeatureView


#: Reprs list at most this many values (ε of a curve, sizes of simple matches) before eliding the middle.
_REPR_ITEMS = 6


def _elide(items: list) -> str:
    """``items`` joined by ", ", the middle replaced by "…" when there are more than :data:`_REPR_ITEMS`."""
    if len(items) > _REPR_ITEMS:
        items = [*items[: _REPR_ITEMS - 2], "…", *items[-2:]]
    return ", ".join(items)


def _ints(a) -> list:
    return [int(v) for v in a]


@dataclass(frozen=True, repr=False)
class Match:
    """An ε-approximate match (X, Y) between the neurons of two layers.

    ``repr`` is a one-line summary (ε, matched and counted neurons of each layer, similarity, dead neurons); the
    indices are in the attributes and :meth:`to_dict`.

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
        Dead neurons, never matched: an activation vector at the rounding level of its layer — squared norm at most
        (8·ε)² times the largest of the layer (with ``center=True`` also times its own uncentred squared norm), ε the
        machine epsilon of the activations' dtype (docs/matches.md): all-zero neurons, float32 rounding noise, and
        constant neurons with ``center=True``.
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

    def __repr__(self) -> str:
        dead = ""
        if self.dead_x.size or self.dead_y.size:
            dead = f", dead neurons {self.dead_x.size} and {self.dead_y.size}"
        return (f"Match(eps={self.eps:g}, size {self.x_indices.size}/{self.n_x} \u00d7 {self.y_indices.size}/"
                f"{self.n_y} neurons, similarity {self.similarity:.3f}{dead})")

    def to_dict(self) -> dict:
        """JSON-ready dictionary: every attribute, indices as lists of int (similarity None when undefined)."""
        return {
            "eps": float(self.eps),
            "similarity": float(self.similarity) if np.isfinite(self.similarity) else None,
            "n_x": int(self.n_x),
            "n_y": int(self.n_y),
            "x_indices": _ints(self.x_indices),
            "y_indices": _ints(self.y_indices),
            "dead_x": _ints(self.dead_x),
            "dead_y": _ints(self.dead_y),
        }


@dataclass(frozen=True, repr=False)
class MatchCurve:
    """Maximum matches over several ε: ``similarity[k]`` is s(eps[k]), ``matches[k]`` the maximum match.

    ``repr`` lists s(ε) per ε (eliding the middle of long curves) and the layers' neuron counts; :meth:`plot` draws
    the curve (:func:`repsim.plot.plot_match_curve`).
    """

    eps: np.ndarray
    similarity: np.ndarray
    matches: tuple

    def __repr__(self) -> str:
        points = [f"s({e:g})={s:.3f}" for e, s in zip(np.asarray(self.eps).tolist(),
                                                       np.asarray(self.similarity).tolist())]
        neurons = f", {self.matches[0].n_x} \u00d7 {self.matches[0].n_y} neurons" if self.matches else ""
        return f"MatchCurve({_elide(points)}{neurons})"

    def to_dict(self, matches: bool = False) -> dict:
        """JSON-ready dictionary of ε and s(ε); with ``matches=True`` also every maximum match
        (:meth:`Match.to_dict`)."""
        out = {"eps": self.eps.tolist(), "similarity": self.similarity.tolist()}
        if flag(matches, "matches"):
            out["matches"] = [m.to_dict() for m in self.matches]
        return out

    def plot(self, ax=None, **kwargs):
        """s(ε) against ε → the matplotlib ``Axes`` (:func:`repsim.plot.plot_match_curve`: ``label``, ``title``,
        ``legend`` and line options)."""
        return plot_match_curve(self, ax, **kwargs)


class SimpleMatches(list):
    """The distinct v-minimum matches (the simple matches) of one ε, largest first, with their size distribution.

    ``repr`` summarises ε, the number of simple matches, their size distribution and the maximum match; the matches
    themselves are the list's items, and :meth:`to_dict` holds everything.
    """

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

    def __repr__(self) -> str:
        dist = _elide([f"{k}: {v}" for k, v in self.size_distribution().items()])
        m = self.maximum
        count = f"{len(self)} simple match{'' if len(self) == 1 else 'es'}"
        return (f"SimpleMatches(eps={self.eps:g}, {count}, sizes {{{dist}}}, maximum match {m.x_indices.size}/{m.n_x} "
                f"\u00d7 {m.y_indices.size}/{m.n_y} neurons)")

    def to_dict(self) -> dict:
        """JSON-ready dictionary: ε, the count, the size distribution (size → count), the maximum match and every
        simple match (:meth:`Match.to_dict`), largest first."""
        return {
            "eps": float(self.eps),
            "count": len(self),
            "size_distribution": {str(k): v for k, v in self.size_distribution().items()},
            "maximum": self.maximum.to_dict(),
            "matches": [m.to_dict() for m in self],
        }

    def plot(self, ax=None, **kwargs):
        """The size distribution as bars → the matplotlib ``Axes`` (:func:`repsim.plot.plot_simple_matches`:
        ``title`` and bar options)."""
        return plot_simple_matches(self, ax, **kwargs)


def _check_eps(eps, name="eps"):
    return real(eps, name, 0.0, 1.0)


def _eps_array(eps) -> np.ndarray:
    """ε or a non-empty 1-D sequence of them as a float64 array, each in [0, 1] (TypeError for non-numbers)."""
    values = eps.tolist() if isinstance(eps, np.ndarray) else eps
    if not isinstance(values, (list, tuple)):
        values = [values]
    if not values or any(isinstance(e, (list, tuple)) for e in values):
        raise ValueError(f"eps must be a number or a non-empty 1-D sequence of numbers, got {eps!r}")
    return np.array([_check_eps(e) for e in values], dtype=np.float64)


def _row_major_symmetric(S: np.ndarray) -> np.ndarray:
    """A C-contiguous array equal to the symmetric S: its transpose when S is Fortran-ordered (no copy)."""
    return S.T if S.flags.f_contiguous and not S.flags.c_contiguous else np.ascontiguousarray(S)


class _Blocks:
    """Gram blocks, means and live masks of one pair of sites, laid out for the match engine (C++ or Numba)."""

    def __init__(self, view: FeatureView, x: str, y: str, center: bool, dead: str, dtype=None):
        choice(dead, "dead", ("count", "exclude"))
        self.center = flag(center, "center")
        self.dead_tol = (DEAD_EPS * dtype_eps(dtype)) ** 2
        self.A = _row_major_symmetric(view.block(x, x))
        self.B = _row_major_symmetric(view.block(y, y))
        self.C = np.ascontiguousarray(view.block(x, y))
        self.mu = np.ascontiguousarray(view.reference[view.layout.index(x)], dtype=np.float64)
        self.nu = np.ascontiguousarray(view.reference[view.layout.index(y)], dtype=np.float64)
        self.n = float(view.n)
        self.live_x = self._live(self.A, self.mu)
        self.live_y = self._live(self.B, self.nu)
        self.p, self.q = self.A.shape[0], self.B.shape[0]
        for site, live in ((x, self.live_x), (y, self.live_y)):
            if not live.any():
                warnings.warn(
                    f"neuron matches: every neuron of site {site!r} is dead (zero, or at the rounding level of its "
                    f"dtype{'; constant, with center=True' if self.center else ''}); none of them can be matched",
                    RuntimeWarning, stacklevel=5,
                )
        if dead == "count":
            self.n_x, self.n_y = self.p, self.q
        else:
            self.n_x, self.n_y = int(self.live_x.sum()), int(self.live_y.sum())

    def _live(self, G, mean):
        """Neurons above the rounding level: squared norm > dead_tol × the layer's largest (centred: also × its own
        uncentred squared norm, so that a constant neuron's centring residue counts as zero)."""
        centred = np.diag(G).copy()
        raw = centred + self.n * mean**2
        norm2 = centred if self.center else raw
        top = norm2.max() if norm2.size else 0.0
        if not top > 0:
            return np.zeros(norm2.shape, bool)
        return norm2 > self.dead_tol * (np.maximum(top, raw) if self.center else top)

    def args(self):
        return (self.A, self.B, self.C, self.mu, self.nu, self.n, self.center)

    def match(self, mx, my, eps) -> Match:
        denom = self.n_x + self.n_y
        xi, yi = np.flatnonzero(mx), np.flatnonzero(my)
        sim = (xi.size + yi.size) / denom if denom else float("nan")
        return Match(xi, yi, float(sim), float(eps), self.n_x, self.n_y,
                     np.flatnonzero(~self.live_x), np.flatnonzero(~self.live_y))


def match_curve_from_stats(view, x, y, eps, center=False, dead="count", dtype=None, engine="auto") -> MatchCurve:
    """``engine``: "auto" (the compiled core when it is built, Numba otherwise), "cpp" or "numba"."""
    _, kernels = resolve_match_engine(engine)
    eps_arr = _eps_array(eps)
    blocks = _Blocks(view, x, y, center, dead, dtype)
    order = np.argsort(-eps_arr, kind="stable")
    masks = kernels.max_match_curve(*blocks.args(), blocks.live_x, blocks.live_y, np.ascontiguousarray(eps_arr[order]))
    matches = [None] * eps_arr.size
    for k, (mx, my) in zip(order, masks):
        matches[k] = blocks.match(mx, my, eps_arr[k])
    return MatchCurve(eps_arr, np.array([m.similarity for m in matches]), tuple(matches))


def max_match_from_stats(view, x, y, eps, center=False, dead="count", dtype=None, engine="auto") -> Match:
    return match_curve_from_stats(view, x, y, [_check_eps(eps)], center, dead, dtype, engine).matches[0]


def simple_matches_from_stats(view, x, y, eps, center=False, dead="count", n_threads=None,
                              dtype=None, engine="auto") -> SimpleMatches:
    _, kernels = resolve_match_engine(engine)
    eps = _check_eps(eps)
    if n_threads is not None:
        n_threads = integer(n_threads, "n_threads", 1, "a positive int or None")
    blocks = _Blocks(view, x, y, center, dead, dtype)
    (mx, my), = kernels.max_match_curve(*blocks.args(), blocks.live_x, blocks.live_y, np.array([eps]))
    maximum = blocks.match(mx, my, eps)
    vs = np.concatenate([maximum.x_indices, blocks.p + maximum.y_indices]).astype(np.int64)
    threads = default_threads() if n_threads is None else n_threads
    found = kernels.minimum_matches(*blocks.args(), mx, my, eps, np.ascontiguousarray(vs), threads)
    distinct = {}
    for mx_v, my_v in found:
        m = blocks.match(mx_v, my_v, eps)
        distinct.setdefault(m.key(), m)
    ordered = sorted(distinct.values(), key=lambda m: (-m.size, m.key()))
    return SimpleMatches(ordered, eps, maximum)


# ---------------------------------------------------------------------------------------------- array functions
