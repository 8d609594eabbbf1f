"""Type stub of the compiled core ``repsim._core`` (csrc/bindings.cpp, the only pybind11 file).

Every array argument marked "noconvert" must already have the stated dtype (native byte order) and be
C-contiguous: pybind11 does not copy it, so a Fortran-ordered, strided or other-dtype array raises TypeError.
Shapes are checked by the bindings (ValueError on a mismatch); dtypes and shapes are also validated in Python
(repsim/_validation.py) before the kernels are called. tests/test_core_boundary.py checks that this stub declares
exactly the names the module exports, with the parameter names of the pybind11 signatures.
"""
from typing import Final, SupportsFloat, SupportsIndex

import numpy as np
import numpy.typing as npt

#: Largest accepted squared row norm |x − c|² of one site (C++ ``repsim::kMaxNorm``, csrc/kernels/augment.hpp);
#: equals ``repsim._limits.MAX_NORM``.
MAX_NORM: Final[float]
#: Squared relative independence tolerance of the match spans (C++ ``repsim::match::kIndepTol``,
#: csrc/kernels/maxmatch.hpp): a neuron joins a basis when its squared residual exceeds DEP_TOL·‖ȳ‖².
#: Equals ``repsim._limits.DEP_TOL``.
DEP_TOL: Final[float]
#: Squared relative tolerance for "1 lies in the raw span" (C++ ``repsim::match::kOneTol``): a dependent neuron
#: with n·δ² > ONE_TOL·‖y‖² puts the constant vector in the span. Equals ``repsim._limits.ONE_TOL``.
ONE_TOL: Final[float]

def fill_augmented(
    out: npt.NDArray[np.float64],
    sites: list[npt.NDArray[np.float32] | npt.NDArray[np.float64]],
    references: list[npt.NDArray[np.float64]],
    n_threads: SupportsIndex = 1,
) -> tuple[int, int]:
    """Fused pass of docs/math.md §1 over one batch of ``rows`` rows and L sites of widths p_s.

    out: float64, C-contiguous, writeable, (rows, d) with d = Σ p_s + L + 1 (noconvert; filled in place).
    sites: a list (not a tuple) of L C-contiguous float32 or float64 arrays, each (rows, p_s).
    references: a list of L C-contiguous float64 vectors, each (p_s,).
    n_threads: most threads to split the rows across (used only for large batches). Releases the GIL.
    Returns (site, row) of the first shifted row that is not finite or whose squared norm exceeds MAX_NORM,
    or (-1, -1).
    """

def gram_block(
    W: npt.NDArray[np.float64],
    i0: SupportsIndex,
    j0: SupportsIndex,
    C: npt.NDArray[np.float64],
    upper: bool,
    edge: SupportsIndex,
) -> None:
    """C += W[:, i0:i0+ni]ᵀ W[:, j0:j0+nj] with (ni, nj) = C.shape, in tiles of at most ``edge`` columns.

    W: (rows, d) float64, C-contiguous, no conversion. C: (ni, nj) float64, Fortran-contiguous, writeable, no
    conversion. ``upper``: i0 == j0 and ni == nj, and only the upper triangle of C is written (DSYRK on the diagonal
    tiles). Raises ValueError for column ranges outside W or when SciPy's dsyrk/dgemm cannot be found.
    """

def lapack_loaded() -> bool:
    """Whether the match kernels found SciPy's dpotrf/dtrsm (else they run their scalar code); loads them first."""

def _match_lapack(enable: bool) -> bool:
    """Testing switch: let the match kernels use SciPy's LAPACK (True, the default) or only their scalar code.

    Returns the previous setting. Not thread-safe; not for use while a kernel runs.
    """

def max_match_curve(
    A: npt.NDArray[np.float64],
    B: npt.NDArray[np.float64],
    C: npt.NDArray[np.float64],
    mu: npt.NDArray[np.float64],
    nu: npt.NDArray[np.float64],
    n: SupportsFloat | SupportsIndex,
    center: bool,
    start_x: npt.NDArray[np.bool_],
    start_y: npt.NDArray[np.bool_],
    eps_desc: npt.NDArray[np.float64],
) -> list[tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]]:
    """Maximum matches (Wang et al. 2018, Algorithm 1) for each eps, warm-started from one another.

    A: (p, p), B: (q, q), C: (p, q) centred Gram blocks, mu: (p,), nu: (q,) means — all float64, C-contiguous
    (noconvert). n: number of samples (> 0). center: centred (True) or raw (False) spans.
    start_x: bool (p,), start_y: bool (q,) — the sets to start from (noconvert).
    eps_desc: float64 (k,), sorted in descending order (noconvert).
    Returns k pairs (x_mask bool (p,), y_mask bool (q,)), one per eps. Releases the GIL.
    """

def minimum_matches(
    A: npt.NDArray[np.float64],
    B: npt.NDArray[np.float64],
    C: npt.NDArray[np.float64],
    mu: npt.NDArray[np.float64],
    nu: npt.NDArray[np.float64],
    n: SupportsFloat | SupportsIndex,
    center: bool,
    max_x: npt.NDArray[np.bool_],
    max_y: npt.NDArray[np.bool_],
    eps: SupportsFloat | SupportsIndex,
    vs: npt.NDArray[np.int64],
    n_threads: SupportsIndex = 1,
) -> list[tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]]:
    """v-minimum matches (Algorithm 2) for each neuron v in vs, from the maximum match at eps.

    A, B, C, mu, nu, n, center: as for max_match_curve (arrays float64, C-contiguous, noconvert).
    max_x: bool (p,), max_y: bool (q,) — the maximum match that max_match_curve returned for eps (noconvert).
    vs: int64 (k,), C-contiguous (noconvert); v < p is neuron v of X, v ≥ p is neuron v − p of Y; each must belong
    to the maximum match. n_threads: threads the neurons are split across. Releases the GIL.
    Returns k pairs (x_mask bool (p,), y_mask bool (q,)), one per v.
    """
