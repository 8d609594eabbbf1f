"""The neighbourhood family: measures of how far two representations agree on each sample's k nearest neighbours
(docs/math.md §7) — mutual k-NN and CKNNA (Huh et al. 2024, platonic-rep) and ReSi's k-NN Jaccard, rank
similarity, joint-rank Jaccard and second-order cosine similarity (Klabunde et al.).

They need the activations themselves, not sufficient statistics: each is a function ``fn(view, x, y, **options)``
of an activations view (:class:`repsim.activations.ActivationView`: ``rows(site)`` → the (n_samples, n_features)
rows as stored, float32 or float64, and ``memo(key, compute)``). Each site's exact k-NN (repsim._knn, float32
screen certified in float64, ties to the lower index) is computed once per view and option set.
"""
from __future__ import annotations

import warnings

import numpy as np

from .._knn import DISTANCES, check_k, knn, overlap, second_order, transpose_sum
from .._limits import KNN_MIN_N
from .._validation import choice, flag, positive_int, real
from .spec import ISOTROPIC, ORTHOGONAL, MeasureSpec, Route

HUH = "Huh, Cheung, Wang, Isola. The Platonic Representation Hypothesis. ICML 2024."
KLABUNDE = ("Klabunde, Wald, Schumacher, Strohmaier, Lemmerich. ReSi: A Comprehensive Benchmark for "
            "Representational Similarity Measures. ICLR 2025; Klabunde, Schumacher, Strohmaier, Lemmerich. "
            "Similarity of Neural Network Models: A Survey of Functional and Representational Measures. "
            "ACM Computing Surveys 2025.")
HAMILTON = "Hamilton, Leskovec, Jurafsky. Cultural Shift or Linguistic Drift? EMNLP 2016."


# ---------------------------------------------------------------------------------------------------- neighbours
def neighbours(view, site: str, k, distance: str = "cosine", skip_self: bool = True, n_threads=None):
    """Site ``site``'s exact k nearest neighbours (:class:`repsim._knn.Neighbours`), once per view and options."""
    rows = view.rows(site)
    k = check_k(k, rows.shape[0], skip_self)
    distance = choice(distance, "distance", DISTANCES)
    if n_threads is not None:
        n_threads = positive_int(n_threads, "n_threads")
    return view.memo(("knn", site, k, distance, skip_self),
                     lambda: knn(rows, k, distance, skip_self=skip_self, n_threads=n_threads, name=f"site {site!r}"))


def _pair(view, x, y, k, distance, n_threads, skip_self=True):
    return (neighbours(view, x, k, distance, skip_self, n_threads),
            neighbours(view, y, k, distance, skip_self, n_threads))


# ---------------------------------------------------------------------------------------------------- measures
def mutual_knn(view, x: str, y: str, k: int = 10, distance: str = "cosine", n_threads=None) -> float:
    """Mutual k-NN alignment: the mean fraction of each sample's k nearest neighbours shared by both sides.

    .. math:: m_{kNN}(X, Y) = \\frac{1}{n}\\sum_i \\frac{|N_k^X(i) \\cap N_k^Y(i)|}{k}

    N_k(i): the k samples with the largest cosine to sample i (itself excluded), as platonic-rep's ``mutual_knn``
    computes it on the L2-normalised features of its pipeline (``distance="inner_product"``: on the features as
    given, its raw call). Ties go to the lower index (docs/math.md §7.1).

    Parameters
    ----------
    view : activations view (``rows(site)`` of shape (n_samples, n_features))
    x, y : str
        Site names.
    k : int
        Neighbours per sample, 1 ≤ k ≤ n − 1.
    distance : {"cosine", "inner_product", "euclidean"}
    n_threads : int, optional

    Returns
    -------
    float in [0, 1]; 1 for identical neighbourhoods, ≈ k/(n − 1) for independent ones.

    Invariances
    -----------
    Orthogonal transforms and isotropic scaling of either side (cosine; Euclidean adds translation).

    References
    ----------
    Huh et al. 2024, The Platonic Representation Hypothesis (minyoungg/platonic-rep, ``metrics.py``).
    """
    nx, ny = _pair(view, x, y, k, distance, n_threads)
    common, _ = overlap(nx.index, ny.index)
    return float(common.mean() / nx.index.shape[1])


