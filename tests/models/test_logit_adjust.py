"""Logit adjustment: hand-computed adjustments, the fitted prior, tau selection, the wrapper."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from cbedfeat.models import LogitAdjustedClassifier, SpaceGroupClassifier, make_model
from cbedfeat.models.bundle import load_bundle, save_bundle
from cbedfeat.models.logit_adjust import adjust_proba, fitted_prior, select_tau


def _stage(**kw):
    return SpaceGroupClassifier(
        n_estimators=15, max_depth=3, max_bin=32, colsample_bytree=1.0, device="cpu", n_jobs=1, **kw
    )


def _imbalanced(n_frequent=36, n_rare=6, per_material=3, seed=0):
    """Two overlapping classes, 14 six times as frequent as 225, in materials of 3 rows."""
    rng = np.random.default_rng(seed)
    mat_class = np.r_[np.full(n_frequent, 14), np.full(n_rare, 225)]
    groups = np.repeat(np.arange(len(mat_class)), per_material)
    y = mat_class[groups]
    X = rng.normal(size=(len(y), 3))
    X[:, 0] += 1.0 * (y == 225)
    return X, y, groups


# ------------------------------------------------------------------ pure functions
def test_adjust_proba_by_hand():
    proba, prior = [[0.6, 0.4]], [0.8, 0.2]
    # tau = 1: 0.6 / 0.8 = 0.75 and 0.4 / 0.2 = 2, normalised by 2.75.
    np.testing.assert_allclose(adjust_proba(proba, prior, 1.0), [[0.75 / 2.75, 2 / 2.75]])
    # tau = 0.5: divided by sqrt(0.8) and sqrt(0.2).
    a, b = 0.6 / np.sqrt(0.8), 0.4 / np.sqrt(0.2)
    np.testing.assert_allclose(adjust_proba(proba, prior, 0.5), [[a / (a + b), b / (a + b)]])


def test_adjust_proba_tau_zero_is_identity():
    proba = np.random.default_rng(0).dirichlet(np.ones(5), size=7)
    np.testing.assert_allclose(adjust_proba(proba, [0.5, 0.2, 0.2, 0.05, 0.05], 0.0), proba)


def test_adjust_proba_zero_prior_uses_smallest_positive():
    out = adjust_proba([[0.5, 0.25, 0.25]], [0.75, 0.25, 0.0], 1.0)
    np.testing.assert_allclose(out, [[0.5 / 0.75, 1.0, 1.0]] / np.sum([0.5 / 0.75, 1.0, 1.0]))


@pytest.mark.parametrize(
    ("weighting", "expected"),
    [
        ("none", [0.75, 0.25]),
        ("balanced", [0.5, 0.5]),
        # weights 1/sqrt(3) and 1: masses 3/sqrt(3) = sqrt(3) and 1.
        ("sqrt", [np.sqrt(3) / (1 + np.sqrt(3)), 1 / (1 + np.sqrt(3))]),
    ],
)
def test_fitted_prior_follows_the_weighting(weighting, expected):
    np.testing.assert_allclose(
        fitted_prior([14, 14, 14, 62], [14, 62], weighting=weighting), expected
    )


def test_fitted_prior_includes_sample_weight():
    prior = fitted_prior([14, 14, 62], [14, 62], sample_weight=[1.0, 1.0, 6.0])
    np.testing.assert_allclose(prior, [0.25, 0.75])


def test_select_tau_known_answer():
    classes = np.array([1, 2])
    prior = np.array([0.9, 0.1])
    # Rows of class 2 have P(2) = 0.2: tau >= 0.5 turns them into correct class-2 calls
    # (0.2 / 0.1**tau > 0.8 / 0.9**tau from tau = 0.57); class-1 rows at P(1) = 0.95 stay.
    proba = np.array([[0.95, 0.05]] * 8 + [[0.8, 0.2]] * 2)
    y = np.array([1] * 8 + [2] * 2)
    tau, table = select_tau(y, proba, classes, prior, taus=(0.0, 0.25, 0.5, 0.75, 1.0, 2.0))
    assert tau == 0.75  # the smallest tau reaching the best score
    assert table["tau"] == [0.0, 0.25, 0.5, 0.75, 1.0, 2.0]
    assert table["top1"][0] == 0.8 and table["top1"][3] == 1.0
    assert table["balanced_accuracy"][0] == 0.5 and table["balanced_accuracy"][3] == 1.0


def test_select_tau_respects_the_top1_tolerance():
    classes = np.array([1, 2])
    prior = np.array([0.9, 0.1])
    # Any tau > 0 that finds the one class-2 row also turns five class-1 rows into 2s.
    proba = np.array([[0.7, 0.3]] * 5 + [[0.95, 0.05]] * 4 + [[0.75, 0.25]])
    y = np.array([1] * 9 + [2])
    tau, table = select_tau(y, proba, classes, prior, taus=(0.0, 1.0), top1_tolerance=0.02)
    assert table["balanced_accuracy"][1] > table["balanced_accuracy"][0]
    assert table["top1"][1] < table["top1"][0] - 0.02
    assert tau == 0.0
    assert select_tau(y, proba, classes, prior, taus=(0.0, 1.0), top1_tolerance=1.0)[0] == 1.0


# ------------------------------------------------------------------ the estimator
def test_tau_zero_gives_the_base_probabilities():
    X, y, groups = _imbalanced()
    est = LogitAdjustedClassifier(_stage(), tau=0.0).fit(X, y, groups=groups)
    base = _stage(weighting="none").fit(X, y, groups=groups)
    np.testing.assert_allclose(est.predict_proba(X), base.predict_proba(X), rtol=1e-6)
    assert est.tuning_ is None and est.tau_ == 0.0


def test_fixed_tau_divides_by_the_training_prior():
    X, y, groups = _imbalanced()
    est = LogitAdjustedClassifier(_stage(), tau=0.7).fit(X, y, groups=groups)
    np.testing.assert_allclose(est.prior_, [36 / 42, 6 / 42])
    expected = adjust_proba(est.estimator_.predict_proba(X), est.prior_, 0.7)
    np.testing.assert_allclose(est.predict_proba(X), expected)
    np.testing.assert_array_equal(est.predict(X), est.classes_[expected.argmax(axis=1)])


def test_balanced_weighting_makes_the_adjustment_a_no_op():
    X, y, groups = _imbalanced()
    est = LogitAdjustedClassifier(_stage(), tau=1.0, weighting="balanced").fit(X, y, groups=groups)
    np.testing.assert_allclose(est.prior_, [0.5, 0.5])
    assert est.estimator_.weighting == "balanced"
    np.testing.assert_allclose(est.predict_proba(X), est.estimator_.predict_proba(X), rtol=1e-6)


def test_auto_tau_raises_rare_recall_on_overlapping_classes():
    X, y, groups = _imbalanced(n_frequent=60, n_rare=10)
    est = LogitAdjustedClassifier(
        LogisticRegression(), top1_tolerance=1.0, taus=(0.0, 0.5, 1.0)
    ).fit(X, y, groups=groups)
    assert est.tau_ in (0.5, 1.0)
    assert len(est.tuning_["top1"]) == 3
    rare = y == 225
    base_recall = np.mean(est.estimator_.predict(X)[rare] == 225)
    assert np.mean(est.predict(X)[rare] == 225) > base_recall


@pytest.mark.parametrize("tau", ["best", -0.5])
def test_bad_tau(tau):
    X, y, groups = _imbalanced()
    with pytest.raises(ValueError, match="tau must be"):
        LogitAdjustedClassifier(_stage(), tau=tau).fit(X, y, groups=groups)


def test_make_model_builds_the_compositions():
    est = make_model(
        "gated-logit",
        weighting="none",
        device="cpu",
        n_jobs=1,
        n_estimators=7,
        system_power=2.0,
        tau=0.5,
    )
    assert isinstance(est, LogitAdjustedClassifier) and est.tau == 0.5
    assert est.estimator.system_power == 2.0
    assert est.estimator.estimator.n_estimators == 7
    assert make_model("logit", n_estimators=9).estimator.n_estimators == 9
    with pytest.raises(TypeError, match="does not take"):
        make_model("logit", colour="red")


def test_bundle_round_trip_identical_probabilities(tmp_path):
    X, y, groups = _imbalanced()
    model = make_model(
        "gated-logit",
        weighting="none",
        device="cpu",
        n_jobs=1,
        n_estimators=10,
        max_depth=3,
        taus=(0.0, 0.5),
    ).fit(X, y, groups=groups)
    save_bundle(tmp_path / "b", model, feature_names=["a", "b", "c"])
    bundle = load_bundle(tmp_path / "b")
    assert bundle.model.tau_ == model.tau_
    assert np.array_equal(bundle.predict_proba(X), model.predict_proba(X))


def test_gated_blend_logit_fits_a_repeated_member_once(monkeypatch):
    """The tau probe's blend members and the final blend's weight-tuning members are the
    same fit (same rows, same parameters): done once, with the same model as a result."""
    import contextlib
    import functools

    from cbedfeat.models import logit_adjust

    X, y, groups = _imbalanced(n_frequent=40, n_rare=16)

    def build():
        return make_model(
            "gated-blend-logit",
            weighting="none",
            device="cpu",
            n_jobs=1,
            n_estimators=8,
            max_depth=3,
            taus=(0.0, 0.5),
        )

    from sklearn.ensemble import ExtraTreesClassifier

    fits = []

    def counting(real_fit):
        @functools.wraps(real_fit)  # keeps the signature: fit_with_groups passes groups
        def fit(self, X, y, **kwargs):
            fits.append((type(self).__name__, len(y)))
            return real_fit(self, X, y, **kwargs)

        return fit

    # The blend's members: boosted and extremely randomised trees.
    for cls in (SpaceGroupClassifier, ExtraTreesClassifier):
        monkeypatch.setattr(cls, "fit", counting(cls.fit))
    shared = build().fit(X, y, groups=groups)
    n_shared = len(fits)
    fits.clear()
    monkeypatch.setattr(logit_adjust, "reuse_identical_fits", contextlib.nullcontext)
    separate = build().fit(X, y, groups=groups)
    assert len(fits) > n_shared
    assert shared.tau_ == separate.tau_
    np.testing.assert_array_equal(shared.predict_proba(X), separate.predict_proba(X))


def test_identical_fits_are_reused_only_inside_the_block():
    from cbedfeat.models.fitting import fit_with_groups, reuse_identical_fits

    X, y, groups = _imbalanced()
    with reuse_identical_fits():
        a = fit_with_groups(_stage(), X, y, groups)
        b = fit_with_groups(_stage(), X, y, groups)
        c = fit_with_groups(_stage(random_state=1), X, y, groups)  # other parameters
        d = fit_with_groups(_stage(), X[:-3], y[:-3], groups[:-3])  # other rows
    e = fit_with_groups(_stage(), X, y, groups)
    assert a is b
    assert len({id(a), id(c), id(d), id(e)}) == 4


def test_without_refit_the_probe_is_the_model_and_its_prior_is_its_own():
    X, y, groups = _imbalanced(n_frequent=40, n_rare=16)
    kept = LogitAdjustedClassifier(LogisticRegression(), taus=(0.0, 1.0), refit=False)
    kept.fit(X, y, groups=groups)
    refitted = LogitAdjustedClassifier(LogisticRegression(), taus=(0.0, 1.0), refit=True)
    refitted.fit(X, y, groups=groups)
    assert kept.tau_ == refitted.tau_
    assert refitted.n_base_rows_ == len(y) and kept.n_base_rows_ < len(y)
    from cbedfeat.models.fitting import grouped_validation_split

    tr, _ = grouped_validation_split(y, groups, 0.2, 0)
    assert kept.n_base_rows_ == tr.size
    np.testing.assert_allclose(kept.prior_, fitted_prior(y[tr], kept.classes_))
    np.testing.assert_allclose(
        kept.estimator_.coef_, LogisticRegression().fit(X[tr].astype(np.float32), y[tr]).coef_
    )
    with pytest.raises(ValueError, match="refit"):
        LogitAdjustedClassifier(LogisticRegression(), refit="sometimes").fit(X, y, groups=groups)
