"""CCA, SVCCA, PWCCA and orthogonal Procrustes from the centred statistics (docs/math.md §2 iv–vi, viii; §3.5).

Dense linear algebra here uses NumPy's LAPACK, the same OpenBLAS as the ``@`` products around it: alternating with
SciPy's separately bundled OpenBLAS costs a busy-wait hand-over per call on a loaded machine (bench/README.md).

Everything here reads the blocks Ac = Σ x̃x̃ᵀ, Bc, Cc of a centred :class:`~repsim.statistics.FeatureView`; the
per-site factorisations are cached on the view, so a layer × layer matrix factorises each layer once.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from .._limits import CCA_RTOL, CONST_RTOL, KEEP_SLACK
from .._validation import positive_int, real
from ..views import FeatureView



@dataclass(frozen=True)
class CCAResult:
    """Canonical correlation analysis of two representations.

    Attributes
    ----------
    rho : ndarray of shape (k,)
        Canonical correlations in descending order, k = min(rank_x, rank_y), clipped to [0, 1].
    mean_rho : float
        Σρ / k (Raghu et al. 2017's summary; SVCCA when the inputs were truncated).
    mean_rho2 : float
        Σρ² / k = ‖T‖²_F / k (Kornblith's R²_CCA).
    rank_x, rank_y : int
        Ranks used after dropping constant neurons and eigenvalues below ``rtol``·max.
    n : int
        Number of samples.
    x_weights : ndarray of shape (p, k)
    y_weights : ndarray of shape (q, k)
        Canonical weights: ``(X - x_mean) @ x_weights`` are the canonical variates, with unit norm when
        ``eps == 0`` (constant neurons get weight 0).
    x_mean, y_mean : ndarray
        Column means of X and Y.
    eps, rtol : float
        Ridge (relative to the unit diagonal of the correlation matrices) and pseudo-inverse tolerance used.
    """

    rho: np.ndarray
    mean_rho: float
    mean_rho2: float
    rank_x: int
    rank_y: int
    n: int
    x_weights: np.ndarray
    y_weights: np.ndarray
    x_mean: np.ndarray
    y_mean: np.ndarray
    eps: float
    rtol: float

    def transform(self, X=None, Y=None):
        """Canonical variates of new data: ``(X - x_mean) @ x_weights`` (and the same for Y)."""
        out = []
        if X is not None:
            out.append((np.asarray(X, dtype=np.float64) - self.x_mean) @ self.x_weights)
        if Y is not None:
            out.append((np.asarray(Y, dtype=np.float64) - self.y_mean) @ self.y_weights)
        if not out:
            raise ValueError("transform() needs X, Y or both")
        return out[0] if len(out) == 1 else tuple(out)


@dataclass(frozen=True)
class PWCCAResult:
    """Projection-weighted CCA: ``value = Σ weights · rho`` (weights from ``side``)."""

    value: float
    rho: np.ndarray
    weights: np.ndarray
    side: str
    convention: str


@dataclass(frozen=True)
class _Whitening:
    keep: np.ndarray  # bool mask of the non-constant neurons
    W: np.ndarray  # (n_keep, rank): Wᵀ (A_keep + eps·D²) W = I
    n_const: int


def _constant_mask(view: FeatureView, site: str) -> np.ndarray:
    A = view.block(site, site)
    diag = np.diag(A)
    mean = np.abs(view.reference[view.layout.index(site)])
    return diag > view.n * (CONST_RTOL * mean) ** 2 + np.finfo(float).tiny


def _whitening(view: FeatureView, site: str, eps: float, rtol: float) -> _Whitening:
    """Whitening of a site's correlation matrix (+ eps·I), truncated at rtol·λ_max; memoised on the view."""
    return view.memo(("cca-white", site, eps, rtol), lambda: _compute_whitening(view, site, eps, rtol))


def _compute_whitening(view: FeatureView, site: str, eps: float, rtol: float) -> _Whitening:
    keep = _constant_mask(view, site)
    A = view.block(site, site)[np.ix_(keep, keep)]
    d = np.sqrt(np.diag(A))
    corr = A / np.outer(d, d)
    lam, V = np.linalg.eigh(corr)
    lam = lam[::-1] + eps
    V = V[:, ::-1]
    r = int(np.count_nonzero(lam > rtol * lam[0])) if lam.size and lam[0] > 0 else 0
    W = (V[:, :r] / np.sqrt(lam[:r])) / d[:, None]
    return _Whitening(keep, W, int(keep.size - keep.sum()))


def _pca_whitening(view: FeatureView, site: str, keep_var, k, rtol: float) -> _Whitening:
    """SVCCA's truncation: top principal directions of the covariance, whitened; memoised on the view."""
    return view.memo(("svcca-white", site, keep_var, k, rtol), lambda: _compute_pca_whitening(view, site, keep_var, k, rtol))


def _compute_pca_whitening(view: FeatureView, site: str, keep_var, k, rtol: float) -> _Whitening:
    A = view.block(site, site)
    lam, V = np.linalg.eigh(A)
    lam, V = lam[::-1], V[:, ::-1]
    pos = lam > rtol * lam[0] if lam[0] > 0 else np.zeros(lam.shape, bool)
    rank = int(pos.sum())
    if k is not None:
        r = min(int(k), rank)
    else:
        total = lam[:rank].sum()
        r = int(np.searchsorted(np.cumsum(lam[:rank]) / total, keep_var * (1 - KEEP_SLACK)) + 1) if rank else 0
        r = min(r, rank)
    W = V[:, :r] / np.sqrt(lam[:r])
    return _Whitening(np.ones(A.shape[0], bool), W, 0)


def _warn_degenerate(view, x, y, wx, wy, metric):
    if wx.n_const or wy.n_const:
        parts = [f"{w.n_const} in {s!r}" for s, w in ((x, wx), (y, wy)) if w.n_const]
        warnings.warn(
            f"{metric}: constant neurons ({', '.join(parts)}) carry no correlation and were left out",
            RuntimeWarning,
            stacklevel=4,
        )
    rx, ry, n = wx.W.shape[1], wy.W.shape[1], view.n
    if rx == 0 or ry == 0:
        warnings.warn(
            f"{metric}: site {x if rx == 0 else y!r} is constant (no direction with variance); returning NaN",
            RuntimeWarning,
            stacklevel=4,
        )
        return True
    px, py = view.layout.dims[view.layout.index(x)], view.layout.dims[view.layout.index(y)]
    if rx + ry > n / 2 or max(px, py) >= n:
        warnings.warn(
            f"{metric}: ranks {rx} + {ry} against n = {n} samples (p = {px}, q = {py}); when r_x + r_y approaches "
            "n the canonical correlations are forced towards 1 (exactly 1 for r_x + r_y − (n − 1) of them). "
            "Use more samples, eps > 0 (ridge), or SVCCA truncation",
            RuntimeWarning,
            stacklevel=4,
        )
    return False


def _pair(view: FeatureView, x: str, y: str, wx: _Whitening, wy: _Whitening):
    C = view.block(x, y)[np.ix_(wx.keep, wy.keep)]
    T = wx.W.T @ C @ wy.W
    U, s, Vt = np.linalg.svd(T, full_matrices=False)
    return T, U, np.clip(s, 0.0, 1.0), Vt.T


def _result(view, x, y, rho, mean_rho2, rank_x, rank_y, x_weights, y_weights, eps, rtol) -> CCAResult:
    return CCAResult(
        rho=rho,
        mean_rho=float(rho.mean()) if rho.size else float("nan"),
        mean_rho2=mean_rho2,
        rank_x=rank_x,
        rank_y=rank_y,
        n=view.n,
        x_weights=x_weights,
        y_weights=y_weights,
        x_mean=view.reference[view.layout.index(x)].copy(),
        y_mean=view.reference[view.layout.index(y)].copy(),
        eps=eps,
        rtol=rtol,
    )


def _pair_result(view, x, y, T, rho, rank_x, rank_y, x_weights, y_weights, eps, rtol) -> CCAResult:
    """CCAResult from the whitened cross block T and its singular values ρ (mean ρ² = ‖T‖²_F / k)."""
    mean_rho2 = float(min(1.0, np.einsum("ij,ij->", T, T) / rho.size))
    return _result(view, x, y, rho, mean_rho2, rank_x, rank_y, x_weights, y_weights, eps, rtol)


def _undefined_result(view, x, y, eps, rtol) -> CCAResult:
    """The documented value for a constant side: no correlations, NaN summaries."""
    px, py = view.layout.dims[view.layout.index(x)], view.layout.dims[view.layout.index(y)]
    return _result(view, x, y, np.zeros(0), float("nan"), 0, 0, np.zeros((px, 0)), np.zeros((py, 0)), eps, rtol)


def _embed(mask, M):
    out = np.zeros((mask.size, M.shape[1]))
    out[mask] = M
    return out


def cca_from_stats(view: FeatureView, x: str, y: str, eps: float = 0.0, rtol: float = CCA_RTOL) -> CCAResult:
    """All canonical correlations between sites x and y of a centred view (docs/math.md §2 iv)."""
    eps = real(eps, "eps")
    rtol = real(rtol, "rtol", high=1.0)
    wx, wy = _whitening(view, x, eps, rtol), _whitening(view, y, eps, rtol)
    if _warn_degenerate(view, x, y, wx, wy, "cca"):
        return _undefined_result(view, x, y, eps, rtol)
    T, U, rho, V = _pair(view, x, y, wx, wy)
    k = rho.size
    return _pair_result(view, x, y, T, rho, wx.W.shape[1], wy.W.shape[1], _embed(wx.keep, wx.W @ U[:, :k]),
                        _embed(wy.keep, wy.W @ V[:, :k]), eps, rtol)


def svcca_from_stats(view, x, y, keep=0.99, k=None, rtol: float = CCA_RTOL) -> CCAResult:
    """SVCCA (Raghu et al. 2017): CCA on the top principal directions of each side (docs/math.md §2 v)."""
    keep = real(keep, "keep", low=0.0, high=1.0, low_open=True)  # checked even when k replaces it
    if k is not None:
        k = _check_k(view, x, y, k)
        keep = None
    rtol = real(rtol, "rtol", high=1.0)
    wx, wy = _pca_whitening(view, x, keep, k, rtol), _pca_whitening(view, y, keep, k, rtol)
    if k is not None:
        _warn_short_rank(x, y, wx, wy, k)
    if wx.W.shape[1] == 0 or wy.W.shape[1] == 0:
        warnings.warn(
            f"svcca: site {x if wx.W.shape[1] == 0 else y!r} is constant; returning NaN", RuntimeWarning, stacklevel=3
        )
        return _undefined_result(view, x, y, 0.0, rtol)
    rx, ry, n = wx.W.shape[1], wy.W.shape[1], view.n
    if rx + ry > n / 2:
        warnings.warn(
            f"svcca: kept {rx} + {ry} directions against n = {n} samples; correlations are biased towards 1",
            RuntimeWarning,
            stacklevel=3,
        )
    T, U, rho, V = _pair(view, x, y, wx, wy)
    kk = rho.size
    return _pair_result(view, x, y, T, rho, rx, ry, wx.W @ U[:, :kk], wy.W @ V[:, :kk], 0.0, rtol)


def _check_k(view, x, y, k) -> int:
    """SVCCA's k: a positive int no larger than either site's number of features (ValueError naming k)."""
    k = positive_int(k, "k")
    for site in (x, y):
        p = view.layout.dims[view.layout.index(site)]
        if k > p:
            raise ValueError(f"k={k} is larger than the {p} features of site {site!r}: svcca keeps exactly k "
                             "directions per side, so k must be at most min(p, q)")
    return k


def _warn_short_rank(x, y, wx, wy, k) -> None:
    """One warning when a side has fewer than k directions with variance (rank-deficient, or n ≤ k)."""
    short = [f"{s!r}: {w.W.shape[1]}" for s, w in ((x, wx), (y, wy)) if 0 < w.W.shape[1] < k]
    if short:
        warnings.warn(
            f"svcca: k={k} directions asked, but only {', '.join(short)} have variance (rank-deficient, or too few "
            "samples); keeping those", RuntimeWarning, stacklevel=4
        )


def pwcca_from_stats(view, x, y, convention="morcos", eps: float = 0.0, rtol: float = CCA_RTOL) -> PWCCAResult:
    """Projection-weighted CCA (Morcos et al. 2018), weights from the side with fewer neurons (docs/math.md §2 vi)."""
    if convention == "google":
        return _pwcca_google(view, x, y, real(eps, "eps"))
    if convention != "morcos":
        raise ValueError(f"convention must be 'morcos' or 'google', got {convention!r}")
    eps = real(eps, "eps")
    rtol = real(rtol, "rtol", high=1.0)
    wx, wy = _whitening(view, x, eps, rtol), _whitening(view, y, eps, rtol)
    px, py = view.layout.dims[view.layout.index(x)], view.layout.dims[view.layout.index(y)]
    if _warn_degenerate(view, x, y, wx, wy, "pwcca"):
        return PWCCAResult(float("nan"), np.zeros(0), np.zeros(0), "x" if px <= py else "y", "morcos")
    T, U, rho, V = _pair(view, x, y, wx, wy)
    k = rho.size
    side, w, site, vecs = ("x", wx, x, U) if px <= py else ("y", wy, y, V)
    # ⟨h_i, z_j⟩ = (A W u_i)_j for the unit-norm canonical variates h_i = Z_c W u_i of the weighted side
    A = view.block(site, site)[:, w.keep]
    alpha = np.abs(A @ (w.W @ vecs[:, :k])).sum(axis=0)
    weights = alpha / alpha.sum()
    return PWCCAResult(float(weights @ rho), rho, weights, side, "morcos")


def _google_side(view, site, epsilon):
    """Per-site part of google's compute_pwcca, cached on the view for matrices: the largest |entry| of the ddof-1
    covariance, the neurons kept (scaled variance ≥ ε), and Σ^{-1/2} of the kept, scaled, ε-ridged block as the
    eigen square root of its pseudo-inverse."""
    return view.memo(("google", site, epsilon), lambda: _compute_google_side(view, site, epsilon))


def _compute_google_side(view, site, epsilon):
    A = view.block(site, site) / (view.n - 1)
    top = float(np.max(np.abs(A)))
    if top == 0:
        return (0.0, None, None)
    A = A / top
    keep = np.abs(np.diag(A)) >= epsilon
    lam, V = np.linalg.eigh(np.linalg.pinv(A[np.ix_(keep, keep)] + epsilon * np.eye(keep.sum())))
    return (top, keep, (V * np.sqrt(np.clip(lam, 0.0, None))) @ V.T)


def _pwcca_google(view, x, y, epsilon):
    """google/svcca ``compute_pwcca`` from the statistics, quirks included (docs/peers.md §1).

    Covariances with ddof = 1 scaled by their largest absolute entry; neurons whose scaled variance is below
    ``epsilon`` dropped; ``epsilon`` added to the diagonal; Σ^{-1/2} as the eigen square root of the pseudo-inverse;
    ρ = |svd(Σxx^{-1/2} Σxy Σyy^{-1/2})|. The weighted side's "directions" are ``uᵀ(acts − μ) + μ`` (no Σ^{-1/2};
    neuron i's mean is added to direction i), QR-orthonormalised, and weighted against the *uncentred* activations.
    Here the QR is done on statistics: DᵀD = uᵀAu + nμμᵀ = RᵀR and PᵀX = R⁻ᵀ(uᵀA + nμμᵀ), which is what the QR
    of the data gives, up to column signs that the absolute value removes.
    """
    n = view.n
    if n < 2:
        raise ValueError(f"pwcca(convention='google') needs at least 2 samples (ddof-1 covariances): with n={n} every neuron is constant")
    xmax, kx, ix = _google_side(view, x, epsilon)
    ymax, ky, iy = _google_side(view, y, epsilon)
    if xmax == 0 or ymax == 0:
        raise ValueError("pwcca(convention='google'): a side is constant (its covariance is zero)")
    if kx.sum() > ky.sum():
        raise ValueError(
            "pwcca(convention='google'): X keeps more neurons than Y, and google/svcca's compute_pwcca then indexes "
            "acts1 with Y's indices (svcca PR #9), which is an error or a wrong number; pass the narrower layer as X, "
            "or use convention='morcos'"
        )
    C = (view.block(x, y) / ((n - 1) * np.sqrt(xmax * ymax)))[np.ix_(kx, ky)]
    u, s, _ = np.linalg.svd(ix @ C @ iy)
    rho = np.abs(s)
    Ax = view.block(x, x)[np.ix_(kx, kx)]
    mu = view.reference[view.layout.index(x)][kx]
    # google adds neuron i's mean to direction i: D = X_c u + 1 μᵀ, so DᵀD = uᵀAu + nμμᵀ and DᵀX = uᵀA + nμμᵀ
    nmm = n * np.outer(mu, mu)
    DtD = u.T @ Ax @ u + nmm
    DtX = u.T @ Ax + nmm
    R = _google_directions_factor(DtD, x, int(kx.sum()), n)
    PtX = linalg.solve_triangular(R, DtX, trans="T", lower=False, check_finite=False)
    weights = np.abs(PtX).sum(axis=1)
    weights = weights / weights.sum()
    return PWCCAResult(float(np.sum(weights * rho)), rho, weights, "x", "google")


def _google_directions_factor(DtD, x: str, k: int, n: int):
    """R with RᵀR = DᵀD (google's QR of its directions D, from statistics); ValueError when D is rank-deficient —
    k directions from n samples, k > n, or numerically singular — where google's QR weights are arbitrary."""
    try:
        if k > n:
            raise linalg.LinAlgError("more directions than samples")
        return linalg.cholesky(0.5 * (DtD + DtD.T), lower=False, check_finite=False)
    except linalg.LinAlgError:
        raise ValueError(
            f"pwcca(convention='google'): the {k} directions of {x!r} built from n = {n} samples are linearly "
            "dependent, so google/svcca's QR of them (and its projection weights) is not determined; use more samples "
            "than neurons, eps > 0, or convention='morcos'"
        ) from None


def procrustes_from_stats(view: FeatureView, x: str, y: str, form: str = "distance") -> float:
    """Orthogonal Procrustes on centred, Frobenius-normalised data (docs/math.md §2 viii)."""
    if form not in _PROCRUSTES_FORMS:
        raise ValueError(f"form must be one of {list(_PROCRUSTES_FORMS)}, got {form!r}")
    tx, ty = view.trace(x), view.trace(y)
    if not (tx > 0 and ty > 0):
        warnings.warn(
            f"procrustes: site {x if not tx > 0 else y!r} is constant; returning NaN", RuntimeWarning, stacklevel=3
        )
        return float("nan")
    nuc = np.linalg.svd(view.block(x, y), compute_uv=False).sum()
    sim = float(min(1.0, nuc / np.sqrt(tx * ty)))
    return _PROCRUSTES_FORMS[form](sim)


_PROCRUSTES_FORMS = {
    "distance": lambda s: float(np.sqrt(max(0.0, 2.0 - 2.0 * s))),
    "squared": lambda s: float(max(0.0, 2.0 - 2.0 * s)),
    "angular": lambda s: float(np.arccos(s)),
    "similarity": lambda s: s,
}


# ---------------------------------------------------------------------------------------------- array functions
