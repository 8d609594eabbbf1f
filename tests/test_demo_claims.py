"""The demo's claims logic on synthetic results: every verdict must be able to say "does not hold".

Each test builds the per-seed-pair numbers of :mod:`repsim.demo.claims` by hand — where the claim fails against its
control, where it holds, and where it holds on some seed pairs only — and checks the verdict. No torch, no training.
"""
from __future__ import annotations

import numpy as np
import pytest

from repsim.demo import claims

MODELS = ["cnn_a", "cnn_b", "mlp", "untrained"]
CONV = ("conv1", "conv2", "conv3", "conv4", "conv5")
LAYERS = CONV + ("fc", "head")


def _stitching(own=(0.95, 0.94, 0.70), trained_acc=0.92, control_acc=0.30, naive=0.11):
    """A stitching table: trained → trained maps at ``trained_acc`` (MLP rows scaled), the untrained row at
    ``control_acc``, naive swaps at ``naive``."""
    own4 = list(own) + [0.10]
    acc = np.full((4, 4), trained_acc)
    acc[2, :3] = trained_acc * own[2] / own[0]
    acc[3, :] = control_acc
    acc[:, 3] = 0.10
    nv = np.full((4, 4), naive)
    np.fill_diagonal(acc, own4)
    np.fill_diagonal(nv, own4)
    return {"models": MODELS, "own_accuracy": own4, "accuracy": acc.tolist(), "naive": nv.tolist()}


def _projection(base=0.96, cca_highest=0.95, pca=0.90, random_selection=0.60, cca_lowest=0.10):
    return {"n_values": [5, 10, 64], "n_classes": 10, "baseline": base,
            "accuracy": {"CCA_highest": [0.5, cca_highest, base], "CCA_lowest": [0.1, cca_lowest, base],
                         "PCA": [0.5, pca, base], "random_selection": [0.3, random_selection, base]}}


def _layer_similarity(diag=0.9, off=0.3, control_diag=0.4, p_diag=1e-6, shift_last=False):
    k = len(LAYERS)
    rv2 = np.full((k, k), off)
    np.fill_diagonal(rv2, diag)
    if shift_last:  # the last row peaks three layers away from the diagonal
        rv2[-1, -4] = diag + 0.05
    ctrl = np.full((k, k), off)
    np.fill_diagonal(ctrl, control_diag)
    p = np.full((k, k), 0.5)
    np.fill_diagonal(p, p_diag)
    return {"layers": list(LAYERS), "rv2": {"values": rv2.tolist(), "p_values": p.tolist()},
            "control_rv2": {"values": ctrl.tolist()}}


def _max_match(conv1_trained=0.90, conv1_untrained=0.50, middle=0.0):
    layers = {name: {"trained": [middle] * 3, "untrained": [0.0] * 3} for name in CONV[1:] + ("fc",)}
    layers["conv1"] = {"trained": [conv1_trained] * 3, "untrained": [conv1_untrained] * 3}
    return {"eps": [0.2, 0.3, 0.5], "layers": {name: layers[name] for name in CONV + ("fc",)}}


def _simple(small=2, neurons=64):
    return {"conv1 @ eps=0.3": {"small_match_neurons": small, "neurons": neurons,
                                "control_small_match_neurons": 1}}


def _pair(seed=0, **parts):
    base = {"seed": seed, "stitching": _stitching(), "projection": _projection(),
            "layer_similarity": _layer_similarity(), "max_match": _max_match(), "simple_matches": _simple()}
    base.update(parts)
    return base


def _results(pairs):
    return {"pairs": pairs, "data": {"n_classes": 10}}


def _verdicts(pairs) -> dict:
    return {k: c["verdict"] for k, c in claims.evaluate(_results(pairs)).items()}


def test_every_claim_holds_on_good_synthetic_results():
    out = claims.evaluate(_results([_pair(s) for s in (0, 10, 20)]))
    assert {k: c["verdict"] for k, c in out.items()} == dict.fromkeys(out, "holds")
    for c in out.values():
        assert c["criterion"] and c["control"] and len(c["per_pair"]) == 3
        assert c["aggregate"][0]["low"] is not None  # mean ± t-interval across the seed pairs


