"""Model comparison: the full L × L linear-CKA matrix of an MLP, repsim vs pytorch-cka, cka-pytorch and torch-cka.

Workload (the issue's): an 8-layer MLP ``Linear(128, 256) → ReLU → Linear(256, 384) → … → Linear(1536, 2048)``
(widths 256, 384, 512, 768, 1024, 1280, 1536, 2048; Σp = 7808), compared with itself on the outputs of its 8
``Linear`` layers (modules "0", "2", …, "14"): the 8 × 8 CKA matrix over n = 10 000 inputs fed in batches of
1 000, forward passes included (every variant gets the same model, the same ``DataLoader`` and the same layers).

Variants (each returns the 8 × 8 matrix as a float64 NumPy array)

* ``repsim-exact``      ``repsim.compare(..., metrics=("cka",))``: exact full-data linear CKA from streamed
  statistics (float64 ``G += WᵀW`` per batch, W = the (1000, Σp + 9) augmented batch).
* ``repsim-minibatch``  ``repsim.compare(..., estimator="minibatch", batch_size=1000)``: Nguyen et al.'s minibatch
  CKA (Σ per-chunk unbiased HSIC₁, then one ratio), computed in float64.
* ``repsim-minibatch32`` the same with ``precision="fp32"``: float32 chunk Grams (the peers' precision; one SSYRK
  per site), float64 sums.
* ``pytorch-cka``       ``cka.compute_cka(model, model, loader, layers=...)`` (PyPI ``pytorch-cka``): the same
  minibatch estimator, float32 Grams (the activations' dtype), result clamped to [0, 1].
* ``cka-pytorch``       ``cka_pytorch.CKACalculator(...).calculate_cka_matrix(loader, num_epochs=1)`` (PyPI
  ``cka-pytorch``): the same estimator with float32 Grams formed in the hooks; HSIC₁ via one batched n × n × n
  product per layer pair; ``sqrt(HSIC·HSIC + 1e-4)`` in the denominator (its default ``epsilon``). Its import needs
  ``lightning`` and ``torchmetrics`` (installed, ``--no-deps``) and ``seaborn`` for plotting only: when seaborn is
  missing an empty stand-in module is registered so the computation (which never touches it) can be imported.
* ``torch-cka``         ``torch_cka.CKA(...).compare(loader)`` (PyPI ``torch-cka``): the same estimator, float32,
  one Gram per (i, j) pair and per-pair ``K @ L`` products (its hooks are never removed by the library, so the
  runner removes them).
* ``kornblith-loop``    the exact baseline: every activation held in memory (float64), then a loop of Kornblith et
  al.'s feature-space linear CKA over the 36 pairs i ≤ j (the loop the issue timed at 15 s on one thread).
* ``forward``           the forward passes alone (no hooks), to subtract from the compare times.

None of the three peers has an exact (full-data) linear-CKA mode: all three compute only the minibatch HSIC₁
estimator (one chunk holding all n rows would give full-data *debiased* CKA, at n × n Grams per layer).

Floors

* ``floor-syrk64``      the float64 work the exact path must do: ``G += ZᵀZ`` (SciPy ``dsyrk``, upper triangle,
  the kernel repsim calls) for each of the n / 1000 augmented (1000, Σp + 9) batches.
* ``floor-matmul64``    the same with NumPy's ``Z.T @ Z`` (SYRK + mirror copy of the triangle).
* ``floor-pairwise32``  the 36 bare float32 GEMMs ``XᵢᵀXⱼ`` (i ≤ j) a feature-space pairwise loop would do on the
  full (10 000, pᵢ) activations (torch, the activations' dtype).

Sizes: tiny by default (a scaled-down MLP, n = 400 in batches of 100: the whole file runs in seconds); the issue's
sizes with ``--bench-large`` / ``REPSIM_BENCH_LARGE=1`` (or ``REPSIM_BENCH_FULL=1``). Peers that are not
importable are skipped with the reason. Every variant's matrix is checked (exact path against
``repsim.cka`` on the full activations, minibatch peers against repsim's minibatch value).

    pytest bench/bench_compare.py --benchmark-disable          # smoke test, tiny sizes
    pytest bench/bench_compare.py                              # timings, tiny sizes
    REPSIM_BENCH_LARGE=1 pytest bench/bench_compare.py         # + the issue's sizes (minutes)

Medians, ratios, memory and the minibatch estimates' distance from the exact CKA: ``python bench/report_compare.py``.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sys
import types
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import _common
import repsim

# ----------------------------------------------------------------------------- sizes
FULL = {"in_dim": 128, "widths": (256, 384, 512, 768, 1024, 1280, 1536, 2048), "n": 10_000, "batch": 1_000}
TINY = {"in_dim": 16, "widths": (8, 12, 16, 24, 32, 40, 48, 64), "n": 400, "batch": 100}
SIZES = {"tiny": TINY, "full": FULL}

MODEL_SEED = 0
DATA_SEED = 1

# Agreement tolerances (max |Δ| over the matrix)
TOL_EXACT = 1e-9  # repsim exact vs repsim.cka on the full activations (both float64 from the same float32 data)
# float32 peers vs repsim's float64 minibatch value: their float32 HSIC arithmetic (uncentred sums, float32
# accumulators; cka-pytorch's epsilon) costs digits. Measured at the full size: pytorch-cka 2.9e-3, cka-pytorch
# 5.6e-5, torch-cka 6.1e-4 (tiny size: ~3e-6, 8e-7, 1.4e-6). The estimator itself is checked in float64 below.
TOL_PEER_FP32 = {"pytorch-cka": 5e-3, "cka-pytorch": 5e-4, "torch-cka": 2e-3}
TOL_PEER_FP64 = 1e-6  # pytorch-cka on a float64 model vs repsim minibatch: it sums HSIC in float32 tensors (1.5e-7)


def threads() -> int:
    """Threads for torch (``torch.set_num_threads``) in every benchmark: all cores, or ``REPSIM_BENCH_THREADS``."""
    return int(os.environ.get("REPSIM_BENCH_THREADS") or os.cpu_count() or 1)


# ----------------------------------------------------------------------------- workload
def make_model(cfg: dict, seed: int = MODEL_SEED, dtype=torch.float32, init: str = "he") -> nn.Sequential:
    """``Linear(in, w1) → ReLU → Linear(w1, w2) → … → Linear(w7, w8)``.

    ``init="he"`` (default): He-normal weights (std √(2/fan_in)) and zero biases, so every layer's activations keep
    unit scale, as in a trained network. ``init="torch"``: PyTorch's default init, under which the scale shrinks
    ~0.4× per layer and the deep layers' outputs are dominated by their biases (mean ≫ spread): the float32 peers,
    which form uncentred Grams, then lose every digit of the deep layers' HSIC to cancellation (see
    report_compare.py ``--init torch``).
    """
    if init not in ("he", "torch"):
        raise ValueError(f"init must be 'he' or 'torch', got {init!r}")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        mods: list[nn.Module] = []
        d = cfg["in_dim"]
        for k, w in enumerate(cfg["widths"]):
            if k:
                mods.append(nn.ReLU())
            lin = nn.Linear(d, w)
            if init == "he":
                nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
                nn.init.zeros_(lin.bias)
            mods.append(lin)
            d = w
        model = nn.Sequential(*mods).to(dtype)
    return model.eval()


def layer_names(cfg: dict) -> list[str]:
    """Module names of the Linear layers ("0", "2", …): the sites compared."""
    return [str(2 * k) for k in range(len(cfg["widths"]))]


def make_inputs(cfg: dict, seed: int = DATA_SEED, dtype=torch.float32) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(cfg["n"], cfg["in_dim"], generator=gen, dtype=torch.float64).to(dtype)


def make_loader(X: torch.Tensor, batch: int) -> torch.utils.data.DataLoader:
    """A DataLoader yielding ``(x, label)`` batches of ``batch`` consecutive rows (what every peer accepts:
    cka-pytorch unpacks ``x, _``; torch-cka reads ``loader.dataset``). Whole batches are indexed at once."""
    ds = torch.utils.data.TensorDataset(X, torch.zeros(X.shape[0], dtype=torch.long))
    sampler = torch.utils.data.BatchSampler(torch.utils.data.SequentialSampler(ds), batch, drop_last=False)
    return torch.utils.data.DataLoader(ds, sampler=sampler, batch_size=None)


def augmented_width(cfg: dict) -> int:
    """Columns of repsim's augmented batch: Σp features, one |x̃|² per site, one constant."""
    return sum(cfg["widths"]) + len(cfg["widths"]) + 1


