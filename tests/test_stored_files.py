"""Loading a saved file never accepts an inconsistent file and never raises a low-level exception (issue 14.5).

For each loader (``Moments.load`` joint and pair-blocked, ``GramMoments.load``, ``MinibatchCKA.load``,
``repsim.checkpoint.load_checkpoint``): every field rewritten into an inconsistent value raises ValueError naming the
file and the field; bit flips, truncations and an empty file either load the very same statistics or raise
ValueError naming the file — never another exception type, never a silently different object.
"""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

import repsim
from repsim._minibatch import MinibatchCKA
from repsim.checkpoint import load_checkpoint, save_checkpoint
from repsim.gram import GramMoments


# ---------------------------------------------------------------------------------------------------- good files
def _moments(pairs="all") -> repsim.Moments:
    rng = np.random.default_rng(0)
    m = repsim.Moments(pairs=pairs)
    for k in range(3):
        m.update({"a": rng.normal(size=(20, 4)) + 3.0 * k, "b": rng.normal(size=(20, 3)),
                  "c": rng.normal(size=(20, 2))})
    return m


def _blocked() -> repsim.Moments:
    return _moments(pairs=[("a", "b"), ("a", "c")])


def _gram() -> GramMoments:
    rng = np.random.default_rng(1)
    g = GramMoments(12, sites=["x", "y", "z"], tile=5)  # site z stays without features
    g.update_features({"x": rng.normal(size=(12, 30))})
    g.update_features({"x": rng.normal(size=(12, 10)) + 2.0, "y": rng.normal(size=(12, 7))})
    return g


def _minibatch() -> MinibatchCKA:
    gen = torch.Generator().manual_seed(2)
    mb = MinibatchCKA(8)
    mb.update({"a": torch.randn(21, 4, generator=gen, dtype=torch.float64),
               "b": torch.randn(21, 3, generator=gen, dtype=torch.float32)})
    return mb  # 2 chunks, 5 rows pending (float64 and float32)


BUILDERS = {"moments": _moments, "blocked": _blocked, "gram": _gram, "minibatch": _minibatch}
LOADERS = {"moments": repsim.Moments.load, "blocked": repsim.Moments.load, "gram": GramMoments.load,
           "minibatch": MinibatchCKA.load}


def _fields(path) -> dict:
    with np.load(path) as d:
        return {k: d[k] for k in d.files}


def _signature(kind: str, obj, tmp_path) -> tuple:
    """Everything a loaded object holds: its re-saved fields, and a few metrics."""
    again = tmp_path / "again.npz"
    obj.save(again)
    fields = _fields(again)
    if kind in ("moments", "blocked"):
        metrics = (obj.n, obj.sites, obj.dims, obj.cka("a", "b"), obj.cka("a", "b", debiased=True),
                   tuple(obj.mean("a")))
    elif kind == "gram":
        metrics = (obj.n, obj.sites, obj.dims, obj.blocks, obj.cka("x", "y"))
    else:
        metrics = (obj.n, obj.sites, obj.n_pending, tuple(obj.info.values()))
    return metrics, fields


def _same(sig_a, sig_b) -> bool:
    (metrics_a, fields_a), (metrics_b, fields_b) = sig_a, sig_b
    return (metrics_a == metrics_b and fields_a.keys() == fields_b.keys()
            and all(fields_a[k].dtype == fields_b[k].dtype and np.array_equal(fields_a[k], fields_b[k])
                    for k in fields_a))


@pytest.fixture(params=list(BUILDERS))
def good(request, tmp_path):
    kind = request.param
    path = tmp_path / f"{kind}.npz"
    BUILDERS[kind]().save(path)
    return kind, path


def _refused(kind: str, path, *names: str):
    """Loading ``path`` raises ValueError naming the file and every one of ``names``."""
    with pytest.raises(ValueError) as info:
        LOADERS[kind](path)
    message = str(info.value)
    assert repr(str(path)) in message, message
    for name in names:
        assert name in message, (name, message)
    return message


