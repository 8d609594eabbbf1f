"""RBF bandwidths from a stored Gram (docs/math.md §4): the median of the squared distances D_ij = G_ii + G_jj − 2G_ij,
found by selection over the tiles (two passes, no n × n temporary)."""
from __future__ import annotations

import numpy as np

from .tiles import Tiles, kernels, threads

#: Bandwidth rules: Kornblith's median (numpy.median over the full n × n matrix including its zero diagonal), the
#: lower middle value (torch.median, as ckatorch), the median over i ≠ j only, or a fixed σ.
BANDWIDTHS = ("median", "median_lower", "median_offdiag", "fixed")


def median_sqdist(G: np.ndarray, tiles: Tiles, g: np.ndarray, rule: str, n_threads: int) -> float:
    """The median squared distance of one packed Gram ``G`` with diagonal ``g`` under a median ``rule``."""
    k = kernels()
    n = tiles.n
    m = n * (n - 1) // 2
    if m == 0:
        return 0.0
    with threads(n_threads, tiles):
        ext = np.empty((tiles.count, 2))
        cnt = np.empty((tiles.count, 2), dtype=np.int64)
        k.offdiag_scan(G, *tiles.arrays, g, ext, cnt)
        stats = (float(ext[:, 0].min()), float(ext[:, 1].max()), m)
        neg, nonpos = (int(v) for v in cnt.sum(axis=0))

        def select(ranks):
            return k.select_offdiag(G, tiles.arrays, g, ranks, stats, nchunks=max(1, n_threads))

        if rule == "median_offdiag":  # numpy.median of the m off-diagonal values
            lo_i, hi_i = (m - 1) // 2, m // 2
            a, b = select([lo_i, hi_i])
            return (a + b) / 2.0 if lo_i != hi_i else a
        # The full n × n matrix sorted: each negative off-diagonal value twice, then the n zeros of the diagonal and
        # the zero off-diagonal values (twice), then each positive value twice.
        N = n * n
        full = [(N - 1) // 2] if (rule == "median_lower" or N % 2 == 1) else [N // 2 - 1, N // 2]
        off_rank = {}
        for j in full:
            if j < 2 * neg:
                off_rank[j] = j // 2
            elif j >= 2 * nonpos + n:
                off_rank[j] = (j - n) // 2
        vals = dict(zip(off_rank, select(list(off_rank.values())))) if off_rank else {}
        picked = [vals.get(j, 0.0) for j in full]
        return picked[0] if len(picked) == 1 else (picked[0] + picked[1]) / 2.0