def knn_jaccard(view, x: str, y: str, k: int = 10, distance: str = "cosine", n_threads=None) -> float:
    """k-NN Jaccard similarity: the mean Jaccard index of the two k-neighbour sets of each sample.

    .. math:: J_k(X, Y) = \\frac{1}{n}\\sum_i \\frac{|N_k^X(i) \\cap N_k^Y(i)|}{|N_k^X(i) \\cup N_k^Y(i)|}

    ReSi's ``jaccard_similarity`` (k + 1 neighbours by sklearn's brute-force cosine search, the first dropped as the
    sample itself; here the sample itself is excluded by index, which is the same unless rows are duplicated).

    Returns
    -------
    float in [0, 1]. Invariances: orthogonal transforms, isotropic scaling (cosine).

    References
    ----------
    Klabunde et al., ReSi (mklabunde/resi, ``repsim/measures/nearest_neighbor.py``).
    """
    nx, ny = _pair(view, x, y, k, distance, n_threads)
    common, _ = overlap(nx.index, ny.index)
    kk = nx.index.shape[1]
    return float(np.mean(common / (2 * kk - common)))


def rank_similarity(view, x: str, y: str, k: int = 10, distance: str = "cosine", n_threads=None) -> float:
    """Rank similarity: agreement of the ranks of the neighbours both sides share.

    .. math:: r_i = \\frac{\\sum_{j \\in N^X_k(i) \\cap N^Y_k(i)} \\frac{2}{(1 + |\\rho_X(i,j) - \\rho_Y(i,j)|)
              (\\rho_X(i,j) + \\rho_Y(i,j))}}{\\sum_{t=1}^{|N^X_k(i) \\cap N^Y_k(i)|} 1/t}, \\qquad
              \\text{value} = \\frac{1}{n}\\sum_i r_i

    ρ(i, j) ∈ 1..k the rank of j among i's neighbours; r_i = 0 when none is shared (ReSi's ``rank_similarity``).

    Returns
    -------
    float in [0, 1]. Invariances: orthogonal transforms, isotropic scaling (cosine).

    References
    ----------
    Klabunde et al., ReSi and the survey of representational similarity measures.
    """
    nx, ny = _pair(view, x, y, k, distance, n_threads)
    _, rank = overlap(nx.index, ny.index)
    return float(rank.mean())


def joint_rank_jaccard(view, x: str, y: str, k: int = 10, distance: str = "cosine", n_threads=None) -> float:
    """Joint rank and Jaccard similarity: the mean over samples of (Jaccard index) × (rank similarity r_i).

    ReSi's ``joint_rank_jaccard_similarity``. Returns a float in [0, 1]. Invariances: orthogonal transforms,
    isotropic scaling (cosine).

    References
    ----------
    Klabunde et al., ReSi and the survey of representational similarity measures.
    """
    nx, ny = _pair(view, x, y, k, distance, n_threads)
    common, rank = overlap(nx.index, ny.index)
    kk = nx.index.shape[1]
    return float(np.mean(common / (2 * kk - common) * rank))


def second_order_cosine(view, x: str, y: str, k: int = 10, n_threads=None) -> float:
    """Second-order cosine similarity: per sample, the cosine between its cosine distances to the union of its k
    nearest neighbours on both sides, measured in X and in Y; averaged over samples.

    .. math:: s_i = \\cos\\big(d^X_{i, U_i},\\, d^Y_{i, U_i}\\big), \\quad U_i = N^X_k(i) \\cup N^Y_k(i),
              \\quad d_{ij} = \\mathrm{clip}(1 - \\cos(z_i, z_j), 0, 2)

    ReSi's ``second_order_cosine_similarity`` (cosine neighbours, sklearn's clipped cosine distances, scipy's
    cosine). A sample whose distance vector is 0 on one side gives NaN (with a RuntimeWarning).

    Returns
    -------
    float in [0, 1]. Invariances: orthogonal transforms, isotropic scaling.

    References
    ----------
    Hamilton et al. 2016 (second-order similarity); Klabunde et al., ReSi.
    """
    nx, ny = _pair(view, x, y, k, "cosine", n_threads)
    s = second_order(view.rows(x), view.rows(y), nx.index, ny.index)
    if np.isnan(s).any():
        warnings.warn(f"second_order_cosine: {int(np.isnan(s).sum())} sample(s) have all-zero distance vectors "
                      "(duplicated neighbourhoods); the value is NaN", RuntimeWarning, stacklevel=3)
    return float(s.mean())


