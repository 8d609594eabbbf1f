"""Shape metrics and ReSi's closed forms (docs/math.md §9): repsim's statistics-based values against the naive
float64 oracles of tests/naive_shape.py and, when a copy of netrep is found, against netrep's ``LinearMetric`` and
``PermutationMetric``; timings of one pair (one-shot arrays) and of a site × site matrix (per-site factorisations
memoised), against netrep's ``fit_score`` per pair.

    python bench/report_shape.py                       # the default sizes (n = 2,000; widths 64, 128, 256)
    python bench/report_shape.py --quick               # seconds (the smoke test runs this)
    python bench/report_shape.py --peers /work/peers   # where a copy of netrep lives (also REPSIM_PEERS)

netrep is only read from a copy on disk (``<peers>/netrep``), never installed or imported from the environment.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import repsim

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
import naive_shape  # noqa: E402  (the test oracles)

CASES = [  # (measure, options, oracle, netrep spec or None)
    ("shape_metric", {"alpha": 0.0}, lambda X, Y: naive_shape.shape_metric(X, Y, 0.0), ("linear", 0.0, "angular")),
    ("shape_metric", {"alpha": 0.5}, lambda X, Y: naive_shape.shape_metric(X, Y, 0.5), ("linear", 0.5, "angular")),
    ("shape_metric", {"alpha": 1.0}, lambda X, Y: naive_shape.shape_metric(X, Y, 1.0), ("linear", 1.0, "angular")),
    ("shape_metric", {"alpha": 0.5, "score": "euclidean"},
     lambda X, Y: naive_shape.shape_metric(X, Y, 0.5, "euclidean"), ("linear", 0.5, "euclidean")),
    ("permutation_metric", {}, naive_shape.permutation_procrustes, ("perm", None, "angular")),
    ("bures_distance", {}, naive_shape.bures_distance, ("linear", 1.0, "euclidean")),
    ("hard_correlation_match", {}, naive_shape.hard_correlation_match, None),
    ("soft_correlation_match", {}, naive_shape.soft_correlation_match, None),
    ("eigenspace_overlap", {}, naive_shape.eigenspace_overlap, None),
    ("gulp", {}, naive_shape.gulp, None),
    ("linear_r2", {}, naive_shape.linear_regression, None),
    ("magnitude_difference", {}, naive_shape.magnitude_difference, None),
]


def load_netrep(peers):
    path = Path(peers) / "netrep"
    if not (path / "metrics" / "linear.py").exists():
        return None
    sys.path.insert(0, str(Path(peers)))
    try:
        from netrep.metrics import LinearMetric, PermutationMetric
    except ImportError as e:  # its own dependencies (scikit-learn, tqdm) missing
        print(f"netrep copy at {path} not importable ({e}); comparing with the oracles only")
        return None
    return {"linear": LinearMetric, "perm": PermutationMetric}


def netrep_value(lib, spec, X, Y):
    kind, alpha, score = spec
    if kind == "linear":
        return float(lib["linear"](alpha=alpha, score_method=score).fit_score(X, Y))
    return float(lib["perm"](score_method=score).fit_score(X, Y))


def layers(rng, n, widths, mean):
    Z = rng.normal(size=(n, 8))
    return {f"l{i}": Z @ rng.normal(size=(8, w)) + 0.5 * rng.normal(size=(n, w)) + mean * rng.normal(size=(1, w))
            for i, w in enumerate(widths)}


def timed(f):
    t = time.perf_counter()
    v = f()
    return v, time.perf_counter() - t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--peers", default=os.environ.get("REPSIM_PEERS", "/work/peers"))
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args(argv)
    n, widths, oracle_n = ((300, (8, 12, 16), 120) if a.quick else (2000, (64, 128, 256), 300))
    lib = load_netrep(a.peers)
    rng = np.random.default_rng(0)
    out = {"n": n, "widths": list(widths), "netrep": lib is not None, "rows": []}
    small = layers(rng, oracle_n, (7, 11), 1e3)  # oracle agreement on data with a large mean (n × n oracles)
    data = layers(rng, n, widths, 10.0)
    m = repsim.Moments().update(data)
    sites = list(data)
    for name, options, oracle, spec in CASES:
        X, Y = small["l0"], small["l1"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ours = repsim.measure(name)(X, Y, **options)
            row = dict(measure=name, options=options, oracle_diff=abs(ours - oracle(X, Y)))
            if lib is not None and spec is not None:
                row["netrep_diff"] = abs(ours - netrep_value(lib, spec, X, Y))
            A, B = data[sites[-2]], data[sites[-1]]
            _, row["pair_s"] = timed(lambda: repsim.measure(name)(A, B, **options))
            _, row["matrix_s"] = timed(lambda: m.matrix(name, **options))
            if lib is not None and spec is not None:
                pairs = [(s, t) for s in sites for t in sites]
                _, row["netrep_matrix_s"] = timed(lambda: [netrep_value(lib, spec, data[s], data[t]) for s, t in pairs])
        out["rows"].append(row)
        extra = (f" | netrep Δ {row['netrep_diff']:.1e}, netrep matrix {row['netrep_matrix_s']:.3f} s"
                 if "netrep_diff" in row else "")
        print(f"{name:24s} {json.dumps(options):40s} oracle Δ {row['oracle_diff']:.1e} | pair {row['pair_s']:.4f} s, "
              f"{len(sites)}×{len(sites)} matrix {row['matrix_s']:.3f} s{extra}")
    out["worst_oracle_diff"] = max(r["oracle_diff"] for r in out["rows"])
    out["worst_netrep_diff"] = max((r["netrep_diff"] for r in out["rows"] if "netrep_diff" in r), default=None)
    w = out["worst_netrep_diff"]
    print(f"worst |repsim − oracle| = {out['worst_oracle_diff']:.1e}; worst |repsim − netrep| = "
          f"{'no netrep copy' if w is None else f'{w:.1e}'}")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
