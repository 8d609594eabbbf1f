"""ReSi's measures (Klabunde et al., mklabunde/resi) that repsim computes from streamed statistics.

Closed forms of the feature-space statistics (docs/math.md §9.4): hard and soft correlation match, eigenspace overlap,
GULP, linear-regression R² and the magnitude difference. Each reads the centred :class:`~repsim.views.FeatureView`
(blocks Σ x̃x̃ᵀ, Σ x̃ỹᵀ, traces and the means); per-site eigendecompositions are memoised on the view.

Functions of each site's Gram (docs/math.md §9.5): the RSM norm difference, distance correlation, the uniformity and
concentricity differences, aligned cosine similarity, and the magnitude difference again. Each reads the
:class:`~repsim.gram.views.GeometryView` of a :class:`repsim.GramMoments` (distances from the centred Gram, so no
large mean cancels; the raw Gram only where the measure reads the raw samples); what a site contributes is
memoised on the view, so a site × site matrix prepares each site once.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
from scipy.optimize import linear_sum_assignment
from scipy.sparse.linalg import ArpackError, eigsh
from scipy.spatial.distance import squareform

from .._limits import CCA_RTOL, CONST_RTOL
from .._validation import choice, real
from ..views import FeatureView
from ._common import condensed_row_sums, cosine, double_centred_inner
from .shape import KLABUNDE
from .spec import INVERTIBLE, ISOTROPIC, ORTHOGONAL, PERMUTATION, TRANSLATION, MeasureSpec, Route

LI = ("Li, Yosinski, Clune, Lipson, Hopcroft. Convergent Learning: Do different neural networks learn the same "
      "representations? ICLR 2016.")
MAY = "May, Zhang, Dao, Ré. On the Downstream Performance of Compressed Word Embeddings. NeurIPS 2019."
BOIX = ("Boix-Adserà, Lawrence, Stepaniants, Rigollet. GULP: a prediction-based metric between representations. "
        "NeurIPS 2022.")
SZEKELY = "Székely, Rizzo, Bakirov. Measuring and testing dependence by correlation of distances. Ann. Statist. 2007."
WANG_ISOLA = ("Wang, Isola. Understanding Contrastive Representation Learning through Alignment and Uniformity on the "
              "Hypersphere. ICML 2020.")
HAMILTON_ACL = ("Hamilton, Leskovec, Jurafsky. Diachronic Word Embeddings Reveal Statistical Laws of Semantic Change. "
                "ACL 2016.")
TARGETS = ("x", "y")
#: The RSM norm difference takes the spectral norm of the n × n difference with a dense symmetric eigensolver up to
#: this n (all eigenvalues, O(n³)), with Lanczos (both ends of the spectrum, to machine precision) above it.
SPECTRAL_DENSE_MAX = 2048


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


# ---------------------------------------------------------------------------------------------- Gram space
def _distances(view, site: str) -> np.ndarray:
    """The site's condensed Euclidean distances ‖x_i − x_j‖ (``pdist`` order; squared distances from the centred
    Gram, clamped at 0 against rounding, then √), read-only; its uniformity is computed from the same squared
    distances on the way. Memoised."""

    def compute():
        d = view.sqdist(site)
        np.maximum(d, 0.0, out=d)
        n = view.n
        # log of the mean of exp(−2‖x_i − x_j‖²) over all n² ordered pairs, the n diagonal terms exp(0) = 1 included
        total = n + 2.0 * float(np.sum(np.exp(-2.0 * d)))
        view.memo(("resi-uniformity", site), lambda: float(np.log(total) - 2.0 * np.log(n)))
        np.sqrt(d, out=d)
        d.setflags(write=False)
        return d

    return view.memo(("resi-dist", site), compute)


def _uniformity(view, site: str) -> float:
    """log((1/n²) Σ_ij exp(−2‖x_i − x_j‖²)), memoised."""
    _distances(view, site)  # memoises the uniformity on the way
    return view.memo(("resi-uniformity", site), lambda: None)


def _spectral_norm(A: np.ndarray) -> float:
    """‖A‖₂ of a symmetric matrix: max |λ| over its extreme eigenvalues (A is overwritten)."""
    n = A.shape[0]
    if not A.any():
        return 0.0
    if n <= SPECTRAL_DENSE_MAX:
        lam = scipy.linalg.eigvalsh(A, overwrite_a=True, check_finite=False)
        return float(max(abs(lam[0]), abs(lam[-1])))
    v0 = np.random.default_rng(0).standard_normal(n)  # fixed: the same matrix gives the same number
    try:  # the largest and the smallest eigenvalue (which="BE"): no near-tie of ±λ can hide the larger magnitude
        lam = eigsh(A, k=2, which="BE", tol=0.0, v0=v0, return_eigenvectors=False)
    except ArpackError:  # pragma: no cover - Lanczos converges on these matrices; the exact fallback
        lam = scipy.linalg.eigvalsh(A, overwrite_a=True, check_finite=False)
    return float(np.max(np.abs(lam)))


def rsm_norm_difference(view, x: str, y: str) -> float:
    """‖D_X − D_Y‖₂, the spectral norm (largest singular value) of the difference of the two n × n Euclidean-distance
    matrices (ReSi ``RSMNormDifference``: ``np.linalg.norm(S − S', ord=2)`` of sklearn's Euclidean
    ``pairwise_distances``; the spectral norm, not the Frobenius norm).

    The difference is symmetric, so its spectral norm is the largest |eigenvalue|: a dense symmetric eigensolver up
    to ``SPECTRAL_DENSE_MAX`` samples, Lanczos for both ends of the spectrum above (8n² bytes for the n × n
    difference while it runs). The distances come from the centred Grams.

    Invariances: orthogonal maps and translation (distances are unchanged); not scaling.
    """
    if x == y:
        return 0.0
    dx, dy = _distances(view, x), _distances(view, y)
    return _spectral_norm(squareform(dx - dy, checks=False))


def _dcor_site(view, site: str):
    """(d, row sums of D, ΣD), ⟨HDH, HDH⟩_F for the site's Euclidean-distance matrix D; memoised."""

    def compute():
        d = _distances(view, site)
        rows = condensed_row_sums(d, view.n)
        w = (d, rows, float(rows.sum()))
        return w, double_centred_inner(w, w, view.n)

    return view.memo(("resi-dcor", site), compute)


def distance_correlation(view, x: str, y: str) -> float:
    """Distance correlation (Székely, Rizzo, Bakirov 2007) as ReSi computes it (``DistanceCorrelation``): with
    A = H D_X H and B = H D_Y H the double-centred Euclidean-distance matrices,

        dCor = √( ⟨A, B⟩_F / √(⟨A, A⟩_F ⟨B, B⟩_F) )

    (ReSi's dCov² = mean(A ∘ B); the 1/n² cancels). ⟨A, B⟩_F = ⟨D_X, H D_Y H⟩ from the condensed distances and their
    row sums, O(n²) per pair; a rounding-negative ⟨A, B⟩ (independent sides) gives 0. NaN with a RuntimeWarning
    for a constant representation (all distances 0).

    Invariances: orthogonal maps, isotropic scaling and translation.
    """
    (px, hx), (py, hy) = _dcor_site(view, x), _dcor_site(view, y)
    r2 = cosine(double_centred_inner(px, py, view.n), hx, hy, "distance_correlation", x, y)
    return float(np.sqrt(max(r2, 0.0))) if np.isfinite(r2) else r2


def uniformity_difference(view, x: str, y: str) -> float:
    """|U(X) − U(Y)|, U = log((1/n²) Σ_ij exp(−2‖x_i − x_j‖²)) (Wang & Isola's uniformity with t = 2 on the samples
    as given, not normalised; the diagonal counted: ReSi ``UniformityDifference``).

    Invariances: orthogonal maps and translation; not scaling.
    """
    return float(abs(_uniformity(view, x) - _uniformity(view, y)))


def _norms(view, site: str):
    """(|x_i|², zero-row mask) of the raw samples: g_i + 2v_i + m, zero where it is at the rounding level of its
    terms (CONST_RTOL); with (v, m)."""
    g = view.diagonal(site)
    v, m = view.mean_terms(site)
    sq = g + 2.0 * v + m
    zero = sq <= CONST_RTOL * (g + 2.0 * np.abs(v) + m)
    return sq, zero, v, m


def _concentricity(view, site: str) -> float:
    """mean_i cos(x_i, μ), as sklearn's cosine: a zero sample or a zero mean gives cosine 0, values clipped to
    [−1, 1]; ⟨x_i, μ⟩ = v_i + m. Memoised."""

    def compute():
        sq, zero, v, m = _norms(view, site)
        if not m > 0.0:
            return 0.0
        c = np.where(zero, 0.0, (v + m) / (np.sqrt(np.where(zero, 1.0, sq)) * np.sqrt(m)))
        return float(np.mean(np.clip(c, -1.0, 1.0)))

    return view.memo(("resi-concentricity", site), compute)


def concentricity_difference(view, x: str, y: str) -> float:
    """|c(X) − c(Y)|, c = mean_i cos(x_i, μ) the mean cosine of the raw samples to their mean (ReSi
    ``ConcentricityDifference``, sklearn's cosine). From the centred Gram: |x_i|² = K_ii + 2v_i + m and
    ⟨x_i, μ⟩ = v_i + m (v = X̄μ, m = |μ|²).

    Invariances: orthogonal maps and isotropic scaling; not translation.
    """
    return float(abs(_concentricity(view, x) - _concentricity(view, y)))


def _aligned_site(view, site: str):
    """(F, |x_i|², zero-row mask) with F Fᵀ = XXᵀ: F = E Λ^½ of the raw Gram's eigenpairs with λ > n·ε·λ_max (X up
    to an orthogonal map of its features); memoised."""

    def compute():
        sq, zero, _, _ = _norms(view, site)
        K = view.raw_gram(site)
        lam, E = scipy.linalg.eigh(K, overwrite_a=True, check_finite=False)
        top = float(lam[-1]) if lam.size else 0.0
        keep = lam > view.n * np.finfo(float).eps * top if top > 0 else np.zeros(lam.shape, dtype=bool)
        return E[:, keep] * np.sqrt(lam[keep]), sq, zero

    return view.memo(("resi-aligned", site), compute)


def aligned_cosine(view, x: str, y: str) -> float:
    """Aligned cosine similarity (ReSi ``AlignedCosineSimilarity``): the mean over samples of cos(x_i Q, y_i), Q the
    orthogonal Procrustes rotation of the raw (uncentred) X onto Y (ReSi zero-pads the narrower side; samples that are
    zero on either side are left out).

    From the Grams alone: with F_X F_Xᵀ = XXᵀ and F_Y F_Yᵀ = YYᵀ (eigenpairs of the raw Grams), F_XᵀF_Y = U Σ Vᵀ
    gives XQYᵀ = F_X U Vᵀ F_Yᵀ, so cos_i = (F_X U)_i·(F_Y V)_i / (|x_i| |y_i|): O(n³) per site (memoised: F is
    n × rank, up to 8n² bytes per site while a matrix is computed) and O(n r_x r_y) per pair. Where F_XᵀF_Y has fewer nonzero singular values than both ranks (not the case for data
    in general position) the optimal rotation is not unique and ReSi's value depends on LAPACK's choice.

    Invariances: orthogonal maps and isotropic scaling; not translation.
    """
    (Fx, sx, zx), (Fy, sy, zy) = _aligned_site(view, x), _aligned_site(view, y)
    ok = ~(zx | zy)
    if not ok.any() or Fx.shape[1] == 0 or Fy.shape[1] == 0:
        return _nan("aligned_cosine", x if not (~zx).any() else y, "has only zero samples (no cosine is defined)")
    U, _, Vt = np.linalg.svd(Fx.T @ Fy, full_matrices=False)
    p = np.einsum("ij,ij->i", Fx[ok] @ U, Fy[ok] @ Vt.T)
    return float(np.mean(p / (np.sqrt(sx[ok]) * np.sqrt(sy[ok]))))


def magnitude_difference_from_gram(view, x: str, y: str) -> float:
    """| ‖μ_x‖ − ‖μ_y‖ | from the Gram space's mean terms (m = |μ|²): :func:`magnitude_difference_from_stats`."""
    return float(abs(np.sqrt(view.mean_terms(x)[1]) - np.sqrt(view.mean_terms(y)[1])))


# ---------------------------------------------------------------------------------------------------- registry
def _full(space, o):
    return Route("full", {"center": True}, o)


def _geometry(space, o):
    return Route("geometry", {}, o)


def _magnitude(space, o):
    return Route("full", {"center": True}, o) if space == "feature" else \
        Route("geometry", {}, o, magnitude_difference_from_gram)


_FEATURE = dict(statistics="moments", spaces=("feature",), router=_full)
_GRAM = dict(statistics="gram", spaces=("gram",), router=_geometry)

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
        "magnitude_difference", magnitude_difference_from_stats, {}, _magnitude, statistics="moments",
        spaces=("feature", "gram"),
        ids={"similarity": {"magnitude_difference": {}}, "resi": {"MagnitudeDifference": {}}},
        centering="none (the means)", kind="distance", range=(0.0, float("inf")),
        invariances=(ORTHOGONAL,), reference=KLABUNDE,
        summary="difference of the norms of the mean representations",
        formula="| ‖μ_x‖ − ‖μ_y‖ |",
    ),
    MeasureSpec(
        "rsm_norm_difference", rsm_norm_difference, {}, **_GRAM,
        ids={"resi": {"RSMNormDifference": {}}},
        centering="none needed (Euclidean distances)", kind="distance", range=(0.0, float("inf")),
        invariances=(ORTHOGONAL, TRANSLATION), reference=KLABUNDE,
        summary="spectral norm of the difference of the n × n Euclidean-distance matrices (ReSi)",
        formula="‖D_X − D_Y‖₂, D_ij = ‖x_i − x_j‖",
    ),
    MeasureSpec(
        "distance_correlation", distance_correlation, {}, **_GRAM,
        ids={"resi": {"DistanceCorrelation": {}}},
        centering="double-centred distance matrices (H D H)", kind="similarity", range=(0.0, 1.0),
        invariances=(ORTHOGONAL, ISOTROPIC, TRANSLATION), reference=f"{SZEKELY} {KLABUNDE}",
        summary="Székely's distance correlation of the samples' Euclidean distances (ReSi)",
        formula="√(⟨A, B⟩ / √(⟨A, A⟩⟨B, B⟩)), A = H D_X H, B = H D_Y H",
    ),
    MeasureSpec(
        "uniformity_difference", uniformity_difference, {}, **_GRAM,
        ids={"resi": {"UniformityDifference": {}}},
        centering="none needed (squared distances)", kind="distance", range=(0.0, float("inf")),
        invariances=(ORTHOGONAL, TRANSLATION), reference=f"{WANG_ISOLA} {KLABUNDE}",
        summary="difference of the uniformities log mean exp(−2‖x_i − x_j‖²) (ReSi)",
        formula="|U(X) − U(Y)|, U = log((1/n²) Σ_ij exp(−2‖x_i − x_j‖²))",
    ),
    MeasureSpec(
        "concentricity_difference", concentricity_difference, {}, **_GRAM,
        ids={"resi": {"ConcentricityDifference": {}}},
        centering="none (the raw samples and their mean)", kind="distance", range=(0.0, 2.0),
        invariances=(ORTHOGONAL, ISOTROPIC), reference=KLABUNDE,
        summary="difference of the mean cosines of the samples to their mean (ReSi)",
        formula="|c(X) − c(Y)|, c = mean_i cos(x_i, μ)",
    ),
    MeasureSpec(
        "aligned_cosine", aligned_cosine, {}, **_GRAM,
        ids={"resi": {"AlignedCosineSimilarity": {}}},
        centering="none (raw samples, orthogonal Procrustes alignment)", kind="similarity", range=(-1.0, 1.0),
        invariances=(ORTHOGONAL, ISOTROPIC), reference=f"{HAMILTON_ACL} {KLABUNDE}",
        summary="mean cosine of each sample to its counterpart after the orthogonal Procrustes rotation (ReSi)",
        formula="mean_i cos(x_i Q, y_i), Q = argmin_{QᵀQ=I} ‖XQ − Y‖_F",
    ),
)
