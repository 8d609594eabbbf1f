"""ReSi (Klabunde et al., mklabunde/resi): how many of its measures repsim reaches by name, and repsim's value of each
against ReSi's own implementation on the same arrays (same call order), with the time of one pair.

    python bench/report_resi.py                        # coverage; agreement when ReSi imports (n up to 2,000)
    python bench/report_resi.py --quick                # seconds
    python bench/report_resi.py --coverage             # the count only
    python bench/report_resi.py --peers /work/peers    # where the copy of ReSi lives (also REPSIM_PEERS)

ReSi is only read from a copy on disk (``<peers>/resi``, put on sys.path for the import), never installed; it needs
scikit-learn, einops, loguru and torch, which repsim does not depend on (put them on PYTHONPATH, e.g. a
``pip install --target`` folder, to run the agreement part). The ids and repsim names come from the registry
(``repsim.measure(<ReSi class name>)``); tests/naive_resi.py lists ReSi's classes.
"""
from __future__ import annotations

import argparse
import importlib
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
import naive_resi  # noqa: E402  (ReSi's class list and the Gram-space oracles)


def coverage():
    """{ReSi class name: repsim name or None}."""
    out = {}
    for rid in naive_resi.RESI_MEASURES:
        try:
            out[rid] = repsim.measure(rid).name
        except ValueError:
            out[rid] = None
    return out


def load_resi(peers):
    path = Path(peers) / "resi"
    if not (path / "measures" / "__init__.py").is_file():
        print(f"no copy of ReSi at {path}; coverage only")
        return None
    sys.path.insert(0, str(Path(peers)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            measures = importlib.import_module("resi.measures")
    except ImportError as e:
        print(f"ReSi at {path} does not import ({e}); coverage only")
        return None
    finally:
        sys.path.remove(str(Path(peers)))
    try:
        from loguru import logger
        logger.remove()
    except ImportError:  # pragma: no cover
        pass
    return measures.ALL_MEASURES


def datasets(rng, quick):
    """(label, X, Y): a large common mean, no mean, wide layers (n < p) with a small spread, one feature."""

    def pair(n, p, q, mean, scale=1.0, k=4):
        Z = rng.normal(size=(n, k))
        X = scale * (Z @ rng.normal(size=(k, p)) + 0.5 * rng.normal(size=(n, p))) + mean * rng.normal(size=(1, p))
        Y = scale * (Z @ rng.normal(size=(k, q)) + 0.5 * rng.normal(size=(n, q))) + mean * rng.normal(size=(1, q))
        return X, Y

    return [("n=200 p=7 q=9 mean 1e3", *pair(200, 7, 9, 1e3)),
            ("n=150 p=q=6 mean 0", *pair(150, 6, 6, 0.0)),
            ("n=60 p=90 q=70 mean 10 spread 0.05", *pair(60, 90, 70, 10.0, 0.05)),
            # one feature: every cosine is ±1, so the k-NN measures depend on how ties are broken (repsim: the
            # lower index; ReSi: sklearn's sort) and differ there
            ("n=80 p=12 q=1 mean 5 spread 0.2", *pair(80, 12, 1, 5.0, 0.2)),
            *([] if quick else [("n=500 p=64 q=32 mean 3", *pair(500, 64, 32, 3.0))])]


def timed(f):
    t = time.perf_counter()
    v = f()
    return v, time.perf_counter() - t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--coverage", action="store_true", help="print the coverage count and stop")
    ap.add_argument("--peers", default=os.environ.get("REPSIM_PEERS", "/work/peers"))
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args(argv)
    cov = coverage()
    reached = sum(v is not None for v in cov.values())
    out = {"coverage": cov, "reached": reached, "classes": len(cov)}
    print(f"ReSi measures reachable by name: {reached} of {len(cov)} classes "
          f"(missing: {', '.join(k for k, v in cov.items() if v is None)})")
    if a.coverage:
        return out
    lib = load_resi(a.peers)
    if lib is None:
        return out
    if set(lib) != set(cov):
        print(f"note: ReSi's ALL_MEASURES differs from tests/naive_resi.py: {sorted(set(lib) ^ set(cov))}")
    rng = np.random.default_rng(0)
    data = datasets(rng, a.quick)
    rows = []
    for rid, name in cov.items():
        if name is None or rid not in lib:
            continue
        row = {"resi": rid, "repsim": name, "max_abs_diff": 0.0, "max_rel_diff": 0.0, "cases": []}
        for label, X, Y in data:
            case = {"data": label}
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    want, case["resi_s"] = timed(lambda: float(lib[rid](X, Y, shape="nd")))
                    m = repsim.measure(rid)
                    got, case["repsim_s"] = timed(lambda: m.spec.matrix_value(m(X, Y)))
            except Exception as e:  # a measure one side refuses for these shapes
                case["error"] = f"{type(e).__name__}: {e}"
                row["cases"].append(case)
                continue
            case.update(resi=want, repsim=got, abs_diff=abs(got - want))
            oracle = getattr(naive_resi, name, None)  # the Gram-space measures' float64 oracles
            if oracle is not None:
                case["oracle_abs_diff"] = abs(got - oracle(X, Y))
                row["max_oracle_abs_diff"] = max(row.get("max_oracle_abs_diff", 0.0), case["oracle_abs_diff"])
            if np.isfinite(want) and np.isfinite(got):
                row["max_abs_diff"] = max(row["max_abs_diff"], abs(got - want))
                row["max_rel_diff"] = max(row["max_rel_diff"], abs(got - want) / max(abs(want), 1e-300))
            row["cases"].append(case)
        rows.append(row)
        errs = [c for c in row["cases"] if "error" in c]
        oracle = f"; oracle |Δ| {row['max_oracle_abs_diff']:.1e}" if "max_oracle_abs_diff" in row else ""
        print(f"{rid:42s} → {name:26s} max |Δ| {row['max_abs_diff']:.1e} (relative {row['max_rel_diff']:.1e}){oracle}"
              + (f"; {len(errs)} case(s) refused: {errs[0]['error'][:80]}" if errs else ""))
    out["rows"] = rows
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
