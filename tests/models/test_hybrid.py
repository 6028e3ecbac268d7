"""Features and the CNN together (features-cnn): mixing, training, persistence, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cbedfeat.models.hybrid import mix_probabilities

torch = pytest.importorskip("torch")

from cnn_fixtures import stacks_with_features  # noqa: E402

CNN_TINY = {"epochs": 1, "image_size": 16, "width": 4, "batch_size": 4}
FEATURES_TINY = {"n_estimators": 5, "max_depth": 2, "n_jobs": 1}


def test_mix_probabilities_aligns_the_class_columns():
    a = np.array([[0.6, 0.4], [0.1, 0.9]])  # classes 14, 225
    b = np.array([[0.2, 0.5, 0.3], [1.0, 0.0, 0.0]])  # classes 2, 14, 62
    proba, classes = mix_probabilities(
        [(a, np.array([14, 225]), 0.5), (b, np.array([2, 14, 62]), 0.5)]
    )
    np.testing.assert_array_equal(classes, [2, 14, 62, 225])
    np.testing.assert_allclose(proba, [[0.1, 0.55, 0.15, 0.2], [0.5, 0.05, 0.0, 0.45]])
    proba, _ = mix_probabilities([(a, np.array([14, 225]), 0.25), (b, np.array([2, 14, 62]), 0.75)])
    np.testing.assert_allclose(proba[0], [0.15, 0.15 + 0.375, 0.225, 0.1])
    with pytest.raises(ValueError, match="shape"):
        mix_probabilities([(a, np.array([14, 225, 3]), 1.0)])


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    from cbedfeat.models.hybrid import FeatureCNNClassifier

    torch.set_num_threads(1)
    table, names = stacks_with_features(tmp_path_factory.mktemp("hybrid"))
    train = table[table["split"] == "train"].reset_index(drop=True)
    est = FeatureCNNClassifier(
        cnn_share=0.3,
        feature_params=FEATURES_TINY,
        cnn_params=CNN_TINY,
        device="cpu",
        feature_names=names,
    ).fit(train, train["space_group"].to_numpy(), groups=train["material"].to_numpy())
    return est, table, names


def test_probabilities_are_the_weighted_mean_of_the_members(fitted):
    est, table, names = fitted
    rows = table[table["split"] == "dev"].reset_index(drop=True)
    p_feat = est.features_.predict_proba(rows[names].to_numpy(dtype=np.float32))
    p_cnn = est.cnn_.predict_proba(rows)
    np.testing.assert_array_equal(est.classes_, [14, 225])
    np.testing.assert_array_equal(est.features_.classes_, est.classes_)
    np.testing.assert_allclose(est.predict_proba(rows), 0.7 * p_feat + 0.3 * p_cnn)
    assert (
        est.predict(rows).tolist() == est.classes_[(0.7 * p_feat + 0.3 * p_cnn).argmax(1)].tolist()
    )
    # the informative column is enough for the feature member on these rows
    assert (
        est.features_.predict(rows[names].to_numpy(np.float32)) == rows["space_group"]
    ).mean() > 0.8


def test_features_and_stacks_in_memory_give_the_table_prediction(fitted):
    from cbedfeat.models.cnn_data import StackDataset, refs_from_table

    est, table, names = fitted
    rows = table[table["split"] == "dev"].reset_index(drop=True).iloc[:5]
    ds = StackDataset(refs_from_table(rows))
    stacks = [ds.read_raw(i) for i in range(len(rows))]
    ds.close()
    got = est.predict_proba_features_stacks(rows[names].to_numpy(), stacks)
    np.testing.assert_allclose(got, est.predict_proba(rows), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="stacks"):
        est.predict_proba_features_stacks(rows[names].to_numpy(), stacks[:2])
    with pytest.raises(ValueError, match="features"):
        est.predict_proba_features_stacks(rows[names[:2]].to_numpy(), stacks)


def test_a_missing_feature_column_is_named(fitted):
    est, table, _ = fitted
    with pytest.raises(KeyError, match="f_noise"):
        est.predict_proba(table.drop(columns=["f_noise"]))


def test_bad_parameters_are_refused(fitted):
    from cbedfeat.models.hybrid import FeatureCNNClassifier

    _, table, names = fitted
    y = table["space_group"].to_numpy()
    for bad, match in (
        ({"cnn_share": 1.5, "feature_names": names}, "cnn_share"),
        ({"feature_model": "cnn", "feature_names": names}, "feature_model"),
        ({"feature_model": "multitask", "feature_names": names}, "feature_model"),
        ({}, "feature_names"),
    ):
        with pytest.raises(ValueError, match=match):
            FeatureCNNClassifier(**bad).fit(table, y)


def test_save_load_round_trip(fitted, tmp_path):
    from cbedfeat.models.hybrid import FeatureCNNClassifier

    est, table, _ = fitted
    est.save(tmp_path / "m")
    assert {p.name for p in (tmp_path / "m").iterdir()} == {"features", "cnn", "hybrid.json"}
    back = FeatureCNNClassifier.load(tmp_path / "m", device="cpu")
    assert back.cnn_share == 0.3 and back.feature_names == est.feature_names
    np.testing.assert_array_equal(back.predict_proba(table), est.predict_proba(table))
    state = json.loads((tmp_path / "m" / "hybrid.json").read_text())
    state["classes"] = [14]
    (tmp_path / "m" / "hybrid.json").write_text(json.dumps(state))
    with pytest.raises(ValueError, match="classes differ"):
        FeatureCNNClassifier.load(tmp_path / "m", device="cpu")


@pytest.mark.slow
def test_train_predict_evaluate_from_the_command_line(tmp_path):
    """Extracted table -> cbedfeat train --model features-cnn -> predict on HDF5 -> evaluate."""
    pytest.importorskip("torch")
    import pandas as pd
    from click.testing import CliRunner
    from cnn_fixtures import write_tiny_dir

    from cbedfeat.cli import main
    from cbedfeat.extraction.extract import extract
    from cbedfeat.models.bundle import load_bundle

    data = write_tiny_dir(tmp_path / "tiny", n_test_materials=4, energies=1, size=64)
    table = tmp_path / "tiny.parquet"
    extract(data, table, workers=1, device="cpu", progress=False)
    runner = CliRunner()
    res = runner.invoke(
        main,
        [
            "train",
            str(table),
            "--model",
            "features-cnn",
            "--out",
            str(tmp_path / "m"),
            "--param",
            f"cnn_params={json.dumps(CNN_TINY)}",
            "--param",
            f"feature_params={json.dumps(FEATURES_TINY)}",
            "--param",
            f"data_root={data}",
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 0, res.output
    bundle = load_bundle(tmp_path / "m")
    assert bundle.training["model"] == "features-cnn" and bundle.feature_names
    assert type(bundle.model).__name__ == "FeatureCNNClassifier"
    res = runner.invoke(
        main,
        [
            "predict",
            str(tmp_path / "m"),
            str(data / "batch_test_0.h5"),
            "-o",
            str(tmp_path / "p.csv"),
        ],
    )
    assert res.exit_code == 0, res.output
    pred = pd.read_csv(tmp_path / "p.csv")
    assert len(pred) == 4 and set(pred["pred_1"]) <= {14, 225}
    # the file's predictions are the table's: same features, same stacks
    t = pd.read_parquet(table)
    t = t[t["split"] == "test"].set_index("group").loc[pred["group"]].reset_index()
    expected = bundle.classes[bundle.predict_proba(t).argmax(1)]
    assert pred["pred_1"].tolist() == expected.tolist()
    res = runner.invoke(
        main,
        [
            "evaluate",
            str(tmp_path / "m"),
            str(table),
            "--split",
            "test",
            "-o",
            str(tmp_path / "ev"),
        ],
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        main,
        ["train", str(table), "--model", "features-cnn", "-o", str(tmp_path / "m2")]
        + ["--calibration-fraction", "0.2"],
    )
    assert res.exit_code != 0 and "--calibration-fraction applies" in res.output
