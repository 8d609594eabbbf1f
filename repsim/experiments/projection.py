"""Subspace-projection curves (seed 000, §4.2; after Raghu et al. 2017, Fig. 2).

Model A's features are projected onto an n-dimensional subspace, x ↦ μ + P(x − μ) with μ A's training mean, and
classified by A's own head; the accuracy as a function of n shows how much of the subspace the head uses. The
subspace is chosen by one of seven methods; the three CCA methods use a second model B (same training samples) only
to find A's canonical directions. All bases come from one :class:`~repsim.Moments` of A and B's training features.
"""
from __future__ import annotations

import numbers
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from .._validation import flag, integer, name_tuple, real
from ..moments import Moments
from ..plot import plot_projection
from ._logreg import (
    accuracy,
    as_features,
    as_head,
    as_labels,
    correct,
    fit_logistic,
    json_floats,
    per_class,
    readonly,
    split_labels,
)

ALL_METHODS = (
    "CCA_highest",
    "CCA_lowest",
    "CCA_random",
    "PCA",
    "max_activation",
    "random_selection",
    "random_projection",
)
RANDOM_METHODS = frozenset({"CCA_random", "random_selection", "random_projection"})
_CCA_METHODS = frozenset({"CCA_highest", "CCA_lowest", "CCA_random"})
_CODE = {m: k for k, m in enumerate(ALL_METHODS)}


def _pca_rank(lam: np.ndarray, keep: float) -> int:
    """Smallest r whose leading eigenvalues (descending) hold a fraction ``keep`` of the variance."""
    tol = max(lam.size, 1) * np.finfo(float).eps * lam[0]
    rank = int(np.count_nonzero(lam > tol))
    cum = np.cumsum(lam[:rank]) / lam[:rank].sum()
    return min(rank, int(np.searchsorted(cum, keep * (1.0 - 1e-12))) + 1)


def _eigh_desc(A: np.ndarray):
    lam, V = linalg.eigh(A, check_finite=False)
    return np.clip(lam[::-1], 0.0, None), V[:, ::-1]


class _Bases:
    """Every basis the seven methods select from, computed once from the centred statistics of A and B.

    Canonical basis (seed 000, Fig. 3): A and B are each reduced to the principal directions holding ``pca_keep`` of
    their variance (r_a and r_b of them) and whitened; the SVD of the whitened cross-covariance T = U S Vᵀ with a
    *full* U (r_a × r_a) gives r_a canonical directions of A — min(r_a, r_b) with correlation s, the rest with
    correlation 0. With A's covariance V Λ Vᵀ (V_r, Λ_r the kept part), the canonical coordinates are the rows of
    ``coords = [Uᵀ Λ_r^{-1/2} V_rᵀ ; V_dᵀ]`` (p × p) and the directions the columns of its inverse
    ``dirs = [V_r Λ_r^{1/2} U, V_d]``, where V_d are the p − r_a principal directions dropped by the reduction.
    Keeping the coordinates in S gives the oblique projection P = dirs[:, S] · coords[S, :] (= B⁻¹ I_n B).
    """

    def __init__(self, m: Moments, pca_keep: float, mean_abs: np.ndarray, cca: bool):
        view = m.full_view(center=True)
        self.mean = m.mean("A")
        self.p = m.dims["A"]
        lam, V = _eigh_desc(view.block("A", "A"))
        if not lam[0] > 0:
            raise ValueError("train_a is constant (no direction with variance); nothing to project")
        self.pca = V
        self.activation_order = np.argsort(-mean_abs, kind="stable")
        self.rho = None
        if not cca:
            return
        lam_b, V_b = _eigh_desc(view.block("B", "B"))
        if not lam_b[0] > 0:
            raise ValueError("train_b is constant (no direction with variance); CCA needs variance in B")
        ra, rb = _pca_rank(lam, pca_keep), _pca_rank(lam_b, pca_keep)
        if ra + rb > view.n / 2:
            warnings.warn(
                f"projection_curves: PCA-reduced ranks {ra} (A) + {rb} (B) against n = {view.n} training samples; "
                "as r_a + r_b approaches n the canonical correlations are forced towards 1. Use more samples or "
                "a smaller pca_keep",
                RuntimeWarning,
                stacklevel=3,
            )
        Wa = V[:, :ra] / np.sqrt(lam[:ra])
        Wb = V_b[:, :rb] / np.sqrt(lam_b[:rb])
        T = Wa.T @ view.block("A", "B") @ Wb
        U, s, _ = linalg.svd(T, full_matrices=True, check_finite=False)
        rho = np.zeros(ra)
        rho[: s.size] = np.clip(s, 0.0, 1.0)
        self.rho = rho
        self.rank = ra
        self.coords = np.vstack([(Wa @ U).T, V[:, ra:].T])
        self.dirs = np.hstack([(V[:, :ra] * np.sqrt(lam[:ra])) @ U, V[:, ra:]])

    def matrix(self, method: str, n: int, rng: np.random.Generator | None) -> np.ndarray:
        """P of shape (p, p) for ``x ↦ μ + P(x − μ)``; the identity when n = p."""
        p = self.p
        if n == p:
            return np.eye(p)
        if method in _CCA_METHODS:
            r = self.rank
            tail = np.arange(r, p)  # the directions dropped by the PCA reduction come last in every order
            if method == "CCA_highest":
                order = np.arange(p)
            elif method == "CCA_lowest":
                order = np.concatenate([np.arange(r)[::-1], tail])
            else:
                order = np.concatenate([rng.permutation(r), tail])
            S = order[:n]
            return self.dirs[:, S] @ self.coords[S, :]
        if method == "PCA":
            Vn = self.pca[:, :n]
            return Vn @ Vn.T
        if method == "random_projection":
            Q, _ = linalg.qr(rng.standard_normal((p, n)), mode="economic", check_finite=False)
            return Q @ Q.T
        keep = self.activation_order[:n] if method == "max_activation" else rng.choice(p, size=n, replace=False)
        P = np.zeros((p, p))
        P[keep, keep] = 1.0
        return P


