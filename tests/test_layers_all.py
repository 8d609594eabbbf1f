"""``repsim.list_layers`` and ``repsim.compare(..., layers="all")``: every leaf module that returns a tensor, found on
one batch; the same report as the explicit list; clear errors."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import repsim  # noqa: E402


def _cnn(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv1d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8, 5))


class Pair(nn.Module):
    """A leaf returning a tuple (must be skipped)."""

    def forward(self, x):
        return x, x


class ArgMax(nn.Module):
    """A leaf returning an integer tensor (must be skipped)."""

    def forward(self, x):
        return x.argmax(dim=1)


class Mixed(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 8)
        self.pair = Pair()
        self.act = nn.Tanh()
        self.shared = nn.ReLU()
        self.unused = nn.Linear(3, 3)
        self.block = nn.Sequential(nn.Linear(8, 4), ArgMax())
        self.out = nn.Linear(8, 3)

    def forward(self, x):
        h, _ = self.pair(self.fc(x))
        h = self.shared(self.act(h))
        self.block(h)
        return self.out(self.shared(h))


class OnlyTuple(nn.Module):
    def __init__(self):
        super().__init__()
        self.pair = Pair()

    def forward(self, x):
        return self.pair(x)[0]


@pytest.fixture
def x():
    torch.manual_seed(1)
    return torch.randn(192, 2, 10)


def test_list_layers_lists_every_leaf_with_a_tensor_output(x):
    net = _cnn(0)
    listing = repsim.list_layers(net, x)
    assert listing.names == ["0", "1", "2", "3"]
    assert [(i.module, i.shape, i.dtype) for i in listing] == [
        ("Conv1d", (192, 4, 8), torch.float32), ("ReLU", (192, 4, 8), torch.float32),
        ("Flatten", (192, 32), torch.float32), ("Linear", (192, 5), torch.float32)]
    assert len(listing) == 4 and listing[0].name == "0" and listing.batch_size == 192 and listing.skipped == ()
    text = str(listing)
    assert "Conv1d" in text and "(192, 4, 8)" in text and "float32" in text and "torch." not in text
    assert "4 layers" in repr(listing)
    assert pickle.loads(pickle.dumps(listing)) == listing
    # batches as compare takes them: (inputs, labels) tuples and forward=
    assert repsim.list_layers(net, (x, torch.zeros(192))).names == listing.names
    assert repsim.list_layers(net, {"x": x}, forward=lambda m, b: m(b["x"])).names == listing.names


def test_list_layers_skips_tuples_integers_shared_and_unused_modules():
    net = Mixed()
    listing = repsim.list_layers(net, torch.randn(16, 6))
    assert listing.names == ["fc", "act", "block.0", "out"]
    why = {name: reason for name, _, reason in listing.skipped}
    assert set(why) == {"pair", "shared", "unused", "block.1"}
    assert "tuple" in why["pair"]
    assert "ran 2 times" in why["shared"]
    assert "did not run" in why["unused"]
    assert "int64" in why["block.1"]
    assert "skipped pair (Pair)" in str(listing)


def test_list_layers_restores_the_model(x):
    net = _cnn(0)
    net.train()
    net[1].eval()
    repsim.list_layers(net, x)
    assert [m.training for m in net.modules()] == [True, True, False, True, True]
    assert all(not m._forward_hooks for m in net.modules())
    with pytest.raises(ValueError):
        repsim.list_layers(net, torch.randn(4, 3, 10))  # wrong channels: the forward pass fails
    assert [m.training for m in net.modules()] == [True, True, False, True, True]
    assert all(not m._forward_hooks for m in net.modules())


def test_list_layers_bad_arguments(x):
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        repsim.list_layers("net", x)
    with pytest.raises(TypeError, match="forward must be callable"):
        repsim.list_layers(_cnn(0), x, forward=3)
    with pytest.raises(TypeError, match="cannot call the models on a str"):
        repsim.list_layers(_cnn(0), "not a batch")
    with pytest.raises(ValueError, match=r"forward pass on the batch failed \(RuntimeError") as err:
        repsim.list_layers(_cnn(0), torch.randn(4, 3, 10))
    assert isinstance(err.value.__cause__, RuntimeError)


def test_compare_all_equals_the_explicit_list(x, capsys):
    models = {"a": _cnn(0), "b": _cnn(1)}
    names = repsim.list_layers(models["a"], x[:64]).names
    metrics = ["cka", "rv2", "pwcca"]
    batches = [x[:64], x[64:128], x[128:]]
    auto = repsim.compare(models, batches, layers="all", metrics=metrics, progress=True)
    err = capsys.readouterr().err
    assert "layers='all' of model 'a': 4 layers, reduce='flatten'" in err and "layers='all' of model 'b'" in err
    assert "Conv1d" in err and "(64, 4, 8)" in err
    explicit = repsim.compare(models, batches, layers=names, metrics=metrics, progress=False)
    assert auto.sites == explicit.sites and auto.n == explicit.n == 192 and auto.n_batches == 3
    assert list(auto["cka"].rows) == ["a.0", "a.1", "a.2", "a.3"]
    for m in metrics:
        np.testing.assert_array_equal(auto[m].values, explicit[m].values)
    quiet = repsim.compare(models, batches, layers="all", metrics=["cka"], progress=False)
    assert "layers='all'" not in capsys.readouterr().err
    np.testing.assert_array_equal(quiet["cka"].values, explicit["cka"].values)


def test_compare_all_with_another_reduction_and_one_model(x):
    net = _cnn(0)
    auto = repsim.compare(net, x, layers="all", reduce="pool", metrics=["cka"], progress=False)
    explicit = repsim.compare(net, x, layers=["0", "1", "2", "3"], reduce="pool", metrics=["cka"], progress=False)
    assert list(auto["cka"].rows) == ["model.0", "model.1", "model.2", "model.3"]
    np.testing.assert_array_equal(auto["cka"].values, explicit["cka"].values)


def test_compare_all_for_one_model_only(x):
    models = {"a": _cnn(0), "b": _cnn(1)}
    report = repsim.compare(models, x, layers={"a": "all", "b": ["3"]}, metrics=["cka"], progress=False)
    assert list(report["cka"].rows) == ["a.0", "a.1", "a.2", "a.3"] and list(report["cka"].cols) == ["b.3"]
    explicit = repsim.compare(models, x, layers={"a": ["0", "1", "2", "3"], "b": ["3"]}, metrics=["cka"],
                              progress=False)
    np.testing.assert_array_equal(report["cka"].values, explicit["cka"].values)


def test_compare_all_keeps_the_first_batch_of_an_iterator(x):
    models = {"a": _cnn(0), "b": _cnn(1)}
    batches = [x[:64], x[64:128], x[128:]]
    once = repsim.compare(models, iter(batches), layers="all", metrics=["cka"], progress=False)
    listed = repsim.compare(models, batches, layers="all", metrics=["cka"], progress=False)
    assert once.n == listed.n == 192 and once.n_batches == 3
    # an iterator has no len(): the planner stays in feature space, the list (n known) goes to Gram space
    np.testing.assert_allclose(once["cka"].values, listed["cka"].values, rtol=1e-12)


class Keyword(nn.Module):
    """Called as model(**batch) with dict batches {"signal": ..., "sid": ...}."""

    def __init__(self, seed: int):
        super().__init__()
        self.net = _cnn(seed)

    def forward(self, signal):
        return self.net(signal)


def test_compare_all_with_dict_batches_carrying_ids(x):
    models = {"a": Keyword(0), "b": Keyword(1)}
    batches = [{"signal": x[k:k + 64], "sid": torch.arange(k, k + 64)} for k in range(0, 192, 64)]
    auto = repsim.compare(models, batches, layers="all", ids="sid", metrics=["cka"], progress=False)
    names = ["net.0", "net.1", "net.2", "net.3"]
    assert repsim.list_layers(models["a"], {"signal": x}).names == names
    explicit = repsim.compare(models, batches, layers=names, ids="sid", metrics=["cka"], progress=False)
    assert auto.info["ids"]["n"] == 192
    np.testing.assert_array_equal(auto["cka"].values, explicit["cka"].values)


def test_compare_all_errors(x):
    models = {"a": _cnn(0), "b": OnlyTuple()}
    with pytest.raises(ValueError, match=r"layers='all' of model 'b': no leaf module returned a floating-point "
                                         r"tensor(.|\n)*skipped pair \(Pair\): returns a tuple"):
        repsim.compare(models, x, layers="all", metrics=["cka"], progress=False)
    with pytest.raises(ValueError, match=r"layers='all' of model 'a': the forward pass on the batch failed"):
        repsim.compare({"a": _cnn(0)}, torch.randn(8, 3, 10), layers="all", metrics=["cka"], progress=False)
    with pytest.raises(ValueError, match="data yielded no batches"):
        repsim.compare({"a": _cnn(0)}, [], layers="all", metrics=["cka"], progress=False)
    with pytest.raises(TypeError, match="layers is required.*'all'"):
        repsim.compare({"a": _cnn(0)}, x, layers=None, metrics=["cka"], progress=False)
    with pytest.raises(TypeError, match="models must be a dict"):
        repsim.compare([_cnn(0)], x, layers="all", progress=False)
