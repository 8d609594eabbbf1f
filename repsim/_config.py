"""``show_config()``: which engines and libraries this installation uses."""
from __future__ import annotations

import os
import platform

import numpy as np
import scipy

from ._engines import _CORE_ERROR, HAVE_CORE, _core, available_engines
from ._version import __version__


def config() -> dict:
    info = {
        "repsim": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "compiled core (repsim._core)": "built" if HAVE_CORE else f"missing ({_CORE_ERROR})",
        "engines": ", ".join(available_engines()),
        "default engine": available_engines()[0],
    }
    if HAVE_CORE:
        info["match kernels' LAPACK"] = (
            "SciPy's dpotrf/dtrsm" if _core.lapack_loaded() else "not found (scalar code only)"
        )
    info["OPENBLAS_THREAD_TIMEOUT"] = os.environ.get("OPENBLAS_THREAD_TIMEOUT", "unset")
    try:
        import numba

        info["numba"] = numba.__version__
    except ImportError:  # pragma: no cover - numba is a dependency
        info["numba"] = "missing"
    try:
        from threadpoolctl import threadpool_info

        blas = [f"{d.get('internal_api')} {d.get('version')} ({d.get('num_threads')} threads)" for d in threadpool_info()
                if d.get("user_api") == "blas"]
        info["BLAS"] = "; ".join(blas) or "unknown"
    except ImportError:
        info["BLAS"] = "unknown (threadpoolctl not installed)"
    try:
        import torch

        info["torch"] = f"{torch.__version__} (CUDA {'available' if torch.cuda.is_available() else 'not available'})"
    except ImportError:
        info["torch"] = "not installed (optional)"
    return info


def show_config() -> None:
    """Print the engines in use (compiled core or Numba), BLAS, and optional back ends."""
    for k, v in config().items():
        print(f"{k:>30}: {v}")