def _hsic(N, A, B, m: int, unbiased: bool) -> float:
    """HSIC of two sparse n × n matrices on the support N (n, k), −1 = absent (platonic-rep's hsic_unbiased /
    hsic_biased, docs/math.md §7.1)."""
    valid = N >= 0
    cols = N[valid]
    rA, rB = A.sum(axis=1), B.sum(axis=1)
    cA = np.bincount(cols, weights=A[valid], minlength=m)
    cB = np.bincount(cols, weights=B[valid], minlength=m)
    t1, sA, sB = transpose_sum(N, A, B), rA.sum(), rB.sum()
    if unbiased:
        return (t1 + sA * sB / ((m - 1) * (m - 2)) - 2.0 * float(cA @ rB) / (m - 2)) / (m * (m - 3))
    return t1 - (float(rA @ cB) + float(cA @ rB)) / m + sA * sB / (m * m)


def cknna(view, x: str, y: str, k: int = 10, distance: str = "cosine", unbiased: bool = True, eps: float = 0.0,
          n_threads=None) -> float:
    """CKNNA: CKA restricted to the pairs that are k-nearest neighbours on both sides (Huh et al. 2024).

    .. math:: \\mathrm{CKNNA} = \\frac{\\mathrm{HSIC}(M \\circ K, M \\circ L)}
              {\\sqrt{\\mathrm{HSIC}(M_K \\circ K, M_K \\circ K)\\,\\mathrm{HSIC}(M_L \\circ L, M_L \\circ L)} + \\epsilon}

    K = X Xᵀ on the L2-normalised rows (``distance="cosine"``, platonic-rep's pipeline) or on the rows as given
    (``"inner_product"``); (M_K)_ij = 1 when j is one of i's k nearest neighbours by K (itself excluded when
    ``unbiased``; ties to the lower index), M = M_K ∘ M_L; HSIC is Song's unbiased estimator (``unbiased=True``,
    needs n ≥ 4) or tr(AHBH) — platonic-rep's ``cknna`` with ``topk=k``. Its code adds 1e-6 to the denominator:
    ``eps=1e-6`` (its id's preset) reproduces it; the default 0 is the paper's ratio.

    Returns
    -------
    float; 1 for identical representations, ≈ 0 for independent ones; not bounded by 1 in general (the numerator
    and denominator have different supports), and not symmetric: the masked kernels are not symmetric matrices, and
    the cross term Σ(K̃L̃) of platonic-rep's HSIC pairs K's column sums with L's row sums. NaN with a RuntimeWarning when the denominator's product is ≤ 0.

    Invariances
    -----------
    Orthogonal transforms; isotropic scaling (cosine).

    References
    ----------
    Huh et al. 2024 (minyoungg/platonic-rep, ``metrics.py``); Song et al. 2012 (HSIC₁).
    """
    unbiased = flag(unbiased, "unbiased")
    eps = real(eps, "eps")
    distance = choice(distance, "distance", ("cosine", "inner_product"))
    m = view.rows(x).shape[0]
    if unbiased and m < KNN_MIN_N:
        raise ValueError(f"cknna with unbiased=True needs at least {KNN_MIN_N} samples (its HSIC divides by "
                         f"n(n-3)); got n={m}")
    check_k(k, m, unbiased, low=2)
    nx, ny = _pair(view, x, y, k, distance, n_threads, skip_self=unbiased)
    eq = nx.index[:, :, None] == ny.index[:, None, :]
    both = eq.any(axis=2)
    N = np.where(both, nx.index, -1)
    A = np.where(both, nx.score, 0.0)
    B = np.where(both, np.take_along_axis(ny.score, eq.argmax(axis=2), axis=1), 0.0)
    kl = _hsic(N, A, B, m, unbiased)
    kk = _hsic(nx.index, nx.score, nx.score, m, unbiased)
    ll = _hsic(ny.index, ny.score, ny.score, m, unbiased)
    if kk * ll <= 0.0:
        warnings.warn(f"cknna: HSIC(K,K)·HSIC(L,L) = {kk * ll:.3g} ≤ 0 (sites {x!r}, {y!r}); the value is NaN",
                      RuntimeWarning, stacklevel=3)
        return float("nan")
    return float(kl / (np.sqrt(kk * ll) + eps))


# ---------------------------------------------------------------------------------------------------- entries
def _route(space, o):
    return Route("activations", {}, o)


