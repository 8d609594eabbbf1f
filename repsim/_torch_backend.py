"""Statistics kept on the activations' device with torch ops (docs/math.md §1, §3.4).

Used by :class:`repsim.Moments` for CUDA tensors (or when ``backend="torch"``). The device holds the augmented
second-moment matrix about the same fixed reference as the CPU path; :meth:`TorchAccumulator.drain` hands the
accumulated float64 block to the CPU statistics (an exact addition) and starts over, so the metric step always
runs on CPU float64.

Precision modes:

- ``"fp64"`` (default): each batch is converted to float64 on the device, shifted by the reference and added with
  a float64 GEMM (``G.addmm_(Wᵀ, W)``). Exact to the rounding floor (docs/math.md §3.2, *shift64*).
- ``"window32"``: docs/math.md §3.4's two-level scheme. Batches are shifted by the window's own reference (the mean of
  its first sub-batch), multiplied in float32 with TF32 **off**, and summed into a float32 window buffer; every
  ``window`` rows the buffer is cast to float64, shifted exactly to the global reference (T G Tᵀ) and added to
  the float64 accumulator. Measured in docs/math.md: ≤ 2.4e-7 on normalised covariances and ≤ 1.6e-7 on CKA.
"""
from __future__ import annotations

import contextlib

import numpy as np

from ._blas import tile_bounds
from ._limits import MAX_NORM
from .statistics import shift_factors, shift_n


def _torch():
    import torch

    return torch


@contextlib.contextmanager
def no_tf32():
    """Disable TF32 for matmuls (and cuDNN) inside the block, restoring the previous settings."""
    torch = _torch()
    old_mm = torch.backends.cuda.matmul.allow_tf32
    old_cudnn = torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old_mm
        torch.backends.cudnn.allow_tf32 = old_cudnn


def _augment(tensors, refs, dtype):
    """Rows [x − c per site ; |x − c|² per site ; 1] in ``dtype``."""
    torch = _torch()
    shifted = [t.to(dtype) - r.to(dtype) for t, r in zip(tensors, refs)]
    norms = [(s * s).sum(dim=1, keepdim=True) for s in shifted]
    ones = torch.ones((shifted[0].shape[0], 1), dtype=dtype, device=shifted[0].device)
    return torch.cat(shifted + norms + [ones], dim=1)


def shift_full(G, layout, deltas):
    """T G Tᵀ on a full symmetric torch matrix (the torch twin of :func:`repsim.statistics.shift_upper`)."""

    torch = _torch()
    U, V = (torch.as_tensor(f, dtype=G.dtype, device=G.device)
            for f in shift_factors(layout, [d.cpu().numpy() for d in deltas]))
    N = shift_n(U, V, G @ V)
    return G + U @ N.T + N @ U.T


def _add_gram_tiles(G, W) -> None:
    """G[upper tiles] += WᵀW in square tiles of at most TILE_EDGE columns (repsim._blas.tile_bounds): one GEMM per
    tile on and above the diagonal, so no single product sees more than TILE_EDGE columns and the lower tiles are
    never computed. Diagonal tiles are computed whole; only the upper triangle of G is read afterwards."""
    bounds = tile_bounds(G.shape[0])
    for j0, j1 in bounds:
        WJ = W[:, j0:j1]
        for i0, i1 in bounds:
            if i0 > j0:
                break
            G[i0:i1, j0:j1].addmm_(W[:, i0:i1].T, WJ)


class TorchAccumulator:
    """Device-side G about a fixed reference (float64 tensors), fed batch by batch."""

    def __init__(self, layout, reference: list, device, precision: str = "fp64", window: int = 4096):
        torch = _torch()  # precision and window are validated by Moments, the only caller
        self.layout = layout
        self.device = torch.device(device)
        self.precision = precision
        self.window = window
        self.reference = [torch.as_tensor(r, dtype=torch.float64, device=self.device) for r in reference]
        self.G = torch.zeros((layout.d, layout.d), dtype=torch.float64, device=self.device)
        self._win = None  # float32 window buffer
        self._win_ref = None
        self._win_rows = 0
        self.pending = False  # rows added since the last drain

    def prepare(self, tensors):
        """Augmented rows of a batch (tensors already on the device) in float64, or float32 about the window's
        reference."""
        torch = _torch()
        with torch.no_grad():
            if self.precision == "fp64":
                return _augment(tensors, self.reference, torch.float64), None
            win_ref = self._win_ref
            if win_ref is None:
                win_ref = [t.to(torch.float32).mean(dim=0) for t in tensors]
            return _augment(tensors, win_ref, torch.float32), win_ref

    def find_bad(self, W):
        """(site, row) of the first row whose squared norm is not finite or exceeds MAX_NORM, else None."""

        P, L = self.layout.n_features, len(self.layout.sites)
        norms = W[:, P : P + L]
        bad = ~(norms <= MAX_NORM)
        if not bool(bad.any()):
            return None
        rows, sites = bad.nonzero(as_tuple=True)
        first = int(rows.min())
        return int(sites[rows == first].min()), first

    def norm_means(self, W) -> np.ndarray:
        P, L = self.layout.n_features, len(self.layout.sites)
        return W[:, P : P + L].to(_torch().float64).mean(dim=0).cpu().numpy()

    def add(self, W, win_ref) -> None:
        torch = _torch()
        self.pending = True
        with torch.no_grad():
            if self.precision == "fp64":  # TF32 never applies to float64 products
                _add_gram_tiles(self.G, W)
                return
            if self._win is None:
                self._win_ref = win_ref
                self._win = torch.zeros((self.layout.d, self.layout.d), dtype=torch.float32, device=self.device)
                self._win_rows = 0
            with no_tf32():
                _add_gram_tiles(self._win, W)
            self._win_rows += W.shape[0]
            if self._win_rows >= self.window:
                self._flush_window()

    def rebase(self, reference) -> None:
        """Adopt a new global reference; only valid when the device buffers are empty (after :meth:`drain`)."""
        torch = _torch()
        self.reference = [torch.as_tensor(r, dtype=torch.float64, device=self.device) for r in reference]

    def _flush_window(self) -> None:
        if self._win is None:
            return
        torch = _torch()
        G64 = self._win.to(torch.float64)
        G64 = torch.triu(G64) + torch.triu(G64, 1).T  # the tiles above the diagonal hold the product
        # x − c = (x − c_w) − (c − c_w): shift the window's statistics to the global reference
        deltas = [c - cw.to(torch.float64) for c, cw in zip(self.reference, self._win_ref)]
        with no_tf32():
            self.G += shift_full(G64, self.layout, deltas)
        self._win = None
        self._win_ref = None
        self._win_rows = 0

    def drain(self) -> np.ndarray:
        """Return the accumulated float64 G (upper triangle, CPU NumPy) and reset the device buffers."""
        torch = _torch()
        with torch.no_grad():
            self._flush_window()
            G = np.triu(self.G.to("cpu", copy=True).numpy())  # copy: on CPU .to() would alias the buffer
            self.G.zero_()
        self.pending = False
        return G
