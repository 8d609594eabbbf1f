"""Maps between feature spaces: least-squares affine maps from the statistics, and logit-compatibility maps.

McNeely-White (2020, seed 001) maps one network's features into another's and classifies them with the other's
head; docs/math.md §2 vii gives the map from the statistics (no data needed after accumulation).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from .._validation import _is_torch, as_float64_array, check_tensor_storage, first_nonfinite, real
from .._limits import MAP_EIG_RTOL, MAP_PIVOT_RTOL
from ..views import FeatureView


@dataclass(frozen=True)
class AffineMap:
    """An affine map x ↦ x W + b between feature spaces (row vectors, as activations are stored).

    Attributes
    ----------
    W : ndarray of shape (p, q)
    b : ndarray of shape (q,)
    r2 : ndarray of shape (q,) or None
        Per-target-dimension coefficient of determination on the data the map was fitted to (None for maps not
        fitted to data, such as :func:`logit_map`). A constant target dimension has R² = 1 (the intercept fits it).
    r2_total : float or None
        1 − ΣRSS / Σ‖y_k − ȳ_k‖².
    ridge : float
    n : int or None
        Number of samples fitted.
    """

    W: np.ndarray
    b: np.ndarray
    r2: np.ndarray | None = None
    r2_total: float | None = None
    ridge: float = 0.0
    n: int | None = None

    def transform(self, X):
        """Map rows of X (shape (n, p); NumPy array, torch tensor or nested list) to shape (n, q).

        Integer input maps to float64; a tensor stays on its device, in float32 or float64 (half precision is
        computed in float32). Raises ValueError for a wrong shape or NaN/Inf values (the row and column named),
        TypeError for complex, boolean or non-numeric values, ragged lists, sparse or 'meta' tensors.
        """
        if _is_torch(X):
            return self._transform_tensor(X)
        try:
            X = np.asarray(X)
        except (ValueError, TypeError) as exc:  # ragged lists and other junk
            raise TypeError(f"X cannot be read as an array ({exc})") from None
        if X.dtype.kind not in "fiu":
            raise TypeError(f"X must hold real numbers, got dtype {X.dtype}")
        self._check_shape(X)
        bad = first_nonfinite(X)
        if bad is not None:
            raise ValueError(f"X: {bad}; the input must be finite")
        return X @ self.W + self.b

    def _check_shape(self, X) -> None:
        if X.ndim != 2 or X.shape[1] != self.W.shape[0]:
            raise ValueError(f"X must have shape (n, {self.W.shape[0]}), got {tuple(X.shape)}")

    def _transform_tensor(self, X):
        """:meth:`transform` of a torch tensor, on its device and in its floating dtype."""
        import torch

        if not isinstance(X, torch.Tensor):
            raise TypeError(f"X must be an array or a torch.Tensor, got {type(X).__name__}")
        check_tensor_storage(X, "X")
        if X.is_complex() or X.dtype == torch.bool:
            raise TypeError(f"X must hold real numbers, got dtype {X.dtype}")
        self._check_shape(X)
        if not X.is_floating_point():  # integer input maps like NumPy's: to float64
            X = X.to(torch.float64)
        elif X.dtype not in (torch.float32, torch.float64):  # half precision: computed in float32
            X = X.to(torch.float32)
        if not bool(torch.isfinite(X).all()):
            bad = first_nonfinite(X.detach().cpu().double().numpy())
            raise ValueError(f"X: {bad}; the input must be finite")
        W = torch.as_tensor(self.W, dtype=X.dtype, device=X.device)
        b = torch.as_tensor(self.b, dtype=X.dtype, device=X.device)
        return X @ W + b

    __call__ = transform


def affine_map_from_stats(view: FeatureView, x: str, y: str, ridge: float = 0.0) -> AffineMap:
    """min ‖[X 1]M − Y‖² + ridge·‖W‖² (intercept unpenalised) from centred statistics (docs/math.md §2 vii).

    Solved on the Jacobi-scaled system D⁻¹(Ac + ridge·I)D⁻¹ (D = √diag Ac) with a Cholesky factor, which is exact
    for any ridge and removes column-scale ill-conditioning; a singular system (ridge = 0, rank-deficient X) falls
    back to the minimum-norm solution through a truncated eigendecomposition, with a warning.
    """
    ridge = real(ridge, "ridge")
    n = view.n
    p = view.layout.dims[view.layout.index(x)]
    if ridge == 0.0 and p >= n - 1:
        raise ValueError(
            f"affine_map: X has p = {p} features and only n = {n} samples, so an unregularised map fits any target "
            "exactly (R² = 1); pass ridge > 0"
        )
    A = view.block(x, x)
    C = view.block(x, y)
    diagB = np.diag(view.block(y, y)).copy()
    d = np.sqrt(np.clip(np.diag(A), 0.0, None))
    live = d > 0
    if not live.any():
        warnings.warn(
            f"affine_map: every feature of {x!r} is constant; the map is the constant mean of {y!r} (W = 0, R² = 0 "
            "for every non-constant target)", RuntimeWarning, stacklevel=3
        )
    elif ridge == 0.0 and not live.all():
        warnings.warn(
            f"affine_map: {int((~live).sum())} constant feature(s) of {x!r} get weight 0", RuntimeWarning, stacklevel=3
        )
    # constant features: use scale 1 so that the ridge term still regularises them (their column of A is 0)
    d = np.where(live, d, 1.0)
    S = A / np.outer(d, d)
    if ridge:
        S[np.diag_indices_from(S)] += ridge / d**2
    Cs = C / d[:, None]
    use = live if ridge == 0.0 else np.ones_like(live)
    Q, Wu = _solve_scaled(S[np.ix_(use, use)], Cs[use], x)
    Ws = np.zeros((p, Cs.shape[1]))
    Ws[use] = Wu
    W = Ws / d[:, None]
    W[~live & (ridge == 0.0)] = 0.0
    rss = diagB - np.einsum("ij,ij->j", Q, Q) - ridge * np.einsum("ij,ij->j", W, W)
    rss = np.clip(rss, 0.0, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(diagB > 0, 1.0 - rss / np.where(diagB > 0, diagB, 1.0), 1.0)
    total = diagB.sum()
    r2_total = float(1.0 - rss.sum() / total) if total > 0 else 1.0
    mu = view.reference[view.layout.index(x)]
    nu = view.reference[view.layout.index(y)]
    b = nu - W.T @ mu
    return AffineMap(W=W, b=b, r2=r2, r2_total=r2_total, ridge=ridge, n=n)


def _solve_scaled(S_u, Cs_u, x: str):
    """(Q, W) with S_u = L Lᵀ, Q = L⁻¹ Cs_u, W = S_u⁻¹ Cs_u (Cholesky), or the minimum-norm solution through a
    truncated eigendecomposition when S_u is numerically singular (with a warning); empty when no feature is used."""
    if S_u.shape[0] == 0:  # every feature of x is constant: no weights, nothing explained
        return np.zeros((0, Cs_u.shape[1])), np.zeros((0, Cs_u.shape[1]))
    try:
        L = linalg.cholesky(S_u, lower=True, check_finite=False)
        if np.min(np.diag(L)) < MAP_PIVOT_RTOL * np.max(np.diag(L)):  # numerically singular: cond(S) > 1e14
            raise linalg.LinAlgError("ill-conditioned")
        Q = linalg.solve_triangular(L, Cs_u, lower=True, check_finite=False)
        return Q, linalg.solve_triangular(L, Q, lower=True, trans="T", check_finite=False)
    except linalg.LinAlgError:
        warnings.warn(
            f"affine_map: the covariance of {x!r} is singular; using the minimum-norm least-squares map "
            "(pass ridge > 0 for a regularised one)",
            RuntimeWarning,
            stacklevel=4,
        )
        lam, V = linalg.eigh(S_u, check_finite=False)
        r = lam > MAP_EIG_RTOL * lam.max()
        Q = (V[:, r].T @ Cs_u) / np.sqrt(lam[r])[:, None]
        return Q, V[:, r] @ (Q / np.sqrt(lam[r])[:, None])


def _head(obj, name):
    """(weight, bias) from an nn.Linear-like object."""
    w = getattr(obj, "weight")
    b = getattr(obj, "bias", None)
    return w, b


def _as_matrix(a, name, ndim):
    if a is None:
        return None
    a = as_float64_array(a, name)
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    return a


def logit_map(*heads) -> AffineMap:
    """Logit-compatibility map from network A's feature space to network B's (McNeely-White 2020, §5.3).

    With heads logits = C x + b shaped as ``torch.nn.Linear`` (C of shape (n_classes, n_features)), the map
    x ↦ C_B⁺ (C_A x + b_A − b_B), i.e. ``W = (C_B⁺ C_A)ᵀ`` (the thesis's C_A·C_B⁺ in its row-vector convention) and
    ``b = C_B⁺ (b_A − b_B)``. When C_B has full row rank (n_classes ≤ features of B, rank n_classes),
    ``head_b(map.transform(x)) == head_a(x)`` for every x.

    Call as ``logit_map(weight_a, bias_a, weight_b, bias_b)`` (biases may be None), or pass an ``nn.Linear`` (any
    object with ``.weight`` and ``.bias``) in place of a weight/bias pair: ``logit_map(head_a, head_b)``,
    ``logit_map(head_a, weight_b, bias_b)``. NumPy arrays and torch tensors are accepted.

    Returns
    -------
    AffineMap
        ``W`` of shape (features_a, features_b), ``b`` of shape (features_b,); ``r2`` is None.

    References
    ----------
    McNeely-White. Same Data, Same Features. MS thesis, Colorado State University, 2020.
    """
    args = list(heads)
    parsed = []
    for which in ("a", "b"):
        if not args:
            raise TypeError("logit_map needs a head (weight, bias) or an nn.Linear for each of A and B")
        first = args.pop(0)
        if hasattr(first, "weight"):
            w, b = _head(first, which)
        else:
            if not args:
                raise TypeError(f"logit_map: weight_{which} must be followed by bias_{which} (None for no bias)")
            w, b = first, args.pop(0)
        w = _as_matrix(w, f"weight_{which}", 2)
        b = _as_matrix(b, f"bias_{which}", 1)
        if b is None:
            b = np.zeros(w.shape[0])
        if b.shape != (w.shape[0],):
            raise ValueError(f"bias_{which} must have shape ({w.shape[0]},), got {b.shape}")
        parsed.append((w, b))
    if args:
        raise TypeError(f"logit_map got {len(args)} unexpected extra argument(s)")
    (wa, ba), (wb, bb) = parsed
    if wa.shape[0] != wb.shape[0]:
        raise ValueError(
            f"the heads must have the same number of classes: weight_a has shape {wa.shape}, weight_b {wb.shape}"
        )
    pinv_b = linalg.pinv(wb)
    if np.linalg.matrix_rank(wb) < wb.shape[0]:
        warnings.warn(
            "logit_map: weight_b does not have full row rank, so B's head cannot reproduce every logit vector of A; "
            "the map gives the least-squares logits",
            RuntimeWarning,
            stacklevel=2,
        )
    W = (pinv_b @ wa).T
    b = pinv_b @ (ba - bb)
    return AffineMap(W=W, b=b)
