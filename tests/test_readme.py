"""Every ```python example of README.md runs as written.

Each block is self-contained, so each runs on its own, in order, in a fresh interpreter with ``-W error`` (warnings
are errors, as in the test suite) and a temporary working directory (the examples write files such as
``stats.npz`` and ``out/``). A failure shows the block and its traceback. Blocks that use torch are skipped when
torch is not installed.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

FENCE_OPEN = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
USES_TORCH = re.compile(r"^\s*(?:import|from)\s+(?:[\w.]+\s*,\s*)*torch\b", re.MULTILINE)
TIMEOUT_S = 600


def python_blocks(text: str) -> list[tuple[str, int, str]]:
    """(heading of the section, first line number, code) of every ```python block, in order."""
    blocks, heading = [], "top"
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = FENCE_OPEN.match(line)
        if m:
            indent, fence, lang = m.groups()
            body, start = [], i + 2
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(fence):
                body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
                i += 1
            if lang.lower() in ("python", "py", "python3"):
                blocks.append((heading, start, textwrap.dedent("\n".join(body)) + "\n"))
        else:
            h = HEADING.match(line)
            if h:
                heading = h.group(1)
        i += 1
    return blocks


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def _block_id(block: tuple[str, int, str]) -> str:
    heading, line, _ = block
    slug = re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-") or "block"
    return f"{slug}-line{line}"


def test_readme_has_python_examples():
    assert BLOCKS, "README.md has no ```python block"


@pytest.mark.parametrize("block", BLOCKS, ids=[_block_id(b) for b in BLOCKS])
def test_readme_block_runs(block, tmp_path):
    heading, line, code = block
    if USES_TORCH.search(code):
        pytest.importorskip("torch")
    script = tmp_path / "readme_block.py"
    script.write_text(code, encoding="utf-8")
    env = dict(os.environ)
    env.pop("PYTHONWARNINGS", None)
    env.setdefault("MPLBACKEND", "Agg")  # examples that plot must not need a display
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    if proc.returncode != 0:
        numbered = "\n".join(f"{line + k:4d} | {src}" for k, src in enumerate(code.splitlines()))
        pytest.fail(
            f"README.md block of section {heading!r} (line {line}) failed with exit code {proc.returncode}.\n"
            f"--- block ---\n{numbered}\n--- stderr ---\n{proc.stderr[-8000:]}\n--- stdout ---\n{proc.stdout[-2000:]}",
            pytrace=False,
        )
