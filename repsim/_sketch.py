"""The feature sketch: each wide site hashed to k columns (CountSketch), an *approximate* strategy of the planner.

CountSketch (Charikar, Chen & Farach-Colton 2002; as feature hashing, Weinberger et al. 2009): column j of a site goes
to bucket h(j) ∈ {0, …, k − 1} with sign s(j) ∈ {±1}, i.e. X ↦ XS with S the p × k matrix of one ±1 per row. Then
E[SSᵀ] = I, so every inner product between rows, hence every linear Gram K = XXᵀ, is preserved in expectation, with
a relative error of order √(2/k) per entry; centring commutes with S. The Gram-based measures (linear / debiased
CKA, RV, RV2) of the sketched sites therefore approximate those of the originals; the CCA family is not
approximated this way (CCA of k hashed columns is a different quantity) and is refused. Sites at most k wide are
not sketched (their cells stay exact). :func:`measured_error` measures the error on the first batch.

References
----------
Charikar, Chen, Farach-Colton. Finding frequent items in data streams. ICALP 2002.
Weinberger, Dasgupta, Langford, Smola, Attenberg. Feature hashing for large scale multitask learning. ICML 2009.
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch

from ._limits import SKETCH_CHECK_ROWS
from .gram import GramMoments


class CountSketch:
    """Hashes the sites wider than ``k`` to ``k`` columns; ``seed`` and the site's name fix its hash (so every pass
    and every run with the same seed sketches the same way)."""

    def __init__(self, widths: dict, k: int, seed: int = 0):
        self.k, self.seed = int(k), int(seed)
        self.widths = dict(widths)
        self.maps = {}
        for site, p in self.widths.items():
            if p > self.k:
                digest = hashlib.blake2b(f"{seed}:{site}".encode(), digest_size=8).digest()
                rng = np.random.default_rng(int.from_bytes(digest, "little"))
                self.maps[site] = (torch.from_numpy(rng.integers(0, self.k, p)),
                                   torch.from_numpy(rng.choice([-1.0, 1.0], p)))

    @property
    def sketched(self) -> list:
        return list(self.maps)

    def width(self, site) -> int:
        return self.k if site in self.maps else self.widths[site]

    def apply(self, acts: dict) -> dict:
        """site → (rows, p) tensor  →  site → (rows, k) float64 tensor (narrow sites unchanged)."""
        out = {}
        for site, a in acts.items():
            if site not in self.maps:
                out[site] = a
                continue
            h, s = self.maps[site]
            x = a.detach().to(torch.float64)
            y = torch.zeros(x.shape[0], self.k, dtype=torch.float64, device=x.device)
            y.index_add_(1, h.to(x.device), x * s.to(x.device))
            out[site] = y
        return out


class Sketched:
    """An accumulator whose batches are sketched first: ``update`` hashes the wide sites, everything else is the
    inner accumulator's."""

    def __init__(self, inner, sketch: CountSketch):
        self.inner, self.sketch = inner, sketch

    def update(self, acts) -> None:
        self.inner.update(self.sketch.apply(acts))

    def __getattr__(self, name):
        return getattr(self.inner, name)


def measured_error(acts: dict, sketch: CountSketch, metrics, options, rows, cols) -> dict:
    """metric → the largest |sketched − exact| over the report's cells, on the first ≤ SKETCH_CHECK_ROWS rows of
    ``acts`` (both computed exactly in Gram space on those rows)."""
    b = min(SKETCH_CHECK_ROWS, int(next(iter(acts.values())).shape[0]))
    if b < 4:
        return {m: float("nan") for m in metrics}
    head = {s: a[:b] for s, a in acts.items()}
    exact, approx = GramMoments(b, sites=list(head)), GramMoments(b, sites=list(head))
    for site, a in head.items():
        exact.update_features({site: a.detach().to("cpu", torch.float64).numpy()})
    for site, a in sketch.apply(head).items():
        approx.update_features({site: a.detach().to("cpu", torch.float64).numpy()})
    out = {}
    for m in metrics:
        e = exact.matrix(m, rows=rows, cols=cols, **options[m]).values
        a = approx.matrix(m, rows=rows, cols=cols, **options[m]).values
        out[m] = float(np.nanmax(np.abs(a - e)))
    return out
