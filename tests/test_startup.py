"""Start-up: ``import repsim`` loads its names lazily (SPEC 1 / PEP 562), so the command line's ``config``,
``--version`` and usage answer without SciPy's statistics, torch or matplotlib; every public name still resolves,
is listed by ``dir``, and pickles. Each check runs in a fresh interpreter (this one has loaded everything)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import repsim

HEAVY = ("scipy.stats", "scipy.optimize", "torch", "matplotlib", "repsim.metrics.registry")


def _run(code: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def _loaded_after(call: str) -> set:
    """Which of HEAVY (and numpy) are in sys.modules after ``call`` ran in a fresh interpreter."""
    code = (f"import sys\nfrom repsim.__main__ import main\n{call}\n"
            f"print('LOADED', sorted(m for m in {HEAVY + ('numpy',)!r} if m in sys.modules))")
    line = [ln for ln in _run(code).stdout.splitlines() if ln.startswith("LOADED")][-1]
    return set(ast.literal_eval(line[len("LOADED "):]))


def test_repsim_config_loads_no_heavy_library():
    loaded = _loaded_after("main(['config'])")
    assert not loaded & set(HEAVY), loaded


def test_version_and_usage_load_not_even_numpy():
    for call in ("try:\n    main(['--version'])\nexcept SystemExit:\n    pass", "main([])"):
        assert _loaded_after(call) == set(), call


def test_import_repsim_is_lazy_and_every_public_name_resolves():
    code = """
import pickle, sys, types
import repsim
assert 'repsim.api' not in sys.modules and 'numpy' not in sys.modules, sorted(m for m in sys.modules if 'repsim' in m)
assert set(repsim.__all__) <= set(dir(repsim))
# the module that defines compare imported first (as repsim.demo does) leaves repsim.compare the function
import importlib
module = importlib.import_module('repsim._compare')
assert isinstance(module, types.ModuleType) and repsim.compare is module.compare
from repsim import compare, cka, Moments
assert compare is module.compare
for name in repsim.__all__:
    assert getattr(repsim, name) is not None, name
assert isinstance(repsim.inference, types.ModuleType) and callable(repsim.experiments.stitching_table)
import numpy as np
m = repsim.Moments().update({'a': np.arange(20.0).reshape(10, 2) ** 2, 'b': np.arange(10.0)[:, None] ** 3})
back = pickle.loads(pickle.dumps(m))
assert back.cka('a', 'b') == m.cka('a', 'b')
assert pickle.loads(pickle.dumps(repsim.cka)) is repsim.cka
try:
    repsim.no_such_name
except AttributeError as exc:
    assert 'no_such_name' in str(exc)
else:
    raise AssertionError('repsim.no_such_name resolved')
"""
    _run(code)


def test_lazy_table_matches_the_static_imports():
    """The names ``__getattr__`` loads (``_EXPORTS``) are those that the ``if TYPE_CHECKING:`` block imports for
    static analysers, from the same modules, and with ``inference`` they are ``__all__``."""
    tree = ast.parse(Path(repsim.__file__).read_text(encoding="utf-8"))
    block = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING")
    static = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.level == 1, ast.dump(node)
        for alias in node.names:
            static[alias.asname or alias.name] = node.module or alias.name
    assert static == {**repsim._EXPORTS, "inference": "inference"}
    assert set(repsim.__all__) == set(static) | {"__version__"}
