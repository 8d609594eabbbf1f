"""Generalised shape metrics (Williams et al. 2021, netrep's ``LinearMetric``), permutation Procrustes (netrep's
``PermutationMetric``, ReSi's ``PermutationProcrustes``) and the Bures distance, from the feature-space statistics
(docs/math.md §9.1–9.3).

Everything here reads a :class:`~repsim.views.FeatureView`: the centred (or raw) blocks Σ x̃x̃ᵀ, Σ x̃ỹᵀ and the traces
Σ|x̃|². The eigendecomposition of a site's own block is memoised on the view, so a site × site matrix factorises each
site once; no n × n matrix and no padded copy of the data is ever formed.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from .._limits import SHAPE_EIGVAL_TOL
from .._validation import choice, flag, real
from ..views import FeatureView
from .spec import ORTHOGONAL, PERMUTATION, TRANSLATION, WILLIAMS, MeasureSpec, Route

#: The two ground metrics of netrep (``score_method``).
SCORES = ("angular", "euclidean")

HARVEY = ("Harvey, Lipshutz, Williams. Duality of Bures and Shape Distances with Implications for Comparing Neural "
          "Representations. UniReps 2023.")
KLABUNDE = ("Klabunde, Wald, Schumacher, Strohmaier, Lemmerich. ReSi: A Comprehensive Benchmark for Representational "
            "Similarity Measures. ICLR 2025.")


@dataclass(frozen=True)
class _Eigen:
    lam: np.ndarray  # eigenvalues of the site's block Σ x̃x̃ᵀ (ascending, as computed)
    V: np.ndarray  # its eigenvectors (columns)


def _eigen(view: FeatureView, site: str) -> _Eigen:
    """Eigendecomposition of a site's own block, memoised on the view (shared by every pair of a matrix)."""
    return view.memo(("shape-eigen", site), lambda: _Eigen(*np.linalg.eigh(view.block(site, site))))


def _dims(view: FeatureView, x: str, y: str) -> tuple[int, int]:
    dims = view.layout.dims
    return dims[view.layout.index(x)], dims[view.layout.index(y)]


def _undefined(metric: str, x: str, y: str, tx: float, ty: float) -> float:
    warnings.warn(f"{metric}: site {x if not tx > 0 else y!r} is constant (no variance); returning NaN",
                  RuntimeWarning, stacklevel=4)
    return float("nan")


def _distance(score: str, inner: float, nx2: float, ny2: float) -> float:
    """netrep's ground metrics of two aligned matrices with squared norms nx2, ny2 and inner product ``inner``:
    angular arccos(inner / (‖X‖‖Y‖)), euclidean √(‖X‖² + ‖Y‖² − 2 inner), the latter written as
    (‖X‖ − ‖Y‖)² + 2‖X‖‖Y‖(1 − cos) so that identical inputs give 0 to rounding, not √(rounding of ‖X‖²)."""
    nx, ny = math.sqrt(nx2), math.sqrt(ny2)
    cos = min(1.0, max(-1.0, inner / (nx * ny)))
    if score == "angular":
        return float(math.acos(cos))
    return float(math.sqrt(max(0.0, (nx - ny) ** 2 + 2.0 * nx * ny * (1.0 - cos))))


def _partial_whitening(e: _Eigen, alpha: float, width: int) -> tuple[np.ndarray, float]:
    """netrep's ``whiten(X, alpha, preserve_variance=True)`` in the eigenbasis of Σ x̃x̃ᵀ, the site zero-padded to
    ``width`` columns (docs/math.md §9.1): the diagonal d of Z = V diag(d) Vᵀ and ‖X̃ Z‖²_F."""
    lam = np.maximum(e.lam, SHAPE_EIGVAL_TOL)
    pad = width - lam.size  # padded columns: eigenvalue 0, clipped to the tolerance like any other
    d = alpha + (1.0 - alpha) / np.sqrt(lam)

    def new_var(v):
        return alpha ** 2 * v + 2.0 * alpha * (1.0 - alpha) * np.sqrt(v) + (1.0 - alpha) ** 2

    total = lam.sum() + pad * SHAPE_EIGVAL_TOL
    d = d * math.sqrt(total / (new_var(lam).sum() + pad * new_var(SHAPE_EIGVAL_TOL)))
    return d, float(np.maximum(e.lam, 0.0) @ (d * d))


