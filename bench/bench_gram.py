"""Gram space (docs/math.md §4): RBF CKA vs in-memory numpy and ckatorch; wide linear RV2 in Gram vs feature space vs hoggorm.

RBF CKA (threshold / ``sigma`` 0.5, Kornblith's median bandwidth), X and Y of n samples × 512 features:

* ``repsim``      ``repsim.cka(X, Y, kernel="rbf", sigma=0.5)``: two packed Grams accumulated with BLAS, exact median
                  by histogram selection, RBF tiles centred on the fly (no n × n temporary).
* ``numpy_H``     written here from the definition: full n × n Gram, D = −2G + |x_i|² + |x_j|², K = exp(−D/(2σ²)),
                  Kc = H K H with the centring matrix H = I − 11ᵀ/n (two n × n × n products per side), cosine.
* ``numpy_mean``  the same, centred as Kornblith's ``center_gram`` does it (subtract row and column means; O(n²)).
* ``ckatorch``    ``ckatorch.core.cka_base(x, y, kernel="rbf", threshold=0.5)`` on float64 CPU tensors (installed
                  with ``pip install --no-deps ckatorch``; its package ``__init__`` imports yaml, safetensors and
                  seaborn for its model-hooking class, so ``ckatorch.core`` is loaded without running it). ckatorch
                  takes ``torch.median``, the *lower* middle value: it is checked against
                  ``repsim.cka(..., bandwidth="median_lower")``.

Linear RV2 (centred), n = 2000 samples, p = q features (shared 32-dim latent plus noise and offsets):

* ``gram``     ``repsim.rv2(X, Y, space="gram")`` (what ``space="auto"`` picks here: p + q > 1.5 n)
* ``feature``  ``repsim.rv2(X, Y, space="feature")``: (p + q + 3)² float64 statistics, skipped when they exceed
               ``REPSIM_BENCH_FEATURE_GB`` GiB (default 4: p = q = 20 000 would need 12.8 GB)
* ``hoggorm``  ``hoggorm.RV2coeff([Xc, Yc])[0, 1]`` on column-centred data (centred outside the timing)

Every variant is checked against the others to 1e-10 relative before it is timed.

Sizes: small by default (a smoke test: ``pytest bench/bench_gram.py --benchmark-disable`` runs in seconds);
``--bench-large`` / ``REPSIM_BENCH_LARGE=1`` adds RBF at n = 2000 and 10 000 and RV2 at p = q = 10 000 and 20 000
(numpy_H at n = 10 000 takes minutes and ~3 GB). Tables with medians and peak memory: ``python bench/report_gram.py``.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import sys
import types

import numpy as np
import pytest

import _common
import repsim

THRESHOLD = 0.5
RBF_P = 512
RBF_N_DEFAULT = (400,)
RBF_N_LARGE = (2000, 10000)
RV2_N = 2000
RV2_DEFAULT = ((300, 1500),)  # (n, p = q)
RV2_LARGE = ((RV2_N, 10000), (RV2_N, 20000))
RBF_VARIANTS = ("repsim", "numpy_H", "numpy_mean", "ckatorch")
RV2_VARIANTS = ("gram", "feature", "hoggorm")


def feature_limit_bytes() -> int:
    return int(float(os.environ.get("REPSIM_BENCH_FEATURE_GB", "4")) * 2**30)


def feature_bytes(p: int, q: int) -> int:
    """Memory of the feature-space statistics: the full (p + q + 3)² float64 matrix G."""
    return 8 * (p + q + 3) ** 2


# ============================================================================= data
@functools.lru_cache(maxsize=2)
def rbf_data(n: int, p: int = RBF_P, seed: int = 0):
    return _common.paired_representations(n, p, p, seed)


def wide_pair(n: int, p: int, q: int, seed: int = 0, k: int = 32):
    """X (n, p), Y (n, q) sharing a k-dim latent, plus noise and column offsets (float64)."""
    rng = np.random.default_rng(seed + n + p)
    Z = rng.standard_normal((n, k))
    X = Z @ rng.standard_normal((k, p)) * 0.5 + rng.standard_normal((n, p)) + rng.normal(2.0, 1.0, size=p)
    Y = Z @ rng.standard_normal((k, q)) * 0.5 + rng.standard_normal((n, q)) - 1.0
    return X, Y


@functools.lru_cache(maxsize=1)
def rv2_data(n: int, p: int):
    X, Y = wide_pair(n, p, p)
    return X, Y, _common.centred(X), _common.centred(Y)


# ============================================================================= RBF implementations
def repsim_rbf(X, Y, threshold: float = THRESHOLD, bandwidth: str = "median") -> float:
    return repsim.cka(X, Y, kernel="rbf", sigma=threshold, bandwidth=bandwidth)


def _numpy_rbf(A: np.ndarray, threshold: float) -> np.ndarray:
    """Kornblith's RBF Gram from the definition: K = exp(−D/(2·threshold²·median(D))), median over the full matrix."""
    D = A @ A.T
    sq = np.diag(D).copy()
    D *= -2.0
    D += sq[:, None]
    D += sq[None, :]
    D *= -1.0 / (2.0 * threshold**2 * np.median(D))
    np.exp(D, out=D)
    return D


