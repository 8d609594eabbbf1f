"""The memory planner: what the exact statistics of some sites and pairs cost, before the first batch.

:func:`plan` takes the sites' widths, the pairs to keep, a memory budget (and n and the batch size when known) and
returns a :class:`MemoryPlan`: the strategy for each group of blocks, its memory, its flops per sample row, and
whether it is exact. Strategies, in order of preference:

1. feature-space statistics in one pass — the joint matrix when it fits, else the pair-blocked statistics
   (docs/math.md §1.3);
2. several passes over the data, each keeping every site's own block and the cross blocks that fit (exact; the
   data must yield the same batches in the same order every time — :func:`repsim.compare` checks it);
3. only when the user allows it (``approximate="sketch"``): the sites wider than k hashed to k columns
   (CountSketch, :mod:`repsim._sketch`) and the exact plan of the sketched widths — approximate, labelled so in the
   plan and in every cell it touches, its error measured on the first batch;
4. nothing fits: :class:`PlanError` says what was asked, what each strategy would need, and the changes that fit
   (pool the layers, keep fewer pairs, raise the budget, or allow an approximation).

Memory model (bytes, float64): joint (Σp + L + 1)²; blocked Σp_s² + Σ_kept p_s p_t + P(L + 1) + (L + 1)²; plus the
batch buffer of augmented rows, min(rows, UPDATE_ROWS) × (Σp + L + 1); plus, for a run over models, one batch's captured activations
(``activation_bytes``) and a workspace allowance for BLAS and torch (WORKSPACE_BYTES). Flops per sample row: a SYRK of p columns costs p², a GEMM of
p × q columns 2pq.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ._limits import GRAM_RATIO, MEMORY_FRACTION, PLAN_BATCH_ROWS, SKETCH_DIMS, UPDATE_ROWS, WORKSPACE_BYTES
from ._validation import flag
from .blocks import blocked_nbytes, resolve_pairs
from .gram.space import available_memory, gram_nbytes

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KIB": 2**10, "MIB": 2**20,
          "GIB": 2**30, "TIB": 2**40}


def parse_bytes(value) -> int:
    """``value`` as a number of bytes: an int, or a string such as ``"8GB"``, ``"512 MiB"``, ``"1.5e9"``."""
    if isinstance(value, bool):
        raise TypeError("max_memory must be a number of bytes or a string like '8GB', got a bool")
    if isinstance(value, (int, float)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"max_memory must be positive, got {value!r}")
        return int(value)
    if not isinstance(value, str):
        raise TypeError(f"max_memory must be a number of bytes or a string like '8GB', got {type(value).__name__}")
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", value)
    unit = m.group(2).upper() if m else None
    if not m or unit not in _UNITS:
        raise ValueError(f"max_memory: cannot read {value!r}; give bytes or e.g. '8GB', '512MiB'")
    out = float(m.group(1)) * _UNITS[unit]
    if out <= 0:
        raise ValueError(f"max_memory must be positive, got {value!r}")
    return int(out)


def default_budget(device=None) -> int:
    """MEMORY_FRACTION of the available memory (2 GiB when /proc/meminfo is unreadable), or of a CUDA device's free
    memory when ``device`` is one (the statistics are kept there)."""
    if device is not None and getattr(device, "type", str(device).split(":")[0]) == "cuda":
        import torch  # only reached with CUDA tensors, so torch is already loaded

        free, _ = torch.cuda.mem_get_info(device)
        return int(MEMORY_FRACTION * free)
    avail = available_memory()
    return int(MEMORY_FRACTION * avail) if avail else 2 << 30


def budget_of(max_memory, device=None) -> int:
    return default_budget(device) if max_memory is None else parse_bytes(max_memory)


def _fmt_bytes(b: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if b >= size:
            return f"{b / size:.2f} {unit}"
    return f"{int(b)} B"


@dataclass(frozen=True)
class Step:
    """One group of blocks: what it holds, how it is computed, its memory and flops per sample row."""

    what: str
    strategy: str
    nbytes: int
    flops_per_row: float
    exact: bool = True


@dataclass(frozen=True)
class MemoryPlan:
    """The plan of an exact accumulation (see :func:`plan`). ``passes`` lists the cross pairs (site-index pairs) each
    pass keeps (None: the joint matrix of every pair, in one pass)."""

    sites: dict
    budget: int
    steps: tuple
    passes: tuple
    peak: int  # everything: statistics + batch buffer + activations + workspace
    statistics_peak: int  # the statistics and the batch buffer alone (what repsim allocates)
    n: int | None = None
    batch_rows: int = PLAN_BATCH_ROWS
    notes: tuple = field(default_factory=tuple)
    space: str = "feature"  # "gram": passes over column blocks into n × n Grams (``passes`` = column fractions)
    sketch: int | None = None  # approximate: the sites wider than this were hashed to this many columns
    sketched: tuple = ()  # those sites

    @property
    def n_passes(self) -> int:
        return len(self.passes)

    @property
    def exact(self) -> bool:
        return self.sketch is None and all(s.exact for s in self.steps)

    @property
    def flops_per_row(self) -> float:
        return sum(s.flops_per_row for s in self.steps)

    def flops(self, n: int | None = None) -> float | None:
        n = self.n if n is None else n
        return None if n is None else self.flops_per_row * n

    def __str__(self) -> str:
        widths = list(self.sites.values())
        head = (f"repsim plan: {len(widths)} sites (Σp = {sum(widths):,}), budget {_fmt_bytes(self.budget)}, "
                f"{self.n_passes} pass{'es' if self.n_passes != 1 else ''}, peak {_fmt_bytes(self.peak)}"
                + (f", n = {self.n:,}" if self.n else "")
                + (f"; APPROXIMATE: {len(self.sketched)} sites sketched to {self.sketch} columns" if self.sketch
                   else ""))
        rows = [("blocks", "strategy", "memory", "flops / row", "exact")]
        rows += [(s.what, s.strategy, _fmt_bytes(s.nbytes), f"{s.flops_per_row:.3g}", "yes" if s.exact else "no")
                 for s in self.steps]
        w = [max(len(r[k]) for r in rows) for k in range(5)]
        lines = [head] + ["  " + "  ".join(c.ljust(w[k]) for k, c in enumerate(r)) for r in rows]
        total = self.flops()
        if total is not None:
            lines.append(f"  total: {total:.3g} flops for n = {self.n:,} rows")
        lines += [f"  note: {t}" for t in self.notes]
        return "\n".join(lines)


class PlanError(ValueError):
    """Nothing fits the budget; the message says what would."""


def plan(sites, pairs="all", groups=None, *, n: int | None = None, max_memory=None,
         batch_rows: int = PLAN_BATCH_ROWS, max_passes: int | None = None, activation_bytes: int = 0,
         workspace: int = WORKSPACE_BYTES, gram: bool = False, approximate=None,
         sketch_dim: int | None = None) -> MemoryPlan:
    """Plan the exact statistics of ``sites`` under a memory budget.

    Parameters
    ----------
    sites : mapping of site name → width (features)
    pairs, groups
        The pairs to keep, as in :class:`repsim.Moments` (``"all"``, ``"between"`` with groups, or a list).
    n : int, optional
        Rows (samples) to be streamed; gives the plan's total flops.
    max_memory : int or str, optional
        Budget in bytes or a string like ``"8GB"``; default MEMORY_FRACTION (½) of the available memory.
    batch_rows : int
        Rows per batch (the augmented-row buffer is rows × (Σp + L + 1) float64).
    max_passes : int, optional
        Most passes over the data allowed (default: unlimited; 1 forbids several passes).
    activation_bytes : int
        Bytes of one batch's activations held while it is accumulated (``compare`` gives them).
    workspace : int
        Reserve for BLAS and torch work buffers (default WORKSPACE_BYTES).
    gram : bool or "required"
        Gram space is allowed (every measure asked for has a Gram-space form and ``n`` is known): it is chosen when
        the crossover rule says so (Σp > GRAM_RATIO · n, docs/math.md §4.5) and its Grams fit — passes over column
        blocks of every site, each block (n rows) added to the site's n × n Gram (exact). ``"required"``: some
        measure exists only in Gram space (kernel CKA): Gram space whatever the crossover rule says, or PlanError.
    approximate : {None, False, "sketch"}
        Whether an approximate strategy may be planned when no exact one fits: ``"sketch"`` hashes every site wider
        than k to k columns (CountSketch; k the widest of SKETCH_DIMS that fits, or ``sketch_dim``) and plans the
        exact statistics of the sketched widths. The plan and every cell of a sketched site are labelled approximate.
    sketch_dim : int, optional
        The sketch width k (only with ``approximate="sketch"``).

    Returns
    -------
    MemoryPlan
        Prints as a short table: per group of blocks the strategy, its memory, flops per row, and exactness.

    Raises
    ------
    PlanError
        When nothing fits: the message gives what each strategy would need and what would fit.
    """
    if gram != "required":
        gram = flag(gram, "gram")
    if approximate not in (None, False, "sketch"):
        raise ValueError(f"approximate must be None, False or 'sketch', got {approximate!r}")
    if sketch_dim is not None and approximate != "sketch":
        raise ValueError("sketch_dim is the width of approximate='sketch'; give approximate='sketch' too")
    exact = dict(pairs=pairs, groups=groups, n=n, max_memory=max_memory, batch_rows=batch_rows,
                 max_passes=max_passes, activation_bytes=activation_bytes, workspace=workspace)
    try:
        return _exact_plan(sites, gram=gram, **exact)
    except PlanError as error:
        if approximate != "sketch":
            raise
        failure = error
    dims = SKETCH_DIMS if sketch_dim is None else (int(sketch_dim),)
    widest = max(int(p) for p in sites.values())
    for k in dims:
        if k >= widest:
            continue
        narrow = {s: min(int(p), k) for s, p in sites.items()}
        # the sketch holds one float64 copy of a batch of the widest site and its k columns while it hashes
        extra = 8 * min(batch_rows, UPDATE_ROWS) * (widest + k)
        try:
            got = _exact_plan(narrow, gram=False, **{**exact, "activation_bytes": int(activation_bytes) + extra})
        except PlanError:
            continue
        sketched = tuple(s for s, p in sites.items() if int(p) > k)
        steps = tuple(Step(st.what, f"{st.strategy}, sketched k = {k}", st.nbytes, st.flops_per_row, False)
                      for st in got.steps)
        note = (f"APPROXIMATE: {len(sketched)} of {len(sites)} sites hashed to k = {k} columns (CountSketch): each "
                f"Gram entry has a relative error of order sqrt(2/k) = {math.sqrt(2 / k):.3f}; cells between "
                "unsketched sites are exact; the error is measured on the first batch",)
        return MemoryPlan(dict(sites), got.budget, steps, got.passes, got.peak, got.statistics_peak, n, batch_rows,
                          got.notes + note, got.space, k, sketched)
    raise PlanError(f"{failure}\nNo sketch width of {list(dims)} fits either.")


def _exact_plan(sites, pairs, groups, n, max_memory, batch_rows, max_passes, activation_bytes, workspace,
                gram) -> MemoryPlan:
    names = tuple(sites)
    widths = [int(sites[s]) for s in names]
    L, P = len(widths), sum(widths)
    d = P + L + 1
    budget = budget_of(max_memory)
    cross = resolve_pairs(pairs, groups, names)
    stat_buffer = 8 * min(batch_rows, UPDATE_ROWS) * d  # Moments fills large batches UPDATE_ROWS rows at a time
    extra = int(activation_bytes) + int(workspace)
    buffer = stat_buffer + extra  # everything a pass holds besides the statistics
    own_flops = float(sum(p * p for p in widths) + 2.0 * P * (L + 1))
    every = tuple((i, j) for i in range(L) for j in range(i + 1, L))
    kept = every if cross is None else cross
    cross_bytes = [8 * widths[i] * widths[j] for i, j in kept]
    own = blocked_nbytes(widths, ())
    joint = 8 * d * d
    if gram == "required":
        if not n:
            raise PlanError("the measures asked for exist only in Gram space (n × n kernels), which needs the number "
                            "of samples before the first batch: give data with a len() (a list or a DataLoader)")
        gplan = _gram_plan(dict(zip(names, widths)), n, budget, int(workspace) + int(activation_bytes), max_passes,
                           batch_rows)
        if gplan is None:
            raise PlanError(f"the measures asked for exist only in Gram space: {L} Grams of n = {n:,} samples need "
                            f"{_fmt_bytes(gram_nbytes(n, L))}, over the budget of {_fmt_bytes(budget)}; cap the "
                            "samples, compare fewer layers, or raise max_memory")
        return gplan
    if gram and n and P > GRAM_RATIO * n:
        gplan = _gram_plan(dict(zip(names, widths)), n, budget, int(workspace) + int(activation_bytes), max_passes,
                           batch_rows)
        if gplan is not None:
            return gplan
    if cross is None and joint + buffer <= budget:
        step = Step(f"joint matrix, {L} sites, every pair", "feature space, one pass (SYRK in tiles)", joint,
                    float(d * d))
        return MemoryPlan(dict(zip(names, widths)), budget, (step,), (None,), joint + buffer, joint + stat_buffer, n,
                          batch_rows)
    blocked = own + sum(cross_bytes)
    own_step = Step(f"own blocks, {L} sites", "feature space (SYRK per site)", own, own_flops)
    if blocked + buffer <= budget:
        steps = (own_step, Step(f"cross blocks, {len(kept)} pairs", "feature space, one pass (GEMM per pair)",
                                sum(cross_bytes), float(sum(2 * widths[i] * widths[j] for i, j in kept))))
        return MemoryPlan(dict(zip(names, widths)), budget, steps, (tuple(kept),), blocked + buffer,
                          blocked + stat_buffer, n, batch_rows)
    room = budget - own - buffer
    passes = _pack(kept, cross_bytes, room) if room > 0 else None
    if passes is not None and (max_passes is None or len(passes) <= max_passes):
        steps = [Step(f"own blocks, {L} sites", f"feature space (SYRK per site), every pass ×{len(passes)}", own,
                      own_flops * len(passes))]
        for k, group in enumerate(passes):
            nb = sum(8 * widths[i] * widths[j] for i, j in group)
            steps.append(Step(f"cross blocks, {len(group)} pairs", f"feature space, pass {k + 1} of {len(passes)}",
                              nb, float(sum(2 * widths[i] * widths[j] for i, j in group))))
        largest = max(sum(8 * widths[i] * widths[j] for i, j in g) for g in passes)
        note = (f"{len(passes)} passes over the data: it must yield the same batches in the same order each time",)
        return MemoryPlan(dict(zip(names, widths)), budget, tuple(steps), tuple(passes), own + buffer + largest,
                          own + stat_buffer + largest, n, batch_rows, note)
    raise PlanError(_nothing_fits(names, widths, kept, cross, budget, own, buffer, joint, blocked, max_passes))


def _gram_plan(sites: dict, n: int, budget: int, extra: int, max_passes, batch_rows) -> MemoryPlan | None:
    """Gram space: one packed n × n Gram per site, filled over passes that each collect (n rows) × (a column block of
    every site) in float32 and add it; None when the Grams alone do not fit or too many passes would be needed."""
    L, P = len(sites), sum(sites.values())
    grams = gram_nbytes(n, L)
    room = budget - grams - extra
    if room <= 0:
        return None
    per_column = 4 * n  # one float32 column of n rows, collected over a pass
    passes = max(1, math.ceil(per_column * P * 1.0 / room))
    if max_passes is not None and passes > max_passes:
        return None
    # the pass's column blocks, plus one site's block while it is joined into one array
    block = per_column * (math.ceil(P / passes) + math.ceil(max(sites.values()) / passes))
    steps = [Step(f"Grams, {L} sites", f"Gram space, n = {n:,}: packed n(n+1)/2 per site", grams, 0.0),
             Step(f"column blocks, {P:,} columns", f"feature blocks of all n rows, {passes} pass"
                  + ("es" if passes > 1 else ""), block, float(P * n))]
    note = (f"exact; the Grams cost n²/2 per column added: {P * n * n / 2:.3g} flops in all",)
    if passes > 1:
        note += (f"{passes} passes over the data: it must yield the same batches in the same order each time",)
    fractions = tuple((k / passes, (k + 1) / passes) for k in range(passes))
    return MemoryPlan(sites, budget, tuple(steps), fractions, grams + block + extra, grams + block, n, batch_rows,
                      note, space="gram")


def _pack(kept, sizes, room) -> list[tuple] | None:
    """Greedy first-fit-decreasing of the cross blocks into passes of at most ``room`` bytes (None: one block alone
    does not fit)."""
    if any(s > room for s in sizes):
        return None
    order = sorted(range(len(kept)), key=lambda k: (-sizes[k], kept[k]))
    bins: list[list] = []
    loads: list[int] = []
    for k in order:
        for b in range(len(bins)):
            if loads[b] + sizes[k] <= room:
                bins[b].append(kept[k])
                loads[b] += sizes[k]
                break
        else:
            bins.append([kept[k]])
            loads.append(sizes[k])
    return [tuple(sorted(b)) for b in bins] or [()]


def _nothing_fits(names, widths, kept, cross, budget, own, buffer, joint, blocked, max_passes) -> str:
    widest = max(range(len(widths)), key=lambda k: widths[k])
    biggest_pair = max((8 * widths[i] * widths[j] for i, j in kept), default=0)
    lines = [
        f"the exact statistics of {len(names)} sites (Σp = {sum(widths):,}, widest {names[widest]!r} with "
        f"{widths[widest]:,} features) and {len(kept)} cross pairs do not fit the memory budget of "
        f"{_fmt_bytes(budget)}:",
        f"  joint matrix (pairs='all'): {_fmt_bytes(joint + buffer)}" if cross is None else
        f"  pair-blocked statistics in one pass: {_fmt_bytes(blocked + buffer)}",
        f"  several passes: every pass needs the sites' own blocks {_fmt_bytes(own)} + the batch buffer, activations "
        f"and workspace {_fmt_bytes(buffer)} + the largest cross block {_fmt_bytes(biggest_pair)} = "
        f"{_fmt_bytes(own + buffer + biggest_pair)}" + (f" (and at most {max_passes} passes were allowed)"
                                                          if max_passes is not None else ""),
        "What would fit: pool the widest layers (reduce='pool' averages the spatial or token axes), keep fewer pairs "
        "(pairs='between' or a list), compare fewer layers, raise max_memory, use smaller batches, or allow the "
        "approximate minibatch estimator (estimator='minibatch', batch_size=...), or allow a feature sketch "
        "(approximate='sketch': every wide site hashed to k columns, labelled approximate).",
    ]
    return "\n".join(lines)
