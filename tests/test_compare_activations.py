"""The measures of the activations themselves (k-NN) inside compare: a seeded uniform reservoir sample of the stream
(repsim.reservoir), the same rows for every layer; equal to the ActivationStore of the same rows; refusals."""
from __future__ import annotations

import numpy as np
import pytest

import repsim
from repsim.reservoir import Reservoir

torch = pytest.importorskip("torch")


# ----------------------------------------------------------------------------- the reservoir itself
def stream(n=100, batch=7, seed=None):
    x = np.arange(n, dtype=np.float32)[:, None] * np.ones((1, 3), dtype=np.float32)
    for s in range(0, n, batch):
        yield {"a": x[s:s + batch], "b": -x[s:s + batch, :2]}


def test_every_row_is_kept_with_probability_cap_over_n():
    counts = np.zeros(100)
    trials = 3000
    for seed in range(trials):
        r = Reservoir(10, seed)
        for b in stream():
            r.update(b)
        kept = r.store().rows("a")[:, 0].astype(int)
        assert len(set(kept)) == 10 and (r.store().rows("b")[:, 0] == -kept).all()  # the same rows for every site
        counts[kept] += 1
    p = counts / trials
    assert abs(p.mean() - 0.1) < 1e-12
    assert np.all(np.abs(p - 0.1) < 5 * np.sqrt(0.1 * 0.9 / trials))  # no row favoured (first, last, batch edges)


def test_the_sample_does_not_depend_on_the_batch_sizes_and_repeats_with_the_seed():
    def sample(batch, seed=3):
        r = Reservoir(25, seed)
        for b in stream(batch=batch):
            r.update(b)
        return r.store().rows("a")[:, 0]

    np.testing.assert_array_equal(sample(7), sample(100))
    np.testing.assert_array_equal(sample(1), sample(13))
    assert not np.array_equal(sample(7, seed=3), sample(7, seed=4))


def test_a_rejected_batch_changes_nothing():
    """A bad batch (non-finite kept rows, a wrong width, a ragged batch) leaves the sample and the generator as
    they were: the stream that follows gives the same sample as if the batch had never come."""
    def fed(bad):
        r = Reservoir(30, seed=2)
        for k, b in enumerate(stream(60, batch=10)):
            if k == 2:
                for batch, err in bad:
                    with pytest.raises(err[0], match=err[1]):
                        r.update(batch)
            r.update(b)
        return r.store().rows("a")

    nan = {"a": np.full((10, 3), np.nan, dtype=np.float32), "b": np.zeros((10, 2), dtype=np.float32)}
    wide = {"a": np.zeros((10, 4), dtype=np.float32), "b": np.zeros((10, 2), dtype=np.float32)}
    ragged = {"a": np.zeros((10, 3), dtype=np.float32), "b": np.zeros((9, 2), dtype=np.float32)}
    flat = {"a": np.zeros(10, dtype=np.float32), "b": np.zeros((10, 2), dtype=np.float32)}
    ints = {"a": np.zeros((10, 3), dtype=np.int64), "b": np.zeros((10, 2), dtype=np.float32)}
    bad = [(nan, (ValueError, r"site 'a' \(batch 2\).*finite")), (wide, (ValueError, "expected 3 features")),
           (ragged, (ValueError, "same number of rows")), (flat, (ValueError, "2-D")),
           (ints, (TypeError, "float"))]
    np.testing.assert_array_equal(fed(bad), fed([]))


def test_only_the_kept_rows_are_copied_from_a_tensor():
    torch = pytest.importorskip("torch")
    r = Reservoir(4, seed=0)
    x = torch.arange(40, dtype=torch.float32).reshape(20, 2)
    r.update({"a": x[:10]}).update({"a": x[10:]})
    kept = r.store().rows("a")
    assert kept.shape == (4, 2) and set(kept[:, 0].tolist()) <= set(range(0, 40, 2))
    ref = Reservoir(4, seed=0).update({"a": x[:10].numpy()}).update({"a": x[10:].numpy()})
    np.testing.assert_array_equal(kept, ref.store().rows("a"))


# ----------------------------------------------------------------------------- in compare
def models():
    torch.manual_seed(0)

    def mlp():
        return torch.nn.Sequential(torch.nn.Linear(8, 30), torch.nn.ReLU(), torch.nn.Linear(30, 12))

    return {"a": mlp(), "b": mlp()}


X = torch.randn(300, 8) + 3.0
DATA = [X[s:s + 50] for s in range(0, 300, 50)]
KNN = ("mutual_knn", "cknna", "knn_jaccard")


