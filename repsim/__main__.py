"""Command line: ``repsim demo`` (the default), ``repsim example`` (a streamed layer × layer comparison) and
``repsim config``."""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from ._config import show_config
from .api import cka
from . import demo
from .moments import Moments


def _example(args) -> int:
    rng = np.random.default_rng(args.seed)
    n, batch, width = args.n, args.batch, args.width
    # A toy "network": three ReLU layers of a random MLP, and a second network that is a rotated, rescaled copy of
    # the first one's middle layer plus noise. Post-ReLU activations with biases have large means, the case that
    # breaks naive raw-moment formulas.
    W1, W2, W3 = (rng.normal(size=(width, width)) / np.sqrt(width) for _ in range(3))
    Q, _ = np.linalg.qr(rng.normal(size=(width, width)))
    m = Moments()
    t0 = time.perf_counter()
    kept = []
    for start in range(0, n, batch):
        x = rng.normal(size=(min(batch, n - start), width))
        h1 = np.maximum(x @ W1 + 3.0, 0)
        h2 = np.maximum(h1 @ W2 + 3.0, 0)
        h3 = np.maximum(h2 @ W3 + 3.0, 0)
        other = 2.5 * h2 @ Q + 0.5 * rng.normal(size=h2.shape) + 100.0
        m.update({"net1.layer1": h1, "net1.layer2": h2, "net1.layer3": h3, "net2.layer2": other})
        if start < args.check_rows:
            kept.append((h2, other))
    elapsed = time.perf_counter() - t0
    print(f"streamed n={m.n} samples of 4 sites ({sum(m.dims.values())} features) in {elapsed:.2f} s\n")
    for metric, opts in (("cka", {}), ("debiased_cka", {}), ("rv2", {})):
        print(m.matrix(metric, rows=["net1.layer1", "net1.layer2", "net1.layer3"], cols=["net2.layer2"], **opts))
        print()
    h2 = np.concatenate([k[0] for k in kept])
    other = np.concatenate([k[1] for k in kept])
    print(
        f"check: one-shot CKA on the first {len(h2)} rows = {cka(h2, other):.6f} "
        "(the streamed value above uses all rows)"
    )
    return 0


def _demo(args) -> int:
    if args.epochs is not None and args.epochs < 1:
        raise SystemExit("repsim demo: --epochs must be at least 1")

    try:
        demo.main(out=args.out, epochs=args.epochs, seed=args.seed, use_cache=not args.no_cache,
             progress=not args.quiet)
    except ImportError as exc:
        raise SystemExit(f"repsim demo needs the demo extra: pip install 'repsim-engine[demo]' ({exc})") from None
    return 0


def _config(args) -> int:

    show_config()
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="repsim", description="Exact, streaming representational similarity.")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser(
        "demo",
        help="(default) MNIST-1D, three small models trained on the spot, the seeds' analyses → report.md, figures",
        description="Generate MNIST-1D locally, train two small 1-D CNNs and an MLP on the CPU (weights cached), "
        "and run stitching (seed 001), projection curves (seed 000), CKA/dCKA/RV2 (seed 002) and max/simple "
        "matches (seeds 003/004). Writes report.md, results.json and PNG figures.",
    )
    demo.add_argument("--out", default="repsim-demo", help="output directory (default ./repsim-demo)")
    demo.add_argument("--epochs", type=int, default=None, help="training epochs of every model (default 50)")
    demo.add_argument("--seed", type=int, default=0, help="initialisation seed of CNN A; CNN B, the MLP and the "
                      "untrained CNN use seed+1, +2, +3 (default 0)")
    demo.add_argument("--no-cache", action="store_true", help="retrain the models (and overwrite the cached weights)")
    demo.add_argument("--quiet", action="store_true", help="no progress display")
    demo.set_defaults(func=_demo)
    ex = sub.add_parser("example", help="stream a synthetic 4-layer comparison and print CKA / debiased CKA / RV2")
    ex.add_argument("--n", type=int, default=200_000, help="number of samples (default 200000)")
    ex.add_argument("--batch", type=int, default=4096, help="batch size (default 4096)")
    ex.add_argument("--width", type=int, default=128, help="layer width (default 128)")
    ex.add_argument("--seed", type=int, default=0)
    ex.add_argument("--check-rows", type=int, default=8192, help=argparse.SUPPRESS)
    ex.set_defaults(func=_example)
    cfg = sub.add_parser("config", help="print the engines and libraries in use")
    cfg.set_defaults(func=_config)
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["demo"])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
