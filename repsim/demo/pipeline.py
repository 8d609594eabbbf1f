"""The demo pipeline: MNIST-1D → three small trained models (+ one untrained) → the seeds' analyses.

Everything goes through repsim's public API:

- seed 001 (McNeely-White 2020, ch. 5): :func:`repsim.experiments.stitching_table` on the ``fc`` features (the
  input of each model's ``head``) of two CNNs and one MLP — least-squares affine maps (Table 5.2),
  logit-compatibility maps (Table 5.3, :func:`repsim.logit_map`) and the naive swap (§5.6);
- seed 000 (Moreau et al. 2021, §4.2): :func:`repsim.experiments.projection_curves` of CNN A's ``fc`` features with
  CNN B as the CCA partner, seven selection methods;
- seed 002 (Thompson et al. 2019): :func:`repsim.compare` of the two CNNs' layers (conv1 … conv5, fc, head) with
  linear CKA, debiased CKA and RV2. Conv feature maps are average-pooled over positions (``reduce="pool"``), as
  seed 002 average-pools its feature maps; ``fc`` and ``head`` are vectors already;
- seeds 003/004 (Wang et al. 2018): :meth:`repsim.Moments.match_curve` per layer between CNN A and CNN B (trained)
  and between CNN A and an untrained CNN, and :meth:`repsim.Moments.simple_matches`. Conv layers use
  ``reduce="positions"`` (each sample × position is a row and the channels are the neurons, as in Wang et al.);
  ``fc`` has one row per sample.

All analyses use the held-out test split, except the stitching maps and the projection bases, which are fitted on
the training split (as in the seeds) and scored on the test split.

Seed pairs. Every analysis runs on ``DemoConfig.pairs`` independently trained seed pairs (pair k: demo seed
``seed + 10 k``), each with its own untrained CNN as the control, and :mod:`~repsim.demo.claims` decides every claim
over all of them. Pair 0 is trained for ``epochs`` and gives the figures and tables; the other pairs are trained for
``extra_epochs`` (fewer, to keep a first run short) and enter the claims and the aggregates.
"""
from __future__ import annotations

import contextlib
import dataclasses
import platform
import time
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np

import torch

from .._version import __version__
from ..api import rv2 as rv2_measure
from .._compare import compare
from ..experiments import ALL_METHODS, projection_curves, stitching_table
from ..inference import aggregate
from ..moments import Moments
from ..torch import LayerSpec, capture
from .claims import SMALL_MATCH, evaluate
from .data import make_mnist1d
from .models import CONV_LAYERS, build
from .train import TrainSpec, accuracy, cache_dir, load_or_train

#: ε values of the max-match curves (Wang et al. 2018, Fig. 3).
EPS = (0.1, 0.2, 0.3, 0.4, 0.5)
#: Middle conv layers (not adjacent to the input or to the fully connected part).
MIDDLE_CONV = ("conv2", "conv3", "conv4")
MATCH_LAYERS = CONV_LAYERS + ("fc",)
#: Demo seeds of successive seed pairs are this far apart (pair k: CNN A seed + 10 k, CNN B + 1, MLP + 2, untrained + 3).
PAIR_STRIDE = 10
#: The projection methods computed on the seed pairs after the first (the claim's criterion and its controls).
PAIR_METHODS = ("CCA_highest", "CCA_lowest", "PCA", "random_selection")
#: Seed 002's statement about random matrices is checked on this shape (n samples, p features), as in issue 18.
NOISE_N, NOISE_P, NOISE_DRAWS = 10, 1000, 20