# ----------------------------------------------------------------------------- peers
PEERS = {  # name: (PyPI distribution, import name)
    "pytorch-cka": ("pytorch-cka", "cka"),
    "cka-pytorch": ("cka-pytorch", "cka_pytorch"),
    "torch-cka": ("torch-cka", "torch_cka"),
}
PEER_NOTES: dict[str, str] = {}


def _stub_seaborn() -> None:
    """cka-pytorch imports seaborn (for its plotting helper only) at import time; register an empty module."""
    if "seaborn" in sys.modules:
        return
    try:
        importlib.import_module("seaborn")
    except ImportError:
        sys.modules["seaborn"] = types.ModuleType("seaborn")
        PEER_NOTES["cka-pytorch"] = "seaborn not installed: an empty stand-in module was registered (plots only)"


@functools.lru_cache(maxsize=None)
def load_peer(name: str):
    """The peer's module, or None if it cannot be imported (the reason is in ``peer_missing(name)``)."""
    dist, mod = PEERS[name]
    try:
        from importlib.metadata import PackageNotFoundError, version

        try:
            ver = version(dist)
        except PackageNotFoundError:
            raise ImportError(f"distribution {dist!r} is not installed (pip install --no-deps {dist})") from None
        if name == "cka-pytorch":
            _stub_seaborn()
        m = importlib.import_module(mod)
        m.__bench_version__ = ver
        return m
    except Exception as exc:  # ImportError, or a broken dependency of the peer
        _MISSING[name] = f"{name} not importable: {type(exc).__name__}: {exc}"
        return None


