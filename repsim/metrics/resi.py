"""ReSi's measures that are closed forms of the feature-space statistics (Klabunde et al., mklabunde/resi;
docs/math.md §9.4): hard and soft correlation match, eigenspace overlap, GULP, linear-regression R² and the
magnitude difference.

Each reads the centred :class:`~repsim.views.FeatureView` (blocks Σ x̃x̃ᵀ, Σ x̃ỹᵀ, traces and the means); per-site
eigendecompositions are memoised on the view. ReSi's other measures need more than these statistics: see
docs/math.md §9.5 for which, and why.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment

from .._limits import CCA_RTOL, CONST_RTOL
from .._validation import choice, real
from ..views import FeatureView
from .shape import KLABUNDE
from .spec import INVERTIBLE, ISOTROPIC, ORTHOGONAL, PERMUTATION, TRANSLATION, MeasureSpec, Route

LI = ("Li, Yosinski, Clune, Lipson, Hopcroft. Convergent Learning: Do different neural networks learn the same "
      "representations? ICLR 2016.")
MAY = "May, Zhang, Dao, Ré. On the Downstream Performance of Compressed Word Embeddings. NeurIPS 2019."
BOIX = ("Boix-Adserà, Lawrence, Stepaniants, Rigollet. GULP: a prediction-based metric between representations. "
        "NeurIPS 2022.")
TARGETS = ("x", "y")


def _site_eigen(view: FeatureView, site: str):
    """(λ descending, V, rank) of a site's centred block Σ x̃x̃ᵀ, rank = #λ > CCA_RTOL·λ_max; memoised."""

    def compute():
        lam, V = np.linalg.eigh(view.block(site, site))
        lam, V = lam[::-1], V[:, ::-1]
        rank = int(np.count_nonzero(lam > CCA_RTOL * lam[0])) if lam.size and lam[0] > 0 else 0
        return lam, V, rank

    return view.memo(("resi-eigen", site), compute)


def _nan(metric: str, site: str, why: str = "is constant (no variance)") -> float:
    warnings.warn(f"{metric}: site {site!r} {why}; returning NaN", RuntimeWarning, stacklevel=4)
    return float("nan")


# ---------------------------------------------------------------------------------------------- correlation match
def _neuron_correlations(view: FeatureView, x: str, y: str) -> np.ndarray:
    """Pearson correlations between the neurons of x and y, Cc_ij / √(Ac_ii Bc_jj); a constant neuron (variance at
    the rounding level of its mean, CONST_RTOL) correlates 0 with everything, as sklearn's cosine gives."""
    scale = []
    for site in (x, y):
        diag = np.diag(view.block(site, site))
        mean = np.abs(view.reference[view.layout.index(site)])
        live = diag > view.n * (CONST_RTOL * mean) ** 2 + np.finfo(float).tiny
        scale.append(np.where(live, 1.0 / np.sqrt(np.where(live, diag, 1.0)), 0.0))
    return view.block(x, y) * scale[0][:, None] * scale[1][None, :]


def hard_correlation_match_from_stats(view: FeatureView, x: str, y: str) -> float:
    """Mean correlation of a one-to-one matching of neurons that maximises the total correlation (Li et al. 2016;
    ReSi ``HardCorrelationMatch``): linear assignment on the p × q neuron correlation matrix, min(p, q) pairs.

    Invariances: neuron permutation, per-neuron (positive) scaling, isotropic scaling, translation.
    """
    R = _neuron_correlations(view, x, y)
    rows, cols = linear_sum_assignment(R, maximize=True)
    return float(R[rows, cols].mean())


def soft_correlation_match_from_stats(view: FeatureView, x: str, y: str) -> float:
    """Mean best correlation of each neuron with any neuron of the other side, averaged over both directions (Li et
    al. 2016; ReSi ``SoftCorrelationMatch``): (mean_i max_j R_ij + mean_j max_i R_ij) / 2."""
    R = _neuron_correlations(view, x, y)
    return float((R.max(axis=1).mean() + R.max(axis=0).mean()) / 2.0)


# ---------------------------------------------------------------------------------------------- eigenspace overlap
def _raw_basis(view: FeatureView, site: str):
    """Orthonormal basis of the column space of the *raw* site X = X̃ + 1μᵀ (μ the mean), in coordinates of the
    orthonormal frame [X̃ V Λ^{-½}, 1/√n] of span(X̃, 1): X = frame · M with M = [Λ^{½} Vᵀ ; √n μᵀ] (docs/math.md
    §9.4). M has the singular values of X, so its rank uses numpy's matrix_rank rule for X itself
    (σ > σ_max · max(n, p) · eps). Returns (Q, r): Q spans range(M), r the centred rank used for the frame."""

    def compute():
        lam, V, r = _site_eigen(view, site)
        mu = view.reference[view.layout.index(site)]
        M = np.vstack([np.sqrt(lam[:r])[:, None] * V[:, :r].T, np.sqrt(view.n) * mu[None, :]])
        U, s, _ = np.linalg.svd(M, full_matrices=False)
        tol = (s[0] if s.size else 0.0) * max(view.n, mu.size) * np.finfo(float).eps
        return U[:, : int(np.count_nonzero(s > tol))], r

    return view.memo(("resi-raw-basis", site), compute)


