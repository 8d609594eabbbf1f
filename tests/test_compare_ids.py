"""compare(..., ids=KEY): batches carrying sample ids (a dict key or a tuple position) — one id per sample, no sample
twice, the same ids in the same order in every pass, the ids removed before the models are called, and a digest in
the report equal to the IdTracker of the same ids."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import repsim  # noqa: E402
from repsim.blocks import blocked_nbytes  # noqa: E402
from repsim.io import IdTracker  # noqa: E402


class Net(torch.nn.Module):
    """Takes keyword inputs like a Hugging Face model: an unexpected ``ids`` keyword would raise TypeError."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(6, 20)
        self.b = torch.nn.Linear(20, 8)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)))


def models():
    torch.manual_seed(0)
    return {"m1": Net(), "m2": Net()}


X = torch.randn(90, 6)
IDS = [f"sample-{i}" for i in range(90)]


def dict_batches(order=None):
    order = np.arange(90) if order is None else order
    return [{"x": X[order[s:s + 30]], "sid": [IDS[i] for i in order[s:s + 30]]} for s in range(0, 90, 30)]


def test_dict_key_ids_are_recorded_and_removed_before_the_models():
    r = repsim.compare(models(), dict_batches(), ["a", "b"], metrics="cka", ids="sid", progress=False)
    assert r.info["ids"] == {"key": "sid", "n": 90, "digest": IdTracker().update(IDS).digest}
    # the same values as the batches without ids
    plain = repsim.compare(models(), [{"x": X[s:s + 30]} for s in range(0, 90, 30)], ["a", "b"], metrics="cka",
                           progress=False)
    np.testing.assert_array_equal(r["cka"].values, plain["cka"].values)
    # another order of the same samples: the same digest (order-independent) and the same statistics
    shuffled = repsim.compare(models(), dict_batches(np.random.default_rng(0).permutation(90)), ["a", "b"],
                              metrics="cka", ids="sid", progress=False)
    assert shuffled.info["ids"]["digest"] == r.info["ids"]["digest"]
    np.testing.assert_allclose(shuffled["cka"].values, r["cka"].values, atol=1e-12)


def test_tuple_position_ids_and_the_refusals():
    batches = [(X[s:s + 30], torch.zeros(30), torch.arange(s, s + 30)) for s in range(0, 90, 30)]
    r = repsim.compare(models(), batches, ["a"], metrics="cka", ids=2, progress=False)
    assert r.info["ids"]["n"] == 90 and r.info["ids"]["digest"] == IdTracker().update(np.arange(90)).digest
    repeated = batches + [batches[0]]
    with pytest.raises(ValueError, match=r"recorded twice.*ids=2"):
        repsim.compare(models(), repeated, ["a"], metrics="cka", ids=2, progress=False)
    short = [(X[:30], torch.zeros(30), torch.arange(29))]
    with pytest.raises(ValueError, match=r"batch 0: ids=2 holds 29 ids for the batch's 30 samples"):
        repsim.compare(models(), short, ["a"], metrics="cka", ids=2, progress=False)
    with pytest.raises(ValueError, match=r"batch 0: ids=3 names a position"):
        repsim.compare(models(), batches, ["a"], metrics="cka", ids=3, progress=False)
    with pytest.raises(ValueError, match=r"batch 0: ids='sid' names a key"):
        repsim.compare(models(), batches, ["a"], metrics="cka", ids="sid", progress=False)
    with pytest.raises(ValueError, match="at least 1"):
        repsim.compare(models(), batches, ["a"], metrics="cka", ids=0, progress=False)
    with pytest.raises(TypeError, match="ids must be"):
        repsim.compare(models(), batches, ["a"], metrics="cka", ids=2.0, progress=False)


class Reshuffling:
    """A re-iterable source whose passes give the same tensors but relabel the samples after the first pass."""

    def __init__(self):
        self.passes = 0

    def __len__(self):
        return 3

    def __iter__(self):
        self.passes += 1
        for k, b in enumerate(dict_batches()):
            if self.passes > 1 and k == 2:
                b = dict(b, sid=list(reversed(b["sid"])))
            yield b


def test_every_pass_must_see_the_same_ids_in_the_same_order():
    budget = (blocked_nbytes([20, 8] * 2, ()) + 8 * 30 * 60 + 4 * 30 * 60 + repsim._limits.WORKSPACE_BYTES
              + 8 * 20 * 20 + 8)
    same = repsim.compare(models(), dict_batches(), ["a", "b"], metrics="cka", ids="sid", progress=False,
                          max_memory=budget)
    assert same.plan.n_passes > 1 and same.info["ids"]["n"] == 90
    with pytest.raises(ValueError, match=r"batch 2 differs from \(its sample ids or its content\)"):
        repsim.compare(models(), Reshuffling(), ["a", "b"], metrics="cka", ids="sid", progress=False,
                       max_memory=budget)


class Interrupting:
    """Raises KeyboardInterrupt before batch ``stop`` the first time it is iterated."""

    def __init__(self, stop):
        self.stop, self.runs = stop, 0

    def __len__(self):
        return 3

    def __iter__(self):
        self.runs += 1
        for k, b in enumerate(dict_batches()):
            if self.runs == 1 and k == self.stop:
                raise KeyboardInterrupt
            yield b


def test_a_resumed_run_counts_the_ids_of_the_batches_it_skips(tmp_path):
    data = Interrupting(2)
    kw = dict(metrics="cka", ids="sid", progress=False, checkpoint=str(tmp_path / "ck"), checkpoint_every=1)
    with pytest.raises(KeyboardInterrupt):
        repsim.compare(models(), data, ["a", "b"], **kw)
    r = repsim.compare(models(), data, ["a", "b"], **kw)
    full = repsim.compare(models(), dict_batches(), ["a", "b"], metrics="cka", ids="sid", progress=False)
    assert r.info["ids"] == full.info["ids"]
    np.testing.assert_allclose(r["cka"].values, full["cka"].values, atol=1e-12)