def numpy_rbf_cka_H(X, Y, threshold: float = THRESHOLD) -> float:
    """In-memory RBF CKA with the centring matrix: Kc = H K H by two dense n × n × n products per side."""
    n = X.shape[0]
    H = np.eye(n) - 1.0 / n

    def centred(A):
        K = _numpy_rbf(A, threshold)
        HK = H @ K
        del K
        return HK @ H

    Kc = centred(X)
    Lc = centred(Y)
    return float(np.vdot(Kc, Lc) / (np.linalg.norm(Kc) * np.linalg.norm(Lc)))


def numpy_rbf_cka_mean(X, Y, threshold: float = THRESHOLD) -> float:
    """In-memory RBF CKA centred as Kornblith's ``center_gram``: subtract column means, then row means (O(n²))."""

    def centred(A):
        K = _numpy_rbf(A, threshold)
        means = K.mean(axis=0)
        means -= means.mean() / 2.0
        K -= means[:, None]
        K -= means[None, :]
        return K

    Kc = centred(X)
    Lc = centred(Y)
    return float(np.vdot(Kc, Lc) / (np.linalg.norm(Kc) * np.linalg.norm(Lc)))


def load_ckatorch():
    """``ckatorch.core`` (its ``cka_base``), or raise ImportError saying why it cannot be used."""
    loaded = sys.modules.get("ckatorch.core")
    if loaded is not None:
        return loaded
    if importlib.util.find_spec("torch") is None:
        raise ImportError("torch is not installed")
    spec = importlib.util.find_spec("ckatorch")
    if spec is None:
        raise ImportError("ckatorch is not installed (pip install --no-deps ckatorch)")
    try:
        return importlib.import_module("ckatorch.core")
    except ImportError:
        # ckatorch/__init__.py imports its model-hooking class (yaml, safetensors, seaborn); the functions need
        # only torch. Load the submodules under a bare package object instead of running __init__.
        for name in [m for m in sys.modules if m == "ckatorch" or m.startswith("ckatorch.")]:
            del sys.modules[name]
        pkg = types.ModuleType("ckatorch")
        pkg.__path__ = list(spec.submodule_search_locations)
        pkg.__spec__ = spec
        sys.modules["ckatorch"] = pkg
        return importlib.import_module("ckatorch.core")


def ckatorch_available() -> tuple[bool, str]:
    try:
        load_ckatorch()
        return True, ""
    except Exception as exc:  # noqa: BLE001 - report any reason
        return False, f"{type(exc).__name__}: {exc}"


def ckatorch_tensors(X, Y):
    import torch

    return torch.from_numpy(np.ascontiguousarray(X)), torch.from_numpy(np.ascontiguousarray(Y))


def ckatorch_rbf(xt, yt, threshold: float = THRESHOLD) -> float:
    core = load_ckatorch()
    return float(core.cka_base(xt, yt, kernel="rbf", threshold=threshold))


