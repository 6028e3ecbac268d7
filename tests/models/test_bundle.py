"""Tests of cbedfeat.models.bundle: round trips, integrity and compatibility errors."""

from __future__ import annotations

import json
import zipfile

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
from cbedfeat.models.registry import MODEL_NAMES, MODELS
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
    return save_bundle(
        path,
        model,
        feature_names=names,
        feature_config=CONFIG,
        feature_version="7",
        training={"model": "xgb", "seed": 0, **kw},
    )


def test_xgb_round_trip_identical_probabilities(tmp_path, data, xgb_model):
    table, names, X, _ = data
    _save(tmp_path / "b", xgb_model, names)
    assert (tmp_path / "b" / "model" / "model.ubj").is_file()
    assert not list((tmp_path / "b").rglob("*.joblib"))  # no pickle in an XGBoost bundle
    bundle = load_bundle(tmp_path / "b")
    assert type(bundle.model) is type(xgb_model)
    assert np.array_equal(bundle.predict_proba(X), xgb_model.predict_proba(X))
    assert np.array_equal(
        bundle.predict_proba(table), xgb_model.predict_proba(table[names].to_numpy())
    )
    assert bundle.classes.tolist() == xgb_model.classes_.tolist()
    assert bundle.feature_names == names
    assert bundle.feature_config == CONFIG and bundle.feature_version == "7"
    assert bundle.training["seed"] == 0
    assert set(bundle.versions) >= {"cbedfeat", "xgboost", "scikit-learn"}


# Size knobs of the registry's models, applied where a model takes them (tiny fits).
_SMALL = {
    "n_estimators": 5,
    "boost_rounds": 5,
    "n_trees": 5,
    "max_depth": 3,
    "max_bin": 32,
    "n_jobs": 1,
    "epochs": 1,
    "image_size": 16,
    "width": 4,
    "batch_size": 4,
}


_SMALL_CNN = {k: _SMALL[k] for k in ("epochs", "image_size", "width", "batch_size")}


def _training_data(name, tmp_path):
    """(table, feature names) a registry model trains on: a feature table, or for a
    model that reads stacks the index of a tiny HDF5 directory."""
    if MODELS[name].inputs == "features+stacks":
        pytest.importorskip("torch")
        from cnn_fixtures import stacks_with_features

        return stacks_with_features(tmp_path)
    if MODELS[name].inputs != "stacks":
        table = make_feature_table(n_classes=4, max_materials=8, seed=3)
        return table, [c for c in table.columns if c.startswith(("f_", "noise_"))]
    pytest.importorskip("torch")
    from cnn_fixtures import write_tiny_dir

    from cbedfeat.models.cnn_data import index_h5

    return index_h5(write_tiny_dir(tmp_path / "stacks", size=16)), []


def _pickle_forbidden(monkeypatch):
    """Make every pickle and joblib entry point raise."""
    import pickle

    import joblib

    def refuse(*args, **kwargs):
        raise AssertionError("a bundle load called pickle or joblib")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(joblib, "load", refuse)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_registry_model_round_trips_without_pickle(name, tmp_path, monkeypatch):
    """Trained through the one workflow, saved, loaded with pickle disabled: the loaded
    bundle predicts exactly what the saved model predicts, and holds no pickle file."""
    from cbedfeat.models.registry import parameters
    from cbedfeat.workflows.train import fit_and_validate

    table, names = _training_data(name, tmp_path)
    params = {k: v for k, v in _SMALL.items() if k in parameters(name)}
    if name == "features-cnn":  # its members' sizes
        params = {"cnn_params": _SMALL_CNN, "feature_params": {"n_estimators": 5, "n_jobs": 1}}
    model, training, _ = fit_and_validate(table, names, model=name, device="cpu", params=params)
    save_bundle(tmp_path / "b", model, feature_names=names, training=training)
    files = [p for p in (tmp_path / "b").rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix in (".pkl", ".pickle", ".joblib")]
    for path in files:  # no file starts like a pickle (protocol 2+ opcode PROTO)
        assert path.read_bytes()[:1] != b"\x80", path
    _pickle_forbidden(monkeypatch)
    bundle = load_bundle(tmp_path / "b")
    assert type(bundle.model) is type(model)
    rows = table[table["split"].astype(str) != "train"]
    reads_table = getattr(model, "reads_stacks", False)
    expected = model.predict_proba(rows if reads_table else rows[names].to_numpy(dtype=np.float64))
    np.testing.assert_array_equal(bundle.predict_proba(rows), expected)
    np.testing.assert_array_equal(bundle.classes, model.classes_)


