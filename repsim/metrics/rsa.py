"""Representational similarity analysis (RSA) from Gram space (docs/math.md §8): each site's representational
dissimilarity matrix (RDM) of its samples, condensed to the upper triangle, compared across sites by a correlation
or cosine; and the family's registry entries, ``ENTRIES``.

The RDMs come from a ``"rdm"`` view (:class:`repsim.gram.views.RDMView`: one condensed RDM per site, formed from the
stored Gram). What a comparison needs of one site — its centred, ranked or row-summed RDM — is prepared once per
site and memoised on the view, so a site × site matrix costs one O(n²) vector product per pair (Kendall's τ:
O(n² log n)).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

from .._limits import RDM_TIE_RTOL
from .._validation import choice
from ._common import condensed_row_sums, cosine, dot, double_centred_inner
from .spec import ISOTROPIC, ORTHOGONAL, TRANSLATION, MeasureSpec, Route

#: RDMs: rsatoolbox's "euclidean" (squared distance / number of features) and "correlation" (1 − Pearson r of two
#: samples across their features), and "cosine" (1 − cosine, ``scipy.spatial.distance.pdist(metric="cosine")``).
RDMS = ("correlation", "euclidean", "cosine")
#: Comparisons of two condensed RDMs (rsatoolbox's names in docs/math.md §8): Spearman's ρ (average ranks for
#: ties, rsatoolbox's "spearman"), Pearson's r ("corr"), Kendall's τ_A ("tau-a"), cosine ("cosine"), and the
#: whitened Pearson / cosine with rsatoolbox's default covariance of the RDM entries ("corr_cov", "cosine_cov").
COMPARISONS = ("spearman", "pearson", "kendall_tau_a", "cosine", "corr_cov", "cosine_cov")

KRIEGESKORTE = ("Kriegeskorte, Mur, Bandettini. Representational similarity analysis – connecting the branches of "
                "systems neuroscience. Front. Syst. Neurosci. 2008.")
NILI = ("Nili, Wingfield, Walther, Su, Marslen-Wilson, Kriegeskorte. A Toolbox for Representational Similarity "
        "Analysis. PLoS Comput. Biol. 2014.")
DIEDRICHSEN = ("Diedrichsen, Berlot, Mur, Schütt, Shahbazi, Kriegeskorte. Comparing representational geometries "
               "using whitened unbiased-distance-matrix similarity. Neurons, Behavior, Data analysis and Theory 2021.")


def rsa(view, x: str, y: str, compare: str = "spearman") -> float:
    """RSA between sites ``x`` and ``y``: the comparison ``compare`` of their condensed RDMs (``view.rdm``).

    Parameters
    ----------
    view : repsim.gram.views.RDMView
        The condensed RDMs, each of shape (n_samples·(n_samples − 1)/2,), ``pdist`` order.
    x, y : str
        Site names.
    compare : {"spearman", "pearson", "kendall_tau_a", "cosine", "corr_cov", "cosine_cov"}
        "spearman": Pearson's r of the average ranks (rsatoolbox "spearman", ``scipy.stats.spearmanr``).
        "pearson": Pearson's r of the entries (rsatoolbox "corr"). "kendall_tau_a": (concordant − discordant pairs)
        / (m(m − 1)/2), ties in the denominator (rsatoolbox "tau-a"). "cosine": cosine of the entries (rsatoolbox
        "cosine"). "cosine_cov": the cosine after whitening with rsatoolbox's default covariance of the RDM entries,
        which equals ⟨HAH, HBH⟩_F / (‖HAH‖_F ‖HBH‖_F) for the n × n RDMs A, B (rsatoolbox "cosine_cov");
        "corr_cov": the same after subtracting each RDM's mean entry (rsatoolbox "corr_cov").

    Returns
    -------
    float
        In [−1, 1]; 1 for identical RDMs. NaN with a RuntimeWarning when an RDM is constant (its centred or ranked
        entries vanish) or has NaN entries (a sample with no norm or no variance, see the RDM).

    Invariances
    -----------
    Isotropic scaling of either representation (every RDM); orthogonal transforms (Euclidean and cosine RDMs);
    translation (Euclidean RDM); "spearman" and "kendall_tau_a" also any strictly increasing map of the RDM entries.

    References
    ----------
    Kriegeskorte, Mur, Bandettini 2008; Nili et al. 2014 (rsatoolbox); Diedrichsen et al. 2021 (whitened RDM
    comparisons).
    """
    name = f"RSA (rdm={view.rdm!r}, compare={compare!r})"
    if compare == "kendall_tau_a":
        return _tau_a(_site(view, x, compare), _site(view, y, compare), name, x, y)
    (a, aa), (b, bb) = _site(view, x, compare), _site(view, y, compare)
    num = double_centred_inner(a, b, view.n) if compare in ("corr_cov", "cosine_cov") else dot(a, b)
    return cosine(num, aa, bb, name, x, y)


def _site(view, site: str, compare: str):
    """What ``compare`` needs of one site's RDM d, memoised on the view: (d − mean(d), its squared norm) (pearson),
    (ranks − their mean, squared norm) (spearman), (d, squared norm) (cosine), (d, tie count) (kendall_tau_a),
    ((d', its n row sums, their sum), ‖Hd'H‖²) with d' = d − mean(d) (corr_cov) or d (cosine_cov)."""

    def compute():
        d = view.condensed(site)
        if compare == "kendall_tau_a":
            s = _snap_ties(d) if np.isfinite(d).all() else d
            _, counts = np.unique(s, return_counts=True)
            return s, int(np.sum(counts * (counts - 1) // 2))
        if compare in ("corr_cov", "cosine_cov"):
            dd = d - d.mean() if compare == "corr_cov" else d
            rows = condensed_row_sums(dd, view.n)
            w = (dd, rows, float(rows.sum()))
            return w, double_centred_inner(w, w, view.n)
        if compare == "pearson":
            v = d - d.mean()
        elif compare == "spearman":
            if np.isfinite(d).all():
                r = _ranks(d)  # average ranks of ties
                v = r - r.mean()
            else:
                v = np.full(d.shape, np.nan)
        else:
            v = d
        return v, dot(v, v)

    return view.memo((compare, site), compute)


def comparison_vector(view, site: str, compare: str) -> tuple[np.ndarray, float]:
    """What a linear comparison of RDMs reads of one site: the condensed vector v (n(n − 1)/2,) with
    compare(x, y) = v_xᵀv_y / √(v_xᵀv_x · v_yᵀv_y) — the centred entries ("pearson"), the centred average ranks
    ("spearman"), the entries ("cosine") — and vᵀv. Permuting the samples permutes v's entries and leaves vᵀv
    unchanged (the Monte-Carlo test in Gram space relies on it). ValueError for the other comparisons."""
    if compare not in ("pearson", "spearman", "cosine"):
        raise ValueError(f"compare={compare!r} is not a cosine of one vector per site; comparison_vector covers "
                         "'pearson', 'spearman' and 'cosine'")
    return _site(view, site, compare)


def kendall_parts(view, site: str) -> tuple[np.ndarray, int]:
    """One site's part of Kendall's τ_A: its condensed RDM with near-ties snapped (:func:`_snap_ties`) and the
    number of tied pairs; permuting the samples permutes the entries and keeps the count."""
    return _site(view, site, "kendall_tau_a")


def kendall_tau_a(a: tuple[np.ndarray, int], b: tuple[np.ndarray, int]) -> float:
    """Kendall's τ_A of two sites' :func:`kendall_parts` (as ``rsa(..., compare="kendall_tau_a")``)."""
    return _tau_a(a, b, "RSA (compare='kendall_tau_a')", "x", "y")


def _runs(d: np.ndarray):
    """(order, sorted d, start-of-run flags): a run is a stretch of sorted entries whose consecutive gaps are at most
    RDM_TIE_RTOL × max|d| — entries equal in exact arithmetic, apart only by the rounding of the Gram."""
    order = np.argsort(d, kind="stable")
    s = d[order]
    new_run = np.empty(s.size, dtype=bool)
    new_run[:1] = True
    np.greater(np.diff(s), RDM_TIE_RTOL * float(np.max(np.abs(s), initial=0.0)), out=new_run[1:])
    return order, s, new_run


def _snap_ties(d: np.ndarray) -> np.ndarray:
    """d with every run (:func:`_runs`) set to its first value."""
    order, s, new_run = _runs(d)
    out = np.empty_like(d)
    out[order] = s[new_run][np.cumsum(new_run) - 1]
    return out


def _ranks(d: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ``scipy.stats.rankdata``) with the runs of :func:`_runs` tied, from one sort."""
    order, _, new_run = _runs(d)
    starts = np.flatnonzero(new_run)
    ends = np.append(starts[1:], d.size) - 1
    avg = (starts + ends) / 2.0 + 1.0
    out = np.empty(d.size)
    out[order] = avg[np.cumsum(new_run) - 1]
    return out


def _tau_a(a, b, name: str, x: str, y: str) -> float:
    """Kendall's τ_A = (C − D) / P, P = m(m − 1)/2, from SciPy's τ_B = (C − D)/√((P − T_x)(P − T_y)) and the
    tie counts T (pairs tied in one RDM); 0 when an RDM is constant (no pair is concordant or discordant)."""
    (da, ta), (db, tb) = a, b
    m = da.size
    total = m * (m - 1) // 2
    if not (np.isfinite(da).all() and np.isfinite(db).all()) or total == 0:
        return cosine(float("nan"), 1.0, 1.0, name, x, y)  # NaN with the warning
    if ta == total or tb == total:
        return 0.0
    tau_b = stats.kendalltau(da, db).statistic
    return float(tau_b * (math.sqrt(total - ta) * math.sqrt(total - tb)) / total)


def _router(space, o):
    rdm = choice(o.pop("rdm"), "rdm", RDMS)
    compare = choice(o.pop("compare"), "compare", COMPARISONS)
    return Route("rdm", {"rdm": rdm}, {**o, "compare": compare})


def _ids():
    """Ids of rsatoolbox's methods (as nacloos/similarity-repository registers them), of the
    similarity-repository's standard names, and of resi's RSA."""
    tool = {"euclidean": "euclidean", "correlation": "correlation"}
    cmp_tool = {"pearson": "corr", "spearman": "spearman", "kendall_tau_a": "tau_a", "cosine": "cosine",
                "corr_cov": "corr_cov", "cosine_cov": "cosine_cov"}
    cmp_std = {"pearson": "pearson", "spearman": "spearman", "kendall_tau_a": "tau_a", "cosine": "cosine",
               "corr_cov": "corr_cov", "cosine_cov": "cosine_cov"}
    std_rdm = {"euclidean": "squared_euclidean", "correlation": "correlation", "cosine": "cosine"}
    rsatoolbox, similarity = {}, {}
    for rdm in RDMS:
        for compare in COMPARISONS:
            options = {"rdm": rdm, "compare": compare}
            if rdm in tool:
                rsatoolbox[f"rsatoolbox/rsa-{tool[rdm]}-{cmp_tool[compare]}"] = options
            similarity[f"rsa-rdm={std_rdm[rdm]}-compare={cmp_std[compare]}"] = options
    # √ is increasing: rank comparisons of Euclidean distances equal those of squared distances
    similarity["rsa-rdm=euclidean-compare=spearman"] = {"rdm": "euclidean", "compare": "spearman"}
    resi = {"RSA": {"rdm": "correlation", "compare": "spearman"},
            "RSA_correlation_spearman": {"rdm": "correlation", "compare": "spearman"},
            "RSA_euclidean_spearman": {"rdm": "euclidean", "compare": "spearman"}}
    return {"rsatoolbox": rsatoolbox, "similarity": similarity, "resi": resi}


ENTRIES: tuple = (
    MeasureSpec(
        "rsa", rsa, {}, _router, statistics="gram", spaces=("gram",),
        gram_defaults={"rdm": "correlation", "compare": "spearman"}, ids=_ids(),
        centering="none (correlation RDM: each sample centred across its features)", kind="similarity",
        range=(-1.0, 1.0),
        invariances=(ISOTROPIC, f"{ORTHOGONAL} (rdm=euclidean)", f"{ORTHOGONAL} (rdm=cosine)",
                     f"{TRANSLATION} (rdm=euclidean)"),
        reference=f"{KRIEGESKORTE} {NILI} {DIEDRICHSEN}",
        summary="RSA: RDMs (rdm='correlation', 'euclidean', 'cosine') compared by compare='spearman', 'pearson', "
                "'kendall_tau_a', 'cosine', 'corr_cov', 'cosine_cov' (rsatoolbox's conventions)",
        formula="compare(triu RDM(X), triu RDM(Y)), RDM_ij from K_ii + K_jj − 2K_ij",
    ),
)
