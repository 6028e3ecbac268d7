"""Blended classifier: hand-computed averages, the members at weight 0 and 1, the grouped
hold-out of weight="auto", classes a member lacks, the registry names."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.linear_model import LogisticRegression

from cbedfeat.models import (
    BlendedClassifier,
    LogitAdjustedClassifier,
    SpaceGroupClassifier,
    SystemGatedClassifier,
    make_model,
)
from cbedfeat.models.blend import aligned_proba, blend_proba, holdout_log_loss, select_weight
from cbedfeat.models.bundle import load_bundle, save_bundle
from cbedfeat.models.registry import MODEL_NAMES
from cbedfeat.models.weights import compute_sample_weights

# monoclinic: 11, 14; orthorhombic: 62; cubic: 221, 225
SGS = np.array([11, 14, 62, 221, 225])


def _data(n_materials=30, per_material=4, seed=0, shift=3.0):
    """Five classes in materials of 4 rows; column 0 separates them by ``shift``."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_materials), per_material)
    y = SGS[np.arange(n_materials) % len(SGS)][groups]
    X = rng.normal(size=(len(y), 4))
    X[:, 0] += shift * np.searchsorted(SGS, y)
    return X, y, groups


def _stage(**kw):
    return SpaceGroupClassifier(
        n_estimators=10,
        max_depth=3,
        max_bin=32,
        colsample_bytree=1.0,
        device="cpu",
        n_jobs=1,
        early_stopping_rounds=None,
        **kw,
    )


def _lr():
    return LogisticRegression(max_iter=2000)


def _trees():
    return ExtraTreesClassifier(n_estimators=10)


class Recorder(DummyClassifier):
    """Prior-predicting member that logs the row ids (column 0), groups and weights it sees."""

    calls: list = []

    def fit(self, X, y, groups=None, sample_weight=None):
        Recorder.calls.append(("fit", np.asarray(X)[:, 0].copy(), groups, sample_weight))
        return super().fit(X, y, sample_weight=sample_weight)

    def predict_proba(self, X):
        Recorder.calls.append(("predict", np.asarray(X)[:, 0].copy(), None, None))
        return super().predict_proba(X)


class DropSmallestClass(ClassifierMixin, BaseEstimator):
    """A logistic regression that never sees the smallest label: ``classes_`` lacks it."""

    def fit(self, X, y, sample_weight=None):
        keep = y != np.min(y)
        self.model_ = _lr().fit(X[keep], y[keep])
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)


# ------------------------------------------------------------------ pure functions
def test_blend_proba_by_hand():
    boosted = [[0.6, 0.4, 0.0]]
    trees = [[0.2, 0.2, 0.6]]
    np.testing.assert_allclose(blend_proba(boosted, trees, 0.5), [[0.4, 0.3, 0.3]])
    np.testing.assert_allclose(blend_proba(boosted, trees, 0.25), [[0.3, 0.25, 0.45]])
    np.testing.assert_allclose(blend_proba(boosted, None, 1.0), boosted)
    np.testing.assert_allclose(blend_proba(None, trees, 0.0), trees)


def test_holdout_log_loss_by_hand():
    classes = np.array([14, 62])
    proba = [[0.5, 0.5], [0.2, 0.8], [1.0, 0.0]]
    y = [14, 62, 62]
    floor = -np.log(np.finfo(np.float64).eps)  # the third row: zero on its true class
    expected = (-np.log(0.5) - np.log(0.8) + floor) / 3
    assert holdout_log_loss(y, proba, classes) == pytest.approx(expected)
    assert holdout_log_loss(y, proba, classes, [1, 1, 0]) == pytest.approx(
        (-np.log(0.5) - np.log(0.8)) / 2
    )


def test_select_weight_known_answer():
    classes = np.array([1, 2])
    y = np.array([1, 1, 2, 2])
    boosted = np.array([[0.9, 0.1], [0.9, 0.1], [0.9, 0.1], [0.1, 0.9]])
    trees = np.array([[0.6, 0.4], [0.6, 0.4], [0.4, 0.6], [0.4, 0.6]])
    weight, table = select_weight(y, boosted, trees, classes, weights=(1.0, 0.0, 0.5))
    assert table["weight"] == [0.0, 0.5, 1.0]
    # Mean -log p(true): trees -(2 log .6 + 2 log .6)/4; boosted -(3 log .9 + log .1)/4;
    # the even blend -(2 log .75 + log .35 + log .75)/4 is the lowest of the three.
    expected = [
        -np.log(0.6),
        -(3 * np.log(0.75) + np.log(0.35)) / 4,
        -(3 * np.log(0.9) + np.log(0.1)) / 4,
    ]
    np.testing.assert_allclose(table["log_loss"], expected)
    assert weight == 0.5
    assert table["top1"] == [1.0, 0.75, 0.75]