def test_seed000_fails_when_cca_highest_does_not_beat_pca():
    pairs = [_pair(s, projection=_projection(cca_highest=0.94, pca=0.95)) for s in (0, 10, 20)]
    assert _verdicts(pairs)["000"] == "does not hold"
    tie = [_pair(s, projection=_projection(cca_highest=0.95, pca=0.95)) for s in (0, 10, 20)]
    assert _verdicts(tie)["000"] == "does not hold"  # equal is not better: PCA needs no partner network
    far = [_pair(s, projection=_projection(base=0.96, cca_highest=0.85, pca=0.80)) for s in (0, 10, 20)]
    assert _verdicts(far)["000"] == "does not hold"  # beats PCA but loses 11 points to the unprojected network


def test_max_match_fails_when_the_untrained_control_matches_as_well():
    # the numbers: conv1 0.88 between trained CNNs, 0.94 against an untrained one
    pairs = [_pair(s, max_match=_max_match(0.88, 0.94)) for s in (0, 10, 20)]
    c = claims.evaluate(_results(pairs))["003_004_max_match"]
    assert c["verdict"] == "does not hold" and c["aggregate"][0]["mean"] == pytest.approx(-0.06)
    low_fails = [_pair(s, max_match=_max_match(0.9, 0.5, middle=0.6)) for s in (0, 10, 20)]
    assert _verdicts(low_fails)["003_004_max_match"] == "does not hold"  # conv layers are not low


def test_naive_swap_well_above_chance_does_not_hold():
    pairs = [_pair(s, stitching=_stitching(naive=0.369)) for s in (0, 10, 20)]
    assert _verdicts(pairs)["001_naive_swap"] == "does not hold"
    near = [_pair(s, stitching=_stitching(naive=0.105)) for s in (0, 10, 20)]
    assert _verdicts(near)["001_naive_swap"] == "holds"


def test_affine_maps_fail_against_their_control_and_their_threshold():
    control_as_good = [_pair(s, stitching=_stitching(control_acc=0.93)) for s in (0, 10, 20)]
    assert _verdicts(control_as_good)["001"] == "does not hold"
    costly = [_pair(s, stitching=_stitching(trained_acc=0.80)) for s in (0, 10, 20)]  # −15.8 % < −11.6 %
    assert _verdicts(costly)["001"] == "does not hold"


def test_rv2_diagonal_fails_against_its_controls():
    no_better = [_pair(s, layer_similarity=_layer_similarity(control_diag=0.9)) for s in (0, 10, 20)]
    assert _verdicts(no_better)["002"] == "does not hold"  # untrained network's layers as similar
    null = [_pair(s, layer_similarity=_layer_similarity(p_diag=0.4)) for s in (0, 10, 20)]
    assert _verdicts(null)["002"] == "does not hold"  # the diagonal does not beat the permutation null
    off = [_pair(s, layer_similarity=_layer_similarity(shift_last=True)) for s in (0, 10, 20)]
    assert _verdicts(off)["002"] == "does not hold"


def test_simple_matches_fail_when_many_neurons_are_in_small_matches():
    pairs = [_pair(s, simple_matches=_simple(small=20)) for s in (0, 10, 20)]
    assert _verdicts(pairs)["003_simple_matches"] == "does not hold"


def test_mixed_means_some_but_not_all_seed_pairs():
    pairs = [_pair(0, max_match=_max_match(0.88, 0.94)), _pair(10), _pair(20)]
    c = claims.evaluate(_results(pairs))["003_004_max_match"]
    assert c["verdict"] == "mixed" and [p["holds"] for p in c["per_pair"]] == [False, True, True]
    assert claims.verdict([]) == "not run"


def test_a_single_seed_pair_has_no_interval():
    c = claims.evaluate(_results([_pair(0)]))["000"]
    assert c["verdict"] == "holds" and c["aggregate"][0]["low"] is None and c["aggregate"][0]["sd"] is None


def test_aggregate_interval_is_a_t_interval():
    a = claims.summarize("x", [0.1, 0.2, 0.3])
    half = 4.302652729911275 * 0.1 / np.sqrt(3)  # t_{0.975, 2} · sd / √n
    assert a["mean"] == pytest.approx(0.2) and a["low"] == pytest.approx(0.2 - half)
    assert a["high"] == pytest.approx(0.2 + half)