def test_state_bundle_layout(tmp_path, data):
    _, names, X, y = data
    model = make_model("brf", n_estimators=5, n_jobs=1).fit(X, y)
    save_bundle(tmp_path / "b", model, feature_names=names)
    meta = json.loads((tmp_path / "b" / "bundle.json").read_text())
    assert meta["kind"] == "state"
    state = json.loads((tmp_path / "b" / "model" / "state.json").read_text())
    assert (
        state["root"]["class"]
        == "cbedfeat.models.ensembles.BalancedRandomForestSpaceGroupClassifier"
    )
    members = list((tmp_path / "b" / "model" / "members").glob("*.skops"))
    assert members
    with zipfile.ZipFile(members[0]) as zf:  # deflated: leaves hold mostly-zero fractions
        assert {info.compress_type for info in zf.infolist()} == {zipfile.ZIP_DEFLATED}
    assert np.array_equal(load_bundle(tmp_path / "b").predict_proba(X), model.predict_proba(X))


def test_old_pickle_bundle_is_refused_unread(tmp_path, data, xgb_model, monkeypatch):
    _save(tmp_path / "b", xgb_model, data[1])
    meta_path = tmp_path / "b" / "bundle.json"
    meta = json.loads(meta_path.read_text())
    meta["kind"] = "joblib"
    meta_path.write_text(json.dumps(meta))
    _rewrite_manifest(tmp_path / "b")
    _pickle_forbidden(monkeypatch)
    with pytest.raises(IncompatibleBundleError, match="holds a pickle"):
        load_bundle(tmp_path / "b")


def _rewrite_manifest(root):
    import hashlib

    manifest = json.loads((root / "manifest.json").read_text())
    for name, entry in manifest["files"].items():
        data = (root / name).read_bytes()
        entry.update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    (root / "manifest.json").write_text(json.dumps(manifest))


def test_state_naming_a_foreign_class_is_refused(tmp_path, data):
    _, names, X, y = data
    model = make_model("logit", n_estimators=3, n_jobs=1, taus=(0.0,)).fit(X, y)
    save_bundle(tmp_path / "b", model, feature_names=names)
    state_path = tmp_path / "b" / "model" / "state.json"
    state = json.loads(state_path.read_text())
    state["root"]["class"] = "os.system"  # a name a malicious file might give
    state_path.write_text(json.dumps(state))
    _rewrite_manifest(tmp_path / "b")
    with pytest.raises(CorruptBundleError, match="not one cbedfeat rebuilds"):
        load_bundle(tmp_path / "b")


def test_skops_member_asking_for_an_untrusted_type_is_refused(tmp_path, data, monkeypatch):
    from cbedfeat.models import persist

    _, names, X, y = data
    model = make_model("blend", n_estimators=3, n_jobs=1, n_trees=3, weight=0.5).fit(X, y)
    save_bundle(tmp_path / "b", model, feature_names=names)
    # the same file, read by a cbedfeat that trusts fewer types: refused before loading
    monkeypatch.setattr(persist, "SKOPS_TRUSTED", frozenset())
    with pytest.raises(CorruptBundleError, match="outside SKOPS_TRUSTED"):
        load_bundle(tmp_path / "b")


def test_skops_trusted_list_is_exactly_what_the_registry_models_need(tmp_path, data):
    """Every listed type is needed by some model (no blanket trust), and nothing else is."""
    from cbedfeat.models.persist import SKOPS_TRUSTED, untrusted_skops_types
    from cbedfeat.models.registry import parameters

    _, names, X, y = data
    needed = set()
    for name in ("brf", "easy", "rusboost", "blend"):
        params = {"n_estimators": 3, "n_trees": 3, "boost_rounds": 3, "weight": 0.5}
        model = make_model(name, **{k: v for k, v in params.items() if k in parameters(name)})
        model.fit(X, y)
        save_bundle(tmp_path / name, model, feature_names=names)
        for path in (tmp_path / name).rglob("*.skops"):
            needed |= set(untrusted_skops_types(path))
    assert needed == SKOPS_TRUSTED


def test_unsupported_value_names_where_it_sits(tmp_path, data):
    from cbedfeat.models import HierarchicalSpaceGroupClassifier, SpaceGroupClassifier

    _, names, X, y = data
    model = HierarchicalSpaceGroupClassifier(
        SpaceGroupClassifier(n_estimators=2, n_jobs=1), level=lambda g: str(g % 2)
    ).fit(X, y)
    with pytest.raises(BundleError, match=r"model\.level: cannot save a builtins.function"):
        save_bundle(tmp_path / "b", model, feature_names=names)
    assert not (tmp_path / "b").exists()


def test_manifest_lists_every_file_with_its_hash(tmp_path, data, xgb_model):
    import hashlib

    _save(tmp_path / "b", xgb_model, data[1])
    manifest = verify_bundle(tmp_path / "b")
    files = {
        p.relative_to(tmp_path / "b").as_posix() for p in (tmp_path / "b").rglob("*") if p.is_file()
    }
    assert set(manifest["files"]) == files - {"manifest.json"}
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == hashlib.sha256((tmp_path / "b" / name).read_bytes()).hexdigest()


def test_same_model_same_bytes(tmp_path, data, xgb_model):
    _save(tmp_path / "a", xgb_model, data[1])
    _save(tmp_path / "b", xgb_model, data[1])
    assert (tmp_path / "a" / "manifest.json").read_bytes() == (
        tmp_path / "b" / "manifest.json"
    ).read_bytes()


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
