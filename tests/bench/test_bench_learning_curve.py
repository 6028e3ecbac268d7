"""bench/bench_learning_curve.py end to end on a tiny synthetic table: draws, every point, the trend."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
BINS = ("wrong_crystal_system", "wrong_laue_class", "wrong_absences", "indistinguishable")


def _load(monkeypatch):
    monkeypatch.syspath_prepend(
        str(BENCH)
    )  # as when run as a script: bench/_tables.py, bench_dynamical.py
    spec = importlib.util.spec_from_file_location(
        "bench_learning_curve", BENCH / "bench_learning_curve.py"
    )
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_nested_draws_are_material_grouped_subsets(monkeypatch):
    bench = _load(monkeypatch)
    from cbedfeat.testing import make_feature_table

    table = make_feature_table(n_classes=8, max_materials=20, samples_per_material=3, seed=4)
    train = table[table["split"] == "train"]
    n_all = train["material"].nunique()
    draws = bench.nested_draws(train, [10, 3, None, 10_000, 6], seed=7)
    assert [n for n, _ in draws] == [3, 6, 10, n_all]  # sorted, deduplicated, clipped to all
    previous: set[str] = set()
    for n, rows in draws:
        materials = set(rows["material"].astype(str))
        assert len(materials) == n and previous <= materials
        # Grouped: a drawn material brings every one of its training rows.
        assert len(rows) == train["material"].astype(str).isin(materials).sum()
        previous = materials
    again = bench.nested_draws(train, [3], seed=7)[0][1]
    assert again.index.equals(draws[0][1].index)  # the seed alone decides
    other = bench.nested_draws(train, [6], seed=8)[0][1]
    assert set(other["material"]) != set(draws[1][1]["material"])


def test_log_linear_trend_is_the_polyfit_line(monkeypatch):
    bench = _load(monkeypatch)
    n, y = [320, 640, 1280, 2560, 5120], [0.25, 0.30, 0.36, 0.44, 0.50]
    slope, intercept = np.polyfit(np.log2(n), y, 1)
    trend = bench.log_linear_trend(n, y, 48_000)
    assert trend["slope_per_doubling"] == pytest.approx(slope)
    assert trend["extrapolated"] == pytest.approx(slope * math.log2(48_000) + intercept)
    assert bench.log_linear_trend([5, 5], [0.1, 0.2], 100) is None
    assert bench.log_linear_trend([4, 8, 16], [0.1, float("nan"), 0.3], 32)[
        "extrapolated"
    ] == pytest.approx(0.4)


def test_bench_learning_curve_writes_every_size_and_model(tmp_path, monkeypatch):
    bench = _load(monkeypatch)
    out = tmp_path / "out"
    args = [
        "--synthetic",
        "--quick",
        "--rounds",
        "3",
        "--resamples",
        "50",
        "--device",
        "cpu",
        "--sizes",
        "6,12,all",
        "--models",
        "xgb:none",
        "xgb:balanced",
        "--out-dir",
        str(out),
    ]
    assert bench.main(args) == 0
    doc = json.loads((out / "learning_curve_synthetic.json").read_text())
    n_all = doc["splits"]["train"]["materials"]
    assert doc["sizes"] == [6, 12, n_all]
    assert [(c["model"], c["weighting"]) for c in doc["curves"]] == [
        ("xgb", "none"),
        ("xgb", "balanced"),
    ]
    order = doc["material_order"]
    assert len(order) == len(set(order)) == n_all
    for curve in doc["curves"]:
        points = curve["points"]
        assert [p["n_train_materials"] for p in points] == doc["sizes"]
        assert points[-1]["n_train_rows"] == doc["splits"]["train"]["rows"]
        for p in points:
            assert p["n_materials"] == doc["splits"]["test"]["materials"]
            assert p["fit_seconds"] >= 0
            for key in (
                "top1_accuracy",
                "top5_accuracy",
                "macro_f1",
                "crystal_system_accuracy",
                "laue_class_accuracy",
                "point_group_accuracy",
                "kinematic_ceiling",
                "top1_over_ceiling",
                "equivalence_accuracy",
            ):
                assert key in p, key
            assert sum(p[f"errors_{b}"] for b in BINS) == pytest.approx(1 - p["top1_accuracy"])
            for key in bench.HEADLINE:
                lo, hi = p["ci95"][key]
                assert lo <= p[key] + 1e-12 and p[key] <= hi + 1e-12, key
        x = np.log2([p["n_train_materials"] for p in points])
        for key in ("top1_accuracy", "crystal_system_accuracy", "errors_wrong_absences"):
            slope, intercept = np.polyfit(x, [p[key] for p in points], 1)
            assert curve["trend"][key]["extrapolated"] == pytest.approx(
                slope * math.log2(48_000) + intercept
            )
        # One set of x values: the bins' lines and top-1's still add up to 1.
        total = sum(curve["trend"][f"errors_{b}"]["extrapolated"] for b in BINS)
        assert total == pytest.approx(1 - curve["trend"]["top1_accuracy"]["extrapolated"])
    md = (out / "learning_curve_synthetic.md").read_text()
    assert md.count("| training materials |") == 2
    assert "## xgb, weighting none" in md and "## xgb, weighting balanced" in md
    assert "extrapolation to 48,000" in md and "not a measurement" in md and "## Protocol" in md


def test_default_models_follow_cbedfeat_train(monkeypatch):
    bench = _load(monkeypatch)
    from cbedfeat.models.registry import DEFAULT_MODEL, DEFAULT_WEIGHTING

    default = {"model": DEFAULT_MODEL, "weighting": DEFAULT_WEIGHTING}
    assert bench.default_models() == ["xgb:none", "gated-blend-logit:none"]
    assert bench.default_models() == list(
        dict.fromkeys(["xgb:none", f"{default['model']}:{default['weighting']}"])
    )
    assert bench.parse_model(default["model"], default["weighting"]) == (
        default["model"],
        default["weighting"],
    )
    assert bench.parse_model("xgb:none", "balanced") == ("xgb", "none")
    with pytest.raises(SystemExit):
        bench.parse_model("no-such-model", "none")
    assert bench.parse_sizes("320, 640,all") == [320, 640, None]
    with pytest.raises(SystemExit):
        bench.parse_sizes("0")
