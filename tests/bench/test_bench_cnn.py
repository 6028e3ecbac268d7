"""bench/bench_cnn.py end to end on a tiny extracted set, and its equal-time pairing."""

from __future__ import annotations

import json

import pytest
from _bench_module import load as _load


def _point(step, seconds, top1):
    return {"step": step, "seconds": seconds, "top1_accuracy": top1}


def test_equal_time_pairs_each_epoch_with_the_features_trained_by_then(monkeypatch):
    bench = _load("bench_cnn", monkeypatch)
    features = {"points": [_point(10, 5.0, 0.30), _point(50, 20.0, 0.40)]}
    cnn = {"points": [_point(1, 2.0, 0.10), _point(2, 10.0, 0.35), _point(3, 30.0, 0.45)]}
    eq = bench.equal_time(features, cnn)
    assert [p["feature_rounds"] for p in eq["pairs"]] == [None, 10, 50]
    assert eq["pairs"][1]["delta"] == pytest.approx(0.05)
    # Epoch 1 comes before any feature model is done: it does not count as a crossover.
    assert eq["crossover"]["epoch"] == 2 and eq["n_before_features"] == 1
    assert eq["features_time_to_cnn_end"] is None  # no feature point reaches 0.45
    late = {"points": [_point(1, 6.0, 0.10), _point(2, 25.0, 0.45)]}
    eq = bench.equal_time(features, late)
    assert eq["crossover"]["epoch"] == 2 and eq["crossover"]["features"] == 0.40
    eq = bench.equal_time(features, {"points": [_point(1, 6.0, 0.1), _point(2, 25.0, 0.2)]})
    assert eq["crossover"] is None and eq["features_time_to_cnn_end"] == 5.0


@pytest.mark.slow
def test_bench_runs_on_a_tiny_set(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    import torch
    from cnn_fixtures import write_tiny_dir

    from cbedfeat.extraction.extract import extract

    torch.set_num_threads(1)
    data = write_tiny_dir(
        tmp_path / "tiny",
        n_train_materials=8,
        n_dev_materials=2,
        n_test_materials=4,
        energies=1,
        size=64,
    )
    extract(data, tmp_path / "tiny.parquet", workers=1, device="cpu", progress=False)
    bench = _load("bench_cnn", monkeypatch)
    out = tmp_path / "results"
    # the default table of a set is DATA_DIR.parquet beside it
    rc = bench.main(
        [
            "--set",
            "kinematic",
            str(data),
            "--set",
            "again",
            str(data),
            str(tmp_path / "tiny.parquet"),
            "--epochs",
            "2",
            "--image-size",
            "16",
            "--width",
            "4",
            "--batch-size",
            "4",
            "--tta",
            "2",
            "--rounds",
            "2,4",
            "--resamples",
            "20",
            "--extract-rows",
            "3",
            "--threads",
            "1",
            "--device",
            "cpu",
            "--out-dir",
            str(out),
        ]
    )
    assert rc == 0
    doc = json.loads((out / "cnn.json").read_text())
    assert [s["name"] for s in doc["sets"]] == ["kinematic", "again"]
    s = doc["sets"][0]
    assert s["n_train"] == 8 and s["n_test"] == 4 and s["extract_rows_timed"] == 3
    approaches = [c["approach"] for c in s["curves"]]
    assert approaches == ["features", "cnn-resnet", "cnn-small"]
    feats, resnet, small = s["curves"]
    assert [p["step"] for p in feats["points"]] == [2, 4]
    assert [p["step"] for p in resnet["points"]] == [1, 2]
    assert small["params"]["arch"] == "small" and small["params"]["epochs"] == 2
    for c in s["curves"]:
        secs = [p["seconds"] for p in c["points"]]
        assert all(t > 0 for t in secs)
        for p in c["points"]:
            assert 0.0 <= p["top1_accuracy"] <= 1.0 and "errors_wrong_crystal_system" in p
        lo, hi = c["end"]["ci95"]["top1_accuracy"]
        assert lo <= c["end"]["top1_accuracy"] <= hi
    # the feature model's time counts the extraction of every training row
    assert feats["points"][0]["seconds"] == pytest.approx(
        feats["points"][0]["fit_seconds"] + s["extract_seconds_per_row"] * s["n_train"]
    )
    assert set(s["equal_time"]) == {"cnn-resnet", "cnn-small"}
    blends = {b["approach"]: b for b in s["blends"]}
    assert set(blends) == {"features+cnn-resnet", "features+cnn-small"}
    assert blends["features+cnn-resnet"]["seconds"] == pytest.approx(
        feats["points"][-1]["seconds"] + resnet["points"][-1]["seconds"]
    )
    assert 0.0 <= blends["features+cnn-small"]["end"]["top1_accuracy"] <= 1.0
    md = (out / "cnn.md").read_text()
    assert "## kinematic" in md and "Equal time" in md and "ResNet (width 4)" in md
    assert "mean of the probabilities" in md
