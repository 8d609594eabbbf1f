"""Linear classification heads for the experiments: parsing, scoring, and multinomial logistic regression.

A head maps features to logits, ``logits = X @ weight.T + bias``, with ``weight`` of shape (n_classes, n_features)
as in ``torch.nn.Linear``. The experiments of seeds 000 and 001 feed (mapped or projected) features through such
heads and count correct arg-max predictions; seed 000 also retrains the head on projected features, which
:func:`fit_logistic` does with L-BFGS on the L2-penalised softmax cross-entropy.
"""
from __future__ import annotations

import warnings

import math

import numpy as np
from scipy import optimize
from scipy.special import log_softmax

from .._validation import _is_torch, all_finite, as_float64_array, as_float_matrix, positive_real


def as_head(head, name: str, n_features: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(weight, bias)`` as float64 arrays of shapes (n_classes, n_features) and (n_classes,).

    ``head`` is a pair ``(weight, bias)`` (``bias`` may be None) or any object with ``.weight`` and ``.bias``
    attributes, such as ``torch.nn.Linear``.
    """
    if hasattr(head, "weight"):
        weight, bias = head.weight, getattr(head, "bias", None)
    elif isinstance(head, (tuple, list)) and len(head) == 2:
        weight, bias = head
    else:
        raise TypeError(
            f"{name} must be a (weight, bias) pair or an object with .weight and .bias (e.g. torch.nn.Linear), "
            f"got {type(head).__name__}"
        )
    w = as_float64_array(weight, f"{name} weight")
    if w.ndim != 2 or w.shape[0] < 2 or w.shape[1] < 1:
        raise ValueError(f"{name} weight must have shape (n_classes >= 2, n_features), got {w.shape}")
    if n_features is not None and w.shape[1] != n_features:
        raise ValueError(
            f"{name} weight has shape {w.shape}, but its features have {n_features} columns; "
            f"expected shape ({w.shape[0]}, {n_features})"
        )
    b = np.zeros(w.shape[0]) if bias is None else as_float64_array(bias, f"{name} bias")
    if b.shape != (w.shape[0],):
        raise ValueError(f"{name} bias must have shape ({w.shape[0]},), got {b.shape}")
    return w, b


def as_features(a, name: str) -> np.ndarray:
    """A 2-D float64 NumPy array (n_samples, n_features) of finite values from an array or a CPU torch tensor."""
    arr = as_float_matrix(a, name).astype(np.float64, copy=False)
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have at least one row and one column, got shape {arr.shape}")
    if not all_finite(arr):
        raise ValueError(f"{name} contains NaN or Inf")
    return arr


def as_labels(a, name: str, n_samples: int, n_classes: int) -> np.ndarray:
    """A 1-D int64 array of ``n_samples`` class indices in [0, n_classes)."""
    if _is_torch(a):
        a = a.detach().cpu().numpy()
    arr = np.asarray(a)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
    if arr.ndim != 1 or arr.shape[0] != n_samples:
        raise ValueError(f"{name} must have shape ({n_samples},) to match its features, got {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise ValueError(
            f"{name} must lie in [0, {n_classes}) (the head has {n_classes} classes), "
            f"got values in [{arr.min()}, {arr.max()}]"
        )
    return arr.astype(np.int64)


def readonly(a) -> np.ndarray:
    """A read-only float64 copy (the result objects are frozen dataclasses)."""
    a = np.array(a, dtype=np.float64)
    a.setflags(write=False)
    return a


def json_floats(a):
    """Nested lists of floats for JSON, None for NaN/Inf (JSON has neither)."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return float(a) if math.isfinite(a) else None
    return [json_floats(v) for v in a]


def split_labels(labels):
    """``(train_labels, test_labels)`` from a pair."""
    if not isinstance(labels, (tuple, list)) or len(labels) != 2:
        raise TypeError(f"labels must be a pair (train_labels, test_labels), got {type(labels).__name__}")
    return labels[0], labels[1]


def correct(X: np.ndarray, weight: np.ndarray, bias: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per row: whether its arg-max logit ``X @ weight.T + bias`` is the label (ties go to the first class)."""
    return np.argmax(X @ weight.T + bias, axis=1) == labels


def accuracy(X: np.ndarray, weight: np.ndarray, bias: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose arg-max logit ``X @ weight.T + bias`` is the label (ties go to the first class)."""
    return float(np.mean(correct(X, weight, bias, labels)))


def per_class(hits: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Mean of ``hits`` over the samples of each class along the last axis → shape ``hits.shape[:-1] + (n_classes,)``.

    ``hits`` (..., n_samples) holds per-sample correctness (bool, or the fraction of repeats that were right);
    a class without samples gets NaN. Weighted by the class counts (``np.bincount(labels)``), the classes' values
    average back to the mean over all samples.
    """
    hits = np.asarray(hits, dtype=np.float64)
    onehot = np.zeros((labels.size, n_classes))
    onehot[np.arange(labels.size), labels] = 1.0
    counts = onehot.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(counts > 0, (hits @ onehot) / counts, np.nan)


def _loss_and_grad(theta, X, Y, l2):
    n, p = X.shape
    c = Y.shape[1]
    W = theta[: c * p].reshape(c, p)
    b = theta[c * p:]
    logp = log_softmax(X @ W.T + b, axis=1)
    loss = -np.einsum("ij,ij->", Y, logp) / n + 0.5 * l2 * np.einsum("ij,ij->", W, W)
    R = (np.exp(logp) - Y) / n
    gW = R.T @ X + l2 * W
    gb = R.sum(axis=0)
    return loss, np.concatenate([gW.ravel(), gb])


def fit_logistic(
    X, labels, n_classes: int, l2: float = 1e-3, max_iter: int = 1000, tol: float = 1e-6, ftol: float = 1e-10, init=None
):
    """Multinomial logistic regression by L-BFGS: the head a retrained classification layer would learn.

    Minimises ``mean_i −log softmax(W x̂_i + b)[y_i] + (l2/2)·‖W‖²_F`` over ``W`` and ``b`` (the bias is not
    penalised), where ``x̂ = (x − x̄)/s`` are the features centred and divided by their overall RMS ``s`` so that
    ``l2`` is scale-free. The objective is strictly convex in ``W`` for ``l2 > 0``, so the optimum does not depend
    on the starting point; the returned head acts on the raw features.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    labels : ndarray of shape (n_samples,)
        Class indices in [0, n_classes).
    n_classes : int
    l2 : float, default 1e-3
        L2 penalty on the weights of the standardised features.
    max_iter : int, default 1000
    tol : float, default 1e-6
        L-BFGS-B's ``gtol``: stop when every component of the gradient is below it.
    ftol : float, default 1e-10
        L-BFGS-B's ``ftol``: stop when the relative decrease of the objective is below it.
    init : (weight, bias), optional
        A head on the raw features to start from (e.g. the original head), which saves iterations.

    Returns
    -------
    weight : ndarray of shape (n_classes, n_features)
    bias : ndarray of shape (n_classes,)

    References
    ----------
    Liu & Nocedal. On the limited memory BFGS method for large scale optimization. Mathematical Programming 45,
    1989.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    positive_real(l2, "l2")
    n, p = X.shape
    labels = as_labels(labels, "labels", n, n_classes)
    mu = X.mean(axis=0)
    Xc = X - mu
    s = float(np.sqrt(np.mean(Xc * Xc)))
    s = s if s > 0 else 1.0
    Xs = Xc / s
    Y = np.zeros((n, n_classes))
    Y[np.arange(n), labels] = 1.0
    if init is None:
        theta0 = np.zeros(n_classes * (p + 1))
    else:
        w0, b0 = init
        # logits W0 x + b0 = (W0 s) x̂ + (W0 μ + b0)
        theta0 = np.concatenate([(np.asarray(w0) * s).ravel(), np.asarray(w0) @ mu + np.asarray(b0)])
    res = optimize.minimize(
        _loss_and_grad,
        theta0,
        args=(Xs, Y, float(l2)),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": int(max_iter), "ftol": ftol, "gtol": tol},
    )
    if not res.success and res.nit >= max_iter:
        warnings.warn(
            f"fit_logistic: L-BFGS stopped after {res.nit} iterations without converging ({res.message})",
            RuntimeWarning,
            stacklevel=2,
        )
    Ws = res.x[: n_classes * p].reshape(n_classes, p)
    bs = res.x[n_classes * p:]
    weight = Ws / s
    bias = bs - weight @ mu
    return weight, bias
