"""SpaceGroupClassifier: label encoding, grouped early stopping, weighting, devices, native I/O."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import xgboost

from cbedfeat.models import SpaceGroupClassifier, grouped_validation_split, make_model
from cbedfeat.models.boosting import cuda_available, resolve_device

SGS = np.array([14, 62, 225])


def _data(n_materials=24, per_material=5, classes=SGS, seed=0, n_features=8):
    """Separable toy features: each material's class shifts the first two columns."""
    rng = np.random.default_rng(seed)
    mat_class = classes[np.arange(n_materials) % len(classes)]
    groups = np.repeat(np.arange(n_materials), per_material)
    y = mat_class[groups]
    X = rng.normal(size=(len(y), n_features)).astype(np.float32)
    X[:, 0] += 8 * np.searchsorted(classes, y)
    X[:, 1] -= 6 * np.searchsorted(classes, y)
    return X, y, groups


def _small(**kw):
    kw.setdefault("device", "cpu")
    kw.setdefault("colsample_bytree", 1.0)
    return SpaceGroupClassifier(n_estimators=30, max_depth=3, max_bin=32, n_jobs=1, **kw)


# --------------------------------------------------------------------- labels
def test_label_subset_round_trips():
    X, y, groups = _data()
    est = _small().fit(X, y, groups=groups)
    np.testing.assert_array_equal(est.classes_, SGS)
    assert est.label_map_ == [14, 62, 225]
    pred = est.predict(X)
    assert set(np.unique(pred)) <= {14, 62, 225}
    np.testing.assert_array_equal(pred, y)
    proba = est.predict_proba(X)
    assert proba.shape == (len(y), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(SGS[proba.argmax(axis=1)], pred)


def test_one_class_is_an_error():
    X, _, _ = _data()
    with pytest.raises(ValueError, match="at least 2 classes"):
        _small().fit(X, np.full(len(X), 225))


def test_same_seed_same_probabilities():
    X, y, groups = _data()
    p1 = _small(subsample=0.7, random_state=3).fit(X, y, groups=groups).predict_proba(X)
    p2 = _small(subsample=0.7, random_state=3).fit(X, y, groups=groups).predict_proba(X)
    assert p1.tobytes() == p2.tobytes()


# --------------------------------------------------------------------- grouped split
@pytest.mark.parametrize("seed", range(5))
def test_split_never_shares_a_material(seed):
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 60, 400)
    mat_class = rng.choice([2, 14, 62, 194, 225], size=60, p=[0.05, 0.4, 0.3, 0.15, 0.1])
    y = mat_class[groups]
    tr, va = grouped_validation_split(y, groups, 0.2, random_state=seed)
    assert len(np.intersect1d(tr, va)) == 0
    assert len(tr) + len(va) == len(y)
    assert np.intersect1d(groups[tr], groups[va]).size == 0
    assert 0 < len(va) < len(y) / 2
    # Every class still has training samples.
    assert set(y[tr]) == set(y)


def test_split_keeps_a_one_material_class_in_training():
    # Class 2 lives in material 99 only; whichever fold holds it, it goes back to training.
    groups = np.r_[np.repeat(np.arange(20), 4), [99, 99, 99]]
    y = np.r_[np.where(np.arange(80) % 8 < 4, 14, 225), [2, 2, 2]]
    for seed in range(10):
        tr, va = grouped_validation_split(y, groups, 0.25, random_state=seed)
        assert {80, 81, 82} <= set(tr.tolist())
        assert np.intersect1d(groups[tr], groups[va]).size == 0


def test_split_is_deterministic_and_handles_tiny_inputs():
    y = np.array([1, 1, 2, 2, 1, 2, 1, 2])
    groups = np.array([0, 0, 1, 1, 2, 3, 4, 5])
    a = grouped_validation_split(y, groups, 0.3, random_state=7)
    b = grouped_validation_split(y, groups, 0.3, random_state=7)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    # One group: nothing to hold out.
    tr, va = grouped_validation_split(y, np.zeros(8), 0.3)
    assert len(tr) == 8 and len(va) == 0
    # No groups: each sample is its own group.
    tr, va = grouped_validation_split(y, None, 0.5, random_state=0)
    assert len(va) == 4
    with pytest.raises(ValueError, match="groups"):
        grouped_validation_split(y, groups[:3])
    with pytest.raises(ValueError, match="validation_fraction"):
        grouped_validation_split(y, groups, 1.5)


