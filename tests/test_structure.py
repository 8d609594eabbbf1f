"""The package's structure: no import circles, imports pointing down the floors (module level only, but for the
documented lazy loads), one accumulator protocol, the public names reachable as the README writes them."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import repsim
from repsim._minibatch import MinibatchCKA
from repsim.accumulator import Accumulator

PKG = Path(repsim.__file__).resolve().parent

# Function-level imports of repsim modules that are allowed: loads deferred so that `import repsim` needs neither
# torch nor Numba's compilation (each says so in a comment where it is made).
LAZY = {
    ("repsim._compare", "repsim._plan"), ("repsim._compare", "repsim._stream"), ("repsim._compare", "repsim._layers"),
    ("repsim.gram.tiles", "repsim._kernels.numba_gram"), ("repsim.inference.testing", "repsim._kernels.numba_perm"), ("repsim._engines", "repsim._kernels.numba_augment"),
    ("repsim.demo", "repsim.demo.pipeline"), ("repsim.demo", "repsim.demo.report"),
    # the CLI loads a sub-command's heavy parts only when that sub-command runs: `repsim config` / `--help` answer
    # without torch and matplotlib (the demo) or pyarrow (the file readers of repsim.io)
    ("repsim.__main__", "repsim.demo"), ("repsim.__main__", "repsim.io"),
    # ... and the measures only for `repsim example`, NumPy and SciPy only for `repsim config`: `--version` and the
    # usage load argparse alone (tests/test_startup.py)
    ("repsim.__main__", "repsim._example"), ("repsim.__main__", "repsim._config"),
    # Numba's k-NN kernels compile on the first neighbourhood measure, not with `import repsim`
    ("repsim._knn", "repsim._kernels.numba_knn"),
    # the Numba match engine (a build without the compiled core) loads on the first neuron match
    ("repsim._engines", "repsim._kernels.numba_match"),
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(mod: str, node: ast.ImportFrom, is_pkg: bool, modules) -> list[str]:
    if node.level == 0:
        base = node.module or ""
    else:
        parts = mod.split(".")
        parts = parts if is_pkg else parts[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join(parts + ([node.module] if node.module else []))
    subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
    return subs or [base]


def _graph():
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    edges, lazy = {m: set() for m in modules}, set()
    for mod, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = set(id(n) for n in tree.body)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                targets = _resolve(mod, node, path.name == "__init__.py", modules)
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            targets = [t for t in targets if t in modules and t != mod]
            if not targets:
                continue
            if id(node) in top or _in_try_at_top(tree, node):
                edges[mod].update(targets)
            else:
                lazy.update((mod, t) for t in targets)
    return edges, lazy


def _in_try_at_top(tree, node) -> bool:
    """Inside a module-level ``try`` (an optional import) or ``if TYPE_CHECKING:`` (what static analysers see of a
    lazily loading package)."""
    return any((isinstance(t, ast.Try) or (isinstance(t, ast.If) and _type_checking(t.test)))
               and any(node is n for n in ast.walk(t)) for t in tree.body)


def _type_checking(test) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def test_no_import_circles():
    edges, _ = _graph()
    state, stack = {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(edges[m]):
            if t.startswith(m + "."):  # a package importing its own submodules is not a climb back up
                continue
            if state.get(t) == 1:
                raise AssertionError("import circle: " + " -> ".join(stack[stack.index(t):] + [t]))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)


def test_function_level_imports_are_only_the_documented_lazy_loads():
    _, lazy = _graph()
    assert lazy <= LAZY, sorted(lazy - LAZY)


def test_metrics_floor_imports_no_accumulator():
    edges, _ = _graph()
    for mod, targets in edges.items():
        if mod.startswith("repsim.metrics"):
            up = {t for t in targets if t.split(".")[1] in ("moments", "gram", "api", "_compare", "accumulator",
                                                              "_minibatch", "results")}
            assert not up, (mod, up)


def test_three_accumulators_share_one_protocol(tmp_path, rng):
    torch = pytest.importorskip("torch")
    X, Y = rng.normal(size=(40, 6)), rng.normal(size=(40, 5))
    accs = {
        "feature": repsim.Moments().update({"x": X, "y": Y}),
        "gram": repsim.GramMoments(40).update({"x": X, "y": Y}),
        "minibatch": MinibatchCKA(40).update({"x": torch.from_numpy(X), "y": torch.from_numpy(Y)}),
    }
    for space, acc in accs.items():
        assert isinstance(acc, Accumulator) and acc.space == space
        assert acc.sites == ("x", "y") and acc.n == 40 and isinstance(acc.info, dict)
        path = tmp_path / f"{space}.npz"
        acc.save(path)
        back = type(acc).load(path)
        np.testing.assert_array_equal(back.matrix("cka").values, acc.matrix("cka").values)
    # one chunk of all rows: minibatch CKA is debiased CKA; feature and Gram space agree on linear CKA
    np.testing.assert_allclose(accs["minibatch"].matrix("cka")["x", "y"], repsim.cka(X, Y, debiased=True),
                               rtol=1e-10)
    np.testing.assert_allclose(accs["gram"].matrix("cka").values, accs["feature"].matrix("cka").values, rtol=1e-12)
    with pytest.raises(ValueError, match="only 'cka'"):
        accs["minibatch"].matrix("rv2")
    (tmp_path / "junk.npz").write_bytes(b"not a file")
    for acc in accs.values():
        with pytest.raises(ValueError, match="not a repsim"):
            type(acc).load(tmp_path / "junk.npz")
        with pytest.raises(ValueError, match="not a repsim"):  # another accumulator's file is refused
            type(acc).load(tmp_path / ("gram.npz" if acc.space != "gram" else "feature.npz"))


def test_public_names_as_the_readme_writes_them():
    code = ("import repsim; assert callable(repsim.experiments.stitching_table); "
            "assert callable(repsim.experiments.projection_curves); assert repsim.__version__; "
            "import sys; assert 'torch' not in sys.modules, 'import repsim must not import torch'")
    subprocess.run([sys.executable, "-c", code], check=True)
    from repsim._version import __version__

    assert repsim.__version__ == __version__
    with pytest.raises(AttributeError):
        repsim.no_such_name  # noqa: B018
