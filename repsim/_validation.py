"""Input checks and the one visible conversion of user arrays before they reach a kernel.

Kernels receive C-contiguous float32 or float64 NumPy arrays (docs/contributing.md, boundary rule 1). Everything else is
converted here, once, or rejected with an error that names the argument, the site and the batch.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import math

import numpy as np

from ._limits import DEBIASED_MIN_N, MAX_BLOCK_NORM, MAX_NORM, MIN_SPREAD, SPREAD_RESCAN_VALUE

_FLOAT_KINDS = (np.float16, np.float32, np.float64)
#: Machine epsilon of each floating dtype an activation may come in (NumPy or torch name).
_EPS = {"float16": 2.0**-10, "bfloat16": 2.0**-7, "float32": 2.0**-23, "float64": 2.0**-52}


def _where(name: str, batch: int | None) -> str:
    return name if batch is None else f"{name} (batch {batch})"


def _is_torch(a) -> bool:
    return type(a).__module__.split(".")[0] == "torch"


def as_float_matrix(a, name: str, batch: int | None = None) -> np.ndarray:
    """Return ``a`` as a C-contiguous 2-D float32/float64 NumPy array (float16 is widened to float32).

    Raises ``TypeError`` for non-float data and ``ValueError`` for anything that is not 2-D.
    """
    where = _where(name, batch)
    if _is_torch(a):
        arr = as_float_tensor(a, name, batch, "cpu").numpy()  # one set of tensor checks (dtype, 2-D, upcast)
    elif isinstance(a, np.ma.MaskedArray):
        raise TypeError(f"{where}: masked arrays are not supported (the mask would be ignored); pass "
                        "a.compressed() rows or a.filled(value)")
    elif isinstance(a, np.ndarray):
        arr = a
    elif hasattr(a, "toarray") and hasattr(a, "nnz"):
        raise TypeError(f"{where}: sparse matrices are not supported ({type(a).__name__}); pass a.toarray()")
    else:
        try:
            arr = np.asarray(a)
        except Exception as exc:  # ragged lists and other junk
            raise TypeError(f"{where}: cannot be read as an array ({exc})") from None
    if arr.dtype.kind == "f" and not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))  # big-endian data: same values, native order
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.floating) or arr.dtype not in _FLOAT_KINDS:
        raise TypeError(
            f"{where}: expected float16, float32 or float64 values, got dtype {arr.dtype}; "
            f"convert explicitly (e.g. .astype(np.float64)) if the values are meant as real numbers"
        )
    if arr.ndim != 2:
        raise ValueError(f"{where}: expected a 2-D array (n_samples, n_features), got shape {arr.shape}")
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    return np.ascontiguousarray(arr)


def as_float_tensor(a, name: str, batch: int | None, device):
    """Like :func:`as_float_matrix` but returns a 2-D float32/float64 torch tensor on ``device`` (no host copy of
    device tensors): float16/bfloat16 are widened to float32."""
    import torch

    where = _where(name, batch)
    if not _is_torch(a):
        return torch.from_numpy(as_float_matrix(a, name, batch)).to(device)
    if not isinstance(a, torch.Tensor):
        raise TypeError(f"{where}: expected an array or a torch.Tensor, got {type(a).__name__}")
    check_tensor_storage(a, where)
    t = a.detach()
    if t.is_complex() or not t.is_floating_point():
        raise TypeError(f"{where}: expected a floating-point tensor, got dtype {t.dtype}")
    if t.ndim != 2:
        raise ValueError(f"{where}: expected a 2-D array (n_samples, n_features), got shape {tuple(t.shape)}")
    if t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float32)
    return t.to(device)


def check_tensor_storage(t, where: str) -> None:
    """A torch tensor whose values can be read: TypeError for sparse and nested layouts, ValueError for the 'meta'
    device (no data), naming ``where``."""
    nested = bool(getattr(t, "is_nested", False))
    if nested or str(t.layout) != "torch.strided":
        raise TypeError(f"{where}: expected a dense tensor, got a {'nested' if nested else t.layout} tensor; "
                        "convert it with .to_dense() (or torch.nested.to_padded_tensor)")
    if t.device.type == "meta":
        raise ValueError(f"{where}: the tensor is on the 'meta' device and holds no data; pass a tensor with values")


# ---------------------------------------------------------------------------------------------------- parameters
def flag(value, name: str) -> bool:
    """``value`` as a bool: only True / False (NumPy's included), else TypeError naming the argument — a str such
    as "no" or a number would otherwise be read by its truth value."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be a bool (True or False), got {value!r}")