_MISSING: dict[str, str] = {}


def peer_missing(name: str) -> str | None:
    return None if load_peer(name) is not None else _MISSING.get(name, f"{name} not importable")


def peer_version(name: str) -> str:
    m = load_peer(name)
    return getattr(m, "__bench_version__", "?") if m is not None else "missing"


# ----------------------------------------------------------------------------- variants: model, loader, layers → L × L
def run_repsim_exact(model, loader, names, batch=None) -> np.ndarray:
    rep = repsim.compare(models={"m": model}, data=loader, layers={"m": names}, metrics=("cka",), progress=False)
    return np.asarray(rep["cka"].values, dtype=np.float64)


def run_repsim_minibatch(model, loader, names, batch, precision="fp64") -> np.ndarray:
    rep = repsim.compare(models={"m": model}, data=loader, layers={"m": names}, metrics=("cka",), progress=False,
                         estimator="minibatch", batch_size=batch, precision=precision)
    return np.asarray(rep["cka"].values, dtype=np.float64)


def run_repsim_minibatch32(model, loader, names, batch) -> np.ndarray:
    return run_repsim_minibatch(model, loader, names, batch, precision="fp32")


def run_pytorch_cka(model, loader, names, batch=None) -> np.ndarray:
    cka = load_peer("pytorch-cka")
    out = cka.compute_cka(model, model, loader, layers=names, device="cpu", progress=False)[0]
    return out.double().cpu().numpy()


def run_cka_pytorch(model, loader, names, batch=None) -> np.ndarray:
    cka_pytorch = load_peer("cka-pytorch")
    calc = cka_pytorch.CKACalculator(model1=model, model2=model, model1_layers=list(names),
                                     device=torch.device("cpu"), verbose=False)
    try:
        if calc.hook_manager1.module_names != list(names):
            raise RuntimeError(f"cka-pytorch hooked {calc.hook_manager1.module_names}, expected {names}")
        out = calc.calculate_cka_matrix(loader, num_epochs=1)
    finally:
        calc.hook_manager1.clear_all()
        calc.hook_manager2.clear_all()
    return out.double().cpu().numpy()


@contextlib.contextmanager
def _remove_new_hooks(model: nn.Module):
    """torch-cka registers forward hooks it never removes: drop the hooks added inside the block."""
    before = {id(m): set(m._forward_hooks) for m in model.modules()}
    try:
        yield
    finally:
        for m in model.modules():
            for key in set(m._forward_hooks) - before[id(m)]:
                del m._forward_hooks[key]


def run_torch_cka(model, loader, names, batch=None) -> np.ndarray:
    torch_cka = load_peer("torch-cka")
    with _remove_new_hooks(model), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Dataloader for Model 2 is not given", identical model names
        c = torch_cka.CKA(model, model, model1_name="m1", model2_name="m2", model1_layers=list(names),
                          model2_layers=list(names), device="cpu")
        with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):  # its tqdm bar is always on
            c.compare(loader)
    return c.hsic_matrix.double().cpu().numpy()