_COMMON = dict(router=_route, statistics="activations", spaces=("activations",), kind="similarity")
_KNN = {"k": 10, "distance": "cosine", "n_threads": None}
_COSINE = "L2-normalised rows (cosine neighbours); none for distance='inner_product'"

ENTRIES = (
    MeasureSpec(
        "mutual_knn", mutual_knn, dict(_KNN), **_COMMON,
        ids={"platonic-rep": {"AlignmentMetrics.mutual_knn": {}},
             "similarity": {"measure/platonic/mutual_knn-topk={topk}": {"k": 10, "distance": "inner_product"}}},
        centering=_COSINE, range=(0.0, 1.0), invariances=(ORTHOGONAL, ISOTROPIC), reference=HUH,
        summary="mean share of each sample's k nearest neighbours common to both sides (platonic-rep)",
        formula="(1/n) Σ_i |N_X(i) ∩ N_Y(i)| / k",
    ),
    MeasureSpec(
        "cknna", cknna, {**_KNN, "unbiased": True, "eps": 0.0}, **_COMMON, symmetric=False,
        ids={"platonic-rep": {"AlignmentMetrics.cknna": {"eps": 1e-6}},
             "similarity": {"measure/platonic/cknna-topk={topk}": {"k": 10, "distance": "inner_product",
                                                                   "eps": 1e-6}}},
        centering="HSIC centring (U-statistic when unbiased) of the k-NN-masked kernels",
        range=(float("-inf"), float("inf")), invariances=(ORTHOGONAL, ISOTROPIC), reference=HUH,
        summary="CKA of the kernels restricted to mutual k-NN pairs (platonic-rep; eps=1e-6 is its code's)",
        formula="HSIC(M∘K, M∘L) / √(HSIC(M_K∘K, M_K∘K) HSIC(M_L∘L, M_L∘L))",
    ),
    MeasureSpec(
        "knn_jaccard", knn_jaccard, dict(_KNN), **_COMMON,
        ids={"resi": {"JaccardSimilarity": {}}, "similarity": {"measure/resi/jaccard_similarity": {}}},
        centering=_COSINE, range=(0.0, 1.0), invariances=(ORTHOGONAL, ISOTROPIC), reference=KLABUNDE,
        summary="mean Jaccard index of the two k-neighbour sets of each sample (ReSi)",
        formula="(1/n) Σ_i |N_X(i) ∩ N_Y(i)| / |N_X(i) ∪ N_Y(i)|",
    ),
    MeasureSpec(
        "rank_similarity", rank_similarity, dict(_KNN), **_COMMON,
        ids={"resi": {"RankSimilarity": {}}, "similarity": {"measure/resi/rank_similarity": {}}},
        centering=_COSINE, range=(0.0, 1.0), invariances=(ORTHOGONAL, ISOTROPIC), reference=KLABUNDE,
        summary="agreement of the ranks of the shared k nearest neighbours (ReSi)",
        formula="(1/n) Σ_i Σ_j∈∩ 2/((1+|ρ_X−ρ_Y|)(ρ_X+ρ_Y)) / Σ_{t≤|∩|} 1/t",
    ),
    MeasureSpec(
        "joint_rank_jaccard", joint_rank_jaccard, dict(_KNN), **_COMMON,
        ids={"resi": {"joint_rank_jaccard_similarity": {}}},
        centering=_COSINE, range=(0.0, 1.0), invariances=(ORTHOGONAL, ISOTROPIC), reference=KLABUNDE,
        summary="Jaccard index × rank similarity per sample, averaged (ReSi)",
        formula="(1/n) Σ_i J_i r_i",
    ),
    MeasureSpec(
        "second_order_cosine", second_order_cosine, {"k": 10, "n_threads": None}, **_COMMON,
        ids={"resi": {"SecondOrderCosineSimilarity": {}},
             "similarity": {"measure/resi/second_order_cosine_similarity": {}}},
        centering="L2-normalised rows (cosine)", range=(0.0, 1.0), invariances=(ORTHOGONAL, ISOTROPIC),
        reference=f"{HAMILTON} {KLABUNDE}",
        summary="cosine of the cosine-distance profiles over the union of both k-neighbour sets (ReSi)",
        formula="(1/n) Σ_i cos(d_X(i, U_i), d_Y(i, U_i)), U_i = N_X(i) ∪ N_Y(i)",
    ),
)
