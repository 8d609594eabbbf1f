"""Metrics as pure functions of the statistics (docs/math.md §2)."""
