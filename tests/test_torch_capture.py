"""repsim.torch: activations captured by forward hooks equal activations extracted by hand."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn

import repsim
import repsim.torch as rtorch

ATOL = 1e-6


def close(a, b, atol=ATOL):
    torch.testing.assert_close(a, b, rtol=1e-6, atol=atol)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(1234)


def no_hooks(model):
    return all(not m._forward_hooks for m in model.modules())


def mlp():
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(inplace=True), nn.Linear(8, 5), nn.ReLU(inplace=True))


def cnn2d():
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(4, 5, 3, stride=2), nn.ReLU(inplace=True)
    )


class TokenModel(nn.Module):
    """Embedding → TransformerEncoder (batch first) → Linear, called with input_ids and an attention mask."""

    def __init__(self, nested=False):
        super().__init__()
        self.emb = nn.Embedding(20, 8)
        layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=nested)
        self.head = nn.Linear(8, 3)

    def forward(self, input_ids, attention_mask=None):
        pad = None if attention_mask is None else ~attention_mask.bool()
        return self.head(self.enc(self.emb(input_ids), src_key_padding_mask=pad))


def token_batch(B=4, T=6):
    ids = torch.randint(0, 20, (B, T))
    mask = torch.ones(B, T, dtype=torch.long)
    mask[0, 4:] = 0
    mask[2, 2:] = 0
    return ids, mask


# ------------------------------------------------------------------------------------------- reductions by hand
def test_linear_all_reductions_and_inplace_relu():
    model = mlp()
    x = torch.randn(7, 6)
    with torch.no_grad():
        h0 = model[0](x)
        h2 = model[2](torch.relu(h0))
    for reduce in ("flatten", "pool", "positions"):
        with rtorch.capture(model, ["0", "2"], reduce=reduce) as cap:
            model(x)
        acts = cap.pop()
        assert set(acts) == {"0", "2"}
        # ReLU(inplace=True) runs after "0" and "2": the captured values keep their negative entries
        close(acts["0"], h0, atol=0)
        close(acts["2"], h2, atol=0)
        assert (acts["0"] < 0).any() and (acts["2"] < 0).any()
    assert no_hooks(model)


@pytest.mark.parametrize("reduce", ["flatten", "pool", "positions"])
def test_conv2d_reductions_survive_inplace_relu(reduce):
    model = cnn2d()
    x = torch.randn(3, 3, 6, 6)
    with torch.no_grad():
        c0 = model[0](x)
        c2 = model[2](torch.relu(c0))
    expected = {
        "flatten": lambda c: c.reshape(c.shape[0], -1),
        "pool": lambda c: c.mean(dim=(2, 3)),
        "positions": lambda c: c.permute(0, 2, 3, 1).reshape(-1, c.shape[1]),
    }[reduce]
    with rtorch.capture(model, {"0": reduce, "2": reduce}) as cap:
        model(x)
    acts = cap.pop()
    close(acts["0"], expected(c0))
    close(acts["2"], expected(c2))
    assert (acts["0"] < 0).any()
    if reduce == "positions":
        assert acts["0"].shape == (3 * 6 * 6, 4) and acts["2"].shape == (3 * 2 * 2, 5)
        close(acts["0"][6 * 6 + 1], c0[1, :, 0, 1])  # sample-major: sample 1, position (0, 1)


@pytest.mark.parametrize("reduce", ["flatten", "pool", "positions"])
def test_conv1d_reductions(reduce):
    model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.ReLU(inplace=True))
    x = torch.randn(5, 2, 9)
    with torch.no_grad():
        c = model[0](x)
    expected = {
        "flatten": c.reshape(5, -1),
        "pool": c.mean(dim=2),
        "positions": c.transpose(1, 2).reshape(-1, 4),
    }[reduce]
    with rtorch.capture(model, [rtorch.LayerSpec("0", reduce=reduce)]) as cap:
        model(x)
    close(cap.pop()["0"], expected)


def test_channels_override_last_for_channel_last_layout():
    class ToLast(nn.Module):
        def forward(self, x):
            return x.permute(0, 2, 3, 1)  # (B, H, W, C): a view of the input

    model = nn.Sequential(nn.Conv2d(3, 4, 1), ToLast())
    x = torch.randn(2, 3, 4, 5)
    with torch.no_grad():
        c = model[0](x).permute(0, 2, 3, 1)
    specs = [rtorch.LayerSpec("1", "pool", channels="last"), rtorch.LayerSpec("0", "pool", channels="first")]
    with rtorch.capture(model, specs) as cap:
        model(x)
    acts = cap.pop()
    close(acts["1"], c.mean(dim=(1, 2)))
    close(acts["0"], acts["1"])
    with rtorch.capture(model, [rtorch.LayerSpec("1", "positions", channels="last")]) as cap:
        model(x)
    close(cap.pop()["1"], c.reshape(-1, 4))


@pytest.mark.parametrize("with_mask", [False, True])
def test_transformer_tokens(with_mask):
    model = TokenModel().eval()
    ids, mask = token_batch()
    keep = mask.bool()
    with torch.no_grad():
        e = model.emb(ids)
        h = model.enc(e, src_key_padding_mask=~keep if with_mask else None)
        out = model.head(h)
    am = mask if with_mask else None
    for reduce in ("flatten", "pool", "positions"):
        with rtorch.capture(model, ["emb", "enc", "head"], attention_mask=am, reduce=reduce) as cap, torch.no_grad():
            model(ids, attention_mask=am)
        acts = cap.pop()
        for name, t in (("emb", e), ("enc", h), ("head", out)):
            if reduce == "flatten":
                want = t.reshape(t.shape[0], -1)  # the mask does not apply to flatten
            elif reduce == "pool":
                if with_mask:
                    w = keep.unsqueeze(-1).float()
                    want = (t * w).sum(1) / w.sum(1)
                else:
                    want = t.mean(1)
            else:
                want = t[keep] if with_mask else t.reshape(-1, t.shape[-1])
            close(acts[name], want, atol=1e-5)
    if with_mask:
        assert acts["enc"].shape == (int(keep.sum()), 8)


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors:UserWarning")
@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True:UserWarning")
def test_nested_tensor_fast_path_is_padded_back():
    model = TokenModel(nested=True).eval()
    ids, mask = token_batch()
    keep = mask.bool()
    with torch.no_grad():
        e = model.emb(ids)
        h0 = model.enc.layers[0](e, src_key_padding_mask=~keep)
    with rtorch.capture(model, {"enc.layers.0": "positions"}, attention_mask=mask) as cap, torch.no_grad():
        model(ids, attention_mask=mask)
    close(cap.pop()["enc.layers.0"], h0[keep], atol=1e-5)


def test_sequence_first_attention_and_tuple_output():
    mha = nn.MultiheadAttention(8, 2)  # batch_first=False: (T, B, D)
    model = nn.ModuleDict({"attn": mha})
    x = torch.randn(5, 3, 8)  # T=5, B=3
    with torch.no_grad():
        out, weights = mha(x, x, x)

    def run():
        model["attn"](x, x, x)

    with rtorch.capture(model, {"attn": "pool"}) as cap:
        run()
    close(cap.pop()["attn"], out.transpose(0, 1).mean(1))  # default: the first tensor of the tuple, batch first
    with rtorch.capture(model, [rtorch.LayerSpec("attn", "flatten", output=1)]) as cap:
        run()
    close(cap.pop()["attn"], weights.reshape(3, -1))  # weights are (B, T, S) already


# ------------------------------------------------------------------------------------------- outputs
class TupleOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        y = self.fc(x)
        return (None, y, 2 * y)


class DictOut(nn.Module):
    def forward(self, x):
        return {"note": "text", "hidden": x + 1, "logits": x * 3}


class HFOutput:
    def __init__(self, last_hidden_state, pooler_output):
        self.last_hidden_state = last_hidden_state
        self.pooler_output = pooler_output


class HFLike(nn.Module):
    def forward(self, x):  # x: (B, T, D)
        return HFOutput(x * 2, x.mean(1))


class Container(nn.Module):
    def __init__(self):
        super().__init__()
        self.t = TupleOut()
        self.d = DictOut()
        self.h = HFLike()

    def forward(self, x):
        y = self.t(x)[1]
        self.d(y)
        return self.h(y.unsqueeze(1).repeat(1, 2, 1))


def test_tuple_dict_and_hf_outputs():
    model = Container()
    x = torch.randn(4, 4)
    with torch.no_grad():
        y = model.t.fc(x)
        seq = y.unsqueeze(1).repeat(1, 2, 1)
    specs = [
        rtorch.LayerSpec("t"),  # first tensor of the tuple (None is skipped)
        rtorch.LayerSpec("d"),  # first tensor value of the dict
        rtorch.LayerSpec("h", reduce="pool"),  # last_hidden_state, channel-last tokens
    ]
    with rtorch.capture(model, specs) as cap:
        model(x)
    acts = cap.pop()
    close(acts["t"], y)
    close(acts["d"], y + 1)
    close(acts["h"], (2 * seq).mean(1))
    specs = [
        rtorch.LayerSpec("t", output=2),
        rtorch.LayerSpec("d", output="logits"),
        rtorch.LayerSpec("h", output="pooler_output"),
        rtorch.LayerSpec("t.fc"),
    ]
    with rtorch.capture(model, specs) as cap:
        model(x)
    acts = cap.pop()
    close(acts["t"], 2 * y)
    close(acts["d"], 3 * y)
    close(acts["h"], seq.mean(1))
    close(acts["t.fc"], y)
    with rtorch.capture(model, [rtorch.LayerSpec("h", output=lambda o: o.last_hidden_state[:, 1])]) as cap:
        model(x)
    close(cap.pop()["h"], 2 * y)


def test_non_tensor_output_names_the_layer_and_hooks_are_removed():
    class Weird(nn.Module):
        def forward(self, x):
            return ["not", "a", "tensor"]

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.weird = Weird()
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            self.weird(x)
            return self.fc(x)

    model = Model()
    with pytest.raises(TypeError, match="layer 'weird'.*list"), rtorch.capture(model, ["weird", "fc"]):
        model(torch.randn(2, 3))
    assert no_hooks(model)
    with pytest.raises(ValueError, match="out of range"), rtorch.capture(model, [rtorch.LayerSpec("weird", output=5)]):
        model(torch.randn(2, 3))
    with pytest.raises(TypeError, match="selects a str"), rtorch.capture(model, [rtorch.LayerSpec("weird", output=0)]):
        model(torch.randn(2, 3))
    assert no_hooks(model)


# ------------------------------------------------------------------------------------------- names
def test_dataparallel_prefix_both_ways():
    model = mlp()
    x = torch.randn(3, 6)
    with torch.no_grad():
        h0 = model[0](x)
    wrapped = nn.DataParallel(model)  # on a CPU-only machine it just calls model
    for net, name in ((wrapped, "0"), (wrapped, "module.0"), (model, "module.0"), (model, "0")):
        with rtorch.capture(net, [name]) as cap:
            net(x)
        close(cap.pop()[name], h0, atol=0)

    class Wrapper(nn.Module):  # DDP-like: the real model is the .module child
        def __init__(self, m):
            super().__init__()
            self.module = m

        def forward(self, x):
            return self.module(x)

    w = Wrapper(model)
    cap = rtorch.capture(w, ["2"])
    assert cap.modules == {"2": "module.2"}
    assert no_hooks(w)  # nothing registered before entering


def test_unknown_names_suggest_close_matches():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc_1 = nn.Linear(2, 2)
            self.block = nn.Sequential(nn.Linear(2, 2))

        def forward(self, x):
            return self.block(self.fc_1(x))

    net = Net()
    with pytest.raises(ValueError, match=r"no module named 'fc1'; did you mean 'fc_1'"):
        rtorch.capture(net, ["fc1"])
    with pytest.raises(ValueError, match=r"state_dict key; the module is 'block.0'"):
        rtorch.capture(net, ["block.0.weight"])
    with pytest.raises(ValueError, match="model 'mine': .*no module named 'nope'"):
        rtorch.capture(net, ["nope"], label="mine")
    with pytest.raises(ValueError, match="reduce must be one of"):
        rtorch.LayerSpec("fc_1", reduce="mean")
    with pytest.raises(ValueError, match="channels must be one of"):
        rtorch.LayerSpec("fc_1", channels="middle")
    with pytest.raises(ValueError, match="more than once"):
        rtorch.capture(net, ["fc_1", "fc_1"])
    assert no_hooks(net)


# ------------------------------------------------------------------------------------------- lifecycle
def test_hooks_removed_after_exception_and_pop_after_exit():
    model = mlp()
    with pytest.raises(RuntimeError, match="boom"), rtorch.capture(model, ["0", "2"]):
        model(torch.randn(2, 6))
        raise RuntimeError("boom")
    assert no_hooks(model)
    with rtorch.capture(model, ["0"]) as cap:
        model(torch.randn(2, 6))
        model(torch.randn(3, 6))
        assert cap.calls == {"0": 2} and cap.batch_sizes == {"0": 5}
    assert no_hooks(model)
    assert cap.pop()["0"].shape == (5, 8)  # rows of both calls, in call order; still available after exit
    with pytest.raises(ValueError, match=r"layer\(s\) \['0'\] did not run"):
        cap.pop()


def test_no_autograd_graph_kept():
    model = mlp()
    x = torch.randn(4, 6, requires_grad=True)
    with rtorch.capture(model, {"0": "flatten", "2": "pool"}) as cap:
        out = model(x)
    acts = cap.pop()
    for t in acts.values():
        assert not t.requires_grad and t.grad_fn is None
    out.sum().backward()  # the model's own graph is untouched
    assert x.grad is not None


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_upcast(dtype):
    model = cnn2d().to(dtype)
    x = torch.randn(2, 3, 5, 5).to(dtype)
    with torch.no_grad():
        c = model[0](x)
    with rtorch.capture(model, {"0": "pool", "2": "flatten"}) as cap, torch.no_grad():
        model(x)
    acts = cap.pop()
    assert all(t.dtype == torch.float32 for t in acts.values())
    close(acts["0"], c.float().mean(dim=(2, 3)))  # mean taken after the upcast
    m = repsim.Moments().update(acts)  # straight into the statistics
    assert m.n == 2 and m.dims == {"0": 4, "2": 5 * 2 * 2}


def test_float64_kept_and_integer_outputs_rejected():
    model = mlp().double()
    with rtorch.capture(model, ["0"]) as cap:
        model(torch.randn(2, 6, dtype=torch.float64))
    assert cap.pop()["0"].dtype == torch.float64
    emb_ids = nn.Identity()
    with pytest.raises(TypeError, match="floating-point"), rtorch.capture(emb_ids, [""]):
        emb_ids(torch.arange(4))


def test_attention_mask_errors():
    model = TokenModel().eval()
    ids, mask = token_batch()
    cap = rtorch.capture(model, {"emb": "pool"}, attention_mask=mask[:, :3])
    with pytest.raises(ValueError, match="attention_mask has shape"), cap, torch.no_grad():
        model(ids)
    bad = mask.clone()
    bad[1] = 0
    cap = rtorch.capture(model, {"emb": "pool"}, attention_mask=bad)
    with pytest.raises(ValueError, match="sample 1 of the batch has no unmasked tokens"), cap, torch.no_grad():
        model(ids)
    assert no_hooks(model)