@dataclass(frozen=True)
class DemoConfig:
    """Sizes and seeds of one demo run.

    Seed pair k (``0 ≤ k < pairs``) has CNN A (init seed ``seed + 10 k``), CNN B (``+ 1``), the MLP (``+ 2``) and the
    untrained CNN (``+ 3``); pair 0 trains for ``epochs``, the others for ``min(extra_epochs, epochs)``. The data are
    mnist1d's with ``data_seed`` (42 = mnist1d's default, the canonical MNIST-1D).
    """

    n_train: int = 4000
    n_test: int = 1000
    epochs: int = 50
    seed: int = 0
    data_seed: int = 42
    channels: int = 32
    fc: int = 64
    mlp_hidden: int = 256
    cnn_lr: float = 1e-2
    mlp_lr: float = 3e-3
    batch_size: int = 128
    eps: tuple = EPS
    simple_eps: tuple = (0.3, 0.5)
    simple_layers: tuple = ("conv1", "fc")
    projection_repeats: int = 5
    analysis_batch: int = 250
    train_threads: int = 1
    dropout: float = 0.5
    weight_decay: float = 1e-2
    pairs: int = 3
    extra_epochs: int = 25

    def pair_seed(self, pair: int = 0) -> int:
        """The demo seed of seed pair ``pair``."""
        return self.seed + PAIR_STRIDE * int(pair)

    def pair_epochs(self, pair: int = 0) -> int:
        return self.epochs if pair == 0 else min(self.extra_epochs, self.epochs)

    def specs(self, pair: int = 0) -> dict:
        s = self.pair_seed(pair)
        cnn = {"channels": self.channels, "fc": self.fc, "dropout": self.dropout}
        mlp = {"hidden": self.mlp_hidden, "fc": self.fc, "dropout": self.dropout}
        common = {"epochs": self.pair_epochs(pair), "batch_size": self.batch_size, "weight_decay": self.weight_decay}
        return {
            "cnn_a": TrainSpec("cnn", s, config=cnn, lr=self.cnn_lr, **common),
            "cnn_b": TrainSpec("cnn", s + 1, config=cnn, lr=self.cnn_lr, **common),
            "mlp": TrainSpec("mlp", s + 2, config=mlp, lr=self.mlp_lr, **common),
        }


@dataclass
class DemoResult:
    """Everything one run produced: the repsim result objects and a JSON-ready ``results`` dict."""

    config: DemoConfig
    results: dict
    stitching: object = None
    projection: object = None
    layer_report: object = None
    match_curves: dict = field(default_factory=dict)
    simple: dict = field(default_factory=dict)
    rv2_aggregate: object = None


class _Progress:
    """An outer tqdm bar over the stages, with a transient inner bar for training epochs."""

    def __init__(self, total: int, enabled: bool):
        from tqdm.std import tqdm

        self._tqdm = tqdm
        self.enabled = enabled
        self.bar = tqdm(total=total, desc="repsim demo", unit="step", disable=not enabled, leave=True)

    def stage(self, text: str):
        self.bar.set_postfix_str(text, refresh=True)

    def done(self):
        self.bar.update(1)

    def epochs(self, name: str, total: int):
        inner = self._tqdm(total=total, desc=f"  train {name}", unit="epoch", leave=False, disable=not self.enabled)

        def step(epoch, loss):
            inner.set_postfix(loss=f"{loss:.3f}", refresh=False)
            inner.update(1)

        return inner, step

    def close(self):
        self.bar.close()


@contextlib.contextmanager
def _torch_threads(n: int):
    """Run with ``n`` intra-op threads and restore the previous setting (the models are tiny: more threads cost
    more in synchronisation than they save, most of all on a busy machine)."""
    old = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _batches(x: np.ndarray, size: int):
    return [torch.from_numpy(x[i : i + size]) for i in range(0, len(x), size)]