def float_dtype(dtype, name: str = "dtype") -> str:
    """The name of a floating dtype given as a NumPy or torch dtype or its name ("float16", "bfloat16", "float32",
    "float64"; None: "float64"); TypeError / ValueError naming the argument otherwise."""
    if dtype is None:
        return "float64"
    key = str(dtype).removeprefix("torch.")
    if key not in _EPS:
        try:
            key = np.dtype(dtype).name
        except TypeError:
            raise TypeError(f"{name} must be a floating-point dtype or None, got {dtype!r}") from None
    if key not in _EPS:
        raise ValueError(f"{name} must be one of {list(_EPS)} (or None), got {dtype!r}")
    return key


def dtype_eps(dtype, name: str = "dtype") -> float:
    """The machine epsilon of a floating dtype (see :func:`float_dtype`; None: float64)."""
    return _EPS[float_dtype(dtype, name)]


def input_dtype(*arrays) -> str:
    """The name of the coarsest floating dtype the caller's arrays came in (before any widening: float16 input counts
    as float16); inputs without a dtype (lists, DataFrames) count as float64."""
    return max((_dtype_name(a) for a in arrays), key=_EPS.__getitem__)


def _dtype_name(a) -> str:
    try:
        return float_dtype(getattr(a, "dtype", None))
    except (TypeError, ValueError):  # not a float dtype (refused by the array checks)
        return "float64"


def choice(value, name: str, choices) -> str:
    """``value`` if it is one of ``choices``, else ValueError naming the argument and the choices."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def real(value, name: str, low: float = 0.0, high: float | None = None, low_open: bool = False) -> float:
    """``value`` as a finite float in [low, high] (or (low, high] with ``low_open``); TypeError for non-numbers
    (bools included), ValueError naming the argument and the range otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v) or v < low or (low_open and v == low) or (high is not None and v > high):
        rng = f"{'(' if low_open else '['}{low:g}, {f'{high:g}' if high is not None else 'inf'}]"
        raise ValueError(f"{name} must be in {rng}, got {value!r}")
    return v


def positive_real(value, name: str) -> float:
    """``value`` as a positive finite float (e.g. an RBF bandwidth); TypeError / ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not (math.isfinite(v) and v > 0.0):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return v


def integer(value, name: str, low: int, what: str = "an int", why: str = "", bound: str = ">=") -> int:
    """``value`` as an int ≥ ``low``: TypeError "``name`` must be ``what``" for non-integers (bools included),
    ValueError "``name`` must be ``bound`` ``low````why``" otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be {bound} {low}{why}, got {value}")
    return int(value)


def check_debiased_n(n: int) -> None:
    """The debiased (HSIC₁) estimators divide by n(n − 3): ValueError below DEBIASED_MIN_N samples."""
    if n < DEBIASED_MIN_N:
        raise ValueError(
            f"debiased CKA needs at least {DEBIASED_MIN_N} samples (the estimator divides by n(n-3)); got n={n}"
        )