def shape_metric_from_stats(view: FeatureView, x: str, y: str, alpha: float = 1.0, score: str = "angular") -> float:
    """Williams et al.'s generalised shape metric with netrep's conventions (docs/math.md §9.1).

    Each side is centred, zero-padded to max(p, q) columns and partially whitened, X̃ ↦ X̃ Z_α with
    Z_α = V diag(d) Vᵀ, d = (α + (1 − α) λ^{-1/2}) · s, λ = max(eig(Σ x̃x̃ᵀ), 1e-7) and s the factor that keeps the
    total variance Σλ; then the optimal rotation aligns them and the distance is angular (arccos of the normalised
    inner product) or Euclidean. Both only need ‖Z_xᵀ Cc Z_y‖_* and ‖X̃ Z_x‖²_F = Σ λ d².

    Parameters
    ----------
    view : FeatureView
        Centred statistics.
    x, y : str
        Sites, shapes (n_samples, p) and (n_samples, q).
    alpha : float in [0, 1]
        0: full whitening (CCA-like, invariant to invertible maps of full-rank data); 1: none (Procrustes).
    score : {"angular", "euclidean"}

    Invariances
    -----------
    Orthogonal transforms and translation of either side, for every α and score; isotropic scaling for the angular
    score at α ∈ {0, 1}; invertible linear maps of full-rank sides for the angular score at α = 0.

    References
    ----------
    Williams, Kunz, Kornblith, Linderman. Generalized Shape Metrics on Neural Representations. NeurIPS 2021;
    ahwillia/netrep ``LinearMetric`` and ``utils.whiten``.
    """
    alpha = real(alpha, "alpha", high=1.0)
    score = choice(score, "score", SCORES)
    tx, ty = view.trace(x), view.trace(y)
    if not (tx > 0 and ty > 0):
        return _undefined("shape_metric", x, y, tx, ty)
    if x == y:  # a site and itself: 0 exactly, not the square root of the rounding of 1 − cos
        return 0.0
    C = view.block(x, y)
    if alpha > 1.0 - SHAPE_EIGVAL_TOL:  # netrep returns Z = I without rescaling
        return _distance(score, float(np.linalg.svd(C, compute_uv=False).sum()), tx, ty)
    width = max(_dims(view, x, y))
    ex, ey = _eigen(view, x), _eigen(view, y)
    dx, nx2 = _partial_whitening(ex, alpha, width)
    dy, ny2 = _partial_whitening(ey, alpha, width)
    T = (dx[:, None] * (ex.V.T @ C @ ey.V)) * dy[None, :]  # Vx diag(dx) Vxᵀ C Vy diag(dy) Vyᵀ up to rotations
    return _distance(score, float(np.linalg.svd(T, compute_uv=False).sum()), nx2, ny2)


def bures_distance_from_stats(view: FeatureView, x: str, y: str) -> float:
    """Bures distance between the centred linear Grams K = X̃X̃ᵀ, L = ỸỸᵀ (docs/math.md §9.2).

    B(K, L)² = tr K + tr L − 2 tr (K^{1/2} L K^{1/2})^{1/2} = tr Ac + tr Bc − 2‖Cc‖_*: the Procrustes size-and-shape
    distance (ReSi's ``ProcrustesSizeAndShapeDistance``, netrep's ``LinearMetric(alpha=1, score_method="euclidean")``).

    Invariances
    -----------
    Orthogonal transforms and translation of either side (not scaling: it is a size-and-shape distance).

    References
    ----------
    Harvey, Lipshutz, Williams. Duality of Bures and Shape Distances. UniReps 2023; Williams et al. 2021.
    """
    tx, ty = view.trace(x), view.trace(y)
    if not (tx >= 0 and ty >= 0):
        return _undefined("bures_distance", x, y, tx, ty)
    if tx == 0 or ty == 0:
        return float(math.sqrt(max(tx, ty)))
    if x == y:
        return 0.0
    return _distance("euclidean", float(np.linalg.svd(view.block(x, y), compute_uv=False).sum()), tx, ty)


