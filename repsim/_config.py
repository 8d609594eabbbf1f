"""``show_config()``: which engines and libraries this installation uses."""
from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

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
        info["match engine"] = "C++ (repsim._core)"
        info["match kernels' LAPACK"] = (
            "SciPy's dpotrf/dtrsm" if _core.lapack_loaded() else "not found (scalar code only)"
        )
    else:
        info["match engine"] = "Numba (repsim/_kernels/numba_match.py; the first match compiles it, ~10-15 s)"
    info["OPENBLAS_THREAD_TIMEOUT"] = os.environ.get("OPENBLAS_THREAD_TIMEOUT", "unset")
    info["numba"] = _installed("numba") or "missing"
    try:
        from threadpoolctl import threadpool_info

        blas = [f"{d.get('internal_api')} {d.get('version')} ({d.get('num_threads')} threads)" for d in threadpool_info()
                if d.get("user_api") == "blas"]
        info["BLAS"] = "; ".join(blas) or "unknown"
    except ImportError:
        info["BLAS"] = "unknown (threadpoolctl not installed)"
    torch = sys.modules.get("torch")  # not imported here (seconds): CUDA is reported when torch is already loaded
    version = _installed("torch")
    if torch is not None:
        info["torch"] = f"{torch.__version__} (CUDA {'available' if torch.cuda.is_available() else 'not available'})"
    else:
        info["torch"] = f"{version} (CUDA: torch.cuda.is_available())" if version else "not installed (optional)"
    for name in ("safetensors", "pyarrow", "dask", "torchmetrics"):
        info[name] = _installed(name) or "not installed (optional)"
    return info


def _installed(name: str) -> str | None:
    """The installed version of a distribution, without importing it (None when absent)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def show_config() -> None:
    """Print the engines in use (compiled core or Numba), BLAS, and optional back ends."""
    for k, v in config().items():
        print(f"{k:>30}: {v}")
