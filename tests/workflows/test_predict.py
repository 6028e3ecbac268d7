"""``cbedfeat predict`` on what nobody labelled: bare stacks, arrays, garbage labels, the malformed corpus."""

from __future__ import annotations

import os
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from malformed_corpus import BAD_GROUPS, FILE_PROBLEMS, GOOD_GROUPS, METADATA_GROUPS, write_corpus

from cbedfeat.cli import main
from cbedfeat.data import iter_samples
from cbedfeat.extraction.extract import extract
from cbedfeat.models.bundle import load_bundle
from cbedfeat.workflows.predict import predict_files
from cbedfeat.workflows.train import train_model

pytest.importorskip("cbedfeat.features.pipeline")


@pytest.fixture(scope="module")
def model_dir(small_ornl_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("predict_model")
    extract(small_ornl_dir, root / "features.parquet", workers=1, device="cpu", progress=False)
    train_model(
        root / "features.parquet",
        root / "model",
        device="cpu",
        params={"n_estimators": 4, "n_jobs": 1, "early_stopping_rounds": None},
    )
    return root / "model"


@pytest.fixture(scope="module")
def labelled(model_dir, small_ornl_dir):
    """Predictions of the labelled small directory, by (file name, group), in reading order."""
    rows = predict_files(load_bundle(model_dir), [small_ornl_dir], top_k=3, device="cpu").rows
    return {(os.path.basename(r["file"]), r["group"]): r for r in rows}


def _predict(model_dir, inputs, out):
    result = CliRunner().invoke(
        main,
        [
            "predict",
            str(model_dir),
            *map(str, inputs),
            "--out",
            str(out),
            "--top-k",
            "3",
            "--device",
            "cpu",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return pd.read_csv(out, keep_default_na=False), result.output


def _same_predictions(rows: pd.DataFrame, expected: list[dict]) -> None:
    assert len(rows) == len(expected)
    for (_, got), exp in zip(rows.iterrows(), expected, strict=True):
        assert [got[f"pred_{i}"] for i in (1, 2, 3)] == [exp[f"pred_{i}"] for i in (1, 2, 3)]
        assert got["prob_1"] == pytest.approx(exp["prob_1"], rel=1e-5)


def test_labelled_predictions_echo_the_true_label(labelled, small_ornl_expected):
    assert len(labelled) == small_ornl_expected["samples"]
    for (_, group), row in labelled.items():
        material = int(group.split("_")[1])
        assert row["material"] == f"mp-{1000 + material}"
        assert (
            row["true_space_group"]
            == small_ornl_expected["space_group_of_material"][row["material"]]
        )


def test_bare_stacks_are_predicted_in_full(model_dir, small_ornl_dir, labelled, tmp_path):
    """Groups holding only cbed_stack: every one predicted, as its labelled original."""
    src = small_ornl_dir / "batch_train_0.h5"
    bare = tmp_path / "batch_test_5.h5"
    with h5py.File(src, "r") as f, h5py.File(bare, "w") as out:
        groups = sorted(f)
        for g in groups:
            out.create_dataset(f"{g}/cbed_stack", data=f[g]["cbed_stack"][()])
    pred, output = _predict(model_dir, [bare], tmp_path / "pred.csv")
    assert list(pred["group"]) == groups and (pred["file"] == str(bare)).all()
    assert (pred["true_space_group"] == "").all() and (pred["material"] == "").all()
    _same_predictions(pred, [labelled[("batch_train_0.h5", g)] for g in groups])
    assert f"{len(groups)} samples predicted ({len(groups)} without a valid stored label)" in output
    assert not (tmp_path / "pred.skipped.csv").exists()
    meta = pd.read_csv(tmp_path / "pred.metadata.csv")
    assert list(meta["group"]) == groups and (meta["kind"] == "missing_attribute").all()


def test_npy_and_hdf5_dataset_arrays_are_predicted_in_full(
    model_dir, small_ornl_dir, labelled, tmp_path
):
    samples = list(iter_samples(small_ornl_dir))
    stacks = np.stack([s.stack for s in samples])
    expected = [labelled[(os.path.basename(s.meta.file), s.meta.group)] for s in samples]
    np.save(tmp_path / "stacks.npy", stacks)
    np.save(tmp_path / "one.npy", stacks[5])
    with h5py.File(tmp_path / "mine.h5", "w") as f:
        f.create_dataset("sim/stacks", data=stacks[:4].astype(np.float64))
    dataset = f"{tmp_path / 'mine.h5'}:/sim/stacks"
    pred, _ = _predict(
        model_dir, [tmp_path / "stacks.npy", tmp_path / "one.npy", dataset], tmp_path / "pred.csv"
    )
    n = len(samples)
    assert (
        list(pred["file"])
        == [str(tmp_path / "stacks.npy")] * n + [str(tmp_path / "one.npy")] + [dataset] * 4
    )
    assert list(pred["group"]) == [f"row_{i}" for i in range(n)] + ["row_0"] + [
        f"row_{i}" for i in range(4)
    ]
    assert (pred["true_space_group"] == "").all()
    _same_predictions(pred, [*expected, expected[5], *expected[:4]])
    assert (
        not (tmp_path / "pred.skipped.csv").exists()
        and not (tmp_path / "pred.metadata.csv").exists()
    )


def test_bad_rows_of_an_array_are_skipped_and_named(model_dir, small_ornl_dir, tmp_path):
    stacks = np.stack([s.stack for s in iter_samples(small_ornl_dir / "batch_dev_0.h5")])
    stacks[0, 1, 3, 3] = np.nan
    np.save(tmp_path / "stacks.npy", stacks)
    pred, _ = _predict(model_dir, [tmp_path / "stacks.npy"], tmp_path / "pred.csv")
    assert list(pred["group"]) == [f"row_{i}" for i in range(1, len(stacks))]
    skipped = pd.read_csv(tmp_path / "pred.skipped.csv")
    assert skipped.to_dict("records") == [
        {
            "file": str(tmp_path / "stacks.npy"),
            "group": "row_0",
            "kind": "bad_stack",
            "reason": skipped["reason"][0],
        }
    ]
    assert "1 NaN" in skipped["reason"][0]


def test_garbage_labels_are_predicted_in_full(model_dir, small_ornl_dir, labelled, tmp_path):
    path = tmp_path / "batch_train_1.h5"
    shutil.copy(small_ornl_dir / "batch_train_1.h5", path)
    garbage = [
        ("space_group", np.bytes_(b"abc")),
        ("space_group", np.bytes_(b"0")),
        ("abc_angstrom", np.array([5.0, 2.5e-314, 7.0])),
        ("angles_degree", np.array([90, 190, 90.0])),
    ]
    with h5py.File(path, "a") as f:
        groups = sorted(f)
        for g, (name, value) in zip(groups, garbage, strict=True):
            f[g].attrs[name] = value
    pred, _ = _predict(model_dir, [path], tmp_path / "pred.csv")
    assert list(pred["group"]) == groups
    _same_predictions(pred, [labelled[("batch_train_1.h5", g)] for g in groups])
    # The label is echoed only where it is valid; a bad lattice leaves the label alone.
    assert list(pred["true_space_group"]) == [
        "",
        "",
        str(labelled[("batch_train_1.h5", groups[2])]["true_space_group"]),
        "14",
    ]
    meta = pd.read_csv(tmp_path / "pred.metadata.csv")
    assert list(meta["group"]) == groups and (meta["kind"] == "bad_attribute").all()
    assert [name in reason for (name, _), reason in zip(garbage, meta["reason"], strict=True)] == [
        True
    ] * 4


def test_the_malformed_corpus_predicts_every_usable_pattern(model_dir, tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    pred, output = _predict(model_dir, [corpus], tmp_path / "pred.csv")
    got = {(os.path.basename(f), g) for f, g in zip(pred["file"], pred["group"], strict=True)}
    usable = {("batch_train_0.h5", g) for g in [*GOOD_GROUPS, *METADATA_GROUPS]} | {
        ("batch_test_0.h5", "sample_7_0"),
        ("batch_test_0.h5", "sample_7_1"),
        ("batch_train_1.h5", "sample_5_1"),
    }
    assert got == usable and len(pred) == len(usable) == 21
    skipped = pd.read_csv(tmp_path / "pred.skipped.csv", keep_default_na=False)
    pattern_groups = set(BAD_GROUPS) - set(METADATA_GROUPS)
    assert {
        (os.path.basename(f), g) for f, g in zip(skipped["file"], skipped["group"], strict=True)
    } == {
        *(("batch_train_0.h5", g) for g in [*pattern_groups, "sample_4_0"]),
        ("batch_train_1.h5", "sample_5_0"),
        *((name, "") for name in FILE_PROBLEMS),
    }
    assert not set(skipped["kind"]) & {"missing_attribute", "bad_attribute"}
    meta = pd.read_csv(tmp_path / "pred.metadata.csv")
    assert set(meta["group"]) == set(METADATA_GROUPS) and len(meta) == len(METADATA_GROUPS)
    labels = dict(zip(pred["group"], pred["true_space_group"], strict=False))
    assert labels["sample_2_0"] == labels["sample_2_1"] == labels["sample_2_2"] == ""
    assert labels["sample_0_0"] == labels["sample_2_4"] == "14"
    assert f"{len(skipped)} samples or files skipped" in output


def test_missing_input_is_a_usage_error(model_dir, tmp_path):
    result = CliRunner().invoke(
        main,
        ["predict", str(model_dir), str(tmp_path / "gone.npy"), "--out", str(tmp_path / "p.csv")],
    )
    assert result.exit_code == 2 and "gone.npy" in result.output
