"""``show_config()``: which engines and libraries this installation uses."""
from __future__ import annotations

import platform


def config() -> dict:
    import numpy as np
    import scipy

    from ._engines import HAVE_CORE, _CORE_ERROR, available_engines

    info = {
        "repsim": __import__("repsim").__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "compiled core (repsim._core)": "built" if HAVE_CORE else f"missing ({_CORE_ERROR})",
        "engines": ", ".join(available_engines()),
        "default engine": available_engines()[0],
    }
    if HAVE_CORE:
        from . import _core

        info["match kernels' LAPACK"] = (
            "SciPy's dpotrf/dtrsm" if _core.lapack_loaded() else "not found (scalar code only)"
        )
    import os

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
