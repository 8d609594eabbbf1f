"""repsim.compare: matrices equal the array functions on hand-extracted activations; Report, checkpoints,
the minibatch estimator against a naive implementation of Nguyen et al. 2021, and errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import repsim
from repsim import Report, compare

TOL = 1e-10


def mlp(seed):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(10, 16), nn.ReLU(inplace=True), nn.Linear(16, 12), nn.ReLU(inplace=True), nn.Linear(12, 6)
    )


def cnn(seed):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 5, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(5, 4, 3, padding=1), nn.ReLU(inplace=True)
    )


def loader(n=64, batch=16, shape=(10,), seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, *shape, generator=g)
    return DataLoader(TensorDataset(X, torch.zeros(n)), batch_size=batch, shuffle=False)


def mlp_by_hand(model, data):
    """Layers '0', '2', '4' of an mlp, computed batch by batch as the hooks see them → float64 arrays."""
    out = {"0": [], "2": [], "4": []}
    with torch.no_grad():
        for x, _ in data:
            h0 = model[0](x)
            h2 = model[2](torch.relu(h0))
            h4 = model[4](torch.relu(h2))
            for k, v in (("0", h0), ("2", h2), ("4", h4)):
                out[k].append(v)
    return {k: torch.cat(v).double().numpy() for k, v in out.items()}


ARRAY_FUNCTIONS = {
    "cka": lambda x, y: repsim.cka(x, y),
    "debiased_cka": lambda x, y: repsim.cka(x, y, debiased=True),
    "rv2": lambda x, y: repsim.rv2(x, y),
    "pwcca": lambda x, y: repsim.pwcca(x, y),
    "cca": lambda x, y: repsim.cca(x, y).mean_rho,
    "procrustes": lambda x, y: repsim.procrustes(x, y),
}


# ------------------------------------------------------------------------------------------- exact values
def test_two_models_match_array_functions():
    a, b = mlp(0), mlp(1)
    data = loader()
    report = compare({"a": a, "b": b}, data, ["0", "2", "4"], metrics=tuple(ARRAY_FUNCTIONS), progress=False)
    ha, hb = mlp_by_hand(a, data), mlp_by_hand(b, data)
    assert report.rows_model == "a" and report.cols_model == "b"
    assert report.n == 64 and report.n_samples == 64 and report.n_batches == 4
    for metric, fn in ARRAY_FUNCTIONS.items():
        m = report[metric]
        assert m.rows == ("a.0", "a.2", "a.4") and m.cols == ("b.0", "b.2", "b.4")
        want = np.array([[fn(ha[r], hb[c]) for c in ("0", "2", "4")] for r in ("0", "2", "4")])
        np.testing.assert_allclose(m.values, want, rtol=0, atol=TOL, err_msg=metric)


@pytest.mark.parametrize("reduce", ["pool", "positions"])
def test_conv_reductions_match_array_functions(reduce):
    a, b = cnn(0), cnn(1)
    data = loader(n=24, batch=8, shape=(3, 4, 4))
    report = compare({"a": a, "b": b}, data, {"2": reduce}, metrics=("cka", "debiased_cka"), progress=False)
    acts = {}
    with torch.no_grad():
        for name, model in (("a", a), ("b", b)):
            rows = []
            for x, _ in data:
                c = model[2](torch.relu(model[0](x)))
                rows.append(c.mean(dim=(2, 3)) if reduce == "pool" else c.permute(0, 2, 3, 1).reshape(-1, 4))
            acts[name] = torch.cat(rows).double().numpy()
    assert report.n == (24 if reduce == "pool" else 24 * 16) and report.n_samples == 24
    np.testing.assert_allclose(report["cka"].values, [[repsim.cka(acts["a"], acts["b"])]], rtol=0, atol=TOL)
    np.testing.assert_allclose(
        report["debiased_cka"].values, [[repsim.cka(acts["a"], acts["b"], debiased=True)]], rtol=0, atol=TOL
    )


def test_dict_batches_with_attention_mask():
    class Tok(nn.Module):
        def __init__(self, seed):
            super().__init__()
            torch.manual_seed(seed)
            self.emb = nn.Embedding(30, 8)
            self.proj = nn.Linear(8, 6)

        def forward(self, input_ids, attention_mask=None):
            return self.proj(torch.tanh(self.emb(input_ids)))

    g = torch.Generator().manual_seed(3)
    batches = []
    for _ in range(3):
        ids = torch.randint(0, 30, (8, 5), generator=g)
        mask = (torch.rand(8, 5, generator=g) > 0.3).long()
        mask[:, 0] = 1
        batches.append({"input_ids": ids, "attention_mask": mask})
    a, b = Tok(0), Tok(1)
    report = compare({"a": a, "b": b}, batches, {"proj": "pool"}, metrics="cka", progress=False)
    acts = {"a": [], "b": []}
    with torch.no_grad():
        for batch in batches:
            w = batch["attention_mask"].unsqueeze(-1).float()
            for name, model in (("a", a), ("b", b)):
                h = model(batch["input_ids"])
                acts[name].append((h * w).sum(1) / w.sum(1))
    x, y = (torch.cat(acts[k]).double().numpy() for k in "ab")
    assert report.n == 24
    assert abs(report["cka"]["a.proj", "b.proj"] - repsim.cka(x, y)) <= TOL
    report = compare({"a": a, "b": b}, batches, {"proj": "positions"}, metrics="cka", progress=False)
    assert report.n == sum(int(bt["attention_mask"].sum()) for bt in batches)  # only unmasked tokens


def test_self_comparison_and_three_models():
    a = mlp(0)
    data = loader()
    report = compare(a, data, ["0", "2", "4"], metrics=("cka", "debiased_cka"), progress=False)
    assert report.rows_model == report.cols_model == "model"
    assert report["cka"].rows == report["cka"].cols == ("model.0", "model.2", "model.4")
    for metric in ("cka", "debiased_cka"):
        np.testing.assert_allclose(np.diag(report[metric].values), 1.0, rtol=0, atol=1e-12)
        np.testing.assert_allclose(report[metric].values, report[metric].values.T, rtol=0, atol=1e-12)
    assert "rows and columns: layers of model 'model'" in repr(report)

    report = compare(
        {"a": a, "b": mlp(1), "c": mlp(2)},
        data,
        {"a": ["0"], "b": ["2", "4"], "c": ["4"]},
        metrics="cka",
        progress=False,
    )
    assert report.rows_model is None and report.cols_model is None
    assert report["cka"].rows == report["cka"].cols == ("a.0", "b.2", "b.4", "c.4")
    assert "all models ('a', 'b', 'c')" in report.axes
    # the same module object under two names: each capture only records its own model's forward pass
    twice = compare({"x": a, "y": a}, data, ["0", "2"], metrics="cka", progress=False)
    np.testing.assert_allclose(twice["cka"].values, report_self_cka(a, data), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.diag(report["cka"].values), 1.0, rtol=0, atol=1e-12)
    assert report.model_of("b.4") == "b" and report.layer_of("b.4") == "4"


def report_self_cka(model, data):
    h = mlp_by_hand(model, data)
    return np.array([[repsim.cka(h[r], h[c]) for c in ("0", "2")] for r in ("0", "2")])


# ------------------------------------------------------------------------------------------- Report
def test_report_indexing_pandas_plot_and_save(tmp_path):
    a, b = mlp(0), mlp(1)
    report = compare({"a": a, "b": b}, loader(), ["0", "4"], progress=False)
    assert isinstance(report, Report)
    assert report.metrics == ("cka", "debiased_cka", "rv2", "pwcca") and len(report) == 4 and "rv2" in report
    assert isinstance(report["cka"], repsim.SimilarityMatrix)
    with pytest.raises(KeyError, match="no metric 'svcca'"):
        report["svcca"]
    text = repr(report)
    assert "rows: layers of model 'a'; columns: layers of model 'b'" in text and "a.0" in text
    assert report.metric_options["pwcca"]["convention"] == "morcos"

    df = report.to_pandas("cka")
    assert list(df.index) == ["a.0", "a.4"] and list(df.columns) == ["b.0", "b.4"]
    assert df.loc["a.4", "b.0"] == report["cka"]["a.4", "b.0"]
    long = report.to_pandas()
    assert len(long) == 4 * 4 and set(long["row_model"]) == {"a"} and set(long["col_model"]) == {"b"}

    png = tmp_path / "plot.png"
    fig = report.plot(png)
    assert png.stat().st_size > 1000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ax = fig.axes[0]
    assert ax.get_ylabel() == "a layers (rows)" and ax.get_xlabel() == "b layers (columns)"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "4"]
    assert "rows: a, columns: b" in ax.get_title()

    written = report.save(tmp_path / "out")
    names = sorted(os.listdir(tmp_path / "out"))
    metrics = ["cka", "debiased_cka", "pwcca", "rv2"]
    assert names == sorted(["report.json"] + [f"{m}.csv" for m in metrics] + [f"{m}.png" for m in metrics])
    assert all(os.path.getsize(p) > 0 for p in written.values())
    meta = json.loads((tmp_path / "out" / "report.json").read_text())
    assert meta["n"] == 64 and meta["estimator"] == "exact" and meta["rows_model"] == "a"
    assert meta["metric_options"]["cka"] == {"debiased": False}
    np.testing.assert_array_equal(meta["matrices"]["rv2"]["values"], report["rv2"].values)
    rows = (tmp_path / "out" / "cka.csv").read_text().splitlines()
    assert rows[0].split(",")[1:] == ["b.0", "b.4"]
    assert float(rows[2].split(",")[2]) == report["cka"]["a.4", "b.4"]


def test_training_mode_restored_also_on_error():
    a = mlp(0)
    a.train()
    a[2].eval()  # a mixed state must come back exactly
    before = [m.training for m in a.modules()]
    seen = []
    a[0].register_forward_pre_hook(lambda mod, args: seen.append(mod.training))
    compare(a, loader(), ["0"], metrics="cka", progress=False)
    assert seen and not any(seen)  # ran in eval mode
    assert [m.training for m in a.modules()] == before

    class Broken:
        def __iter__(self):
            yield next(iter(loader()))
            raise RuntimeError("data failed")

    with pytest.raises(RuntimeError, match="data failed"):
        compare(a, Broken(), ["0"], metrics="cka", progress=False)
    assert [m.training for m in a.modules()] == before
    assert all(len(m._forward_hooks) == 0 for m in a.modules())


def test_progress_bar(capsys):
    compare(mlp(0), loader(), ["0"], metrics="cka", progress=True)
    assert "repsim.compare" in capsys.readouterr().err
    compare(mlp(0), loader(), ["0"], metrics="cka", progress=False)
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------------------------------------- checkpoints
class Interrupted:
    """Yields the batches of a loader and raises at batch ``fail_at`` (simulating a crash)."""

    def __init__(self, data, fail_at=None):
        self.batches = list(data)
        self.fail_at = fail_at

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        for i, b in enumerate(self.batches):
            if i == self.fail_at:
                raise RuntimeError("interrupted")
            yield b


@pytest.mark.parametrize("estimator", ["exact", "minibatch"])
def test_checkpoint_resume_equals_uninterrupted(tmp_path, estimator):
    a, b = mlp(0), mlp(1)
    data = loader(n=70, batch=8)  # 9 batches
    kw = {
        "metrics": "cka",
        "progress": False,
        "estimator": estimator,
        "batch_size": 12 if estimator == "minibatch" else None,
    }
    full = compare({"a": a, "b": b}, data, ["0", "4"], **kw)
    ck = tmp_path / "ck"
    with pytest.raises(RuntimeError, match="interrupted"):
        compare({"a": a, "b": b}, Interrupted(data, fail_at=5), ["0", "4"], checkpoint=ck, checkpoint_every=2, **kw)
    state = json.loads((ck / "state.json").read_text())
    assert state["batches"] == 4  # the last checkpoint before the crash
    calls = []
    hook = a[0].register_forward_pre_hook(lambda mod, args: calls.append(1))
    resumed = compare({"a": a, "b": b}, Interrupted(data), ["0", "4"], checkpoint=ck, checkpoint_every=2, **kw)
    hook.remove()
    assert len(calls) == 9 - 4  # the first 4 batches were skipped
    np.testing.assert_allclose(resumed["cka"].values, full["cka"].values, rtol=0, atol=1e-12)
    assert resumed.n == full.n == 70 and resumed.n_samples == 70 and resumed.n_batches == 9
    state = json.loads((ck / "state.json").read_text())
    assert state["batches"] == 9 and sorted(os.listdir(ck)) == sorted(["state.json", state["file"]])
    if estimator == "exact":
        final = repsim.Moments.load(ck / state["file"])
        assert final.n == 70
        np.testing.assert_allclose(
            final.matrix("cka", rows=["a.0", "a.4"], cols=["b.0", "b.4"]).values, full["cka"].values, rtol=0, atol=1e-12
        )
    # a finished checkpoint resumes to the same result without running the models
    calls.clear()
    hook = a[0].register_forward_pre_hook(lambda mod, args: calls.append(1))
    again = compare({"a": a, "b": b}, Interrupted(data), ["0", "4"], checkpoint=ck, **kw)
    hook.remove()
    assert not calls
    np.testing.assert_allclose(again["cka"].values, full["cka"].values, rtol=0, atol=1e-12)


def test_checkpoint_mismatch_and_short_data(tmp_path):
    a = mlp(0)
    ck = tmp_path / "ck"
    compare(a, loader(), ["0"], metrics="cka", progress=False, checkpoint=ck, checkpoint_every=1)
    with pytest.raises(ValueError, match="was made with sites"):
        compare(a, loader(), ["2"], metrics="cka", progress=False, checkpoint=ck)
    with pytest.raises(ValueError, match="consumed 4 batches, but data yields only 2"):
        compare(a, loader(n=32), ["0"], metrics="cka", progress=False, checkpoint=ck)
    # the precision is part of the checkpoint: resuming with another one is refused, not silently changed
    ck2 = tmp_path / "ck2"
    compare(a, loader(), ["0"], metrics="cka", progress=False, checkpoint=ck2, precision="window32")
    with pytest.raises(ValueError, match="was made with precision='window32', this call has 'fp64'"):
        compare(a, loader(), ["0"], metrics="cka", progress=False, checkpoint=ck2)
    with pytest.raises(ValueError, match="checkpoint_every needs checkpoint"):
        compare(a, loader(), ["0"], progress=False, checkpoint_every=2)
    with pytest.raises(ValueError, match="checkpoint_every must be a positive int"):
        compare(a, loader(), ["0"], progress=False, checkpoint=ck, checkpoint_every=0)


# ------------------------------------------------------------------------------------------- minibatch CKA
def naive_hsic1(K, L):
    """Song et al.'s unbiased HSIC, written out entry by entry from the formula (Nguyen et al. 2021, eq. 3)."""
    n = K.shape[0]
    K = K.copy()
    L = L.copy()
    np.fill_diagonal(K, 0.0)
    np.fill_diagonal(L, 0.0)
    one = np.ones(n)
    return (
        np.trace(K @ L) + (one @ K @ one) * (one @ L @ one) / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * (one @ K @ L @ one)
    ) / (n * (n - 3))