def run_kornblith_loop(model, loader, names, batch=None) -> np.ndarray:
    """The exact baseline: all activations held in memory (float64), then Kornblith et al.'s feature-space linear
    CKA, ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) after centring, for each of the 36 pairs i ≤ j (written from the formula)."""
    acts = [a.astype(np.float64) for a in _hooked_outputs(model, names, (x for x, _ in loader))]
    L = len(acts)
    out = np.eye(L)
    for i in range(L):
        for j in range(i, L):
            x, y = acts[i] - acts[i].mean(0), acts[j] - acts[j].mean(0)
            out[i, j] = out[j, i] = np.linalg.norm(x.T @ y) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))
    return out


def run_forward(model, loader, names=None, batch=None) -> None:
    with torch.no_grad():
        for x, _ in loader:
            model(x)


VARIANTS = {
    "repsim-exact": (run_repsim_exact, None),
    "repsim-minibatch": (run_repsim_minibatch, None),
    "repsim-minibatch32": (run_repsim_minibatch32, None),
    "pytorch-cka": (run_pytorch_cka, "pytorch-cka"),
    "cka-pytorch": (run_cka_pytorch, "cka-pytorch"),
    "torch-cka": (run_torch_cka, "torch-cka"),
    "kornblith-loop": (run_kornblith_loop, None),
    "forward": (run_forward, None),
}
MINIBATCH_PEERS = ("pytorch-cka", "cka-pytorch", "torch-cka")


# ----------------------------------------------------------------------------- exact reference
def _hooked_outputs(model, names, inputs) -> list[np.ndarray]:
    """Run the model on each input with plain forward hooks on the named modules; their outputs, concatenated."""
    mods = dict(model.named_modules())
    chunks: dict[str, list] = {k: [] for k in names}
    handles = [mods[k].register_forward_hook(lambda m, a, out, k=k: chunks[k].append(out.detach().clone()))
               for k in names]
    try:
        with torch.no_grad():
            for x in inputs:
                model(x)
    finally:
        for h in handles:
            h.remove()
    return [torch.cat(chunks[k]).numpy() for k in names]


def capture_full(model, X, names, batch: int) -> list[np.ndarray]:
    """The full (n, pᵢ) activations of the named layers (float32, as the model computes them batch by batch)."""
    return _hooked_outputs(model, names, (X[s : s + batch] for s in range(0, X.shape[0], batch)))


def exact_reference(acts: list[np.ndarray], diagonal: bool = False) -> np.ndarray:
    """Full-data linear CKA of every pair by ``repsim.cka`` on the full activation matrices.

    Symmetric, so the 28 pairs i < j are computed; the diagonal is CKA(X, X) = 1 by definition (``diagonal=True``
    computes it too: 8 more calls, a quarter of the cost).
    """
    L = len(acts)
    out = np.eye(L)
    for i in range(L):
        for j in range(i if diagonal else i + 1, L):
            out[i, j] = out[j, i] = repsim.cka(acts[i], acts[j])
    return out


def naive_gram_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Linear CKA by the textbook Gram-space formula in float64: ⟨HKH, HLH⟩ / (‖HKH‖ ‖HLH‖)."""
    K, Lm = _centred_gram(X), _centred_gram(Y)
    return float(np.sum(K * Lm) / (np.linalg.norm(K) * np.linalg.norm(Lm)))


def _centred_gram(X: np.ndarray) -> np.ndarray:
    """H (X Xᵀ) H with H = I − 11ᵀ/n, formed literally (float64)."""
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    H = np.eye(n) - 1.0 / n
    return H @ (X @ X.T) @ H


def verify_reference(acts: list[np.ndarray], rows: int = 1000, seed: int = 0) -> float:
    """max |repsim.cka − naive Gram CKA| over all pairs i ≤ j on a random subsample of ``rows`` rows."""
    n = acts[0].shape[0]
    idx = np.sort(np.random.default_rng(seed).choice(n, size=min(rows, n), replace=False))
    sub = [a[idx] for a in acts]
    grams = [_centred_gram(a) for a in sub]  # each centred Gram once
    norms = [np.linalg.norm(K) for K in grams]
    L = len(sub)
    return max(
        abs(repsim.cka(sub[i], sub[j]) - float(np.sum(grams[i] * grams[j]) / (norms[i] * norms[j])))
        for i in range(L)
        for j in range(i, L)
    )


@contextlib.contextmanager
def timed_model_calls(model: nn.Module):
    """Accumulate the wall time spent inside ``model(...)`` calls (the library's own forward hooks on the submodules
    included) into the yielded dict's ``"seconds"``; ``"calls"`` counts them."""
    import time

    acc = {"seconds": 0.0, "calls": 0}
    start: list[float] = []

    def pre(module, args):
        start.append(time.perf_counter())

    def post(module, args, out):
        acc["seconds"] += time.perf_counter() - start.pop()
        acc["calls"] += 1

    h1 = model.register_forward_pre_hook(pre, prepend=True)
    h2 = model.register_forward_hook(post)
    try:
        yield acc
    finally:
        h1.remove()
        h2.remove()


