"""The array face of repsim: ``repsim.cka(X, Y)`` and the other one-call measures, and the registry's public side.

Every function here validates its two arrays once, builds a one-shot accumulator — :class:`repsim.Moments` fed in
chunks of ``ONE_SHOT_CHUNK`` rows (feature space), or :class:`repsim.GramMoments` where the crossover rule or a
kernel asks for Gram space — and evaluates the registry measure on it, so an array call and a streamed
accumulation give the same number by construction. :func:`measures` lists the registry; :func:`measure` returns one
entry, callable on arrays.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ._limits import CCA_RTOL, ONE_SHOT_CHUNK
from ._validation import (all_finite, check_debiased_n, check_gram_block, check_pair, choice, first_nonfinite, flag,
                          input_dtype, positive_real)
from .accumulator import measure_value
from .activations import ActivationStore
from .gram import GramMoments, choose_space
from .gram.space import SPACES
from .metrics.cca import CCAResult
from .metrics.maps import AffineMap
from .metrics.match import Match, MatchCurve, SimpleMatches
from .metrics.registry import BANDWIDTHS, KERNELS, REGISTRY, REQUIRED, MeasureSpec, resolve
from .moments import Moments

__all__ = ["affine_map", "cca", "cka", "evaluate", "match_curve", "max_match", "measure", "measures", "procrustes",
           "pwcca", "rv", "rv2", "simple_matches", "svcca"]


# ---------------------------------------------------------------------------------------------------- one-shot
def one_shot(x, y) -> Moments:
    """A ``Moments`` with sites "X" and "Y" from two validated arrays, fed in chunks of ONE_SHOT_CHUNK rows (the
    extra memory is independent of n). The fused pass flags non-finite values; only then are they located on the
    whole arrays, so that the error names the row of the caller's array rather than of a chunk."""
    m = Moments()
    try:
        for start in range(0, x.shape[0], ONE_SHOT_CHUNK):
            m.update({"X": x[start : start + ONE_SHOT_CHUNK], "Y": y[start : start + ONE_SHOT_CHUNK]})
    except ValueError:
        for name, a in (("X", x), ("Y", y)):
            where = first_nonfinite(a)
            if where is not None:
                raise ValueError(f"{name}: {where}; activations must be finite") from None
        raise
    return m


def one_shot_gram(x, y, n_threads: int | None = None) -> GramMoments:
    """A ``GramMoments`` with sites "X" and "Y" from two validated arrays (full columns), each one first block: its
    magnitude is checked first (values too large for the Gram sums, or a spread whose squares underflow)."""
    for name, a in (("X", x), ("Y", y)):
        if all_finite(a):  # non-finite values: GramMoments names the entry
            check_gram_block(a, name, first=True)
    return GramMoments(x.shape[0], n_threads=n_threads).update_features({"X": x, "Y": y})


def one_shot_rows(X, Y) -> ActivationStore:
    """An ``ActivationStore`` with sites "X" and "Y" holding the caller's arrays without copies (float32 stays
    float32; np.memmap stays on disk), for the measures of the "activations" space."""
    x, y = check_pair(X, Y)
    for name, a in (("X", x), ("Y", y)):
        where = first_nonfinite(a)
        if where is not None:
            raise ValueError(f"{name}: {where}; activations must be finite")
    return ActivationStore(max_rows=x.shape[0]).update({"X": x, "Y": y}, copy=False)


def _on_pair(acc, metric: str, **options):
    return measure_value(acc, metric, "X", "Y", options)


