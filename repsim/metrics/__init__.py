"""Metrics as pure functions of the statistics (MATH.md §2)."""
