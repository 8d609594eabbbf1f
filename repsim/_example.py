"""``repsim example``: a streamed synthetic comparison of four layers — CKA, debiased CKA and RV2 side by side, and a
one-shot check (NumPy only, no torch)."""
from __future__ import annotations

import sys
import time

import numpy as np
from tqdm.std import tqdm

from .api import cka
from .moments import Moments


def run(args) -> int:
    """Run ``repsim example`` with the parsed command-line ``args`` (n, batch, width, seed, quiet, check_rows)."""
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
    bar = tqdm(total=n, desc="repsim example", unit="samples", unit_scale=True, file=sys.stderr,
               disable=args.quiet, mininterval=0.25)
    for start in range(0, n, batch):
        x = rng.normal(size=(min(batch, n - start), width))
        h1 = np.maximum(x @ W1 + 3.0, 0)
        h2 = np.maximum(h1 @ W2 + 3.0, 0)
        h3 = np.maximum(h2 @ W3 + 3.0, 0)
        other = 2.5 * h2 @ Q + 0.5 * rng.normal(size=h2.shape) + 100.0
        m.update({"net1.layer1": h1, "net1.layer2": h2, "net1.layer3": h3, "net2.layer2": other})
        if start < args.check_rows:
            kept.append((h2, other))
        bar.update(x.shape[0])
    bar.close()
    elapsed = time.perf_counter() - t0
    print(f"streamed n={m.n:,} samples of 4 sites ({sum(m.dims.values())} features) in {elapsed:.2f} s; "
          "similarity of each net1 layer to net2.layer2:\n")
    rows = ["net1.layer1", "net1.layer2", "net1.layer3"]
    cols = {"CKA": ("cka", {}), "debiased CKA": ("debiased_cka", {}), "RV2": ("rv2", {})}
    values = {k: m.matrix(metric, rows=rows, cols=["net2.layer2"], **o).values[:, 0] for k, (metric, o) in cols.items()}
    print(f"{'':<13}" + "".join(f"{k:>14}" for k in cols))
    for i, r in enumerate(rows):
        print(f"{r:<13}" + "".join(f"{values[k][i]:>14.6f}" for k in cols))
    gap = float(np.max(np.abs(values["CKA"] - values["debiased CKA"])))
    print(f"\nCKA and its debiased / RV2 forms differ by at most {gap:.1e} here: their bias corrections are of order "
          f"p/n = {width}/{n:,}; with n ≈ p they differ a lot (try --n 500).")
    h2 = np.concatenate([k[0] for k in kept])
    other = np.concatenate([k[1] for k in kept])
    print(
        f"check: one-shot CKA on the first {len(h2)} rows = {cka(h2, other):.6f} "
        "(the streamed value above uses all rows)"
    )
    return 0
