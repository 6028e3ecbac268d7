"""Rows that explain themselves, the ambiguity flag and one prediction per material."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax

from cbedfeat.data.equivalence import equivalence_class_of
from cbedfeat.workflows.explain import (
    ambiguous_by_physics,
    combine_log_probabilities,
    group_facts,
    json_record,
    row_columns,
    row_fields,
)
from cbedfeat.workflows.predict import Predictions, combine_by_material


@pytest.mark.parametrize(
    "number, symbol, system, laue, point_group",
    [
        (14, "P2_1/c", "monoclinic", "2/m", "2/m"),
        (62, "Pnma", "orthorhombic", "mmm", "mmm"),
        (225, "Fm-3m", "cubic", "m-3m", "m-3m"),
        (194, "P6_3/mmc", "hexagonal", "6/mmm", "6/mmm"),
    ],
)
def test_group_facts_of_known_numbers(number, symbol, system, laue, point_group):
    assert group_facts(number) == {
        "symbol": symbol,
        "crystal_system": system,
        "laue_class": laue,
        "point_group": point_group,
    }


def test_ambiguity_flag_on_hand_made_sets():
    assert ambiguous_by_physics([76, 78])  # P4_1 / P4_3: an enantiomorphic pair, one class
    assert ambiguous_by_physics([78, 76, 78])
    assert not ambiguous_by_physics([76])  # nothing left to resolve
    assert not ambiguous_by_physics([])
    assert not ambiguous_by_physics([14, 62])
    assert not ambiguous_by_physics([76, 78, 14])
    members = equivalence_class_of(16)
    assert len(members) > 2 and ambiguous_by_physics(members)


def test_row_fields_and_json_record():
    row = row_fields([76, 14], [0.6, 0.3], calibrated=True, prediction_set=[78, 76], coverage=0.9)
    assert list(row) == row_columns(2)
    assert row["symbol_1"] == "P4_1" and row["system_2"] == "monoclinic" and row["laue_2"] == "2/m"
    assert row["equivalent_to_pred_1"] == "76 78"
    assert row["set"] == "76 78" and row["set_size"] == 2 and row["ambiguous_by_physics"] is True
    record = json_record({"file": "f.h5", "group": "g", **row}, 2)
    assert record["top"][1] == {
        "space_group": 14,
        "probability": 0.3,
        "symbol": "P2_1/c",
        "crystal_system": "monoclinic",
        "laue_class": "2/m",
        "point_group": "2/m",
    }
    assert record["set"] == [76, 78] and record["equivalent_to_pred_1"] == [76, 78]
    assert record["file"] == "f.h5" and "pred_1" not in record
    no_set = row_fields([14], [0.9], calibrated=False)
    assert no_set["set"] == "" and no_set["ambiguous_by_physics"] is None
    assert json_record(no_set, 1)["set"] is None


def test_aggregation_over_a_materials_stacks_is_the_hand_computed_sum():
    classes = np.array([14, 62, 225])
    proba = np.array([[0.5, 0.3, 0.2], [0.2, 0.5, 0.3], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    materials = ["mp-2", "mp-2", "mp-2", "mp-1"]
    keys, combined = combine_log_probabilities(np.log(proba), materials)
    assert keys.tolist() == ["mp-1", "mp-2"]
    np.testing.assert_allclose(
        combined[1], np.log([0.5 * 0.2 * 0.6, 0.3 * 0.5 * 0.3, 0.2 * 0.3 * 0.1])
    )
    np.testing.assert_allclose(combined[0], np.log(proba[3]))
    rows = [
        {
            "file": "a.h5",
            "group": f"s{i}",
            "material": m,
            "true_space_group": 14,
            **row_fields([14], [0.5], calibrated=True),
        }
        for i, m in enumerate(materials)
    ]
    rows.append(
        {
            "file": "b.npy",
            "group": "row_0",
            "material": None,
            "true_space_group": None,
            **row_fields([14], [0.5], calibrated=True),
        }
    )
    preds = Predictions(
        rows=rows, top_k=2, classes=classes, log_proba=np.log(np.vstack([proba, [[1 / 3] * 3]]))
    )
    out = combine_by_material(preds)
    assert [r["material"] for r in out.rows] == ["mp-1", "mp-2"]
    mp2 = out.rows[1]
    expected = softmax(np.log([0.06, 0.045, 0.006]))
    assert mp2["n_stacks"] == 3 and mp2["group"] == "s0;s1;s2" and mp2["pred_1"] == 14
    assert mp2["prob_1"] == pytest.approx(expected[0]) and mp2["prob_2"] == pytest.approx(
        expected[1]
    )
    assert mp2["true_space_group"] == 14 and mp2["set"] == ""
    assert out.columns[:5] == ["file", "group", "material", "true_space_group", "n_stacks"]
