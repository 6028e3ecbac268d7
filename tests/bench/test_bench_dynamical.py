"""bench/bench_dynamical.py end to end on tiny paired tables, and its material bootstrap."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _bench_module import load as _load


def test_material_bootstrap_resamples_materials_not_rows(monkeypatch):
    boot = _load("_bootstrap", monkeypatch)
    # Material A: 99 right rows; material B: one wrong row. Row resampling keeps top-1
    # near 0.99; material resampling draws B twice a quarter of the time (top-1 0).
    materials = np.array(["A"] * 99 + ["B"])
    right = np.array([1.0] * 99 + [0.0])
    weights = boot.material_weights(materials, 2000, seed=0)
    assert weights.shape == (2000, 100)
    # Every row of a material carries the same weight; two materials drawn per resample.
    assert (weights[:, :99] == weights[:, :1]).all()
    assert set(np.unique(weights[:, 0] + weights[:, 99])) == {2}
    means = boot.weighted_means({"top1": right}, weights)["top1"]
    assert set(np.round(means, 6)) <= {0.0, round(99 / 100, 6), 1.0}
    assert abs(np.mean(means == 0.0) - 0.25) < 0.04
    lo, hi = boot.interval(means)
    assert lo == 0.0 and hi == 1.0  # row resampling would give about [0.97, 1.0]
    rows = np.random.default_rng(0).integers(0, 100, size=(2000, 100))
    assert boot.interval(right[rows].mean(axis=1))[0] > 0.9


def test_weighted_statistic_equals_the_concatenated_resample(monkeypatch):
    boot = _load("_bootstrap", monkeypatch)
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(1)
    materials = np.repeat([f"m{i}" for i in range(6)], [1, 2, 3, 1, 2, 1])
    y = rng.integers(0, 3, materials.size)
    pred = rng.integers(0, 3, materials.size)
    weights = boot.material_weights(materials, 5, seed=3)
    got = boot.weighted_statistic(
        lambda i, w: f1_score(y[i], pred[i], average="macro", sample_weight=w, zero_division=0),
        weights,
    )
    for b, w in enumerate(weights):
        index = np.repeat(np.arange(materials.size), w)  # rows of the drawn materials, repeated
        assert got[b] == pytest.approx(
            f1_score(y[index], pred[index], average="macro", zero_division=0)
        )


def test_bench_dynamical_writes_every_row(tmp_path, monkeypatch):
    bench = _load("bench_dynamical", monkeypatch)
    dyn, kin = bench._synthetic_tables(tmp_path, seed=0)
    args = [
        "--dynamical",
        str(dyn),
        "--kinematic",
        str(kin),
        "--extra-kinematic",
        str(kin),
        "--quick",
        "--rounds",
        "3",
        "--resamples",
        "100",
        "--device",
        "cpu",
        "--drop-prefix",
        "noise_",
        "--out-dir",
        str(tmp_path / "out"),
    ]
    assert bench.main(args) == 0
    doc = json.loads((tmp_path / "out" / "dynamical.json").read_text())
    pairs = [(r["train"], r["test"]) for r in doc["rows"]]
    assert pairs == [
        ("kinematic", "kinematic"),
        ("kinematic", "dynamical"),
        ("dynamical", "dynamical"),
        ("both", "dynamical"),
        ("dynamical without noise_", "dynamical"),
    ]
    assert doc["pairing"]["paired"]
    n_train = doc["splits"]["dynamical"]["train"]["rows"]
    # The extra table's train rows join the kinematic training set (as other materials).
    assert doc["n_extra_kinematic_rows"] == n_train
    assert doc["rows"][0]["n_train_rows"] == 2 * n_train
    assert doc["rows"][2]["n_train_rows"] == n_train
    assert doc["rows"][3]["n_train_rows"] == 3 * n_train
    assert doc["rows"][4]["n_features"] == doc["n_features"] - 4
    assert [b["train"] for b in doc["baselines"]] == [
        "majority of dynamical train",
        "majority of kinematic + extra train",
    ]
    for r in doc["rows"] + doc["baselines"]:
        assert r["n_materials"] == doc["splits"][r["test"]]["test"]["materials"]
        bins = [
            r[f"errors_{k}"]
            for k in (
                "wrong_crystal_system",
                "wrong_laue_class",
                "wrong_absences",
                "indistinguishable",
            )
        ]
        assert sum(bins) == pytest.approx(1 - r["top1_accuracy"])
        for key in (
            "top1_accuracy",
            "crystal_system_accuracy",
            "point_group_accuracy",
            "laue_class_accuracy",
            "equivalence_accuracy",
            "kinematic_ceiling",
        ):
            lo, hi = r["ci95"][key]
            assert lo <= r[key] + 1e-12 and r[key] <= hi + 1e-12, (r["train"], key)
        assert "macro_f1" in r["ci95"] and "errors_wrong_absences" in r["ci95"]
    majority = doc["baselines"][0]
    assert majority["top1_accuracy"] <= 1 and majority["majority"]["space_group"] >= 1
    md = (tmp_path / "out" / "dynamical.md").read_text()
    assert "| kinematic -> dynamical |" in md and "| both -> dynamical |" in md
    assert "## Protocol" in md and "resamples of the test materials" in md


def test_drop_columns_by_family_and_prefix(monkeypatch):
    bench = _load("bench_dynamical", monkeypatch)
    from cbedfeat.features import feature_names
    from cbedfeat.features.config import FeatureConfig

    config = FeatureConfig()
    names = feature_names(config)
    rot = bench.drop_columns(names, family="rotation", feature_config=config.to_dict())
    assert rot and all("_rot" in n for n in rot) and len(rot) % 3 == 0
    assert bench.drop_columns(names, prefix="rot") == rot
    assert bench.drop_columns(names, prefix="p0_rot") == [n for n in rot if n.startswith("p0_")]