def _project(X: np.ndarray, mean: np.ndarray, P: np.ndarray) -> np.ndarray:
    return mean + (X - mean) @ P.T


def _base_seed(random_state) -> int:
    if random_state is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**63))
    return integer(random_state, "random_state", 0, what="a non-negative int, a numpy Generator or None")


def _rng(seed: int, method: str, n: int, repeat: int) -> np.random.Generator:
    """Independent stream per (method, n, repeat): the same draws whatever the other n values or methods are."""
    return np.random.default_rng([seed, _CODE[method], n, repeat])


def _check_methods(methods) -> tuple:
    methods = name_tuple(methods, "methods", "method")
    bad = [m for m in methods if m not in ALL_METHODS]
    if bad:
        raise ValueError(f"methods: unknown method(s) {bad}; choose from {list(ALL_METHODS)}")
    return methods


def default_n_values(n_classes: int, width: int) -> np.ndarray:
    """Seed 000's grid: 1, 2, …, 2·n_classes, then the powers of 2 above it, and the width itself (all ≤ width)."""
    values = set(range(1, min(2 * n_classes, width) + 1))
    k = 1
    while k < width:
        values.add(k)
        k *= 2
    values.add(width)
    return np.array(sorted(values), dtype=np.int64)


def _check_n_values(n_values, width: int) -> np.ndarray:
    if isinstance(n_values, (str, bytes)) or not isinstance(n_values, Iterable):
        raise TypeError(f"n_values must be a sequence of ints, got {type(n_values).__name__}")
    values = list(n_values)
    if not values:
        raise ValueError("n_values must hold at least one value")
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
            raise TypeError(f"n_values must hold ints, got {v!r} ({type(v).__name__})")
    bad = [int(v) for v in values if not 1 <= v <= width]
    if bad:
        raise ValueError(f"n_values must lie in [1, {width}] (the width of train_a), got {bad}")
    return np.array(sorted(set(int(v) for v in values)), dtype=np.int64)


def _check_fraction(value, name: str) -> float:
    return real(value, name, 0.0, 1.0, low_open=True)