# --------------------------------------------------------------------- early stopping
def test_early_stopping_on_noise_cuts_the_booster():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 6)).astype(np.float32)
    y = rng.choice(SGS, 300)
    groups = np.repeat(np.arange(60), 5)
    est = SpaceGroupClassifier(
        n_estimators=300, learning_rate=0.3, early_stopping_rounds=5, device="cpu", n_jobs=1
    ).fit(X, y, groups=groups)
    assert est.best_iteration_ < 100
    assert est.booster_.num_boosted_rounds() == est.best_iteration_ + 1
    losses = est.evals_result_["validation"]["mlogloss"]
    assert len(losses) == est.best_iteration_ + 1 + 5
    assert np.argmin(losses) == est.best_iteration_


def test_early_stopping_metric_is_a_parameter():
    X, y, groups = _data()
    est = _small(eval_metric="merror", early_stopping_rounds=5).fit(X, y, groups=groups)
    errors = est.evals_result_["validation"]["merror"]
    assert "mlogloss" not in est.evals_result_["validation"]
    assert 0.0 <= min(errors) <= 1.0
    assert errors[est.best_iteration_] == min(errors)


def test_no_early_stopping_trains_all_rounds():
    X, y, groups = _data()
    est = _small(early_stopping_rounds=None).fit(X, y, groups=groups)
    assert est.booster_.num_boosted_rounds() == 30
    assert est.evals_result_ == {}


def test_validation_set_weighted_like_training(monkeypatch):
    """Both matrices get the class weights of the training part (times sample_weight)."""
    seen = []
    real = xgboost.QuantileDMatrix

    def recording(data, *args, **kwargs):
        seen.append((np.asarray(kwargs["label"]), np.asarray(kwargs["weight"])))
        return real(data, *args, **kwargs)

    monkeypatch.setattr(xgboost, "QuantileDMatrix", recording)
    X, _, groups = _data(n_materials=40)
    y = np.where(groups % 10 == 0, 225, 14)  # 225 is 4 materials of 40
    est = _small(weighting="balanced").fit(X, y, groups=groups)
    assert len(seen) == 2
    (y_tr, w_tr), (y_va, w_va) = seen
    assert w_tr.mean() == pytest.approx(1.0)
    n_tr, n_rare = len(y_tr), np.sum(y_tr == 1)
    expected = {0: n_tr / (2 * (n_tr - n_rare)), 1: n_tr / (2 * n_rare)}
    for labels, weights in ((y_tr, w_tr), (y_va, w_va)):
        for code, w in expected.items():
            np.testing.assert_allclose(weights[labels == code], w)
    assert set(y_va.tolist()) == {0, 1}
    assert est.classes_.tolist() == [14, 225]


def test_sample_weight_multiplies_class_weights(monkeypatch):
    seen = []
    real = xgboost.QuantileDMatrix
    monkeypatch.setattr(
        xgboost,
        "QuantileDMatrix",
        lambda data, *a, **k: seen.append(np.asarray(k["weight"])) or real(data, *a, **k),
    )
    X, y, groups = _data()
    sw = np.linspace(0.5, 2.0, len(y))
    _small(weighting="none", early_stopping_rounds=None).fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(seen[0], sw)


# --------------------------------------------------------------------- devices
def test_cpu_device_recorded_and_logged(caplog):
    X, y, groups = _data()
    with caplog.at_level(logging.INFO, logger="cbedfeat.models.boosting"):
        est = _small(device="cpu").fit(X, y, groups=groups)
    assert est.device_used_ == "cpu"
    assert "trained on cpu" in caplog.text


@pytest.mark.skipif(cuda_available(), reason="a CUDA GPU is present")
def test_auto_device_without_gpu_uses_cpu():
    X, y, groups = _data()
    assert resolve_device("auto") == "cpu"
    assert _small(device="auto").fit(X, y, groups=groups).device_used_ == "cpu"
    with pytest.raises(RuntimeError, match="cuda"):
        _small(device="cuda").fit(X, y)


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="needs a CUDA GPU")
def test_cuda_device_used_when_present():
    X, y, groups = _data()
    est = _small(device="auto").fit(X, y, groups=groups)
    assert est.device_used_ == "cuda"
    cpu = _small(device="cpu").fit(X, y, groups=groups)
    np.testing.assert_array_equal(est.predict(X), cpu.predict(X))


