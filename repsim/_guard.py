"""Safe changes to an accumulator: one lock per accumulator, Ctrl-C held back while statistics change, and an
accumulator that refuses further use when anything else breaks a change half-way.

Every accumulator (:class:`repsim.Moments`, :class:`repsim.GramMoments`, the minibatch estimator) owns a
:class:`Guard`:

* **Threads.** Its re-entrant lock is held by every call that changes the statistics (``update``, ``merge``,
  ``all_reduce``, the device drain) and by every call that reads them (a metric, ``matrix``, ``mean``, ``copy``,
  ``save``): two threads updating one accumulator take turns, and a metric read while another thread updates
  sees the statistics before or after that batch, never a mix. (A view taken with ``pair_view()`` / ``view()``
  reads the live statistics lazily; read metrics through the accumulator's methods when other threads update it.)
* **Interrupts.** While a change is being written (:meth:`Guard.commit`) in the main thread, SIGINT — Ctrl-C, a
  notebook's "interrupt" — is recorded instead of raised, and raised as soon as the change is complete: the
  accumulator is exactly as after the batch, and the ``KeyboardInterrupt`` arrives right after. Before the commit
  (while the batch is checked) an interrupt leaves it exactly as before.
* **Anything else.** If an exception still escapes a commit half-way (a ``MemoryError``, a signal handler of the
  user's that raises), the accumulator is marked broken and every later call raises ``RuntimeError`` saying what
  was interrupted — never a silently wrong object.
"""
from __future__ import annotations

import contextlib
import functools
import signal
import threading


class BrokenAccumulatorError(RuntimeError):
    """An accumulator whose statistics were left half-changed; it refuses every further call."""


class Guard:
    """The lock and the broken-state flag of one accumulator."""

    __slots__ = ("lock", "broken")

    def __init__(self):
        self.lock = threading.RLock()
        self.broken: str | None = None

    def __getstate__(self):
        """Pickle (a Dask or multiprocessing worker's copy of an accumulator): the broken flag only — a lock is not
        state, and the copy gets a fresh one."""
        return {"broken": self.broken}

    def __setstate__(self, state):
        self.lock = threading.RLock()
        self.broken = state["broken"]

    def check(self) -> None:
        if self.broken is not None:
            raise BrokenAccumulatorError(self.broken)

    @contextlib.contextmanager
    def commit(self, what: str):
        """Write a change: SIGINT deferred to its end (main thread); any exception escaping it half-way marks the
        accumulator broken."""
        with deferred_interrupts():
            try:
                yield
            except BaseException as exc:
                self.broken = (
                    f"this accumulator is unusable: {what} was interrupted by {type(exc).__name__} while its "
                    "statistics were being changed, so they may hold part of a batch. Recreate it (or load the "
                    "last saved state) and feed the data again"
                )
                raise


def locked(method):
    """Run an accumulator method holding its lock, after checking that the accumulator is not broken."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        guard = self._guard
        with guard.lock:
            guard.check()
            return method(self, *args, **kwargs)

    return wrapper


@contextlib.contextmanager
def both_locked(a, b):
    """Hold the locks of two accumulators (in a fixed order, so two threads merging a into b and b into a cannot
    deadlock), after checking neither is broken."""
    first, second = sorted((a._guard, b._guard), key=id)
    with first.lock, second.lock:
        a._guard.check()
        b._guard.check()
        yield


class _Deferral(threading.local):
    depth = 0


_deferral = _Deferral()


@contextlib.contextmanager
def deferred_interrupts():
    """Hold SIGINT back for the duration (main thread only; elsewhere Python delivers no signal anyway): a SIGINT
    that arrives is re-delivered to the previous handler once the block is left (``KeyboardInterrupt`` for the
    default handler). Nested blocks defer to the outermost."""
    if _deferral.depth or threading.current_thread() is not threading.main_thread():
        _deferral.depth += 1
        try:
            yield
        finally:
            _deferral.depth -= 1
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):  # SIG_IGN, SIG_DFL, or a handler not installed from Python: nothing to defer
        yield
        return
    caught = []
    signal.signal(signal.SIGINT, lambda signum, frame: caught.append((signum, frame)))
    _deferral.depth += 1
    try:
        yield
    finally:
        _deferral.depth -= 1
        signal.signal(signal.SIGINT, previous)
        if caught:
            previous(*caught[0])
