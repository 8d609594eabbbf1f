"""RV (Robert & Escoufier 1976) and the modified RV coefficient RV2 (Smilde et al. 2009) — docs/math.md §2 i, iii."""
from __future__ import annotations

from ..statistics import StatisticsView
from ._common import cosine, one_shot


def rv_from_stats(st: StatisticsView, x: str, y: str) -> float:
    """RV = ‖C‖² / (‖A‖ ‖B‖) with the statistics of ``st`` (centred: equal to linear CKA; raw: uncentred RV)."""
    return cosine(st.frob2(x, y), st.frob2(x, x), st.frob2(y, y), "RV", x, y)


def rv2_from_stats(st: StatisticsView, x: str, y: str) -> float:
    """RV2 = (‖C‖² − t_ab) / √((‖A‖² − t_aa)(‖B‖² − t_bb)): cosine of the Grams with their diagonals removed."""
    return cosine(
        st.frob2(x, y) - st.fourth(x, y),
        st.frob2(x, x) - st.fourth(x, x),
        st.frob2(y, y) - st.fourth(y, y),
        "RV2",
        x,
        y,
    )


def rv(X, Y, center: bool = True, *, space: str = "auto") -> float:
    """RV coefficient (Robert & Escoufier 1976) between two representations of the same samples.

    .. math:: \\mathrm{RV}(X, Y) = \\frac{\\mathrm{tr}(KL)}{\\sqrt{\\mathrm{tr}(K^2)\\,\\mathrm{tr}(L^2)}}
              = \\frac{\\|Y^\\top X\\|_F^2}{\\|X^\\top X\\|_F\\,\\|Y^\\top Y\\|_F},\\quad K = XX^\\top,\\ L = YY^\\top

    Parameters
    ----------
    X : array of shape (n_samples, p)
    Y : array of shape (n_samples, q)
    center : bool, default True
        Column-centre X and Y first (then RV equals linear CKA). ``center=False`` is hoggorm's ``RVcoeff`` on
        the raw data.
    space : {"auto", "feature", "gram"}, default "auto"
        Feature-space statistics (``repsim.Moments``) or Gram space (``repsim.GramMoments``, docs/math.md §4). "auto"
        uses Gram space only when p + q > 1.5·n and the two packed n × n Grams fit in half the available memory.

    Returns
    -------
    float in [0, 1]; NaN with a RuntimeWarning when a side has a zero Gram matrix.

    Invariances
    -----------
    Orthogonal transforms and isotropic scaling of either side; translation only with ``center=True``.

    References
    ----------
    Robert, Escoufier. A Unifying Tool for Linear Multivariate Statistical Methods: The RV-Coefficient. 1976.
    """
    from ..gram import gram_inputs

    x, y, g = gram_inputs(X, Y, space)
    if g is not None:
        return g.rv("X", "Y", center=center)
    return one_shot(x, y).rv("X", "Y", center=center)


def rv2(X, Y, center: bool = True, *, space: str = "auto") -> float:
    """Modified RV coefficient RV2 (Smilde et al. 2009): RV with the diagonals of the Grams removed.

    .. math:: \\mathrm{RV2}(X, Y) = \\frac{\\mathrm{vec}(\\tilde K)\\cdot\\mathrm{vec}(\\tilde L)}
              {\\sqrt{\\mathrm{vec}(\\tilde K)\\cdot\\mathrm{vec}(\\tilde K)\\;\\mathrm{vec}(\\tilde L)\\cdot\\mathrm{vec}(\\tilde L)}},
              \\quad \\tilde K = XX^\\top - \\mathrm{diag}(XX^\\top)

    computed from feature-space statistics as (‖YᵀX‖² − Σᵢ|xᵢ|²|yᵢ|²) / √(…), never forming an n × n matrix,
    or, for wide representations (``space``), from the masked off-diagonal sums of the two Grams.

    Parameters
    ----------
    X : array of shape (n_samples, p)
    Y : array of shape (n_samples, q)
    center : bool, default True
        Column-centre X and Y first (Thompson et al. 2019, seed 002). ``center=False`` is hoggorm's ``RV2coeff``
        on the raw data.
    space : {"auto", "feature", "gram"}, default "auto"
        Feature-space statistics (``repsim.Moments``), or Gram space (``repsim.GramMoments``, docs/math.md §4), where
        the diagonals are masked inside each tile of the fused pass instead of subtracted afterwards: more accurate
        when p ≫ n and the Grams are diagonal-dominant. "auto" uses Gram space only when p + q > 1.5·n and the two
        packed n × n Grams fit in half the available memory.

    Returns
    -------
    float in [-1, 1]; NaN with a RuntimeWarning when a side has no off-diagonal Gram mass (e.g. n = 1).

    Notes
    -----
    **Centred RV2 is biased when n is small relative to p.** Column centring makes the off-diagonal Gram entries
    of independent noise negatively correlated with one another (every row of HKH sums to zero), so two independent
    noise representations share the same −1/(n−1) structure. For independent Gaussian noise with p features the
    centred value is ≈ 1/(1 + n²/p): ≈ 0.92 at n = 10, p = 1000. Uncentred RV2 and debiased CKA stay near 0 there;
    use them (or a larger n) when p ≫ n.

    Invariances
    -----------
    Orthogonal transforms and isotropic scaling of either side; translation only with ``center=True``.

    References
    ----------
    Smilde, Kiers, Bijlsma, Rubingh, van Erk. Matrix correlations for high-dimensional data: the modified
    RV-coefficient. Bioinformatics 25(3), 2009.
    Thompson, Bengio, Schönwiesner. The effect of task and training on intermediate representations in
    convolutional neural networks revealed with modified RV similarity analysis. CCN 2019.
    """
    from ..gram import gram_inputs

    x, y, g = gram_inputs(X, Y, space)
    if g is not None:
        return g.rv2("X", "Y", center=center)
    return one_shot(x, y).rv2("X", "Y", center=center)

