"""Tests of cbedfeat.workflows.train and the train / evaluate / predict commands."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cbedfeat.cli import main
from cbedfeat.data.splits import holdout_split
from cbedfeat.data.table import data_fingerprint, read_table
from cbedfeat.models.bundle import load_bundle
from cbedfeat.models.registry import DEFAULT_MODEL, DEFAULT_WEIGHTING, MODEL_NAMES, MODELS
from cbedfeat.testing import make_feature_table, write_feature_table
from cbedfeat.workflows.train import train_model

FAST = ["--n-estimators", "5", "--param", "n_jobs=1"]


@pytest.fixture(scope="module")
def table_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("tables") / "features.parquet"
    return write_feature_table(make_feature_table(n_classes=6, max_materials=10, seed=2), path)


def _run(args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result


def test_train_and_evaluate_commands(tmp_path, table_path):
    result = _run(["train", table_path, "--out", tmp_path / "model", "--seed", "3", *FAST])
    assert result.exit_code == 0, result.output
    assert "validation (dev" in result.output and "model bundle:" in result.output
    bundle = load_bundle(tmp_path / "model")
    table, meta = read_table(table_path)
    training = bundle.training
    # the defaults of `cbedfeat train` are the registry's: unweighted gated-blend-logit
    assert (DEFAULT_MODEL, DEFAULT_WEIGHTING) == ("gated-blend-logit", "none")
    assert training["model"] == DEFAULT_MODEL and training["weighting"] == "none"
    assert training["seed"] == 3 and bundle.model.weighting == "none"
    assert training["split"] == "train" and training["validation"]["source"] == "dev"
    assert training["data_fingerprint"] == data_fingerprint(table[table["split"] == "train"])
    # --n-estimators reaches the boosted member inside the logit, gate and blend wrappers
    blend = bundle.model.estimator.estimator
    assert training["params"]["n_estimators"] == 5 and blend.estimator.n_estimators == 5
    assert bundle.feature_names == meta["feature_names"]
    assert bundle.feature_config == meta["feature_config"]

    result = _run(["evaluate", tmp_path / "model", table_path, "--out", tmp_path / "report"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    test = table[table["split"] == "test"]
    pred = bundle.predict(test)
    assert metrics["n_samples"] == len(test)
    assert metrics["top1_accuracy"] == pytest.approx(
        np.mean(pred == test["space_group"].to_numpy())
    )
    assert metrics["model"]["training data fingerprint"] == training["data_fingerprint"]
    assert metrics["kinematic_ceiling_counts"] == "training rows"  # the bundle's class_counts
    assert (
        "kinematic ceiling" in result.output and "right Laue class, wrong absences" in result.output
    )
    assert (tmp_path / "report" / "report.html").is_file()
    assert f"report: {tmp_path / 'report' / 'report.html'}" in result.output


def test_train_ensemble_with_params_and_holdout(tmp_path, table_path):
    table, _ = read_table(table_path)
    no_dev = write_feature_table(table[table["split"] != "dev"], tmp_path / "no_dev.parquet")
    result = _run(
        [
            "train",
            no_dev,
            "--out",
            tmp_path / "model",
            "--model",
            "brf",
            "--weighting",
            "none",
            "--n-estimators",
            "4",
            "--param",
            "n_jobs=1",
            "--holdout-fraction",
            "0.3",
        ]
    )
    assert result.exit_code == 0, result.output
    bundle = load_bundle(tmp_path / "model")
    assert not [p for p in (tmp_path / "model").rglob("*") if p.suffix in (".pkl", ".joblib")]
    assert bundle.model.n_estimators == 4
    val = bundle.training["validation"]
    assert val["source"] == "holdout" and val["fraction"] == 0.3 and val["n_samples"] > 0
    # The hold-out rows were not used for fitting.
    assert bundle.training["n_train_samples"] + val["n_samples"] == int(
        (table["split"] == "train").sum()
    )


def test_train_gated_logit_command(tmp_path, table_path):
    """The logit-adjusted, system-gated model trains from the command line and reloads."""
    result = _run(
        [
            "train",
            table_path,
            "--out",
            tmp_path / "model",
            "--model",
            "gated-logit",
            "--weighting",
            "none",
            *FAST,
            "--param",
            "taus=[0, 0.5]",
            "--param",
            "early_stopping_rounds=null",
        ]
    )
    assert result.exit_code == 0, result.output
    bundle = load_bundle(tmp_path / "model")
    model = bundle.model
    assert bundle.training["model"] == "gated-logit"
    assert model.tau_ in (0.0, 0.5) and model.estimator_.estimator_.n_estimators == 5
    assert model.estimator_.system_estimator_.weighting == "none"
    table, _ = read_table(table_path)
    proba = bundle.predict_proba(table[table["split"] == "test"])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_holdout_split_groups_materials():
    y = np.array([1] * 6 + [2] * 6 + [3] * 2)
    groups = np.array(["a", "a", "b", "b", "c", "c", "d", "d", "e", "e", "f", "f", "g", "g"])
    fit, hold = holdout_split(y, groups, fraction=0.34, seed=0)
    assert fit.sum() + hold.sum() == y.size and hold.any()
    assert not set(groups[fit]) & set(groups[hold])  # every material on one side
    assert fit[y == 3].all()  # the single-material class stays in training
    again = holdout_split(y, groups, fraction=0.34, seed=0)
    assert np.array_equal(hold, again[1])


def test_data_fingerprint():
    t = pd.DataFrame(
        {
            "file": ["/a/batch_train_0.h5", "/a/batch_train_0.h5"],
            "group": ["s0", "s1"],
            "material": ["m0", "m1"],
            "space_group": [14, 225],
        }
    )
    moved = t.assign(file=["/elsewhere/batch_train_0.h5"] * 2)
    assert data_fingerprint(t) == data_fingerprint(t.iloc[::-1]) == data_fingerprint(moved)
    assert data_fingerprint(t) != data_fingerprint(t.assign(space_group=[14, 226]))


def test_train_help_lists_every_registry_model_and_the_default():
    result = _run(["train", "--help"])
    assert result.exit_code == 0
    choices = next(p for p in main.commands["train"].params if p.name == "model").type.choices
    assert tuple(choices) == MODEL_NAMES
    text = " ".join(result.output.split())
    for spec in MODELS.values():
        assert spec.description in text and spec.standing_text in text
    # click may wrap the help at the model name's hyphen
    assert "Default gated-blend-logit with --weighting none" in text.replace("- ", "-")
    assert "62.6 %" in text and "94.2 %" in text and "with --scheduler, xgb" in text


def test_unknown_model_is_refused(tmp_path, table_path):
    with pytest.raises(ValueError, match="unknown model 'svm'"):
        train_model(table_path, tmp_path / "m", model="svm")


def test_command_errors(tmp_path, table_path):
    table, _ = read_table(table_path)
    only_test = write_feature_table(table[table["split"] == "test"], tmp_path / "test_only.parquet")
    result = _run(["train", only_test, "--out", tmp_path / "m"])
    assert result.exit_code == 1 and "no rows of split 'train'" in result.output
    result = _run(["train", table_path, "--out", tmp_path / "m", "--param", "oops"])
    assert result.exit_code == 2 and "KEY=VALUE" in result.output

    assert (
        _run(["train", table_path, "--out", tmp_path / "m", "--model", "xgb", *FAST]).exit_code == 0
    )
    fewer = write_feature_table(table.drop(columns=["f_001"]), tmp_path / "fewer.parquet")
    result = _run(["evaluate", tmp_path / "m", fewer, "--out", tmp_path / "r"])
    assert result.exit_code == 1 and "f_001" in result.output and "lacks 1 feature" in result.output
    result = _run(
        ["evaluate", tmp_path / "m", table_path, "--out", tmp_path / "r", "--split", "nope"]
    )
    assert result.exit_code == 1 and "no rows of split 'nope'" in result.output
    (tmp_path / "m" / "model" / "model.ubj").write_bytes(b"\x00")
    result = _run(["evaluate", tmp_path / "m", table_path, "--out", tmp_path / "r"])
    assert result.exit_code == 1 and "truncated" in result.output


@pytest.mark.slow
def test_extract_train_evaluate_predict_end_to_end(tmp_path, small_ornl_dir, small_ornl_expected):
    pytest.importorskip("cbedfeat.features.pipeline")
    features = tmp_path / "features.parquet"
    result = _run(
        [
            "extract",
            small_ornl_dir,
            "--out",
            features,
            "--workers",
            "1",
            "--device",
            "cpu",
            "--no-progress",
        ]
    )
    assert result.exit_code == 0, result.output
    # Four training materials: no early-stopping hold-out.
    result = _run(
        [
            "train",
            features,
            "--out",
            tmp_path / "model",
            *FAST,
            "--param",
            "early_stopping_rounds=null",
            "--device",
            "cpu",
        ]
    )
    assert result.exit_code == 0, result.output
    result = _run(["evaluate", tmp_path / "model", features, "--out", tmp_path / "report"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report" / "report.html").is_file()

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for f in small_ornl_dir.glob("*.h5"):
        (inputs / f.name).write_bytes(f.read_bytes())
    (inputs / "batch_test_9.h5").write_bytes(b"not an HDF5 file")
    out = tmp_path / "pred.csv"
    result = _run(["predict", tmp_path / "model", inputs, "--out", out, "--top-k", "3"])
    assert result.exit_code == 0, result.output
    pred = pd.read_csv(out)
    assert list(pred.columns[:10]) == [
        "file",
        "group",
        "material",
        "true_space_group",
        "pred_1",
        "pred_2",
        "pred_3",
        "prob_1",
        "prob_2",
        "prob_3",
    ]
    assert {"symbol_1", "laue_3", "equivalent_to_pred_1", "set"} <= set(pred.columns)
    assert len(pred) == small_ornl_expected["samples"]
    assert (pred["prob_1"] >= pred["prob_2"]).all() and (pred["prob_2"] >= pred["prob_3"]).all()
    skipped = pd.read_csv(tmp_path / "pred.skipped.csv")
    assert skipped["file"].str.endswith("batch_test_9.h5").all() and len(skipped) == 1
    # The same samples through the feature table give the same top-1.
    bundle = load_bundle(tmp_path / "model")
    table, _ = read_table(features)
    merged = pred.assign(file=pred["file"].map(lambda f: f.rsplit("/", 1)[-1])).merge(
        table.assign(expected=bundle.predict(table))[["file", "group", "expected", "space_group"]],
        on=["file", "group"],
    )
    assert len(merged) == len(pred)
    assert (merged["pred_1"] == merged["expected"]).all()
    assert (merged["true_space_group"] == merged["space_group"]).all()


@pytest.mark.slow
def test_simulate_extract_train_evaluate_predict(tmp_path):
    pytest.importorskip("cbedfeat.simulate.generate")
    data = tmp_path / "data"
    result = _run(
        [
            "simulate",
            "--out",
            data,
            "--materials",
            "12",
            "--energies",
            "2",
            "--min-per-class",
            "2",
            "--top-classes",
            "4",
            "--seed",
            "5",
            "--no-progress",
        ]
    )
    assert result.exit_code == 0, result.output
    features = tmp_path / "features.parquet"
    result = _run(
        ["extract", data, "--out", features, "--workers", "1", "--device", "cpu", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    result = _run(
        [
            "train",
            features,
            "--out",
            tmp_path / "model",
            "--weighting",
            "sqrt",
            "--device",
            "cpu",
            *FAST,
            "--param",
            "early_stopping_rounds=null",
        ]
    )
    assert result.exit_code == 0, result.output
    result = _run(
        ["evaluate", tmp_path / "model", features, "--out", tmp_path / "report", "--split", "all"]
    )
    assert result.exit_code == 0, result.output
    table, _ = read_table(features)
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["n_samples"] == len(table) and metrics["split"] is None
    result = _run(
        ["predict", tmp_path / "model", data, "--out", tmp_path / "pred.csv", "--top-k", "2"]
    )
    assert result.exit_code == 0, result.output
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert len(pred) == len(table) and not (tmp_path / "pred.skipped.csv").exists()
    assert (
        (pred["prob_1"] >= pred["prob_2"]) & (pred["prob_1"] + pred["prob_2"] <= 1 + 1e-6)
    ).all()
    # Features computed by predict match those of the table: the same top-1 per sample.
    expected = table.assign(expected=load_bundle(tmp_path / "model").predict(table))
    merged = pred.assign(file=pred["file"].map(lambda f: f.rsplit("/", 1)[-1])).merge(
        expected[["file", "group", "expected"]], on=["file", "group"]
    )
    assert len(merged) == len(table) and (merged["pred_1"] == merged["expected"]).all()


@pytest.mark.slow
def test_predict_with_a_model_that_reads_stacks(tmp_path, small_ornl_dir):
    pytest.importorskip("torch")
    train_model(
        small_ornl_dir,
        tmp_path / "cnn",
        model="cnn",
        device="cpu",
        params={"epochs": 1, "image_size": 16, "width": 4, "batch_size": 4},
    )
    result = _run(
        [
            "predict",
            tmp_path / "cnn",
            small_ornl_dir,
            "--out",
            tmp_path / "pred.csv",
            "--top-k",
            "2",
        ]
    )
    assert result.exit_code == 0, result.output
    pred = pd.read_csv(tmp_path / "pred.csv")
    bundle = load_bundle(tmp_path / "cnn")
    proba = bundle.model.predict_proba(list(zip(pred["file"], pred["group"], strict=True)))
    assert np.allclose(pred["prob_1"], proba.max(axis=1))
    assert (pred["pred_1"] == bundle.classes[proba.argmax(axis=1)]).all()


def _with_unlabelled_rows(table):
    """The table plus copies of its train and test rows that lack a label, material or lattice."""
    train = table[table["split"] == "train"].head(9).copy()
    train["space_group"] = np.nan
    train["crystal_system"] = None
    lost_material = table[table["split"] == "train"].tail(3).assign(material=None)
    lost_lattice = table[table["split"] == "train"].iloc[10:13].assign(a=np.nan)
    test = table[table["split"] == "test"].head(4).assign(space_group=np.nan, crystal_system=None)
    return (
        pd.concat([table, train, lost_material, lost_lattice, test], ignore_index=True),
        9 + 3 + 3,
        4,
    )


def test_unlabelled_rows_are_left_out_of_training_and_evaluation(tmp_path, table_path):
    table, _ = read_table(table_path)
    mixed, n_train_bad, n_test_bad = _with_unlabelled_rows(table)
    mixed_path = write_feature_table(mixed, tmp_path / "mixed.parquet")
    args = ["--seed", "3", *FAST, "--device", "cpu"]
    result = _run(["train", mixed_path, "--out", tmp_path / "mixed_model", *args])
    assert result.exit_code == 0, result.output
    assert f"left out {n_train_bad + n_test_bad} unlabelled rows" in result.output
    assert _run(["train", table_path, "--out", tmp_path / "clean_model", *args]).exit_code == 0
    mixed_bundle, clean = (
        load_bundle(tmp_path / "mixed_model"),
        load_bundle(tmp_path / "clean_model"),
    )
    # Trained on exactly the labelled rows: the same data, the same model.
    assert mixed_bundle.training["n_unlabelled_left_out"] == n_train_bad + n_test_bad
    assert mixed_bundle.training["data_fingerprint"] == clean.training["data_fingerprint"]
    assert mixed_bundle.training["n_train_samples"] == clean.training["n_train_samples"]
    np.testing.assert_array_equal(mixed_bundle.predict_proba(table), clean.predict_proba(table))

    result = _run(["evaluate", tmp_path / "mixed_model", mixed_path, "--out", tmp_path / "report"])
    assert result.exit_code == 0, result.output
    assert f"left out {n_test_bad} unlabelled rows" in result.output
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["n_samples"] == int((table["split"] == "test").sum())
    assert metrics["n_unlabelled_left_out"] == n_test_bad
