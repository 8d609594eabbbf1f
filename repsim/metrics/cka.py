"""Linear CKA (Kornblith et al. 2019) and debiased linear CKA (Song et al. 2012 unbiased HSIC) — MATH.md §2 i–ii."""
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


def cka(X, Y, debiased: bool = False) -> float:
    """Linear centred kernel alignment between two representations of the same samples.

    .. math:: \\mathrm{CKA}(X, Y) = \\frac{\\|Y_c^\\top X_c\\|_F^2}{\\|X_c^\\top X_c\\|_F\\,\\|Y_c^\\top Y_c\\|_F}

    computed from the feature-space statistics (never an n × n Gram matrix). ``debiased=True`` replaces each
    HSIC by Song et al.'s unbiased estimator HSIC₁ (Kornblith's ``debiased=True``), whose expectation for
    independent representations is 0 at any n.

    Parameters
    ----------
    X : array of shape (n_samples, p)
    Y : array of shape (n_samples, q)
        NumPy arrays or CPU torch tensors (float16/32/64), rows are the same samples.
    debiased : bool, default False

    Returns
    -------
    float
        In [0, 1] for the biased form; the debiased form can be slightly negative. NaN with a RuntimeWarning when
        a representation is constant (its self-similarity is 0).

    Invariances
    -----------
    Orthogonal transforms and isotropic scaling of either side, and translation (both forms).

    Raises
    ------
    ValueError
        Non-finite values, row-count mismatch, non-2-D input, or ``debiased=True`` with fewer than 4 samples.
    TypeError
        Non-floating-point input.

    References
    ----------
    Kornblith, Norouzi, Lee, Hinton. Similarity of Neural Network Representations Revisited. ICML 2019.
    Song, Smola, Gretton, Bedo, Borgwardt. Feature Selection via Dependence Maximization. JMLR 2012.
    """
    m = one_shot(X, Y)
    return m.cka("X", "Y", debiased=debiased)
