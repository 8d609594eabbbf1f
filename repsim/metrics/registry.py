"""The registry of measures: the single source of truth for every list of metrics in repsim.

Each :class:`MeasureSpec` says what a measure computes and from what: its function of a statistics view, its
options and defaults, which statistics it needs and in which space it has a form, how it centres, whether it is a
similarity or a distance, its range, its invariances, its reference, and the names other libraries give the same
convention. ``Moments.matrix``, ``GramMoments.matrix``, ``repsim.compare``, the ``Moments.<metric>`` methods, the
refusals of Gram space, ``repsim.measures()`` and the metric table of the README and docs all read it.

Routing: a measure's ``route(space, options)`` returns the statistics view it reads — ``"pairs"`` (feature-space
statistics read pair by pair: trace metrics, matches), ``"full"`` (every feature-space block, shifted and
symmetrised: CCA family, Procrustes, maps), ``"gram"`` (linear Grams), ``"kernel"`` (kernel Grams) — the view's
arguments, and the options left for the metric function.
"""
from __future__ import annotations

from .._limits import CCA_RTOL
from .._validation import choice, flag, positive_real
from . import cca as _cca
from . import cka as _cka
from . import kernel as _kernel
from . import maps as _maps
from . import match as _match
from . import neighbors as _neighbors
from . import resi as _resi
from . import rsa as _rsa
from . import rv as _rv
from . import shape as _shape

from .spec import (  # noqa: F401  (re-exported: the registry's vocabulary)
    BANDWIDTHS, HOTELLING, INVERTIBLE, ISOTROPIC, KERNELS, KNOWN, KORNBLITH, LENC, MORCOS, ORTHOGONAL,
    PERMUTATION, RAGHU, REQUIRED, ROBERT, SMILDE, SONG, SPACES, TRANSLATION, WANG, WILLIAMS, MeasureSpec, Route,
)

# ---------------------------------------------------------------------------------------------------- routers
def _pairs(center=True):
    """Feature space: the pair view; Gram space: the linear Grams; centred, or as the ``center`` option says."""

    def router(space, o):
        c = flag(o.pop("center"), "center") if center == "option" else center
        return Route("pairs" if space == "feature" else "gram", {"center": c}, o)

    return router


def _full(space, o):
    return Route("full", {"center": True}, o)


def _matches(space, o):
    return Route("pairs", {"center": True}, o)  # the neurons' own centring is the metric's `center` option


def _cka_router(space, o):
    kernel = choice(o.pop("kernel", "linear"), "kernel", KERNELS)
    sigma, bandwidth = o.pop("sigma", 0.5), o.pop("bandwidth", "median")
    if kernel != "linear":
        debiased = flag(o.pop("debiased"), "debiased")
        route = _kernel_route(space, {"sigma": sigma, "bandwidth": bandwidth}, debiased=debiased, kernel=kernel)
        return Route(route.view, route.args, route.options, _kernel.kernel_cka)
    return Route("pairs" if space == "feature" else "gram", {"center": True}, o)


def _kernel_route(space, o, debiased, kernel="rbf"):
    sigma = positive_real(o.pop("sigma"), "sigma")
    bandwidth = choice(o.pop("bandwidth"), "bandwidth", BANDWIDTHS)
    return Route("kernel", {"kernel": kernel, "sigma": sigma, "bandwidth": bandwidth, "debiased": debiased}, o)


def _rbf_router(debiased, kernel="rbf"):
    return lambda space, o: _kernel_route(space, o, debiased, kernel)


# ---------------------------------------------------------------------------------------------------- entries
_TRACE = dict(statistics="moments", spaces=("feature", "gram"))
_FEATURE = dict(statistics="moments", spaces=("feature",))
_RBF_DEFAULTS = {"sigma": 0.5, "bandwidth": "median"}
# cca and cca_r2 read one CCA result (the mean ρ or the mean ρ²)
_CCA = dict(fn=_cca.cca_from_stats, defaults={"eps": 0.0, "rtol": CCA_RTOL}, router=_full, **_FEATURE,
            centering="column-centred, standardised", kind="similarity", range=(0.0, 1.0),
            invariances=(INVERTIBLE, TRANSLATION), reference=HOTELLING)

