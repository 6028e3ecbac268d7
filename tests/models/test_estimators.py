"""scikit-learn's estimator checks over every model of the registry (tiny models).

The estimators are collected from :data:`cbedfeat.models.registry.MODELS`, as
imbalanced-learn's common tests collect theirs, never from a hand-kept list: a model
added to the registry is checked here without editing this file. Each is built with
:func:`make_model` and shrunk by :func:`_tiny` (the parameters it takes among a few
generic size knobs).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from cbedfeat.models import capped_sampling_strategy
from cbedfeat.models.registry import MODELS, make_model, parameters

# Size knobs of the registry's models, applied where a model (or its stages) takes them.
_SMALL = {
    "n_estimators": 10,
    "boost_rounds": 10,
    "n_trees": 10,
    "max_depth": 3,
    "max_bin": 32,
    "n_jobs": 1,
}


def _label_parity(label) -> str:
    """First-level grouping for the checks, whose labels (0, 1, 'one', ...) are not
    space-group numbers: groups labels by the parity of a stable hash of their text."""
    return "even" if sum(map(ord, str(label))) % 2 == 0 else "odd"


# The checks' labels are not space groups: the grouping comes from _label_parity; a short
# list of candidate strengths and blend weights keeps the hold-out tuning cheap (weights
# without 0: the XGBoost member always has a share, see EXPECTED_FAILURES).
_FOR_CHECKS = {"level": _label_parity, "taus": (0.0, 0.5, 1.0), "weights": (0.5, 1.0)}

#: Models that read the feature matrix alone (``fit(X, y)``): the multi-task model needs
#: the lattice targets and the CNN reads stacks, so scikit-learn's checks do not apply.
FEATURE_MODELS = tuple(name for name, spec in MODELS.items() if spec.inputs == "features")


def _tiny(name: str, **extra) -> dict:
    taken = parameters(name)
    return {k: v for k, v in {**_SMALL, **extra}.items() if k in taken}


def _tested_estimators():
    for name in FEATURE_MODELS:
        yield make_model(name, device="cpu", **_tiny(name, **_FOR_CHECKS))


def test_the_checks_cover_every_feature_model():
    assert len(list(_tested_estimators())) == len(FEATURE_MODELS) >= 11
    assert {"xgb", "brf", "gated-blend-logit"} <= set(FEATURE_MODELS)
    assert {"multitask", "cnn"} <= set(MODELS) - set(FEATURE_MODELS)


_EQUIVALENCE = (
    "weight 2 is not the same as a duplicated row here: class weights follow class counts, "
    "and the hold-out split, XGBoost's quantile sketch and row sub-sampling draw rows, "
    "not weights"
)
_UNDERSAMPLED = (
    "random under-sampling draws rows, so a row of weight 2 is not drawn like two copies"
)
_NO_SAMPLE_WEIGHT = (
    "imbalanced-learn's {} fit takes no sample_weight (RandomUnderSampler cannot carry "
    "weights); fit(sample_weight=...) raises, class weighting is applied inside each bag"
)


def _no_sample_weight(ensemble: str) -> dict[str, str]:
    reason = _NO_SAMPLE_WEIGHT.format(ensemble)
    return dict.fromkeys(
        [
            "check_sample_weights_pandas_series",
            "check_sample_weights_not_an_array",
            "check_sample_weights_list",
            "check_sample_weights_shape",
            "check_sample_weights_not_overwritten",
            "check_all_zero_sample_weights_error",
            "check_classifiers_one_label_sample_weights",
            "check_sample_weight_equivalence_on_dense_data",
        ],
        reason,
    )


EXPECTED_FAILURES: dict[str, dict[str, str]] = {
    "SpaceGroupClassifier": {"check_sample_weight_equivalence_on_dense_data": _EQUIVALENCE},
    "HierarchicalSpaceGroupClassifier": {
        "check_sample_weight_equivalence_on_dense_data": _EQUIVALENCE
    },
    "LogitAdjustedClassifier": {"check_sample_weight_equivalence_on_dense_data": _EQUIVALENCE},
    "SystemGatedClassifier": {"check_sample_weight_equivalence_on_dense_data": _EQUIVALENCE},
    "BlendedClassifier": {"check_sample_weight_equivalence_on_dense_data": _EQUIVALENCE},
    "BalancedRandomForestSpaceGroupClassifier": {
        "check_sample_weight_equivalence_on_dense_data": _UNDERSAMPLED
    },
    "RUSBoostSpaceGroupClassifier": {
        "check_sample_weight_equivalence_on_dense_data": _UNDERSAMPLED
    },
    "BalancedBaggingSpaceGroupClassifier": _no_sample_weight("BalancedBaggingClassifier"),
    "EasyEnsembleSpaceGroupClassifier": _no_sample_weight("EasyEnsembleClassifier"),
}


def _expected_failed_checks(estimator) -> dict[str, str]:
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


@parametrize_with_checks(list(_tested_estimators()), expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# ----------------------------------------------------------------------------------
# The shared interface of every model, on space-group labels
# ----------------------------------------------------------------------------------
def _separable(classes, n_per_material=4, n_materials=30, seed=0):
    rng = np.random.default_rng(seed)
    classes = np.asarray(classes)
    groups = np.repeat(np.arange(n_materials), n_per_material)
    y = classes[np.arange(n_materials) % len(classes)][groups]
    X = rng.normal(size=(len(y), 5)).astype(np.float32)
    X += 10 * np.searchsorted(np.sort(classes), y)[:, None]  # every column informative
    return X, y, groups


@pytest.mark.parametrize("name", FEATURE_MODELS)
def test_label_subset_round_trips(name):
    X, y, groups = _separable([14, 62, 225])
    # 20 rounds: with 10, early stopping on the tiny hold-out may stop before every
    # training row is right.
    est = make_model(name, device="cpu", **_tiny(name, n_estimators=20)).fit(X, y, groups=groups)
    np.testing.assert_array_equal(est.classes_, [14, 62, 225])
    np.testing.assert_array_equal(est.predict(X), y)
    proba = est.predict_proba(X)
    assert proba.shape == (len(y), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert est.device_used_ == "cpu"


def test_capped_sampling_strategy():
    y = np.repeat([1, 2, 3, 4, 5], [1, 3, 10, 40, 200])
    # median count 10: classes below keep everything, classes above are cut to 10.
    assert capped_sampling_strategy(y) == {1: 1, 2: 3, 3: 10, 4: 10, 5: 10}
    assert capped_sampling_strategy(y, 30) == {1: 1, 2: 3, 3: 10, 4: 30, 5: 30}
    with pytest.raises(ValueError, match="max_per_class"):
        capped_sampling_strategy(y, "mean")


@pytest.mark.parametrize("name", ["brf", "bagging", "easy", "rusboost"])
def test_rare_class_absent_from_many_bags(name):
    """A one-sample class is missing from most bags/rounds; its column must survive."""
    X, y, groups = _separable([14, 62, 225], n_materials=30)
    X = np.vstack([X, np.full((1, 5), -50.0, dtype=np.float32)])
    y = np.r_[y, 2]
    est = make_model(name, device="cpu", **_tiny(name)).fit(X, y)
    np.testing.assert_array_equal(est.classes_, [2, 14, 62, 225])
    proba = est.predict_proba(X)
    assert proba.shape == (len(y), 4)
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    if name == "bagging":
        # Bags that missed class 2 hold XGBoost models over the classes they saw.
        bag_classes = [len(pipe[-1].classes_) for pipe in est.estimator_.estimators_]
        assert min(bag_classes) == 3 and max(bag_classes) <= 4
        assert 3 in bag_classes


@pytest.mark.parametrize("name", ["bagging", "easy"])
def test_ensembles_without_sample_weight_refuse_it(name):
    X, y, _ = _separable([14, 62])
    with pytest.raises(ValueError, match="does not accept sample_weight"):
        make_model(name, **_tiny(name)).fit(X, y, sample_weight=np.ones(len(y)))


def test_class_weighted_wrapper_weights_each_fit():
    from sklearn.dummy import DummyClassifier

    from cbedfeat.models import compute_sample_weights
    from cbedfeat.models.ensembles import ClassWeightedClassifier

    seen = []

    class Recorder(DummyClassifier):
        def fit(self, X, y, sample_weight=None):
            seen.append(np.asarray(sample_weight))
            return super().fit(X, y, sample_weight=sample_weight)

    y = np.array([14, 14, 14, 62, 225, 225])
    X = np.zeros((6, 2))
    est = ClassWeightedClassifier(Recorder(), weighting="balanced").fit(X, y)
    np.testing.assert_allclose(seen[0], compute_sample_weights(y, "balanced"))
    np.testing.assert_array_equal(est.classes_, [14, 62, 225])
    ClassWeightedClassifier(Recorder(), weighting="sqrt").fit(X[:4], y[:4], sample_weight=[2] * 4)
    np.testing.assert_allclose(seen[1], 2 * compute_sample_weights(y[:4], "sqrt"))


def test_make_model_n_jobs_only_where_taken():
    assert make_model("rusboost", n_jobs=2).get_params()["n_estimators"] == 100
    assert make_model("brf", n_jobs=2).n_jobs == 2
    assert make_model("hierarchical", n_jobs=1, max_depth=2).n_jobs == 1