def _check_inputs(train_a, test_a, train_b):
    """train_a, test_a (None: not needed) and train_b as checked float64 matrices."""
    A = as_features(train_a, "train_a")
    At = None if test_a is None else as_features(test_a, "test_a")
    B = as_features(train_b, "train_b")
    if At is not None and At.shape[1] != A.shape[1]:
        raise ValueError(f"test_a must have the width of train_a ({A.shape[1]}), got shape {At.shape}")
    if B.shape[0] != A.shape[0]:
        raise ValueError(
            f"train_b must have one row per training sample of train_a ({A.shape[0]}), got shape {B.shape}"
        )
    return A, At, B


def projection_matrix(train_a, train_b, method: str, n: int, pca_keep: float = 0.9999, random_state=0):
    """The projection P of one method: model A's features are projected as x ↦ μ + P(x − μ) (μ = A's train mean).

    P is idempotent (P² = P) with rank n: an orthogonal projection for "PCA" and "random_projection", a diagonal
    0/1 selection for "max_activation" and "random_selection", and the oblique projection B⁻¹ I_n B onto n
    canonical directions (B the full canonical basis of A's space) for the CCA methods. For n = p it is the
    identity. Random methods draw from ``random_state`` exactly as repeat 0 of :func:`projection_curves` does.

    Parameters
    ----------
    train_a : array of shape (n_samples, p)
        Model A's training features.
    train_b : array of shape (n_samples, q)
        Model B's features of the same samples (used by the CCA methods only).
    method : str
        One of :data:`ALL_METHODS`.
    n : int
        Dimension of the subspace, 1 ≤ n ≤ p.
    pca_keep : float, default 0.9999
        Fraction of the variance each side keeps before CCA.
    random_state : int, numpy Generator or None, default 0

    Returns
    -------
    ndarray of shape (p, p)

    References
    ----------
    Raghu, Gilmer, Yosinski & Sohl-Dickstein. SVCCA. NeurIPS 2017 (Fig. 2).
    """
    A, _, B = _check_inputs(train_a, None, train_b)
    (method,) = _check_methods(method)
    (n,) = _check_n_values([n], A.shape[1])
    keep = _check_fraction(pca_keep, "pca_keep")
    seed = _base_seed(random_state)
    m = Moments().update({"A": A, "B": B})
    bases = _Bases(m, keep, np.abs(A).mean(axis=0), method in _CCA_METHODS)
    return bases.matrix(method, int(n), _rng(seed, method, int(n), 0))


def _mean(a: np.ndarray) -> np.ndarray:
    """Row means, exact where all repeats agree (the identity at n = width must give the baseline bit for bit)."""
    return np.where(a.min(axis=1) == a.max(axis=1), a[:, 0], a.mean(axis=1))


def _freeze(d):
    return None if d is None else {k: readonly(v) for k, v in d.items()}


