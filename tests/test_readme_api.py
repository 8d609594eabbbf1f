"""The README's "## API" table is true: every call it shows exists with the arguments it shows, and every public
callable of ``repsim.__all__`` appears in it.

The table's grammar: one row per public entry point; its first cell holds the entry point's call(s) in backticks,
written as a signature — positional parameters by their real names, ``*args`` / ``**kwargs`` by theirs, and
``name=value`` with the real default when the value is a literal (``eps=…`` shows a parameter without its
default). ``m.`` is a :class:`repsim.Moments`. The other cells may show, in backticks, more keyword arguments of
the row's call (``forward=``, ``estimator="minibatch", batch_size=256``), other calls of repsim
(``repsim.inference.aggregate(matrices, level=0.95)``) and methods or attributes of repsim's public classes
(``.significant(alpha=0.05)``, ``cap.pop()``, ``.rho``); each must exist, with the keywords it shows.
"""
from __future__ import annotations

import ast
import dataclasses
import inspect
import re
from pathlib import Path

import pytest

import repsim

README = Path(__file__).resolve().parent.parent / "README.md"
#: instances the table writes by a short name → their class (a dotted name in repsim)
ALIASES = {"m": "Moments", "cap": "torch.Capture", "report": "Report"}
#: subpackages whose public names the table may use (besides repsim's own)
SUBPACKAGES = ("inference", "torch", "experiments")
MISSING = object()


def api_rows(text: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every body row of the table in the "## API" section."""
    lines = text.splitlines()
    start = lines.index("## API")
    rows = []
    for k in range(start + 1, len(lines)):
        line = lines[k]
        if line.startswith("#"):
            break
        if line.startswith("|") and not re.match(r"^\|[-| :]+\|$", line) and not line.startswith("| call |"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            rows.append((k + 1, [c.replace("\\|", "|") for c in cells]))
    return rows


ROWS = api_rows(README.read_text(encoding="utf-8"))


def spans(cell: str) -> list[str]:
    """The code spans of a cell (``…``, the table's placeholder, read as Python's ``...``)."""
    return [s.replace("…", "...") for s in re.findall(r"`([^`]+)`", cell)]


def public_classes() -> list[type]:
    found = [getattr(repsim, n) for n in repsim.__all__ if isinstance(getattr(repsim, n), type)]
    for sub in SUBPACKAGES:
        module = getattr(repsim, sub)
        found += [getattr(module, n) for n in module.__all__ if isinstance(getattr(module, n), type)]
    return found


def dotted(node) -> list[str] | None:
    """``a.b.c`` → ["a", "b", "c"]; None for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id] + parts[::-1]
    return None


def resolve(parts: list[str]):
    """The object a dotted name of the table refers to (MISSING when it does not exist; None when the name is not
    rooted in repsim)."""
    root, rest = parts[0], parts[1:]
    if root == "repsim":
        obj = repsim
    elif root in ALIASES:
        obj = resolve(["repsim", *ALIASES[root].split(".")])
    elif root in repsim.__all__:
        obj = getattr(repsim, root)
    else:
        return None
    for name in rest:
        obj = getattr(obj, name, MISSING)
        if obj is MISSING:
            return MISSING
    return obj


def parameters(obj) -> list[inspect.Parameter]:
    params = list(inspect.signature(obj).parameters.values())
    return params[1:] if params and params[0].name == "self" else params


def literal(node):
    """The value of a literal argument; MISSING for names and placeholders (``...``, ``[...]``)."""
    if any(isinstance(n, ast.Constant) and n.value is Ellipsis for n in ast.walk(node)):
        return MISSING
    try:
        value = ast.literal_eval(node)
    except ValueError:
        return MISSING
    return value