def permutation_procrustes_from_stats(view: FeatureView, x: str, y: str, score: str = "angular") -> float:
    """Distance after the best permutation of the neurons (docs/math.md §9.3).

    The permutation maximises Σ_i C[i, π(i)] over the cross block C = Σ x̃ỹᵀ (a linear assignment,
    ``scipy.optimize.linear_sum_assignment``; the narrower side is zero-padded, which matches each of its neurons
    to a distinct neuron of the other); then angular arccos(Σ C[i, π(i)] / √(tr A tr B)) or Euclidean
    √(tr A + tr B − 2 Σ C[i, π(i)]). Centred statistics give netrep's ``PermutationMetric``; raw ones (statistics
    about 0) ReSi's ``PermutationProcrustes``.

    Invariances
    -----------
    Neuron permutations of either side; translation when centred; isotropic scaling for the angular score.

    References
    ----------
    Williams et al. 2021 (netrep ``PermutationMetric``); Klabunde et al. (ReSi ``PermutationProcrustes``).
    """
    score = choice(score, "score", SCORES)
    tx, ty = view.trace(x), view.trace(y)
    if not (tx > 0 and ty > 0):
        return _undefined("permutation_metric", x, y, tx, ty)
    if x == y:
        return 0.0
    C = view.block(x, y)
    rows, cols = linear_sum_assignment(C, maximize=True)
    return _distance(score, float(C[rows, cols].sum()), tx, ty)


# ---------------------------------------------------------------------------------------------------- registry
def _full(space, o):
    return Route("full", {"center": True}, o)


def _centre_option(space, o):
    return Route("full", {"center": flag(o.pop("center"), "center")}, o)


_FEATURE = dict(statistics="moments", spaces=("feature",))

ENTRIES: tuple = (
    MeasureSpec(
        "shape_metric", shape_metric_from_stats, {"alpha": 1.0, "score": "angular"}, _full, **_FEATURE,
        ids={"netrep": {"LinearMetric(alpha=0, score_method='angular')": {"alpha": 0.0},
                        "LinearMetric(alpha=0.5, score_method='angular')": {"alpha": 0.5},
                        "LinearMetric(alpha=0, score_method='euclidean')": {"alpha": 0.0, "score": "euclidean"},
                        "LinearMetric(alpha=0.5, score_method='euclidean')": {"alpha": 0.5, "score": "euclidean"}},
             "similarity": {"shape_metric-alpha={alpha}-distance=angular": {},
                            "shape_metric-alpha={alpha}-distance=euclidean": {"score": "euclidean"}}},
        centering="column-centred, zero-padded, partially whitened (netrep)", kind="distance",
        range=(0.0, float("inf")), invariances=(ORTHOGONAL, TRANSLATION), reference=WILLIAMS,
        summary="generalised shape metric (netrep LinearMetric): alpha=0 whitened (CCA-like) … 1 Procrustes; "
                "score='angular' or 'euclidean'; isotropic-scaling invariant (angular) at alpha ∈ {0, 1}, "
                "invertible-map invariant at alpha=0",
        formula="arccos(‖Z_xᵀCcZ_y‖_* / (‖X̃Z_x‖‖ỸZ_y‖)), Z = V diag(s(α + (1−α)λ^{-½})) Vᵀ",
    ),
    MeasureSpec(
        "bures_distance", bures_distance_from_stats, {}, _full, **_FEATURE,
        ids={"similarity": {"bures_distance": {}, "procrustes-distance=euclidean": {}},
             "resi": {"ProcrustesSizeAndShapeDistance": {}},
             "netrep": {"LinearMetric(alpha=1, score_method='euclidean')": {}}},
        centering="column-centred", kind="distance", range=(0.0, float("inf")),
        invariances=(ORTHOGONAL, TRANSLATION), reference=f"{HARVEY} {WILLIAMS}",
        summary="Bures distance of the centred Grams = Procrustes size-and-shape distance (not scale invariant)",
        formula="√(tr Ac + tr Bc − 2‖Cc‖_*)",
    ),
    MeasureSpec(
        "permutation_metric", permutation_procrustes_from_stats, {"center": True, "score": "angular"},
        _centre_option, **_FEATURE,
        ids={"netrep": {"PermutationMetric(score_method='angular')": {},
                        "PermutationMetric(score_method='euclidean')": {"score": "euclidean"}},
             "similarity": {"permutation_metric-distance=angular": {},
                            "permutation_metric-distance=euclidean": {"score": "euclidean"},
                            "permutation_procrustes": {"center": False, "score": "euclidean"}},
             "resi": {"PermutationProcrustes": {"center": False, "score": "euclidean"}}},
        centering="column-centred (center=True, netrep) or raw (center=False, ReSi)", kind="distance",
        range=(0.0, float("inf")), invariances=(PERMUTATION, f"{TRANSLATION} (center=True)"),
        reference=f"{WILLIAMS} {KLABUNDE}",
        summary="distance after the best neuron permutation (linear assignment on the cross block); "
                "score='angular' (scale invariant) or 'euclidean'",
        formula="arccos(max_π Σ_i C_{iπ(i)} / √(tr A tr B))",
    ),
)