def rbf_call(variant: str, X, Y):
    """A zero-argument callable computing RBF CKA with ``variant`` (inputs prepared outside the timing)."""
    if variant == "repsim":
        return lambda: repsim_rbf(X, Y)
    if variant == "numpy_H":
        return lambda: numpy_rbf_cka_H(X, Y)
    if variant == "numpy_mean":
        return lambda: numpy_rbf_cka_mean(X, Y)
    if variant == "ckatorch":
        xt, yt = ckatorch_tensors(X, Y)
        load_ckatorch()
        return lambda: ckatorch_rbf(xt, yt)
    raise KeyError(variant)


def rbf_reference(variant: str, X, Y) -> float:
    """The repsim value the variant must reproduce (ckatorch: torch.median's lower middle value)."""
    return repsim_rbf(X, Y, bandwidth="median_lower" if variant == "ckatorch" else "median")


# ============================================================================= RV2 implementations
def rv2_call(variant: str, X, Y, Xc, Yc):
    if variant == "gram":
        return lambda: repsim.rv2(X, Y, space="gram")
    if variant == "feature":
        return lambda: repsim.rv2(X, Y, space="feature")
    if variant == "hoggorm":
        import hoggorm

        return lambda: float(hoggorm.RV2coeff([Xc, Yc])[0, 1])
    raise KeyError(variant)


# ============================================================================= pytest-benchmark
def _sizes(default, large, ids):
    return [pytest.param(s, id=ids(s)) for s in default] + [
        pytest.param(s, id=ids(s), marks=pytest.mark.large) for s in large
    ]


def _agree(value: float, reference: float, what: str) -> None:
    rel = _common.relative_difference(value, reference)
    assert rel <= _common.RTOL_AGREE, f"{what}: {value!r} vs {reference!r} (relative {rel:.3g})"


def _rounds(seconds_hint: float) -> int:
    return 1 if seconds_hint > 20 else 3


@pytest.mark.parametrize("n", _sizes(RBF_N_DEFAULT, RBF_N_LARGE, lambda n: f"n{n}"))
@pytest.mark.parametrize("variant", RBF_VARIANTS)
def test_rbf_cka(benchmark, variant, n):
    benchmark.group = f"gram: RBF CKA n={n} p=q={RBF_P} (sigma {THRESHOLD})"
    benchmark.extra_info.update({"n": n, "p": RBF_P, "variant": variant})
    if variant == "ckatorch":
        ok, why = ckatorch_available()
        if not ok:
            pytest.skip(f"ckatorch cannot be used: {why}")
    X, Y = rbf_data(n)
    ref = rbf_reference(variant, X, Y)
    fn = rbf_call(variant, X, Y)
    _agree(fn(), ref, f"{variant} n={n} (before timing)")
    heavy = variant == "numpy_H" and n > 4000
    value = benchmark.pedantic(fn, rounds=1 if heavy else 3, iterations=1)
    _agree(value, ref, f"{variant} n={n} (timed call)")


@pytest.mark.parametrize("size", _sizes(RV2_DEFAULT, RV2_LARGE, lambda s: f"n{s[0]}-p{s[1]}"))
@pytest.mark.parametrize("variant", RV2_VARIANTS)
def test_rv2_wide(benchmark, variant, size):
    n, p = size
    benchmark.group = f"gram: RV2 (centred) n={n} p=q={p}"
    benchmark.extra_info.update({"n": n, "p": p, "variant": variant})
    if variant == "feature" and feature_bytes(p, p) > feature_limit_bytes():
        pytest.skip(f"feature space needs {feature_bytes(p, p) / 2**30:.1f} GiB of statistics "
                    f"(> REPSIM_BENCH_FEATURE_GB={feature_limit_bytes() / 2**30:g})")
    X, Y, Xc, Yc = rv2_data(n, p)
    ref = repsim.rv2(X, Y, space="gram")
    fn = rv2_call(variant, X, Y, Xc, Yc)
    _agree(fn(), ref, f"{variant} n={n} p={p} (before timing)")
    value = benchmark.pedantic(fn, rounds=1 if p >= 10000 else 3, iterations=1)
    _agree(value, ref, f"{variant} n={n} p={p} (timed call)")