def positive_int(value, name: str, what: str = "") -> int:
    """``value`` as an int ≥ 1, else ValueError naming the argument (bools are not ints here)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int{what}, got {value!r}")
    return int(value)


def name_tuple(names, what: str, noun: str) -> tuple:
    """A name or a sequence of names → a non-empty tuple of distinct str (``what`` names the argument, ``noun``
    one of its items in the errors)."""
    if isinstance(names, str):
        return (names,)
    if not isinstance(names, Iterable):
        raise TypeError(f"{what} must be a {noun} name or a sequence of them, got {type(names).__name__}")
    names = tuple(names)
    if not names:
        raise ValueError(f"{what} is empty")
    for m in names:
        if not isinstance(m, str):
            raise TypeError(f"{noun} names must be str, got {m!r}")
    dup = sorted({m for m in names if names.count(m) > 1})
    if dup:
        raise ValueError(f"{what}: {noun}(s) {dup} given more than once")
    return names


def check_site_mapping(mapping, where: str, call: str, value: str) -> None:
    """A non-empty mapping with str keys (site names); errors start with ``where`` and name the ``call``."""
    if not isinstance(mapping, Mapping):
        raise TypeError(f"{where}: {call} takes a mapping of site name -> {value}, got {type(mapping).__name__}")
    if len(mapping) == 0:
        raise ValueError(f"{where}: {call} got no sites")
    for key in mapping:
        if not isinstance(key, str):
            raise TypeError(f"{where}: site names must be str, got {key!r}")


def check_batch(batch, sites: tuple[str, ...] | None, dims: dict[str, int] | None, batch_index: int, convert=None):
    """Validate one ``Moments.update`` batch; return (site names, arrays in site order, rows).

    ``convert(value, name, batch_index)`` turns each value into a 2-D float array (default: NumPy).
    """
    convert = convert or as_float_matrix
    check_site_mapping(batch, f"batch {batch_index}", "update()", "2-D array")
    if sites is not None:
        unknown = [k for k in batch if k not in sites]
        missing = [s for s in sites if s not in batch]
        if unknown or missing:
            parts = []
            if unknown:
                parts.append(f"unknown site(s) {unknown}")
            if missing:
                parts.append(f"missing site(s) {missing}")
            raise ValueError(
                f"batch {batch_index}: {' and '.join(parts)}; the sites are fixed by the first update: {list(sites)}"
            )
        order = sites
    else:
        order = tuple(batch)
    arrays = [convert(batch[s], f"site {s!r}", batch_index) for s in order]
    rows = arrays[0].shape[0]
    for s, a in zip(order, arrays):
        if a.shape[0] != rows:
            shapes = {k: tuple(v.shape) for k, v in zip(order, arrays)}
            raise ValueError(
                f"batch {batch_index}: every site must have the same number of rows (samples); got shapes {shapes}"
            )
        if dims is not None and a.shape[1] != dims[s]:
            raise ValueError(
                f"site {s!r} (batch {batch_index}): expected {dims[s]} features as in the first update, "
                f"got shape {tuple(a.shape)}"
            )
        if a.shape[1] == 0:
            raise ValueError(f"site {s!r} (batch {batch_index}): has no features (shape {tuple(a.shape)})")
    if sites is None and rows > 0:  # the first batch fixes each site's scale: its squares must not underflow
        for s, a in zip(order, arrays):
            check_spread(a, f"site {s!r} (batch {batch_index})")
    return order, arrays, rows


def all_finite(array: np.ndarray) -> bool:
    """Every entry finite (a finite sum proves it in one reduction; otherwise the entries are checked)."""
    return bool(np.isfinite(array.sum()) or np.isfinite(array).all())


def as_float64_array(a, name: str) -> np.ndarray:
    """A finite float64 NumPy copy, any shape, of an array or a (CPU or CUDA) torch tensor, no autograd history:
    for parameters such as classifier heads, not for activations (those go through :func:`as_float_matrix`)."""
    if _is_torch(a):
        import torch

        if not isinstance(a, torch.Tensor):
            raise TypeError(f"{name} must be an array or a torch.Tensor, got {type(a).__name__}")
        if not a.is_floating_point():
            raise TypeError(f"{name} must hold floating-point values, got dtype {a.dtype}")
        a = a.detach().to(device="cpu", dtype=torch.float64).numpy()
    try:
        arr = np.asarray(a)
    except Exception as exc:  # ragged lists and other junk
        raise TypeError(f"{name} cannot be read as an array ({exc})") from None
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"{name} must hold floating-point values, got dtype {arr.dtype}")
    arr = np.array(arr, dtype=np.float64)
    if not all_finite(arr):
        raise ValueError(f"{name} contains NaN or Inf")
    return arr


def first_nonfinite(array: np.ndarray) -> str | None:
    """'NaN at row r, column c' for the first non-finite entry of a 2-D array, or None (one vectorised pass)."""
    if all_finite(array):
        return None
    finite = np.isfinite(array)
    r, col = (int(v) for v in np.argwhere(~finite)[0])
    return f"{'NaN' if np.isnan(array[r, col]) else 'Inf'} at row {r}, column {col}"


def nonfinite_message(site: str, batch_index: int, array: np.ndarray, row: int) -> str:
    """Explain why the fused pass flagged ``row`` of a site: a NaN/Inf somewhere in the batch, or a huge row."""
    bad = first_nonfinite(array)
    if bad is not None:
        return f"site {site!r} (batch {batch_index}): {bad}; activations must be finite"
    return (
        f"site {site!r} (batch {batch_index}): row {row} is too large (its squared distance to the reference "
        f"exceeds {MAX_NORM:g}, so the fourth-order statistics would overflow float64); rescale the activations"
    )


def check_norm_means(norm_means, layout, batch_index: int) -> None:
    """``norm_means[s]`` is the first batch's mean squared distance to the reference of site s."""
    for k, site in enumerate(layout.sites):
        spread = float(norm_means[k])
        if 0.0 < spread < MIN_SPREAD:
            raise ValueError(_spread_message(f"site {site!r} (batch {batch_index})", f"{spread:.3g}"))