def naive_minibatch_cka(X, Y, b):
    """Consecutive chunks of b rows; a trailing chunk with < 4 rows is dropped; uncentred linear Grams."""
    hxy = hxx = hyy = 0.0
    for s in range(0, X.shape[0], b):
        x, y = X[s : s + b], Y[s : s + b]
        if x.shape[0] < 4:
            continue
        K, L = x @ x.T, y @ y.T
        hxy += naive_hsic1(K, L)
        hxx += naive_hsic1(K, K)
        hyy += naive_hsic1(L, L)
    return hxy / np.sqrt(hxx * hyy)


@pytest.mark.parametrize(
    "b, dropped, one_chunk_at_a_time", [(12, 0, False), (16, 2, False), (7, 3, False), (7, 3, True)]
)
def test_minibatch_matches_naive_nguyen(b, dropped, one_chunk_at_a_time, monkeypatch):
    if one_chunk_at_a_time:  # no stacking of several chunks' Grams
        monkeypatch.setattr(sys.modules["repsim._minibatch"], "GROUP_BYTES", 1)
    a, m2 = mlp(0), mlp(1)
    data = loader(n=66, batch=16)  # chunks straddle the loader's batches; 66 = 4·16 + 2 = 5·12 + 6 = 9·7 + 3
    report = compare(
        {"a": a, "b": m2}, data, ["0", "2", "4"], metrics="cka", estimator="minibatch", batch_size=b, progress=False
    )
    ha, hb = mlp_by_hand(a, data), mlp_by_hand(m2, data)
    want = np.array([[naive_minibatch_cka(ha[r], hb[c], b) for c in ("0", "2", "4")] for r in ("0", "2", "4")])
    np.testing.assert_allclose(report["cka"].values, want, rtol=0, atol=TOL)
    assert report.info["rows_dropped"] == dropped and report.info["rows_used"] == 66 - dropped
    assert report["cka"].options == {"estimator": "minibatch", "batch_size": b, "precision": "fp64"}
    assert report.moments is None and "minibatch, b=" in report.plot().axes[0].get_title()


