"""What a measure of the registry is (:class:`MeasureSpec`), how it is routed to a statistics view
(:class:`Route`), and the shared vocabulary of invariances and references. Each family of measures declares its
entries with these (``repsim.metrics.<family>.ENTRIES`` or in :mod:`repsim.metrics.registry`); the registry
collects them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

#: Every registered measure by name, filled by :mod:`repsim.metrics.registry` (for the refusals' lists).
KNOWN: dict = {}

SPACES = ("feature", "gram", "activations")
KERNELS = ("linear", "rbf", "laplace")
BANDWIDTHS = ("median", "median_lower", "median_offdiag", "fixed")

# invariance vocabulary (what a transform of one side leaves unchanged)
ORTHOGONAL = "orthogonal transforms"
ISOTROPIC = "isotropic scaling"
TRANSLATION = "translation"
INVERTIBLE = "invertible linear maps"
PERMUTATION = "neuron permutation"

KORNBLITH = "Kornblith, Norouzi, Lee, Hinton. Similarity of Neural Network Representations Revisited. ICML 2019."
SONG = "Song, Smola, Gretton, Bedo, Borgwardt. Feature Selection via Dependence Maximization. JMLR 2012."
ROBERT = "Robert, Escoufier. A Unifying Tool for Linear Multivariate Statistical Methods: the RV-Coefficient. 1976."
SMILDE = ("Smilde, Kiers, Bijlsma, Rubingh, van Erk. Matrix correlations for high-dimensional data: the modified "
          "RV-coefficient. Bioinformatics 2009.")
HOTELLING = "Hotelling. Relations between two sets of variates. Biometrika 1936."
RAGHU = "Raghu, Gilmer, Yosinski, Sohl-Dickstein. SVCCA. NeurIPS 2017."
MORCOS = "Morcos, Raghu, Bengio. Insights on representational similarity in neural networks with canonical correlation. NeurIPS 2018."
WILLIAMS = "Williams, Kunz, Kornblith, Linderman. Generalized Shape Metrics on Neural Representations. NeurIPS 2021."
WANG = "Wang, Hu, Gu, Wu, Hu, He, Hopcroft. Towards Understanding Learning Representations. NeurIPS 2018."
LENC = "Lenc, Vedaldi. Understanding image representations by measuring their equivariance and equivalence. CVPR 2015."


class _Required:
    def __repr__(self) -> str:
        return "<required>"


#: Default of an option that has none (the call must give it).
REQUIRED = _Required()


@dataclass(frozen=True)
class Route:
    """The statistics view a measure reads (kind and arguments), the options passed on to its function, and the
    function itself when the route replaces the measure's own (``cka`` with ``kernel="rbf"``)."""

    view: str
    args: dict
    options: dict
    fn: Callable | None = None


