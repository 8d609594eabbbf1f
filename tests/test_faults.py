"""Faults: Ctrl-C at random points of update / update_features / merge (the object is exactly as before or after a
batch), kill -9 and write errors during save (the previous file still loads), threads hammering one accumulator
(no lost or torn batches, reads see whole batches), and a broken accumulator that refuses further use."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import repsim
from repsim._guard import BrokenAccumulatorError, Guard, deferred_interrupts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(script: str, timeout: float = 240) -> dict:
    env = {**os.environ, "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                         timeout=timeout, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


_SIGINT_TRIALS = r"""
import json, os, signal, threading, time
import numpy as np, repsim
from repsim.gram import GramMoments

rng = np.random.default_rng(0)
ROWS, P, NB = 3000, 160, 10
batches = [rng.normal(size=(ROWS, P)) + 5.0 for _ in range(NB)]
both = lambda b: {"a": b, "b": b[:, :40] @ np.ones((40, 30)) + b[:, 40:70]}
prefix, ref = [None], repsim.Moments()
for b in batches:
    prefix.append(ref.update(both(b)).cka("a", "b", debiased=True))
one = repsim.Moments().update(both(batches[0]))
t0 = time.perf_counter(); one.update(both(batches[1])); per = time.perf_counter() - t0

def interrupt_after(count, k, delay):
    # SIGINT `delay` seconds after count() reaches k (so it lands mid-stream however loaded the machine)
    def fire():
        go.wait()
        while count() < k:
            time.sleep(1e-4)
        time.sleep(delay)
        os.kill(os.getpid(), signal.SIGINT)
    go = threading.Event()
    timer = threading.Thread(target=fire)
    timer.start()
    timer.go = go
    return timer

out = {"moments": [], "gram": [], "merge": [], "continued": 0}
for trial in range(MOMENTS_TRIALS):
    m = repsim.Moments()
    timer = interrupt_after(lambda: m._batches, int(rng.integers(0, NB - 1)), float(rng.uniform(0, 1)) * per)
    try:
        timer.go.set()
        for b in batches:
            m.update(both(b))
        timer.join()  # an interrupt after the loop is caught here (not this test's case)
        time.sleep(0.05)
    except KeyboardInterrupt:
        pass
    timer.join()
    k, rest = divmod(m.n, ROWS)
    ok = rest == 0 and (k == 0 or abs(m.cka("a", "b", debiased=True) - prefix[k]) < 1e-12)
    out["moments"].append([k, bool(ok)])
    if ok and k < NB:  # the object goes on: feeding the rest gives the uninterrupted result
        for b in batches[k:]:
            m.update(both(b))
        out["continued"] += abs(m.cka("a", "b", debiased=True) - prefix[NB]) < 1e-12

# Gram space: blocks of columns of all n rows
n = 1500
X = rng.normal(size=(n, 4000))
Y = X[:, :800] @ rng.normal(size=(800, 300))
blocks = [X[:, j:j + 400] for j in range(0, 4000, 400)]
gprefix, g = [None], GramMoments(n, sites=["x", "y"]).update_features({"y": Y})
for blk in blocks:
    gprefix.append(g.update_features({"x": blk}).cka("x", "y"))
g = GramMoments(n, sites=["x", "y"]).update_features({"y": Y})
t0 = time.perf_counter(); g.update_features({"x": blocks[0]}); gper = time.perf_counter() - t0
for trial in range(GRAM_TRIALS):
    g = GramMoments(n, sites=["x", "y"]).update_features({"y": Y})
    timer = interrupt_after(lambda: g.blocks - 1, int(rng.integers(0, len(blocks) - 1)), float(rng.uniform(0, 1)) * gper)
    try:
        timer.go.set()
        for blk in blocks:
            g.update_features({"x": blk})
        timer.join()
        time.sleep(0.05)
    except KeyboardInterrupt:
        pass
    timer.join()
    k, rest = divmod(g.dims["x"], 400)
    ok = rest == 0 and (k == 0 or abs(g.cka("x", "y") - gprefix[k]) < 1e-12)
    out["gram"].append([k, bool(ok)])

# merge: interrupted or not, the target is the merged or the unmerged statistics
parts = [repsim.Moments().update(both(b + 100.0 * i)) for i, b in enumerate(batches[:4])]
whole = repsim.Moments()
for p in parts:
    whole.merge(p)