# ---------------------------------------------------------------------------------------------------- (a) fields
def _variants(kind: str, f: dict) -> list:
    """(description, field changes, text the error must hold) for the good fields ``f`` of one file kind."""
    nan = lambda a: np.where(np.arange(a.size).reshape(a.shape) == a.size // 2, np.nan, a)  # noqa: E731
    inf = lambda a: np.where(np.arange(a.size).reshape(a.shape) == 0, np.inf, a)  # noqa: E731
    out = [
        ("wrong version", {"version": np.array(7)}, "version 7"),
        ("float version", {"version": np.array(1.0)}, "'version'"),
        ("no version", {"version": None}, "version -1"),
        ("other format", {"format": np.array("repsim.Other")}, "format"),
        ("unknown field", {"junk": np.zeros(3)}, "'junk'"),
        ("sites repeated", {"sites": np.array([f["sites"][0]] * len(f["sites"]))}, "'sites'"),
        ("empty site name", {"sites": np.array(["", *f["sites"][1:]])}, "'sites'"),
        ("sites not names", {"sites": np.arange(len(f["sites"]))}, "'sites'"),
        ("sites 2-D", {"sites": f["sites"].reshape(1, -1)}, "'sites'"),
        ("sites missing", {"sites": None}, "'sites'"),
    ]
    if kind in ("moments", "blocked"):
        stats = "G_upper" if kind == "moments" else "blocks"
        last_off = f[stats].copy()
        last_off[-1] += 1
        out += [
            ("n too large", {"n": f["n"] + 1}, "'n'"),
            ("n negative", {"n": np.array(-60)}, "'n'"),
            ("n zero", {"n": np.array(0)}, "'n'"),
            ("n float", {"n": np.array(60.0)}, "'n'"),
            ("n vector", {"n": np.array([60, 60])}, "'n'"),
            ("n text", {"n": np.array("60")}, "'n'"),
            ("n missing", {"n": None}, "'n'"),
            ("count of the statistics", {stats: last_off}, "'n'"),
            ("dims short", {"dims": f["dims"][:-1]}, "'dims'"),
            ("dims zero", {"dims": np.array([4, 0, 2])}, "'dims'"),
            ("dims negative", {"dims": np.array([4, -3, 2])}, "'dims'"),
            ("dims float", {"dims": f["dims"].astype(float)}, "'dims'"),
            ("dims wider", {"dims": np.array([5, 3, 2])}, "'reference'"),
            ("reference NaN", {"reference": nan(f["reference"])}, "'reference'"),
            ("reference inf", {"reference": inf(f["reference"])}, "'reference'"),
            ("reference short", {"reference": f["reference"][:-1]}, "'reference'"),
            ("reference ints", {"reference": f["reference"].astype(np.int64)}, "'reference'"),
            ("reference missing", {"reference": None}, "'reference'"),
            ("statistics NaN", {stats: nan(f[stats])}, f"'{stats}'"),
            ("statistics inf", {stats: inf(f[stats])}, f"'{stats}'"),
            ("statistics short", {stats: f[stats][:-1]}, f"'{stats}'"),
            ("statistics 2-D", {stats: f[stats].reshape(1, -1)}, f"'{stats}'"),
            ("statistics float32", {stats: f[stats].astype(np.float32)}, f"'{stats}'"),
            ("statistics missing", {stats: None}, f"'{stats}'"),
            ("batches negative", {"batches": np.array(-1)}, "'batches'"),
            ("batches float", {"batches": np.array(3.0)}, "'batches'"),
        ]
    if kind == "moments":
        out += [("pairs in a joint file", {"pairs": np.array([[0, 1]])}, "'pairs'")]
    if kind == "blocked":
        out += [
            ("pair reversed", {"pairs": np.array([[1, 0], [0, 2]])}, "'pairs'"),
            ("pair repeated", {"pairs": np.array([[0, 1], [0, 1]])}, "'pairs'"),
            ("pairs out of order", {"pairs": np.array([[0, 2], [0, 1]])}, "'pairs'"),
            ("pair of one site", {"pairs": np.array([[1, 1], [0, 2]])}, "'pairs'"),
            ("pair out of range", {"pairs": np.array([[0, 1], [0, 3]])}, "'pairs'"),
            ("pairs float", {"pairs": f["pairs"].astype(float)}, "'pairs'"),
            ("pairs 1-D", {"pairs": f["pairs"].ravel()}, "'pairs'"),
            ("other pair", {"pairs": np.array([[0, 1], [1, 2]])}, "'blocks'"),
            ("pairs missing", {"pairs": None}, "'pairs'"),
            ("joint matrix in a blocked file", {"G_upper": np.zeros(3)}, "'G_upper'"),
        ]
    if kind == "gram":
        negative_m = f["m"].copy()
        negative_m[0] = -1.0
        out += [
            ("n too large", {"n": f["n"] + 1}, "'n'"),
            ("n negative", {"n": np.array(-12)}, "'n'"),
            ("n float", {"n": np.array(12.0)}, "'n'"),
            ("n missing", {"n": None}, "'n'"),
            ("tile zero", {"tile": np.array(0)}, "'tile'"),
            ("tile beyond n", {"tile": np.array(13)}, "'tile'"),
            ("other tile", {"tile": np.array(7)}, "'tile'"),
            ("dims short", {"dims": f["dims"][:-1]}, "'dims'"),
            ("dims negative", {"dims": np.array([40, -7, 0])}, "'dims'"),
            ("dims 0 for a site with a Gram", {"dims": np.array([0, 7, 0])}, "'dims'"),
            ("m NaN", {"m": nan(f["m"])}, "'m'"),
            ("m negative", {"m": negative_m}, "'m'"),
            ("m short", {"m": f["m"][:-1]}, "'m'"),
            ("gram NaN", {"gram_0": nan(f["gram_0"])}, "'gram_0'"),
            ("gram short", {"gram_1": f["gram_1"][:-1]}, "'gram_1'"),
            ("gram missing", {"gram_2": None}, "'gram_2'"),
            ("gram ints", {"gram_0": f["gram_0"].astype(np.int64)}, "'gram_0'"),
            ("gram float32", {"gram_0": f["gram_0"].astype(np.float32)}, "'gram_0'"),
            ("v inf", {"v_1": inf(f["v_1"])}, "'v_1'"),
            ("v missing", {"v_0": None}, "'v_0'"),
            ("one Gram too many", {"gram_3": f["gram_0"], "v_3": f["v_0"]}, "'gram_3'"),
            ("blocks negative", {"blocks": np.array(-1)}, "'blocks'"),
            ("blocks beyond the features", {"blocks": np.array(48)}, "'blocks'"),
            ("blocks zero", {"blocks": np.array(0)}, "'blocks'"),
        ]
    if kind == "minibatch":
        out += [
            ("batch size 3", {"batch_size": np.array(3)}, "'batch_size'"),
            ("batch size float", {"batch_size": np.array(8.0)}, "'batch_size'"),
            ("batch size below the pending rows", {"batch_size": np.array(5)}, "'pending_0'"),
            ("precision unknown", {"precision": np.array("fp16")}, "'precision'"),
            ("precision number", {"precision": np.array(64)}, "'precision'"),
            ("hsic NaN", {"hsic": nan(f["hsic"])}, "'hsic'"),
            ("hsic shape", {"hsic": f["hsic"][:1]}, "'hsic'"),
            ("hsic float32", {"hsic": f["hsic"].astype(np.float32)}, "'hsic'"),
            ("pending text", {"pending_0": f["pending_0"].astype(str)}, "'pending_0'"),
            ("counts negative", {"counts": np.array([2, -21, 16])}, "'counts'"),
            ("counts short", {"counts": f["counts"][:2]}, "'counts'"),
            ("counts float", {"counts": f["counts"].astype(float)}, "'counts'"),
            ("rows fewer than used", {"counts": np.array([2, 10, 16])}, "'counts'"),
            ("rows fewer than used and pending", {"counts": np.array([2, 20, 16])}, "'counts'"),
            ("chunks too few for the rows used", {"counts": np.array([1, 21, 16])}, "'counts'"),
            ("chunks too many for the rows used", {"counts": np.array([5, 21, 16])}, "'counts'"),
            ("sums without a chunk", {"counts": np.array([0, 5, 0])}, "'hsic'"),
            ("pending rows differ", {"pending_1": f["pending_1"][:-1]}, "'pending_0'"),
            ("pending of one site only", {"pending_1": None}, "'pending_0'"),
            ("pending NaN", {"pending_0": nan(f["pending_0"])}, "'pending_0'"),
            ("pending 1-D", {"pending_0": f["pending_0"].ravel()}, "'pending_0'"),
            ("pending of a third site", {"pending_2": f["pending_0"]}, "'pending_2'"),
            ("no sites but rows", {"sites": np.array([], dtype=str), "hsic": np.zeros((0, 0)), "pending_0": None,
                                   "pending_1": None}, "'counts'"),
        ]
    return out


def _write(path, fields: dict, changes: dict) -> None:
    out = dict(fields)
    for k, v in changes.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    np.savez(path, **out)


def test_every_inconsistent_field_is_refused_naming_file_and_field(good, tmp_path):
    kind, path = good
    fields = _fields(path)
    variants = _variants(kind, fields)
    assert len(variants) >= 20
    for i, (what, changes, needle) in enumerate(variants):
        bad = tmp_path / f"bad{i}.npz"
        _write(bad, fields, changes)
        try:
            _refused(kind, bad, needle)
        except BaseException as exc:  # say which variant
            raise AssertionError(f"{kind}: {what}: {type(exc).__name__}: {exc}") from exc


def test_refusals_read_well(tmp_path):
    path = tmp_path / "m.npz"
    _moments().save(path)
    fields = _fields(path)
    _write(path, fields, {"n": fields["n"] + 1})
    message = _refused("moments", path, "'n'")
    assert re.fullmatch(re.escape(repr(str(path))) + r" is a damaged repsim Moments file: field 'n' is 61, but the "
                        r"statistics in 'G_upper' count 60 rows", message), message
    _write(path, fields, {"sites": np.array(["a", "b", "a"])})
    assert _refused("moments", path).endswith("field 'sites' holds ['a'] more than once")


def test_good_files_load_the_same_statistics(good, tmp_path):
    kind, path = good
    obj = BUILDERS[kind]()
    assert _same(_signature(kind, LOADERS[kind](path), tmp_path), _signature(kind, obj, tmp_path))


def test_missing_file_stays_file_not_found(tmp_path):
    for load in set(LOADERS.values()):
        with pytest.raises(FileNotFoundError):
            load(tmp_path / "nothing.npz")


def test_bad_keyword_arguments_are_not_blamed_on_the_file(tmp_path):
    path = tmp_path / "m.npz"
    _moments().save(path)
    with pytest.raises(ValueError) as info:
        repsim.Moments.load(path, engine="bogus")
    assert "damaged" not in str(info.value)


# ---------------------------------------------------------------------------------------------------- (b) damage
def _damaged_variants(data: bytes, rng, flips: int):
    """``flips`` copies of ``data`` with 1–8 random bits flipped or bytes replaced, then truncations at every 1/20
    of the length and the empty file."""
    for _ in range(flips):
        b = bytearray(data)
        for _ in range(int(rng.integers(1, 9))):
            pos = int(rng.integers(len(b)))
            if rng.random() < 0.5:
                b[pos] ^= 1 << int(rng.integers(8))
            else:
                b[pos] = int(rng.integers(256))
        yield bytes(b)
    for k in range(20):
        yield data[: len(data) * k // 20]
    yield data[:-1]


def test_bit_flips_and_truncations_load_the_same_or_raise_value_error(good, tmp_path):
    kind, path = good
    data = path.read_bytes()
    original = _signature(kind, LOADERS[kind](path), tmp_path)
    rng = np.random.default_rng(14)
    bad = tmp_path / "damaged.npz"
    outcomes = {"same": 0, "refused": 0}
    for variant in _damaged_variants(data, rng, flips=200):
        if variant == data:
            continue
        bad.write_bytes(variant)
        try:
            obj = LOADERS[kind](bad)
        except ValueError as exc:
            assert repr(str(bad)) in str(exc), str(exc)
            outcomes["refused"] += 1
            continue
        # loaded: only a flip in zip metadata that nothing reads (a date, an attribute) may get here
        assert _same(_signature(kind, obj, tmp_path), original), f"{kind}: a damaged file loaded different statistics"
        outcomes["same"] += 1
    assert outcomes["refused"] > 150


# ---------------------------------------------------------------------------------------------------- (c) checkpoints
META = {"estimator": "exact", "batch_size": None, "precision": "fp64", "sites": ["a", "b", "c"],
        "layers": {"a": "l1", "b": "l2", "c": "l3"}, "pairs": "all"}


def _checkpoint(tmp_path):
    directory = tmp_path / "ckpt"
    save_checkpoint(str(directory), _moments(), 3, 60, META)
    return str(directory), directory / "state.json"


def _load(directory):
    return load_checkpoint(directory, META, lambda p: repsim.Moments.load(p))


def test_checkpoint_round_trip(tmp_path):
    directory, _ = _checkpoint(tmp_path)
    acc, batches, samples = _load(directory)
    assert (acc.n, batches, samples) == (60, 3, 60)


def _state_refused(directory, state_path, *needles):
    with pytest.raises(ValueError) as info:
        _load(directory)
    message = str(info.value)
    assert repr(str(state_path)) in message, message
    for needle in needles:
        assert needle in message, message


def test_corrupt_state_json_names_the_file(tmp_path):
    directory, state_path = _checkpoint(tmp_path)
    text = state_path.read_text()
    for damaged in (text[: len(text) // 2], "", "\x00\x01garbage", "[" * 100000):
        state_path.write_text(damaged)
        _state_refused(directory, state_path)
    state_path.write_bytes(b"\xff\xfe\x00{")  # not UTF-8
    _state_refused(directory, state_path)
    state_path.write_text("[1, 2, 3]")
    _state_refused(directory, state_path)


@pytest.mark.parametrize("key, value", [
    ("batches", -1), ("batches", "3"), ("batches", 3.0), ("batches", True), ("samples", -5), ("samples", None),
    ("n", 60.5), ("file", "exact-000000004.npz"), ("file", "../exact-000000003.npz"), ("file", 3),
    ("batches", 0),
])
def test_inconsistent_state_json_names_the_file_and_field(tmp_path, key, value):
    directory, state_path = _checkpoint(tmp_path)
    state = json.loads(state_path.read_text())
    state[key] = value
    state_path.write_text(json.dumps(state))
    _state_refused(directory, state_path, f"'{key}'" if key != "batches" or value != 0 else "'samples'")


def test_state_file_missing_or_disagreeing(tmp_path):
    directory, state_path = _checkpoint(tmp_path)
    snapshot = tmp_path / "ckpt" / "exact-000000003.npz"
    data = snapshot.read_bytes()
    snapshot.unlink()
    _state_refused(directory, state_path, "does not exist")
    snapshot.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=re.escape(repr(str(snapshot)))):
        _load(directory)
    snapshot.write_bytes(data)
    state = json.loads(state_path.read_text())
    state["n"] = 61
    state_path.write_text(json.dumps(state))
    with pytest.raises(ValueError, match="inconsistent"):
        _load(directory)


def test_state_json_bit_flips_load_the_same_or_raise_value_error(tmp_path):
    directory, state_path = _checkpoint(tmp_path)
    data = state_path.read_bytes()
    rng = np.random.default_rng(5)
    for variant in _damaged_variants(data, rng, flips=100):
        if variant == data:
            continue
        state_path.write_bytes(variant)
        try:
            acc, batches, samples = _load(directory)
        except ValueError as exc:
            assert "ckpt" in str(exc), str(exc)
            continue
        # a flip in JSON whitespace (e.g. a space turned into a tab) changes nothing
        assert (acc.n, batches, samples) == (60, 3, 60)
