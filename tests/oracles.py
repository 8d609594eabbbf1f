"""The float64 oracle of every registry measure, written from the definitions (tests/naive*.py), shared by the
registry suite (tests/test_registry.py) and the property suite (tests/test_properties.py, which overrides some
entries to exercise other options)."""
from __future__ import annotations

import naive
import naive_gram
import naive_knn
import naive_resi
import naive_shape


def max_match_similarity(X, Y, eps, center=False, dead="count"):
    """s(ε) of the oracle's maximum match: (#X + #Y)/(n_x + n_y)."""
    m = naive.max_match(X, Y, eps, center)
    return (m["x"].size + m["y"].size) / (X.shape[1] + Y.shape[1])


def simple_match_sets(X, Y, eps, center=False, dead="count", n_threads=None):
    return sorted(naive.simple_matches(X, Y, eps, center))


def oracles(match_similarity=max_match_similarity) -> dict:
    """name → (options used in the test, oracle(X, Y, **options) → the value compared, result → the value compared);
    ``match_similarity`` computes s(ε) for the match entries."""
    return {
        "cka": ({}, lambda X, Y: naive.linear_cka(X, Y), float),
        "debiased_cka": ({}, lambda X, Y: naive.debiased_cka(X, Y), float),
        "rbf_cka": ({"sigma": 0.8}, lambda X, Y, sigma: naive_gram.rbf_cka(X, Y, sigma), float),
        "debiased_rbf_cka": ({}, lambda X, Y, sigma=0.5: naive_gram.rbf_cka(X, Y, sigma, debiased=True), float),
        "laplace_cka": ({"sigma": 0.8}, lambda X, Y, sigma: naive_gram.laplace_cka(X, Y, sigma), float),
        "debiased_laplace_cka": ({}, lambda X, Y: naive_gram.laplace_cka(X, Y, debiased=True), float),
        "rsa": ({"rdm": "euclidean", "compare": "pearson"},
                lambda X, Y, rdm, compare: naive_gram.rsa(X, Y, rdm, compare), float),
        "rv": ({"center": False}, lambda X, Y, center: naive.rv(X, Y, center), float),
        "rv2": ({"center": True}, lambda X, Y, center: naive.rv2(X, Y, center), float),
        "cca": ({}, lambda X, Y: naive.cca(X, Y)["mean_rho"], lambda r: r.mean_rho),
        "cca_r2": ({}, lambda X, Y: naive.cca(X, Y)["mean_rho2"], lambda r: r.mean_rho2),
        "svcca": ({"keep": 0.9}, lambda X, Y, keep: naive.svcca(X, Y, keep)["mean_rho"], lambda r: r.mean_rho),
        "pwcca": ({}, lambda X, Y: naive.pwcca_morcos(X, Y)["value"], lambda r: r.value),
        "procrustes": ({"form": "distance"}, lambda X, Y, form: naive.procrustes(X, Y, form), float),
        "affine_map": ({"ridge": 0.0}, lambda X, Y, ridge: naive.affine_lstsq(X, Y, ridge)["r2_total"],
                       lambda r: r.r2_total),
        # shape metrics and ReSi's closed forms (tests/naive_shape.py)
        "shape_metric": ({"alpha": 0.5}, lambda X, Y, alpha: naive_shape.shape_metric(X, Y, alpha), float),
        "bures_distance": ({}, lambda X, Y: naive_shape.bures_distance(X, Y), float),
        "permutation_metric": ({}, lambda X, Y: naive_shape.permutation_procrustes(X, Y), float),
        "hard_correlation_match": ({}, lambda X, Y: naive_shape.hard_correlation_match(X, Y), float),
        "soft_correlation_match": ({}, lambda X, Y: naive_shape.soft_correlation_match(X, Y), float),
        "eigenspace_overlap": ({}, lambda X, Y: naive_shape.eigenspace_overlap(X, Y), float),
        "gulp": ({}, lambda X, Y: naive_shape.gulp(X, Y), float),
        "linear_r2": ({}, lambda X, Y: naive_shape.linear_regression(X, Y), float),
        "magnitude_difference": ({}, lambda X, Y: naive_shape.magnitude_difference(X, Y), float),
        # ReSi's Gram-space measures (tests/naive_resi.py)
        **{name: ({}, getattr(naive_resi, name), float)
           for name in ("rsm_norm_difference", "distance_correlation", "uniformity_difference", "concentricity_difference",
                        "aligned_cosine")},
        "max_match": ({"eps": 0.3}, match_similarity, lambda r: r.similarity),
        "match_curve": ({"eps": (0.2, 0.5)}, lambda X, Y, eps: [match_similarity(X, Y, e) for e in eps],
                        lambda r: list(r.similarity)),
        "mutual_knn": ({"k": 8}, lambda X, Y, k: naive_knn.mutual_knn(X, Y, k), float),
        "cknna": ({"k": 8}, lambda X, Y, k: naive_knn.cknna(X, Y, k), float),
        "knn_jaccard": ({"k": 8}, lambda X, Y, k: naive_knn.knn_jaccard(X, Y, k), float),
        "rank_similarity": ({"k": 8}, lambda X, Y, k: naive_knn.rank_similarity(X, Y, k), float),
        "joint_rank_jaccard": ({"k": 8}, lambda X, Y, k: naive_knn.joint_rank_jaccard(X, Y, k), float),
        "second_order_cosine": ({"k": 8}, lambda X, Y, k: naive_knn.second_order_cosine(X, Y, k), float),
        "simple_matches": ({"eps": 0.3}, simple_match_sets,
                           lambda r: sorted((tuple(m.x_indices.tolist()), tuple(m.y_indices.tolist())) for m in r)),
    }