def test_select_weight_ties_go_to_the_boosted_model():
    proba = np.array([[0.7, 0.3], [0.3, 0.7]])
    weight, _ = select_weight([1, 2], proba, proba, np.array([1, 2]))
    assert weight == 1.0


def test_aligned_proba_places_columns_and_refuses_foreign_classes():
    est = DummyClassifier(strategy="prior").fit(np.zeros((4, 1)), [14, 14, 14, 225])
    np.testing.assert_allclose(
        aligned_proba(est, np.zeros((1, 1)), np.array([2, 14, 62, 225])), [[0, 0.75, 0, 0.25]]
    )
    with pytest.raises(ValueError, match="outside"):
        aligned_proba(est, np.zeros((1, 1)), np.array([14, 62]))


# ------------------------------------------------------------------ the estimator
def test_weight_one_is_the_boosted_member():
    X, y, groups = _data()
    est = BlendedClassifier(_stage(), _trees(), weight=1.0).fit(X, y, groups=groups)
    base = _stage(weighting="none").fit(X, y, groups=groups)
    np.testing.assert_allclose(est.predict_proba(X), base.predict_proba(X), rtol=1e-12)
    assert est.trees_ is None and est.tuning_ is None and est.weight_ == 1.0
    assert est.device_used_ == "cpu"


def test_weight_zero_is_the_trees_member():
    X, y, groups = _data()
    est = BlendedClassifier(_stage(), weight=0.0, n_trees=15, random_state=3, n_jobs=1)
    est.fit(X, y, groups=groups)
    trees = ExtraTreesClassifier(n_estimators=15, max_features="sqrt", random_state=3, n_jobs=1)
    np.testing.assert_allclose(est.predict_proba(X), trees.fit(X, y).predict_proba(X), rtol=1e-12)
    assert est.estimator_ is None and est.trees_.n_estimators == 15


def test_half_weight_averages_by_hand():
    X = np.zeros((4, 1))
    y = np.array([14, 14, 14, 225])
    est = BlendedClassifier(
        DummyClassifier(strategy="prior"), DummyClassifier(strategy="uniform"), weight=0.5
    ).fit(X, y)
    # prior (0.75, 0.25) and uniform (0.5, 0.5): their mean is (0.625, 0.375).
    np.testing.assert_allclose(est.predict_proba(X[:1]), [[0.625, 0.375]])
    est.set_params(weight=0.25).fit(X, y)
    np.testing.assert_allclose(est.predict_proba(X[:1]), [[0.5625, 0.4375]])
    np.testing.assert_array_equal(est.predict(X[:1]), [14])


@pytest.mark.parametrize("good_is_boosted", [True, False])
def test_auto_picks_the_member_that_is_better_on_the_holdout(good_is_boosted):
    X, y, groups = _data(shift=8.0)  # separable: the logistic regression is near-certain
    good, bad = _lr(), DummyClassifier(strategy="prior")
    members = (good, bad) if good_is_boosted else (bad, good)
    est = BlendedClassifier(*members, weights=(0.0, 0.5, 1.0)).fit(X, y, groups=groups)
    assert est.weight_ == (1.0 if good_is_boosted else 0.0)
    losses = est.tuning_["log_loss"]  # over weights 0, 0.5, 1
    assert losses == sorted(losses, reverse=good_is_boosted)
    assert est.tuning_["n_fit"] + est.tuning_["n_holdout"] == len(y)
    np.testing.assert_array_equal(est.predict(X), y)


def test_holdout_never_shares_a_material_with_the_fit_rows():
    X, y, groups = _data()
    X[:, 0] = np.arange(len(y))  # row ids, read back by the recorder
    Recorder.calls = []
    est = BlendedClassifier(Recorder(), Recorder(), weights=(0.0, 1.0), random_state=1)
    est.fit(X, y, groups=groups)
    calls = Recorder.calls
    # Hold-out: both members fitted on the same rows, then asked about the others; then
    # refitted on every row. Identical members tie, the tie goes to weight 1, and the
    # member of share 0 is not refitted.
    assert [c[0] for c in calls] == ["fit", "fit", "predict", "predict", "fit"]
    assert est.weight_ == 1.0 and est.trees_ is None
    fit_rows = calls[0][1].astype(int)
    held = calls[2][1].astype(int)
    np.testing.assert_array_equal(calls[1][1], fit_rows)
    np.testing.assert_array_equal(np.sort(np.r_[fit_rows, held]), np.arange(len(y)))
    assert held.size > 0 and not set(groups[fit_rows]) & set(groups[held])
    # Groups reach the member whose fit takes them, restricted to its rows.
    np.testing.assert_array_equal(calls[0][2], groups[fit_rows])
    np.testing.assert_array_equal(calls[4][2], groups)


