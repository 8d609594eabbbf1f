"""Metrics as pure functions of a statistics view (docs/math.md §2; the views: repsim.views), and the registry of
measures (repsim.metrics.registry). Nothing here imports an accumulator."""
