"""Minibatch CKA (Nguyen, Raghu, Kornblith 2021): HSIC₁ summed over chunks of rows, with batched Gram products.

This is a *different estimator* from the exact, full-data CKA that :class:`repsim.Moments` gives:

    CKA_mb = Σ_k HSIC₁(K_k, L_k) / √(Σ_k HSIC₁(K_k, K_k) · Σ_k HSIC₁(L_k, L_k))

where ``K_k = X_k X_kᵀ`` is the linear Gram of the k-th chunk of ``b`` consecutive rows and HSIC₁ is Song et al.'s
unbiased estimator

    HSIC₁(K, L) = [tr(K̃L̃) + (1ᵀK̃1)(1ᵀL̃1)/((n−1)(n−2)) − 2/(n−2)·1ᵀK̃L̃1] / (n(n−3)),  K̃ = K − diag(K).

Its value depends on ``b``: it measures only the dependence *within* chunks. With a single chunk holding all rows
it equals debiased CKA (``repsim.cka(X, Y, debiased=True)``); with smaller chunks it is neither that nor the
biased full-data CKA (it is unbiased chunk by chunk, so for independent representations it is near 0 like
debiased CKA, while biased CKA on small samples is not). It costs O(b²·Σp) per chunk and O(L·b²) memory on the
device per chunk (chunks of one update are stacked up to about 256 MiB of Grams), independent of the feature
dimensions' squares.

Rows are chunked across the incoming batches (a chunk may span two data batches), so the value does not depend on
the data loader's batch size. The trailing chunk is used if it holds at least 4 rows (HSIC₁ needs n ≥ 4) and
dropped otherwise. HSIC₁ is invariant to translating the rows, so each chunk is centred on its own mean before
the Grams are formed (exactly the same value, less cancellation). With ``precision="fp64"`` (default) everything is
computed in float64 (TF32 never applies to float64 matmuls). ``precision="fp32"`` forms the chunk Grams in float32
— the peers' precision, 2–4× faster on CPUs — from the float64-centred rows, with TF32 off on GPUs, and keeps every
sum over Gram entries (traces, row sums, the HSIC₁ totals) in float64: measured |ΔCKA| ≈ 1e-9 against fp64 on the
bench MLP, where summing in float32 as the peers do gives ≈ 1e-6. On the CPU one SYRK per site forms only the
upper triangle (half a GEMM's work).

References
----------
Nguyen, Raghu, Kornblith. Do Wide and Deep Networks Learn the Same Things? ICLR 2021.
Song, Smola, Gretton, Bedo, Borgwardt. Feature Selection via Dependence Maximization. JMLR 2012.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy.linalg import blas

from ._guard import Guard, locked
from ._files import (atomic_write, only_fields, read_floats, read_int, read_ints, read_names, read_npz, read_text,
                     require)
from ._limits import MINIBATCH_GROUP_BYTES as GROUP_BYTES  # memory of the Grams of the chunks stacked at once
from ._limits import MINIBATCH_MIN_ROWS as MIN_ROWS
from ._torch_backend import no_tf32
from ._validation import integer, name_tuple
from .accumulator import SiteBook
from .results import SimilarityMatrix

PRECISIONS = ("fp64", "fp32")
FORMAT_NAME = "repsim.MinibatchCKA"
FORMAT_VERSION = 1


def check_batch_size(batch_size) -> int:
    """The chunk size b as an int; TypeError / ValueError unless it is an int ≥ 4 (HSIC₁ divides by n(n−3))."""
    return integer(batch_size, "batch_size", MIN_ROWS, why=" (HSIC1 divides by n(n-3))", bound="at least")


def hsic1_all_pairs(grams: torch.Tensor) -> torch.Tensor:
    """HSIC₁ for every pair of sites from stacked zero-diagonal Grams ``(..., L, n, n)`` → ``(..., L, L)``.

    One matrix product gives tr(K̃_s K̃_t) for all pairs (the Grams are symmetric), one more 1ᵀK̃_s K̃_t1 = r_s·r_t
    from the row sums r.
    """
    *lead, L, n, _ = grams.shape
    if n < MIN_ROWS:
        raise ValueError(f"HSIC1 needs at least {MIN_ROWS} rows per chunk, got {n}")
    flat = grams.reshape(*lead, L, n * n)
    trace = flat @ flat.transpose(-1, -2)
    r = grams.sum(dim=-1)
    s = r.sum(dim=-1)
    outer = s.unsqueeze(-1) * s.unsqueeze(-2)
    return (trace + outer / ((n - 1.0) * (n - 2.0)) - (2.0 / (n - 2.0)) * (r @ r.transpose(-1, -2))) / (n * (n - 3.0))


def zero_diagonal_grams(chunks: list, precision: str = "fp64") -> torch.Tensor:
    """Stack the Grams ``X Xᵀ`` (rows centred per chunk in float64, zero diagonal) of every site, as float64.

    ``chunks[s]`` is ``(n, p_s)`` or ``(k, n, p_s)`` (k chunks of n rows) → ``(L, n, n)`` or ``(k, L, n, n)``,
    on the device of the first site. ``precision="fp32"`` forms the products in float32 (TF32 off).
    """
    device = chunks[0].device
    grams = []
    with no_tf32():
        for x in chunks:
            x = x.to(device=device, dtype=torch.float64)
            x = x - x.mean(dim=-2, keepdim=True)
            if precision == "fp32":
                x = x.to(torch.float32)
            grams.append((x @ x.transpose(-1, -2)).to(torch.float64))
    g = torch.stack(grams, dim=-3)
    g.diagonal(dim1=-2, dim2=-1).zero_()
    return g


class _SyrkHSIC:
    """HSIC₁ of every site pair for one chunk of CPU rows, with one float64 ``dsyrk`` per site.

    K = X Xᵀ is symmetric, so only its upper triangle is formed (half a GEMM's work), into a reused (L, n, n)
    buffer whose other triangle stays zero. With U the strictly upper part (the diagonal zeroed),
    tr(K̃_s K̃_t) = 2⟨U_s, U_t⟩ and K̃1 = U1 + Uᵀ1, so the formula of :func:`hsic1_all_pairs` applies unchanged.
    """

    _BLOCK = 2**18  # float64 entries converted at a time (2 MiB)

    def __init__(self, precision: str = "fp64"):
        self.precision = precision
        self._buf: np.ndarray | None = None

    def hsic(self, rows: list) -> np.ndarray:
        """rows[s]: (n, p_s) CPU tensor → (L, L) HSIC₁ matrix (float64)."""
        L, n = len(rows), int(rows[0].shape[0])
        if n < MIN_ROWS:
            raise ValueError(f"HSIC1 needs at least {MIN_ROWS} rows per chunk, got {n}")
        dtype, syrk = (np.float32, blas.ssyrk) if self.precision == "fp32" else (np.float64, blas.dsyrk)
        if self._buf is None or self._buf.shape != (L, n, n) or self._buf.dtype != dtype:
            self._buf = np.zeros((L, n, n), dtype=dtype)
        buf = self._buf
        for s, x in enumerate(rows):
            a = x.detach().numpy()
            # Centring only limits cancellation (HSIC₁ is invariant to translating the rows): it is done in the wider
            # of the input's and the Gram's precision (float32 rows for float32 Grams: one pass, no float64 copy).
            work = np.promote_types(a.dtype, dtype)
            a = np.subtract(a, a.mean(axis=0, dtype=np.float64).astype(work), dtype=work)  # a new array
            if a.dtype != dtype:
                a = a.astype(dtype)
            # aᵀ is Fortran-ordered, so SYRK reads it in place; buf[s].T is the Fortran-ordered output
            out = syrk(1.0, a.T, trans=1, beta=0.0, c=buf[s].T, overwrite_c=1)
            if not np.shares_memory(out, buf[s]):  # pragma: no cover - scipy honours overwrite_c for F-ordered input
                buf[s] = out.T
            buf[s].flat[:: n + 1] = 0.0
        if dtype is np.float64:
            flat = buf.reshape(L, n * n)
            trace = 2.0 * (flat @ flat.T)
            r = buf.sum(axis=2) + buf.sum(axis=1)
        else:  # sums over the n² entries in float64, converting a block of rows at a time
            trace = np.zeros((L, L))
            r = np.zeros((L, n))
            step = max(1, self._BLOCK // (L * n))
            scratch = np.empty((L, min(step, n), n))
            for i0 in range(0, n, step):
                i1 = min(n, i0 + step)
                blk = scratch[:, : i1 - i0]
                np.copyto(blk, buf[:, i0:i1])
                flat = blk.reshape(L, -1)
                trace += flat @ flat.T
                r[:, i0:i1] += blk.sum(axis=2)
                r += blk.sum(axis=1)
            trace *= 2.0
        tot = r.sum(axis=1)
        return (trace + np.outer(tot, tot) / ((n - 1.0) * (n - 2.0)) - (2.0 / (n - 2.0)) * (r @ r.T)) / (
            n * (n - 3.0)
        )


class MinibatchCKA(SiteBook):
    """Streaming minibatch CKA over fixed sites: feed batches with :meth:`update`, then read :meth:`matrix`.

    Implements the accumulator protocol (:class:`repsim.accumulator.Accumulator`): ``update``, ``n`` (rows seen),
    ``save`` / ``load``, ``matrix("cka")``. Its only measure is the minibatch estimator of ``"cka"``; reading a
    matrix ends the stream (:meth:`finalize`: the trailing chunk is used or dropped).

    Parameters
    ----------
    batch_size : int
        Rows per chunk ``b`` (at least 4).
    precision : {"fp64", "fp32"}
        Precision of the chunk Grams (sums are always float64); see the module docstring.
    """

    space = "minibatch"

    def __init__(self, batch_size: int, precision: str = "fp64"):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {list(PRECISIONS)} for the minibatch estimator, got {precision!r}")
        self._guard = Guard()  # the lock and broken flag: repsim/_guard.py
        self.precision = precision
        self.batch_size = check_batch_size(batch_size)
        self._sites: tuple | None = None
        self.hsic: np.ndarray | None = None  # (L, L) float64 sums over chunks
        self.n_chunks = 0
        self.n_rows = 0  # rows received
        self.n_used = 0  # rows inside processed chunks
        self._buffer: dict | None = None  # site -> rows waiting for a full chunk
        self._cpu = _SyrkHSIC(precision)

    @property
    def sites(self) -> tuple:
        return self._sites or ()

    @property
    def n(self) -> int:
        """Rows received."""
        return self.n_rows

    @property
    def info(self) -> dict:
        """Estimator details for reports: chunks, rows used and dropped."""
        return {"chunks": self.n_chunks, "rows_used": self.n_used, "rows_dropped": self.n_dropped}

    def _empty_error(self) -> ValueError:
        return ValueError("MinibatchCKA is empty: call update() with at least one batch first")

    @property
    def n_pending(self) -> int:
        return 0 if not self._buffer else int(next(iter(self._buffer.values())).shape[0])

    @locked
    def update(self, acts: dict) -> MinibatchCKA:
        """Add rows: a dict site → 2-D tensor, every site with the same number of rows (checked before anything
        changes; the change itself holds Ctrl-C back until it is complete, repsim/_guard.py)."""
        if self._sites is None:
            sites = name_tuple(tuple(acts), "update()", "site")
        elif tuple(acts) != self._sites:
            raise ValueError(f"sites changed: expected {list(self.sites)}, got {list(acts)}")
        rows = {int(t.shape[0]) for t in acts.values()}
        if len(rows) != 1:
            raise ValueError(
                f"every site must have the same number of rows, got { {k: tuple(v.shape) for k, v in acts.items()} }"
            )
        with self._guard.commit("update"):
            if self._sites is None:
                self._sites = sites
                self.hsic = np.zeros((len(sites), len(sites)))
            self.n_rows += rows.pop()
            self._add_rows(acts)
        return self

    def _add_rows(self, acts: dict) -> None:
        b = self.batch_size
        if self._buffer:  # complete the pending chunk with the first rows only (no copy of the whole batch)
            need = b - self.n_pending
            head = {s: torch.cat([self._buffer[s].to(acts[s].device), acts[s][:need]]) for s in self.sites}
            if int(head[self.sites[0]].shape[0]) < b:
                self._buffer = head
                return
            self._add_chunks([head[s].unsqueeze(0) for s in self.sites])
            self._buffer = None
            acts = {s: acts[s][need:] for s in self.sites}
        total = int(next(iter(acts.values())).shape[0])
        full = total // b
        group = max(1, GROUP_BYTES // (8 * b * b * len(self.sites)))  # chunks whose Grams are stacked at once
        start = 0
        for first in range(0, full, group):
            k = min(group, full - first)
            self._add_chunks([acts[s][start : start + k * b].reshape(k, b, -1) for s in self.sites])
            start += k * b
        self._buffer = {s: acts[s][start:].clone() for s in self.sites} if start < total else None

    @locked
    def finalize(self) -> MinibatchCKA:
        """Use the trailing chunk if it has at least 4 rows, else drop it (idempotent)."""
        with self._guard.commit("finalize"):
            if self._buffer and self.n_pending >= MIN_ROWS:
                self._add_chunks([self._buffer[s].unsqueeze(0) for s in self.sites])
            self._buffer = None
        return self

    @property
    def n_dropped(self) -> int:
        """Rows received but not in any processed chunk (the trailing chunk, once dropped)."""
        return self.n_rows - self.n_used - self.n_pending

    def _add_chunks(self, chunks: list) -> None:
        """chunks[s]: (k, n, p_s) — k chunks of n rows of every site."""
        if chunks[0].device.type == "cpu":
            for j in range(int(chunks[0].shape[0])):
                self.hsic += self._cpu.hsic([c[j] for c in chunks])
        else:
            with torch.no_grad():
                h = hsic1_all_pairs(zero_diagonal_grams(chunks, self.precision)).sum(dim=0)
            self.hsic += h.cpu().numpy()
        k, n = int(chunks[0].shape[0]), int(chunks[0].shape[1])
        self.n_chunks += k
        self.n_used += k * n

    def values(self, rows, cols) -> np.ndarray:
        """CKA_mb between the named sites → array (len(rows), len(cols)); NaN (RuntimeWarning) for a site whose
        summed self-HSIC₁ is not positive (e.g. constant activations)."""
        if self._sites is None or self.n_chunks == 0:
            raise ValueError(
                f"minibatch CKA has no complete chunk: {self.n_rows} rows were seen, a chunk needs at least {MIN_ROWS}"
            )
        idx = {s: k for k, s in enumerate(self.sites)}
        diag = np.diag(self.hsic)
        bad = [s for s in set(rows) | set(cols) if not diag[idx[s]] > 0]
        if bad:
            warnings.warn(
                f"minibatch CKA: site(s) {sorted(bad)} have no variation within chunks (self-HSIC1 <= 0); "
                "their entries are NaN",
                RuntimeWarning,
                stacklevel=3,
            )
        out = np.empty((len(rows), len(cols)))
        for i, x in enumerate(rows):
            for j, y in enumerate(cols):
                a, c = idx[x], idx[y]
                den = diag[a] * diag[c]
                out[i, j] = self.hsic[a, c] / np.sqrt(den) if diag[a] > 0 and diag[c] > 0 else np.nan
        return out

    @locked
    def matrix(self, metric: str = "cka", rows=None, cols=None, **options) -> SimilarityMatrix:
        """The minibatch CKA matrix between the named sites (ends the stream: :meth:`finalize`). ``metric`` must be
        ``"cka"`` (the estimator's only measure) and it takes no options."""
        if metric != "cka":
            raise ValueError(
                f"the minibatch estimator computes only 'cka' (Nguyen et al.'s minibatch CKA), not {metric!r}; use "
                "the exact statistics (repsim.Moments) for the others"
            )
        if options:
            raise TypeError(f"the minibatch estimator of 'cka' takes no options, got {sorted(options)}")
        rows, cols = self._site_list(rows, "rows"), self._site_list(cols, "cols")
        self.finalize()
        opts = {"estimator": "minibatch", "batch_size": self.batch_size, "precision": self.precision}
        return SimilarityMatrix("cka", rows, cols, self.values(rows, cols), opts)

    @locked
    def save(self, path) -> None:
        """Write the estimator's state (sums, counts and pending rows) to a versioned ``.npz`` file, atomically."""
        fields = {"format": np.array(FORMAT_NAME), "version": np.array(FORMAT_VERSION), **self.state()}
        atomic_write(path, lambda fh: np.savez(fh, **fields))

    @classmethod
    def load(cls, path) -> "MinibatchCKA":
        """Read a state written by :meth:`save`; ValueError naming the file and the field for a damaged or
        inconsistent file."""
        required = {"batch_size", "precision", "sites", "hsic", "counts"}
        with read_npz(path, FORMAT_NAME, FORMAT_VERSION, required) as d:
            sites = read_names(d, "sites", empty=True)
            L = len(sites)
            only_fields(d, {"format", "version", *required, *(f"pending_{k}" for k in range(L))})
            b = read_int(d, "batch_size", low=MIN_ROWS)
            st = {"batch_size": b, "precision": read_text(d, "precision", PRECISIONS), "sites": sites,
                  "hsic": read_floats(d, "hsic", (L, L), source="'sites'"), "counts": read_ints(d, "counts", 3)}
            chunks, rows, used = st["counts"]
            names = [f"pending_{k}" for k in range(L) if f"pending_{k}" in d.files]
            pending = [read_floats(d, name, (None, None), numeric=True) for name in names]
            waiting = {int(p.shape[0]) for p in pending}
            require(len(pending) in (0, L) and len(waiting) <= 1 and all(0 < r < b for r in waiting), "pending_0",
                    f"and the other pending fields must hold the same 1 to {b - 1} rows for each of the {L} sites, got "
                    f"rows {[int(p.shape[0]) for p in pending]}")
            require(MIN_ROWS * chunks <= used <= b * chunks and used + sum(waiting) <= rows and (L or not rows),
                    "counts", f"[chunks, rows, used] = {[chunks, rows, used]} do not fit chunks of {MIN_ROWS} to {b} "
                    f"rows, {sum(waiting)} rows pending and {L} sites")
            require(chunks > 0 or not st["hsic"].any(), "hsic", "is not zero, but no chunk was processed")
            st.update({f"pending_{k}": p for k, p in enumerate(pending)})
        return cls.from_state(st)

    # -- checkpoints
    def state(self) -> dict:
        """Arrays that :meth:`from_state` restores (the pending rows included, on the CPU)."""
        st = {
            "batch_size": np.array(self.batch_size),
            "precision": np.array(self.precision),
            "sites": np.array(self.sites or (), dtype=str),
            "hsic": self.hsic if self.hsic is not None else np.zeros((0, 0)),
            "counts": np.array([self.n_chunks, self.n_rows, self.n_used], dtype=np.int64),
        }
        for k, s in enumerate(self.sites or ()):
            if self._buffer:
                st[f"pending_{k}"] = self._buffer[s].detach().cpu().numpy()
        return st

    @classmethod
    def from_state(cls, st) -> MinibatchCKA:
        """Restore :meth:`state` (pending rows on the CPU; :meth:`update` moves them to the next batch's device)."""
        mb = cls(int(st["batch_size"]), str(st["precision"]))
        sites = tuple(str(s) for s in st["sites"])
        if sites:
            mb._sites = sites
            mb.hsic = np.array(st["hsic"], dtype=np.float64)
        mb.n_chunks, mb.n_rows, mb.n_used = (int(v) for v in st["counts"])
        if sites and "pending_0" in st:
            mb._buffer = {s: torch.from_numpy(np.array(st[f"pending_{k}"])) for k, s in enumerate(sites)}
        return mb