def test_minibatch_differs_from_exact_except_with_one_chunk():
    """Documented relation: with one chunk holding every row, minibatch CKA is debiased CKA; with smaller chunks
    it is a different estimator (neither the biased nor the debiased full-data value)."""
    a, b = mlp(0), mlp(1)
    data = loader(n=64, batch=16)
    exact = compare({"a": a, "b": b}, data, ["0", "2", "4"], metrics=("cka", "debiased_cka"), progress=False)
    one = compare(
        {"a": a, "b": b}, data, ["0", "2", "4"], metrics="cka", estimator="minibatch", batch_size=64, progress=False
    )
    np.testing.assert_allclose(one["cka"].values, exact["debiased_cka"].values, rtol=0, atol=TOL)
    small = compare(
        {"a": a, "b": b}, data, ["0", "2", "4"], metrics="cka", estimator="minibatch", batch_size=8, progress=False
    )
    assert np.max(np.abs(small["cka"].values - exact["cka"].values)) > 1e-3
    assert np.max(np.abs(small["cka"].values - exact["debiased_cka"].values)) > 1e-3


def test_minibatch_fp32_grams_agree_with_fp64(monkeypatch):
    """precision="fp32": float32 chunk Grams (the peers' precision) with float64 sums — within 1e-6 of the naive
    float64 estimator on data with large means (centred in float64 before the cast), on both the CPU SYRK path
    and the torch (device) path, which is what CUDA runs."""
    a, m2 = mlp(0), mlp(1)
    data = [(x + 50.0, y) for x, y in loader(n=66, batch=16)]
    kw = dict(metrics="cka", estimator="minibatch", batch_size=12, progress=False)
    fp32 = compare({"a": a, "b": m2}, data, ["0", "2", "4"], precision="fp32", **kw)
    ha, hb = mlp_by_hand(a, data), mlp_by_hand(m2, data)
    want = np.array([[naive_minibatch_cka(ha[r], hb[c], 12) for c in ("0", "2", "4")] for r in ("0", "2", "4")])
    err = np.max(np.abs(fp32["cka"].values - want))
    assert 0 < err < 1e-6  # not float64 (the Grams are float32), but close
    assert fp32["cka"].options["precision"] == "fp32"
    from repsim._minibatch import MinibatchCKA, hsic1_all_pairs, zero_diagonal_grams

    rng = np.random.default_rng(3)
    rows = [torch.from_numpy(rng.normal(size=(40, p)).astype(np.float32) + 30.0) for p in (5, 60, 7)]
    h64 = hsic1_all_pairs(zero_diagonal_grams(rows)).numpy()
    h32 = hsic1_all_pairs(zero_diagonal_grams(rows, "fp32")).numpy()
    cpu32 = MinibatchCKA(40, "fp32")._cpu.hsic(rows)
    cpu64 = MinibatchCKA(40)._cpu.hsic(rows)
    np.testing.assert_allclose(cpu64, h64, rtol=1e-10, atol=1e-12 * np.abs(h64).max())
    np.testing.assert_allclose(h32, h64, rtol=1e-5, atol=1e-6 * np.abs(h64).max())
    np.testing.assert_allclose(cpu32, h64, rtol=1e-5, atol=1e-6 * np.abs(h64).max())


