"""Maximum ε-match (Wang et al. 2018): repsim.max_match vs the original least-squares elimination.

The oracle is the original code's approach, written here: start from all live neurons; alternately, for all
(kept) neurons of one side, solve the least-squares problems of their activation vectors against the other side's
kept neurons with ``np.linalg.lstsq`` on the raw activation matrix (n samples × neurons), and remove every neuron
whose relative residual ‖z − S c‖ / ‖z‖ exceeds ε; repeat until nothing changes. repsim runs Algorithm 1 in C++ on
the Gram blocks of its statistics with Givens-downdated Cholesky factors (no activations, no refactorisation).

Data (``match_layers``): per layer, half of the neurons are an invertible, well-conditioned mixture (Q·diag(d),
d ∈ [0.5, 2]) of a latent Z shared by both layers, plus small noise (σ = 0.02); the other half is independent
Gaussian noise. At ε = 0.3 the mixed neurons match (relative residuals ≲ 0.05) and the noise neurons do not
(≳ √(1 − p/n) ≥ 0.89), so decisions are far from ε and the neuron sets are exactly comparable. Before timing, the
oracle's and repsim's neuron sets are asserted identical.

Variants, per (n, neurons) cell:

* ``oracle_lstsq``       the oracle above, from the activations;
* ``repsim_e2e``         ``repsim.max_match(X, Y, 0.3)`` from the arrays (accumulation + elimination);
* ``repsim_metric``      ``m.max_match("x", "y", 0.3)`` on an accumulated Moments (a fresh ``m.copy()`` per call,
                         made untimed, so the raw view is rebuilt each time: everything after the accumulation).

Plus ``test_simple_matches``: all simple matches (Algorithm 2) of a 256-neuron layer pair at n = 5 000 (large;
the default is a 64-neuron pair at n = 2 000).

Sizes: the default (and CI smoke) cells are small; the README grid (n ∈ {5 000, 50 000} × {64, 256, 512, 1024}
neurons) is marked ``large`` (``--bench-large`` / ``REPSIM_BENCH_LARGE=1``). Target: repsim ≥ 20× faster than the
oracle at 512 neurons and n = 5 000. The scaling exponents are fitted by report_cca_match.py.

Run:  pytest bench/bench_match.py [--bench-large]      (medians, ratios, exponents: python bench/report_cca_match.py)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

import repsim

EPS = 0.3
NOISE = 0.02

MATCH_CELLS_DEFAULT = ((2000, 64), (5000, 64))
MATCH_CELLS_LARGE = tuple((n, p) for n in (5000, 50_000) for p in (64, 256, 512, 1024) if (n, p) != (5000, 64))
SIMPLE_CELL_DEFAULT = (2000, 64)
SIMPLE_CELL_LARGE = (5000, 256)


# ============================================================================= data
def _orthogonal(rng, k: int) -> np.ndarray:
    Q, R = np.linalg.qr(rng.standard_normal((k, k)))
    return Q * np.sign(np.diag(R))


def match_layers(n: int, p: int, seed: int = 0, noise: float = NOISE):
    """X, Y of shape (n, p): half of each layer's neurons (random positions) are Z·Q·diag(d) + noise·N(0, 1) for
    a shared latent Z (n × p/2), the rest independent N(0, 1) neurons. Returns X, Y, planted_x, planted_y."""
    rng = np.random.default_rng(seed + 31337 * n + p)
    k = p // 2
    Z = rng.standard_normal((n, k))

    def layer():
        L = rng.standard_normal((n, p))
        planted = np.sort(rng.choice(p, k, replace=False))
        M = _orthogonal(rng, k) * rng.uniform(0.5, 2.0, k)
        L[:, planted] = Z @ M + noise * rng.standard_normal((n, k))
        return L, planted

    (X, px), (Y, py) = layer(), layer()
    return X, Y, px, py


# ============================================================================= oracle (the original approach)
def oracle_max_match(X: np.ndarray, Y: np.ndarray, eps: float) -> dict:
    """Maximum ε-match by alternating least-squares elimination on the raw activations (no centring).

    Returns x, y (sorted kept indices), ``passes`` (lstsq calls made) and ``margin``: the smallest |residual − ε|
    over all decisions (how far the data keep from a coin-flip decision).
    """
    nx, ny = np.linalg.norm(X, axis=0), np.linalg.norm(Y, axis=0)
    xs, ys = nx > 0, ny > 0  # dead neurons are never matched
    margin, passes = np.inf, 0
    while True:
        changed = False
        for Z, zn, cur, other, Zo in ((X, nx, xs, ys, Y), (Y, ny, ys, xs, X)):
            idx = np.flatnonzero(cur)
            if idx.size == 0:
                continue
            T = Z[:, idx]
            if other.any():
                S = Zo[:, other]
                coef = np.linalg.lstsq(S, T, rcond=None)[0]
                rel = np.linalg.norm(T - S @ coef, axis=0) / zn[idx]
                passes += 1
            else:
                rel = np.ones(idx.size)
            margin = min(margin, float(np.min(np.abs(rel - eps))))
            bad = idx[rel > eps]
            if bad.size:
                cur[bad] = False
                changed = True
        if not changed:
            break
    return {"x": np.flatnonzero(xs), "y": np.flatnonzero(ys), "passes": passes, "margin": margin}


# ============================================================================= repsim
def repsim_e2e(X, Y, eps: float = EPS) -> repsim.Match:
    return repsim.max_match(X, Y, eps)


def accumulate(X, Y) -> repsim.Moments:
    return repsim.Moments().update({"x": X, "y": Y})


def repsim_metric(m: repsim.Moments, eps: float = EPS) -> repsim.Match:
    return m.max_match("x", "y", eps)


def check_same_sets(oracle: dict, match: repsim.Match, px=None, py=None) -> None:
    np.testing.assert_array_equal(match.x_indices, oracle["x"], err_msg="max_match: X neurons differ from the oracle")
    np.testing.assert_array_equal(match.y_indices, oracle["y"], err_msg="max_match: Y neurons differ from the oracle")
    assert oracle["margin"] > 1e-3, f"data too close to a decision at eps={EPS}: margin {oracle['margin']:.3g}"
    if px is not None:  # the structure of the data: exactly the mixed neurons match
        np.testing.assert_array_equal(oracle["x"], px)
        np.testing.assert_array_equal(oracle["y"], py)


# ============================================================================= pytest-benchmark
@dataclass
class MatchCell:
    n: int
    p: int
    X: np.ndarray
    Y: np.ndarray
    px: np.ndarray
    py: np.ndarray
    _cache: dict = field(default_factory=dict)

    def moments(self) -> repsim.Moments:
        if "m" not in self._cache:
            self._cache["m"] = accumulate(self.X, self.Y)
        return self._cache["m"]

    def agree(self) -> None:
        if "agreed" not in self._cache:
            check_same_sets(oracle_max_match(self.X, self.Y, EPS), repsim_e2e(self.X, self.Y), self.px, self.py)
            self._cache["agreed"] = True


def _params(default, large):
    return [pytest.param(c, id="n{}_p{}".format(*c)) for c in default] + [
        pytest.param(c, id="n{}_p{}".format(*c), marks=pytest.mark.large) for c in large
    ]


@pytest.fixture(scope="module", params=_params(MATCH_CELLS_DEFAULT, MATCH_CELLS_LARGE))
def cell(request):
    n, p = request.param
    c = MatchCell(n, p, *match_layers(n, p))
    yield c
    c._cache.clear()


def _group(benchmark, cell):
    benchmark.group = f"max_match n={cell.n} neurons={cell.p} eps={EPS}"
    benchmark.extra_info.update({"n": cell.n, "p": cell.p, "eps": EPS})


def _rounds(cell, oracle=False):
    if oracle:
        return 1 if cell.n * cell.p >= 50_000 * 256 else 3
    return 3 if cell.n * cell.p >= 50_000 * 512 else 5


def test_oracle_lstsq(benchmark, cell):
    cell.agree()
    _group(benchmark, cell)
    res = benchmark.pedantic(oracle_max_match, args=(cell.X, cell.Y, EPS), rounds=_rounds(cell, True), iterations=1)
    np.testing.assert_array_equal(res["x"], cell.px)


def test_repsim_e2e(benchmark, cell):
    cell.agree()
    _group(benchmark, cell)
    res = benchmark.pedantic(repsim_e2e, args=(cell.X, cell.Y), rounds=_rounds(cell), iterations=1)
    np.testing.assert_array_equal(res.x_indices, cell.px)


def test_repsim_metric(benchmark, cell):
    cell.agree()
    _group(benchmark, cell)
    m = cell.moments()
    res = benchmark.pedantic(repsim_metric, setup=lambda: ((m.copy(),), {}), rounds=_rounds(cell), iterations=1)
    np.testing.assert_array_equal(res.y_indices, cell.py)


@pytest.mark.parametrize("size", [
    pytest.param(SIMPLE_CELL_DEFAULT, id="n{}_p{}".format(*SIMPLE_CELL_DEFAULT)),
    pytest.param(SIMPLE_CELL_LARGE, id="n{}_p{}".format(*SIMPLE_CELL_LARGE), marks=pytest.mark.large),
])
def test_simple_matches(benchmark, size):
    n, p = size
    X, Y, px, py = match_layers(n, p)
    m = accumulate(X, Y)
    benchmark.group = f"simple_matches n={n} neurons={p} eps={EPS}"
    benchmark.extra_info.update({"n": n, "p": p, "eps": EPS})
    sm = benchmark.pedantic(lambda: m.simple_matches("x", "y", EPS), rounds=3, iterations=1)
    assert len(sm) >= 1 and sum(sm.size_distribution().values()) == len(sm)
    np.testing.assert_array_equal(sm.maximum.x_indices, px)