def same(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return tuple(a) == tuple(b)
    return type(a) is type(b) and a == b


def keyword_problems(params, keywords, what: str) -> list[str]:
    """Keywords (ast.keyword) that the parameters do not take, or whose literal value is not the default."""
    names = {p.name: p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    var_kw = [p.name for p in params if p.kind is p.VAR_KEYWORD]
    out = []
    for kw in keywords:
        if kw.arg is None:  # **name
            shown = getattr(kw.value, "id", None)
            if [shown] != var_kw:
                out.append(f"{what}: shows **{shown}, the signature has {var_kw or 'no **kwargs'}")
        elif kw.arg not in names:
            if not var_kw:
                out.append(f"{what}: no parameter {kw.arg!r} (it has {list(names)})")
    return out


def check_signature(text: str, call: ast.Call, obj) -> list[str]:
    """A first-cell call: positional names, keywords and literal defaults as in the real signature, and every
    required parameter shown."""
    params = parameters(obj)
    problems = keyword_problems(params, call.keywords, text)
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    var_pos = [p.name for p in params if p.kind is p.VAR_POSITIONAL]
    shown = set()
    for k, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred):
            if [getattr(arg.value, "id", None)] != var_pos:
                problems.append(f"{text}: shows *{getattr(arg.value, 'id', '?')}, the signature has {var_pos}")
            continue
        if k >= len(positional):
            problems.append(f"{text}: {len(call.args)} positional arguments, the signature takes {len(positional)}")
            break
        name = getattr(arg, "id", None)
        if name != positional[k].name:
            problems.append(f"{text}: positional argument {k + 1} is {positional[k].name!r}, not {name!r}")
        shown.add(positional[k].name)
    by_name = {p.name: p for p in params}
    for kw in call.keywords:
        if kw.arg is None or kw.arg not in by_name:
            continue
        shown.add(kw.arg)
        value = literal(kw.value)
        default = by_name[kw.arg].default
        if value is not MISSING and (default is inspect.Parameter.empty or not same(value, default)):
            problems.append(f"{text}: shows {kw.arg}={value!r}, the default is "
                            f"{'none' if default is inspect.Parameter.empty else repr(default)}")
    required = [p.name for p in params if p.default is inspect.Parameter.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    problems += [f"{text}: the required parameter {r!r} is not shown" for r in required if r not in shown]
    return problems


def check_mention(text: str, targets: list, classes: list) -> list[str]:
    """A span of any cell but the signatures: calls and attributes of repsim must exist with the keywords shown;
    ``name=...`` alone is a keyword of the row's call."""
    bare = re.fullmatch(r"(\w+)=", text)
    if bare:
        text = f"{bare.group(1)}=None"
    source = "_" + text if text.startswith(".") else text
    try:
        node = ast.parse(source, mode="eval").body
    except SyntaxError:
        try:
            node = ast.parse(f"_({text})", mode="eval").body  # keyword arguments of the row's call
        except SyntaxError:
            return []
        if not (isinstance(node, ast.Call) and node.keywords and not node.args):
            return []
        return keyword_problems([p for t in targets for p in parameters(t)], node.keywords, text)
    call = node if isinstance(node, ast.Call) else None
    parts = dotted(call.func if call else node)
    if parts is None:
        return []
    obj = resolve(parts)
    if obj is MISSING:
        return [f"{text}: {'.'.join(parts)} does not exist"]
    if obj is None:
        if parts[0] != "_":  # another library's name (``nn.Linear``, hoggorm's ``RVcoeff``)
            return []
        # a method or attribute of a result (``.rho``, ``.significant(alpha=0.05)``): some public class has it
        owners = [c for c in classes if hasattr(c, parts[-1]) or parts[-1] in getattr(c, "__dataclass_fields__", {})
                  or parts[-1] in _instance_attributes(c)]
        if not owners:
            return [f"{text}: no public class of repsim has {parts[-1]!r}"]
        if call is None:
            return []
        methods = [getattr(c, parts[-1]) for c in owners if callable(getattr(c, parts[-1], None))]
        if not methods:
            return [f"{text}: {parts[-1]!r} is not a method"]
        if all(keyword_problems(parameters(m), call.keywords, text) for m in methods):
            return keyword_problems(parameters(methods[0]), call.keywords, text)
        return []
    if call is None:
        return []
    if not callable(obj):
        return [f"{text}: {'.'.join(parts)} is not callable"]
    return keyword_problems(parameters(obj), call.keywords, text)


def _instance_attributes(cls) -> set:
    """Names assigned as ``self.<name>`` in a class's ``__init__`` (attributes that are no class attribute)."""
    try:
        source = inspect.getsource(cls.__init__)
    except (TypeError, OSError):
        return set()
    return set(re.findall(r"self\.(\w+)\s*=", source))


def test_the_api_table_is_found():
    assert len(ROWS) >= 20
    assert all(len(cells) == 2 for _, cells in ROWS), [line for line, cells in ROWS if len(cells) != 2]


@pytest.mark.parametrize("row", ROWS, ids=[f"line{line}" for line, _ in ROWS])
def test_every_row_is_true(row):
    line, (entry, *rest) = row
    classes = public_classes()
    problems, targets = [], []
    for text in spans(entry):
        if text.startswith("repsim ") or text == "repsim":  # the command line
            sub = text.split()[1] if len(text.split()) > 1 else None
            from repsim.__main__ import _parser

            commands = next(a for a in _parser()._actions if a.dest == "command").choices
            if sub not in commands:
                problems.append(f"{text}: no such command")
            continue
        node = ast.parse(text, mode="eval").body
        call = node if isinstance(node, ast.Call) else None
        parts = dotted(call.func if call else node)
        obj = resolve(parts) if parts else None
        if obj is None or obj is MISSING:
            problems.append(f"{text}: {'.'.join(parts or ['?'])} is not a name of repsim")
            continue
        if not callable(obj):
            problems.append(f"{text}: not callable")
            continue
        targets.append(obj)
        if call is not None:
            problems += check_signature(text, call, obj)
    assert targets, f"README.md line {line}: the first cell names no callable of repsim"
    for cell in rest:
        for text in spans(cell):
            problems += check_mention(text, targets, classes)
    assert not problems, f"README.md line {line}:\n" + "\n".join(problems)


def test_every_public_callable_appears():
    words = {w for _, cells in ROWS for cell in cells for text in spans(cell) for w in re.findall(r"\w+", text)}
    missing = [n for n in repsim.__all__ if callable(getattr(repsim, n)) and n not in words]
    assert not missing, f"repsim.__all__ names missing from the README's API table: {missing}"


def test_the_checks_detect_untrue_rows():
    """The checks fail on a mis-stated signature, an unknown keyword, a wrong default, a missing required
    parameter, an unknown method and an unknown function."""
    classes = public_classes()
    cka = repsim.cka

    def problems(text):
        return check_signature(text, ast.parse(text, mode="eval").body, cka)

    assert problems('repsim.cka(X, Y, debiased=False)') == []
    assert problems('repsim.cka(A, Y)')  # positional name
    assert problems('repsim.cka(X, Y, nope=1)')  # unknown keyword
    assert problems('repsim.cka(X, Y, debiased=True)')  # not the default
    assert problems('repsim.cka(X)')  # Y not shown
    assert problems('repsim.cka(X, Y, debiased=...)') == []  # a placeholder, not a default
    assert spans("`repsim.max_match(X, Y, eps=…)`") == ["repsim.max_match(X, Y, eps=...)"]
    assert check_signature("repsim.logit_map(head_a, head_b)",
                           ast.parse("repsim.logit_map(head_a, head_b)", mode="eval").body, repsim.logit_map)
    assert check_mention("space=", [cka], classes) == []
    assert check_mention("nope=", [cka], classes)
    assert check_mention('estimator="minibatch", batch_size=256', [repsim.compare], classes) == []
    assert check_mention('estimator="minibatch", size=256', [repsim.compare], classes)
    assert check_mention(".significant(alpha=0.05)", [cka], classes) == []
    assert check_mention(".significant(beta=0.05)", [cka], classes)
    assert check_mention(".no_such_method()", [cka], classes)
    assert check_mention("repsim.no_such_function(X)", [cka], classes)
    assert check_mention("cap.no_such_method()", [cka], classes)
    assert check_mention("m.matrix(metric, nope=1)", [cka], classes) == []  # **options takes any keyword
    assert check_mention("m.cka(x, y, nope=1)", [cka], classes)
    assert dataclasses.is_dataclass(repsim.CCAResult) and check_mention(".rho", [cka], classes) == []