def test_precision_is_checked_per_estimator():
    a = mlp(0)
    data = loader(n=16, batch=8)
    with pytest.raises(ValueError, match=r"precision must be one of \['fp64', 'fp32'\] with estimator='minibatch'"):
        compare(a, data, ["0"], metrics="cka", estimator="minibatch", batch_size=8, precision="window32",
                progress=False)
    with pytest.raises(ValueError, match=r"precision must be one of \['fp64', 'window32'\] with estimator='exact'"):
        compare(a, data, ["0"], metrics="cka", precision="fp32", progress=False)
    # window32 is a device-accumulation option; CPU activations take the float64 path and give the same values
    r64 = compare(a, data, ["0", "2"], metrics="cka", progress=False)
    r32 = compare(a, data, ["0", "2"], metrics="cka", precision="window32", progress=False)
    np.testing.assert_allclose(r32["cka"].values, r64["cka"].values, rtol=1e-12)


def test_minibatch_hsic_is_translation_invariant():
    from repsim._minibatch import hsic1_all_pairs

    rng = np.random.default_rng(5)
    x = rng.normal(size=(9, 4))
    y = rng.normal(size=(9, 3))
    grams = []
    for z in (x, y, x + 3.0, y - 7.0):
        K = z @ z.T
        np.fill_diagonal(K, 0.0)
        grams.append(torch.from_numpy(K))
    H = hsic1_all_pairs(torch.stack(grams)).numpy()
    np.testing.assert_allclose(H[0, 1], naive_hsic1(x @ x.T, y @ y.T), rtol=1e-12)
    np.testing.assert_allclose(H[2, 3], H[0, 1], rtol=1e-9)


