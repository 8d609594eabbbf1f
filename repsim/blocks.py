"""Pair-blocked statistics: every site's own augmented block, plus only the cross blocks asked for (docs/math.md §1.3).

The joint matrix G of docs/math.md §1 holds, for every pair of sites, the block Σ x̃ ỹᵀ; its memory grows with
(Σp)². Most comparisons read few of those blocks (two models compared layer by layer read only the blocks *between*
the models). :class:`BlockedStore` keeps exactly what the kept pairs need:

* ``diag[s]``  — Σ x̃_s x̃_sᵀ (upper triangle), every site;
* ``cross[(s, t)]`` — Σ x̃_s x̃_tᵀ, kept pairs only;
* ``tail``     — Σ x̃_s a_t and Σ x̃_s (the third-order and first-order columns), valid where t = s or (s, t) is kept;
* ``corner``   — Σ a_s a_t, Σ a_s and n, valid where t = s or (s, t) is kept;

memory Σ_s (p_s + 1)² + Σ_kept p_s p_t (plus P·(L + 1) + (L + 1)² words). The tail and corner entries of pairs
that are not kept are accumulated (one GEMM covers the whole tail) but never read: they cannot be moved to another
reference without the cross block (the shift mixes a_t with Σ x̃_s x̃_tᵀ δ_t), so a shift drops them and the saved
form holds them at 0.

Everything a metric reads about a kept pair (s, t) is the joint G restricted to the rows and columns
[x̃_s, x̃_t, a_s, a_t, 1]: :meth:`BlockedStore.local` assembles that small matrix, and the exact shift, the views and
the metrics of the joint path apply to it unchanged — which is why a kept pair's metric equals the joint one.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping

import numpy as np

from ._blas import add_block
from ._limits import MAX_STATISTIC
from .statistics import Layout, PairStatistics, check_finite_statistics, full_statistics, shift_upper, site_sums
from .views import Memo

ALL = "all"
BETWEEN = "between"


def resolve_pairs(pairs, groups, sites: tuple[str, ...]) -> tuple | None:
    """The kept cross pairs as sorted (i, j) site-index pairs with i < j, or None for every pair (the joint matrix).

    ``pairs``: ``"all"``; ``"between"`` with ``groups`` (a sequence of site-name sequences, or a mapping name →
    sites): every pair of sites in different groups; or an explicit iterable of (x, y) site-name pairs.
    """
    index = {s: k for k, s in enumerate(sites)}
    if isinstance(pairs, str):
        if pairs == ALL:
            if groups is not None:
                raise ValueError("groups= goes with pairs='between'; pairs='all' keeps every pair")
            return None
        if pairs != BETWEEN:
            raise ValueError(f"pairs must be 'all', 'between' or a list of (site, site) pairs, got {pairs!r}")
        members = _groups(groups, index)
        out = set()
        for a, ga in enumerate(members):
            for gb in members[a + 1 :]:
                out.update((min(i, j), max(i, j)) for i in ga for j in gb)
        return tuple(sorted(out))
    if groups is not None:
        raise ValueError("groups= goes with pairs='between'")
    if not isinstance(pairs, Iterable):
        raise TypeError(f"pairs must be 'all', 'between' or a list of (site, site) pairs, got {type(pairs).__name__}")
    out = set()
    for item in pairs:
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(s, str) for s in item)):
            raise TypeError(f"pairs: each pair must be two site names, got {item!r}")
        for s in item:
            if s not in index:
                raise ValueError(f"pairs: unknown site {s!r}; the sites are {list(sites)}")
        i, j = index[item[0]], index[item[1]]
        if i != j:  # a site with itself is always kept
            out.add((min(i, j), max(i, j)))
    return tuple(sorted(out))


def _groups(groups, index) -> list[list[int]]:
    if groups is None:
        raise ValueError("pairs='between' needs groups= (e.g. the sites of each model)")
    if isinstance(groups, Mapping):
        groups = list(groups.values())
    members, seen = [], set()
    for g in groups:
        if isinstance(g, str):
            raise TypeError(f"groups must be sequences of site names, got the str {g!r}")
        ids = []
        for s in g:
            if s not in index:
                raise ValueError(f"groups: unknown site {s!r}; the sites are {list(index)}")
            if s in seen:
                raise ValueError(f"groups: site {s!r} is in more than one group")
            seen.add(s)
            ids.append(index[s])
        members.append(ids)
    if len(members) < 2:
        raise ValueError("pairs='between' needs at least two groups")
    return members


def blocked_nbytes(dims, cross) -> int:
    """Bytes of a :class:`BlockedStore` for site widths ``dims`` and kept cross pairs ``cross`` (index pairs)."""
    dims = [int(p) for p in dims]
    L, P = len(dims), sum(dims)
    words = sum(p * p for p in dims) + sum(dims[i] * dims[j] for i, j in cross) + P * (L + 1) + (L + 1) ** 2
    return 8 * words


class JointStore:
    """The joint matrix G of every pair (``pairs="all"``): the upper triangle of a Fortran-ordered (d, d) array."""

    cross = None

    def __init__(self, layout: Layout, G: np.ndarray | None = None):
        self.layout = layout
        self.G = np.zeros((layout.d, layout.d), order="F") if G is None else G

    def kept(self, i: int, j: int) -> bool:
        return True

    @property
    def nbytes(self) -> int:
        return self.G.nbytes

    def add(self, W: np.ndarray) -> None:
        add_block(W, 0, 0, self.G, upper=True)  # G += WᵀW in place, in tiles of bounded edge

    def add_dense(self, G_upper: np.ndarray) -> None:
        self.G += G_upper

    def site_sums(self) -> list[np.ndarray]:
        return site_sums(self.G, self.layout)

    def copy(self) -> "JointStore":
        return JointStore(self.layout, self.G.copy(order="F"))

    def shift(self, deltas) -> "JointStore":
        return JointStore(self.layout, shift_upper(self.G.copy(order="F"), self.layout, deltas))

    def add_store(self, other: "JointStore") -> None:
        self.G += other.G

    def check_finite(self, what: str) -> None:
        check_finite_statistics(self.G, self.layout.n_features, what)

    def view(self, kind: str, n: int, deltas, reference, center: bool):
        """The joint path's views: the lazy pair view on G itself, or the full view of a shifted copy."""
        if kind == "pairs":
            return PairStatistics(self.G, self.layout, n, deltas, center, MAX_STATISTIC, reference)
        return full_statistics(self.G.copy(order="F"), self.layout, n, deltas, reference, center)

    def packed(self) -> np.ndarray:
        """The upper triangle, row by row (the saved and all-reduced form)."""
        return np.asarray(self.G)[np.triu_indices(self.layout.d)]

    @classmethod
    def from_packed(cls, layout: Layout, packed: np.ndarray, cross=None) -> "JointStore":
        store = cls(layout)
        store.G[np.triu_indices(layout.d)] = packed
        return store

    @staticmethod
    def packed_size(layout: Layout, cross=None) -> int:
        return layout.d * (layout.d + 1) // 2


