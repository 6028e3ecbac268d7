"""System-gated classifier: the gating formula by hand, the fitted model's marginals."""

from __future__ import annotations

import numpy as np
import pytest

from cbedfeat.data.labels import crystal_system_of
from cbedfeat.models import SpaceGroupClassifier, SystemGatedClassifier
from cbedfeat.models.gated import gate_proba

# monoclinic: 11, 14; orthorhombic: 62 (alone); cubic: 221, 225
SGS = np.array([11, 14, 62, 221, 225])


def _data(n_materials=30, per_material=4, seed=0):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_materials), per_material)
    y = SGS[np.arange(n_materials) % len(SGS)][groups]
    X = rng.normal(size=(len(y), 4)).astype(np.float32)
    X[:, 0] += 3 * np.searchsorted(SGS, y)
    return X, y, groups


def _stage(**kw):
    return SpaceGroupClassifier(
        n_estimators=15, max_depth=3, max_bin=32, colsample_bytree=1.0, device="cpu", n_jobs=1, **kw
    )


def test_gate_proba_by_hand():
    flat = [[0.5, 0.3, 0.2]]
    member = [[True, False], [True, False], [False, True]]  # classes 0, 1 in system A
    # Within A: 0.5 / 0.8 and 0.3 / 0.8; then times P(A) = 0.2, P(B) = 0.8.
    np.testing.assert_allclose(gate_proba(flat, [[0.2, 0.8]], member), [[0.125, 0.075, 0.8]])
    # power 2: shares 0.04 / 0.68 and 0.64 / 0.68.
    a = 0.04 / 0.68
    np.testing.assert_allclose(
        gate_proba(flat, [[0.2, 0.8]], member, power=2.0), [[0.625 * a, 0.375 * a, 1 - a]]
    )


def test_gate_proba_flat_zero_in_a_system():
    out = gate_proba([[0.0, 0.0, 1.0]], [[0.9, 0.1]], [[1, 0], [1, 0], [0, 1]])
    np.testing.assert_allclose(out, [[0.0, 0.0, 1.0]])


def test_fitted_model_takes_the_system_shares_from_the_system_model():
    X, y, groups = _data()
    est = SystemGatedClassifier(_stage(), weighting="balanced").fit(X, y, groups=groups)
    assert est.systems_.tolist() == ["cubic", "monoclinic", "orthorhombic"]
    assert est.estimator_.weighting == "balanced"
    assert est.system_estimator_.weighting == "none"  # the system stage is unweighted
    proba = est.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # Per-system sums of the output are the system model's probabilities.
    np.testing.assert_allclose(proba @ est.membership_, est.predict_system_proba(X), rtol=1e-6)
    # Within a system, the flat model's ratios are kept.
    flat = est.estimator_.predict_proba(X)
    np.testing.assert_allclose(proba[:, 0] / proba[:, 1], flat[:, 0] / flat[:, 1], rtol=1e-5)
    systems = np.array([crystal_system_of(int(c)) for c in est.predict(X)])
    assert np.mean(systems == np.array([crystal_system_of(int(c)) for c in y])) > 0.9


def test_one_system_needs_no_system_model():
    X, y, groups = _data()
    keep = np.isin(y, [221, 225])
    est = SystemGatedClassifier(_stage()).fit(X[keep], y[keep], groups=groups[keep])
    assert est.system_estimator_ is None
    np.testing.assert_allclose(
        est.predict_proba(X[keep]), est.estimator_.predict_proba(X[keep]), rtol=1e-6
    )


def test_level_callable_and_bad_power():
    X, y, groups = _data()
    est = SystemGatedClassifier(_stage(), level=lambda g: "low" if g < 100 else "high")
    assert est.fit(X, y, groups=groups).systems_.tolist() == ["high", "low"]
    with pytest.raises(ValueError, match="system_power"):
        SystemGatedClassifier(_stage(), system_power=0).fit(X, y)
