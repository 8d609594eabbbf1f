"""Monte-Carlo permutation tests on statistics held in Gram space (:class:`repsim.GramMoments`): the n × n
matrices of the two sites are formed once from the stored Grams and every permutation only permutes the rows and
columns of one of them (Σ_ij A_ij B_π(i)π(j), the Numba kernel of :mod:`repsim.inference.testing`) — no feature is
read again, so the test runs after a streamed accumulation whose activations are gone.

Every measure tested here is a cosine of two symmetric matrices, stat = ⟨A, B⟩ / (‖A‖ ‖B‖), whose norms do not
change under a permutation of the samples:

* linear CKA / centred RV: A = HKH; uncentred RV: A = K; RV2: A = K with its diagonal zeroed; debiased CKA: A = the
  U-centred K (Székely–Rizzo; docs/math.md §6);
* kernel CKA (RBF, Laplace; debiased or not): A = the H- or U-centred kernel matrix exp(−D/(2σ²)) or exp(−√D/σ),
  D_ij = K_ii + K_jj − 2K_ij, σ from :meth:`repsim.GramMoments.bandwidth` (a permutation leaves the median rule's σ
  unchanged);
* distance correlation (Székely; ReSi's): dCor² = ⟨A, B⟩/(‖A‖ ‖B‖) with A the double-centred Euclidean distance
  matrix, so the null of dCor is the square root of that cosine's (the test is Székely and Rizzo's dCov test);
* RSA with compare="pearson", "spearman", "cosine": A = the symmetric zero-diagonal matrix of the site's comparison
  vector (:func:`repsim.metrics.rsa.comparison_vector`); "corr_cov" / "cosine_cov": A = H R H of the (mean-removed)
  RDM R. Kendall's τ_A is recomputed on the permuted RDM (O(n² log n) per permutation).
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import squareform

from .. import _validation
from ..metrics import rsa as _rsa
from ..metrics.registry import lookup
from .null import form_of, null_matrix
from .testing import PermutationResult, _permuted_inner, summarise_monte_carlo

#: measure → (kernel, debiased) of the kernel CKA entries
KERNEL_MEASURES = {"rbf_cka": ("rbf", False), "debiased_rbf_cka": ("rbf", True),
                   "laplace_cka": ("laplace", False), "debiased_laplace_cka": ("laplace", True)}
LINEAR_MEASURES = ("cka", "debiased_cka", "rv", "rv2")
GRAM_MONTE_CARLO = LINEAR_MEASURES + tuple(KERNEL_MEASURES) + ("rsa", "distance_correlation")


def gram_permutation_test(acc, x: str, y: str, metric: str = "cka", *, n_permutations: int = 1000, seed=0,
                          alpha: float = 0.05, smax: float = 1.0, **options) -> PermutationResult:
    """Monte-Carlo permutation test between sites ``x`` and ``y`` of statistics in Gram space.

    Parameters
    ----------
    acc : repsim.GramMoments
        The accumulated Grams (n samples).
    x, y : str
        Site names; the samples of ``y`` are permuted.
    metric : str
        "cka" (``debiased``, ``kernel`` "linear" / "rbf" / "laplace", ``sigma``, ``bandwidth``), "debiased_cka",
        "rv" / "rv2" (``center``), "rbf_cka", "debiased_rbf_cka", "laplace_cka", "debiased_laplace_cka"
        (``sigma``, ``bandwidth``), "rsa" (``rdm``, ``compare``), "distance_correlation".
    n_permutations : int
        K, the permutations drawn.
    seed : int or numpy Generator
    alpha, smax : float
        The calibrated score's level and the measure's largest value (:func:`repsim.permutation_test`).
    **options
        The measure's options, as in ``acc.matrix``.

    Returns
    -------
    PermutationResult
        ``method="monte_carlo"``; p = (1 + #{null ≥ obs}) / (K + 1) with its standard error ``mc_se``. The
        statistic equals ``acc.matrix(metric, [x], [y], **options)`` (to rounding).

    Notes
    -----
    Memory: three n × n float64 matrices. Time: O(n²) to form them, O(K·n²) for the permutations (memory-bound
    gathers, threads over rows). The same seed draws the same permutations as :func:`repsim.permutation_test`, so
    the two tests agree on the same data up to rounding.
    """
    if getattr(acc, "space", None) != "gram":
        raise TypeError(f"acc must be a repsim.GramMoments (statistics in Gram space), got {type(acc).__name__}; "
                        "for activations in memory use repsim.permutation_test(X, Y, method='monte_carlo')")
    for name, site in (("x", x), ("y", y)):
        if site not in acc.sites:
            raise ValueError(f"{name}={site!r} is not a site of these statistics (sites: {list(acc.sites)})")
    alpha = _validation.real(alpha, "alpha", 0.0, 1.0, low_open=True)
    if alpha >= 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    k = _validation.positive_int(n_permutations, "n_permutations")
    spec = lookup(metric)
    name = spec.name
    if name not in GRAM_MONTE_CARLO:
        raise ValueError(f"gram_permutation_test covers {list(GRAM_MONTE_CARLO)}; {metric!r} is not one of them")
    n = acc.n
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    perms = [rng.permutation(n) for _ in range(k)]
    if name == "rsa" and options.get("compare", "spearman") == "kendall_tau_a":
        return _kendall(acc, x, y, options, perms, alpha, smax)
    A, B = (_matrix(acc, s, name, options) for s in (x, y))
    scale = float(np.sqrt(np.sum(A * A) * np.sum(B * B)))
    if not scale > 0.0:
        raise ValueError(f"{name} between {x!r} and {y!r} is undefined (a matrix of norm 0: a constant site); "
                         "no permutation test")
    obs = float(np.sum(A * B)) / scale
    null = _permuted_inner(A, B, perms) / scale
    if name == "distance_correlation":  # dCor = √(dCor²), a monotone map of the cosine: the same test
        obs, null = float(np.sqrt(max(obs, 0.0))), np.sqrt(np.maximum(null, 0.0))
    return summarise_monte_carlo(name, obs, null, alpha, smax, n, dict(options))


def cell_nulls(acc, rows, cols, metric: str, perms, **options) -> tuple[np.ndarray, np.ndarray]:
    """Every cell's observed value and its values under each permutation of the column sites' samples — the same
    permutation for every column site (a whole model's samples are permuted at once, as in Gröger et al.'s
    aggregation-aware calibration): (obs of shape (rows, cols), null of shape (rows, cols, K)). Each site's matrix
    is formed once (the row sites' kept, the column sites' one at a time); NaN cells where a matrix has norm 0."""
    name = lookup(metric).name
    if name not in GRAM_MONTE_CARLO:
        raise ValueError(f"Monte Carlo in Gram space covers {list(GRAM_MONTE_CARLO)}; {metric!r} is not one of them")
    perms = np.stack([np.asarray(p) for p in perms])
    obs = np.full((len(rows), len(cols)), np.nan)
    null = np.full((len(rows), len(cols), perms.shape[0]), np.nan)
    if name == "rsa" and options.get("compare", "spearman") == "kendall_tau_a":
        for j, y in enumerate(cols):
            for i, x in enumerate(rows):
                obs[i, j], null[i, j] = _kendall_values(acc, x, y, options, perms)
        return obs, null
    left = [_matrix(acc, x, name, options) for x in rows]
    left_norm = [float(np.sqrt(np.sum(A * A))) for A in left]
    for j, y in enumerate(cols):
        B = _matrix(acc, y, name, options)
        b_norm = float(np.sqrt(np.sum(B * B)))
        for i, A in enumerate(left):
            scale = left_norm[i] * b_norm
            if not scale > 0.0:
                continue
            obs[i, j] = float(np.sum(A * B)) / scale
            null[i, j] = _permuted_inner(A, B, perms) / scale
    if name == "distance_correlation":
        obs, null = np.sqrt(np.maximum(obs, 0.0)), np.sqrt(np.maximum(null, 0.0))
    return obs, null


def _matrix(acc, site: str, name: str, options: dict) -> np.ndarray:
    """The site's symmetric matrix A of the cosine ⟨A, B⟩/(‖A‖‖B‖) that the measure is (module docstring)."""
    if name == "rsa":
        return _rdm_matrix(acc, site, options)
    if name == "distance_correlation":
        return _double_centre(np.sqrt(_squared_distances(acc.gram(site, center=True))))
    kernel, debiased = KERNEL_MEASURES.get(name, (options.get("kernel", "linear"), None))
    if kernel == "linear":
        form = form_of(name, options)
        return null_matrix(acc.gram(site, center=form not in ("raw", "rv2_raw")), form)
    if debiased is None:
        debiased = bool(options.get("debiased", False))
    D = _squared_distances(acc.gram(site, center=True))
    sigma = acc.bandwidth(site, options.get("sigma", 0.5), options.get("bandwidth", "median"))
    if not sigma > 0.0:
        raise ValueError(f"site {site!r}: the {kernel} kernel's bandwidth is 0 (most distances vanish); "
                         "no permutation test")
    E = np.exp(-D / (2.0 * sigma * sigma)) if kernel == "rbf" else np.exp(-np.sqrt(D) / sigma)
    if debiased:
        return null_matrix(E, "debiased")
    return _double_centre(E)


def _squared_distances(K: np.ndarray) -> np.ndarray:
    """D_ij = K_ii + K_jj − 2K_ij (clipped at 0, zero diagonal) from a Gram K."""
    g = np.diagonal(K).copy()
    D = np.maximum(g[:, None] + g[None, :] - 2.0 * K, 0.0)
    np.fill_diagonal(D, 0.0)
    return D


def _double_centre(M: np.ndarray) -> np.ndarray:
    r = M.mean(axis=1)
    return M - r[:, None] - r[None, :] + r.mean()


def _rdm_matrix(acc, site: str, options: dict) -> np.ndarray:
    rdm = options.get("rdm", "correlation")
    compare = options.get("compare", "spearman")
    view = acc.view("rdm", rdm=rdm)
    if compare in ("corr_cov", "cosine_cov"):
        d = view.condensed(site)
        if compare == "corr_cov":
            d = d - d.mean()
        return _double_centre(squareform(d, checks=False))
    v, _ = _rsa.comparison_vector(view, site, compare)
    return squareform(v, checks=False)


def _kendall(acc, x, y, options, perms, alpha, smax) -> PermutationResult:
    """Kendall's τ_A, recomputed on y's permuted condensed RDM (its near-ties snapped once)."""
    obs, null = _kendall_values(acc, x, y, options, perms)
    return summarise_monte_carlo("rsa", obs, null, alpha, smax, acc.n, dict(options))


def _kendall_values(acc, x, y, options, perms):
    view = acc.view("rdm", rdm=options.get("rdm", "correlation"))
    a = _rsa.kendall_parts(view, x)
    dy, ties = _rsa.kendall_parts(view, y)
    Dy = squareform(dy, checks=False)
    obs = _rsa.kendall_tau_a(a, (dy, ties))
    null = np.array([_rsa.kendall_tau_a(a, (squareform(Dy[np.ix_(p, p)], checks=False), ties)) for p in perms])
    return obs, null
