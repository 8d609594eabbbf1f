"""The measure registry: every entry against its naive float64 oracle (tests/naive.py, written from the definitions),
on data with large means and on planted structure, in every space it claims; its declared invariances, range and
symmetry; the ids of other libraries; and every place that lists measures reading the registry."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import naive
from oracles import oracles
import repsim
from repsim.metrics import registry

RTOL = 1e-8  # oracle agreement on well-conditioned data (the per-metric suites test the tight bounds)


ORACLES = oracles()


# what a transform may leave unchanged when the result names neurons (a permutation renames them)
INVARIANT_VALUE = {"simple_matches": lambda r: r.size_distribution()}


def _data(rng, name):
    """Data that makes the measure non-trivial: planted shared neurons for the matches, correlated layers with
    large means for the rest."""
    if name in ("max_match", "match_curve", "simple_matches"):
        X, Y, *_ = naive.planted_subspace_pair(rng, 60, 7, 6, 3, mean=5.0)
        return X, Y
    if registry.REGISTRY[name].spaces == ("activations",):  # neighbourhoods: cosine, no common offset
        return naive.correlated_pair(rng, 120, 9, 7)
    return naive.correlated_pair(rng, 120, 9, 7, mean=1e3)


def _close(got, want, rtol=RTOL):
    if isinstance(want, dict) or (isinstance(want, list) and want and isinstance(want[0], tuple)):
        assert got == want
    else:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-12)


def test_every_entry_has_an_oracle():
    """A measure added to the registry without an oracle here fails this test."""
    assert set(ORACLES) == set(registry.REGISTRY)


@pytest.mark.parametrize("name", list(registry.REGISTRY))
def test_entry_equals_its_oracle_in_every_space(name, rng):
    spec = registry.REGISTRY[name]
    options, oracle, value = ORACLES[name]
    X, Y = _data(rng, name)
    want = oracle(X, Y, **options)
    for space in spec.spaces:
        got = value(repsim.measure(name)(X, Y, space=space, **options))
        _close(got, want)
        if spec.scalar is not None:  # the matrix entry is the same number
            acc = repsim.GramMoments(X.shape[0]).update({"x": X, "y": Y}) if space == "gram" \
                else repsim.ActivationStore().update({"x": X, "y": Y}) if space == "activations" \
                else repsim.Moments().update({"x": X, "y": Y})
            M = acc.matrix(name, **options)
            np.testing.assert_allclose(M["x", "y"], spec.matrix_value(repsim.measure(name)(X, Y, space=space,
                                                                                          **options)), rtol=1e-12)
            if spec.symmetric:
                np.testing.assert_allclose(M["y", "x"], M["x", "y"], rtol=1e-12)


def _transforms(rng, p):
    Q, _ = np.linalg.qr(rng.normal(size=(p, p)))
    A = rng.normal(size=(p, p)) + 3 * np.eye(p)
    return {
        registry.ORTHOGONAL: lambda X: X @ Q,
        registry.ISOTROPIC: lambda X: 7.5 * X,
        registry.TRANSLATION: lambda X: X + rng.normal(size=(1, p)) * 50,
        registry.INVERTIBLE: lambda X: X @ A,
        registry.PERMUTATION: lambda X: X[:, rng.permutation(p)],
        "per-neuron scaling": lambda X: X * rng.uniform(0.5, 4.0, size=(1, p)),
    }


def _invariances(spec):
    """(transform key, options) for every declared invariance; "(center=True)" names the option it needs,
    "(median bandwidth)" holds with the default options; "… of the input" applies to X only."""
    for inv in spec.invariances:
        options, x_only = {}, False
        m = re.match(r"(.*) \((\w+)=(\w+)\)$", inv)
        if m:  # "(center=True)" → True; "(rdm=euclidean)" → "euclidean"
            inv, options = m.group(1), {m.group(2): {"True": True, "False": False}.get(m.group(3), m.group(3))}
        inv = re.sub(r" \(median bandwidth\)$", "", inv)
        if inv.endswith(" of the input"):
            inv, x_only = inv[: -len(" of the input")], True
        yield inv, options, x_only


@pytest.mark.parametrize("name", list(registry.REGISTRY))
def test_declared_invariances_hold(name, rng):
    spec = registry.REGISTRY[name]
    options, _, value = ORACLES[name]
    value = INVARIANT_VALUE.get(name, value)
    X, Y = _data(rng, name)
    base_options = dict(options)
    for inv, extra, x_only in _invariances(spec):
        opts = {**base_options, **extra}
        base = value(repsim.measure(name)(X, Y, **opts))
        for side in ("x",) if x_only else ("x", "y"):
            T = _transforms(rng, (X if side == "x" else Y).shape[1])[inv]
            X2, Y2 = (T(X), Y) if side == "x" else (X, T(Y))
            _close(value(repsim.measure(name)(X2, Y2, **opts)), base, rtol=1e-7)


@pytest.mark.parametrize("name", [n for n, m in registry.REGISTRY.items() if m.scalar is not None])
def test_values_lie_in_the_declared_range_and_identity_is_extreme(name, rng):
    spec = registry.REGISTRY[name]
    options, _, value = ORACLES[name]
    X, Y = _data(rng, name)
    lo, hi = spec.range
    v = value(repsim.measure(name)(X, Y, **options))
    assert lo - 1e-12 <= v <= hi + 1e-12, (name, v, spec.range)
    same = value(repsim.measure(name)(X, X.copy(), **options))
    target = 0.0 if spec.kind == "distance" and options.get("form") != "similarity" else 1.0
    assert same == pytest.approx(target, abs=1e-6), (name, same)


def test_ids_resolve_with_their_options(rng):
    X, Y = naive.correlated_pair(rng, 100, 6, 8)  # X the narrower: google's pwcca refuses the other order
    seen = 0
    for spec in registry.REGISTRY.values():
        for lib, ids in spec.ids.items():
            for i, preset in ids.items():
                got, opts = registry.resolve(i)
                assert got is spec and opts == preset, (lib, i)
                spec.options(spec.spaces[0], preset)  # every preset is a valid option set
                seen += 1
    assert seen >= 20
    assert repsim.measure("procrustes-distance=angular")(X, Y) == repsim.procrustes(X, Y, form="angular")
    assert repsim.measure("RV2coeff")(X, Y) == repsim.rv2(X, Y, center=False)
    m = repsim.Moments().update({"a": X, "b": Y})
    assert m.matrix("pwcca-score", rows="a", cols="b")["a", "b"] == pytest.approx(repsim.pwcca(X, Y, convention="google"), rel=1e-12)
    assert m.matrix("pwcca-score", rows="a", cols="b").options["convention"] == "google"
    with pytest.raises(ValueError, match="unknown metric"):
        repsim.measure("cka-kernel=poly")


def test_measures_list_and_metadata():
    ms = repsim.measures()
    assert [m.name for m in ms] == list(registry.REGISTRY)
    for m in ms:
        assert m.kind in ("similarity", "distance") and m.reference and m.summary and m.invariances
        assert set(m.spaces) <= {"feature", "gram", "activations"} and m.statistics in ("moments", "gram", "activations")
    assert repsim.measure("cka").defaults == {"debiased": False}


def test_every_list_of_measures_reads_the_registry():
    """Moments methods, Gram-space refusals, compare's accepted metrics and the README table come from the registry."""
    feature = registry.names("feature")
    for name in feature:
        if name not in ("debiased_cka", "cca_r2"):  # matrix-only names (cka(debiased=True), cca().mean_rho2)
            assert callable(getattr(repsim.Moments, name)), name
    g = repsim.GramMoments(10, sites=["a"])
    for name in set(registry.REGISTRY) - set(registry.names("gram")):
        with pytest.raises(ValueError, match="no Gram-space form"):
            getattr(g, name)("a", "a")
    with pytest.raises(ValueError, match="no feature-space form"):
        repsim.Moments().update({"a": np.eye(5), "b": np.eye(5)}).matrix("rbf_cka")
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- measures:begin -->")[1].split("<!-- measures:end -->")[0]
    assert table.strip() == repsim.api.measure_table_markdown().strip(), (
        "README's measure table is stale: regenerate it with python -c 'import repsim; "
        "print(repsim.api.measure_table_markdown())'"
    )


def test_compare_takes_ids_of_other_libraries():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.ReLU(), torch.nn.Linear(6, 4))
    data = [torch.randn(32, 5) for _ in range(3)]
    report = repsim.compare({"a": model}, data, ["0", "2"], metrics=["nbs-score", "cka"], progress=False)
    assert report["nbs-score"].metric == "procrustes" and report["nbs-score"].options["form"] == "similarity"
    X = torch.cat([model[0](x) for x in data]).detach().numpy()
    Y = torch.cat([model(x) for x in data]).detach().numpy()
    assert report["nbs-score"]["a.0", "a.2"] == pytest.approx(repsim.procrustes(X, Y, form="similarity"), rel=1e-9)
    with pytest.raises(ValueError, match="unknown metric"):
        repsim.compare({"a": model}, data, ["0"], metrics=["no-such-score"], progress=False)