def test_bad_device():
    with pytest.raises(ValueError, match="device"):
        resolve_device("tpu")


# --------------------------------------------------------------------- native format
def test_save_load_native_identical(tmp_path):
    X, y, groups = _data()
    est = _small().fit(X, y, groups=groups)
    est.save_native(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "label_map.json",
        "model.ubj",
        "params.json",
    ]
    assert (tmp_path / "m" / "model.ubj").read_bytes()[:1] == b"{"  # UBJSON object
    assert json.loads((tmp_path / "m" / "label_map.json").read_text()) == [14, 62, 225]
    back = SpaceGroupClassifier.load_native(tmp_path / "m")
    assert back.predict_proba(X).tobytes() == est.predict_proba(X).tobytes()
    np.testing.assert_array_equal(back.classes_, est.classes_)
    assert back.get_params() == est.get_params()
    assert back.best_iteration_ == est.best_iteration_
    assert back.n_features_in_ == X.shape[1]
    # The native file alone is readable by plain XGBoost.
    booster = xgboost.Booster(model_file=str(tmp_path / "m" / "model.ubj"))
    raw = booster.predict(xgboost.DMatrix(X))
    np.testing.assert_allclose(raw, est.predict_proba(X), rtol=1e-6)


def test_load_native_errors(tmp_path):
    X, y, groups = _data()
    _small().fit(X, y, groups=groups).save_native(tmp_path / "m")
    model = tmp_path / "m" / "model.ubj"
    data = model.read_bytes()
    model.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cannot read XGBoost model"):
        SpaceGroupClassifier.load_native(tmp_path / "m")
    model.write_bytes(data)
    (tmp_path / "m" / "label_map.json").write_text("[14, 62]")
    with pytest.raises(ValueError, match="2 classes but the model has 3"):
        SpaceGroupClassifier.load_native(tmp_path / "m")
    (tmp_path / "m" / "label_map.json").unlink()
    with pytest.raises(FileNotFoundError, match="label_map.json"):
        SpaceGroupClassifier.load_native(tmp_path / "m")


# --------------------------------------------------------------------- registry
def test_make_model_passes_common_parameters():
    est = make_model("xgb", weighting="sqrt", device="cpu", random_state=5, n_estimators=7)
    assert isinstance(est, SpaceGroupClassifier)
    assert (est.weighting, est.device, est.random_state, est.n_estimators) == ("sqrt", "cpu", 5, 7)
    brf = make_model("brf", weighting="none", device="cuda", random_state=1)
    assert brf.weighting == "none" and "device" not in brf.get_params()
    hier = make_model("hierarchical", weighting="effective", max_depth=2, n_estimators=9)
    assert hier.estimator.max_depth == 2 and hier.estimator.n_estimators == 9
    assert hier.weighting == "effective"
    with pytest.raises(ValueError, match="unknown model"):
        make_model("svm")
    with pytest.raises(TypeError, match="does not take"):
        make_model("brf", learning_rate=0.1)


@pytest.mark.parametrize("weight_validation", [True, False])
def test_early_stopping_loss_weighted_or_not(weight_validation):
    """The recorded hold-out loss is the class-weighted or the plain log loss of the hold-out."""
    from sklearn.metrics import log_loss

    from cbedfeat.models.weights import compute_sample_weights

    X, _, groups = _data(n_materials=40)
    y = np.where(groups % 10 == 0, 225, 14)  # 225 is 4 materials of 40
    est = _small(
        weighting="balanced", weight_validation=weight_validation, early_stopping_rounds=100
    ).fit(X, y, groups=groups)
    y_enc = (y == 225).astype(int)
    tr, va = grouped_validation_split(y_enc, groups, est.validation_fraction, 0)
    proba = est.predict_proba(X[va])
    # Class weights of the training part, scaled like the training weights (mean 1 there).
    table = {c: compute_sample_weights(y_enc[tr], "balanced")[y_enc[tr] == c][0] for c in (0, 1)}
    w = np.array([table[c] for c in y_enc[va]]) if weight_validation else None
    recorded = est.evals_result_["validation"]["mlogloss"][est.best_iteration_]
    assert recorded == pytest.approx(log_loss(y_enc[va], proba, sample_weight=w), rel=1e-4)