# ------------------------------------------------------------------------------------------- errors
def test_errors():
    a = mlp(0)
    with pytest.raises(ValueError, match=r"model 'a': .*no module named 'fc'.*named_modules\(\): 0, 1, 2, 3, 4"):
        compare({"a": a}, loader(), ["fc"], progress=False)
    with pytest.raises(ValueError, match=r"state_dict key; the module is '2'"):
        compare({"a": a}, loader(), ["2.weight"], progress=False)
    named = nn.Sequential(OrderedDict(fc_in=nn.Linear(10, 4), act=nn.ReLU()))
    with pytest.raises(ValueError, match=r"model 'n': .*no module named 'fc_ni'; did you mean 'fc_in'\?"):
        compare({"n": named}, loader(), ["fc_ni"], progress=False)
    with pytest.raises(ValueError, match="unknown metric"):
        compare(a, loader(), ["0"], metrics=("cka", "ckaa"), progress=False)
    with pytest.raises(TypeError, match="unexpected option"):
        compare(a, loader(), ["0"], metrics="cka", metric_options={"cka": {"center": False}}, progress=False)
    for empty in ([], loader(n=0)):
        with pytest.raises(ValueError, match="data yielded no batches"):
            compare(a, empty, ["0"], progress=False)
    with pytest.raises(ValueError, match="only 'cka'.*'rv2'"):
        compare(a, loader(), ["0"], metrics=("cka", "rv2"), estimator="minibatch", batch_size=8, progress=False)
    with pytest.raises(ValueError, match="batch_size must be at least 4"):
        compare(a, loader(), ["0"], metrics="cka", estimator="minibatch", batch_size=3, progress=False)
    with pytest.raises(ValueError, match="needs batch_size"):
        compare(a, loader(), ["0"], metrics="cka", estimator="minibatch", progress=False)
    with pytest.raises(ValueError, match="exact estimator takes none"):
        compare(a, loader(), ["0"], metrics="cka", batch_size=8, progress=False)
    with pytest.raises(ValueError, match="estimator must be one of"):
        compare(a, loader(), ["0"], estimator="fast", progress=False)
    with pytest.raises(ValueError, match=r"no layers for model\(s\) \['b'\]"):
        compare({"a": a, "b": mlp(1)}, loader(), {"a": ["0"]}, progress=False)
    with pytest.raises(TypeError, match="must be a torch.nn.Module"):
        compare({"a": a, "b": "model"}, loader(), ["0"], progress=False)
    with pytest.raises(TypeError, match="cannot call the models on a str"):
        compare(a, ["text"], ["0"], progress=False)
    assert all(len(m._forward_hooks) == 0 for m in a.modules())


