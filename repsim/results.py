"""Result containers."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class SimilarityMatrix:
    """A labelled matrix of one metric between sites: ``values[i, j] = metric(rows[i], cols[j])``.

    Attributes
    ----------
    metric : str
        Metric name, e.g. ``"cka"`` or ``"rv2"``.
    rows, cols : tuple of str
        Site labels of the row and column axes.
    values : ndarray of shape (len(rows), len(cols))
    options : dict
        The metric's options (e.g. ``{"center": True}``).
    """

    metric: str
    rows: tuple
    cols: tuple
    values: np.ndarray
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        v = np.asarray(self.values, dtype=np.float64)
        if v.shape != (len(self.rows), len(self.cols)):
            raise ValueError(f"values has shape {v.shape}, expected {(len(self.rows), len(self.cols))}")
        v.setflags(write=False)
        object.__setattr__(self, "values", v)
        object.__setattr__(self, "rows", tuple(self.rows))
        object.__setattr__(self, "cols", tuple(self.cols))

    @property
    def shape(self):
        return self.values.shape

    def __getitem__(self, key):
        """``m["layer1", "layer2"]`` by labels, or integer indices as on ``values``."""
        if isinstance(key, tuple) and len(key) == 2 and all(isinstance(k, str) for k in key):
            r, c = key
            if r not in self.rows:
                raise KeyError(f"row {r!r} not in {list(self.rows)}")
            if c not in self.cols:
                raise KeyError(f"column {c!r} not in {list(self.cols)}")
            return float(self.values[self.rows.index(r), self.cols.index(c)])
        return self.values[key]

    def to_dict(self) -> dict:
        """JSON-ready dict: metric, options, rows, cols and values as nested lists (NaN as None)."""
        vals = [[None if np.isnan(v) else float(v) for v in row] for row in self.values]
        return {
            "metric": self.metric,
            "options": dict(self.options),
            "rows": list(self.rows),
            "cols": list(self.cols),
            "values": vals,
        }

    def to_pandas(self):
        """A ``pandas.DataFrame`` indexed by the row labels with the column labels as columns."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_pandas() needs pandas: pip install pandas") from None
        return pd.DataFrame(np.array(self.values), index=list(self.rows), columns=list(self.cols))

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        head = f"SimilarityMatrix({self.metric}{', ' + opts if opts else ''}; rows = {len(self.rows)}, cols = {len(self.cols)})"
        width = max([len(r) for r in self.rows] + [4])
        cw = max([len(c) for c in self.cols] + [8])
        lines = [head, " " * width + "  " + "  ".join(f"{c:>{cw}}" for c in self.cols)]
        for r, row in zip(self.rows, self.values):
            lines.append(f"{r:>{width}}  " + "  ".join(f"{v:>{cw}.4f}" for v in row))
        return "\n".join(lines)
