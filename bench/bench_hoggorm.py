"""repsim vs hoggorm: linear CKA vs ``hoggorm.RVcoeff`` and RV2 vs ``hoggorm.RV2coeff``, p = q = 512.

hoggorm takes a list of arrays and returns the matrix of coefficients between them; it is given the column-centred
arrays (centring is done once, outside the timing), and the (0, 1) entry is compared:

* ``hoggorm.RVcoeff([Xc, Yc])[0, 1]``  == ``repsim.cka(X, Y)``              (RV of centred data = linear CKA)
* ``hoggorm.RV2coeff([Xc, Yc])[0, 1]`` == ``repsim.rv2(X, Y, center=True)``

repsim is given the raw X, Y (it centres internally, inside its timing). Every pair is checked to agree to 1e-10
relative: before timing (an untimed hoggorm call) for n <= ``_CHECK_BEFORE_MAX_N``; at larger n, where one
hoggorm call takes minutes, the result of the timed call itself is checked and a mismatch discards the timing.

Sizes: n = 2000 by default; n = 10 000 with ``--bench-large`` / ``REPSIM_BENCH_LARGE=1`` (hoggorm forms
10 000 x 10 000 Gram matrices and multiplies them: minutes per call, so 1 round). Target: >= 100x at n = 10 000.

Run:  pytest bench/bench_hoggorm.py [--bench-large]      (ratios: python bench/report.py --only hoggorm [--full])
"""
from __future__ import annotations

import functools

import hoggorm
import pytest

import _common
import repsim

_CHECK_BEFORE_MAX_N = 5000

METRICS = {
    # name: (repsim function of raw X, Y; hoggorm function of [Xc, Yc]; hoggorm name)
    "cka": (lambda X, Y: repsim.cka(X, Y), hoggorm.RVcoeff, "RVcoeff"),
    "rv2": (lambda X, Y: repsim.rv2(X, Y, center=True), hoggorm.RV2coeff, "RV2coeff"),
}

SIZES = [pytest.param(n, id=f"n{n}") for n in _common.HOGGORM_N_DEFAULT] + [
    pytest.param(n, id=f"n{n}", marks=pytest.mark.large) for n in _common.HOGGORM_N_LARGE
]

_HOGGORM_VALUE: dict[tuple[str, int], float] = {}


@functools.lru_cache(maxsize=2)
def _data(n: int):
    X, Y = _common.paired_representations(n)
    return X, Y, _common.centred(X), _common.centred(Y)


def _rounds(n: int) -> int:
    return 3 if n <= _CHECK_BEFORE_MAX_N else 1


def _hoggorm_value(metric: str, n: int) -> float:
    key = (metric, n)
    if key not in _HOGGORM_VALUE:
        _, _, Xc, Yc = _data(n)
        _HOGGORM_VALUE[key] = float(METRICS[metric][1]([Xc, Yc])[0, 1])
    return _HOGGORM_VALUE[key]


def _assert_agree(value: float, reference: float, what: str) -> None:
    rel = _common.relative_difference(value, reference)
    assert rel <= _common.RTOL_AGREE, f"{what}: repsim {value!r} vs hoggorm {reference!r} (relative {rel:.3g})"


def _group(benchmark, metric: str, n: int) -> None:
    benchmark.group = f"hoggorm {metric} n={n} p=q={_common.HOGGORM_P}"
    benchmark.extra_info.update({"n": n, "p": _common.HOGGORM_P, "metric": metric})


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("metric", list(METRICS))
def test_hoggorm(benchmark, metric, n):
    _group(benchmark, metric, n)
    repsim_fn, hog_fn, hog_name = METRICS[metric]
    X, Y, Xc, Yc = _data(n)
    expected = repsim_fn(X, Y)
    if n <= _CHECK_BEFORE_MAX_N:
        _assert_agree(expected, _hoggorm_value(metric, n), f"{metric} n={n} (before timing)")
    result = benchmark.pedantic(hog_fn, args=([Xc, Yc],), rounds=_rounds(n), iterations=1)
    value = float(result[0, 1])
    _HOGGORM_VALUE.setdefault((metric, n), value)
    if _common.relative_difference(expected, value) > _common.RTOL_AGREE:
        benchmark.has_error = True  # keep a mismatching run out of the saved/compared results
    _assert_agree(expected, value, f"{metric} n={n} (hoggorm.{hog_name}, timed call)")


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("metric", list(METRICS))
def test_repsim(benchmark, metric, n):
    _group(benchmark, metric, n)
    repsim_fn = METRICS[metric][0]
    X, Y, _, _ = _data(n)
    _assert_agree(repsim_fn(X, Y), _hoggorm_value(metric, n), f"{metric} n={n} (before timing)")
    value = benchmark(repsim_fn, X, Y)
    _assert_agree(value, _hoggorm_value(metric, n), f"{metric} n={n} (timed call)")