def evaluate(metric: str, X, Y, *, space: str = "auto", **options):
    """The registry measure ``metric`` between two arrays (rows = the same samples), its full result.

    ``space="auto"`` computes in Gram space only for measures with a Gram-space form when the crossover rule
    (:func:`repsim.gram.choose_space`) picks it, and always for measures that exist only there (kernels).
    """
    spec, preset = resolve(metric)
    choice(space, "space", SPACES + ("activations",))
    if space in ("auto", "activations") and spec.spaces == ("activations",):  # the rows themselves (neighbourhoods)
        spec.check_space("activations")
        return _on_pair(one_shot_rows(X, Y), spec.name, **{**preset, **options})
    x, y = check_pair(X, Y)
    if space == "auto":
        if "feature" not in spec.spaces or _gram_options(spec, {**preset, **options}):
            space = "gram"
        elif "gram" in spec.spaces:
            space = choose_space(x.shape[0], (x.shape[1], y.shape[1]))
        else:
            space = "feature"
    spec.check_space(space)
    acc = one_shot_gram(x, y) if space == "gram" else one_shot(x, y)
    if "dtype" in spec.defaults and options.get("dtype") is None:  # the arrays' own precision (neuron matches)
        options = {**options, "dtype": input_dtype(X, Y)}
    return _on_pair(acc, spec.name, **{**preset, **options})


def _gram_options(spec, options) -> bool:
    """Whether ``options`` name something only the measure's Gram-space form takes (``kernel="rbf"``)."""
    return "gram" in spec.spaces and bool(set(options) - set(spec.defaults)) and \
        not set(options) - set(spec.defaults) - set(spec.gram_defaults)


# ---------------------------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Measure:
    """A registry entry with its array call: ``repsim.measure("cka")(X, Y, debiased=True)``.

    The metadata (``name``, ``kind``, ``range``, ``invariances``, ``reference``, ``ids``, ``defaults``,
    ``spaces``, ``statistics``, ``centering``, ``summary``, ``formula``, ``symmetric``) is that of
    :class:`repsim.metrics.registry.MeasureSpec`.
    """

    spec: MeasureSpec
    preset: dict = field(default_factory=dict)  # the options an id of another library implies

    def __getattr__(self, name):
        return getattr(self.spec, name)

    def __call__(self, X, Y, *, space: str = "auto", **options):
        """The measure between two arrays → its result (a float, or a result object for the rich measures)."""
        return evaluate(self.spec.name, X, Y, space=space, **{**self.preset, **options})

    def __repr__(self) -> str:
        preset = "".join(f", {k}={v!r}" for k, v in self.preset.items())
        return f"Measure({self.spec.name!r}{preset}: {self.spec.summary})"


def measures() -> tuple[Measure, ...]:
    """Every measure of the registry, in registry order (see :func:`measure`)."""
    return tuple(Measure(m) for m in REGISTRY.values())


def measure(name: str) -> Measure:
    """One registry measure by repsim's name or by an id another library uses for the same convention.

    Returns
    -------
    Measure
        Callable on arrays (``measure("cka")(X, Y)``), usable by name in ``Moments.matrix``,
        ``GramMoments.matrix`` and ``repsim.compare``; its attributes describe it (kind, range, invariances,
        reference, ids, options and defaults, the statistics it needs and where it has a form).
    """
    spec, preset = resolve(name)
    return Measure(spec, preset)


