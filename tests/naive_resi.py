"""Sample-space float64 oracles of ReSi's Gram-space measures (docs/math.md §9.5), written from the definitions on
the activations: every pairwise difference x_i − x_j formed explicitly, the n × n distance matrices, numpy's SVD
norm, scipy's orthogonal Procrustes. Deliberately naive and independent of repsim's Gram statistics."""
from __future__ import annotations

import numpy as np
import scipy.linalg


def distances(X):
    """n × n Euclidean distances from the explicit differences (no |x|² + |y|² − 2xy cancellation)."""
    X = np.asarray(X, dtype=np.float64)
    return np.sqrt(np.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=2))


def rsm_norm_difference(X, Y):
    """‖D_X − D_Y‖₂: the largest singular value of the difference of the distance matrices."""
    return float(np.linalg.norm(distances(X) - distances(Y), ord=2))


def _double_centre(D):
    return D - D.mean(axis=0, keepdims=True) - D.mean(axis=1, keepdims=True) + D.mean()


def distance_correlation(X, Y):
    """Székely's V-statistic dCor: √(dCov²(X, Y) / √(dCov²(X, X) dCov²(Y, Y))), dCov² = mean(A ∘ B)."""
    A, B = _double_centre(distances(X)), _double_centre(distances(Y))
    return float(np.sqrt(np.mean(A * B) / np.sqrt(np.mean(A * A) * np.mean(B * B))))


def uniformity(X):
    """log of the mean of exp(−2‖x_i − x_j‖²) over all n² ordered pairs (the diagonal included)."""
    return float(np.log(np.mean(np.exp(-2.0 * distances(X) ** 2))))


def uniformity_difference(X, Y):
    return float(abs(uniformity(X) - uniformity(Y)))


def concentricity(X):
    """mean_i cos(x_i, μ); a zero sample or zero mean has cosine 0."""
    X = np.asarray(X, dtype=np.float64)
    mu = X.mean(axis=0)
    norms = np.linalg.norm(X, axis=1) * np.linalg.norm(mu)
    dots = X @ mu
    cos = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
    return float(np.mean(np.clip(cos, -1.0, 1.0)))


def concentricity_difference(X, Y):
    return float(abs(concentricity(X) - concentricity(Y)))


def aligned_cosine(X, Y):
    """Zero-pad to a common width, rotate X onto Y by orthogonal Procrustes, average cos(x_i Q, y_i) over the
    samples that are nonzero on both sides."""
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    m = max(X.shape[1], Y.shape[1])
    X = np.pad(X, ((0, 0), (0, m - X.shape[1])))
    Y = np.pad(Y, ((0, 0), (0, m - Y.shape[1])))
    Q, _ = scipy.linalg.orthogonal_procrustes(X, Y)
    XQ = X @ Q
    nx, ny = np.linalg.norm(XQ, axis=1), np.linalg.norm(Y, axis=1)
    ok = (nx > 0) & (ny > 0)
    return float(np.mean(np.sum(XQ[ok] * Y[ok], axis=1) / (nx[ok] * ny[ok])))


#: ReSi's measure classes (``resi.measures.CLASSES``: the 24 of the paper, with both names of the centred angular
#: Procrustes) and the repsim name each id resolves to (None: not reachable here).
RESI_MEASURES = {
    "PWCCA": "pwcca", "SVCCA": None, "HardCorrelationMatch": "hard_correlation_match",
    "SoftCorrelationMatch": "soft_correlation_match", "DistanceCorrelation": "distance_correlation",
    "EigenspaceOverlapScore": "eigenspace_overlap", "GeometryScore": None, "IMDScore": None, "Gulp": "gulp",
    "LinearRegression": "linear_r2", "JaccardSimilarity": "knn_jaccard", "RankSimilarity": "rank_similarity",
    "SecondOrderCosineSimilarity": "second_order_cosine", "AlignedCosineSimilarity": "aligned_cosine",
    "OrthogonalAngularShapeMetricCentered": "procrustes", "OrthogonalProcrustesCenteredAndNormalized": "procrustes",
    "PermutationProcrustes": "permutation_metric", "ProcrustesSizeAndShapeDistance": "bures_distance",
    "RSA": "rsa", "RSMNormDifference": "rsm_norm_difference", "ConcentricityDifference": "concentricity_difference",
    "MagnitudeDifference": "magnitude_difference", "UniformityDifference": "uniformity_difference", "CKA": "cka",
    "RTD": None,
}
