"""The boundary of the compiled core: its constants agree with repsim._limits, its stub agrees with the module,
and its kernels refuse arrays of the wrong layout instead of reading them as C-contiguous float64."""
from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest

core = pytest.importorskip("repsim._core", reason="the compiled core repsim._core is not built")

from repsim import _limits  # noqa: E402  (after the skip: only meaningful with the core)

STUB = Path(__file__).resolve().parents[1] / "repsim" / "_core.pyi"

# Every numeric constant repsim._core exports -> its counterpart in repsim._limits.
CONSTANTS = {"MAX_NORM": "MAX_NORM", "DEP_TOL": "DEP_TOL", "ONE_TOL": "ONE_TOL"}


def _public_names(module) -> set[str]:
    # Single-underscore names such as _match_lapack are part of the boundary (tests use them); dunders are not.
    return {n for n in dir(module) if not (n.startswith("__") and n.endswith("__"))}


def _runtime_constants() -> set[str]:
    return {n for n in _public_names(core) if not callable(getattr(core, n))}


def _runtime_functions() -> set[str]:
    return {n for n in _public_names(core) if callable(getattr(core, n))}


# ------------------------------------------------------------------------------------------------ (a) constants


@pytest.mark.parametrize("name", sorted(CONSTANTS))
def test_constant_matches_limits(name):
    value = getattr(core, name)
    expected = getattr(_limits, CONSTANTS[name])
    assert isinstance(value, float)
    assert value == expected, f"repsim._core.{name} = {value!r} but repsim._limits.{CONSTANTS[name]} = {expected!r}"


def test_every_core_constant_has_a_python_counterpart():
    """A constant added to the core must be added to CONSTANTS (and to repsim._limits) too."""
    assert _runtime_constants() == set(CONSTANTS)


def test_max_norm_is_the_bound_fill_augmented_applies():
    """The exported MAX_NORM is the value the kernel compares with, not just a copy of it."""
    scale = math.sqrt(core.MAX_NORM)  # one column: |x - 0|^2 = x^2
    refs = [np.zeros(1)]
    out = np.empty((2, 3))
    below = np.array([[0.0], [scale * 0.99]])
    assert core.fill_augmented(out, [below], refs) == (-1, -1)
    above = np.array([[0.0], [scale * 1.01]])
    assert core.fill_augmented(out, [above], refs) == (0, 1)


# ----------------------------------------------------------------------------------------------------- (b) stub


