"""Linear CKA (Kornblith et al. 2019) and debiased linear CKA (Song et al. 2012 unbiased HSIC) — docs/math.md §2 i–ii."""
from __future__ import annotations

from ..statistics import StatisticsView
from ._common import cosine, one_shot


def linear_cka(st: StatisticsView, x: str, y: str) -> float:
    """CKA = ‖Cc‖²_F / (‖Ac‖_F ‖Bc‖_F) from centred statistics (``st.centered`` must be True)."""
    _need_centered(st)
    return cosine(st.frob2(x, y), st.frob2(x, x), st.frob2(y, y), "linear CKA", x, y)


def hsic1_scaled(st: StatisticsView, x: str, y: str) -> float:
    """n(n−3)·HSIC₁(X, Y) at the mean: ‖Cc‖² − n/(n−2)·t_ab + trAc·trBc/((n−1)(n−2))."""
    _need_centered(st)
    n = st.n
    return (
        st.frob2(x, y)
        - n / (n - 2.0) * st.fourth(x, y)
        + st.trace(x) * st.trace(y) / ((n - 1.0) * (n - 2.0))
    )


def debiased_cka(st: StatisticsView, x: str, y: str) -> float:
    """HSIC₁(X,Y)/√(HSIC₁(X,X)·HSIC₁(Y,Y)), Song's unbiased HSIC of linear kernels (needs n ≥ 4)."""
    check_debiased_n(st.n)
    return cosine(hsic1_scaled(st, x, y), hsic1_scaled(st, x, x), hsic1_scaled(st, y, y), "debiased CKA", x, y)


def check_debiased_n(n: int) -> None:
    if n < 4:
        raise ValueError(f"debiased CKA needs at least 4 samples (the estimator divides by n(n-3)); got n={n}")


def _need_centered(st: StatisticsView) -> None:
    if not st.centered:
        raise ValueError("CKA is defined on centred statistics; use Moments.statistics(center=True)")


def cka(X, Y, debiased: bool = False, *, kernel: str = "linear", sigma: float = 0.5, bandwidth: str = "median",
        space: str = "auto") -> float:
    """Centred kernel alignment between two representations of the same samples.

    .. math:: \\mathrm{CKA}(X, Y) = \\frac{\\langle HKH, HLH\\rangle_F}{\\|HKH\\|_F\\,\\|HLH\\|_F},
              \\qquad \\text{linear: } \\frac{\\|Y_c^\\top X_c\\|_F^2}{\\|X_c^\\top X_c\\|_F\\,\\|Y_c^\\top Y_c\\|_F}

    Linear CKA is computed either from the feature-space statistics (``repsim.Moments``; never an n × n matrix)
    or, for wide representations, in Gram space (``repsim.GramMoments``: two packed n × n Grams and one fused
    pass over their tiles, docs/math.md §4). ``debiased=True`` replaces each HSIC by Song et al.'s unbiased estimator
    HSIC₁ (Kornblith's ``debiased=True``), whose expectation for independent representations is 0 at any n.

    ``kernel="rbf"`` uses K = exp(−D/(2σ²)) with D the squared Euclidean distances between samples (always in Gram
    space; D comes from the Gram of the column-centred features). The bandwidth follows Kornblith et al.: with the
    default ``bandwidth="median"``, σ = ``sigma``·√median(D), the median taken over the full n × n matrix including
    its zero diagonal (``numpy.median``; Kornblith's ``threshold`` is ``sigma``). The debiased RBF form U-centres
    both kernel matrices (Székely–Rizzo, Kornblith's ``center_gram(unbiased=True)``).

    Parameters
    ----------
    X : array of shape (n_samples, p)
    Y : array of shape (n_samples, q)
        NumPy arrays or CPU torch tensors (float16/32/64), rows are the same samples.
    debiased : bool, default False
    kernel : {"linear", "rbf"}, default "linear"
    sigma : float, default 0.5
        RBF only. With a median rule, the bandwidth as a fraction of the median distance; with
        ``bandwidth="fixed"``, σ itself.
    bandwidth : {"median", "median_lower", "median_offdiag", "fixed"}, default "median"
        RBF only. "median": Kornblith's rule above. "median_lower": the lower middle value instead of the average
        of the two middle values (``torch.median``, as ckatorch). "median_offdiag": the median over the
        off-diagonal distances only. "fixed": σ = ``sigma``.
    space : {"auto", "feature", "gram"}, default "auto"
        Where linear CKA is computed. "auto" uses Gram space only when p + q > 1.5·n and the two packed Grams
        (8·n(n+1)/2 bytes each) fit in half the available memory (docs/math.md §4 crossover rule); both give the same
        value to rounding. RBF CKA exists only in Gram space (``space="feature"`` raises).

    Returns
    -------
    float
        In [0, 1] for the biased form; the debiased form can be slightly negative. NaN with a RuntimeWarning when
        a representation is constant (its self-similarity is 0, or its RBF bandwidth is 0).

    Invariances
    -----------
    Orthogonal transforms and translation of either side (both forms, both kernels); isotropic scaling (linear,
    and RBF with a median bandwidth rule).

    Raises
    ------
    ValueError
        Non-finite values, row-count mismatch, non-2-D input, ``debiased=True`` with fewer than 4 samples, an
        unknown ``kernel`` / ``bandwidth`` / ``space``, a non-positive ``sigma``, or ``kernel="rbf"`` with
        ``space="feature"``.
    TypeError
        Non-floating-point input.

    References
    ----------
    Kornblith, Norouzi, Lee, Hinton. Similarity of Neural Network Representations Revisited. ICML 2019.
    Song, Smola, Gretton, Bedo, Borgwardt. Feature Selection via Dependence Maximization. JMLR 2012.
    Székely, Rizzo. Partial distance correlation with methods for dissimilarities. Ann. Statist. 2014.
    """
    from .. import gram as _gram
    from .._validation import check_pair

    if kernel not in _gram.KERNELS:
        raise ValueError(f"kernel must be one of {list(_gram.KERNELS)}, got {kernel!r}")
    if space not in _gram.SPACES:
        raise ValueError(f"space must be one of {list(_gram.SPACES)}, got {space!r}")
    if kernel == "linear":
        x, y, g = _gram.gram_inputs(X, Y, space)
        if g is not None:
            return g.cka("X", "Y", debiased=debiased)
        return one_shot(x, y).cka("X", "Y", debiased=debiased)
    if space == "feature":
        raise ValueError(
            "RBF CKA has no feature-space form (it needs the n × n kernel matrices); use space='auto' or 'gram'"
        )
    _gram._check_sigma(sigma)
    if bandwidth not in _gram.BANDWIDTHS:
        raise ValueError(f"bandwidth must be one of {list(_gram.BANDWIDTHS)}, got {bandwidth!r}")
    x, y = check_pair(X, Y)
    if debiased:
        check_debiased_n(x.shape[0])
    return _gram.one_shot_gram(x, y).cka("X", "Y", debiased=debiased, kernel="rbf", sigma=sigma, bandwidth=bandwidth)