@dataclass(frozen=True)
class ProjectionCurves:
    """Accuracy of model A's head on features projected onto n-dimensional subspaces, per selection method.

    Attributes
    ----------
    n_values : ndarray of shape (m,)
        Subspace dimensions, increasing.
    methods : tuple of str
    accuracy : dict of str to ndarray of shape (m,)
        Test accuracy of A's own head on the projected test features; the mean over the repeats for random methods.
    std : dict of str to ndarray of shape (m,)
        Standard deviation over the repeats (population, ddof = 0); zeros for deterministic methods.
    retrained : dict of str to ndarray of shape (m,), or None
        With ``retrain=True``: test accuracy of a logistic-regression head refitted on the projected training
        features (mean over repeats).
    retrained_std : dict of str to ndarray of shape (m,), or None
    baseline : float
        Test accuracy of A's head on the unprojected features (every curve ends there at n = width).
    retrained_baseline : float or None
        Test accuracy of a head refitted on the unprojected training features.
    rho : ndarray or None
        The canonical correlations of A's (PCA-reduced) canonical directions, descending, zeros beyond
        min(r_a, r_b); None when no CCA method was run.
    n_classes, width, repeats : int
    pca_keep : float
    random_state : int
        The seed every random draw derives from.
    classes : ndarray of int, shape (c,)
        The class indices 0 … n_classes − 1.
    class_counts : ndarray of int, shape (c,)
        Test samples of each class.
    per_class : dict of str to ndarray of shape (m, c)
        Per method, the test accuracy on the samples of each class at each n (mean over the repeats for random
        methods; NaN for a class without test samples). Weighted by ``class_counts`` the classes average back to
        ``accuracy``: ``per_class[method] @ class_counts / n_test == accuracy[method]`` — which classes a subspace
        loses (seed 000 asks whether n_classes dimensions keep every class).
    correct : dict of str to ndarray of shape (m, n_test)
        Per method and n, each test sample's correctness: 1.0 or 0.0, for random methods the fraction of the repeats
        that classified it correctly. Not in :meth:`to_dict`.
    baseline_per_class : ndarray of shape (c,)
        ``baseline`` per class (the unprojected features).
    retrained_per_class : dict of str to ndarray of shape (m, c), or None
        With ``retrain=True``: ``retrained`` per class.
    """

    n_values: np.ndarray
    methods: tuple
    accuracy: dict
    std: dict
    retrained: dict | None
    retrained_std: dict | None
    baseline: float
    retrained_baseline: float | None
    rho: np.ndarray | None
    n_classes: int
    width: int
    repeats: int
    pca_keep: float
    random_state: int
    classes: np.ndarray | None = None
    class_counts: np.ndarray | None = None
    per_class: dict | None = None
    correct: dict | None = None
    baseline_per_class: np.ndarray | None = None
    retrained_per_class: dict | None = None

    def __post_init__(self):
        nv = np.array(self.n_values, dtype=np.int64)
        nv.setflags(write=False)
        object.__setattr__(self, "n_values", nv)
        object.__setattr__(self, "methods", tuple(self.methods))
        for name in ("accuracy", "std", "retrained", "retrained_std", "per_class", "correct", "retrained_per_class"):
            object.__setattr__(self, name, _freeze(getattr(self, name)))
        for name, dtype in (("rho", np.float64), ("classes", np.int64), ("class_counts", np.int64),
                            ("baseline_per_class", np.float64)):
            if getattr(self, name) is not None:
                a = np.array(getattr(self, name), dtype=dtype)
                a.setflags(write=False)
                object.__setattr__(self, name, a)

    def to_dict(self) -> dict:
        """JSON-ready dictionary (lists of floats; None for missing values)."""

        def curves(d):
            return None if d is None else {m: json_floats(d[m]) for m in self.methods}

        return {
            "experiment": "projection",
            "n_values": [int(v) for v in self.n_values],
            "methods": list(self.methods),
            "accuracy": curves(self.accuracy),
            "std": curves(self.std),
            "retrained": curves(self.retrained),
            "retrained_std": curves(self.retrained_std),
            "baseline": float(self.baseline),
            "retrained_baseline": None if self.retrained_baseline is None else float(self.retrained_baseline),
            "rho": None if self.rho is None else json_floats(self.rho),
            "n_classes": int(self.n_classes),
            "width": int(self.width),
            "repeats": int(self.repeats),
            "pca_keep": float(self.pca_keep),
            "random_state": int(self.random_state),
            "classes": None if self.classes is None else self.classes.tolist(),
            "class_counts": None if self.class_counts is None else self.class_counts.tolist(),
            "per_class": curves(self.per_class),
            "baseline_per_class": None if self.baseline_per_class is None else json_floats(self.baseline_per_class),
            "retrained_per_class": curves(self.retrained_per_class),
        }

    def plot(self, ax=None, **kwargs):
        """Accuracy against the subspace dimension, one line per method → the matplotlib ``Axes``
        (:func:`repsim.plot.plot_projection`: ``methods``, ``retrained``, ``title``, ``ylabel``)."""
        return plot_projection(self, ax, **kwargs)

    def _table(self, acc, std) -> list[str]:
        lines = ["| n | " + " | ".join(self.methods) + " |", "|---|" + "---|" * len(self.methods)]
        for k, n in enumerate(self.n_values):
            label = f"{n} (n_c)" if n == self.n_classes else (f"{n} (all)" if n == self.width else str(n))
            cells = []
            for m in self.methods:
                cell = f"{100 * acc[m][k]:.2f}%"
                if m in RANDOM_METHODS:
                    cell += f" \u00b1 {100 * std[m][k]:.2f}"
                cells.append(cell)
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        return lines

    def to_markdown(self) -> str:
        """The curves as markdown tables (rows = subspace dimension n, columns = method), as in seed 000's Fig. 4."""
        lines = [
            "## Subspace projection (seed 000, \u00a74.2)",
            "",
            f"Model A's test accuracy with its own head after projecting its features onto n dimensions "
            f"(width {self.width}, n_c = {self.n_classes} classes). Unprojected baseline: {100 * self.baseline:.2f}%. "
            f"Random methods: mean \u00b1 std over {self.repeats} repeats (random_state {self.random_state}); "
            f"CCA after PCA keeping {100 * self.pca_keep:g}% of the variance.",
            "",
            *self._table(self.accuracy, self.std),
            "",
        ]
        if self.retrained is not None:
            lines += [
                f"### Head retrained on the projected training features (unprojected: "
                f"{100 * self.retrained_baseline:.2f}%)",
                "",
                *self._table(self.retrained, self.retrained_std),
                "",
            ]
        return "\n".join(lines)


