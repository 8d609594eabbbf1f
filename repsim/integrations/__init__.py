"""Integrations with distributed and training frameworks (docs/files.md §5): :mod:`repsim.integrations.dask` (tree
reductions of per-partition statistics) and :mod:`repsim.integrations.torchmetrics` (a ``torchmetrics.Metric``
whose state is the exact statistics). Neither is imported by ``import repsim``; import the one you use."""
