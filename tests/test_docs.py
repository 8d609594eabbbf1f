"""The repository is self-contained in documentation.

(a) Every citation ``docs/<page>.md`` — optionally followed by `` §N`` or `` §N.M`` — in the code, the README, the
    build script, the benchmarks, the tests and the pages themselves names a page that exists, and a cited section number is the number
    of a Markdown heading of that page ("## 4. …", "### 3.5 …").
(b) Every relative link or image in README.md and docs/*.md points to an existing file.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: ``docs/math.md``, ``docs/math.md §3``, ``docs/math.md §3.5`` (a trailing sentence dot is not part of the number).
CITATION = re.compile(r"docs/([A-Za-z0-9_-]+\.md)(?:\s*§\s*(\d+(?:\.\d+)*))?")
#: A Markdown (ATX) heading whose text starts with a section number: "## 4. Gram space", "### 3.5 Rank …".
NUMBERED_HEADING = re.compile(r"^#{1,6}\s+(\d+(?:\.\d+)*)\.?(?:\s|$)")
#: Inline links and images: [text](target) / ![alt](target "title").
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def cited_files(root: Path = ROOT) -> list[Path]:
    """The files whose citations must resolve."""
    files: list[Path] = []
    files += sorted((root / "repsim").rglob("*.py"))
    files += sorted((root / "repsim").glob("*.pyi"))
    files += sorted(p for p in (root / "csrc").rglob("*") if p.is_file())
    files += [root / "README.md", root / "setup.py"]
    files += sorted((root / "bench").glob("*.py"))
    files += sorted((root / "tests").glob("*.py"))
    files += sorted((root / "docs").glob("*.md"))  # the pages cite one another the same way
    return [p for p in files if p.is_file() and "__pycache__" not in p.parts]


def citations(root: Path = ROOT) -> list[tuple[str, str, str | None]]:
    """(where, page, section or None) for every citation in :func:`cited_files`."""
    found = []
    for path in cited_files(root):
        text = path.read_text(encoding="utf-8", errors="replace")
        for lineno, line in enumerate(text.splitlines(), 1):
            for m in CITATION.finditer(line):
                found.append((f"{path.relative_to(root)}:{lineno}", m.group(1), m.group(2)))
    return found


def section_numbers(page: Path) -> set[str]:
    """The section numbers of a Markdown page's headings (outside fenced code blocks)."""
    numbers, fenced = set(), False
    for line in page.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            m = NUMBERED_HEADING.match(line)
            if m:
                numbers.add(m.group(1))
    return numbers


def broken_citations(root: Path = ROOT) -> list[str]:
    """One message per citation that does not resolve."""
    problems, sections = [], {}
    for where, page, section in citations(root):
        path = root / "docs" / page
        if not path.is_file():
            problems.append(f"{where}: cites docs/{page}, which does not exist")
            continue
        if section is not None:
            if page not in sections:
                sections[page] = section_numbers(path)
            if section not in sections[page]:
                problems.append(
                    f"{where}: cites docs/{page} §{section}, but docs/{page} has no heading numbered {section} "
                    f"(it has {sorted(sections[page], key=lambda s: [int(v) for v in s.split('.')])})"
                )
    return problems


def markdown_pages(root: Path = ROOT) -> list[Path]:
    return [root / "README.md"] + sorted((root / "docs").glob("*.md"))


def links(page: Path) -> list[tuple[int, str]]:
    """(line, target) of every inline link or image outside fenced code blocks and inline code."""
    found, fenced = [], False
    for lineno, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        line = re.sub(r"`[^`]*`", "", line)
        found += [(lineno, m.group(1)) for m in LINK.finditer(line)]
    return found


def broken_links(root: Path = ROOT) -> list[str]:
    """One message per relative link of README.md or docs/*.md whose file does not exist."""
    problems = []
    for page in markdown_pages(root):
        if not page.is_file():
            continue
        for lineno, target in links(page):
            if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith(("#", "//")):
                continue  # absolute URL (http:, https:, mailto:, …) or an anchor in the same page
            path = target.split("#", 1)[0].split("?", 1)[0]
            if not path:
                continue
            if not (page.parent / path).exists():
                problems.append(f"{page.relative_to(root)}:{lineno}: link to {target!r}, which does not exist")
    return problems


# ------------------------------------------------------------------------------------------------------- tests
def test_the_code_cites_the_docs():
    """The scan sees the citations (guards against a regex or path change that would make the test vacuous)."""
    pages = {page for _, page, _ in citations()}
    assert {"math.md", "design.md"} <= pages
    assert any(section is not None for _, _, section in citations())


def test_every_doc_citation_resolves():
    problems = broken_citations()
    assert not problems, "broken documentation citations:\n" + "\n".join(problems)


@pytest.mark.parametrize("page", ["math.md", "matches.md", "design.md", "peers.md", "contributing.md", "index.md"])
def test_doc_pages_exist(page):
    assert (ROOT / "docs" / page).is_file()


def test_every_relative_link_resolves():
    problems = broken_links()
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_the_checks_detect_breakage(tmp_path):
    """A missing page, a missing section and a missing link target are reported (the checks can fail)."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "math.md").write_text("# Math\n\n## 1. One\n\n### 1.1 Sub\n\n```\n## 2. fenced\n```\n")
    (tmp_path / "repsim").mkdir()
    docs = "docs/"  # built up so that this file's own scan does not see the broken citations below
    (tmp_path / "repsim" / "m.py").write_text(
        f'"""{docs}math.md §1.1, {docs}math.md §1. and {docs}math.md"""\n'
        f"# {docs}math.md §2 — only a fenced heading has this number\n"
        f"# {docs}nowhere.md\n"
    )
    (tmp_path / "README.md").write_text("![fig](docs/img/missing.png) [ok](docs/math.md) [web](https://x.org/a.md)\n")
    cites = broken_citations(tmp_path)
    assert len(cites) == 2
    assert "repsim/m.py:2" in cites[0] and "§2" in cites[0]
    assert "repsim/m.py:3" in cites[1] and "nowhere.md" in cites[1]
    bad_links = broken_links(tmp_path)
    assert len(bad_links) == 1 and "missing.png" in bad_links[0]