def eigenspace_overlap_from_stats(view: FeatureView, x: str, y: str) -> float:
    """Eigenspace overlap score (May et al. 2019; ReSi ``EigenspaceOverlapScore``) of the raw (uncentred) data:
    ‖U_xᵀU_y‖²_F / max(p, q), U the left singular vectors of X and Y with nonzero singular values.

    From the centred statistics: with the frames of :func:`_raw_basis`, U_xᵀU_y = Q_xᵀ diag(T, 1) Q_y where
    T = Λ_x^{-½} V_xᵀ Cc V_y Λ_y^{-½} (the frames' constant columns coincide and are orthogonal to the centred ones).

    Invariances: invertible linear maps (the column space is unchanged), hence orthogonal maps and isotropic
    scaling; not translation (the raw data are used).
    """
    (Qx, rx), (Qy, ry) = _raw_basis(view, x), _raw_basis(view, y)
    lx, Vx, _ = _site_eigen(view, x)
    ly, Vy, _ = _site_eigen(view, y)
    T = (Vx[:, :rx] / np.sqrt(lx[:rx])).T @ view.block(x, y) @ (Vy[:, :ry] / np.sqrt(ly[:ry]))
    B = np.zeros((rx + 1, ry + 1))
    B[:rx, :ry] = T
    B[rx, ry] = 1.0
    S = Qx.T @ B @ Qy
    return float(np.einsum("ij,ij->", S, S) / max(Vx.shape[0], Vy.shape[0]))


# ---------------------------------------------------------------------------------------------- GULP
def gulp_from_stats(view: FeatureView, x: str, y: str, ridge: float = 0.0) -> float:
    """GULP distance (Boix-Adserà et al. 2022) with ReSi's normalisation (``Gulp``, after sgstepaniants/GULP's
    ``predictor_dist``): each side centred and scaled to total variance 1, Σ_x = Ac / tr Ac, Σ_xy = Cc / √(tr Ac tr Bc),
    and with λ = ``ridge``

        d² = tr(Σ_x²(Σ_x + λ)⁻²) + tr(Σ_y²(Σ_y + λ)⁻²) − 2 tr((Σ_x + λ)⁻¹ Σ_xy (Σ_y + λ)⁻¹ Σ_yx)

    (ReSi returns d² itself). With λ = 0 the inverses are pseudo-inverses (eigenvalues ≤ CCA_RTOL·max dropped; ReSi
    drops exact zeros), and d² = r_x + r_y − 2 Σ ρ_i², ρ the canonical correlations.

    Invariances: orthogonal maps, isotropic scaling and translation; at ridge = 0 also invertible linear maps.
    """
    ridge = real(ridge, "ridge")
    tx, ty = view.trace(x), view.trace(y)
    if not (tx > 0 and ty > 0):
        return _nan("gulp", x if not tx > 0 else y)
    parts = []
    for site, t in ((x, tx), (y, ty)):
        lam, V, r = _site_eigen(view, site)
        lam = np.maximum(lam, 0.0) / t
        if ridge > 0:
            inv = 1.0 / (lam + ridge)
        else:
            inv = np.zeros_like(lam)
            inv[:r] = 1.0 / lam[:r]
        parts.append((float(np.sum((lam * inv) ** 2)), V * np.sqrt(inv)[None, :]))
    (t1, Wx), (t2, Wy) = parts
    M = Wx.T @ (view.block(x, y) / np.sqrt(tx * ty)) @ Wy
    return float(t1 + t2 - 2.0 * np.einsum("ij,ij->", M, M))


# ---------------------------------------------------------------------------------------------- linear regression
def linear_regression_from_stats(view: FeatureView, x: str, y: str, target: str = "y") -> float:
    """R² of the least-squares linear map (with intercept) from one site to the other, pooled over the target's
    neurons: tr(Ccᵀ Ac⁺ Cc) / tr Bc for ``target="y"`` (Y predicted from X, as :func:`repsim.affine_map`), the
    mirror image for ``target="x"``.

    ReSi's ``LinearRegression(R, Rp)`` computes ‖QᵀR_c‖²/‖R_c‖² with Q an orthonormal basis of R'_c — the variance of
    its *first* argument explained by the second — so its ids set ``target="x"``: the same call order gives ReSi's
    number. Pseudo-inverse: eigenvalues ≤ CCA_RTOL·max dropped (ReSi inverts √(R'ᵀR') and needs full rank).

    Invariances: invertible linear maps of the predictor, orthogonal maps and isotropic scaling of either side,
    translation.
    """
    target = choice(target, "target", TARGETS)
    src, dst = (x, y) if target == "y" else (y, x)
    t = view.trace(dst)
    if not t > 0:
        return _nan("linear_r2", dst)
    lam, V, r = _site_eigen(view, src)
    if r == 0:
        return 0.0
    W = (V[:, :r] / np.sqrt(lam[:r])).T @ view.block(src, dst)
    return float(min(1.0, np.einsum("ij,ij->", W, W) / t))


