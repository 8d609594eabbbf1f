"""Kernel measures in repsim.compare: measures that exist only in Gram space (RBF CKA, cka(kernel="rbf")) route the
whole run to Gram space; each cell equals the one-shot call on the concatenated activations."""
from __future__ import annotations

import numpy as np
import pytest

import repsim

torch = pytest.importorskip("torch")


def _models():
    torch.manual_seed(0)
    a = torch.nn.Sequential(torch.nn.Linear(10, 30), torch.nn.ReLU(), torch.nn.Linear(30, 20))
    b = torch.nn.Sequential(torch.nn.Linear(10, 25), torch.nn.ReLU(), torch.nn.Linear(25, 20))
    return {"A": a, "B": b}


def test_kernel_measures_route_to_gram_space():
    models = _models()
    data = [torch.randn(40, 10) for _ in range(4)]
    r = repsim.compare(models, data, ["0", "2"], metrics=["rbf_cka", "debiased_rbf_cka", "cka", "debiased_cka"],
                       metric_options={"cka": {"kernel": "rbf", "sigma": 0.8}}, progress=False)
    assert r.plan.space == "gram" and r.n == 160
    X = torch.cat(data)
    with torch.no_grad():
        acts = {"A.0": models["A"][0](X), "A.2": models["A"](X), "B.0": models["B"][0](X), "B.2": models["B"](X)}
    acts = {k: v.numpy().astype(np.float64) for k, v in acts.items()}
    for i, row in enumerate(r["rbf_cka"].rows):
        for j, col in enumerate(r["rbf_cka"].cols):
            assert r["rbf_cka"].values[i, j] == pytest.approx(repsim.measure("rbf_cka")(acts[row], acts[col]), rel=1e-9)
            assert r["cka"].values[i, j] == pytest.approx(repsim.cka(acts[row], acts[col], kernel="rbf", sigma=0.8),
                                                          rel=1e-9)
            assert r["debiased_rbf_cka"].values[i, j] == pytest.approx(
                repsim.measure("debiased_rbf_cka")(acts[row], acts[col]), rel=1e-9, abs=1e-12)


def test_kernel_measures_refusals():
    models = _models()
    data = [torch.randn(20, 10) for _ in range(2)]
    with pytest.raises(ValueError, match="only in feature space"):
        repsim.compare(models, data, ["0"], metrics=["rbf_cka", "pwcca"], progress=False)
    with pytest.raises(ValueError, match="len"):
        repsim.compare(models, iter(data), ["0"], metrics=["rbf_cka"], progress=False)
    with pytest.raises(ValueError, match="checkpoint"):
        repsim.compare(models, data, ["0"], metrics=["rbf_cka"], checkpoint="ck", progress=False)
    with pytest.raises(TypeError, match="unexpected option"):
        repsim.compare(models, data, ["0"], metrics=["pwcca"], metric_options={"pwcca": {"kernel": "rbf"}},
                       progress=False)
    with pytest.raises(repsim.PlanError, match="Gram space"):
        repsim.compare(models, data, ["0"], metrics=["rbf_cka"], max_memory=1000, progress=False)


def test_warnings_are_summarised_once_per_kind():
    """Constant layers give one warning per pair and metric (hundreds); compare re-emits one per kind, naming the
    sites and the count, and keeps every one in report.info["warnings"]."""
    import warnings

    class Const(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList([torch.nn.Linear(8, 8) for _ in range(6)])

        def forward(self, x):
            for layer in self.layers:
                x = torch.relu(layer(x)) * 0 + 1.0
            return x

    data = [torch.randn(20, 8) for _ in range(2)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = repsim.compare({"a": Const(), "b": Const()}, data, [f"layers.{i}" for i in range(6)],
                           metrics=["cka", "cca"], progress=False)
    kinds = {(w.category, str(w.message).rsplit(" [", 1)[0]) for w in caught}
    assert len(caught) == len(kinds) <= 6 and len(r.info["warnings"]) > 50
    assert all("times in this comparison" in str(w.message) and "a.layers.1" in str(w.message) for w in caught)
    assert {d["category"] for d in r.info["warnings"]} == {"RuntimeWarning"}


def test_one_tensor_is_one_dataset():
    models = _models()
    X = torch.randn(600, 10)
    whole = repsim.compare(models, X, ["0", "2"], metrics=["cka"], progress=False)
    batched = repsim.compare(models, [X[:300], X[300:]], ["0", "2"], metrics=["cka"], progress=False)
    assert whole.n == 600 and whole.n_batches == 3
    np.testing.assert_allclose(whole["cka"].values, batched["cka"].values, rtol=1e-12)
    assert repsim.compare(models, X.numpy(), ["0"], metrics=["cka"], progress=False).n == 600
    with pytest.raises(ValueError, match="first axis"):
        repsim.compare(models, torch.randn(10), ["0"], metrics=["cka"], progress=False)