_ENTRIES = (
    MeasureSpec(
        "cka", _cka.cka, {"debiased": False}, _cka_router, **_TRACE,
        ids={"similarity": {"cka-kernel=linear-hsic=gretton-score": {}}, "platonic-rep": {"cka": {}},
             "resi": {"CKA": {}}},
        gram_defaults={"kernel": "linear", **_RBF_DEFAULTS},
        centering="column-centred", kind="similarity", range=(0.0, 1.0),
        invariances=(ORTHOGONAL, ISOTROPIC, TRANSLATION), reference=f"{KORNBLITH} {SONG}",
        summary="linear CKA; debiased=True: HSIC₁ (Song 2012) in place of HSIC",
        formula="‖Y_cᵀX_c‖²_F / (‖X_cᵀX_c‖_F ‖Y_cᵀY_c‖_F)",
    ),
    MeasureSpec(
        "debiased_cka", _cka.debiased_cka, {}, _pairs(True), **_TRACE,
        ids={"similarity": {"cka-kernel=linear-hsic=song-score": {}},
             "platonic-rep": {"unbiased_cka": {}}, "pytorch-cka": {"cka_from_features": {}}},
        centering="column-centred (U-statistic)", kind="similarity", range=(-1.0, 1.0),
        invariances=(ORTHOGONAL, ISOTROPIC, TRANSLATION), reference=f"{KORNBLITH} {SONG}",
        summary="linear CKA with Song's unbiased HSIC₁ (Kornblith's debiased=True); ≈ 0 for independent data",
        formula="HSIC₁(K,L) / √(HSIC₁(K,K) HSIC₁(L,L))",
    ),
    MeasureSpec(
        "rbf_cka", _kernel.kernel_cka, {}, _rbf_router(False), statistics="gram", spaces=("gram",),
        ids={"similarity": {"cka-kernel=(rbf-sigma={sigma})-hsic=gretton-score": {"bandwidth": "fixed", "sigma": 1.0}},
             "ckatorch": {"ckatorch.cka(kernel='rbf')": {"bandwidth": "median_lower"}}},
        gram_defaults=_RBF_DEFAULTS,
        centering="kernel centred (H K H)", kind="similarity", range=(0.0, 1.0),
        invariances=(ORTHOGONAL, TRANSLATION, f"{ISOTROPIC} (median bandwidth)"), reference=KORNBLITH,
        summary="CKA of RBF kernels exp(−D/(2σ²)), σ = sigma·√median(D) (Kornblith's rule)",
        formula="⟨HKH, HLH⟩ / (‖HKH‖ ‖HLH‖), K = exp(−D/(2σ²))",
    ),
    MeasureSpec(
        "debiased_rbf_cka", _kernel.kernel_cka, {}, _rbf_router(True), statistics="gram", spaces=("gram",),
        ids={"similarity": {"cka-kernel=(rbf-sigma={sigma})-hsic=song-score": {"bandwidth": "fixed", "sigma": 1.0}}},
        gram_defaults=_RBF_DEFAULTS,
        centering="U-centred kernels (Székely–Rizzo)", kind="similarity", range=(-1.0, 1.0),
        invariances=(ORTHOGONAL, TRANSLATION, f"{ISOTROPIC} (median bandwidth)"), reference=f"{KORNBLITH} {SONG}",
        summary="RBF CKA with U-centred kernels (unbiased HSIC)",
        formula="HSIC₁ of U-centred RBF kernels, normalised",
    ),
    MeasureSpec(
        "laplace_cka", _kernel.kernel_cka, {}, _rbf_router(False, "laplace"), statistics="gram", spaces=("gram",),
        gram_defaults=_RBF_DEFAULTS,
        centering="kernel centred (H K H)", kind="similarity", range=(0.0, 1.0),
        invariances=(ORTHOGONAL, TRANSLATION, f"{ISOTROPIC} (median bandwidth)"), reference=KORNBLITH,
        summary="CKA of Laplace kernels exp(−√D/σ), σ = sigma·√median(D) (the RBF rule; docs/math.md §8)",
        formula="⟨HKH, HLH⟩ / (‖HKH‖ ‖HLH‖), K = exp(−‖x_i − x_j‖/σ)",
    ),
    MeasureSpec(
        "debiased_laplace_cka", _kernel.kernel_cka, {}, _rbf_router(True, "laplace"), statistics="gram",
        spaces=("gram",), gram_defaults=_RBF_DEFAULTS,
        centering="U-centred kernels (Székely–Rizzo)", kind="similarity", range=(-1.0, 1.0),
        invariances=(ORTHOGONAL, TRANSLATION, f"{ISOTROPIC} (median bandwidth)"), reference=f"{KORNBLITH} {SONG}",
        summary="Laplace CKA with U-centred kernels (unbiased HSIC)",
        formula="HSIC₁ of U-centred Laplace kernels, normalised",
    ),
    MeasureSpec(
        "rv", _rv.rv, {"center": True}, _pairs("option"), **_TRACE,
        ids={"hoggorm": {"RVcoeff": {"center": False}}},
        centering="column-centred (center=True) or raw", kind="similarity", range=(0.0, 1.0),
        invariances=(ORTHOGONAL, ISOTROPIC, f"{TRANSLATION} (center=True)"), reference=ROBERT,
        summary="RV coefficient; centred equals linear CKA; center=False is hoggorm's RVcoeff",
        formula="tr(KL) / √(tr K² tr L²)",
    ),
    MeasureSpec(
        "rv2", _rv.rv2, {"center": True}, _pairs("option"), **_TRACE,
        ids={"similarity": {"cka-kernel=linear-hsic=lange-score": {}}, "hoggorm": {"RV2coeff": {"center": False}}},
        centering="column-centred (center=True) or raw", kind="similarity", range=(-1.0, 1.0),
        invariances=(ORTHOGONAL, ISOTROPIC, f"{TRANSLATION} (center=True)"), reference=SMILDE,
        summary="modified RV: the Grams' diagonals removed (seed 002); center=False is hoggorm's RV2coeff",
        formula="Σ_{i≠j} K_ij L_ij / √(Σ_{i≠j} K_ij² Σ_{i≠j} L_ij²)",
    ),
    MeasureSpec(
        "cca", scalar=lambda r: r.mean_rho, ids={"similarity": {"cca-score": {}}},
        summary="mean canonical correlation ρ̄ (all correlations, ranks and weights on the result)",
        formula="mean of σ(R_x^{-1/2} C R_y^{-1/2})", **_CCA,
    ),
    MeasureSpec(
        "cca_r2", scalar=lambda r: r.mean_rho2, ids={"similarity": {"cca-squared_score": {}}},
        summary="mean squared canonical correlation ρ̄² (Yanai's R²_CCA)",
        formula="mean of σ(R_x^{-1/2} C R_y^{-1/2})²", **_CCA,
    ),
    MeasureSpec(
        "svcca", _cca.svcca_from_stats, {"keep": 0.99, "k": None, "rtol": CCA_RTOL}, _full, **_FEATURE,
        ids={"similarity": {"svcca-var=0.99-score": {}}},
        scalar=lambda r: r.mean_rho,
        centering="column-centred", kind="similarity", range=(0.0, 1.0),
        invariances=(ORTHOGONAL, ISOTROPIC, TRANSLATION), reference=RAGHU,
        summary="mean ρ between the top principal directions (99 % of the variance, or k of them)",
        formula="mean ρ of CCA on the top-k PCA directions",
    ),
    MeasureSpec(
        "pwcca", _cca.pwcca_from_stats, {"convention": "morcos", "eps": 0.0, "rtol": CCA_RTOL}, _full, **_FEATURE,
        ids={"similarity": {"pwcca-score": {"convention": "google"}, "measure/sim_metric/pwcca-score": {}},
             "google/svcca": {"compute_pwcca": {"convention": "google"}},
             "resi": {"PWCCA": {"convention": "google"}}},
        scalar=lambda r: r.value, symmetric=False,
        centering="column-centred", kind="similarity", range=(0.0, 1.0),
        invariances=(ISOTROPIC, TRANSLATION), reference=MORCOS,
        summary="projection-weighted mean ρ; convention='google' gives google/svcca's numbers",
        formula="Σ α_i ρ_i / Σ α_i, α_i = Σ_j |⟨h_i, x_j⟩|",
    ),
    MeasureSpec(
        "procrustes", _cca.procrustes_from_stats, {"form": "distance"}, _full, **_FEATURE,
        ids={"similarity": {"procrustes-distance=angular": {"form": "angular"},
                            "procrustes-score": {"form": "similarity"}, "nbs-score": {"form": "similarity"},
                            "nbs-distance=angular": {"form": "angular"},
                            "measure/resi/orthogonal_procrustes_centered_and_normalized": {},
                            "orthogonal_procrustes_centered_and_normalized": {},
                            "orthogonal_angular_shape_metric_centered": {"form": "angular"}},
             "netrep": {"LinearMetric(alpha=1, score_method='angular')": {"form": "angular"}},
             "resi": {"OrthogonalProcrustesCenteredAndNormalized": {},
                      "OrthogonalAngularShapeMetricCentered": {"form": "angular"}}},
        centering="column-centred, Frobenius-normalised", kind="distance", range=(0.0, 2.0 ** 0.5),
        invariances=(ORTHOGONAL, ISOTROPIC, TRANSLATION), reference=WILLIAMS,
        summary="orthogonal Procrustes √(2 − 2‖X_cᵀY_c‖_*/(‖X_c‖‖Y_c‖)); form='squared', 'angular', 'similarity'",
        formula="√(2 − 2‖X_cᵀY_c‖_* / (‖X_c‖_F ‖Y_c‖_F))",
    ),
    MeasureSpec(
        "affine_map", _maps.affine_map_from_stats, {"ridge": 0.0}, _full, **_FEATURE,
        scalar=lambda r: r.r2_total, symmetric=False,
        centering="affine (intercept fitted)", kind="similarity", range=(float("-inf"), 1.0),
        invariances=(f"{INVERTIBLE} of the input", TRANSLATION), reference=LENC,
        summary="least-squares / ridge affine map Y ≈ XW + b from the statistics; matrix value: total R²",
        formula="W = Σ_xx⁻¹ Σ_xy, R² = 1 − SS_res / SS_tot",
    ),
    MeasureSpec(
        "max_match", _match.max_match_from_stats, {"eps": REQUIRED, "center": False, "dead": "count", "dtype": None},
        _matches,
        ids={"similarity": {"measure/subspacematch/max_match": {"eps": 0.25}}},
        **_FEATURE, scalar=lambda r: r.similarity,
        centering="raw neurons (center=False, Wang et al.) or centred", kind="similarity", range=(0.0, 1.0),
        invariances=(PERMUTATION, "per-neuron scaling"), reference=WANG,
        summary="maximum ε-approximate neuron-subspace match; s(ε) = (#X + #Y)/(n_x + n_y)",
        formula="s(ε) of the maximum ε-match",
    ),
    MeasureSpec(
        "match_curve", _match.match_curve_from_stats,
        {"eps": (0.1, 0.2, 0.3, 0.4, 0.5), "center": False, "dead": "count", "dtype": None}, _matches, **_FEATURE,
        scalar=None,
        centering="raw neurons (center=False) or centred", kind="similarity", range=(0.0, 1.0),
        invariances=(PERMUTATION, "per-neuron scaling"), reference=WANG,
        summary="s(ε) for several ε from one factorisation",
        formula="s(ε) for each ε",
    ),
    MeasureSpec(
        "simple_matches", _match.simple_matches_from_stats,
        {"eps": REQUIRED, "center": False, "dead": "count", "n_threads": None, "dtype": None}, _matches, **_FEATURE,
        scalar=None,
        centering="raw neurons (center=False) or centred", kind="similarity", range=(0.0, 1.0),
        invariances=("per-neuron scaling",), reference=WANG,
        summary="every simple (minimal) match and their size distribution (depends on the neurons' order: "
                "Algorithm 2 removes neurons in index order and v-minimum matches are not unique)",
        formula="the v-minimum matches (Algorithm 2)",
    ),
)

