"""repsim.io and the file commands: every format reads back the arrays it stores, ids join (inner / strict / by row
order), the sample cap is seeded, and `repsim compare/stats/merge/report` equal the in-memory Moments."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import repsim
from repsim.__main__ import main
from repsim.io import IdTracker, compare_files, merge_stats, open_files, open_source


def _layers(rng, n, widths=(5, 3)):
    z = rng.normal(size=(n, 4))
    return {f"h{k}": (np.tanh(z @ rng.normal(size=(4, w))) + rng.normal(size=(n, w)) + 3).astype(np.float32)
            for k, w in enumerate(widths)}


def _write(path, layers, ids=None, fmt=None):
    fmt = fmt or os.path.splitext(str(path))[1]
    data = dict(layers)
    if ids is not None:
        data["ids"] = ids
    if fmt == ".npz":
        np.savez(path, **data)
    elif fmt == ".npzc":
        np.savez_compressed(path, **data)
    elif fmt == ".safetensors":
        st = pytest.importorskip("safetensors.numpy")
        st.save_file({k: np.ascontiguousarray(v) for k, v in data.items()}, str(path))
    elif fmt in (".parquet", ".arrow"):
        pa = pytest.importorskip("pyarrow")
        cols = {k: pa.FixedSizeListArray.from_arrays(pa.array(v.ravel()), v.shape[1]) for k, v in layers.items()}
        if ids is not None:
            cols["ids"] = pa.array(ids)
        table = pa.table(cols)
        if fmt == ".parquet":
            import pyarrow.parquet as pq
            pq.write_table(table, str(path), row_group_size=97)
        else:
            import pyarrow.ipc as ipc
            with ipc.new_file(str(path), table.schema) as w:
                w.write_table(table, max_chunksize=101)
    return path


FORMATS = [".npz", ".npzc", ".safetensors", ".parquet", ".arrow"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_reads_rows_in_any_order(tmp_path, rng, fmt):
    layers = _layers(rng, 400)
    path = _write(tmp_path / ("a" + (".npz" if fmt == ".npzc" else fmt)), layers, np.arange(400) * 3, fmt)
    src = open_source(path)
    assert src.n_rows == 400 and src.layers == {"h0": 5, "h1": 3}
    np.testing.assert_array_equal(src.ids, np.arange(400) * 3)
    for index in (slice(10, 250), rng.permutation(400)[:123], np.arange(399, -1, -1)):
        got = src.read(index)
        for k, v in layers.items():
            np.testing.assert_array_equal(got[k], v[index])
    src.close()


def test_npy_layer_and_sibling_ids(tmp_path, rng):
    x = rng.normal(size=(50, 4)).astype(np.float16)
    np.save(tmp_path / "m.npy", x)
    np.save(tmp_path / "m.ids.npy", np.array([f"s{k}" for k in range(50)]))
    src = open_source(tmp_path / "m.npy")
    assert src.layers == {"x": 4} and src.ids[3] == "s3"
    np.testing.assert_array_equal(src.read(np.array([7, 2]))["x"], x[[7, 2]])


def test_parquet_block_of_scalar_columns(tmp_path, rng):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    x = rng.normal(size=(30, 3))
    pq.write_table(pa.table({f"emb.{k}": x[:, k] for k in range(3)} | {"ids": np.arange(30)}), tmp_path / "t.parquet")
    src = open_source(tmp_path / "t.parquet")
    assert src.layers == {"emb": 3}
    np.testing.assert_array_equal(src.read(slice(0, 30))["emb"], x)


def test_compare_files_joins_shuffled_ids_and_equals_in_memory(tmp_path, rng):
    n = 600
    a, b = _layers(rng, n), _layers(rng, n, (4,))
    ids = np.arange(n) + 1000
    pa_, pb = rng.permutation(n), rng.permutation(n)
    _write(tmp_path / "a.safetensors", {k: v[pa_] for k, v in a.items()}, ids[pa_])
    keep = pb[: n - 17]  # b lacks 17 samples
    _write(tmp_path / "b.npz", {k: v[keep] for k, v in b.items()}, ids[keep])
    report = compare_files([tmp_path / "a.safetensors", tmp_path / "b.npz"], metrics=["cka", "rv2"], progress=False)
    inside = np.isin(ids, ids[keep])
    ref = repsim.Moments().update({**{f"a.{k}": v[inside] for k, v in a.items()},
                                   **{f"b.{k}": v[inside] for k, v in b.items()}})
    for m in ("cka", "rv2"):
        np.testing.assert_allclose(report[m].values, ref.matrix(m, rows=["a.h0", "a.h1"], cols=["b.h0"]).values,
                                   rtol=0, atol=1e-12)
    assert report.rows_model == "a" and report.cols_model == "b" and report.n == n - 17
    assert report.info["dropped"] == {"a": 17, "b": 0}
    with pytest.raises(ValueError, match="--strict"):
        compare_files([tmp_path / "a.safetensors", tmp_path / "b.npz"], metrics=["cka"], strict=True, progress=False)


def test_row_counts_must_match_without_ids(tmp_path, rng):
    _write(tmp_path / "a.npz", _layers(rng, 40))
    _write(tmp_path / "b.npz", _layers(rng, 41))
    with pytest.raises(ValueError, match="different numbers of rows"):
        open_files([tmp_path / "a.npz", tmp_path / "b.npz"])
    with pytest.raises(ValueError, match="no layer|none of the files"):
        open_files([tmp_path / "a.npz"], layers=["nope"])


def test_sample_cap_is_seeded_and_independent_of_file_order(tmp_path, rng):
    n = 300
    a = _layers(rng, n)
    ids = np.arange(n)
    p1, p2 = rng.permutation(n), rng.permutation(n)
    _write(tmp_path / "x.npz", {k: v[p1] for k, v in a.items()}, ids[p1])
    _write(tmp_path / "y.npz", {k: v[p2] for k, v in a.items()}, ids[p2])
    f1 = open_files([tmp_path / "x.npz"], max_samples=50, seed=4)
    f2 = open_files([tmp_path / "y.npz"], max_samples=50, seed=4)
    f3 = open_files([tmp_path / "y.npz"], max_samples=50, seed=5)
    assert set(f1.alignment.ids) == set(f2.alignment.ids) != set(f3.alignment.ids)
    assert f1.alignment.n == 50 and f1.alignment.capped == 250
    for f in (f1, f2, f3):
        f.close()


def test_id_tracker_refuses_overlapping_shards(tmp_path):
    a = IdTracker().update(np.arange(10)).update(np.arange(10, 20))
    b = IdTracker().update(np.array([25, 19, 30]))
    with pytest.raises(ValueError, match="overlap: 1"):
        a.merge(b)
    s = IdTracker().update(np.array(["u", "v"]))
    s.save(tmp_path / "t.npz", {"k": 1})
    back = IdTracker.load(tmp_path / "t.npz")
    assert back.digest == s.digest and back.meta == {"k": 1}
    with pytest.raises(ValueError, match="twice"):
        IdTracker().update(np.array([1, 2, 1])).hashes  # noqa: B018


def test_cli_map_reduce_equals_one_pass_and_refuses_overlap(tmp_path, rng):
    n = 400
    a, b = _layers(rng, n), _layers(rng, n, (6,))
    ids = np.arange(n)
    for k, part in enumerate((slice(0, 150), slice(150, 400))):
        _write(tmp_path / f"a_{k}.npz", {l: v[part] for l, v in a.items()}, ids[part])
        _write(tmp_path / f"b_{k}.npz", {l: v[part][::-1] for l, v in b.items()}, ids[part][::-1])
        assert main(["stats", str(tmp_path / f"a_{k}.npz"), str(tmp_path / f"b_{k}.npz"), "--names", "a", "b",
                     "--out", str(tmp_path / f"s{k}.npz"), "--quiet"]) == 0
    assert main(["merge", str(tmp_path / "s0.npz"), str(tmp_path / "s1.npz"), "--out", str(tmp_path / "all.npz")]) == 0
    assert main(["merge", str(tmp_path / "s0.npz"), str(tmp_path / "s0.npz"), "--out", str(tmp_path / "x.npz")]) == 2
    assert main(["report", str(tmp_path / "all.npz"), "--metrics", "cka", "pwcca", "--out", str(tmp_path / "rep"),
                 "--no-plots"]) == 0
    doc = json.loads((tmp_path / "rep" / "report.json").read_text())
    ref = repsim.Moments().update({**{f"a.{k}": v for k, v in a.items()}, **{f"b.{k}": v for k, v in b.items()}})
    want = ref.matrix("cka", rows=["a.h0", "a.h1"], cols=["b.h0"]).values
    np.testing.assert_allclose(np.array(doc["matrices"]["cka"]["values"], dtype=float), want, rtol=0, atol=1e-12)
    assert doc["rows_model"] == "a" and doc["n"] == n
    with pytest.raises(ValueError, match="overlap"):
        merge_stats([tmp_path / "s1.npz", tmp_path / "all.npz"])


def test_cli_compare_writes_the_report(tmp_path, rng, capsys):
    _write(tmp_path / "a.npz", _layers(rng, 200))
    _write(tmp_path / "b.npz", _layers(rng, 200, (2,)))
    assert main(["compare", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "--metrics", "cka", "--out",
                 str(tmp_path / "r"), "--quiet"]) == 0
    assert (tmp_path / "r" / "report.json").exists() and (tmp_path / "r" / "cka.csv").exists()
    assert main(["compare", str(tmp_path / "missing.npz")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_cli_usage_version_and_config_are_fast():
    out = subprocess.run([sys.executable, "-m", "repsim"], capture_output=True, text=True, check=True).stdout
    assert "usage: repsim" in out and "repsim compare" in out
    out = subprocess.run([sys.executable, "-m", "repsim", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"repsim {repsim.__version__}"
    code = ("import sys; from repsim.__main__ import main; main(['config']); "
            "assert not {'torch', 'pyarrow', 'matplotlib', 'repsim.io', 'repsim.demo'} & set(sys.modules), "
            "sorted({'torch', 'pyarrow', 'matplotlib', 'repsim.io', 'repsim.demo'} & set(sys.modules))")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_cli_example_prints_one_table(capsys):
    assert main(["example", "--n", "3000", "--batch", "1000", "--width", "8", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.count("net1.layer2") == 1 and "debiased CKA" in out and "RV2" in out


def test_inference_from_files_and_from_saved_statistics(tmp_path, rng):
    """compare_files(inference="moments") and `repsim compare/report --inference moments`: every tested cell's
    p-value equals matrix_test on the in-memory statistics, in one pass and in several; untested measures carry
    none."""
    from repsim.inference import matrix_test

    n = 300
    a, b = _layers(rng, n), _layers(rng, n, (4, 2))
    _write(tmp_path / "a.npz", a)
    _write(tmp_path / "b.npz", b)
    paths = [tmp_path / "a.npz", tmp_path / "b.npz"]
    ref = repsim.Moments().update({**{f"a.{k}": v for k, v in a.items()}, **{f"b.{k}": v for k, v in b.items()}})
    rows, cols = ["a.h0", "a.h1"], ["b.h0", "b.h1"]
    one = compare_files(paths, metrics=["cka"], progress=False)
    budget = one.plan.peak - 8 * 5 * 4  # the largest cross block (a.h0 × b.h0) no longer fits beside the rest
    for kw in ({}, {"max_memory": budget}):
        report = compare_files(paths, metrics=["cka", "rv2", "cca"], inference="moments", progress=False, **kw)
        assert report.plan.n_passes == (2 if kw else 1) or (kw and report.plan.n_passes > 2)
        for m in ("cka", "rv2"):
            want = matrix_test(ref, m, rows=rows, cols=cols)
            np.testing.assert_allclose(report[m].p_values, want.p_values, rtol=1e-8, atol=1e-300)
            np.testing.assert_allclose(report[m].null_sd, want.null_sd, rtol=1e-9)
            assert "exact moments" in report[m].inference
        assert report["cca"].p_values is None
    assert main(["compare", *map(str, paths), "--metrics", "cka", "--inference", "moments", "--out",
                 str(tmp_path / "r"), "--quiet", "--no-plots"]) == 0
    assert (tmp_path / "r" / "cka.p_values.csv").exists()
    assert main(["stats", *map(str, paths), "--out", str(tmp_path / "s.npz"), "--quiet"]) == 0
    assert main(["report", str(tmp_path / "s.npz"), "--metrics", "cka", "--inference", "moments", "--out",
                 str(tmp_path / "r2"), "--no-plots"]) == 0
    doc = json.loads((tmp_path / "r2" / "report.json").read_text())
    np.testing.assert_allclose(np.array(doc["matrices"]["cka"]["p_values"], dtype=float),
                               matrix_test(ref, "cka", rows=rows, cols=cols).p_values, rtol=1e-8)
    with pytest.raises(ValueError, match="inference='moments' covers"):
        compare_files(paths, metrics=["cca"], inference="moments", progress=False)
    with pytest.raises(ValueError, match="inference must be"):
        compare_files(paths, metrics=["cka"], inference="monte_carlo", progress=False)