def test_classes_missing_from_a_member():
    X, y, groups = _data(shift=8.0)
    est = BlendedClassifier(_lr(), DropSmallestClass(), weight=0.5).fit(X, y, groups=groups)
    assert est.trees_.classes_.tolist() == [14, 62, 221, 225]
    np.testing.assert_array_equal(est.classes_, SGS)
    proba = est.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # Class 11 gets only the boosted member's half.
    boosted = est.estimator_.predict_proba(X.astype(np.float32))  # the blend's input dtype
    # float32 members: the blend's sum and this product may round apart by an ulp.
    np.testing.assert_allclose(proba[:, 0], 0.5 * boosted[:, 0], rtol=1e-6)
    auto = BlendedClassifier(_lr(), DropSmallestClass()).fit(X, y, groups=groups)
    assert np.isfinite(auto.tuning_["log_loss"]).all()


def test_weighting_reaches_both_members():
    X, y, groups = _data(n_materials=32)  # 7, 7, 6, 6, 6 materials: unequal classes
    Recorder.calls = []
    sw = np.linspace(0.5, 1.5, len(y))
    est = BlendedClassifier(_stage(), Recorder(), weight=0.5, weighting="balanced")
    est.fit(X, y, groups=groups, sample_weight=sw)
    assert est.estimator_.weighting == "balanced"
    ((_, _, _, seen),) = [c for c in Recorder.calls if c[0] == "fit"]
    np.testing.assert_allclose(seen, compute_sample_weights(y, "balanced") * sw)


@pytest.mark.parametrize("weight", ["best", -0.1, 1.5])
def test_bad_weight(weight):
    X, y, groups = _data()
    with pytest.raises(ValueError, match="weight must be"):
        BlendedClassifier(_stage(), weight=weight).fit(X, y, groups=groups)
    with pytest.raises(ValueError, match="weights must be"):
        BlendedClassifier(_stage(), weights=(0.0, 2.0)).fit(X, y, groups=groups)


def test_inside_the_gate_and_the_logit_adjustment():
    X, y, groups = _data()
    blend = BlendedClassifier(_stage(), _trees(), weights=(0.25, 0.75))  # both members fitted
    est = LogitAdjustedClassifier(
        SystemGatedClassifier(blend),
        taus=(0.0, 0.5),
        weighting="sqrt",
        device="cpu",
        n_jobs=1,
        random_state=5,
    ).fit(X, y, groups=groups)
    flat, system = est.estimator_.estimator_, est.estimator_.system_estimator_
    assert isinstance(flat, BlendedClassifier) and isinstance(system, BlendedClassifier)
    # The wrappers' settings reach the blend and, through it, the boosted member.
    assert flat.weighting == "sqrt" and flat.estimator_.weighting == "sqrt"
    assert system.weighting == "none" and system.estimator_.weighting == "none"
    assert flat.random_state == 5 and flat.n_jobs == 1
    assert flat.trees_.random_state == 5 and flat.trees_.n_jobs == 1
    assert flat.estimator_.device == "cpu"
    assert flat.weight_ in (0.25, 0.75) and system.weight_ in (0.25, 0.75)
    np.testing.assert_array_equal(system.classes_, ["cubic", "monoclinic", "orthorhombic"])
    proba = est.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.mean(est.predict(X) == y) > 0.8


# ------------------------------------------------------------------ registry, bundle
def test_make_model_builds_blend_and_gated_blend_logit():
    blend = make_model(
        "blend", weighting="none", device="cpu", n_jobs=1, n_estimators=7, n_trees=9, weight=0.25
    )
    assert isinstance(blend, BlendedClassifier)
    assert blend.weight == 0.25 and blend.n_trees == 9 and blend.n_jobs == 1
    assert blend.estimator.n_estimators == 7
    est = make_model(
        "gated-blend-logit",
        weighting="none",
        device="cpu",
        n_jobs=1,
        n_estimators=7,
        n_trees=9,
        weights=(0.0, 1.0),
        system_power=2.0,
        tau=0.5,
        holdout_fraction=0.3,
    )
    assert isinstance(est, LogitAdjustedClassifier) and est.tau == 0.5
    assert est.holdout_fraction == 0.3  # the outermost model that takes it
    gate = est.estimator
    assert isinstance(gate, SystemGatedClassifier) and gate.system_power == 2.0
    assert isinstance(gate.estimator, BlendedClassifier)
    assert gate.estimator.n_trees == 9 and gate.estimator.weights == (0.0, 1.0)
    assert gate.estimator.estimator.n_estimators == 7
    assert {"blend", "gated-blend-logit"} <= set(MODEL_NAMES)  # `cbedfeat train --model`
    with pytest.raises(TypeError, match="does not take"):
        make_model("gated-blend-logit", colour="red")


