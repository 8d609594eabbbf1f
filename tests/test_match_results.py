"""The result objects of Wang et al.'s matches (issue 18): one-line reprs with the key numbers instead of index
arrays, the full data in the attributes and to_dict(), and plot() methods returning matplotlib Axes."""
from __future__ import annotations

import json

import numpy as np
import pytest

import repsim

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def layers():
    """64-neuron layers sharing 12 (X) / 10 (Y) neurons of one 10-dimensional subspace; Y has 2 dead neurons."""
    rng = np.random.default_rng(3)
    n = 400
    Z = rng.normal(size=(n, 10))
    X = np.hstack([Z @ rng.normal(size=(10, 12)), rng.normal(size=(n, 52))])
    Y = np.hstack([Z @ rng.normal(size=(10, 10)), rng.normal(size=(n, 52)), np.zeros((n, 2))])
    return X, Y


@pytest.fixture(scope="module")
def twins():
    """Y = X: every neuron x_i matches its twin y_i alone, so the simple matches are the 24 pairs {x_i, y_i}."""
    X = np.random.default_rng(4).normal(size=(300, 24))
    return X, X.copy()


def test_match_repr_is_one_short_line_with_the_key_numbers(layers):
    m = repsim.max_match(*layers, eps=0.3)
    assert (m.x_indices.size, m.y_indices.size, m.n_x, m.n_y) == (12, 10, 64, 64)
    r = repr(m)
    assert r == "Match(eps=0.3, size 12/64 \u00d7 10/64 neurons, similarity 0.172, dead neurons 0 and 2)"
    assert f"{m.similarity:.3f}" == "0.172" and m.similarity == 22 / 128
    assert "array" not in r and "\n" not in r
    # the data are in the attributes and to_dict
    d = json.loads(json.dumps(m.to_dict()))
    assert d["x_indices"] == m.x_indices.tolist() == list(range(12))
    assert d["y_indices"] == list(range(10)) and d["dead_y"] == [62, 63] and d["dead_x"] == []
    assert d["similarity"] == m.similarity and d["eps"] == 0.3 and (d["n_x"], d["n_y"]) == (64, 64)


def test_match_repr_without_dead_neurons_and_empty_denominator():
    rng = np.random.default_rng(0)
    m = repsim.max_match(rng.normal(size=(50, 3)), rng.normal(size=(50, 4)), eps=0.1)
    assert repr(m) == "Match(eps=0.1, size 0/3 \u00d7 0/4 neurons, similarity 0.000)"
    empty = repsim.metrics.match.Match(np.array([], int), np.array([], int), float("nan"), 0.2, 0, 0,
                                       np.array([], int), np.array([], int))
    assert "similarity nan" in repr(empty) and empty.to_dict()["similarity"] is None


def test_match_curve_repr_lists_s_of_eps_and_elides_long_curves(layers):
    c = repsim.match_curve(*layers, eps=[0.1, 0.3, 0.5])
    r = repr(c)
    assert r.startswith("MatchCurve(s(0.1)=") and "s(0.3)=0.172" in r and r.endswith("64 \u00d7 64 neurons)")
    assert "array" not in r and "Match(" not in r
    long = repsim.match_curve(*layers, eps=np.linspace(0.05, 0.95, 19))
    lr = repr(long)
    assert lr.count("s(") == 6 and "\u2026" in lr and "s(0.05)=" in lr and "s(0.95)=" in lr
    assert len(lr) < 150


def test_match_curve_to_dict(layers):
    c = repsim.match_curve(*layers, eps=[0.3, 0.1])
    assert c.to_dict() == {"eps": [0.3, 0.1], "similarity": c.similarity.tolist()}  # unchanged by default
    d = json.loads(json.dumps(c.to_dict(matches=True)))
    assert [m["x_indices"] for m in d["matches"]] == [m.x_indices.tolist() for m in c.matches]
    with pytest.raises(TypeError, match="matches"):
        c.to_dict(matches="yes")


def test_simple_matches_repr_summarises_many_matches(twins):
    s = repsim.simple_matches(*twins, eps=0.2)
    assert len(s) == 24 and s.size_distribution() == {2: 24}
    r = repr(s)
    assert r == "SimpleMatches(eps=0.2, 24 simple matches, sizes {2: 24}, maximum match 24/24 \u00d7 24/24 neurons)"
    d = json.loads(json.dumps(s.to_dict()))
    assert d["count"] == 24 and d["size_distribution"] == {"2": 24} and d["maximum"]["similarity"] == 1.0
    assert [(m["x_indices"], m["y_indices"]) for m in d["matches"]] == [([i], [i]) for i in range(24)]


