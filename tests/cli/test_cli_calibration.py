"""train --calibration-fraction, evaluate with calibration and sets, predict --coverage / --json / --combine-materials."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cbedfeat.cli import main
from cbedfeat.data.table import read_table
from cbedfeat.models.bundle import load_bundle
from cbedfeat.models.calibration import bundle_calibration
from cbedfeat.testing import make_feature_table, write_feature_table

FAST = ["--n-estimators", "5", "--param", "n_jobs=1", "--device", "cpu"]


def _run(args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    root = tmp_path_factory.mktemp("calibrated")
    table_path = write_feature_table(
        make_feature_table(n_classes=6, max_materials=16, seed=4), root / "features.parquet"
    )
    result = _run(
        [
            "train",
            table_path,
            "--out",
            root / "model",
            "--calibration-fraction",
            "0.3",
            "--seed",
            "1",
            *FAST,
        ]
    )
    assert result.exit_code == 0, result.output
    return table_path, root / "model"


def test_the_bundle_holds_a_json_calibration_fitted_on_held_out_materials(calibrated):
    table_path, model = calibrated
    assert (model / "calibration.json").is_file() and not list(model.rglob("*.joblib"))
    bundle = load_bundle(model)
    cal = bundle_calibration(bundle)
    assert cal.temperature > 0 and cal.conformal.scores.size == cal.info["conformal_rows"]
    table, _ = read_table(table_path)
    train = table[table["split"] == "train"]
    # The model was fitted on the other training materials only.
    held = cal.info["temperature_rows"] + cal.info["conformal_rows"]
    assert bundle.training["n_train_samples"] == len(train) - held


def test_evaluate_reports_calibration_sets_and_materials(calibrated, tmp_path):
    table_path, model = calibrated
    result = _run(
        ["evaluate", model, table_path, "--out", tmp_path / "report", "--coverage", "0.8"]
    )
    assert result.exit_code == 0, result.output
    assert "conformal sets at 80%" in result.output and "per material" in result.output
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    cal = metrics["calibration"]
    assert (
        cal["temperature"] > 0
        and cal["before"]["ece"] is not None
        and cal["after"]["brier"] is not None
    )
    conf = metrics["conformal"]
    assert conf["nominal"] == 0.8 and 0 <= conf["coverage"] <= 1 and conf["mean_set_size"] >= 0
    assert sum(conf["set_size_counts"].values()) == conf["n"] == metrics["n_samples"]
    mat = metrics["per_material"]
    assert mat["n_materials"] > 0
    # Combined predictions get sets from whole held-out materials, not from single stacks.
    mconf = mat["conformal"]
    assert mconf["n"] == mat["n_materials"] and mconf["nominal"] == 0.8
    assert mconf["stacks_per_material"] == {"4": mat["n_materials"]}
    assert (
        "per material" in result.output and "sets at 80%" in result.output.split("per material")[1]
    )
    assert (tmp_path / "report" / "reliability.png").is_file()
    page = (tmp_path / "report" / "report.html").read_text()
    assert "Conformal prediction sets" in page and "expected calibration error" in page
    assert "Conformal sets of the per-material predictions" in page
    fitted = cal["fitted_on"]
    assert fitted["temperature_interval"][0] <= fitted["temperature_fitted"]
    assert "bootstrap interval over materials" in page
    result = _run(["evaluate", model, table_path, "--out", tmp_path / "mondrian", "--mondrian"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "mondrian" / "metrics.json").read_text())["conformal"]["mondrian"]


def test_predict_writes_sets_json_lines_and_material_rows(calibrated, tmp_path, monkeypatch):
    import cbedfeat.data.sources as sources
    import cbedfeat.workflows.predict as predict

    table_path, model = calibrated
    table, meta = read_table(table_path)
    test = table[table["split"] == "test"].reset_index(drop=True)
    samples = [
        SimpleNamespace(
            stack=np.full((3, 2, 2), i, np.float32),
            meta=SimpleNamespace(
                file="t.h5", group=g, material=m, space_group=int(sg), problems=[]
            ),
        )
        for i, (g, m, sg) in enumerate(
            zip(test["group"], test["material"], test["space_group"], strict=True)
        )
    ]
    monkeypatch.setattr(sources, "iter_inputs", lambda *a, **k: iter(samples))
    features = test[meta["feature_names"]].to_numpy(np.float64)

    def scorer(bundle, device, batch_size, failures):  # the table's features instead of the pixels'
        return lambda batch: (
            batch,
            bundle.predict_proba(features[[int(s.stack[0, 0, 0]) for s in batch]]),
        )

    monkeypatch.setattr(predict, "_feature_scorer", scorer)
    out = tmp_path / "pred.csv"
    result = _run(["predict", model, tmp_path, "--out", out, "--coverage", "0.9", "--top-k", "3"])
    assert result.exit_code == 0, result.output
    pred = pd.read_csv(out, keep_default_na=False)
    bundle = load_bundle(model)
    cal = bundle_calibration(bundle)
    proba = cal.calibrate(bundle.predict_proba(features))
    np.testing.assert_allclose(pred["prob_1"].astype(float), proba.max(axis=1), rtol=1e-6)
    sets = cal.predict_set(proba, 0.9)
    assert [list(map(int, s.split())) for s in pred["set"]] == [
        bundle.classes[r].tolist() for r in sets
    ]
    assert (pred["set_size"].astype(int) == sets.sum(axis=1)).all() and (
        pred["calibrated"].astype(str) == "True"
    ).all()

    result = _run(
        [
            "predict",
            model,
            tmp_path,
            "--out",
            tmp_path / "pred.jsonl",
            "--coverage",
            "0.9",
            "--json",
            "--mondrian",
        ]
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (tmp_path / "pred.jsonl").read_text().splitlines()]
    assert len(records) == len(test) and len(records[0]["top"]) == 5
    assert {"symbol", "crystal_system", "laue_class", "point_group"} <= set(records[0]["top"][0])
    assert isinstance(records[0]["set"], list) and isinstance(
        records[0]["ambiguous_by_physics"], bool
    )

    result = _run(
        ["predict", model, tmp_path, "--out", tmp_path / "mat.csv", "--combine-materials"]
    )
    assert result.exit_code == 0, result.output
    mats = pd.read_csv(tmp_path / "mat.csv")
    assert len(mats) == test["material"].nunique() and mats["n_stacks"].sum() == len(test)
    assert mats["set"].isna().all()

    result = _run(
        [
            "predict",
            model,
            tmp_path,
            "--out",
            tmp_path / "mat_sets.csv",
            "--combine-materials",
            "--coverage",
            "0.9",
        ]
    )
    assert result.exit_code == 0, result.output
    mats = pd.read_csv(tmp_path / "mat_sets.csv", keep_default_na=False).sort_values("material")
    from scipy.special import softmax

    from cbedfeat.models.calibration import log_probabilities
    from cbedfeat.workflows.explain import combine_log_probabilities

    keys, combined = combine_log_probabilities(log_probabilities(proba), test["material"])
    expected = cal.predict_material_set(
        softmax(combined, axis=1), test.groupby("material").size().loc[keys].to_numpy(), 0.9
    )
    assert mats["material"].tolist() == keys.tolist()
    assert [list(map(int, s.split())) for s in mats["set"]] == [
        bundle.classes[r].tolist() for r in expected
    ]


def test_predict_coverage_needs_a_calibrated_bundle(tmp_path):
    table_path = write_feature_table(
        make_feature_table(n_classes=4, max_materials=6, seed=1), tmp_path / "f.parquet"
    )
    assert _run(["train", table_path, "--out", tmp_path / "m", *FAST]).exit_code == 0
    result = _run(
        [
            "predict",
            tmp_path / "m",
            tmp_path / "f.parquet",
            "--out",
            tmp_path / "p.csv",
            "--coverage",
            "0.9",
        ]
    )
    assert result.exit_code != 0 and "no conformal calibration" in result.output
