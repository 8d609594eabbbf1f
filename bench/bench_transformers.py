"""W1 at smoke size: all hidden states of two (tiny) BERT-shaped models through repsim.compare, exact blocked
statistics vs the bare BLAS of the kept blocks, and the minibatch estimator beside it. The full-size run and its
table: ``python bench/report_transformers.py`` (two BERT-base models, n ≥ 20,000 tokens)."""
from __future__ import annotations

import argparse

import numpy as np
import pytest

pytest.importorskip("transformers")

import report_transformers as rt  # noqa: E402  (bench/ is on sys.path under pytest)

import repsim  # noqa: E402


def _args(**kw):
    a = argparse.Namespace(tiny=True, tokens=600, seq=16, batch=8, chunk=1024, threads=1, variant=None)
    for k, v in kw.items():
        setattr(a, k, v)
    return a


@pytest.fixture(scope="module")
def tiny():
    return rt.make(_args())


def test_exact_hidden_states_blocked(benchmark, tiny):
    models, batches, layers, tokens, width = tiny
    rep = benchmark(lambda: repsim.compare(models, batches, layers, metrics=("cka", "debiased_cka"),
                                           reduce="positions", progress=False))
    assert rep.n == tokens and rep.plan.n_passes == 1 and len(rep.plan.passes[0]) == len(layers) ** 2
    joint = repsim.compare(models, batches, layers, metrics=("cka", "debiased_cka"), reduce="positions",
                           progress=False, pairs="all")
    np.testing.assert_allclose(rep["cka"].values, joint["cka"].values, rtol=1e-11)
    np.testing.assert_allclose(rep["debiased_cka"].values, joint["debiased_cka"].values, rtol=1e-10, atol=1e-13)


def test_minibatch_estimator_beside_it(benchmark, tiny):
    models, batches, layers, tokens, width = tiny
    rep = benchmark(lambda: repsim.compare(models, batches, layers, metrics=("cka",), reduce="positions",
                                           progress=False, estimator="minibatch", batch_size=tokens))
    exact = repsim.compare(models, batches, layers, metrics=("debiased_cka",), reduce="positions", progress=False)
    # one chunk holding every token: the minibatch estimator is debiased CKA
    np.testing.assert_allclose(rep["cka"].values, exact["debiased_cka"].values, rtol=1e-9, atol=1e-12)


def test_report_renders():
    out = rt.render({"exact": {"wall_s": 2.0, "cpu_s": 3.0, "peak_mib": 10.0, "plan": "p", "sites": 4, "width": 8,
                               "tokens": 10, "cka": [[1.0]], "debiased_cka": [[1.0]]},
                     "forward": {"wall_s": 1.0, "cpu_s": 1.0, "peak_mib": 1.0},
                     "floor": {"wall_s": 1.0, "cpu_s": 1.0, "peak_mib": 1.0}})
    assert "**1.00×**" in out
