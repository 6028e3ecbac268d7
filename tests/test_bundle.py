"""Tests of cbedfeat.models.bundle: round trips, integrity and compatibility errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cbedfeat.models import make_model
from cbedfeat.models.bundle import (
    BUNDLE_FORMAT_VERSION,
    BundleError,
    CorruptBundleError,
    IncompatibleBundleError,
    MissingFeaturesError,
    load_bundle,
    save_bundle,
    verify_bundle,
)
from cbedfeat.testing import make_feature_table

CONFIG = {"radial": {"bins": 8}}


@pytest.fixture(scope="module")
def data():
    table = make_feature_table(n_classes=5, max_materials=6, seed=1)
    names = [c for c in table.columns if c.startswith(("f_", "noise_"))]
    train = table[table["split"] == "train"]
    return table, names, train[names].to_numpy(), train["space_group"].to_numpy()


@pytest.fixture(scope="module")
def xgb_model(data):
    _, _, X, y = data
    return make_model("xgb", n_estimators=8, early_stopping_rounds=None, n_jobs=1).fit(X, y)


def _save(path, model, names, **kw):
    return save_bundle(path, model, feature_names=names, feature_config=CONFIG, feature_version="7",
                       training={"model": "xgb", "seed": 0, **kw})


def test_xgb_round_trip_identical_probabilities(tmp_path, data, xgb_model):
    table, names, X, _ = data
    _save(tmp_path / "b", xgb_model, names)
    assert (tmp_path / "b" / "model" / "model.ubj").is_file()
    assert not list((tmp_path / "b").rglob("*.joblib"))  # no pickle in an XGBoost bundle
    bundle = load_bundle(tmp_path / "b")
    assert type(bundle.model) is type(xgb_model)
    assert np.array_equal(bundle.predict_proba(X), xgb_model.predict_proba(X))
    assert np.array_equal(bundle.predict_proba(table), xgb_model.predict_proba(table[names].to_numpy()))
    assert bundle.classes.tolist() == xgb_model.classes_.tolist()
    assert bundle.feature_names == names
    assert bundle.feature_config == CONFIG and bundle.feature_version == "7"
    assert bundle.training["seed"] == 0
    assert set(bundle.versions) >= {"cbedfeat", "xgboost", "scikit-learn"}


def test_joblib_round_trip_identical_probabilities(tmp_path, data):
    _, names, X, y = data
    model = make_model("brf", n_estimators=5, n_jobs=1).fit(X, y)
    save_bundle(tmp_path / "b", model, feature_names=names)
    bundle = load_bundle(tmp_path / "b")
    meta = json.loads((tmp_path / "b" / "bundle.json").read_text())
    assert meta["kind"] == "joblib"
    assert np.array_equal(bundle.predict_proba(X), model.predict_proba(X))


def test_manifest_lists_every_file_with_its_hash(tmp_path, data, xgb_model):
    import hashlib

    _save(tmp_path / "b", xgb_model, data[1])
    manifest = verify_bundle(tmp_path / "b")
    files = {p.relative_to(tmp_path / "b").as_posix() for p in (tmp_path / "b").rglob("*") if p.is_file()}
    assert set(manifest["files"]) == files - {"manifest.json"}
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == hashlib.sha256((tmp_path / "b" / name).read_bytes()).hexdigest()


def test_same_model_same_bytes(tmp_path, data, xgb_model):
    _save(tmp_path / "a", xgb_model, data[1])
    _save(tmp_path / "b", xgb_model, data[1])
    assert (tmp_path / "a" / "manifest.json").read_bytes() == (tmp_path / "b" / "manifest.json").read_bytes()


def test_missing_feature_error(tmp_path, data, xgb_model):
    table, names, _, _ = data
    _save(tmp_path / "b", xgb_model, names)
    bundle = load_bundle(tmp_path / "b")
    with pytest.raises(MissingFeaturesError, match="f_003") as info:
        bundle.predict_proba(table.drop(columns=["f_003"]))
    assert info.value.missing == ["f_003"]
    assert isinstance(info.value, IncompatibleBundleError)


def test_truncated_model_file_error(tmp_path, data, xgb_model):
    _save(tmp_path / "b", xgb_model, data[1])
    model_file = tmp_path / "b" / "model" / "model.ubj"
    model_file.write_bytes(model_file.read_bytes()[:100])
    with pytest.raises(CorruptBundleError, match="truncated"):
        load_bundle(tmp_path / "b")


def test_altered_file_error(tmp_path, data, xgb_model):
    _save(tmp_path / "b", xgb_model, data[1])
    path = tmp_path / "b" / "model" / "label_map.json"
    raw = bytearray(path.read_bytes())
    raw[1] = ord("9") if raw[1] != ord("9") else ord("8")  # same size, other content
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptBundleError, match="sha256"):
        load_bundle(tmp_path / "b")


def test_missing_file_error(tmp_path, data, xgb_model):
    _save(tmp_path / "b", xgb_model, data[1])
    (tmp_path / "b" / "model" / "params.json").unlink()
    with pytest.raises(CorruptBundleError, match="params.json"):
        load_bundle(tmp_path / "b")
    (tmp_path / "b" / "manifest.json").unlink()
    with pytest.raises(CorruptBundleError, match="manifest"):
        load_bundle(tmp_path / "b")


def test_newer_format_version_error(tmp_path, data, xgb_model):
    _save(tmp_path / "b", xgb_model, data[1])
    path = tmp_path / "b" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["format_version"] = BUNDLE_FORMAT_VERSION + 1
    path.write_text(json.dumps(manifest))
    with pytest.raises(IncompatibleBundleError, match="newer"):
        load_bundle(tmp_path / "b")


def test_table_with_other_feature_version_error(tmp_path, data, xgb_model):
    _save(tmp_path / "b", xgb_model, data[1])
    bundle = load_bundle(tmp_path / "b")
    bundle.check_table_metadata({"feature_version": "7", "feature_config": CONFIG})  # no error
    with pytest.raises(IncompatibleBundleError, match="version 8"):
        bundle.check_table_metadata({"feature_version": "8"})


def test_save_replaces_a_bundle_but_not_other_directories(tmp_path, data, xgb_model):
    _save(tmp_path / "b", xgb_model, data[1])
    _save(tmp_path / "b", xgb_model, data[1], seed=5)
    assert load_bundle(tmp_path / "b").training["seed"] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]  # no temporary left behind
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(BundleError, match="not a model bundle"):
        _save(other, xgb_model, data[1])
    assert (other / "notes.txt").read_text() == "keep me"


def test_unfitted_model_and_no_directory(tmp_path, data):
    with pytest.raises(BundleError, match="not fitted"):
        save_bundle(tmp_path / "b", make_model("xgb"), feature_names=data[1])
    with pytest.raises(BundleError, match="no such"):
        load_bundle(tmp_path / "absent")
