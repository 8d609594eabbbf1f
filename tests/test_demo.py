"""Integration test of ``repsim demo``: the whole pipeline, checked against bands measured with the demo's models.

Size. The models train at the demo's size (4,000 MNIST-1D training signals, 50 epochs) and only the analysis is
reduced (2 instead of 5 repeats of the random projection methods, simple matches at one ε instead of two); none of
the banded numbers depends on those two settings. Training at a reduced size (3,000 / 500 signals, 40 epochs) was
measured too and gave models whose bands are much wider — worst values over 12 seed pairs: same-architecture
stitching −0.078, cross-architecture −15.2 %, naive swap 0.40, CCA_highest gap 0.216, RV2 diagonal 4 of 7 — so
testing there would need loose bands.

Bands. Measured at this size over 8 seed pairs (demo seeds 0, 10, …, 70; CNN A/B init seeds s and s + 1, MLP s + 2),
deterministic on one machine; on another platform the trajectories differ like another seed does, so each band sits
beyond the worst measured value. The worst (or extreme) measured value is given next to each band.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("mnist1d")
pytest.importorskip("matplotlib")

from repsim.demo import claims, pipeline, report  # noqa: E402
from repsim.demo.train import cache_dir, load_or_train  # noqa: E402

# Seed pair 0 at the demo's size (banded below); a second seed pair trained for 3 epochs only exercises the
# multi-pair path (claims over pairs, aggregates) cheaply — its numbers are not banded.
CONFIG = pipeline.DemoConfig(seed=0, projection_repeats=2, simple_eps=(0.3,), pairs=2, extra_epochs=3)

SAME_ARCH_DROP = 0.06  # CNN→CNN stitched accuracy ≥ row model's − 0.06         (worst −0.034)
CROSS_ARCH_DELTA = -0.12  # CNN↔MLP stitched accuracy ≥ row model's × (1 − 0.12)  (worst −0.109)
NAIVE_MAX = 0.35  # unmapped swap ≤ 0.35 (chance 0.10)                       (max 0.255)
CCA_HIGHEST_GAP = 0.22  # unprojected − CCA_highest(n = 10) ≤ 0.22  (max 0.124 over 8 pairs on one machine; seed 0 on
#                         another platform, 2026-12-05: 0.181 — the trajectories differ like another seed does)
CCA_LOWEST_MAX = 0.20  # CCA_lowest(n = 10) ≤ 0.20                             (max 0.109)
RV2_DIAGONAL_MIN = 4  # rows of the 7×7 RV2 matrix with their maximum on the diagonal  (min 5)
MIDDLE_CONV_MAX = 0.15  # max-match s(0.3) of conv2–conv4 ≤ 0.15                (max 0.00)
CONV1_MIN = 0.6  # max-match s(0.3) of conv1 ≥ 0.6                           (min 0.78)
FC_MIN = 0.6  # max-match s(0.5) of fc ≥ 0.6                               (min 0.77)
# Not banded: fc at ε = 0.3 (0.59, 0.62, 0.60, 0.00, 0.19, 0.30, 0.37, 0.00 over the 8 pairs) — it is high only from
# ε = 0.4–0.5 on, so fc is checked at ε = 0.5.


def test_demo_pipeline_bands(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("REPSIM_CACHE_DIR", str(cache))  # never the user's cache
    assert cache_dir() == str(cache)

    result = pipeline.run(CONFIG, progress=False)
    r = result.results
    models = r["models"]
    assert not any(m.get("from_cache") for p in r["pairs"] for m in p["models"].values())
    assert [p["seed"] for p in r["pairs"]] == [0, 10] and r["pairs"][1]["models"]["cnn_a"]["epochs"] == 3
    assert r["data"]["n_train"] == 4000 and r["data"]["n_test"] == 1000 and r["data"]["n_classes"] == 10
    for name in ("cnn_a", "cnn_b"):
        assert models[name]["test_accuracy"] > 0.9, models
    assert models["mlp"]["test_accuracy"] > 0.5, models
    assert models["untrained"]["test_accuracy"] < 0.25, models

    # -- seed 001: stitching (rows = feature extractor, columns = head)
    st = r["stitching"]
    assert st["models"] == ["cnn_a", "cnn_b", "mlp", "untrained"]  # the untrained CNN is the control
    own = np.array(st["own_accuracy"])[:3]
    acc = np.array(st["accuracy"])[:3, :3]
    delta = np.array(st["delta"], dtype=float)[:3, :3]
    naive = np.array(st["naive"])[:3, :3]
    logit = np.array(st["logit"])[:3, :3]
    np.testing.assert_array_equal(np.diag(acc), own)
    for i, j in ((0, 1), (1, 0)):
        assert acc[i, j] >= own[i] - SAME_ARCH_DROP, (i, j, acc, own)
    for i, j in ((0, 2), (1, 2), (2, 0), (2, 1)):
        assert delta[i, j] >= CROSS_ARCH_DELTA, (i, j, delta)
    off = ~np.eye(3, dtype=bool)
    assert naive[off].max() <= NAIVE_MAX, naive
    # logit-compatibility maps are lossless for classification: exactly the row model's accuracy
    np.testing.assert_array_equal(logit, np.repeat(own[:, None], 3, axis=1))

    # -- seed 000: projection curves of CNN A's fc features
    pr = r["projection"]
    assert pr["methods"] == ["CCA_highest", "CCA_lowest", "CCA_random", "PCA", "max_activation",
                             "random_selection", "random_projection"]
    k = pr["n_values"].index(10)
    base = pr["baseline"]
    assert base == pytest.approx(models["cnn_a"]["test_accuracy"], abs=1e-12)
    assert base - pr["accuracy"]["CCA_highest"][k] <= CCA_HIGHEST_GAP, pr["accuracy"]["CCA_highest"]
    assert pr["accuracy"]["CCA_lowest"][k] <= CCA_LOWEST_MAX, pr["accuracy"]["CCA_lowest"]
    for curve in pr["accuracy"].values():  # every projection is the identity at n = width
        assert curve[-1] == base

    # -- seed 002: layer × layer matrices
    ls = r["layer_similarity"]
    assert ls["layers"] == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc", "head"]
    for metric in ("cka", "debiased_cka", "rv2"):
        v = np.array(ls[metric]["values"], dtype=float)
        assert v.shape == (7, 7) and np.all(np.isfinite(v)) and v.max() <= 1 + 1e-9
    rv2 = np.array(ls["rv2"]["values"])
    diagonal = int(np.sum(np.argmax(rv2, axis=1) == np.arange(7)))
    assert diagonal >= RV2_DIAGONAL_MIN, rv2

    # -- seeds 003/004: max matches and simple matches
    mm = r["max_match"]
    e3, e5 = mm["eps"].index(0.3), mm["eps"].index(0.5)
    layers = mm["layers"]
    assert layers["conv1"]["rows"] == 1000 * 40 and layers["fc"]["rows"] == 1000
    for name in pipeline.MIDDLE_CONV:
        assert layers[name]["trained"][e3] <= MIDDLE_CONV_MAX, (name, layers[name])
    assert layers["conv1"]["trained"][e3] >= CONV1_MIN, layers["conv1"]
    assert layers["fc"]["trained"][e5] >= FC_MIN, layers["fc"]
    for v in layers.values():  # maximum matches are nested: s(ε) does not decrease with ε
        assert np.all(np.diff(v["trained"]) >= 0) and np.all(np.diff(v["untrained"]) >= 0)
    assert layers["fc"]["untrained"][e5] < layers["fc"]["trained"][e5]
    for label, s in r["simple_matches"].items():
        sizes = {int(size): c for size, c in s["size_distribution"].items()}
        assert sum(sizes.values()) == s["count"]
        assert all(2 <= size <= s["maximum_match_size"] for size in sizes), (label, s)

    # -- claims are computed, one per seed
    assert set(r["claims"]) == {"000", "001", "001_naive_swap", "002", "003_004_max_match", "003_simple_matches"}
    for c in r["claims"].values():
        assert c["verdict"] in claims.VERDICTS and len(c["per_pair"]) == 2, c
        assert c["criterion"] and c["control"] and c["aggregate"][0]["low"] is not None
    ls_p = r["layer_similarity"]
    assert len(ls_p["rv2"]["p_values"]) == 7 and len(ls_p["control_rv2"]["values"]) == 7
    noise = r["rv2_noise"]  # seed 002's "RV2 ≈ 0 for random matrices" holds uncentred only
    assert abs(noise["uncentred"]) < 0.05 and noise["centred"] > 0.8

    # -- outputs
    out = tmp_path / "out"
    paths = report.write(result, out)
    for key in ("stitching", "projection", "layer_similarity", "max_match", "simple_matches"):
        with open(paths[key], "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n", key
    with open(paths["results"], encoding="utf-8") as fh:
        saved = json.load(fh)
    assert saved["stitching"]["own_accuracy"] == st["own_accuracy"]
    text = (out / "report.md").read_text(encoding="utf-8")
    for seed in ("Seed 000", "Seed 001", "Seed 002", "Seeds 003 and 004", "Seed 003"):
        assert f"**{seed}**" in text
    assert "Core criterion" in text and "Control:" in text and "uncentred RV2" in text
    summary = report.summary(result)
    assert "[001 affine maps]" in summary and "[003/004 max-match]" in summary and "seed pairs" in summary

    # -- the cache: three weight files per seed pair in the temporary cache; a second load skips training
    files = sorted(os.listdir(cache))
    assert len(files) == 6 and all(f.endswith(".pt") for f in files), files
    data = pipeline.make_mnist1d(CONFIG.n_train, CONFIG.n_test, CONFIG.data_seed)
    spec = CONFIG.specs()["cnn_a"]
    model, cached = load_or_train(spec, data)
    assert cached
    np.testing.assert_allclose(
        pipeline.accuracy(model, data.x_test, data.y_test), models["cnn_a"]["test_accuracy"], rtol=0, atol=0
    )


def test_demo_cli_wiring(monkeypatch, tmp_path):
    """``repsim demo`` runs the demo and its options reach repsim.demo.main; bare ``repsim`` only prints the usage."""
    import repsim.demo
    from repsim.__main__ import main

    calls = []
    monkeypatch.setattr(repsim.demo, "main", lambda **kw: calls.append(kw))
    assert main([]) == 0 and calls == []
    assert main(["demo"]) == 0
    assert main(["demo", "--out", str(tmp_path), "--epochs", "3", "--seed", "7", "--no-cache", "--quiet"]) == 0
    assert calls == [
        {"out": "repsim-demo", "epochs": None, "seed": 0, "use_cache": True, "progress": True},
        {"out": str(tmp_path), "epochs": 3, "seed": 7, "use_cache": False, "progress": False},
    ]