# ----------------------------------------------------------------------------- floors
def augmented_batches(cfg: dict, seed: int = 0) -> list[np.ndarray]:
    """n / batch float64 C-ordered (batch, Σp + L + 1) matrices: the shape repsim's fused pass hands to dsyrk.
    (Random values: a BLAS kernel's time does not depend on them.)"""
    rng = np.random.default_rng(seed)
    d = augmented_width(cfg)
    sizes = [min(cfg["batch"], cfg["n"] - s) for s in range(0, cfg["n"], cfg["batch"])]
    return [rng.standard_normal((b, d)) for b in sizes]


def floor_syrk64(Ws: list[np.ndarray], G: np.ndarray | None = None) -> np.ndarray:
    """G += WᵀW for every batch with SciPy's dsyrk (upper triangle, Fortran G): exactly repsim's BLAS call."""
    from scipy.linalg import blas

    d = Ws[0].shape[1]
    if G is None:
        G = np.zeros((d, d), order="F")
    for W in Ws:
        blas.dsyrk(1.0, W.T, beta=1.0, c=G, trans=0, lower=0, overwrite_c=1)
    return G


def floor_matmul64(Ws: list[np.ndarray]) -> np.ndarray:
    G = Ws[0].T @ Ws[0]
    for W in Ws[1:]:
        G += W.T @ W
    return G


def floor_pairwise32(acts: list[torch.Tensor]) -> list[torch.Tensor]:
    """The 36 (L(L+1)/2) float32 GEMMs XᵢᵀXⱼ, i ≤ j, on the full activations: the bare cost of a feature-space
    pairwise CKA loop at the activations' precision."""
    L = len(acts)
    return [acts[i].T @ acts[j] for i in range(L) for j in range(i, L)]


def floor_gram32(acts: list[np.ndarray], batch: int) -> None:
    """The chunk Grams XₖXₖᵀ of every layer and every b-row chunk as bare float32 SYRKs (upper triangle, SciPy
    ``ssyrk``): the arithmetic any exact minibatch-HSIC implementation must do at the peers' precision."""
    from scipy.linalg import blas

    buf = np.zeros((batch, batch), dtype=np.float32, order="F")
    for a in acts:
        a = np.ascontiguousarray(a, dtype=np.float32)
        for s in range(0, a.shape[0] - batch + 1, batch):
            blas.ssyrk(1.0, a[s : s + batch].T, trans=1, beta=0.0, c=buf, overwrite_c=1)


# ----------------------------------------------------------------------------- pytest
class Workload:
    def __init__(self, size: str):
        self.size = size
        self.cfg = SIZES[size]
        torch.set_num_threads(threads())
        self.model = make_model(self.cfg)
        self.X = make_inputs(self.cfg)
        self.loader = make_loader(self.X, self.cfg["batch"])
        self.names = layer_names(self.cfg)
        self.batch = self.cfg["batch"]

    @functools.cached_property
    def acts(self) -> list[np.ndarray]:
        return capture_full(self.model, self.X, self.names, self.batch)

    @functools.cached_property
    def reference(self) -> np.ndarray:
        return exact_reference(self.acts)

    @functools.cached_property
    def minibatch(self) -> np.ndarray:
        return run_repsim_minibatch(self.model, self.loader, self.names, self.batch)

    def run(self, variant: str):
        fn, _ = VARIANTS[variant]
        return fn(self.model, self.loader, self.names, self.batch)


_WORKLOADS: dict[str, Workload] = {}


def _workload(size: str) -> Workload:
    if size not in _WORKLOADS:
        _WORKLOADS[size] = Workload(size)
    return _WORKLOADS[size]