def test_bundle_round_trip_identical_probabilities(tmp_path):
    X, y, groups = _data()
    model = make_model(
        "gated-blend-logit",
        weighting="none",
        device="cpu",
        n_jobs=1,
        n_estimators=5,
        max_depth=3,
        early_stopping_rounds=None,
        n_trees=5,
        taus=(0.0, 0.5),
        weights=(0.5, 1.0),
    ).fit(X, y, groups=groups)
    save_bundle(tmp_path / "b", model, feature_names=["a", "b", "c", "d"])
    bundle = load_bundle(tmp_path / "b")
    assert bundle.model.estimator_.estimator_.weight_ == model.estimator_.estimator_.weight_
    assert np.array_equal(bundle.predict_proba(X), model.predict_proba(X))


def test_holdout_log_loss_of_rows_all_weighted_out_is_the_plain_mean():
    proba = np.array([[0.5, 0.5], [0.25, 0.75]])
    plain = holdout_log_loss([1, 2], proba, np.array([1, 2]))
    assert plain == pytest.approx(-(np.log(0.5) + np.log(0.75)) / 2)
    assert holdout_log_loss([1, 2], proba, np.array([1, 2]), sample_weight=[0, 0]) == plain


# ------------------------------------------------------------------ refit and scale
def test_without_refit_the_tuning_members_are_kept():
    X, y, groups = _data(n_materials=40)
    kept = BlendedClassifier(_lr(), _trees(), weights=(0.5,), refit=False).fit(X, y, groups=groups)
    again = BlendedClassifier(_lr(), _trees(), weights=(0.5,), refit=True).fit(X, y, groups=groups)
    assert kept.n_member_rows_ == kept.tuning_["n_fit"] < len(y)
    assert again.n_member_rows_ == len(y)
    # The kept members are those fitted on the fit rows: a fresh fit there gives them back.
    tr = np.setdiff1d(
        np.arange(len(y)), np.flatnonzero(np.isin(groups, _held_materials(y, groups)))
    )
    by_hand = _lr().fit(X[tr].astype(np.float32), y[tr])
    np.testing.assert_allclose(kept.estimator_.coef_, by_hand.coef_)
    assert not np.allclose(again.estimator_.coef_, by_hand.coef_)


def _held_materials(y, groups, fraction=0.2, seed=0):
    from cbedfeat.models.fitting import grouped_validation_split

    _, va = grouped_validation_split(y, groups, fraction, seed)
    return np.unique(groups[va])


def test_refit_auto_follows_the_row_count(monkeypatch):
    import cbedfeat.models.fitting as fitting

    X, y, groups = _data(n_materials=40)
    small = BlendedClassifier(_lr(), _trees(), weights=(0.5,)).fit(X, y, groups=groups)
    assert small.n_member_rows_ == len(y)
    monkeypatch.setattr(fitting, "REFIT_MAX_ROWS", len(y) - 1)
    large = BlendedClassifier(_lr(), _trees(), weights=(0.5,)).fit(X, y, groups=groups)
    assert large.n_member_rows_ < len(y)


def test_a_member_of_share_zero_is_dropped_without_refit():
    X, y, groups = _data(n_materials=40)
    blend = BlendedClassifier(_lr(), _trees(), weights=(1.0,), refit=False).fit(X, y, groups=groups)
    assert blend.weight_ == 1.0 and blend.trees_ is None and blend.estimator_ is not None
    np.testing.assert_allclose(
        blend.predict_proba(X),
        aligned_proba(blend.estimator_, X.astype(np.float32), blend.classes_),
        rtol=1e-6,
    )


def test_default_trees_bound_their_leaves_by_the_rows():
    from cbedfeat.models.blend import TREES_MAX_LEAVES, trees_min_samples_leaf

    assert trees_min_samples_leaf(1) == 1
    assert trees_min_samples_leaf(TREES_MAX_LEAVES) == 1
    assert trees_min_samples_leaf(TREES_MAX_LEAVES + 1) == 2
    assert trees_min_samples_leaf(150_000) == 19
    for n in (10_000, 150_000, 10**6):
        assert n / trees_min_samples_leaf(n) <= TREES_MAX_LEAVES
    X, y, groups = _data()
    blend = BlendedClassifier(_stage(), n_trees=3, weight=0.0).fit(X, y, groups=groups)
    assert blend.trees_.min_samples_leaf == 1
