"""The stack family: relations between the three nets of a stack, in any pattern order."""

import numpy as np
import pytest

from cbedfeat.features import FeatureConfig, StackFeaturizer
from cbedfeat.features.names import feature_names
from cbedfeat.features.stack import STACK_FEATURES, stack_feature_names, stack_features

NAMES = [
    "sites_found",
    "sites_len1",
    "sites_len2",
    "sites_angle",
    "sites_row1_odd",
    "sites_row2_odd",
    "sites_empty",
]


def _stack(rows):
    """(1, 3, 7) per-pattern values from three rows of NAMES."""
    return np.asarray(rows, dtype=np.float64)[None]


def _features(rows):
    return dict(zip(STACK_FEATURES, stack_features(_stack(rows), NAMES)[0], strict=True))


def test_hand_computed_matches_areas_and_parities():
    # Square nets 10 x 10 in two patterns and 20 x 20 in the third: every length of the
    # third is twice one of the others (a net halved by a glide or a centring).
    f = _features(
        [
            [1, 10, 10, 90, 0.1, 0.2, 0.0],
            [1, 10, 10, 90, -3.0, 0.5, 0.1],
            [1, 20, 20, 90, -4.0, -2.5, 0.2],
        ]
    )
    # Lengths: (10, 10, 14.14, 14.14) twice, (20, 20, 28.28, 28.28) once.
    # Equal lengths: each of pattern 0's four lengths equals two of pattern 1's (8 pairs
    # one way, 16 both ways, counted once: 8); nothing in pattern 2 equals them.
    assert f["stack_len_eq"] == 8
    # Ratio 2 (ordered: longer over shorter): pattern 2's 20s over 10s (2 x 2 per pair)
    # and 28.28 over 14.14 (2 x 2), against patterns 0 and 1: 2 x 8 = 16.
    assert f["stack_len_x2"] == 16
    # sqrt 2: 14.14 / 10 inside 0, 1 across (0,1), (1,0): 2 x 4; 20 / 14.14 from pattern 2
    # against 0 and 1: 2 x 4; 28.28 / 20 needs the same pattern, not counted.
    assert f["stack_len_sqrt2"] == 16
    assert f["stack_area_mid"] == pytest.approx(1.0)
    assert f["stack_area_max"] == pytest.approx(4.0)
    assert f["stack_parity_min"] == pytest.approx(-4.0)
    assert f["stack_parity_rows1"] == 2  # patterns 1 and 2 have a row below -2
    assert f["stack_parity_rows2"] == 1  # only pattern 2 has two
    assert f["stack_empty"] == pytest.approx(0.3)


def test_pattern_order_does_not_matter():
    rng = np.random.default_rng(3)
    x = np.abs(rng.normal(10, 4, size=(20, 3, 7)))
    x[:, :, 0] = rng.integers(0, 2, size=(20, 3))
    x[:, :, 3] = rng.uniform(60, 90, size=(20, 3))
    x[:, :, 4:6] -= 12
    for order in ([1, 2, 0], [2, 1, 0]):
        np.testing.assert_allclose(
            stack_features(x[:, order], NAMES), stack_features(x, NAMES), rtol=1e-6
        )


def test_the_vector_ends_with_the_stack_family_and_needs_no_other_family():
    assert feature_names(FeatureConfig())[-len(STACK_FEATURES) :] == stack_feature_names()
    images = np.random.default_rng(0).random((2, 3, 96, 96), dtype=np.float32)
    only = StackFeaturizer(FeatureConfig(families=("radial", "stack")))
    full = StackFeaturizer()
    a, b = only.transform(images), full.transform(images)
    assert a.shape == (2, len(only.names))
    # The stack columns are the same whether sites is in the vector or not.
    np.testing.assert_array_equal(a[:, -len(STACK_FEATURES) :], b[:, -len(STACK_FEATURES) :])


def test_a_pattern_without_a_refined_net_matches_nothing():
    rows = [
        [1, 10, 10, 90, 0.0, 0.0, 0.0],
        [0, 10, 10, 90, 0.0, 0.0, 0.0],  # lengths left over, but no net was refined
        [1, 30, 50, 90, 0.0, 0.0, 0.0],
    ]
    f = _features(rows)
    assert f["stack_len_eq"] == 0
    assert f["stack_area_mid"] == 0  # the missing net's zero area is the smallest