# The full size carries conftest's ``large`` marker (run with --bench-large / REPSIM_BENCH_LARGE=1); with
# REPSIM_BENCH_FULL=1 it is not marked, so it runs without touching the other benchmark files' large sizes.
SIZE_PARAMS = [
    pytest.param("tiny", id="tiny"),
    pytest.param("full", id="full", marks=[] if _common.env_flag("REPSIM_BENCH_FULL") else [pytest.mark.large]),
]


def _rounds(size: str, variant: str) -> int:
    if size == "tiny":
        return 5
    return 1 if variant in ("torch-cka", "cka-pytorch") else 3


@pytest.fixture(params=SIZE_PARAMS)
def workload(request) -> Workload:
    return _workload(request.param)


def _bench(benchmark, fn, rounds: int):
    return benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)


def test_reference_is_exact(workload):
    """repsim.cka (the exact reference) agrees with the naive Gram-space formula on a subsample."""
    assert verify_reference(workload.acts, rows=min(1000, workload.cfg["n"])) < 1e-10


@pytest.mark.parametrize("variant", ["repsim-exact"])
def test_exact(benchmark, workload, variant):
    benchmark.group = f"compare-exact-{workload.size}"
    benchmark.extra_info.update(threads=threads(), n=workload.cfg["n"], batch=workload.batch)
    out = _bench(benchmark, lambda: workload.run(variant), _rounds(workload.size, variant))
    assert np.max(np.abs(out - workload.reference)) < TOL_EXACT


@pytest.mark.parametrize("variant", ["repsim-minibatch", *MINIBATCH_PEERS])
def test_minibatch(benchmark, workload, variant):
    peer = VARIANTS[variant][1]
    if peer is not None and peer_missing(peer):
        pytest.skip(peer_missing(peer))
    benchmark.group = f"compare-minibatch-{workload.size}"
    benchmark.extra_info.update(threads=threads(), n=workload.cfg["n"], batch=workload.batch,
                                note=PEER_NOTES.get(variant, ""))
    out = _bench(benchmark, lambda: workload.run(variant), _rounds(workload.size, variant))
    assert out.shape == (len(workload.names),) * 2
    tol = 1e-12 if peer is None else TOL_PEER_FP32[variant]
    delta = float(np.max(np.abs(out - workload.minibatch)))
    benchmark.extra_info["max_abs_diff_vs_repsim_minibatch"] = delta
    benchmark.extra_info["max_abs_diff_vs_exact"] = float(np.max(np.abs(out - workload.reference)))
    assert delta < tol


def test_pytorch_cka_float64_agrees(workload):
    """The estimators are the same: pytorch-cka run in float64 matches repsim's minibatch CKA to rounding."""
    if peer_missing("pytorch-cka"):
        pytest.skip(peer_missing("pytorch-cka"))
    model = make_model(workload.cfg, dtype=torch.float64)
    loader = make_loader(workload.X.double(), workload.batch)
    out = run_pytorch_cka(model, loader, workload.names)
    ref = run_repsim_minibatch(model, loader, workload.names, workload.batch)
    assert np.max(np.abs(out - ref)) < TOL_PEER_FP64


def test_forward(benchmark, workload):
    benchmark.group = f"compare-exact-{workload.size}"
    _bench(benchmark, lambda: workload.run("forward"), _rounds(workload.size, "forward"))


def test_floor_syrk64(benchmark, workload):
    benchmark.group = f"compare-exact-{workload.size}"
    Ws = augmented_batches(workload.cfg)
    d = Ws[0].shape[1]
    G = np.zeros((d, d), order="F")
    floor_syrk64(Ws[:1], G)  # warm the BLAS pool
    _bench(benchmark, lambda: floor_syrk64(Ws, G), _rounds(workload.size, "floor"))


def test_floor_matmul64(benchmark, workload):
    benchmark.group = f"compare-exact-{workload.size}"
    Ws = augmented_batches(workload.cfg)
    _bench(benchmark, lambda: floor_matmul64(Ws), _rounds(workload.size, "floor"))


def test_floor_pairwise32(benchmark, workload):
    benchmark.group = f"compare-exact-{workload.size}"
    acts = [torch.from_numpy(a) for a in workload.acts]
    out = _bench(benchmark, lambda: floor_pairwise32(acts), _rounds(workload.size, "floor"))
    L = len(acts)
    assert len(out) == L * (L + 1) // 2