def measure_table_markdown() -> str:
    """The registry as a Markdown table (name, kind and range, where it has a form, options, what it computes, what
    it is invariant to, the libraries whose conventions it reproduces by id):
    the table of the README and the docs, regenerated from :func:`measures` and checked by a test."""

    def fmt(v):
        return "−∞" if v == float("-inf") else ("√2" if abs(v - 2 ** 0.5) < 1e-12 else f"{v:g}")

    lines = ["| measure | kind, range | space | options (defaults) | computes | invariant to | reproduces |",
             "|---|---|---|---|---|---|---|"]
    for m in REGISTRY.values():
        opts = {**m.defaults, **{k: v for k, v in m.gram_defaults.items() if k not in m.defaults}}
        shown = ", ".join(f"`{k}={'…' if v is REQUIRED else repr(v)}`" for k, v in opts.items()) or "—"
        matrix = "" if m.scalar is not None else " (no matrix)"
        peers = ", ".join(sorted(m.ids)) or "—"
        lines.append(f"| `{m.name}` | {m.kind}, [{fmt(m.range[0])}, {fmt(m.range[1])}] | {', '.join(m.spaces)}"
                     f" | {shown} | {m.summary}{matrix} | {'; '.join(m.invariances) or '—'} | {peers} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- measures
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
    kernel : {"linear", "rbf", "laplace"}, default "linear"
        "laplace": K = exp(−‖x_i − x_j‖/σ) with the same σ as "rbf" (docs/math.md §8).
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
        unknown ``kernel`` / ``bandwidth`` / ``space``, a non-positive ``sigma``, ``kernel="rbf"`` with
        ``space="feature"``; a site whose spread is below 1e-140 (e.g. data ≈ 1e-300: rescale it) or whose values
        are too large for float64 fourth-order sums (squared row norms above 1e150); a ``sigma`` whose
        bandwidth σ float64 cannot resolve: 1/(2σ²) overflows, or σ exceeds ≈ 7071 times the root mean squared
        distance between samples, where every kernel entry is within 1e-8 of 1 (the σ → ∞ limit is linear CKA).
    TypeError
        Non-floating-point input, a ``debiased`` that is not a bool.

    References
    ----------
    Kornblith, Norouzi, Lee, Hinton. Similarity of Neural Network Representations Revisited. ICML 2019.
    Song, Smola, Gretton, Bedo, Borgwardt. Feature Selection via Dependence Maximization. JMLR 2012.
    Székely, Rizzo. Partial distance correlation with methods for dissimilarities. Ann. Statist. 2014.
    """
    if not isinstance(kernel, str) or kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {list(KERNELS)}, got {kernel!r}")
    choice(space, "space", SPACES)
    debiased = flag(debiased, "debiased")
    if kernel != "linear":  # "rbf", "laplace"
        if space == "feature":
            raise ValueError(
                f"kernel={kernel!r}: kernel CKA has no feature-space form (it needs the n × n kernel matrices); use "
                "space='auto' or 'gram'"
            )
        positive_real(sigma, "sigma")
        choice(bandwidth, "bandwidth", BANDWIDTHS)
        x, y = check_pair(X, Y)
        if debiased:
            check_debiased_n(x.shape[0])
        return _on_pair(one_shot_gram(x, y), "cka", debiased=debiased, kernel=kernel, sigma=sigma, bandwidth=bandwidth)
    return evaluate("cka", X, Y, space=space, debiased=debiased)


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
    return evaluate("rv", X, Y, space=space, center=center)


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
    return evaluate("rv2", X, Y, space=space, center=center)


def cca(X, Y, eps: float = 0.0, rtol: float = CCA_RTOL) -> CCAResult:
    """Canonical correlation analysis (Hotelling 1936) between two representations of the same samples.

    Both sides are standardised to correlation matrices (CCA is invariant to column scaling), constant neurons are
    left out, and each correlation matrix is whitened through its eigendecomposition, keeping eigenvalues above
    ``rtol``·λ_max (a pseudo-inverse). ``eps > 0`` adds ``eps``·I to both correlation matrices (regularised CCA);
    use 0.01–0.1 when p or q approaches n. Then ρ = σ(R̃_x⁻¹ C̃ R̃_y⁻ᵀ) (docs/math.md §2 iv).

    Parameters
    ----------
    X : array of shape (n_samples, p)
    Y : array of shape (n_samples, q)
    eps : float, default 0.0
        Ridge added to the unit diagonal of the correlation matrices.
    rtol : float, default 1e-10
        Relative eigenvalue cut-off of the pseudo-inverse (for float64 statistics; docs/math.md §3.5).

    Returns
    -------
    CCAResult
        ``.rho`` (descending), ``.mean_rho``, ``.mean_rho2``, ``.rank_x``, ``.rank_y``, ``.x_weights``,
        ``.y_weights``.

    Warns
    -----
    RuntimeWarning
        When constant neurons are left out, and when r_x + r_y > n/2 or max(p, q) ≥ n: there r_x + r_y − (n − 1)
        correlations are exactly 1 whatever the data, and the others are biased upwards.

    Invariances
    -----------
    Any invertible linear map (and translation) of either side.

    References
    ----------
    Hotelling. Relations between two sets of variates. Biometrika 1936.
    Raghu, Gilmer, Yosinski, Sohl-Dickstein. SVCCA. NeurIPS 2017.
    """
    return evaluate("cca", X, Y, eps=eps, rtol=rtol)


def svcca(X, Y, keep: float = 0.99, k: int | None = None, *, return_result: bool = False):
    """SVCCA (Raghu et al. 2017): mean canonical correlation of the top principal directions.

    Each side is reduced to its top principal directions of the (centred) covariance: the fewest that explain
    ``keep`` of the variance (sum of squared singular values), or exactly ``k`` of them; then CCA between the
    reduced representations, summarised by the mean ρ (docs/math.md §2 v).

    Parameters
    ----------
    X : array of shape (n_samples, p)
    Y : array of shape (n_samples, q)
    keep : float in (0, 1], default 0.99
        Fraction of the variance kept on each side.
    k : int, optional
        Keep exactly k directions per side instead (google's tutorial uses 20 or 50). ValueError when k exceeds
        either side's number of features; a RuntimeWarning when a side has fewer than k directions with variance
        (then those are kept).
    return_result : bool, default False
        Return the :class:`CCAResult` of the reduced CCA instead of the float.

    Returns
    -------
    float (or CCAResult)

    Invariances
    -----------
    Orthogonal transforms, isotropic scaling and translation of either side (not arbitrary invertible maps: the
    truncation depends on the variance spectrum).

    References
    ----------
    Raghu, Gilmer, Yosinski, Sohl-Dickstein. SVCCA: Singular Vector Canonical Correlation Analysis for Deep
    Learning Dynamics and Interpretability. NeurIPS 2017.
    """
    return_result = flag(return_result, "return_result")
    res = evaluate("svcca", X, Y, keep=keep, k=k)
    return res if return_result else res.mean_rho


def pwcca(X, Y, convention: str = "morcos", eps: float = 0.0, *, return_result: bool = False):
    """Projection-weighted CCA (Morcos et al. 2018).

    PWCCA = Σ_i α_i ρ_i / Σ_i α_i with α_i = Σ_j |⟨h_i, x_j⟩|, where h_i are the unit-norm canonical variates and
    x_j the (centred) neurons of the side with fewer neurons (X when p ≤ q), docs/math.md §2 vi.

    Parameters
    ----------
    X : array of shape (n_samples, p)
    Y : array of shape (n_samples, q)
    convention : {"morcos", "google"}
        ``"morcos"``: the paper's definition above (``eps`` is the CCA ridge as in :func:`cca`).
        ``"google"``: google/svcca's ``compute_pwcca(acts1=X.T, acts2=Y.T, epsilon=eps)`` numbers, quirks included
        (max-scaled ddof-1 covariances, ε threshold and ridge, directions built without Σ^{-1/2}, weights against
        uncentred activations). Where that code would index ``acts1`` with Y's neurons (svcca PR #9, X wider than
        Y) a ValueError is raised instead.
    eps : float, default 0.0
    return_result : bool, default False
        Return a :class:`PWCCAResult` (value, rho, weights, side) instead of the float.

    Returns
    -------
    float (or PWCCAResult)

    Invariances
    -----------
    Translation and isotropic scaling; not symmetric in X and Y.

    References
    ----------
    Morcos, Raghu, Bengio. Insights on representational similarity in neural networks with canonical correlation.
    NeurIPS 2018.
    """
    return_result = flag(return_result, "return_result")
    res = evaluate("pwcca", X, Y, convention=convention, eps=eps)
    return res if return_result else res.value


def procrustes(X, Y, form: str = "distance") -> float:
    """Orthogonal Procrustes between centred, Frobenius-normalised representations (zero-padding the narrower).

    With s = ‖X_cᵀY_c‖_* / (‖X_c‖_F ‖Y_c‖_F) ∈ [0, 1] (docs/math.md §2 viii):

    - ``form="distance"``: min_Q ‖X̂ − ŶQ‖_F = √(2 − 2s) (Q orthogonal),
    - ``"squared"``: 2 − 2s (Ding et al. 2021),
    - ``"angular"``: arccos s (Williams et al. 2021's shape metric),
    - ``"similarity"``: s.

    Parameters
    ----------
    X : array of shape (n_samples, p)
    Y : array of shape (n_samples, q)
    form : {"distance", "squared", "angular", "similarity"}

    Returns
    -------
    float; NaN with a RuntimeWarning when a side is constant.

    Invariances
    -----------
    Orthogonal transforms, isotropic scaling and translation of either side.

    References
    ----------
    Schönemann. A generalized solution of the orthogonal Procrustes problem. Psychometrika 1966.
    Williams, Kunz, Kornblith, Linderman. Generalized Shape Metrics on Neural Representations. NeurIPS 2021.
    """
    return evaluate("procrustes", X, Y, form=form)


def affine_map(X, Y, ridge: float = 0.0) -> AffineMap:
    """Least-squares affine map from representation X to representation Y (McNeely-White 2020, seed 001).

    Solves min_{W, b} ‖X W + 1bᵀ − Y‖²_F + ridge·‖W‖²_F (the intercept is not penalised) from the sufficient
    statistics of X and Y — after accumulation no data are needed (docs/math.md §2 vii).

    Parameters
    ----------
    X : array of shape (n_samples, p)
    Y : array of shape (n_samples, q)
    ridge : float, default 0.0
        Ridge penalty on W. Required (> 0) when p ≥ n − 1, where an unregularised map interpolates.

    Returns
    -------
    AffineMap
        ``.W`` (p, q), ``.b`` (q,), ``.r2`` per target dimension, ``.r2_total``, ``.transform(X)``.

    Warns
    -----
    RuntimeWarning
        When constant features of X get weight 0 (ridge = 0); when every feature of X is constant the map is the
        constant mean of Y (W = 0, b = ȳ, R² = 0 for every non-constant target, 1 for constant ones); when the
        covariance of X is singular (the minimum-norm map is used).

    Invariances
    -----------
    The fitted values (and R²) are invariant to invertible affine maps of X (for ridge = 0) and equivariant to
    affine maps of Y.

    References
    ----------
    McNeely-White. Same Data, Same Features: Modern ImageNet-Trained Convolutional Neural Networks Learn the Same
    Thing. MS thesis, Colorado State University, 2020.
    """
    return evaluate("affine_map", X, Y, ridge=ridge)


def max_match(X, Y, eps: float, center: bool = False, dead: str = "count", dtype=None) -> Match:
    """Maximum ε-approximate match between the neurons of two layers (Wang et al. 2018, Algorithm 1).

    (X', Y') is an ε-approximate match when every neuron x ∈ X' has dist(z_x, span z_Y') ≤ ε‖z_x‖ and every
    y ∈ Y' has dist(z_y, span z_X') ≤ ε‖z_y‖, where z_v ∈ Rⁿ is neuron v's activation vector over the samples.
    Matches are closed under union, so a unique maximum match exists; it is found by removing, alternately from each
    side, every neuron that violates the condition against the other side's remaining neurons, until nothing
    changes. The distances come from the Gram blocks (docs/math.md §2 ix, stable form) with Cholesky factors of each side's
    kept neurons: removals are Givens downdates, O((p+q)·m) each, unless a sweep removes so much that refactorising
    the survivors is cheaper, which LAPACK does (``dpotrf`` + one ``dtrsm`` for every distance, SciPy's BLAS). The
    first sweep prunes X against span(Y) before span(X) is factorised at all. No activations, no subsampling.

    Parameters
    ----------
    X : array of shape (n_samples, p)
        Activations of layer 1 (for conv layers: one row per input × position, one column per channel).
    Y : array of shape (n_samples, q)
    eps : float in [0, 1]
    center : bool, default False
        False: the linear span of the raw activation vectors, as in the paper. True: centre every neuron first
        (affine span).
    dead : {"count", "exclude"}
        Dead neurons are never matched: those whose activation vector is at the rounding level of their layer,
        i.e. whose squared norm is at most (8·ε)² times the largest squared norm in the layer (with ``center=True``
        also times their own uncentred squared norm), ε the machine epsilon of ``dtype``: all-zero neurons, float32
        rounding noise, constant neurons when ``center=True`` (docs/matches.md). "count" keeps them in the
        denominator of the similarity, as the original code does; "exclude" leaves them out.
    dtype : dtype or str, optional
        The precision the activations were computed in, which sets the dead-neuron threshold ("float16",
        "bfloat16", "float32", "float64" or a NumPy / torch dtype). Default: the coarser dtype of X and Y as given
        (float64 for lists); pass ``"float32"`` when float32 activations were converted to float64.

    Returns
    -------
    Match
        ``x_indices``, ``y_indices``, ``similarity`` = (|X*| + |Y*|)/(n_x + n_y), ``eps``.

    Raises
    ------
    ValueError
        ``eps`` outside [0, 1], an unknown ``dead``, the errors of the array checks (non-finite values, row-count
        mismatch, a site whose spread is below 1e-140 — e.g. data ≈ 1e-300 — with a request to rescale).
    TypeError
        Non-floating-point input, a non-numeric ``eps``, a ``center`` that is not a bool, an unknown ``dtype``.

    Notes
    -----
    Linear dependence is decided with a relative tolerance of 1e-6 on distances, so ε below ~1e-5 is not resolved.

    Invariances
    -----------
    Invertible linear maps of either layer map matches to matches only neuron-wise: s(ε) is invariant to
    permutations and to per-neuron scaling of either layer, and s(ε) = 1 when Y = X·M with M invertible.

    References
    ----------
    Wang, Hu, Gu, Wu, Hu, He, Hopcroft. Towards Understanding Learning Representations: To What Extent Do Different
    Neural Networks Learn the Same Representation. NeurIPS 2018.
    """
    return evaluate("max_match", X, Y, eps=eps, center=center, dead=dead, dtype=dtype)


def match_curve(X, Y, eps=(0.1, 0.2, 0.3, 0.4, 0.5), center: bool = False, dead: str = "count",
                dtype=None) -> MatchCurve:
    """Maximal matching similarity s(ε) for several ε from one factorisation.

    Maximum matches are nested (ε₁ < ε₂ ⇒ M(ε₁) ⊆ M(ε₂)), so the largest ε runs first and every smaller one
    continues the elimination from its result. Parameters as in :func:`max_match`.

    Returns
    -------
    MatchCurve
        ``eps``, ``similarity`` and the ``matches`` themselves, in the order of ``eps``.
    """
    return evaluate("match_curve", X, Y, eps=eps, center=center, dead=dead, dtype=dtype)


def simple_matches(X, Y, eps: float, center: bool = False, dead: str = "count", n_threads=None,
                   dtype=None) -> SimpleMatches:
    """The simple matches (distinct v-minimum matches) between two layers at one ε (Wang et al. 2018, Algorithm 2).

    For every neuron v of the maximum match, the v-minimum match starts from the maximum match and tries to remove
    each other neuron u in turn (index order: X's neurons, then Y's); the removal is kept when v still belongs to the
    maximum match of the remaining sets. The distinct results are the simple matches.

    Complexity: neurons outside the maximum match never return, so the search runs on the Gram blocks restricted
    to the maximum match (M = |X*| + |Y*| neurons). Each v costs up to M trial eliminations, each warm-started from
    the current state (a copy of the factorisations, O(m·M), plus the downdates of its removals) and stopped as soon
    as v leaves, so O(M³·m) overall; neurons v are processed in parallel over ``n_threads`` C++ threads.
    Measured: all simple matches of a 256-neuron layer pair (M = 256) in 8–9 s on 2 cores.

    Parameters as in :func:`max_match`, and ``n_threads`` (a positive int; default: the number of cores, at most 8).

    Returns
    -------
    SimpleMatches
        A list of :class:`Match` (largest first) with ``.sizes``, ``.size_distribution()`` and ``.maximum``.
    """
    return evaluate("simple_matches", X, Y, eps=eps, center=center, dead=dead, n_threads=n_threads, dtype=dtype)