def test_simple_matches_repr_elides_a_long_size_distribution(twins):
    ms = [repsim.metrics.match.Match(np.arange(k), np.arange(k), 2 * k / 40, 0.3, 20, 20, np.array([], int),
                                     np.array([], int)) for k in range(1, 11)]
    s = repsim.metrics.match.SimpleMatches(ms, 0.3, ms[-1])
    r = repr(s)
    assert "10 simple matches" in r and "sizes {2: 1, 4: 1, 6: 1, 8: 1, \u2026, 18: 1, 20: 1}" in r
    one = repsim.metrics.match.SimpleMatches(ms[:1], 0.3, ms[0])
    assert "1 simple match," in repr(one)


# ---------------------------------------------------------------------------------------------------- plots
def test_match_curve_plot_returns_axes_with_the_curve(layers):
    from matplotlib.axes import Axes

    c = repsim.match_curve(*layers, eps=[0.5, 0.1, 0.3])
    ax = c.plot()
    assert isinstance(ax, Axes) and len(ax.lines) == 1
    x, y = ax.lines[0].get_data()
    np.testing.assert_array_equal(x, [0.1, 0.3, 0.5])  # drawn in increasing ε
    np.testing.assert_array_equal(y, c.similarity[[1, 2, 0]])
    assert ax.get_xlabel() == "ε" and "s(ε)" in ax.get_ylabel() and "64 \u00d7 64" in ax.get_title()
    assert ax.get_legend() is None
    # overlay on the same axes, labelled: two lines and a legend; a given ax keeps its title
    ax.set_title("layer 3")
    other = repsim.match_curve(layers[0], np.random.default_rng(1).normal(size=layers[1].shape), eps=[0.1, 0.3, 0.5])
    assert other.plot(ax, label="control", linestyle="--") is ax
    assert len(ax.lines) == 2 and ax.get_title() == "layer 3"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["control"]
    assert ax.lines[1].get_linestyle() == "--"


def test_simple_matches_plot_draws_one_bar_per_size(layers, twins):
    s = repsim.simple_matches(*layers, eps=0.3)
    ax = s.plot()
    dist = s.size_distribution()
    bars = ax.patches
    assert len(bars) == len(dist) >= 1
    assert [round(b.get_x() + b.get_width() / 2) for b in bars] == list(dist)
    assert [b.get_height() for b in bars] == list(dist.values())
    assert "ε = 0.3" in ax.get_title() and f"{len(s)} simple match" in ax.get_title()
    assert ax.get_xlabel() == "simple-match size |X| + |Y|"
    assert list(ax.get_xticks()) == list(dist)  # a tick under every size, none between
    ax2 = repsim.simple_matches(*twins, eps=0.2).plot(title="twins")
    assert ax2.get_title() == "twins" and len(ax2.patches) == 1 and ax2.patches[0].get_height() == 24
    assert ax2.get_xlim() == (1, 3) and list(ax2.get_xticks()) == [2]


def test_empty_simple_matches_plot_says_so():
    rng = np.random.default_rng(0)
    s = repsim.simple_matches(rng.normal(size=(60, 3)), rng.normal(size=(60, 3)), eps=0.1)
    assert len(s) == 0
    ax = s.plot()
    assert len(ax.patches) == 0 and any("empty" in t.get_text() for t in ax.texts)


def test_match_plots_refuse_bad_arguments(layers):
    from repsim.plot import plot_match_curve, plot_simple_matches

    c = repsim.match_curve(*layers, eps=[0.1, 0.3])
    s = repsim.simple_matches(*layers, eps=0.3)
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        c.plot(ax="axes")
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        s.plot(ax=3)
    with pytest.raises(TypeError, match="curve must be a MatchCurve"):
        plot_match_curve([0.1, 0.2])
    with pytest.raises(TypeError, match="matches must be a SimpleMatches"):
        plot_simple_matches([1, 2])
    with pytest.raises(TypeError, match="label must be a str"):
        c.plot(label=3)
    with pytest.raises(TypeError, match="legend must be a bool"):
        c.plot(legend="yes")
    with pytest.raises(TypeError, match="title must be a str"):
        s.plot(title=["x"])
    bad = repsim.metrics.match.MatchCurve(np.array([0.1, 0.2]), np.array([0.5]), ())
    with pytest.raises(ValueError, match="curve: eps and similarity must be 1-D of one length"):
        plot_match_curve(bad)
