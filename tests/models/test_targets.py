"""Lattice regression targets: known values, exact round trip, MAE reports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cbedfeat.models.targets import (
    PHYSICAL_COLUMNS,
    TARGET_NAMES,
    cell_volume,
    from_targets,
    regression_errors,
    to_targets,
)


def test_cell_volume_known_cells():
    # cubic 4 A: 64 A^3; hexagonal a=3.2, c=5.2: sqrt(3)/2 a^2 c
    np.testing.assert_allclose(cell_volume([4.0], [4.0], [4.0], [90], [90], [90]), [64.0])
    np.testing.assert_allclose(
        cell_volume([3.2], [3.2], [5.2], [90], [90], [120]), [np.sqrt(3) / 2 * 3.2**2 * 5.2]
    )
    # monoclinic: a b c sin(beta)
    np.testing.assert_allclose(
        cell_volume([5.1], [6.2], [7.3], [90], [101.5], [90]),
        [5.1 * 6.2 * 7.3 * np.sin(np.radians(101.5))],
    )
    # angles that cannot close a cell (alpha + beta < gamma)
    assert np.isnan(cell_volume([1.0], [1.0], [1.0], [30], [30], [90])[0])


def test_known_targets_of_a_cubic_cell():
    z = to_targets(
        pd.DataFrame(
            {"a": [4.0], "b": [4.0], "c": [4.0], "alpha": [90.0], "beta": [90.0], "gamma": [90.0]}
        )
    )
    assert z.shape == (1, len(TARGET_NAMES))
    np.testing.assert_allclose(z[0], [np.log(4)] * 3 + [0.0] * 3 + [np.log(64)], atol=1e-12)


cells = st.tuples(
    st.floats(1.0, 20.0),
    st.floats(1.0, 20.0),
    st.floats(1.0, 20.0),
    st.floats(60.0, 120.0),
    st.floats(60.0, 120.0),
    st.floats(60.0, 120.0),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(cells, min_size=1, max_size=5))
def test_round_trip_is_exact(rows):
    lattice = np.array(rows)
    back = from_targets(to_targets(lattice))
    assert list(back.columns) == list(PHYSICAL_COLUMNS)
    np.testing.assert_allclose(back[["a", "b", "c"]].to_numpy(), lattice[:, :3], rtol=1e-12)
    np.testing.assert_allclose(
        back[["alpha", "beta", "gamma"]].to_numpy(), lattice[:, 3:], atol=1e-9
    )
    vol = cell_volume(*lattice.T)
    ok = np.isfinite(vol)
    np.testing.assert_allclose(back["volume"].to_numpy()[ok], vol[ok], rtol=1e-12)


def test_predicted_cosines_outside_range_are_clipped():
    z = np.array([[0.0, 0.0, 0.0, 1.2, -1.5, 0.0, 0.0]])
    out = from_targets(z)
    assert (
        out.loc[0, "alpha"] == 0.0 and out.loc[0, "beta"] == 180.0 and out.loc[0, "gamma"] == 90.0
    )


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        to_targets(np.zeros((2, 5)))
    with pytest.raises(ValueError):
        from_targets(np.zeros((2, 6)))
    with pytest.raises(ValueError, match="lacks"):
        to_targets(pd.DataFrame({"a": [1.0]}))


def test_regression_errors_by_hand():
    true = pd.DataFrame(
        {
            "a": [4.0, 5.0],
            "b": [4.0, 6.0],
            "c": [4.0, 7.0],
            "alpha": [90.0, 90.0],
            "beta": [90.0, 100.0],
            "gamma": [90.0, 90.0],
        }
    )
    pred = true.copy()
    pred["a"] = [4.5, 4.0]  # errors 0.5, 1.0
    pred["beta"] = [90.0, 106.0]  # errors 0, 6
    pred["volume"] = cell_volume(*(true[c] for c in ["a", "b", "c", "alpha", "beta", "gamma"]))
    rep = regression_errors(true, pred, crystal_system=["cubic", "monoclinic"])
    assert rep["mae"]["a"] == pytest.approx(0.75)
    assert rep["mae"]["beta"] == pytest.approx(3.0)
    assert rep["mae"]["volume"] == pytest.approx(0.0)
    assert rep["mae_by_crystal_system"]["cubic"]["a"] == pytest.approx(0.5)
    assert rep["mae_by_crystal_system"]["monoclinic"] == pytest.approx(
        {
            "n": 1,
            "a": 1.0,
            "b": 0.0,
            "c": 0.0,
            "alpha": 0.0,
            "beta": 6.0,
            "gamma": 0.0,
            "volume": 0.0,
        }
    )
    assert rep["units"]["volume"] == "A^3"