# the families declared in their own modules (repsim.metrics.<family>.ENTRIES)
_ENTRIES = _ENTRIES + _shape.ENTRIES + _resi.ENTRIES + _rsa.ENTRIES + _neighbors.ENTRIES

REGISTRY: dict[str, MeasureSpec] = {m.name: m for m in _ENTRIES}
KNOWN.update(REGISTRY)


def names(space: str | None = None, matrix: bool = False) -> tuple[str, ...]:
    """Registry names, optionally only those with a form in ``space`` and / or with a matrix (one number per pair)."""
    return tuple(
        m.name for m in REGISTRY.values()
        if (space is None or space in m.spaces) and (not matrix or m.scalar is not None)
    )


def resolve(name) -> tuple[MeasureSpec, dict]:
    """The entry named ``name``, or known under ``name`` in another library, and the options that id implies."""
    if not isinstance(name, str):
        raise TypeError(f"metric must be a str, got {type(name).__name__}")
    spec = REGISTRY.get(name)
    if spec is not None:
        return spec, {}
    for m in REGISTRY.values():
        for ids in m.ids.values():
            if name in ids:
                return m, dict(ids[name])
    raise ValueError(f"unknown metric {name!r}; choose one of {list(REGISTRY)} (or an id of repsim.measures())")


def lookup(name) -> MeasureSpec:
    """The entry named ``name`` or known under ``name`` in another library (see :attr:`MeasureSpec.ids`)."""
    return resolve(name)[0]


def _check_unique_ids() -> None:
    seen: dict[str, str] = {}
    for m in REGISTRY.values():
        for ids in m.ids.values():
            for i in ids:
                if i in seen or (i in REGISTRY and i != m.name):
                    raise RuntimeError(f"measure id {i!r} is given twice ({seen.get(i, i)!r} and {m.name!r})")
                seen[i] = m.name


_check_unique_ids()
