"""CCA / SVCCA / PWCCA: repsim vs a straightforward in-memory NumPy implementation in the style of google/svcca.

The baseline (written here from the description of google/svcca's ``cca_core``, not copied) works on
(neurons × samples) arrays held in memory:

* CCA: ``np.cov`` of the stacked arrays (ddof = 1), each block scaled by the largest absolute entry of its side's
  covariance (the cross block by the geometric mean), Σ^{-1/2} = symmetric square root (``eigh``) of
  ``np.linalg.pinv(Σ)``, ρ = singular values of Σxx^{-1/2} Σxy Σyy^{-1/2} (``np.linalg.svd``).
* SVCCA: SVD of each side's centred data, keep the fewest directions holding 99 % of Σs², project (s_k · v_kᵀ),
  then the CCA above on the reduced arrays; the summary is the mean ρ.
* PWCCA (google's ``compute_pwcca``): the CCA above, then directions uᵀ(acts − μ) + μ, P = Q of
  ``np.linalg.qr(directions.T)``, α_i = Σ_j |⟨P_i, acts_j⟩| on the uncentred activations, value Σ (α/Σα)·ρ.
  repsim's matching number is ``repsim.pwcca(X, Y, convention="google")``; its default (``"morcos"``, the paper's
  definition) shares the ρ and is timed too.

Before anything is timed, the baseline's ρ and repsim's ρ are checked to agree (max |Δρ| ≤ 1e-8; the SVCCA
truncation ranks must be equal; PWCCA values to 1e-8).

repsim is timed two ways:

* ``repsim_e2e_*``     from the arrays: ``repsim.cca(X, Y)`` etc. (one accumulation of both + the metric);
* ``repsim_metric_*``  metric only, from an already accumulated ``Moments`` (a fresh ``m.copy()`` per call, made
                       untimed, so that the centred view and the per-site factorisations are recomputed, not
                       served from the cache);
* ``repsim_accumulate`` the accumulation alone (``Moments().update({"x": X, "y": Y})``).

Also an 8 × 8 layer PWCCA matrix from one accumulation (``m.matrix("pwcca")``) vs 64 pairwise
``repsim.pwcca(X_i, X_j)`` calls vs the baseline called 64 times.

Sizes: the default run (and the CI smoke test ``pytest bench --benchmark-disable``) uses small cells; the sizes
of the README table (n ∈ {10 000, 50 000}, p = q ∈ {512, 2048}; matrix of 8 layers × 256 at n = 10 000) are marked
``large`` (``--bench-large`` or ``REPSIM_BENCH_LARGE=1``). n = 50 000, p = 2048 holds two 800 MB arrays and the
baseline's stacked/centred copies (~5 GB peak); the baseline runs once there (pedantic, rounds = 1).

Run:  pytest bench/bench_cca.py [--bench-large]      (medians and ratios: python bench/report_cca_match.py)
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pytest

import repsim

RHO_ATOL = 1e-8
VALUE_RTOL = 1e-8
# google's PWCCA number depends on the (arbitrary) signs of the SVD's singular vectors: direction i is
# u_iᵀ(x − μ) + μ_i, and flipping u_i changes it by more than a sign. repsim and the baseline factorise matrices
# that agree to ~1e-15 but LAPACK may still pick a different sign for a column (seen at n = 10 000, p = 512: one
# column of 512 → 9e-6 relative); over random sign choices the value spreads by ~1e-3. So google's value is
# compared with this tolerance, the correlations and Morcos's (sign-free) value to 1e-8.
GOOGLE_VALUE_RTOL = 1e-2

# (n, p) with p = q. Small cells run by default; the README's grid is "large".
CCA_CELLS_DEFAULT = ((2000, 128),)
CCA_CELLS_LARGE = ((10_000, 512), (10_000, 2048), (50_000, 512), (50_000, 2048))
# layer-matrix cells: (n, layers, width)
MATRIX_CELLS_DEFAULT = ((2000, 8, 64),)
MATRIX_CELLS_LARGE = ((10_000, 8, 256),)

METRICS_BASELINE = ("cca", "svcca", "pwcca")
METRICS_REPSIM = ("cca", "svcca", "pwcca", "pwcca_morcos")


# ============================================================================= data
def cca_pair(n: int, p: int, q: int | None = None, seed: int = 0):
    """X (n, p), Y (n, q): noisy views of a shared latent of dimension min(p, q)/2, with per-neuron scales and
    non-zero means. C-contiguous float64. Correlation matrices are well conditioned (≲ 10²), ρ spread over (0, 1)."""
    q = p if q is None else q
    rng = np.random.default_rng(seed + 7919 * n + p)
    k = max(1, min(p, q) // 2)
    Z = rng.standard_normal((n, k))

    def side(m):
        A = Z @ (rng.standard_normal((k, m)) / np.sqrt(k))
        A += 0.6 * rng.standard_normal((n, m))
        A *= rng.uniform(0.5, 2.0, m)
        A += rng.normal(1.0, 1.0, m)
        return A

    return side(p), side(q)


def layer_stack(n: int, layers: int, width: int, seed: int = 0) -> dict:
    """``layers`` layers of a toy network: L0 noisy latent features, L_{i+1} = tanh(L_i W_i) + noise."""
    rng = np.random.default_rng(seed + 104729 * n + width)
    k = width // 2
    Z = rng.standard_normal((n, k))
    cur = Z @ rng.standard_normal((k, width)) / np.sqrt(k) + 0.3 * rng.standard_normal((n, width))
    out = {}
    for i in range(layers):
        out[f"layer{i}"] = np.ascontiguousarray(cur)
        W = rng.standard_normal((width, width)) / np.sqrt(width)
        cur = np.tanh(cur @ W) + 0.3 * rng.standard_normal((n, width)) + 0.1
    return out


# ============================================================================= baseline (google/svcca style)
def _cov_blocks(acts1: np.ndarray, acts2: np.ndarray):
    """Max-scaled covariance blocks of (neurons × samples) arrays, from np.cov of the stacked arrays."""
    p = acts1.shape[0]
    cov = np.cov(np.vstack([acts1, acts2]))
    sxx, sxy, syy = cov[:p, :p], cov[:p, p:], cov[p:, p:]
    xmax, ymax = np.max(np.abs(sxx)), np.max(np.abs(syy))
    return sxx / xmax, sxy / np.sqrt(xmax * ymax), syy / ymax


def _inv_sqrt(M: np.ndarray) -> np.ndarray:
    """Σ^{-1/2} as the eigen square root of the pseudo-inverse (negative rounding eigenvalues clipped)."""
    lam, V = np.linalg.eigh(np.linalg.pinv(M))
    return (V * np.sqrt(np.clip(lam, 0.0, None))) @ V.T


def baseline_cca(acts1: np.ndarray, acts2: np.ndarray) -> dict:
    """All canonical correlations of (neurons × samples) arrays: {"rho", "u", "sxx", "ix"} (u: X-side singular
    vectors, sxx: X's max-scaled covariance, ix: its Σ^{-1/2})."""
    sxx, sxy, syy = _cov_blocks(acts1, acts2)
    ix = _inv_sqrt(sxx)
    u, s, _ = np.linalg.svd(ix @ sxy @ _inv_sqrt(syy))
    return {"rho": np.abs(s), "u": u, "sxx": sxx, "ix": ix}


def _svd_reduce(acts: np.ndarray, keep: float) -> np.ndarray:
    c = acts - acts.mean(axis=1, keepdims=True)
    _, s, vt = np.linalg.svd(c, full_matrices=False)
    frac = np.cumsum(s**2) / np.sum(s**2)
    k = int(np.searchsorted(frac, keep) + 1)
    k = min(k, s.size)
    return s[:k, None] * vt[:k]


def baseline_svcca(acts1: np.ndarray, acts2: np.ndarray, keep: float = 0.99) -> dict:
    r1, r2 = _svd_reduce(acts1, keep), _svd_reduce(acts2, keep)
    res = baseline_cca(r1, r2)
    return {"rho": res["rho"], "value": float(res["rho"].mean()), "kx": r1.shape[0], "ky": r2.shape[0]}


def baseline_pwcca(acts1: np.ndarray, acts2: np.ndarray) -> dict:
    """google's compute_pwcca with epsilon = 0 (X no wider than Y)."""
    res = baseline_cca(acts1, acts2)
    rho, u = res["rho"], res["u"]
    mu = acts1.mean(axis=1, keepdims=True)
    dirns = u.T @ (acts1 - mu) + mu
    P, _ = np.linalg.qr(dirns.T)
    alpha = np.abs(P.T @ acts1.T).sum(axis=1)
    w = alpha / alpha.sum()
    return {"rho": rho, "value": float(np.sum(w * rho)), "weights": w, "u": u, "sxx": res["sxx"], "ix": res["ix"]}


def morcos_value(base: dict) -> float:
    """Morcos et al.'s PWCCA (X side, p <= q) from a baseline result, for the agreement check only (untimed).

    α_i = Σ_j |⟨h_i, x_j⟩| with h_i the unit-norm canonical variate X_c Σxx^{-1/2} u_i and x_j the centred neurons;
    from the covariance: α_i ∝ Σ_j |(aᵢᵀ Σxx)_j| / √(aᵢᵀ Σxx aᵢ), a = Σxx^{-1/2} u (the common scale cancels).
    Unlike google's number this does not depend on the signs of the singular vectors.
    """
    a = base["ix"] @ base["u"]
    Sa = base["sxx"] @ a
    alpha = np.abs(Sa).sum(axis=0) / np.sqrt(np.einsum("ij,ij->j", a, Sa))
    w = alpha / alpha.sum()
    return float(w @ base["rho"])


BASELINES = {"cca": baseline_cca, "svcca": baseline_svcca, "pwcca": baseline_pwcca}


# ============================================================================= repsim calls
def repsim_e2e(metric: str, X, Y):
    """repsim from the arrays (accumulation + metric); returns a comparable dict."""
    if metric == "cca":
        return {"rho": repsim.cca(X, Y).rho}
    if metric == "svcca":
        r = repsim.svcca(X, Y, keep=0.99, return_result=True)
        return {"rho": r.rho, "value": r.mean_rho, "kx": r.rank_x, "ky": r.rank_y}
    if metric == "pwcca":
        r = repsim.pwcca(X, Y, convention="google", return_result=True)
        return {"rho": r.rho, "value": r.value}
    if metric == "pwcca_morcos":
        r = repsim.pwcca(X, Y, return_result=True)
        return {"rho": r.rho, "value": r.value}
    raise ValueError(metric)


def repsim_metric(metric: str, m: repsim.Moments, x: str = "x", y: str = "y"):
    """repsim metric only, from an accumulated Moments."""
    if metric == "cca":
        return {"rho": m.cca(x, y).rho}
    if metric == "svcca":
        r = m.svcca(x, y, keep=0.99, return_result=True)
        return {"rho": r.rho, "value": r.mean_rho, "kx": r.rank_x, "ky": r.rank_y}
    if metric == "pwcca":
        r = m.pwcca(x, y, convention="google", return_result=True)
        return {"rho": r.rho, "value": r.value}
    if metric == "pwcca_morcos":
        r = m.pwcca(x, y, return_result=True)
        return {"rho": r.rho, "value": r.value}
    raise ValueError(metric)


def accumulate(X, Y) -> repsim.Moments:
    return repsim.Moments().update({"x": X, "y": Y})


def check_agreement(metric: str, base: dict, mine: dict) -> float:
    """Assert that repsim's result (``metric`` in METRICS_REPSIM) matches the baseline's; returns max |Δρ|."""
    rb, rm = np.sort(base["rho"])[::-1], np.asarray(mine["rho"])
    if metric == "svcca":
        assert (mine["kx"], mine["ky"]) == (base["kx"], base["ky"]), (
            f"svcca truncation differs: repsim keeps {(mine['kx'], mine['ky'])}, baseline {(base['kx'], base['ky'])}"
        )
    assert rm.shape == rb.shape, f"{metric}: {rm.shape} correlations vs baseline {rb.shape}"
    d = float(np.max(np.abs(rm - rb))) if rb.size else 0.0
    assert d <= RHO_ATOL, f"{metric}: max |Δρ| = {d:.3g} > {RHO_ATOL}"
    if metric in ("svcca", "pwcca", "pwcca_morcos"):
        ref = morcos_value(base) if metric == "pwcca_morcos" else base["value"]
        tol = GOOGLE_VALUE_RTOL if metric == "pwcca" else VALUE_RTOL
        rel = abs(mine["value"] - ref) / abs(ref)
        assert rel <= tol, f"{metric}: value {mine['value']!r} vs baseline {ref!r} (rel {rel:.3g} > {tol})"
    return d


# ============================================================================= pytest-benchmark
@dataclass
class CCACell:
    n: int
    p: int
    X: np.ndarray
    Y: np.ndarray
    large: bool
    _cache: dict = field(default_factory=dict)

    @property
    def acts(self):
        return self.X.T, self.Y.T  # (neurons × samples) views, google's layout; no copy

    def moments(self) -> repsim.Moments:
        if "m" not in self._cache:
            self._cache["m"] = accumulate(self.X, self.Y)
        return self._cache["m"]

    def baseline(self, metric: str) -> dict:
        key = ("base", "pwcca" if metric == "pwcca_morcos" else metric)
        if key not in self._cache:
            self._cache[key] = BASELINES[key[1]](*self.acts)
        return self._cache[key]

    def agree(self, metric: str) -> None:
        """Checked once per (cell, metric) before its first timing."""
        key = ("agreed", metric)
        if key not in self._cache:
            check_agreement(metric, self.baseline(metric), repsim_metric(metric, self.moments().copy()))
            self._cache[key] = True


def _cells(default, large):
    return [pytest.param(c, id="n{}_p{}".format(*c)) for c in default] + [
        pytest.param(c, id="n{}_p{}".format(*c), marks=pytest.mark.large) for c in large
    ]


@pytest.fixture(scope="module", params=_cells(CCA_CELLS_DEFAULT, CCA_CELLS_LARGE))
def cell(request):
    n, p = request.param
    X, Y = cca_pair(n, p)
    c = CCACell(n, p, X, Y, large=(n, p) not in CCA_CELLS_DEFAULT)
    yield c
    c._cache.clear()


def _rounds(cell: CCACell, baseline: bool = False) -> int:
    if baseline:
        return 1 if cell.n * cell.p >= 50_000 * 512 else 3
    return 3 if cell.n * cell.p >= 10_000 * 2048 else 5


def _group(benchmark, cell, what):
    benchmark.group = f"{what} n={cell.n} p=q={cell.p}"
    benchmark.extra_info.update({"n": cell.n, "p": cell.p, "q": cell.p})


@pytest.mark.parametrize("metric", METRICS_BASELINE)
def test_baseline(benchmark, cell, metric):
    cell.agree(metric)
    _group(benchmark, cell, metric)
    res = benchmark.pedantic(BASELINES[metric], args=cell.acts, rounds=_rounds(cell, True), iterations=1)
    assert res["rho"].size > 0


@pytest.mark.parametrize("metric", METRICS_REPSIM)
def test_repsim_e2e(benchmark, cell, metric):
    cell.agree(metric)
    _group(benchmark, cell, "pwcca" if metric == "pwcca_morcos" else metric)
    res = benchmark.pedantic(repsim_e2e, args=(metric, cell.X, cell.Y), rounds=_rounds(cell), iterations=1)
    check_agreement(metric, cell.baseline(metric), res)


@pytest.mark.parametrize("metric", METRICS_REPSIM)
def test_repsim_metric(benchmark, cell, metric):
    cell.agree(metric)
    _group(benchmark, cell, "pwcca" if metric == "pwcca_morcos" else metric)
    m = cell.moments()
    res = benchmark.pedantic(
        lambda mm: repsim_metric(metric, mm), setup=lambda: ((m.copy(),), {}), rounds=_rounds(cell), iterations=1
    )
    assert np.asarray(res["rho"]).size > 0


def test_repsim_accumulate(benchmark, cell):
    _group(benchmark, cell, "accumulate")
    m = benchmark.pedantic(accumulate, args=(cell.X, cell.Y), rounds=_rounds(cell), iterations=1)
    assert m.n == cell.n


# ----------------------------------------------------------------------------- layer × layer PWCCA matrix
def matrix_repsim(layers: dict) -> np.ndarray:
    return repsim.Moments().update(layers).matrix("pwcca").values


def matrix_pairwise_repsim(layers: dict) -> np.ndarray:
    names = list(layers)
    return np.array([[repsim.pwcca(layers[a], layers[b]) for b in names] for a in names])


def pairwise_baseline_results(layers: dict) -> list:
    """The baseline's PWCCA result dict for every ordered pair of layers (64 calls for 8 layers)."""
    names = list(layers)
    return [[baseline_pwcca(layers[a].T, layers[b].T) for b in names] for a in names]


def matrix_pairwise_baseline(layers: dict) -> np.ndarray:
    return np.array([[r["value"] for r in row] for row in pairwise_baseline_results(layers)])


@functools.lru_cache(maxsize=1)
def _layers(n, L, w):
    return layer_stack(n, L, w)


def check_matrix_agreement(layers: dict, pairwise=None, base=None) -> None:
    """m.matrix("pwcca") == 64 pairwise repsim calls (1e-10) == the baseline's Morcos value (1e-8); the google
    convention's matrix == the baseline's google numbers (GOOGLE_VALUE_RTOL, see there). ``pairwise`` / ``base``:
    results of matrix_pairwise_repsim / pairwise_baseline_results when already computed."""
    m = repsim.Moments().update(layers)
    mine = m.matrix("pwcca").values
    pairwise = matrix_pairwise_repsim(layers) if pairwise is None else pairwise
    np.testing.assert_allclose(mine, pairwise, rtol=1e-10, atol=0)
    base = pairwise_baseline_results(layers) if base is None else base
    np.testing.assert_allclose(mine, [[morcos_value(r) for r in row] for row in base], rtol=VALUE_RTOL, atol=0)
    google = m.matrix("pwcca", convention="google").values
    np.testing.assert_allclose(google, [[r["value"] for r in row] for row in base], rtol=GOOGLE_VALUE_RTOL, atol=0)


@pytest.fixture(scope="module", params=[
    pytest.param(c, id="n{}_{}x{}".format(*c)) for c in MATRIX_CELLS_DEFAULT
] + [pytest.param(c, id="n{}_{}x{}".format(*c), marks=pytest.mark.large) for c in MATRIX_CELLS_LARGE])
def layers(request):
    n, L, w = request.param
    data = _layers(n, L, w)
    check_matrix_agreement(data)
    yield (n, L, w), data


@pytest.mark.parametrize("variant", ["one_accumulation", "pairwise_repsim", "pairwise_baseline"])
def test_pwcca_matrix(benchmark, layers, variant):
    (n, L, w), data = layers
    benchmark.group = f"pwcca matrix {L}x{L} layers of {w}, n={n}"
    benchmark.extra_info.update({"n": n, "layers": L, "width": w})
    fn = {"one_accumulation": matrix_repsim, "pairwise_repsim": matrix_pairwise_repsim,
          "pairwise_baseline": matrix_pairwise_baseline}[variant]
    rounds = 1 if (variant == "pairwise_baseline" and n * w >= 10_000 * 256) else 3
    vals = benchmark.pedantic(fn, args=(data,), rounds=rounds, iterations=1)
    assert vals.shape == (L, L)