def _capture(model, x: np.ndarray, layers, size: int) -> dict:
    """Layer name → activations (float64 NumPy) of ``x`` through ``model`` with :func:`repsim.torch.capture`."""

    out = {}
    with capture(model, layers) as cap, torch.no_grad():
        for xb in _batches(x, size):
            model(xb)
            for k, v in cap.pop().items():
                out.setdefault(k, []).append(v.double().numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def _dead(train: np.ndarray) -> int:
    """Features that are constant on the training samples (dead ReLU units)."""
    return int(np.count_nonzero(train.max(axis=0) == train.min(axis=0)))


def run_stitching(models: dict, untrained, data, batch: int):
    """Seed 001 on the ``fc`` features of every model and of the untrained CNN (the control, last row/column)."""

    features, heads, dead = {}, {}, {}
    for name, model in {**models, "untrained": untrained}.items():
        tr = _capture(model, data.x_train, ["fc"], batch)["fc"]
        te = _capture(model, data.x_test, ["fc"], batch)["fc"]
        features[name] = (tr, te)
        heads[name] = model.head
        dead[name] = _dead(tr)
    with warnings.catch_warnings():
        # Expected: dead ReLU units of fc are constant features, which the least-squares maps give weight 0
        # (counted in results["stitching"]["dead_features"]). Any other warning still surfaces.
        warnings.filterwarnings("ignore", message=r"affine_map: \d+ constant feature", category=RuntimeWarning)
        table = stitching_table(features, heads, (data.y_train, data.y_test))
    return table, features, dead


def run_projection(features: dict, models: dict, data, cfg: DemoConfig, full: bool = True):
    """Seed 000, §4.2: CNN A's fc features projected onto subspaces chosen by seven methods (CCA partner CNN B);
    with ``full=False`` only :data:`PAIR_METHODS` at n = n_c."""

    train_a, test_a = features["cnn_a"]
    train_b, _ = features["cnn_b"]
    return projection_curves(
        train_a,
        test_a,
        train_b,
        models["cnn_a"].head,
        (data.y_train, data.y_test),
        n_values=None if full else [data.n_classes],
        methods=ALL_METHODS if full else PAIR_METHODS,
        repeats=cfg.projection_repeats,
        random_state=cfg.seed,
    )


def run_layer_similarity(models: dict, untrained, data, batch: int):
    """Seed 002: layer × layer linear CKA, debiased CKA and RV2 between CNN A (rows) and CNN B (columns), with
    permutation p-values per cell → (report, control): ``control`` is the RV2 report of CNN A against the untrained
    CNN."""

    layers = [LayerSpec(name, reduce="pool") for name in CONV_LAYERS] + [LayerSpec("fc"), LayerSpec("head")]
    report = compare(
        {"cnn_a": models["cnn_a"], "cnn_b": models["cnn_b"]},
        _batches(data.x_test, batch),
        layers,
        metrics=("cka", "debiased_cka", "rv2"),
        progress=False,
        inference="moments",
    )
    control = compare({"cnn_a": models["cnn_a"], "untrained": untrained}, _batches(data.x_test, batch), layers,
                      metrics=("rv2",), progress=False)
    return report, control


def rv2_noise(seed: int = 0, n: int = NOISE_N, p: int = NOISE_P, draws: int = NOISE_DRAWS) -> dict:
    """Seed 002's statement "RV2 ≈ 0 for unrelated random matrices", checked on ``draws`` pairs of independent
    standard normal (n, p) matrices: mean centred and uncentred RV2."""
    rng = np.random.default_rng(seed)
    pairs = [(rng.standard_normal((n, p)), rng.standard_normal((n, p))) for _ in range(draws)]
    return {
        "n": n,
        "p": p,
        "draws": draws,
        "centred": float(np.mean([rv2_measure(x, y, center=True) for x, y in pairs])),
        "uncentred": float(np.mean([rv2_measure(x, y, center=False) for x, y in pairs])),
    }


def _match_specs():
    """The max-match layers: conv layers with each position a sample (channels are the neurons), fc flattened."""

    return [LayerSpec(name, reduce="positions") for name in CONV_LAYERS] + [LayerSpec("fc")]


def run_matches(models: dict, untrained, data, cfg: DemoConfig):
    """Seeds 003/004: max-match curves of every layer (CNN A vs CNN B, CNN A vs untrained) and simple matches."""

    specs = _match_specs()
    nets = {"cnn_a": models["cnn_a"], "cnn_b": models["cnn_b"], "untrained": untrained}
    stats = {layer: Moments() for layer in MATCH_LAYERS}
    caps = {name: capture(net, specs, label=name) for name, net in nets.items()}
    try:
        for cap in caps.values():
            cap.register()
        with torch.no_grad():
            for xb in _batches(data.x_test, cfg.analysis_batch):
                acts = {}
                for name, net in nets.items():
                    net(xb)
                    acts[name] = caps[name].pop()
                for layer in MATCH_LAYERS:
                    stats[layer].update({name: acts[name][layer] for name in nets})
    finally:
        for cap in caps.values():
            cap.remove()
    curves = {}
    for layer in MATCH_LAYERS:
        m = stats[layer]
        curves[layer] = {
            "trained": m.match_curve("cnn_a", "cnn_b", eps=cfg.eps),
            "untrained": m.match_curve("cnn_a", "untrained", eps=cfg.eps),
            "rows": m.n,
            "neurons": m.dims["cnn_a"],
        }
    simple, control = {}, {}
    for layer in cfg.simple_layers:
        for eps in cfg.simple_eps:
            label = f"{layer} @ eps={eps:g}"
            simple[label] = stats[layer].simple_matches("cnn_a", "cnn_b", eps)
            control[label] = stats[layer].simple_matches("cnn_a", "untrained", eps)
    return curves, simple, control


def _small_match_neurons(simple) -> int:
    """Neurons (of both layers) that belong to at least one small simple match (at most SMALL_MATCH neurons)."""

    xs, ys = set(), set()
    for m in simple:
        if m.size <= SMALL_MATCH:
            xs.update(int(i) for i in m.x_indices)
            ys.update(int(j) for j in m.y_indices)
    return len(xs) + len(ys)


def _matrix_dict(report, metric) -> dict:
    sm = report[metric]
    d = sm.to_dict()
    out = {"rows": [report.layer_of(r) for r in sm.rows], "cols": [report.layer_of(c) for c in sm.cols],
           "values": d["values"]}
    if d.get("p_values") is not None:
        out["p_values"] = d["p_values"]
    return out


def _train_models(cfg: DemoConfig, data, bar, use_cache: bool, pair: int = 0):
    """Train (or load) seed pair ``pair``'s models and build its untrained control → (models, untrained, info)."""
    models, info = {}, {}
    with _torch_threads(cfg.train_threads):
        for name, spec in cfg.specs(pair).items():
            bar.stage(f"pair {pair}: training {name}")
            inner, step = bar.epochs(name, spec.epochs)
            try:
                model, cached = load_or_train(spec, data, use_cache=use_cache, progress=step)
            finally:
                inner.close()
            models[name] = model
            info[name] = {
                "arch": spec.arch,
                "seed": spec.seed,
                "epochs": spec.epochs,
                "config": dict(spec.config),
                "lr": spec.lr,
                "weight_decay": spec.weight_decay,
                "batch_size": spec.batch_size,
                "from_cache": cached,
                "train_accuracy": accuracy(model, data.x_train, data.y_train),
                "test_accuracy": accuracy(model, data.x_test, data.y_test),
            }
    cnn_config = dict(cfg.specs(pair)["cnn_a"].config)
    seed = cfg.pair_seed(pair) + 3
    untrained = build("cnn", seed, length=data.length, n_classes=data.n_classes, **cnn_config).eval()
    info["untrained"] = {
        "arch": "cnn",
        "seed": seed,
        "epochs": 0,
        "config": cnn_config,
        "from_cache": False,
        "train_accuracy": accuracy(untrained, data.x_train, data.y_train),
        "test_accuracy": accuracy(untrained, data.x_test, data.y_test),
    }
    bar.done()
    return models, untrained, info


def _timed(bar, timing: dict, key: str, label: str, fn, *args, **kwargs):
    bar.stage(label)
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    timing[key] = timing.get(key, 0.0) + time.perf_counter() - t
    return out


def _run_pair(cfg: DemoConfig, pair: int, data, bar, timing: dict, use_cache: bool) -> dict:
    """Train (or load) seed pair ``pair`` and run every analysis on it → the repsim objects and its numbers."""
    t = time.perf_counter()
    models, untrained, info = _train_models(cfg, data, bar, use_cache, pair)
    timing["models"] = timing.get("models", 0.0) + time.perf_counter() - t
    tag = f"pair {pair}: "
    table, features, dead = _timed(bar, timing, "stitching", tag + "stitching (seed 001)", run_stitching, models,
                                   untrained, data, cfg.analysis_batch)
    curves = _timed(bar, timing, "projection", tag + "projection (seed 000)", run_projection, features, models, data,
                    cfg, full=pair == 0)
    report, control = _timed(bar, timing, "layer_similarity", tag + "CKA / dCKA / RV2 (seed 002)",
                             run_layer_similarity, models, untrained, data, cfg.analysis_batch)
    mcurves, simple, simple_ctrl = _timed(bar, timing, "matches", tag + "max / simple matches (seeds 003/004)",
                                          run_matches, models, untrained, data, cfg)
    bar.done()
    numbers = pair_results(cfg, pair, info, table, dead, curves, report, control, mcurves, simple, simple_ctrl)
    return {"numbers": numbers, "table": table, "curves": curves, "report": report, "mcurves": mcurves,
            "simple": simple}


def run(cfg: DemoConfig = DemoConfig(), use_cache: bool = True, progress: bool = True) -> DemoResult:
    """Run the whole demo on ``cfg.pairs`` seed pairs (no files written; see :func:`repsim.demo.report.write`)."""
    if int(cfg.pairs) < 1:
        raise ValueError(f"pairs must be at least 1, got {cfg.pairs}")
    timing = {}
    t_start = time.perf_counter()
    bar = _Progress(total=1 + 2 * cfg.pairs, enabled=progress)
    try:
        data = _timed(bar, timing, "data", "generating MNIST-1D", make_mnist1d, cfg.n_train, cfg.n_test,
                      cfg.data_seed)
        bar.done()
        with _torch_threads(cfg.train_threads):  # the forward passes too: tiny models, a shared machine
            runs = [_run_pair(cfg, k, data, bar, timing, use_cache) for k in range(cfg.pairs)]
    finally:
        bar.close()
    first = runs[0]
    results = _results(cfg, data, [r["numbers"] for r in runs])
    rv2s = [r["report"]["rv2"] for r in runs]
    agg = None
    if len(rv2s) >= 2:
        layers = results["layer_similarity"]["layers"]
        agg = aggregate([dataclasses.replace(m, rows=tuple(layers), cols=tuple(layers), p_values=None,
                                             null_mean=None, null_sd=None, inference=None) for m in rv2s])
        results["layer_similarity_aggregate"] = {"rv2": agg.to_dict(), "pairs": len(rv2s)}
    results["claims"] = evaluate(results)
    timing["total"] = time.perf_counter() - t_start
    results["timing_s"] = timing
    return DemoResult(cfg, results, first["table"], first["curves"], first["report"], first["mcurves"],
                      first["simple"], agg)


def _simple_dict(simple, control) -> dict:
    return {
        label: {
            "layer": label.split(" @ ")[0],
            "eps": float(s.eps),
            "pair": ["cnn_a", "cnn_b"],
            "count": len(s),
            "maximum_match_size": int(s.maximum.size),
            "neurons": int(s.maximum.n_x + s.maximum.n_y),
            "size_distribution": {str(k): int(v) for k, v in s.size_distribution().items()},
            "small_match_neurons": _small_match_neurons(s),
            "control_count": len(control[label]),
            "control_small_match_neurons": _small_match_neurons(control[label]),
        }
        for label, s in simple.items()
    }


def pair_results(cfg, pair, info, table, dead, curves, report, control, mcurves, simple, simple_ctrl) -> dict:
    """The numbers of one seed pair as a JSON-ready dict (what :mod:`~repsim.demo.claims` reads)."""
    rv2 = report["rv2"].values
    stitching = table.to_dict()
    stitching["dead_features"] = dead
    return {
        "pair": pair,
        "seed": cfg.pair_seed(pair),
        "models": info,
        "stitching": stitching,
        "projection": curves.to_dict(),
        "layer_similarity": {
            "rows_model": report.rows_model,
            "cols_model": report.cols_model,
            "layers": [layer["name"] for layer in report.layers[report.rows_model]],
            "reduction": {layer["name"]: layer["reduce"] for layer in report.layers[report.rows_model]},
            "n_samples": report.n_samples,
            **{metric: _matrix_dict(report, metric) for metric in report.metrics},
            "rv2_row_argmax": [int(j) for j in np.argmax(rv2, axis=1)],
            "control_rv2": _matrix_dict(control, "rv2"),
        },
        "max_match": {
            "eps": list(cfg.eps),
            "center": False,
            "reduction": {s.name: s.reduce for s in _match_specs()},
            "layers": {
                layer: {
                    "rows": int(c["rows"]),
                    "neurons": int(c["neurons"]),
                    "trained": [float(v) for v in c["trained"].similarity],
                    "untrained": [float(v) for v in c["untrained"].similarity],
                }
                for layer, c in mcurves.items()
            },
        },
        "simple_matches": _simple_dict(simple, simple_ctrl),
    }


def _results(cfg, data, pairs: list) -> dict:
    """Every number of the demo as a JSON-ready dict (what report.md, the figures and the claims read): seed pair 0's
    numbers at the top level, every pair's under ``"pairs"``."""
    first = pairs[0]
    return {
        "format": "repsim.demo",
        "version": 2,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
        "environment": {
            "repsim": __version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "cache_dir": cache_dir(),
        },
        "data": {
            "name": "MNIST-1D (Greydanus 2020), generated by mnist1d.data.make_dataset",
            "args": data.args,
            "n_train": int(data.x_train.shape[0]),
            "n_test": int(data.x_test.shape[0]),
            "length": data.length,
            "n_classes": data.n_classes,
        },
        **{k: first[k] for k in ("models", "stitching", "projection", "layer_similarity", "max_match",
                                 "simple_matches")},
        "pairs": pairs,
        "rv2_noise": rv2_noise(cfg.seed),
    }