def _spread_message(where: str, spread: str) -> str:
    return (
        f"{where}: the activations' spread (mean squared deviation {spread}) is too small for float64 fourth-order "
        f"statistics (< {MIN_SPREAD:g}: its squares underflow); multiply them by a constant (the similarity metrics "
        "are scale invariant)"
    )


def _abs_max(a) -> float:
    """max |a| of a 2-D NumPy array or torch tensor (NaN when it holds a NaN; 0 when empty), without a temporary."""
    if a.shape[0] * a.shape[1] == 0:
        return 0.0
    return max(abs(float(a.max())), abs(float(a.min())))


def _log10_spread(a, amax: float) -> float | None:
    """log₁₀ of the mean squared row norm of the column-centred ``a`` (None when every column is constant),
    computed on a copy scaled by the power of two that brings max |a| into [0.5, 1): exact, so no square
    underflows. Constant columns count 0 (not the rounding of their mean)."""
    a64 = a.detach().cpu().double().numpy() if _is_torch(a) else np.asarray(a, dtype=np.float64)
    e = math.frexp(amax)[1]
    scaled = np.ldexp(a64, -e)
    varying = np.ptp(scaled, axis=0) > 0.0
    if not varying.any():
        return None
    d = scaled[:, varying]
    d = d - d.mean(axis=0)
    ms = float(np.einsum("ij,ij->", d, d)) / d.shape[0]
    return math.log10(ms) + 2 * e * math.log10(2.0)


def check_spread(a, where: str) -> None:
    """A site's first batch (or first Gram block): ValueError when its values are not all equal but their mean
    squared deviation is below MIN_SPREAD — also when it is so small that the squares underflow to exactly 0
    (values ≈ 1e-300 or subnormal), which the fused pass alone would take for a constant site."""
    amax = _abs_max(a)
    if not 0.0 < amax < SPREAD_RESCAN_VALUE:  # zero, NaN / Inf (reported by the fused pass) or large enough
        return
    log_spread = _log10_spread(a, amax)
    if log_spread is not None and log_spread < math.log10(MIN_SPREAD):
        exp = math.floor(log_spread)
        raise ValueError(_spread_message(where, f"≈ {10 ** (log_spread - exp):.3g}e{exp:+d}"))


def check_block_norm(a, where: str) -> None:
    """A Gram-space block: ValueError when (2·max|a|)²·p could exceed MAX_BLOCK_NORM (its Gram entries are squared
    in the sums), computed without overflowing (values up to the float64 maximum)."""
    amax = _abs_max(a)
    if amax > 0.0 and amax > 0.5 * math.sqrt(MAX_BLOCK_NORM / a.shape[1]):
        raise ValueError(
            f"{where}: values up to {amax:.3g} are too large for float64 Gram sums (squared row norms could exceed "
            f"{MAX_BLOCK_NORM:g}); rescale the activations (the metrics are scale invariant)"
        )


def check_gram_block(a, where: str, first: bool) -> None:
    """The magnitude checks of a (non-empty, finite) Gram-space block: never too large; and, for a site's first
    block, the spread check of :func:`check_spread`."""
    check_block_norm(a, where)
    if first:
        check_spread(a, where)


def check_pair(X, Y, names=("X", "Y")):
    """Validate the two arrays of a one-shot metric call."""
    x = as_float_matrix(X, names[0])
    y = as_float_matrix(Y, names[1])
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same number of rows (samples); "
            f"got shapes {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{names[0]} and {names[1]} have no rows")
    return x, y