@dataclass(frozen=True)
class MeasureSpec:
    """One measure of the registry.

    Attributes
    ----------
    name : str
        repsim's name (``Moments.matrix(name)``, ``compare(metrics=[name])``).
    fn : callable
        ``fn(view, x, y, **options)`` → the measure's result (a float, or a result object for rich measures).
    defaults : dict
        Every option the measure accepts in feature space, with its default.
    statistics : str
        What it needs: ``"moments"`` (feature-space second/fourth-order moments, or Gram space where it has a form),
        ``"gram"`` (n × n Grams only) or ``"activations"`` (the raw rows).
    spaces : tuple of str
        Where it has a form: ``"feature"`` (:class:`repsim.Moments`), ``"gram"`` (:class:`repsim.GramMoments`),
        ``"activations"`` (:class:`repsim.ActivationStore`: the rows themselves, the neighbourhood measures).
    centering : str
        How the data are centred (in words).
    kind : {"similarity", "distance"}
    range : tuple of float
        The values it can take (for a similarity, the value of identical representations is the upper end).
    invariances : tuple of str
        Transforms of either representation that leave it unchanged.
    reference : str
    ids : dict of str → dict of str → dict
        The names other libraries give the same convention, per library, each with the options that reproduce it:
        ``{"similarity": {"procrustes-distance=angular": {"form": "angular"}}}``. Any of them can be passed where a
        measure name is expected (``repsim.measure(id)``, ``Moments.matrix(id)``); its options are applied unless
        the call gives them.
    summary : str
        One line for tables.
    scalar : callable or None
        Result → float for matrices; None when the result is not one number per pair (no matrix).
    symmetric : bool
        measure(X, Y) == measure(Y, X).
    gram_defaults : dict
        Options accepted only in Gram space, with defaults.
    router : callable
        ``router(space, options)`` → :class:`Route`.
    formula : str
        The formula, for tables and docs.
    """

    name: str
    fn: Callable
    defaults: Mapping
    router: Callable
    statistics: str
    spaces: tuple
    centering: str
    kind: str
    range: tuple
    invariances: tuple
    reference: str
    summary: str
    formula: str = ""
    ids: Mapping = field(default_factory=dict)  # library -> {id: options}
    scalar: Callable | None = float
    symmetric: bool = True
    gram_defaults: Mapping = field(default_factory=dict)

    def options(self, space: str, given: Mapping) -> dict:
        """``given`` merged over the defaults of ``space``; TypeError naming any option the measure does not take."""
        defaults = dict(self.defaults)
        if space == "gram":
            defaults.update(self.gram_defaults)
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            raise TypeError(f"metric {self.name!r} got unexpected option(s) {unknown}; it accepts {sorted(defaults)}")
        merged = {**defaults, **given}
        missing = sorted(k for k, v in merged.items() if v is REQUIRED)
        if missing:
            raise TypeError(f"metric {self.name!r} needs option(s) {missing}")
        return merged

    def route(self, space: str, options: Mapping) -> Route:
        """The view to read in ``space`` (after :meth:`check_space`) for the merged ``options``."""
        return self.router(space, dict(options))

    def check_space(self, space: str) -> None:
        """ValueError when the measure has no form in ``space`` (the refusals of Gram / feature space)."""
        if space in self.spaces:
            return
        if self.spaces == ("activations",):
            where = {"gram": "no Gram-space form", "feature": "no feature-space form"}.get(space, f"no {space} form")
            raise ValueError(
                f"metric {self.name!r} has {where}: it needs the activations themselves (each sample's nearest "
                "neighbours, docs/math.md §7); use repsim.ActivationStore (space='activations') or call it on arrays "
                f"(repsim.measure({self.name!r})(X, Y))"
            )
        if space == "activations":
            raise ValueError(
                f"metric {self.name!r} has no activations form in repsim.ActivationStore (it holds the neighbourhood "
                f"measures); use repsim.Moments or repsim.GramMoments (spaces {list(self.spaces)}) for it"
            )
        if space == "gram":
            have = [m.name for m in KNOWN.values() if "gram" in m.spaces]
            raise ValueError(
                f"metric {self.name!r} has no Gram-space form in repsim (Gram space supports {have}): the CCA "
                "family, Procrustes, affine maps and neuron matches need the feature-space statistics; use "
                "repsim.Moments (space='feature') for it"
            )
        raise ValueError(
            f"metric {self.name!r} has no feature-space form (it needs the n × n kernel matrices); use "
            "repsim.GramMoments (space='gram') for it"
        )

    def check_matrix(self) -> None:
        """ValueError when the measure's result is not one number per pair (a curve, a set of matches)."""
        if self.scalar is None:
            raise ValueError(
                f"metric {self.name!r} gives more than one number per pair (a curve or a set): it has no matrix; "
                "call it on one pair of sites instead"
            )

    def matrix_value(self, result) -> float:
        """The matrix entry of one result."""
        self.check_matrix()
        return float(self.scalar(result))
