"""A ``torchmetrics.Metric`` whose state is the exact statistics of two representations (docs/files.md §5.3):
``RepresentationSimilarity(metric="cka")`` — ``update(x, y)`` per batch on any device, ``compute()`` the registry
measure, ``dist_reduce_fx="sum"`` synchronisation across DDP ranks. Needs ``pip install torchmetrics``.

The state is G = Σ w wᵀ of the augmented rows w = [x − c_x ; y − c_y ; |x − c_x|² ; |y − c_y|² ; 1] (float64, on the
metric's device) and n. Sums are exact across ranks only about one common reference c, so c is fixed before the
first batch is added: ``reference="first"`` (default) takes the mean of the first batch — of rank 0's, broadcast to
every rank when ``torch.distributed`` is initialised (so every rank must call its first ``update`` together, as DDP
does); ``reference="zero"`` uses c = 0 (no communication; accurate to about eps · (|mean| / spread)² relative, so
only for activations whose means are small against their spread, docs/math.md §3); or pass ``(c_x, c_y)``.
``compute()`` moves G to the CPU and reads the measure through :class:`repsim.Moments` (exact shift to the mean).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist
from torchmetrics import Metric

from ..metrics import registry
from ..moments import Moments
from ..statistics import Layout


class RepresentationSimilarity(Metric):
    """Streaming, exact similarity of two representations as a ``torchmetrics.Metric``.

    Parameters
    ----------
    metric : str, default "cka"
        A registry measure with one number per pair (:func:`repsim.measures`): ``"cka"``, ``"debiased_cka"``,
        ``"rv2"``, ``"pwcca"`` ...
    reference : {"first", "zero"} or (array_like, array_like)
        The common reference of the statistics (see the module docstring).
    **metric_options
        Options of the measure (``debiased=``, ``center=``, ...).

    Examples
    --------
    >>> import torch
    >>> from repsim.integrations.torchmetrics import RepresentationSimilarity
    >>> m = RepresentationSimilarity("cka")
    >>> g = torch.Generator().manual_seed(0)
    >>> for _ in range(3):
    ...     x = torch.randn(64, 8, generator=g); m.update(x, 2 * x + 1)
    >>> round(float(m.compute()), 12)
    1.0
    """

    full_state_update = False
    is_differentiable = False
    higher_is_better = True

    def __init__(self, metric: str = "cka", reference="first", **metric_options):
        super().__init__()
        registry.lookup(metric)  # ValueError naming an unknown measure
        self.metric, self.metric_options = metric, metric_options
        if isinstance(reference, str):
            if reference not in ("first", "zero"):
                raise ValueError(f"reference must be 'first', 'zero' or (c_x, c_y), got {reference!r}")
            self._fixed = None
        else:
            if len(reference) != 2:
                raise ValueError("reference: give (c_x, c_y), one vector per representation")
            self._fixed = tuple(torch.as_tensor(np.asarray(c, dtype=np.float64)).reshape(-1) for c in reference)
        self.reference_mode = reference if isinstance(reference, str) else "given"
        self.add_state("G", default=torch.zeros(0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("n", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("c", default=torch.zeros(0, dtype=torch.float64), dist_reduce_fx=None)
        self._dims = None

    def _start(self, x: torch.Tensor, y: torch.Tensor) -> None:
        p, q = x.shape[1], y.shape[1]
        if self._fixed is not None:
            c = torch.cat(self._fixed).to(self.device)
            if c.numel() != p + q:
                raise ValueError(f"reference has {c.numel()} entries; x and y have {p} + {q} features")
        elif self.reference_mode == "zero":
            c = torch.zeros(p + q, dtype=torch.float64, device=self.device)
        else:
            c = torch.cat([x.mean(0), y.mean(0)])
            if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
                dist.broadcast(c, src=0)  # every rank adds about rank 0's first-batch mean
        self.c = c
        d = p + q + 3
        self.G = torch.zeros(d, d, dtype=torch.float64, device=self.device)
        self._dims = (p, q)

    def update(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Add a batch: ``x`` (rows, p) and ``y`` (rows, q) of the same samples (higher dimensions flattened)."""
        x = torch.as_tensor(x).detach().reshape(len(x), -1).to(self.device, torch.float64)
        y = torch.as_tensor(y).detach().reshape(len(y), -1).to(self.device, torch.float64)
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"x and y must have the same rows (samples); got shapes {tuple(x.shape)}, {tuple(y.shape)}")
        if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
            raise ValueError("x and y must be finite (NaN or inf in this batch)")
        if self.G.numel() == 0:
            self._start(x, y)
        p, q = self._dims
        if x.shape[1] != p or y.shape[1] != q:
            raise ValueError(f"expected {p} and {q} features as in the first batch, got {x.shape[1]} and {y.shape[1]}")
        xt, yt = x - self.c[:p], y - self.c[p:]
        W = torch.cat([xt, yt, (xt * xt).sum(1, keepdim=True), (yt * yt).sum(1, keepdim=True),
                       torch.ones(len(x), 1, dtype=torch.float64, device=self.device)], dim=1)
        self.G += W.T @ W
        self.n += len(x)

    def moments(self) -> Moments:
        """The accumulated (and, after a sync, summed) statistics as a :class:`repsim.Moments` of sites x and y."""
        if self.G.numel() == 0 or float(self.n) == 0:
            raise ValueError("RepresentationSimilarity is empty: call update(x, y) first")
        d = self.G.shape[0]
        c = self._common_reference()
        if self._dims is None:
            raise ValueError("this metric made no update itself, so the split of the columns between x and y is "
                             "unknown; every rank must update at least once")
        p, q = self._dims
        layout = Layout(("x", "y"), (p, q))
        G = self.G.detach().cpu().numpy()
        packed = G[np.triu_indices(d)]
        return Moments.from_shifted((layout, [c[:p].copy(), c[p:].copy()], None, [(int(round(float(self.n))), packed)],
                                     ("all", None)))

    def _common_reference(self) -> np.ndarray:
        """The reference c (float64). After a DDP sync the state ``c`` (``dist_reduce_fx=None``) is gathered into
        one row per rank; the rows must agree (every rank adds about rank 0's reference), else the summed
        statistics would mix references: ValueError."""
        c = self.c.detach().cpu().numpy()
        if c.ndim == 2:
            if not (c == c[:1]).all():
                raise ValueError("the ranks' references differ, so their summed statistics are not exact: every rank "
                                 "must make its first update together (reference='first'), or give the same "
                                 "reference=(c_x, c_y) everywhere")
            c = c[0]
        return c

    def compute(self) -> torch.Tensor:
        """The measure between x and y, as a float64 scalar tensor."""
        value = self.moments()._measure(self.metric, "x", "y", **self.metric_options)
        spec = registry.lookup(self.metric)
        return torch.tensor(float(spec.matrix_value(value) if hasattr(spec, "matrix_value") else value),
                            dtype=torch.float64)
