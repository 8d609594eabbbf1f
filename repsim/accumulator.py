"""What every accumulator shares: the :class:`Accumulator` protocol, the site bookkeeping, and metrics by registry
name.

Three accumulators implement the protocol: :class:`repsim.Moments` (feature space: streams samples, exact),
:class:`repsim.GramMoments` (Gram space: streams features, exact) and ``repsim._minibatch.MinibatchCKA`` (the
peers' minibatch CKA estimator, approximate). Each takes batches with ``update``, counts ``n``, writes and reads
its state with ``save`` / ``load``, and gives site × site matrices of any measure of the registry it has a form
for with ``matrix`` — so :func:`repsim.compare` treats them alike.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .metrics.registry import resolve
from .results import SimilarityMatrix


@runtime_checkable
class Accumulator(Protocol):
    """Statistics of named sites that grow batch by batch and answer metrics by registry name."""

    space: str  # "feature", "gram" or "minibatch"

    @property
    def n(self) -> int: ...

    @property
    def sites(self) -> tuple[str, ...]: ...

    @property
    def info(self) -> dict: ...

    def update(self, batch: Mapping[str, Any]) -> Any: ...

    def save(self, path) -> None: ...

    @classmethod
    def load(cls, path, **kwargs) -> Any: ...

    def matrix(self, metric: str, rows: Sequence[str] | None = None, cols: Sequence[str] | None = None,
               **options) -> SimilarityMatrix: ...


class SiteBook:
    """Site-name checks shared by the accumulators (needs ``sites`` and ``_empty_error()``)."""

    def _site_list(self, names, argname: str) -> list:
        """``names`` (None: every site) as a non-empty list of known site names."""
        if not self.sites:
            raise self._empty_error()
        if names is None:
            return list(self.sites)
        if isinstance(names, str):
            names = [names]
        names = list(names)
        if not names:
            raise ValueError(f"{argname} is empty")
        for s in names:
            if not isinstance(s, str):
                raise TypeError(f"{argname} must be site names (str), got {s!r}")
            if s not in self.sites:
                raise ValueError(f"{argname}: unknown site {s!r}; the sites are {list(self.sites)}")
        return names

    def _check_site(self, site, name: str = "site") -> str:
        if not isinstance(site, str):
            raise TypeError(f"{name} must be a site name (str), got {type(site).__name__}")
        if not self.sites:
            raise self._empty_error()
        if site not in self.sites:
            raise ValueError(f"{name}: unknown site {site!r}; the sites are {list(self.sites)}")
        return site

    def _empty_error(self) -> ValueError:  # pragma: no cover - each accumulator words its own
        return ValueError(f"{type(self).__name__} is empty: call update() with at least one batch first")


def measure_value(acc, metric: str, x: str, y: str, options: Mapping):
    """The registry measure ``metric`` between sites ``x`` and ``y`` of ``acc`` (its full result)."""
    spec, preset = resolve(metric)
    spec.check_space(acc.space)
    route = spec.route(acc.space, spec.options(acc.space, {**preset, **options}))
    fn = route.fn or spec.fn
    return fn(acc.view(route.view, **route.args), x, y, **route.options)


def measure_matrix(acc, metric: str, rows, cols, options: Mapping) -> SimilarityMatrix:
    """The site × site matrix of a registry measure from one accumulation (per-site work memoised on the view)."""
    spec, preset = resolve(metric)
    spec.check_space(acc.space)
    opts = spec.options(acc.space, {**preset, **options})
    spec.check_matrix()
    route = spec.route(acc.space, opts)
    fn = route.fn or spec.fn
    view = acc.view(route.view, **route.args)
    values = np.empty((len(rows), len(cols)))
    for i, x in enumerate(rows):
        for j, y in enumerate(cols):
            values[i, j] = spec.matrix_value(fn(view, x, y, **route.options))
    return SimilarityMatrix(spec.name, rows, cols, values, opts)
