"""Stitching tables: one model's features through another model's classifier (McNeely-White 2020, seed 001, ch. 5).

For every ordered pair of models (i, j) the features of model i are sent to the classification head of model j in
three ways: through the least-squares affine map M_{i→j} fitted on the training features (Table 5.2), through the
logit-compatibility map C_i·C_j⁺ (Table 5.3), and unmapped, truncated or zero-padded to j's width (§5.6). All
affine maps come from ONE :class:`~repsim.Moments` accumulated over every model's training features, so the whole
table costs one pass over the training data.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..metrics.maps import logit_map
from ..moments import Moments
from ..plot import plot_stitching
from ._logreg import as_features, as_head, as_labels, correct, json_floats, per_class, readonly, split_labels

_AXES = "rows = feature extractor (source model), columns = classifier (target model)"
#: The tables of a StitchingTable that are accuracies of test predictions, each with per-class and per-sample detail.
KINDS = ("accuracy", "logit", "naive")


def _readonly_dict(d, dtype):
    if d is None:
        return None
    out = {}
    for key, v in d.items():
        a = np.array(v, dtype=dtype)
        a.setflags(write=False)
        out[key] = a
    return out


@dataclass(frozen=True)
class StitchingTable:
    """Accuracies of every (feature extractor, classifier) pair of a set of models.

    Every k×k array is indexed ``[i, j]`` with **row i = the model whose feature extractor produced the features**
    (source) and **column j = the model whose classifier (head) classifies them** (target), as in seed 001's
    Tables 5.2 and 5.3. The diagonal is each model on its own (identity map).

    Attributes
    ----------
    models : tuple of str
        Model names, in the order of the rows and columns.
    accuracy : ndarray of shape (k, k)
        Test accuracy of ``head_j(M_{i→j}(test_i))`` with the least-squares affine map fitted on the training
        features (Table 5.2).
    own_accuracy : ndarray of shape (k,)
        Each model's test accuracy with its own head (the diagonal).
    delta : ndarray of shape (k, k)
        Relative change from the row model's own accuracy, ``accuracy[i, j] / own_accuracy[i] − 1`` (the small
        numbers of Table 5.2, as a fraction; NaN where a model's own accuracy is 0).
    naive : ndarray of shape (k, k)
        Test accuracy of ``head_j(test_i)`` with the features fed unmapped, truncated or zero-padded to model j's
        width (§5.6).
    logit : ndarray of shape (k, k)
        Test accuracy of ``head_j(L_{i→j}(test_i))`` with the logit-compatibility map L = C_i·C_j⁺ (Table 5.3),
        built from the class-centred heads (see :func:`stitching_table`); equal to ``own_accuracy[i]`` whenever
        head j's centred weight has rank n_classes − 1.
    r2 : ndarray of shape (k, k)
        Coefficient of determination (``AffineMap.r2_total``) of each least-squares map on the training features;
        1 on the diagonal.
    widths : tuple of int
        Feature width of each model.
    n_train, n_test : int
        Number of training samples (used to fit the maps) and test samples (used to score).
    ridge : float
        Ridge penalty of the affine maps.
    classes : ndarray of int, shape (c,)
        The class indices 0 … c − 1 (c = the heads' n_classes).
    class_counts : ndarray of int, shape (c,)
        Test samples of each class.
    per_class : dict of str to ndarray of shape (k, k, c)
        For ``"accuracy"``, ``"logit"`` and ``"naive"``: the test accuracy of each cell on the test samples of each
        class (NaN for a class without test samples). Weighted by ``class_counts`` the classes average back to the
        cell's accuracy: ``per_class[kind] @ class_counts / n_test == getattr(table, kind)`` — which classes a
        stitched model loses, where the tables give only how much.
    correct : dict of str to bool ndarray of shape (k, k, n_test)
        The same three, per test sample: whether it is classified correctly (in the order of the test labels).
        Not in :meth:`to_dict`.
    """

    models: tuple
    accuracy: np.ndarray
    own_accuracy: np.ndarray
    delta: np.ndarray
    naive: np.ndarray
    logit: np.ndarray
    r2: np.ndarray
    widths: tuple
    n_train: int
    n_test: int
    ridge: float = 0.0
    classes: np.ndarray | None = None
    class_counts: np.ndarray | None = None
    per_class: dict | None = None
    correct: dict | None = None

    def __post_init__(self):
        k = len(self.models)
        object.__setattr__(self, "models", tuple(self.models))
        for name in ("classes", "class_counts"):
            if getattr(self, name) is not None:
                a = np.array(getattr(self, name), dtype=np.int64)
                a.setflags(write=False)
                object.__setattr__(self, name, a)
        object.__setattr__(self, "per_class", _readonly_dict(self.per_class, np.float64))
        object.__setattr__(self, "correct", _readonly_dict(self.correct, bool))
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        for name in ("accuracy", "delta", "naive", "logit", "r2"):
            a = readonly(getattr(self, name))
            if a.shape != (k, k):
                raise ValueError(f"{name} must have shape ({k}, {k}), got {a.shape}")
            object.__setattr__(self, name, a)
        own = readonly(self.own_accuracy)
        if own.shape != (k,):
            raise ValueError(f"own_accuracy must have shape ({k},), got {own.shape}")
        object.__setattr__(self, "own_accuracy", own)

    def to_dict(self) -> dict:
        """JSON-ready dictionary (lists of floats; None for NaN)."""
        return {
            "experiment": "stitching",
            "axes": _AXES,
            "models": list(self.models),
            "widths": list(self.widths),
            "n_train": int(self.n_train),
            "n_test": int(self.n_test),
            "ridge": float(self.ridge),
            "own_accuracy": [float(v) for v in self.own_accuracy],
            "accuracy": json_floats(self.accuracy),
            "delta": json_floats(self.delta),
            "r2": json_floats(self.r2),
            "logit": json_floats(self.logit),
            "naive": json_floats(self.naive),
            "classes": None if self.classes is None else self.classes.tolist(),
            "class_counts": None if self.class_counts is None else self.class_counts.tolist(),
            "per_class": None if self.per_class is None else {k: json_floats(v) for k, v in self.per_class.items()},
        }

    def plot(self, ax=None, *, kind: str = "accuracy", **kwargs):
        """One of the tables as a heatmap (rows = feature extractor, columns = classifier) → the matplotlib ``Axes``
        (:func:`repsim.plot.plot_stitching`; ``kind`` one of ``"accuracy"``, ``"logit"``, ``"naive"``, ``"delta"``,
        ``"r2"``)."""
        return plot_stitching(self, ax, kind=kind, **kwargs)

    def _table(self, cell) -> list[str]:
        head = "| feature extractor \u2193 / classifier \u2192 | " + " | ".join(self.models) + " |"
        rule = "|---|" + "---|" * len(self.models)
        rows = [
            f"| {a} | " + " | ".join(cell(i, j) for j in range(len(self.models))) + " |"
            for i, a in enumerate(self.models)
        ]
        return [head, rule, *rows]

    def to_markdown(self) -> str:
        """Seed 001's Table 5.2 (with the R² of each map), Table 5.3 and §5.6 as one markdown text."""

        def pct(v):
            return "n/a" if not math.isfinite(v) else f"{100 * v:.2f}%"

        def signed(v):
            return "n/a" if not math.isfinite(v) else f"{100 * v:+.2f}%"

        models = ", ".join(f"{m} ({w})" for m, w in zip(self.models, self.widths))
        lines = [
            "## Stitching (McNeely-White 2020, ch. 5)",
            "",
            f"Models (feature width): {models}. Maps fitted on {self.n_train} training samples"
            f"{f' with ridge {self.ridge:g}' if self.ridge else ''}; accuracies on {self.n_test} test samples.",
            f"In every table, {_AXES}; the diagonal is each model on its own.",
            "",
            "### Table 5.2: least-squares affine maps",
            "",
            "Accuracy of the column model's classifier on the row model's features mapped by M_row\u2192col, "
            "and (in parentheses) the relative change from the row model's own accuracy.",
            "",
            *self._table(lambda i, j: f"{pct(self.accuracy[i, j])} ({signed(self.delta[i, j])})"),
            "",
            "R\u00b2 of each affine map on the training features:",
            "",
            *self._table(lambda i, j: f"{self.r2[i, j]:.4f}"),
            "",
            "### Table 5.3: logit-compatibility maps C_row\u00b7C_col\u207a",
            "",
            *self._table(lambda i, j: pct(self.logit[i, j])),
            "",
            "### \u00a75.6: naive swap (unmapped features, truncated or zero-padded)",
            "",
            *self._table(lambda i, j: pct(self.naive[i, j])),
            "",
        ]
        return "\n".join(lines)


def _pad_or_truncate(X: np.ndarray, width: int) -> np.ndarray:
    p = X.shape[1]
    if p >= width:
        return X[:, :width]
    return np.concatenate([X, np.zeros((X.shape[0], width - p))], axis=1)


def _centre(weight: np.ndarray, bias: np.ndarray):
    """The head with its rows and bias centred over the classes: same arg-max (softmax is shift-invariant)."""
    return weight - weight.mean(axis=0), bias - bias.mean()


def _check_centred_rank(weight: np.ndarray, name: str) -> None:
    """Warn when a class-centred head cannot reproduce every centred logit vector (rank < n_classes − 1)."""
    rank = int(np.linalg.matrix_rank(weight))
    if rank < weight.shape[0] - 1:
        warnings.warn(
            f"stitching_table: the head of {name!r} has rank {rank} after centring over the classes "
            f"(< n_classes − 1 = {weight.shape[0] - 1}), so the logit-compatibility maps into it are least-squares "
            "approximations, not lossless",
            RuntimeWarning,
            stacklevel=3,
        )


def _class_logit_map(head_a, head_b):
    """logit_map between class-centred heads; lossless for classification when rank(centred C_B) = n_classes − 1.

    A softmax head is only defined up to a common shift of its logits, and the L2-penalised optimum (weight decay)
    has rows summing to zero, i.e. rank n_classes − 1. Centring both heads removes the shift, so the relevant
    condition is that the centred C_B spans the centred logit space (checked by :func:`_check_centred_rank`);
    :func:`repsim.logit_map`'s full-row-rank warning, which cannot hold after centring, is silenced.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="logit_map: weight_b does not have full row rank")
        return logit_map(*head_a, *head_b)


def stitching_table(features, heads, labels, ridge: float = 0.0) -> StitchingTable:
    """Stitch every model's feature extractor to every model's classifier (seed 001, Tables 5.2, 5.3 and §5.6).

    One :class:`~repsim.Moments` is accumulated over all models' training features (one site per model); from it
    each least-squares affine map M_{i→j} (features of i → features of j, with bias) is solved exactly, without
    touching the data again and without using any label (§5.2). Each map is then scored on the test features:
    the row model's test features are mapped and classified by the column model's head (§5.3). The same is done
    with the logit-compatibility map C_i·C_j⁺ (§5.5) and with the unmapped features (§5.6).

    The logit maps are built by :func:`repsim.logit_map` from heads centred over the classes (each weight column
    and the bias minus its class mean), which changes no prediction because softmax ignores a common shift of the
    logits. The map is then lossless for classification when head j's centred weight has rank n_classes − 1 — which
    also holds for heads trained with weight decay, whose rows sum to zero (rank n_classes − 1 before centring);
    a RuntimeWarning names any head for which it does not.

    Parameters
    ----------
    features : mapping of str to (train_features, test_features)
        For each model, its features of the training samples, shape (n_train, p_model), and of the test samples,
        shape (n_test, p_model): NumPy arrays or CPU torch tensors. Every model sees the same samples in the same
        order; widths may differ. At least two models.
    heads : mapping of str to (weight, bias) or nn.Linear-like
        Each model's classification head, ``logits = x @ weight.T + bias`` with weight of shape
        (n_classes, p_model) (``bias`` may be None). Same keys as ``features`` and the same n_classes.
    labels : (train_labels, test_labels)
        Integer class indices of shapes (n_train,) and (n_test,). The maps never see them; only the test labels
        are used, for scoring.
    ridge : float, default 0.0
        Ridge penalty of the affine maps (see :func:`repsim.affine_map`); needed when a model is wider than
        n_train − 2.

    Returns
    -------
    StitchingTable
        k×k arrays with rows = feature extractor and columns = classifier: ``accuracy``, ``delta``, ``naive``,
        ``logit``, ``r2``; ``own_accuracy``; per class (k × k × n_classes) and per test sample (k × k × n_test) the
        same accuracies in ``per_class`` and ``correct``; ``to_markdown()``, ``to_dict()`` and ``plot()``.

    References
    ----------
    McNeely-White. Same Data, Same Features: Modern ImageNet-Trained Convolutional Neural Networks Learn the Same
    Thing. MS thesis, Colorado State University, 2020 (Tables 5.2, 5.3; §5.6).
    """
    if not isinstance(features, Mapping):
        raise TypeError(f"features must be a mapping of model name -> (train, test), got {type(features).__name__}")
    if not isinstance(heads, Mapping):
        raise TypeError(f"heads must be a mapping of model name -> head, got {type(heads).__name__}")
    models = tuple(features)
    for name in models:
        if not isinstance(name, str):
            raise TypeError(f"features: model names must be str, got {name!r}")
    if len(models) < 2:
        raise ValueError(f"features must hold at least two models, got {list(models)}")
    if set(heads) != set(models):
        raise ValueError(
            f"heads must have the same models as features: features has {sorted(models)}, heads has "
            f"{sorted(map(str, heads))}"
        )
    train, test = {}, {}
    for name in models:
        pair = features[name]
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"features[{name!r}] must be a pair (train_features, test_features)")
        train[name] = as_features(pair[0], f"features[{name!r}] train")
        test[name] = as_features(pair[1], f"features[{name!r}] test")
        if train[name].shape[1] != test[name].shape[1]:
            raise ValueError(
                f"features[{name!r}]: train and test must have the same width, got shapes "
                f"{train[name].shape} and {test[name].shape}"
            )
    for split, arrays in (("train", train), ("test", test)):
        rows = {name: a.shape[0] for name, a in arrays.items()}
        if len(set(rows.values())) != 1:
            raise ValueError(f"features: every model must have the same number of {split} samples, got {rows}")
    head = {name: as_head(heads[name], f"heads[{name!r}]", train[name].shape[1]) for name in models}
    n_classes = {name: w.shape[0] for name, (w, _) in head.items()}
    if len(set(n_classes.values())) != 1:
        raise ValueError(f"heads must all have the same number of classes, got {n_classes}")
    c = next(iter(n_classes.values()))
    n_train, n_test = train[models[0]].shape[0], test[models[0]].shape[0]
    train_labels, test_labels = split_labels(labels)
    as_labels(train_labels, "labels[0] (train)", n_train, c)
    y = as_labels(test_labels, "labels[1] (test)", n_test, c)

    centred = {name: _centre(*head[name]) for name in models}
    for name in models:
        _check_centred_rank(centred[name][0], name)
    m = Moments()
    m.update(train)
    k = len(models)
    hits = {kind: np.empty((k, k, n_test), dtype=bool) for kind in KINDS}
    r2 = np.ones((k, k))
    for i, a in enumerate(models):
        for j, b in enumerate(models):
            wb, bb = head[b]
            if i == j:
                own_hits = correct(test[a], wb, bb, y)
                for kind in KINDS:
                    hits[kind][i, j] = own_hits
                continue
            amap = m.affine_map(a, b, ridge=ridge)
            hits["accuracy"][i, j] = correct(amap.transform(test[a]), wb, bb, y)
            r2[i, j] = amap.r2_total
            lmap = _class_logit_map(centred[a], centred[b])
            hits["logit"][i, j] = correct(lmap.transform(test[a]), wb, bb, y)
            hits["naive"][i, j] = correct(_pad_or_truncate(test[a], wb.shape[1]), wb, bb, y)
    acc, logit, naive = (hits[kind].mean(axis=2) for kind in KINDS)
    own = np.diag(acc).copy()
    if np.any(own == 0):
        zero = [models[i] for i in np.flatnonzero(own == 0)]
        warnings.warn(
            f"stitching_table: model(s) {zero} classify no test sample correctly, so their relative changes "
            "(delta) are undefined and set to NaN",
            RuntimeWarning,
            stacklevel=2,
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(own[:, None] > 0, acc / np.where(own > 0, own, 1.0)[:, None] - 1.0, np.nan)
    np.fill_diagonal(delta, np.where(own > 0, 0.0, np.nan))
    return StitchingTable(
        models=models,
        accuracy=acc,
        own_accuracy=own,
        delta=delta,
        naive=naive,
        logit=logit,
        r2=r2,
        widths=tuple(train[name].shape[1] for name in models),
        n_train=n_train,
        n_test=n_test,
        ridge=float(ridge),
        classes=np.arange(c),
        class_counts=np.bincount(y, minlength=c),
        per_class={kind: per_class(hits[kind], y, c) for kind in KINDS},
        correct=hits,
    )