class BlockedStore:
    """The blocks of G that the kept pairs need, about one reference (see the module docstring)."""

    def __init__(self, layout: Layout, cross: tuple):
        self.layout = layout
        self.cross = tuple(cross)
        self._kept = set(self.cross)
        L, P = len(layout.sites), layout.n_features
        # one allocation for every block (one mapping, returned whole when the store is freed), carved into
        # Fortran-ordered views
        shapes = [(p, p) for p in layout.dims] + [(layout.dims[i], layout.dims[j]) for i, j in self.cross]
        shapes += [(P, L + 1), (L + 1, L + 1)]
        self._slab = np.zeros(sum(a * b for a, b in shapes))
        views, pos = [], 0
        for a, b in shapes:
            views.append(self._slab[pos : pos + a * b].reshape((a, b), order="F"))
            pos += a * b
        self.diag = views[:L]
        self.blocks = dict(zip(self.cross, views[L : L + len(self.cross)]))
        self.tail, self.corner = views[-2], views[-1]
        # entries of the pairs that are not kept: (tail rows of site s, tail column t) and corner (s, t), s ≠ t
        valid = np.eye(L, dtype=bool)
        for i, j in self.cross:
            valid[i, j] = valid[j, i] = True
        self._valid = valid
        self._tail_mask = np.repeat(~valid, layout.dims, axis=0)  # (P, L): True where not kept

    # ------------------------------------------------------------------ queries
    def kept(self, i: int, j: int) -> bool:
        return i == j or (min(i, j), max(i, j)) in self._kept

    @property
    def n(self) -> int:
        return int(round(self.corner[-1, -1]))

    @property
    def nbytes(self) -> int:
        return self._slab.nbytes

    def site_sums(self) -> list[np.ndarray]:
        """Σ x̃ of every site (the ones column)."""
        return [np.array(self.tail[self.layout.cols(s), -1]) for s in self.layout.sites]

    def arrays(self) -> list[np.ndarray]:
        """Every stored array, in a fixed order (save, all-reduce, finiteness checks)."""
        return [*self.diag, *(self.blocks[ij] for ij in self.cross), self.tail, self.corner]

    # ------------------------------------------------------------------ accumulation
    def add(self, W: np.ndarray) -> None:
        """Add the augmented rows W (C-ordered, rows × d, the joint layout) to every kept block, in place."""
        lay, P = self.layout, self.layout.n_features
        for k, s in enumerate(lay.sites):
            off = lay.offsets[k]
            add_block(W, off, off, self.diag[k], upper=True)
        for (i, j), B in self.blocks.items():
            add_block(W, lay.offsets[i], lay.offsets[j], B, upper=False)
        add_block(W, 0, P, self.tail, upper=False)  # every site's x̃ against every a_t: one GEMM, kept or not
        add_block(W, P, P, self.corner, upper=True)

    def _clear_unkept(self) -> None:
        L = len(self.layout.sites)
        self.tail[:, :L][self._tail_mask] = 0.0
        self.corner[:L, :L][~self._valid] = 0.0

    def add_store(self, other: "BlockedStore") -> None:
        self._slab += other._slab

    def check_finite(self, what: str) -> None:
        """The kept blocks of shifted statistics: finite, second-order entries within MAX_STATISTIC."""
        top, finite = 0.0, True
        for a in (*self.diag, *self.blocks.values()):
            if a.size:
                top = max(top, float(np.max(np.abs(a))))
                finite = finite and bool(np.isfinite(a).all())
        finite = finite and bool(np.isfinite(self.tail).all() and np.isfinite(self.corner).all())
        if not (top <= MAX_STATISTIC and finite):
            raise ValueError(
                f"{what} gives statistics beyond float64's safe range (largest second-order entry {top:.3g}, limit "
                f"{MAX_STATISTIC:g}, or an overflow): the activations are too large relative to their spread or to "
                "the origin; rescale them (the similarity metrics are scale invariant)"
            )

    def packed(self) -> np.ndarray:
        """Every stored entry as one vector (diagonal blocks by their upper triangles): the saved and all-reduced
        form, with the entries of pairs that are not kept at 0."""
        self._clear_unkept()
        parts = [b[np.triu_indices(b.shape[0])] for b in self.diag]
        parts += [self.blocks[ij].ravel(order="F") for ij in self.cross]
        parts += [self.tail.ravel(order="F"), self.corner[np.triu_indices(self.corner.shape[0])]]
        return np.concatenate(parts)

    @staticmethod
    def packed_size(layout: Layout, cross) -> int:
        L, dims = len(layout.sites), layout.dims
        return (sum(p * (p + 1) // 2 for p in dims) + sum(dims[i] * dims[j] for i, j in cross)
                + layout.n_features * (L + 1) + (L + 1) * (L + 2) // 2)

    @classmethod
    def from_packed(cls, layout: Layout, packed: np.ndarray, cross) -> "BlockedStore":
        store = cls(layout, cross)
        pos = 0
        for b in store.diag:
            iu = np.triu_indices(b.shape[0])
            b[iu] = packed[pos : pos + iu[0].size]
            pos += iu[0].size
        for ij in store.cross:
            B = store.blocks[ij]
            B[...] = packed[pos : pos + B.size].reshape(B.shape, order="F")
            pos += B.size
        t = store.tail
        t[...] = packed[pos : pos + t.size].reshape(t.shape, order="F")
        pos += t.size
        iu = np.triu_indices(store.corner.shape[0])
        store.corner[iu] = packed[pos : pos + iu[0].size]
        return store

    def copy(self) -> "BlockedStore":
        out = BlockedStore(self.layout, self.cross)
        out._slab[...] = self._slab
        return out

    # ------------------------------------------------------------------ the joint matrix of one pair
    def local(self, i: int, j: int) -> tuple[np.ndarray, Layout]:
        """The joint G restricted to [x̃_i, x̃_j, a_i, a_j, 1] (i == j: [x̃_i, a_i, 1]), Fortran-ordered upper
        triangle, with its 1- or 2-site layout. ValueError when the pair was not kept."""
        lay = self.layout
        if not self.kept(i, j):
            raise ValueError(self.not_kept_message(lay.sites[i], lay.sites[j]))
        if i > j:
            i, j = j, i
        L = len(lay.sites)
        ids = [i] if i == j else [i, j]
        local = Layout(tuple(lay.sites[k] for k in ids), tuple(lay.dims[k] for k in ids))
        G = np.zeros((local.d, local.d), order="F")
        q = local.n_features
        norm_cols = ids + [L]  # corner / tail columns: a_i (, a_j), 1
        for a, k in enumerate(ids):
            ca = local.cols(lay.sites[k])
            G[ca, ca] = self.diag[k]
            G[ca, q:] = self.tail[lay.cols(lay.sites[k])][:, norm_cols]
        if i != j:
            G[local.cols(lay.sites[i]), local.cols(lay.sites[j])] = self.blocks[(i, j)]
        G[q:, q:] = np.triu(self.corner[np.ix_(norm_cols, norm_cols)])
        return G, local

    def _scatter(self, i: int, j: int, G: np.ndarray, local: Layout, own: bool) -> None:
        """Write a (shifted) local matrix back: with ``own`` the blocks of site i alone (i == j), else the blocks
        that belong to the pair (its cross block, the cross third-order terms, the cross corner entry)."""
        lay = self.layout
        L = len(lay.sites)
        q = local.n_features
        if own:
            c = local.cols(lay.sites[i])
            self.diag[i][...] = G[c, c]
            rows = lay.cols(lay.sites[i])
            self.tail[rows, i] = G[c, q]
            self.tail[rows, L] = G[c, q + 1]
            self.corner[i, i], self.corner[i, L], self.corner[L, L] = G[q, q], G[q, q + 1], G[q + 1, q + 1]
            return
        ci, cj = local.cols(lay.sites[i]), local.cols(lay.sites[j])
        self.blocks[(i, j)][...] = G[ci, cj]
        self.tail[lay.cols(lay.sites[i]), j] = G[ci, q + 1]
        self.tail[lay.cols(lay.sites[j]), i] = G[cj, q]
        self.corner[i, j] = G[q, q + 1]

    def shift(self, deltas: list[np.ndarray]) -> "BlockedStore":
        """A new store moved by δ_s per site (T G Tᵀ of docs/math.md §1.1 applied to every kept local matrix)."""
        out = BlockedStore(self.layout, self.cross)
        for k in range(len(self.layout.sites)):
            G, local = self.local(k, k)
            out._scatter(k, k, shift_upper(G, local, [deltas[k]]), local, own=True)
        for i, j in self.cross:
            G, local = self.local(i, j)
            out._scatter(i, j, shift_upper(G, local, [deltas[i], deltas[j]]), local, own=False)
        return out

    def view(self, kind: str, n: int, deltas, reference, center: bool) -> "BlockedView":
        return BlockedView(self, n, reference, deltas, center, kind)

    def not_kept_message(self, x: str, y: str) -> str:
        return (
            f"the statistics of sites {x!r} and {y!r} were not kept: this Moments keeps only the pairs it was asked "
            "for (pairs=...); accumulate with pairs='all', or with this pair in pairs, to compare them"
        )


class BlockedView(Memo):
    """A statistics view over a :class:`BlockedStore`: each kept pair's local matrix (``BlockedStore.local``) read
    through the joint path's own view — :class:`~repsim.statistics.PairStatistics` (``kind="pairs"``) or the shifted,
    symmetrised :class:`~repsim.statistics.FullStatistics` (``kind="full"``) — so a kept pair's metric is the joint
    one. Implements :class:`repsim.views.FeatureView`; asking for a pair that was not kept raises ValueError naming
    it. Per-site work is memoised here, shared by every pair of a matrix."""

    _CACHE = 4  # local views kept at once (each holds a (p_x + p_y + 3)² matrix)

    def __init__(self, store: BlockedStore, n: int, reference: list, deltas: list, centered: bool, kind: str):
        self._store = store
        self.layout = store.layout
        self.n = int(n)
        self.reference = reference
        self.centered = bool(centered)
        self._deltas = deltas
        self._kind = kind
        self._memo: dict = {}
        self._locals: OrderedDict = OrderedDict()

    def _local(self, x: str, y: str):
        i, j = self.layout.index(x), self.layout.index(y)
        key = (min(i, j), max(i, j))
        view = self._locals.get(key)
        if view is not None:
            self._locals.move_to_end(key)
            return view
        G, local = self._store.local(*key)
        ids = [key[0]] if key[0] == key[1] else list(key)
        deltas = [self._deltas[k] for k in ids]
        ref = [self.reference[k] for k in ids]
        if self._kind == "pairs":
            view = PairStatistics(G, local, self.n, deltas, self.centered, MAX_STATISTIC, ref)
        else:
            view = full_statistics(G, local, self.n, deltas, ref, self.centered)
        self._locals[key] = view
        if len(self._locals) > self._CACHE:
            self._locals.popitem(last=False)
        return view

    def terms(self, x: str, y: str):
        return self._local(x, y).terms(x, y)

    def frob2(self, x: str, y: str) -> float:
        return self._local(x, y).frob2(x, y)

    def block(self, x: str, y: str) -> np.ndarray:
        return self._local(x, y).block(x, y)

    def fourth(self, x: str, y: str) -> float:
        return self._local(x, y).fourth(x, y)

    def trace(self, x: str) -> float:
        return self._local(x, x).trace(x)

    def sum(self, x: str) -> np.ndarray:
        return self._local(x, x).sum(x)

    def third(self, x: str, y: str) -> np.ndarray:
        return self._local(x, y).third(x, y)
