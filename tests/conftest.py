"""Shared fixtures: the engines that are installed, and seeded generators."""
from __future__ import annotations

import numpy as np
import pytest

from repsim._engines import available_engines

ENGINES = available_engines()


@pytest.fixture(params=ENGINES)
def engine(request):
    """Every fused-pass engine that this installation has ("cpp" and/or "numba")."""
    return request.param


@pytest.fixture
def rng():
    """A fresh, seeded generator for each test."""
    return np.random.default_rng(20240607)