def projection_curves(
    train_a,
    test_a,
    train_b,
    head_a,
    labels,
    n_values=None,
    methods=ALL_METHODS,
    repeats: int = 5,
    retrain: bool = False,
    pca_keep: float = 0.9999,
    random_state=0,
) -> ProjectionCurves:
    """Accuracy of model A after projecting its features onto n-dimensional subspaces (seed 000, §4.2).

    For each method and each n, A's features are projected as x ↦ μ + P(x − μ) (μ = A's training mean, P of
    rank n from :func:`projection_matrix`) and classified by A's own head. Methods (seed 000, after Raghu et al.
    2017, Fig. 2):

    - ``"CCA_highest"``, ``"CCA_lowest"``, ``"CCA_random"``: keep the n canonical coordinates of A (against B)
      with the highest, the lowest, or random correlations, P = B⁻¹ I_n B with B the full canonical basis of A's
      space. Each side is first reduced by PCA to ``pca_keep`` of its variance; A's canonical basis has r_a
      directions (those beyond min(r_a, r_b) have correlation 0), followed by the p − r_a principal directions the
      reduction dropped, which every CCA method takes last (only when n > r_a).
    - ``"PCA"``: the n principal directions of A's training features (orthogonal projection).
    - ``"max_activation"``: the n neurons with the largest mean absolute activation on the training samples; the
      others are replaced by their mean.
    - ``"random_selection"``: n random neurons; ``"random_projection"``: a random n-dimensional orthogonal
      projection (QR of a Gaussian matrix).

    At n = width every P is the identity, so every curve ends at ``baseline``.

    Parameters
    ----------
    train_a : array of shape (n_train, p)
        Model A's features of the training samples (NumPy array or CPU torch tensor).
    test_a : array of shape (n_test, p)
        Model A's features of the test samples.
    train_b : array of shape (n_train, q)
        Model B's features of the same training samples (used by the CCA methods only).
    head_a : (weight, bias) or nn.Linear-like
        A's head, ``logits = x @ weight.T + bias``, weight of shape (n_classes, p).
    labels : (train_labels, test_labels)
        Integer class indices of shapes (n_train,) and (n_test,).
    n_values : sequence of int, optional
        Subspace dimensions in [1, p] (sorted, duplicates dropped). Default :func:`default_n_values`:
        1 … 2·n_classes, then powers of 2, then p.
    methods : str or sequence of str, default ALL_METHODS
    repeats : int, default 5
        Repeats of the random methods (each with its own seeded draw).
    retrain : bool, default False
        Also refit a multinomial logistic-regression head on the projected training features
        (:func:`~repsim.experiments._logreg.fit_logistic`) and report its test accuracy.
    pca_keep : float in (0, 1], default 0.9999
        Fraction of the variance kept by the PCA reduction before CCA (seed 000 keeps 99.99 %).
    random_state : int, numpy Generator or None, default 0
        Seed of every random draw; the draw of (method, n, repeat) does not depend on the other n values or
        methods requested.

    Returns
    -------
    ProjectionCurves
        Accuracy curves per method (``accuracy``, ``std``, ``retrained``), and per class (``per_class``) and per
        test sample (``correct``) the same accuracies; ``to_markdown()``, ``to_dict()`` and ``plot()``.

    References
    ----------
    Raghu, Gilmer, Yosinski & Sohl-Dickstein. SVCCA: Singular Vector Canonical Correlation Analysis for Deep
    Learning Dynamics and Interpretability. NeurIPS 2017.
    Seed 000: When Neural Networks Using Different Sensors Create Similar Features (§2, §4.2).
    """
    A, At, B = _check_inputs(train_a, test_a, train_b)
    p = A.shape[1]
    weight, bias = as_head(head_a, "head_a", p)
    c = weight.shape[0]
    train_labels, test_labels = split_labels(labels)
    y_train = as_labels(train_labels, "labels[0] (train)", A.shape[0], c)
    y_test = as_labels(test_labels, "labels[1] (test)", At.shape[0], c)
    n_values = default_n_values(c, p) if n_values is None else _check_n_values(n_values, p)
    methods = _check_methods(methods)
    repeats = integer(repeats, "repeats", 1)
    retrain = flag(retrain, "retrain")
    keep = _check_fraction(pca_keep, "pca_keep")
    seed = _base_seed(random_state)

    m = Moments().update({"A": A, "B": B})
    bases = _Bases(m, keep, np.abs(A).mean(axis=0), any(meth in _CCA_METHODS for meth in methods))
    mu = bases.mean
    baseline_hits = correct(At, weight, bias, y_test)
    baseline = float(np.mean(baseline_hits))
    retrained_baseline = None
    if retrain:
        retrained_baseline = accuracy(At, *fit_logistic(A, y_train, c, init=(weight, bias)), y_test)

    acc, std, racc, rstd, hits, rhits = {}, {}, {}, {}, {}, {}
    for meth in methods:
        reps = int(repeats) if meth in RANDOM_METHODS else 1
        a = np.empty((n_values.size, reps))
        r = np.zeros((n_values.size, reps))
        h = np.zeros((n_values.size, At.shape[0]))
        rh = np.zeros_like(h)
        for k, n in enumerate(n_values):
            for rep in range(reps):
                rng = _rng(seed, meth, int(n), rep) if meth in RANDOM_METHODS else None
                P = bases.matrix(meth, int(n), rng)
                Xt = _project(At, mu, P)
                hit = correct(Xt, weight, bias, y_test)
                a[k, rep] = float(np.mean(hit))
                h[k] += hit
                if retrain:
                    head = fit_logistic(_project(A, mu, P), y_train, c, init=(weight, bias))
                    hit = correct(Xt, *head, y_test)
                    r[k, rep] = float(np.mean(hit))
                    rh[k] += hit
        acc[meth], std[meth], hits[meth] = _mean(a), a.std(axis=1), h / reps
        if retrain:
            racc[meth], rstd[meth], rhits[meth] = _mean(r), r.std(axis=1), rh / reps
    return ProjectionCurves(
        n_values=n_values,
        methods=methods,
        accuracy=acc,
        std=std,
        retrained=racc if retrain else None,
        retrained_std=rstd if retrain else None,
        baseline=baseline,
        retrained_baseline=retrained_baseline,
        rho=bases.rho,
        n_classes=c,
        width=p,
        repeats=int(repeats),
        pca_keep=keep,
        random_state=seed,
        classes=np.arange(c),
        class_counts=np.bincount(y_test, minlength=c),
        per_class={meth: per_class(hits[meth], y_test, c) for meth in methods},
        correct=hits,
        baseline_per_class=per_class(baseline_hits, y_test, c),
        retrained_per_class={meth: per_class(rhits[meth], y_test, c) for meth in methods} if retrain else None,
    )
