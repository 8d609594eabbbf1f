"""Sample identity inside Moments: update(..., ids=) records a hash per row; merge refuses overlapping shards (and a
mix of shards with and without ids); the ids survive copy, pickle and save/load; a rejected batch changes nothing."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

import repsim
from repsim.io import IdTracker


def shard(rng, ids, p=4, q=3):
    n = len(ids)
    return {"x": rng.normal(size=(n, p)) + 10.0, "y": rng.normal(size=(n, q))}, np.asarray(ids)


def test_shards_with_ids_merge_to_one_pass_and_overlaps_are_refused(rng):
    (a, ia), (b, ib) = shard(rng, range(0, 50)), shard(rng, range(50, 90))
    one = repsim.Moments().update(a, ids=ia).update(b, ids=ib)
    m1, m2 = repsim.Moments().update(a, ids=ia), repsim.Moments().update(b, ids=ib)
    merged = m1.copy().merge(m2)
    assert merged.ids.digest == one.ids.digest == IdTracker().update(np.arange(90)[::-1]).digest
    assert merged.cka("x", "y") == pytest.approx(one.cka("x", "y"), abs=1e-14)
    c, ic = shard(rng, range(80, 100))
    m3 = repsim.Moments().update(c, ids=ic)
    before = merged.cka("x", "y"), merged.n
    with pytest.raises(ValueError, match="overlap: 10"):
        merged.merge(m3)
    assert (merged.cka("x", "y"), merged.n) == before  # refused before anything changed
    with pytest.raises(ValueError, match="only one of them recorded"):
        m1.copy().merge(repsim.Moments().update(c))
    with pytest.raises(ValueError, match="only one of them recorded"):
        repsim.Moments().update(c).merge(m1)
    assert repsim.Moments().merge(m1).ids.n == 50  # an empty Moments takes the other's ids


def test_string_ids_and_the_rules_of_an_update(rng):
    (a, _), (b, _) = shard(rng, range(5)), shard(rng, range(5))
    m = repsim.Moments().update(a, ids=[f"img{i}" for i in range(5)])
    with pytest.raises(ValueError, match=r"batch 1: ids missing"):
        m.update(b)
    with pytest.raises(ValueError, match=r"batch 1: ids has 4 entries for 5 rows"):
        m.update(b, ids=["a", "b", "c", "d"])
    with pytest.raises(TypeError, match=r"batch 1: ids: .*integers or strings"):
        m.update(b, ids=np.ones(5))
    assert m.n == 5 and m.ids.n == 5  # every rejected batch left the statistics and the ids alone
    with pytest.raises(ValueError, match="ids given, but the earlier updates gave none"):
        repsim.Moments().update(a).update(b, ids=np.arange(5))
    assert repsim.Moments().update(a).ids is None


def test_a_repeated_id_is_found_at_save_and_merge(rng, tmp_path):
    (a, _), (b, _) = shard(rng, range(5)), shard(rng, range(5))
    m = repsim.Moments().update(a, ids=np.arange(5)).update(b, ids=np.arange(4, 9))
    with pytest.raises(ValueError, match="recorded twice"):
        m.save(tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


def test_ids_survive_copy_pickle_save_load(rng, tmp_path):
    (a, ia) = shard(rng, [3, 1, 4, 15, 9, 2, 6])
    m = repsim.Moments().update(a, ids=ia)
    path = tmp_path / "m.npz"
    m.save(path)
    for other in (m.copy(), pickle.loads(pickle.dumps(m)), repsim.Moments.load(path)):
        assert other.ids.digest == m.ids.digest and other.n == 7
    n = repsim.Moments().update(shard(rng, [100, 101])[0], ids=[100, 101])
    with pytest.raises(ValueError, match="overlap"):
        repsim.Moments.load(path).merge(repsim.Moments().update(a, ids=ia))
    assert repsim.Moments.load(path).merge(n).n == 9
    # a file without ids still loads (ids None); a damaged id field is named
    repsim.Moments().update(a).save(tmp_path / "plain.npz")
    assert repsim.Moments.load(tmp_path / "plain.npz").ids is None
    data = dict(np.load(path))
    data["id_hashes"] = data["id_hashes"][::-1].copy()
    np.savez(tmp_path / "bad.npz", **data)
    with pytest.raises(ValueError, match="id_hashes"):
        repsim.Moments.load(tmp_path / "bad.npz")
    m.copy().ids.update([1])  # .ids is a copy: changing it leaves the statistics' ids alone
    assert m.ids.n == 7


def test_blocked_statistics_keep_ids_too(rng):
    (a, ia), (b, ib) = shard(rng, range(30)), shard(rng, range(30, 60))
    kw = dict(pairs=[("x", "y")])
    m = repsim.Moments(**kw).update(a, ids=ia).merge(repsim.Moments(**kw).update(b, ids=ib))
    assert m.ids.n == 60
    with pytest.raises(ValueError, match="overlap"):
        m.merge(repsim.Moments(**kw).update(a, ids=ia))
