"""Class-weighting schemes against weights computed by hand on a tiny label vector."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.utils.class_weight import compute_sample_weight

from cbedfeat.models import compute_sample_weights
from cbedfeat.models.weights import class_weight_table, weights_from_table

# counts: 14 -> 3, 62 -> 1, 225 -> 2 (n = 6, K = 3)
Y = np.array([14, 14, 14, 62, 225, 225])


def test_none_is_all_ones():
    np.testing.assert_array_equal(compute_sample_weights(Y, "none"), np.ones(6))


def test_balanced_by_hand():
    # n / (K n_c): 6/9, 6/3, 6/6; their sample mean is already 1.
    expected = np.array([2 / 3, 2 / 3, 2 / 3, 2.0, 1.0, 1.0])
    np.testing.assert_allclose(compute_sample_weights(Y, "balanced"), expected, rtol=1e-12)
    np.testing.assert_allclose(
        compute_sample_weights(Y, "balanced"), compute_sample_weight("balanced", Y), rtol=1e-12
    )


def test_sqrt_by_hand():
    # 1/sqrt(n_c) = 1/sqrt(3), 1, 1/sqrt(2); sample mean (3/sqrt 3 + 1 + 2/sqrt 2) / 6
    mean = (np.sqrt(3) + 1 + np.sqrt(2)) / 6
    w14, w62, w225 = 1 / np.sqrt(3) / mean, 1 / mean, 1 / np.sqrt(2) / mean
    expected = np.array([w14, w14, w14, w62, w225, w225])
    np.testing.assert_allclose(compute_sample_weights(Y, "sqrt"), expected, rtol=1e-12)
    np.testing.assert_allclose(
        expected, [0.835475, 0.835475, 0.835475, 1.447086, 1.023244, 1.023244], atol=1e-6
    )


def test_effective_by_hand():
    # beta = 1/2: (1 - b) / (1 - b^n) = 4/7, 1, 2/3; sample mean 85/126, so the
    # normalised weights are 72/85, 126/85, 84/85.
    expected = np.array([72, 72, 72, 126, 84, 84]) / 85
    np.testing.assert_allclose(
        compute_sample_weights(Y, "effective", beta=0.5), expected, rtol=1e-12
    )


def test_effective_limits():
    np.testing.assert_allclose(compute_sample_weights(Y, "effective", beta=0.0), np.ones(6))
    np.testing.assert_allclose(
        compute_sample_weights(Y, "effective", beta=1 - 1e-9),
        compute_sample_weights(Y, "balanced"),
        rtol=1e-6,
    )


def test_cap_by_hand():
    # balanced class weights 2/3, 2, 1 -> capped at 2 * 2/3 = 4/3 -> 2/3, 4/3, 1;
    # sample mean 8/9 -> 3/4, 3/2, 9/8.
    w = compute_sample_weights(Y, "balanced", cap=2.0)
    np.testing.assert_allclose(w, [0.75, 0.75, 0.75, 1.5, 1.125, 1.125], rtol=1e-12)
    assert w.max() / w.min() == pytest.approx(2.0)


def test_class_table_and_unseen_labels():
    table = class_weight_table(Y, "balanced")
    assert table == pytest.approx({14: 2 / 3, 62: 2.0, 225: 1.0})
    assert all(type(k) is int for k in table)
    # A label absent from the table gets the mean class weight.
    np.testing.assert_allclose(weights_from_table([62, 191], table), [2.0, 11 / 9])


def test_string_labels_and_empty():
    w = compute_sample_weights(["a", "a", "b"], "balanced")
    np.testing.assert_allclose(w, [0.75, 0.75, 1.5])
    assert compute_sample_weights(np.array([], dtype=int), "sqrt").shape == (0,)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scheme": "inverse"}, "weighting scheme"),
        ({"scheme": "effective", "beta": 1.0}, "beta"),
        ({"scheme": "effective", "beta": -0.1}, "beta"),
        ({"scheme": "sqrt", "cap": 0.5}, "cap"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        compute_sample_weights(Y, **kwargs)


@settings(max_examples=60, deadline=None)
@given(
    y=st.lists(st.integers(1, 230), min_size=1, max_size=60),
    scheme=st.sampled_from(["none", "balanced", "sqrt", "effective"]),
    cap=st.one_of(st.none(), st.floats(1.0, 20.0)),
)
def test_properties(y, scheme, cap):
    w = compute_sample_weights(y, scheme, cap=cap)
    assert w.shape == (len(y),)
    assert w.mean() == pytest.approx(1.0)
    assert np.all(w > 0)
    if cap is not None:
        assert w.max() / w.min() <= cap * (1 + 1e-9)
    # Same class, same weight; a rarer class never weighs less than a commoner one.
    y = np.asarray(y)
    classes, counts = np.unique(y, return_counts=True)
    per_class = np.array([w[y == c][0] for c in classes])
    for c, wc in zip(classes, per_class, strict=True):
        np.testing.assert_allclose(w[y == c], wc)
    order = np.argsort(counts, kind="stable")
    assert np.all(np.diff(per_class[order]) <= 1e-9)