# ---------------------------------------------------------------------------------------------- magnitude
def magnitude_difference_from_stats(view: FeatureView, x: str, y: str) -> float:
    """| ‖μ_x‖ − ‖μ_y‖ |, the difference of the norms of the mean representations (ReSi ``MagnitudeDifference``).

    Invariances: orthogonal maps (hence neuron permutations); not scaling or translation.
    """
    view.block(x, y)  # only the means are read, but a pair-blocked store serves kept pairs only, like every measure
    mx = view.reference[view.layout.index(x)]
    my = view.reference[view.layout.index(y)]
    return float(abs(np.linalg.norm(mx) - np.linalg.norm(my)))


# ---------------------------------------------------------------------------------------------------- registry
def _full(space, o):
    return Route("full", {"center": True}, o)


_FEATURE = dict(statistics="moments", spaces=("feature",), router=_full)

ENTRIES: tuple = (
    MeasureSpec(
        "hard_correlation_match", hard_correlation_match_from_stats, {}, **_FEATURE,
        ids={"similarity": {"hard_correlation_match": {}}, "resi": {"HardCorrelationMatch": {}}},
        centering="column-centred, per-neuron correlation", kind="similarity", range=(-1.0, 1.0),
        invariances=(PERMUTATION, "per-neuron scaling", ISOTROPIC, TRANSLATION), reference=f"{LI} {KLABUNDE}",
        summary="mean correlation of the best one-to-one neuron matching (linear assignment)",
        formula="mean R[i, π(i)], π = argmax Σ R[i, π(i)], R_ij = corr(x_i, y_j)",
    ),
    MeasureSpec(
        "soft_correlation_match", soft_correlation_match_from_stats, {}, **_FEATURE,
        ids={"similarity": {"soft_correlation_match": {}}, "resi": {"SoftCorrelationMatch": {}}},
        centering="column-centred, per-neuron correlation", kind="similarity", range=(-1.0, 1.0),
        invariances=(PERMUTATION, "per-neuron scaling", ISOTROPIC, TRANSLATION), reference=f"{LI} {KLABUNDE}",
        summary="mean best correlation of each neuron with the other side, averaged over both directions",
        formula="(mean_i max_j R_ij + mean_j max_i R_ij) / 2",
    ),
    MeasureSpec(
        "eigenspace_overlap", eigenspace_overlap_from_stats, {}, **_FEATURE,
        ids={"similarity": {"eigenspace_overlap_score": {}}, "resi": {"EigenspaceOverlapScore": {}}},
        centering="none (raw column spaces)", kind="similarity", range=(0.0, 1.0),
        invariances=(INVERTIBLE, ORTHOGONAL, ISOTROPIC), reference=f"{MAY} {KLABUNDE}",
        summary="overlap of the raw column spaces, ‖U_xᵀU_y‖²_F / max(p, q)",
        formula="‖U_xᵀU_y‖²_F / max(p, q), U the left singular vectors of X, Y",
    ),
    MeasureSpec(
        "gulp", gulp_from_stats, {"ridge": 0.0}, **_FEATURE,
        ids={"similarity": {"gulp": {}}, "resi": {"Gulp": {}}},
        centering="column-centred, total variance 1", kind="distance", range=(0.0, float("inf")),
        invariances=(ORTHOGONAL, ISOTROPIC, TRANSLATION), reference=f"{BOIX} {KLABUNDE}",
        summary="GULP d² (ReSi's value); ridge=0: r_x + r_y − 2Σρ², invariant to invertible maps",
        formula="tr(Σx²(Σx+λ)⁻²) + tr(Σy²(Σy+λ)⁻²) − 2 tr((Σx+λ)⁻¹Σxy(Σy+λ)⁻¹Σyx)",
    ),
    MeasureSpec(
        "linear_r2", linear_regression_from_stats, {"target": "y"}, **_FEATURE,
        ids={"similarity": {"linear_regression": {"target": "x"}}, "resi": {"LinearRegression": {"target": "x"}}},
        symmetric=False,
        centering="column-centred (intercept fitted)", kind="similarity", range=(0.0, 1.0),
        invariances=(f"{INVERTIBLE} of the input", ORTHOGONAL, ISOTROPIC, TRANSLATION), reference=KLABUNDE,
        summary="pooled R² of the least-squares map X → Y (target='y'); ReSi's LinearRegression(R, R') is target='x'",
        formula="tr(Ccᵀ Ac⁺ Cc) / tr Bc",
    ),
    MeasureSpec(
        "magnitude_difference", magnitude_difference_from_stats, {}, **_FEATURE,
        ids={"similarity": {"magnitude_difference": {}}, "resi": {"MagnitudeDifference": {}}},
        centering="none (the means)", kind="distance", range=(0.0, float("inf")),
        invariances=(ORTHOGONAL,), reference=KLABUNDE,
        summary="difference of the norms of the mean representations",
        formula="| ‖μ_x‖ − ‖μ_y‖ |",
    ),
)
