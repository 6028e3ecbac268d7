"""The stack family: relations between the three nets of a stack, in any pattern order."""

import numpy as np
import pytest

from cbedfeat.features import FeatureConfig, StackFeaturizer
from cbedfeat.features.names import feature_names
from cbedfeat.features.stack import (
    CENTRAL_ROWS,
    STACK_FEATURES,
    stack_feature_names,
    stack_features,
)

NAMES = [
    "sites_found",
    "sites_len1",
    "sites_len2",
    "sites_angle",
    "sites_row1_odd",
    "sites_row2_odd",
    "sites_empty",
]
# the other central-row values the family reads; zero unless a test sets them
ROW_NAMES = [
    "sites_diag1_odd",
    "sites_diag2_odd",
    *(f"sites_{r}_{k}" for k in ("quarter", "third", "gap") for r in CENTRAL_ROWS),
    "folz_found",
    "folz_radius",
]
NAMES = NAMES + ROW_NAMES


def _stack(rows, extra=None):
    """(1, 3, len(NAMES)) per-pattern values from three rows of the first seven NAMES.

    ``extra`` maps a name of ROW_NAMES to its three per-pattern values.
    """
    x = np.zeros((1, 3, len(NAMES)))
    x[0, :, :7] = rows
    for name, values in (extra or {}).items():
        x[0, :, NAMES.index(name)] = values
    return x


def _features(rows, extra=None):
    return dict(zip(STACK_FEATURES, stack_features(_stack(rows, extra), NAMES)[0], strict=True))


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
    # Central rows with every other site missing, over net axes and diagonals: the
    # three net-axis rows above plus none along the diagonals.
    assert f["stack_rows_odd"] == 3
    assert f["stack_rows_quarter"] == f["stack_rows_third"] == 0
    assert f["stack_gap_max"] == 0
    assert f["stack_folz_count"] == f["stack_folz_volume"] == 0  # no rings


def test_folz_volume_compares_net_area_times_ring_radius_squared():
    # Areas 100, 100, 400 (px^2); rings at 100, 50, 50 px: area x r^2 = 1e6, 2.5e5, 1e6.
    nets = [[1, 10, 10, 90, 0, 0, 0], [1, 10, 10, 90, 0, 0, 0], [1, 20, 20, 90, 0, 0, 0]]
    f = _features(nets, {"folz_found": [1, 1, 1], "folz_radius": [100, 50, 50]})
    assert f["stack_folz_count"] == 3
    assert f["stack_folz_volume"] == pytest.approx(4.0)
    # Consistent (a primitive lattice): the ratio is 1; one ring alone gives no ratio.
    f = _features(nets, {"folz_found": [1, 0, 1], "folz_radius": [100, 0, 50]})
    assert f["stack_folz_volume"] == pytest.approx(1.0)
    f = _features(nets, {"folz_found": [0, 0, 1], "folz_radius": [0, 0, 50]})
    assert f["stack_folz_count"] == 1 and f["stack_folz_volume"] == 0


def test_central_row_counts_read_the_diagonals_and_the_finer_periods():
    nets = [[1, 10, 10, 90, 0.0, 0.0, 0.0]] * 3
    f = _features(
        nets,
        {
            "sites_diag1_odd": [-3.0, 0.0, 0.0],
            "sites_diag2_odd": [-2.5, -1.0, 0.0],  # -1 is above the threshold
            "sites_row2_quarter": [0.0, -4.0, 0.0],  # a d-glide row
            "sites_diag1_third": [0.0, 0.0, -6.0],  # a 3_1 screw row
            "sites_diag2_third": [0.0, 0.0, -2.1],
            "sites_row1_gap": [0.1, 0.5, 0.2],
        },
    )
    assert f["stack_rows_odd"] == 2
    assert f["stack_rows_quarter"] == 1
    assert f["stack_rows_third"] == 2
    assert f["stack_gap_max"] == pytest.approx(0.5)
    assert f["stack_parity_rows1"] == 0  # the net-axis counts see none of it


def test_pattern_order_does_not_matter():
    rng = np.random.default_rng(3)
    x = np.abs(rng.normal(10, 4, size=(20, 3, len(NAMES))))
    x[:, :, 0] = rng.integers(0, 2, size=(20, 3))
    x[:, :, 3] = rng.uniform(60, 90, size=(20, 3))
    x[:, :, 4:6] -= 12
    x[:, :, 7:] -= 12  # central rows on both sides of the threshold
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
