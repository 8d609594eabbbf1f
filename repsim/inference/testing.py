"""``repsim.permutation_test``: is a similarity larger than chance? Exact permutation moments or Monte Carlo.

The null hypothesis: the rows of X and Y do not correspond (any pairing of X's samples with Y's is as likely as the
observed one). Its distribution is that of the similarity over the n! permutations of Y's rows.

* ``method="moments"``: the exact mean, variance and skewness of that distribution (docs/math.md §6) and the
  Pearson type III approximation of its upper tail — no permutation is drawn.
* ``method="monte_carlo"``: ``n_permutations`` random permutations, seeded; the p-value is (1 + #{null ≥ obs}) /
  (K + 1) with its Monte-Carlo standard error. For the Gram-type measures the Grams are formed once and each
  permutation only permutes B's rows and columns (no features recomputed); any other registry measure is recomputed
  on the permuted rows.

Both give the null-calibrated score of Gröger et al. (ICML 2026; the ``calibrated-similarity`` package): with τ the
(1 − α) quantile of the null (Monte Carlo: the ⌈(1 − α)(K + 1)⌉-th order statistic of the observed value and the K
null values, as that package computes it), calibrated = clip((obs − τ)/(s_max − τ), 0, 1).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import _validation
from ..api import measure as _array_measure
from ..metrics.registry import lookup
from .null import MOMENT_MEASURES, dense_null, form_of, nonnegative, null_matrix, p_value, quantile

METHODS = ("moments", "monte_carlo")


@dataclass(frozen=True)
class PermutationResult:
    """The outcome of a permutation test of one similarity.

    Attributes
    ----------
    metric, statistic : the measure and its observed value
    p_value : upper-tail p-value (small: more similar than chance)
    null_mean, null_sd, null_skewness : moments of the permutation null (skewness None when not computed)
    z : (statistic − null_mean) / null_sd
    calibrated : Gröger et al.'s null-calibrated score in [0, 1]
    threshold : τ, the null's (1 − alpha) quantile
    method : "pearson3" / "gamma2" / "normal2" (exact moments) or "monte_carlo"
    n_permutations, mc_se : Monte Carlo only: permutations drawn and the p-value's standard error
    """

    metric: str
    statistic: float
    p_value: float
    null_mean: float
    null_sd: float
    null_skewness: float | None
    z: float
    calibrated: float
    threshold: float
    alpha: float
    method: str
    n: int
    n_permutations: int = 0
    mc_se: float | None = None
    options: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def permutation_test(X, Y, metric: str = "cka", *, method: str = "moments", n_permutations: int = 1000,
                     seed=0, alpha: float = 0.05, smax: float = 1.0, **options) -> PermutationResult:
    """Permutation test of a similarity between X and Y (rows are samples, paired).

    Parameters
    ----------
    X, Y : array_like
        The two representations, of shapes (n_samples, p) and (n_samples, q), row i of each the same sample.
    metric : str
        ``method="moments"``: "cka" (``debiased=``), "debiased_cka", "rv", "rv2" (``center=``). ``"monte_carlo"``:
        any registry measure with one number per pair (:func:`repsim.measures`).
    method : {"moments", "monte_carlo"}
    n_permutations : int
        Monte Carlo permutations (K).
    seed : int or numpy Generator
        Seeds the permutations (Monte Carlo).
    alpha : float
        Level of the calibrated score's threshold τ.
    smax : float
        Largest value of the measure (1 for every bounded similarity).
    **options
        The measure's options.

    Returns
    -------
    PermutationResult

    Notes
    -----
    Exact moments use the n × n Grams (three moments); from streamed statistics (``Moments.matrix(...,
    inference=...)``) two moments are available. Cost: moments O(n³) once (the third-moment contractions);
    Monte Carlo O(K·n²) for the Gram-type measures.
    """
    x, y = _validation.check_pair(X, Y)
    _validation.choice(method, "method", METHODS)
    alpha = _validation.real(alpha, "alpha", 0.0, 1.0, low_open=True)
    if alpha >= 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    spec = lookup(metric)
    name = spec.name
    n = x.shape[0]
    if method == "moments":
        if name not in MOMENT_MEASURES:
            raise ValueError(f"method='moments' covers {sorted(MOMENT_MEASURES)}; {metric!r} needs "
                             "method='monte_carlo'")
        if n < 4:
            raise ValueError(f"a permutation test needs at least 4 samples, got {n}")
        form = form_of(name, options)
        A, B = (null_matrix(_gram(a, form), form) for a in (x, y))
        null, scale = dense_null(A, B, order=3)
        obs = float(np.sum(A * B)) / scale
        p, how = p_value(obs, null, nonnegative(form))
        tau = quantile(null, 1.0 - alpha, nonnegative(form))
        return PermutationResult(name, obs, p, null.mean, null.sd, null.skewness, _z(obs, null.mean, null.sd),
                                 _calibrated(obs, tau, smax), tau, alpha, how, n, options=dict(options))
    k = _validation.positive_int(n_permutations, "n_permutations")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    perms = [rng.permutation(n) for _ in range(k)]
    obs, null = monte_carlo(x, y, name, options, perms)
    return summarise_monte_carlo(name, obs, null, alpha, smax, n, options)


def monte_carlo(x, y, name: str, options: dict, perms) -> tuple[float, np.ndarray]:
    """The observed value and its values under each permutation of Y's rows."""
    if name in MOMENT_MEASURES and not (name == "cka" and options.get("kernel", "linear") != "linear"):
        form = form_of(name, options)
        n, p, q = x.shape[0], x.shape[1], y.shape[1]
        if form in ("centred", "raw") and p * q < n:
            # T = ‖X̃ᵀ Ỹ[π]‖²_F: one (p × q) product per permutation, O(npq) < O(n²) of permuting the Gram
            xc, yc = (np.asarray(a, dtype=np.float64) for a in (x, y))
            if form == "centred":
                xc, yc = xc - xc.mean(axis=0), yc - yc.mean(axis=0)
            scale = math.sqrt(float(np.sum((xc.T @ xc) ** 2)) * float(np.sum((yc.T @ yc) ** 2)))
            obs = float(np.sum((xc.T @ yc) ** 2)) / scale
            return obs, np.array([float(np.sum((xc.T @ yc[p_]) ** 2)) for p_ in perms]) / scale
        A, B = (null_matrix(_gram(a, form), form) for a in (x, y))
        scale = math.sqrt(float(np.sum(A * A)) * float(np.sum(B * B)))
        obs = float(np.sum(A * B)) / scale
        return obs, _permuted_inner(A, B, perms) / scale
    measure = lookup(name)
    fn = _one_shot(name)
    obs = float(measure.matrix_value(fn(x, y, **options)))
    return obs, np.array([float(measure.matrix_value(fn(x, y[p], **options))) for p in perms])


