"""Helpers shared by the metric modules."""
from __future__ import annotations

import math
import warnings

import numpy as np


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
