"""One warning per kind per call: the warnings raised while the matrices of a comparison are computed are collected
and re-emitted once per kind (category and message with the site names taken out), saying how many pairs and which
sites; every individual warning stays available on the result (``Report.info["warnings"]``)."""
from __future__ import annotations

import contextlib
import re
import warnings


class WarningSummary:
    """Collects warnings inside :meth:`collecting`; :meth:`emit` re-emits one per kind and returns the details."""

    def __init__(self, sites):
        self.sites = sorted({str(s) for s in sites}, key=len, reverse=True)  # longest first: no partial matches
        self.records: list = []

    @contextlib.contextmanager
    def collecting(self):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        self.records.extend(caught)

    def _template(self, message: str) -> tuple[str, list]:
        named = []
        for s in self.sites:
            pattern = re.compile(r"(?<![\w.])'?" + re.escape(s) + r"'?(?![\w.])")
            if pattern.search(message):
                named.append(s)
                message = pattern.sub("<site>", message)
        return message, named

    def emit(self, stacklevel: int = 3) -> list[dict]:
        """Re-emit one warning per (category, template); return every warning as a dict (category, message,
        sites)."""
        groups: dict = {}
        details = []
        for w in self.records:
            text = str(w.message)
            template, named = self._template(text)
            details.append({"category": w.category.__name__, "message": text, "sites": named})
            entry = groups.setdefault((w.category, template), [0, set()])
            entry[0] += 1
            entry[1].update(named)
        for (category, template), (count, named) in groups.items():
            where = f"; sites: {', '.join(sorted(named))}" if named else ""
            warnings.warn(f"{template} [{count} time{'s' if count != 1 else ''} in this comparison{where}; each one "
                          "in report.info['warnings']]", category, stacklevel=stacklevel)
        return details