def _stub() -> tuple[dict[str, ast.FunctionDef], set[str]]:
    tree = ast.parse(STUB.read_text(encoding="utf-8"))
    functions: dict[str, ast.FunctionDef] = {}
    constants: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            functions[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            constants.add(node.target.id)
        elif isinstance(node, ast.Assign):
            constants.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return functions, constants


def _split_top_level(text: str) -> list[str]:
    """Split a parameter list at the commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _signature_params(func) -> list[tuple[str, str | None]]:
    """(name, default source or None) of each parameter in the pybind11 signature, the first line of __doc__."""
    line = func.__doc__.splitlines()[0]
    assert line.startswith(func.__name__ + "("), line
    depth, body = 0, None
    for i in range(len(func.__name__), len(line)):
        if line[i] == "(":
            depth += 1
        elif line[i] == ")":
            depth -= 1
            if depth == 0:
                body = line[len(func.__name__) + 1 : i]
                break
    assert body is not None, line
    params = []
    for part in _split_top_level(body):
        head, _, default = part.partition("=")
        params.append((head.split(":")[0].strip(), default.strip() or None))
    return params


def test_stub_declares_exactly_the_module_names():
    functions, constants = _stub()
    assert set(functions) == _runtime_functions(), "functions of repsim._core and _core.pyi differ"
    assert constants == _runtime_constants(), "constants of repsim._core and _core.pyi differ"


@pytest.mark.parametrize("name", sorted(_runtime_functions()))
def test_stub_parameters_match_signature(name):
    functions, _ = _stub()
    assert name in functions, f"{name} is not declared in _core.pyi"
    node = functions[name]
    args = node.args
    assert not (args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs), f"{name}: unexpected stub form"
    stub_names = [a.arg for a in args.args]
    runtime = _signature_params(getattr(core, name))
    assert stub_names == [n for n, _ in runtime], f"{name}: parameter names differ from the pybind11 signature"
    # defaults: the same parameters have them, with the same values
    stub_defaults = dict(zip(stub_names[len(stub_names) - len(args.defaults) :], args.defaults))
    for pname, default in runtime:
        if default is None:
            assert pname not in stub_defaults, f"{name}({pname}): the stub gives a default the binding lacks"
        else:
            assert pname in stub_defaults, f"{name}({pname}): the binding has default {default}, the stub none"
            assert ast.literal_eval(stub_defaults[pname]) == ast.literal_eval(default), f"{name}({pname})"


# -------------------------------------------------------------------------------------------- (c) array layouts


def _fill_inputs():
    rows, p = 5, 3
    site = np.arange(rows * p, dtype=np.float64).reshape(rows, p)
    ref = np.zeros(p)
    out = np.empty((rows, p + 2))  # d = p + L + 1 with L = 1
    return out, site, ref


def test_fill_augmented_accepts_the_right_layout():
    out, site, ref = _fill_inputs()
    assert core.fill_augmented(out, [site], [ref]) == (-1, -1)
    np.testing.assert_array_equal(out[:, :3], site)
    np.testing.assert_array_equal(out[:, 3], (site**2).sum(axis=1))
    np.testing.assert_array_equal(out[:, 4], 1.0)
    # float32 sites are accepted (converted by the kernel)
    assert core.fill_augmented(out, [site.astype(np.float32)], [ref]) == (-1, -1)


@pytest.mark.parametrize(
    "bad_out",
    [
        pytest.param(lambda o: np.asfortranarray(o), id="fortran"),
        pytest.param(lambda o: o.astype(np.float32), id="float32"),
        pytest.param(lambda o: np.empty((o.shape[0], 2 * o.shape[1]))[:, ::2], id="strided"),
    ],
)
def test_fill_augmented_rejects_wrong_out(bad_out):
    out, site, ref = _fill_inputs()
    with pytest.raises((TypeError, ValueError)):
        core.fill_augmented(bad_out(out), [site], [ref])


@pytest.mark.parametrize(
    "which, bad",
    [
        ("site", lambda a: np.asfortranarray(a)),
        ("site", lambda a: a.astype(np.int64)),
        ("ref", lambda a: a.astype(np.float32)),
        ("ref", lambda a: np.zeros(2 * a.size)[::2]),
    ],
    ids=["site-fortran", "site-int64", "ref-float32", "ref-strided"],
)
def test_fill_augmented_rejects_wrong_sites(which, bad):
    out, site, ref = _fill_inputs()
    if which == "site":
        site = bad(site)
    else:
        ref = bad(ref)
    with pytest.raises((TypeError, ValueError)):
        core.fill_augmented(out, [site], [ref])


def _match_inputs():
    rng = np.random.default_rng(7)
    n, p, q = 20, 4, 3
    x = rng.standard_normal((n, p))
    y = np.hstack([x[:, :2] @ rng.standard_normal((2, 2)), rng.standard_normal((n, 1))])
    xc, yc = x - x.mean(0), y - y.mean(0)
    A, B, C = xc.T @ xc, yc.T @ yc, xc.T @ yc
    return dict(A=A, B=B, C=C, mu=x.mean(0), nu=y.mean(0), n=float(n), center=False,
                start_x=np.ones(p, bool), start_y=np.ones(q, bool), eps_desc=np.array([0.5, 0.1]))


def test_max_match_curve_accepts_the_right_layout():
    masks = core.max_match_curve(**_match_inputs())
    assert len(masks) == 2
    for mx, my in masks:
        assert mx.dtype == np.bool_ and mx.shape == (4,)
        assert my.dtype == np.bool_ and my.shape == (3,)


@pytest.mark.parametrize("arg", ["A", "C", "mu", "eps_desc"])
@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda a: np.asfortranarray(a) if a.ndim == 2 else np.zeros(2 * a.size)[::2], id="fortran-or-strided"),
        pytest.param(lambda a: a.astype(np.float32), id="float32"),
    ],
)
def test_max_match_curve_rejects_wrong_layout(arg, bad):
    kwargs = _match_inputs()
    kwargs[arg] = bad(kwargs[arg])
    assert not (kwargs[arg].flags.c_contiguous and kwargs[arg].dtype == np.float64)
    with pytest.raises((TypeError, ValueError)):
        core.max_match_curve(**kwargs)


def test_max_match_curve_rejects_non_bool_masks():
    kwargs = _match_inputs()
    kwargs["start_x"] = kwargs["start_x"].astype(np.int8)
    with pytest.raises((TypeError, ValueError)):
        core.max_match_curve(**kwargs)