def test_mismatched_batch_sizes_name_both_models():
    class DropLast(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = mlp(1)

        def forward(self, x):
            return self.net(x[:-1])

    with pytest.raises(ValueError, match=r"models 'a' and 'b' produced different batch sizes for batch 0: 16 .* 15"):
        compare({"a": mlp(0), "b": DropLast()}, loader(), {"a": ["0"], "b": ["net.0"]}, progress=False)


def test_non_tensor_output_names_the_layer():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(10, 4)
            self.tag = Tag()

        def forward(self, x):
            self.tag(x)
            return self.fc(x)

    class Tag(nn.Module):
        def forward(self, x):
            return "a string"

    model = Model()
    with pytest.raises(TypeError, match="layer 'm.tag'.*str"):
        compare({"m": model}, loader(), ["fc", "tag"], progress=False)
    assert all(len(m._forward_hooks) == 0 for m in model.modules())


def test_module_running_twice_per_forward_is_rejected():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.act = nn.Linear(10, 8), nn.Linear(8, 4), nn.ReLU()

        def forward(self, x):
            return self.act(self.fc2(self.act(self.fc1(x))))

    with pytest.raises(ValueError, match=r"model 'm': layer\(s\) \{'act': 2\} ran more than once"):
        compare({"m": Shared()}, loader(), ["fc1", "act"], progress=False)


def test_import_repsim_compare_does_not_import_torch():
    code = "import sys, repsim, repsim._compare, repsim.plot; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_positions_with_different_spatial_sizes_is_explained():
    a = cnn(0)
    b = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1))
    with pytest.raises(ValueError, match="different numbers of rows"):
        compare(
            {"a": a, "b": b},
            loader(n=8, batch=4, shape=(3, 4, 4)),
            {"a": ["2"], "b": ["0"]},
            reduce="positions",
            metrics="cka",
            progress=False,
        )


