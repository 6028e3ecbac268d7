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


# --------------------------------------------------------------------- screen
def _screen_data(n_features=40, informative=(3, 17, 31), seed=0):
    """Noise columns except ``informative``, which carry the class (material-grouped)."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(60), 4)
    y = SGS[groups % len(SGS)]
    X = rng.normal(size=(len(y), n_features)).astype(np.float32)
    code = np.searchsorted(SGS, y)
    for k, col in enumerate(informative):
        X[:, col] += (3 + k) * (code == k % len(SGS))
    return X, y, groups


def test_gain_ranking_orders_by_total_gain_and_puts_unused_last():
    from cbedfeat.models.boosting import gain_ranking, screened_columns

    class FakeBooster:
        def get_score(self, importance_type):
            assert importance_type == "total_gain"
            return {"f2": 5.0, "f0": 9.0, "f4": 1.0}

    ranking = gain_ranking(FakeBooster(), 6)
    np.testing.assert_array_equal(ranking, [0, 2, 4, 1, 3, 5])
    np.testing.assert_array_equal(screened_columns(ranking, 2), [0, 2])


def test_screen_keeps_the_informative_columns_and_reads_full_width_input():
    X, y, groups = _screen_data()
    est = _small(screen_features=3).fit(X, y, groups=groups)
    np.testing.assert_array_equal(est.features_, [3, 17, 31])
    assert est.booster_.num_features() == 3
    assert est.n_features_in_ == X.shape[1]
    # The model reads only the kept columns: changing any other column changes nothing.
    other = X.copy()
    other[:, [0, 1, 2, 39]] = 1e6
    np.testing.assert_array_equal(est.predict_proba(other), est.predict_proba(X))
    assert est.score(X, y) > 0.9


def test_no_screen_when_the_table_is_narrower_or_screen_is_off():
    X, y, groups = _screen_data(n_features=10, informative=(1, 4, 7))
    for keep in (None, 10, 50):
        est = _small(screen_features=keep).fit(X, y, groups=groups)
        np.testing.assert_array_equal(est.features_, np.arange(10))
    with pytest.raises(ValueError, match="screen_features"):
        _small(screen_features=0).fit(X, y, groups=groups)


def test_screen_draws_at_most_screen_rows(monkeypatch):
    import cbedfeat.models.boosting as boosting

    seen = []
    real = xgboost.QuantileDMatrix

    def spy(data, *args, **kwargs):
        seen.append(data.shape)
        return real(data, *args, **kwargs)

    monkeypatch.setattr(boosting, "SCREEN_ROWS", 50)
    monkeypatch.setattr(xgboost, "QuantileDMatrix", spy)
    X, y, groups = _screen_data()
    _small(screen_features=5).fit(X, y, groups=groups)
    # First the screen (50 rows, every column), then training and validation (5 columns).
    assert seen[0] == (50, X.shape[1])
    assert all(shape[1] == 5 for shape in seen[1:])


def test_screened_model_round_trips_natively(tmp_path):
    X, y, groups = _screen_data()
    est = _small(screen_features=4).fit(X, y, groups=groups)
    est.save_native(tmp_path / "m")
    back = SpaceGroupClassifier.load_native(tmp_path / "m")
    np.testing.assert_array_equal(back.features_, est.features_)
    assert back.predict_proba(X).tobytes() == est.predict_proba(X).tobytes()
    # A column list that does not match the booster is refused.
    state = json.loads((tmp_path / "m" / "params.json").read_text())
    state["features"] = state["features"][:-1]
    (tmp_path / "m" / "params.json").write_text(json.dumps(state))
    with pytest.raises(ValueError, match="columns"):
        SpaceGroupClassifier.load_native(tmp_path / "m")


def test_model_saved_before_the_screen_reads_every_column(tmp_path):
    X, y, groups = _data()
    est = _small(screen_features=None).fit(X, y, groups=groups)
    est.save_native(tmp_path / "m")
    state = json.loads((tmp_path / "m" / "params.json").read_text())
    del state["features"], state["params"]["screen_features"]
    (tmp_path / "m" / "params.json").write_text(json.dumps(state))
    back = SpaceGroupClassifier.load_native(tmp_path / "m")
    np.testing.assert_array_equal(back.features_, np.arange(X.shape[1]))
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
    del est.features_  # an in-memory model of the same age
    np.testing.assert_array_equal(est.predict_proba(X), back.predict_proba(X))


# --------------------------------------------------------------------- hold-out at scale
def test_holdout_is_capped_in_rows(monkeypatch):
    import cbedfeat.models.fitting as fitting

    y = np.repeat(SGS, 400)
    groups = np.arange(len(y)) // 4
    _, va = grouped_validation_split(y, groups, 0.15, 0)
    assert 0.1 * len(y) < va.size < 0.2 * len(y)
    monkeypatch.setattr(fitting, "MAX_HOLDOUT_ROWS", 60)
    fitting._SPLITS.clear()
    tr, va = grouped_validation_split(y, groups, 0.15, 0)
    assert 0 < va.size <= 80  # about 60 rows: whole materials, stratified folds
    assert not set(groups[tr]) & set(groups[va])


def test_split_store_answers_repeats_with_fresh_copies(monkeypatch):
    import cbedfeat.models.fitting as fitting

    calls = []
    real = fitting._split
    monkeypatch.setattr(fitting, "_split", lambda *a: calls.append(1) or real(*a))
    fitting._SPLITS.clear()
    y = np.repeat(SGS, 40)
    groups = np.arange(len(y)) // 2
    tr, va = grouped_validation_split(y, groups, 0.2, 3)
    tr[:] = -1  # the caller's copy: the store keeps its own
    tr2, va2 = grouped_validation_split(y, groups, 0.2, 3)
    assert len(calls) == 1 and tr2.min() >= 0
    np.testing.assert_array_equal(va, va2)
    grouped_validation_split(y, groups, 0.2, 4)  # another seed: a new split
    grouped_validation_split(y, groups[::-1].copy(), 0.2, 3)  # other groups: a new split
    assert len(calls) == 3
    # A RandomState draws anew on each call and is never answered from the store.
    rs = np.random.RandomState(0)
    grouped_validation_split(y, groups, 0.2, rs)
    grouped_validation_split(y, groups, 0.2, rs)
    assert len(calls) == 5


def test_refits_decides_by_rows():
    from cbedfeat.models.fitting import REFIT_MAX_ROWS, refits

    assert refits("auto", REFIT_MAX_ROWS) and not refits("auto", REFIT_MAX_ROWS + 1)
    assert refits(True, 10**9) and not refits(False, 10)
    for bad in ("yes", None, 1):
        with pytest.raises(ValueError, match="refit"):
            refits(bad, 10)
