"""Helpers shared by the metric modules."""
from __future__ import annotations

import math
import warnings

import numpy as np


# Rows per update in one-shot calls: bounds the fused-pass buffer (rows × (p + q + 3) float64) whatever n is.
ONE_SHOT_CHUNK = 8192


def one_shot(X, Y):
    """Build a one-shot ``Moments`` with sites "X" and "Y" from two arrays (after validating them).

    The rows are fed in chunks of ``ONE_SHOT_CHUNK``, so the extra memory is independent of n. The fused pass
    flags non-finite values; only then are they located on the whole arrays, so that the error names the row of
    the caller's array rather than of a chunk (no extra pass over valid data).
    """
    from .._validation import check_pair, first_nonfinite
    from ..moments import Moments

    x, y = check_pair(X, Y)
    m = Moments()
    try:
        for start in range(0, x.shape[0], ONE_SHOT_CHUNK):
            m.update({"X": x[start : start + ONE_SHOT_CHUNK], "Y": y[start : start + ONE_SHOT_CHUNK]})
    except ValueError:
        for name, a in (("X", x), ("Y", y)):
            where = first_nonfinite(a)
            if where is not None:
                raise ValueError(f"{name}: {where}; activations must be finite") from None
        raise
    return m


def cosine(num: float, hxx: float, hyy: float, metric: str, x: str, y: str) -> float:
    """num / sqrt(hxx·hyy), or NaN with a RuntimeWarning when a self-similarity is not positive."""
    if not (hxx > 0.0 and hyy > 0.0) or not np.isfinite(num):
        bad = [s for s, h in ((x, hxx), (y, hyy)) if not h > 0.0]
        warnings.warn(
            f"{metric} is undefined for site(s) {bad}: their self-similarity term is {min(hxx, hyy):.3g} "
            "(constant representation, or too few samples); returning NaN",
            RuntimeWarning,
            stacklevel=3,
        )
        return float("nan")
    return float(num / (math.sqrt(hxx) * math.sqrt(hyy)))