def activations(ms, rows=slice(None)):
    out = {}
    with torch.no_grad():
        for name, m in ms.items():
            out[f"{name}.0"] = m[0](X).numpy()[rows]
            out[f"{name}.2"] = m(X).numpy()[rows]
    return out


def test_all_rows_kept_equals_the_measure_on_the_activations():
    ms = models()
    r = repsim.compare(ms, DATA, ["0", "2"], metrics=("cka", *KNN), progress=False)
    store = repsim.ActivationStore().update(activations(ms))
    for m in KNN:
        want = store.matrix(m, rows=["a.0", "a.2"], cols=["b.0", "b.2"]).values
        np.testing.assert_allclose(r[m].values, want, atol=1e-12)
        assert r[m].approximation is None  # every row: not a sample
    assert r.info["activations"]["activation_rows"] == 300 and r.info["activations"]["rows_seen"] == 300
    # the statistics still see every row
    assert r.statistics.n == 300
    assert list(r) == ["cka", *KNN]  # the report keeps the order asked for


def test_a_capped_run_uses_the_reservoir_rows_the_same_for_every_layer():
    ms = models()
    r = repsim.compare(ms, DATA, ["0", "2"], metrics=KNN, progress=False, activation_rows=120,
                       metric_options={"mutual_knn": {"k": 5}})
    acts = activations(ms)
    res = Reservoir(120, seed=0)
    for s in range(0, 300, 50):
        res.update({k: v[s:s + 50] for k, v in acts.items()})
    store = res.store()
    np.testing.assert_allclose(r["mutual_knn"].values,
                               store.matrix("mutual_knn", rows=["a.0", "a.2"], cols=["b.0", "b.2"], k=5).values,
                               atol=1e-6)  # float32 forward passes in and out of hooks: same rows, same rounding
    assert "120 of 300 rows" in r["knn_jaccard"].approximation
    assert r.info["activations"] == {"activation_rows": 120, "rows_seen": 300, "cap": 120, "seed": 0,
                                     "nbytes": res.nbytes}
    mixed = repsim.compare(ms, DATA, ["0", "2"], metrics=("cka", "mutual_knn"), progress=False,
                           activation_rows=120, metric_options={"mutual_knn": {"k": 5}})
    np.testing.assert_array_equal(mixed["mutual_knn"].values, r["mutual_knn"].values)


def test_refusals(tmp_path):
    ms = models()
    with pytest.raises(ValueError, match="activation_rows sets the sample"):
        repsim.compare(ms, DATA, ["0"], metrics="cka", activation_rows=100, progress=False)
    with pytest.raises(ValueError, match="checkpoint"):
        repsim.compare(ms, DATA, ["0"], metrics="mutual_knn", checkpoint=str(tmp_path / "ck"), progress=False)
    with pytest.raises(ValueError, match="at least 4"):
        repsim.compare(ms, DATA, ["0"], metrics="mutual_knn", activation_rows=2, progress=False)
    with pytest.raises(TypeError, match="activation_rows must be an int"):
        repsim.compare(ms, DATA, ["0"], metrics="mutual_knn", activation_rows=100.0, progress=False)
    with pytest.raises(ValueError, match="k must be >= 1"):
        repsim.compare(ms, DATA, ["0"], metrics="mutual_knn", metric_options={"mutual_knn": {"k": 0}},
                       progress=False)


def test_the_same_sample_in_gram_space_and_over_several_passes():
    """The reservoir is fed by the first pass only, whatever the route: Gram space (a kernel measure beside) and a
    several-pass plan (a tight budget) keep the same rows as one pass."""
    from repsim.blocks import blocked_nbytes

    ms = models()
    one = repsim.compare(ms, DATA, ["0", "2"], metrics=("cka", "mutual_knn"), progress=False, activation_rows=200)
    gram = repsim.compare(ms, DATA, ["0", "2"], metrics=("rbf_cka", "mutual_knn"), progress=False,
                          activation_rows=200)
    budget = (blocked_nbytes([30, 12] * 2, ()) + 8 * 50 * 90 + 4 * 50 * 90 + repsim._limits.WORKSPACE_BYTES
              + 8 * 30 * 30 + 8 + 4 * 200 * 84)
    passes = repsim.compare(ms, DATA, ["0", "2"], metrics=("cka", "mutual_knn"), progress=False,
                            activation_rows=200, max_memory=budget)
    assert gram.info["space"] == "gram" and passes.plan.n_passes > 1
    for r in (gram, passes):
        np.testing.assert_array_equal(r["mutual_knn"].values, one["mutual_knn"].values)
        assert r.info["activations"]["rows_seen"] == 300
    np.testing.assert_allclose(passes["cka"].values, one["cka"].values, atol=1e-12)
