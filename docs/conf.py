"""Sphinx configuration of the repsim documentation.

Build: ``pip install ".[docs]" && sphinx-build -b html -q docs /tmp/repsim-docs``. The Markdown pages are sources
(MyST); the API reference is generated from the docstrings of the installed package. No network access is needed
(no intersphinx).
"""
from __future__ import annotations

import importlib.util
import os
import sys

# Document the installed package; fall back to the source tree when repsim is not installed.
_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
if importlib.util.find_spec("repsim") is None:  # pragma: no cover - depends on the environment
    sys.path.insert(0, _ROOT)

project = "repsim"
author = "the repsim authors"
copyright = "the repsim authors"

try:
    from repsim import __version__ as release
except Exception:  # pragma: no cover - a broken import is reported by autodoc itself
    release = "unknown"
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# MyST: anchors for headings down to ###, so pages can link to sections (math.md#…).
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]

# Formulas in the pages are Unicode text blocks; nothing to lex.
highlight_language = "none"

# autodoc / autosummary: respect each module's __all__, keep the source order.
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "description"
autosummary_generate = False

# Napoleon: NumPy-style docstrings only, plus the project's own sections.
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_custom_sections = [("Invariances", "notes_style"), ("Axes", "notes_style")]

html_theme = "alabaster"
html_title = "repsim"


# ---------------------------------------------------------------------------------------------------- docstrings
# The docstrings write norms and set sizes as plain text (|x|², |X*| + |Y*|); in reStructuredText a |word| is a
# substitution reference. Escape the bars outside literals, roles, math blocks and tables before rendering.
import re  # noqa: E402

_LITERAL = re.compile(r"(``.+?``|:[a-z:]+:`[^`]*`|`[^`]*`)")
_BAR = re.compile(r"(?<!\\)\|")


def _escape_line(line: str) -> str:
    parts = _LITERAL.split(line)
    return "".join(p if i % 2 else _BAR.sub(r"\\|", p) for i, p in enumerate(parts))


def _escape_bars(app, what, name, obj, options, lines):
    math_indent = None
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if math_indent is not None:
            if stripped and indent <= math_indent:
                math_indent = None
            else:
                continue
        if stripped.startswith(".. math::"):
            math_indent = indent
            continue
        if stripped.startswith(("+-", "+=")) or (stripped.startswith("|") and stripped.rstrip().endswith("|")):
            continue  # grid tables
        lines[i] = _escape_line(line)


# ---------------------------------------------------------------------------------------------------- measures
# ``.. repsim-measures::`` renders the registry of measures (repsim.measures()) as a table at build time, so the
# documented list of measures is always the code's.
from docutils import nodes  # noqa: E402
from docutils.parsers.rst import Directive  # noqa: E402


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ") or " "


class MeasuresTable(Directive):
    has_content = False

    def run(self):
        try:
            import repsim

            entries = list(repsim.measures())
        except Exception as exc:  # the registry is optional for the build: say so instead of failing
            para = nodes.paragraph(text=f"(The measure registry could not be read: {type(exc).__name__}: {exc}.)")
            return [para]
        header = ["name", "kind", "range", "spaces", "options (defaults)", "summary", "invariant to", "reproduces"]
        rows = []
        for m in entries:
            get = lambda attr, default="": getattr(m, attr, default)  # noqa: E731
            opts = {**dict(get("defaults", {}) or {}), **dict(get("gram_defaults", {}) or {})}
            rng = get("range", ())
            rows.append([
                f"``{get('name')}``",
                get("kind"),
                f"[{rng[0]:g}, {rng[1]:g}]" if isinstance(rng, tuple) and len(rng) == 2 else rng,
                ", ".join(get("spaces", ()) or ()),
                ", ".join(f"``{k}={v!r}``" for k, v in opts.items()) or "—",
                get("summary"),
                "; ".join(get("invariances", ()) or ()) or "—",
                ", ".join(sorted(get("ids", {}) or {})) or "—",
            ])
        lines = [".. list-table::", "   :header-rows: 1", "   :widths: auto", ""]
        for row in [header] + rows:
            lines.append("   * - " + _cell(row[0]))
            lines.extend("     - " + _cell(c) for c in row[1:])
        container = nodes.container()
        self.state.nested_parse(
            __import__("docutils.statemachine", fromlist=["StringList"]).StringList(lines, source="repsim.measures()"),
            self.content_offset,
            container,
        )
        return container.children


def setup(app):
    app.connect("autodoc-process-docstring", _escape_bars)
    app.add_directive("repsim-measures", MeasuresTable)
