"""Which implementation runs the fused per-batch pass: the C++ core (``repsim._core``) or Numba."""
from __future__ import annotations

import os

try:  # the extension is optional at build time (setup.py); Numba covers a machine without a compiler
    from . import _core

    HAVE_CORE = True
    _CORE_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised only on a build without a compiler
    _core = None
    HAVE_CORE = False
    _CORE_ERROR = str(exc)

ENGINES = ("cpp", "numba")


def available_engines() -> tuple[str, ...]:
    return ENGINES if HAVE_CORE else ("numba",)


def _engine_name(engine) -> str:
    """"cpp" or "numba" for ``engine`` ("auto": the compiled core when it is built, Numba otherwise)."""
    if not isinstance(engine, str):
        raise TypeError(f"engine must be a str, got {type(engine).__name__}")
    if engine == "auto":
        return "cpp" if HAVE_CORE else "numba"
    if engine in ENGINES:
        return engine
    raise ValueError(f"engine must be 'auto', 'cpp' or 'numba', got {engine!r}")


def resolve_engine(engine: str):
    """Return the ``fill_augmented`` function of the requested engine ("auto", "cpp" or "numba")."""
    engine = _engine_name(engine)
    if engine == "cpp":
        return "cpp", require_core("engine='cpp'").fill_augmented
    from ._kernels.numba_augment import fill_augmented

    return "numba", fill_augmented


def resolve_match_engine(engine: str = "auto"):
    """The match kernels of the requested engine: an object with ``max_match_curve`` and ``minimum_matches`` of the
    signatures of ``repsim._core`` (csrc/kernels/maxmatch.hpp), or their Numba port (repsim/_kernels/numba_match.py).
    """
    engine = _engine_name(engine)
    if engine == "cpp":
        return "cpp", require_core("engine='cpp'")
    # Numba's match kernels load (and compile, or read their cache) on the first match, not with `import repsim`
    from ._kernels import numba_match

    return "numba", numba_match


def require_core(feature: str):
    """The compiled core, or an ImportError saying how to build it (``engine="cpp"`` on a build without it)."""
    if not HAVE_CORE:
        raise ImportError(
            f"{feature} needs the compiled extension repsim._core, which is not built ({_CORE_ERROR}). "
            "Reinstall with a C++17 compiler present: REPSIM_STRICT_BUILD=1 pip install --force-reinstall --no-deps ."
        )
    return _core


def default_threads() -> int:
    return max(1, min(os.cpu_count() or 1, 8))