# ------------------------------------------------------------------------------------------- GPU
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@cuda
def test_gpu_compare_matches_cpu():
    a, b = mlp(0), mlp(1)
    data = loader()
    cpu = compare({"a": a, "b": b}, data, ["0", "2", "4"], metrics=("cka", "debiased_cka"), progress=False)
    prev = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        gpu = compare(
            {"a": a.cuda(), "b": b.cuda()}, data, ["0", "2", "4"], metrics=("cka", "debiased_cka"), progress=False
        )
        mb_gpu = compare(
            {"a": a, "b": b}, data, ["0", "2", "4"], metrics="cka", estimator="minibatch", batch_size=12, progress=False
        )
    finally:
        torch.backends.cuda.matmul.allow_tf32 = prev
        a.cpu(), b.cpu()
    for metric in ("cka", "debiased_cka"):
        np.testing.assert_allclose(gpu[metric].values, cpu[metric].values, rtol=0, atol=1e-5)
    mb_cpu = compare(
        {"a": a, "b": b}, data, ["0", "2", "4"], metrics="cka", estimator="minibatch", batch_size=12, progress=False
    )
    np.testing.assert_allclose(mb_gpu["cka"].values, mb_cpu["cka"].values, rtol=0, atol=1e-5)


@cuda
def test_gpu_hsic_matches_cpu_in_float64():
    from repsim._minibatch import hsic1_all_pairs, zero_diagonal_grams

    g = torch.Generator().manual_seed(0)
    chunk = [torch.randn(32, p, generator=g, dtype=torch.float64) for p in (5, 9, 3)]
    cpu = hsic1_all_pairs(zero_diagonal_grams(chunk))
    gpu = hsic1_all_pairs(zero_diagonal_grams([c.cuda() for c in chunk])).cpu()
    np.testing.assert_allclose(gpu.numpy(), cpu.numpy(), rtol=1e-12, atol=1e-12)


@cuda
def test_gpu_fp32_minibatch_and_window32_ignore_tf32():
    """With TF32 switched on globally, the fp32 chunk Grams and window32 accumulation still match the CPU float64
    values to float32 accuracy (TF32's 10-bit mantissa would give ~1e-3)."""
    a, b = mlp(0), mlp(1)
    data = loader()
    kw = dict(metrics="cka", estimator="minibatch", batch_size=12, progress=False)
    mb_cpu = compare({"a": a, "b": b}, data, ["0", "2", "4"], **kw)
    exact_cpu = compare({"a": a, "b": b}, data, ["0", "2", "4"], metrics="cka", progress=False)
    prev = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        mb_gpu = compare({"a": a.cuda(), "b": b.cuda()}, data, ["0", "2", "4"], precision="fp32", **kw)
        w32 = compare({"a": a, "b": b}, data, ["0", "2", "4"], metrics="cka", precision="window32", progress=False)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = prev
        a.cpu(), b.cpu()
    np.testing.assert_allclose(mb_gpu["cka"].values, mb_cpu["cka"].values, rtol=0, atol=1e-5)
    np.testing.assert_allclose(w32["cka"].values, exact_cpu["cka"].values, rtol=0, atol=1e-5)
