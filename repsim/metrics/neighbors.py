"""Family module of the registry (being built): its measures and their registry entries, ``ENTRIES``."""
from __future__ import annotations

ENTRIES: tuple = ()