def summarise_monte_carlo(name, obs, null, alpha, smax, n, options) -> PermutationResult:
    k = len(null)
    hits = int(np.sum(null >= obs))
    p = (1.0 + hits) / (k + 1.0)
    se = math.sqrt(p * (1.0 - p) / k)
    combined = np.sort(np.append(null, obs))
    idx = min(max(int(math.ceil((1.0 - alpha) * (k + 1))) - 1, 0), k)
    tau = float(combined[idx])
    mean, sd = float(null.mean()), float(null.std(ddof=1)) if k > 1 else 0.0
    skew = float(np.mean((null - mean) ** 3) / sd**3) if sd > 0 else None
    return PermutationResult(name, obs, p, mean, sd, skew, _z(obs, mean, sd), _calibrated(obs, tau, smax), tau,
                             alpha, "monte_carlo", n, k, se, dict(options))


def _permuted_inner(A, B, perms) -> np.ndarray:
    """Σ_ij A_ij B_π(i)π(j) per permutation: the Numba kernel (loaded on first use, like the Gram-space kernels),
    no permuted matrix formed."""
    from .._kernels import numba_perm  # deferred: Numba compiles on first use

    return numba_perm.inner_products(A, B, np.stack([np.asarray(p) for p in perms]))


def _gram(a: np.ndarray, form: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if form not in ("raw", "rv2_raw"):
        a = a - a.mean(axis=0)
    return a @ a.T


def _z(obs, mean, sd) -> float:
    return (obs - mean) / sd if sd > 0 else float("nan")


def _calibrated(obs: float, tau: float, smax: float) -> float:
    return float(min(max((obs - tau) / max(smax - tau, 1e-12), 0.0), 1.0))


def _one_shot(name: str):
    """The array function of a registry measure (repsim.measure(name) is callable on arrays)."""
    return _array_measure(name)