single = parts[0].cka("a", "b")
for trial in range(MERGE_TRIALS):
    m = parts[0].copy()
    timer = interrupt_after(lambda: m.n // ROWS, int(rng.integers(1, 4)), float(rng.uniform(0.0, 2e-3)))
    try:
        timer.go.set()
        for p in parts[1:]:
            m.merge(p)
        timer.join()
        time.sleep(0.05)
    except KeyboardInterrupt:
        pass
    timer.join()
    k = m.n // ROWS
    ref = parts[0].copy()
    for p in parts[1:k]:
        ref.merge(p)
    out["merge"].append([k, bool(abs(m.cka("a", "b") - ref.cka("a", "b")) < 1e-12)])
print(json.dumps(out))
"""


def test_sigint_leaves_whole_batches():
    """Ctrl-C at random times during a loop of updates (the campaign's 28 of 30 torn objects): after the interrupt
    every accumulator holds exactly the batches it counts, and goes on from there."""
    got = _run(_SIGINT_TRIALS.replace("MOMENTS_TRIALS", "16").replace("GRAM_TRIALS", "8")
               .replace("MERGE_TRIALS", "8"))
    for kind in ("moments", "gram", "merge"):
        assert all(ok for _, ok in got[kind]), (kind, got[kind])
    interrupted = [k for k, _ in got["moments"] if 0 < k < 10]
    assert len(interrupted) >= 10, got["moments"]  # the interrupts really landed mid-stream
    assert got["continued"] == sum(1 for k, ok in got["moments"] if ok and k < 10)
    assert len([k for k, _ in got["gram"] if 0 < k < 10]) >= 4, got["gram"]


_SAVER = r"""
import sys, numpy as np, repsim
rng = np.random.default_rng(int(sys.argv[1]))
m = repsim.Moments().update({"a": rng.normal(size=(300, 1500)), "b": rng.normal(size=(300, 700))})
m.save(sys.argv[2])
print("ready", flush=True)
while True:
    m.update({"a": rng.normal(size=(10, 1500)), "b": rng.normal(size=(10, 700))})
    m.save(sys.argv[2])
"""


def test_kill_during_save_keeps_a_loadable_file(tmp_path):
    """kill -9 at random points of a save loop: the file always loads (the old or the new statistics)."""
    path = str(tmp_path / "stats.npz")
    rng = np.random.default_rng(1)
    for trial in range(6):
        proc = subprocess.Popen([sys.executable, "-c", _SAVER, str(trial), path], stdout=subprocess.PIPE,
                                env={**os.environ, "PYTHONPATH": ROOT}, cwd=ROOT)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(float(rng.uniform(0.05, 0.6)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        m = repsim.Moments.load(path)
        assert m.n >= 300 and (m.n - 300) % 10 == 0 and m.dims == {"a": 1500, "b": 700}
        assert np.isfinite(m.cka("a", "b"))


def test_write_error_keeps_the_previous_file(tmp_path, rng, monkeypatch):
    path = tmp_path / "stats.npz"
    m = repsim.Moments().update({"a": rng.normal(size=(50, 4)), "b": rng.normal(size=(50, 3))})
    m.save(path)
    before = path.read_bytes()
    m.update({"a": rng.normal(size=(50, 4)), "b": rng.normal(size=(50, 3))})

    def disk_full(fh, **fields):
        fh.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(OSError, match="No space"):
        m.save(path)
    assert path.read_bytes() == before and repsim.Moments.load(path).n == 50
    assert [p.name for p in tmp_path.iterdir()] == ["stats.npz"]  # no temporary file left behind


def _pair(rng, rows=200):
    x = rng.normal(size=(rows, 30)) + 3.0
    return {"a": x, "b": x[:, :10] @ rng.normal(size=(10, 20)) + rng.normal(size=(rows, 20))}


def test_threads_updating_one_accumulator(rng):
    """Two (four) threads updating one Moments: the campaign found 6 of 6 silently wrong; now = one thread."""
    batches = [_pair(rng) for _ in range(40)]
    ref = repsim.Moments()
    for b in batches:
        ref.update(b)
    for trial in range(3):
        m = repsim.Moments(n_threads=2)
        threads = [threading.Thread(target=lambda part: [m.update(b) for b in part], args=(batches[k::4],))
                   for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert m.n == ref.n
        for debiased in (False, True):
            assert m.cka("a", "b", debiased=debiased) == pytest.approx(ref.cka("a", "b", debiased=debiased),
                                                                      rel=1e-11)
        assert np.allclose(m.mean("b"), ref.mean("b"), rtol=1e-12, atol=1e-12)


def test_reads_during_updates_see_whole_batches(rng):
    """A metric read while another thread updates matches the statistics of a whole number of batches (the
    campaign: 31–74 % of reads matched no consistent state)."""
    batches = [_pair(rng) for _ in range(30)]
    prefix, ref = {}, repsim.Moments()
    for k, b in enumerate(batches, 1):
        ref.update(b)
        prefix[k] = ref.cka("a", "b")
    m = repsim.Moments().update(batches[0])
    reads, done = [], threading.Event()

    def writer():
        for b in batches[1:]:
            m.update(b)
        done.set()

    t = threading.Thread(target=writer)
    t.start()
    while True:  # at least one read, however fast the writer
        finished = done.is_set()
        reads.append(m.cka("a", "b"))
        snap = m.copy()  # a consistent snapshot: its n and its metric agree
        assert snap.cka("a", "b") == pytest.approx(prefix[snap.n // 200], rel=1e-12)
        if finished:
            break
    t.join()
    values = np.array(list(prefix.values()))
    assert reads and all(np.min(np.abs(values - r) / np.abs(values)) < 1e-12 for r in reads)


def test_gram_threads(rng):
    n = 300
    X = rng.normal(size=(n, 800))
    Y = X[:, :100] @ rng.normal(size=(100, 60))
    ref = repsim.GramMoments(n, sites=["x", "y"]).update_features({"x": X, "y": Y})
    g = repsim.GramMoments(n, sites=["x", "y"]).update_features({"y": Y})
    parts = [X[:, j:j + 50] for j in range(0, 800, 50)]
    threads = [threading.Thread(target=lambda ps: [g.update_features({"x": p}) for p in ps], args=(parts[k::3],))
               for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert g.dims == ref.dims and g.cka("x", "y") == pytest.approx(ref.cka("x", "y"), rel=1e-11)


def test_merge_both_ways_does_not_deadlock(rng):
    a = repsim.Moments().update(_pair(rng))
    b = repsim.Moments().update(_pair(rng))
    a2, b2 = a.copy(), b.copy()
    t1 = threading.Thread(target=lambda: [a.merge(b2) for _ in range(20)])
    t2 = threading.Thread(target=lambda: [b.merge(a2) for _ in range(20)])
    t1.start(), t2.start()
    t1.join(10), t2.join(10)
    assert not t1.is_alive() and not t2.is_alive()
    assert a.n == 200 * 21 and b.n == 200 * 21


def test_an_escaped_exception_breaks_the_accumulator(rng, monkeypatch):
    """An exception escaping the change half-way (here a MemoryError inside the statistics' add) leaves the object
    refusing every further call with a clear error, instead of silently holding part of a batch."""
    m = repsim.Moments().update(_pair(rng))

    def fails(self, W):
        raise MemoryError("simulated")

    monkeypatch.setattr(type(m._store), "add", fails)
    with pytest.raises(MemoryError):
        m.update(_pair(rng))
    monkeypatch.undo()
    for call in (lambda: m.update(_pair(rng)), lambda: m.cka("a", "b"), lambda: m.save("x.npz"), m.copy,
                 lambda: m.matrix("cka")):
        with pytest.raises(BrokenAccumulatorError, match="update \\(batch 1\\) was interrupted by MemoryError"):
            call()
    # a rejected batch (checked before anything changes) does not break it
    ok = repsim.Moments().update(_pair(rng))
    bad = _pair(rng)
    bad["a"][3, 2] = np.nan
    with pytest.raises(ValueError, match="batch 1"):
        ok.update(bad)
    assert ok.n == 200 and np.isfinite(ok.cka("a", "b"))


def test_deferred_interrupt_is_delivered_after_the_block():
    calls = []
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, lambda s, f: calls.append("handler"))
    try:
        with deferred_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
            calls.append("body done")
        assert calls == ["body done", "handler"]
        guard = Guard()
        with pytest.raises(KeyboardInterrupt):
            with guard.commit("x"):
                raise KeyboardInterrupt
        assert guard.broken and "x was interrupted by KeyboardInterrupt" in guard.broken
    finally:
        signal.signal(signal.SIGINT, previous)
