"""Hierarchical classifier: chain-rule probabilities over all classes, stages, groups."""

from __future__ import annotations

import numpy as np
import pytest

from cbedfeat.data.labels import crystal_system_of
from cbedfeat.models import HierarchicalSpaceGroupClassifier, SpaceGroupClassifier

# monoclinic: 11, 14; orthorhombic: 62 (alone); cubic: 221, 225, 227
SGS = np.array([11, 14, 62, 221, 225, 227])


def _data(classes=SGS, n_materials=36, per_material=4, seed=0):
    rng = np.random.default_rng(seed)
    mat_class = classes[np.arange(n_materials) % len(classes)]
    groups = np.repeat(np.arange(n_materials), per_material)
    y = mat_class[groups]
    X = rng.normal(size=(len(y), 6)).astype(np.float32)
    code = np.searchsorted(classes, y)
    X[:, 0] += 8 * code
    X[:, 1] += 8 * (code % 2)
    return X, y, groups


def _stage():
    return SpaceGroupClassifier(
        n_estimators=25, max_depth=3, max_bin=32, colsample_bytree=1.0, device="cpu", n_jobs=1
    )


def _fit(X, y, groups=None, **kw):
    return HierarchicalSpaceGroupClassifier(_stage(), device="cpu", n_jobs=1, **kw).fit(
        X, y, groups=groups
    )


def test_rows_sum_to_one_and_cover_all_classes():
    X, y, groups = _data()
    est = _fit(X, y, groups)
    np.testing.assert_array_equal(est.classes_, SGS)
    proba = est.predict_proba(X)
    assert proba.shape == (len(y), len(SGS))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(proba >= 0)
    # Every class, including the lone orthorhombic one, receives probability.
    assert np.all(proba.max(axis=0) > 0.5)
    np.testing.assert_array_equal(est.predict(X), y)
    assert est.device_used_ == "cpu"


def test_chain_rule():
    X, y, groups = _data()
    est = _fit(X, y, groups)
    assert list(est.systems_) == ["cubic", "monoclinic", "orthorhombic"]
    assert est.group_estimators_["orthorhombic"] == 62  # one class: no model
    p_sys = est.system_estimator_.predict_proba(X)
    sys_col = {s: i for i, s in enumerate(est.system_estimator_.classes_)}
    proba = est.predict_proba(X)
    for system in ("monoclinic", "cubic"):
        sub = est.group_estimators_[system]
        cols = np.searchsorted(est.classes_, sub.classes_)
        expected = p_sys[:, [sys_col[system]]] * sub.predict_proba(X)
        np.testing.assert_allclose(proba[:, cols], expected, rtol=1e-10)
        # Summed over its space groups, a system gets exactly P(system).
        np.testing.assert_allclose(proba[:, cols].sum(axis=1), p_sys[:, sys_col[system]])
    np.testing.assert_allclose(proba[:, 2], p_sys[:, sys_col["orthorhombic"]])
    assert set(est.predict_system(X)) == {"cubic", "monoclinic", "orthorhombic"}
    np.testing.assert_array_equal(est.predict_system(X), [crystal_system_of(v) for v in y])


def test_one_system_only():
    classes = np.array([221, 225, 229])
    X, y, groups = _data(classes=classes, n_materials=18)
    est = _fit(X, y, groups)
    assert est.system_estimator_ is None
    np.testing.assert_allclose(
        est.predict_proba(X), est.group_estimators_["cubic"].predict_proba(X), rtol=1e-12
    )
    assert set(est.predict_system(X)) == {"cubic"}


def test_every_system_a_single_class():
    classes = np.array([2, 14, 225])  # triclinic, monoclinic, cubic
    X, y, groups = _data(classes=classes, n_materials=18)
    est = _fit(X, y, groups)
    np.testing.assert_allclose(
        est.predict_proba(X),
        est.system_estimator_.predict_proba(X)[
            :, np.argsort(np.argsort([crystal_system_of(c) for c in classes]))
        ],
        rtol=1e-12,
    )
    np.testing.assert_array_equal(est.predict(X), y)


def test_laue_class_level():
    X, y, groups = _data()
    est = _fit(X, y, groups, level="laue_class")
    # 11, 14: 2/m; 62: mmm; 221, 225: m-3m; 227: m-3m
    assert list(est.systems_) == ["2/m", "m-3m", "mmm"]
    np.testing.assert_allclose(est.predict_proba(X).sum(axis=1), 1.0)


def test_groups_reach_every_stage(monkeypatch):
    seen = []
    real_fit = SpaceGroupClassifier.fit

    def recording_fit(self, X, y, *, groups=None, sample_weight=None):
        seen.append((np.unique(y).tolist(), None if groups is None else np.asarray(groups)))
        return real_fit(self, X, y, groups=groups, sample_weight=sample_weight)

    monkeypatch.setattr(SpaceGroupClassifier, "fit", recording_fit)
    X, y, groups = _data()
    _fit(X, y, groups)
    assert [labels for labels, _ in seen] == [
        ["cubic", "monoclinic", "orthorhombic"],
        [221, 225, 227],
        [11, 14],
    ]
    assert all(g is not None for _, g in seen)
    np.testing.assert_array_equal(seen[0][1], groups)
    np.testing.assert_array_equal(seen[2][1], groups[np.isin(y, [11, 14])])


def test_own_parameters_override_the_template():
    est = HierarchicalSpaceGroupClassifier(_stage(), weighting="sqrt", random_state=4)
    X, y, groups = _data()
    est.fit(X, y, groups=groups)
    stage = est.group_estimators_["cubic"]
    assert (stage.weighting, stage.random_state, stage.n_estimators) == ("sqrt", 4, 25)


def test_bad_inputs():
    X, y, _ = _data()
    with pytest.raises(ValueError, match="level"):
        HierarchicalSpaceGroupClassifier(_stage(), level="lattice").fit(X, y)
    with pytest.raises(ValueError, match="1..230"):
        HierarchicalSpaceGroupClassifier(_stage()).fit(X, np.where(y == 11, 300, y))
    with pytest.raises(ValueError, match="at least 2 classes"):
        HierarchicalSpaceGroupClassifier(_stage()).fit(X, np.full(len(y), 14))
