"""Kinematic ceiling, accuracy up to equivalence and error bins on a hand-computed case."""

from __future__ import annotations

import numpy as np
import pytest

from cbedfeat.metrics.physics import (
    DEFAULT_TOP_PAIRS,
    ERROR_BINS,
    best_guess_table,
    confused_pairs,
    equivalence_accuracy,
    error_bin_codes,
    error_bins,
    kinematic_ceiling,
)

# Training rows per space group. Classes involved: {1, 2}, {4, 11}, {5, 8, 12}, {9, 15},
# {14}, {195, 200}, {209, 216, 225}; 194, 221 and 229 only as predictions.
TRAIN_COUNTS = {14: 5, 4: 2, 11: 7, 5: 3, 8: 3, 12: 1, 2: 4, 225: 10, 216: 10}

# (true, predicted) rows; the comment gives, by hand: the best guess of the true
# group's class under TRAIN_COUNTS, whether the prediction is in the true class, and
# the error bin.
ROWS = [
    (11, 11),  # best 11 (7 > 2): ceiling hit; right
    (4, 11),  # best 11: miss; same class -> indistinguishable
    (5, 5),  # best 5 (5 and 8 tie at 3, smaller wins): hit; right
    (8, 12),  # best 5: miss; same class -> indistinguishable
    (12, 14),  # best 5: miss; C2/m vs P2_1/c, both 2/m -> wrong absences
    (9, 15),  # best 9 (no training rows: smallest): hit; same class -> indistinguishable
    (15, 9),  # best 9: miss; indistinguishable
    (14, 2),  # best 14: hit; monoclinic vs triclinic -> wrong crystal system
    (225, 229),  # best 216 (216 and 225 tie at 10): miss; Fm-3m vs Im-3m -> wrong absences
    (216, 216),  # best 216: hit; right
    (225, 221),  # best 216: miss; Fm-3m vs Pm-3m -> wrong absences
    (200, 225),  # best 195 (no rows): miss; Pm-3 (m-3) vs Fm-3m (m-3m) -> wrong Laue class
    (1, 2),  # best 2: miss; indistinguishable
    (2, 194),  # best 2: hit; triclinic vs hexagonal -> wrong crystal system
    (225, 229),  # best 216: miss; wrong absences (the pair again)
]
Y_TRUE = np.array([t for t, _ in ROWS])
Y_PRED = np.array([p for _, p in ROWS])


def test_best_guess_table_by_hand():
    best = best_guess_table(TRAIN_COUNTS)
    assert best.shape == (231,)
    expected = {
        4: 11,
        11: 11,
        5: 5,
        8: 5,
        12: 5,
        9: 9,
        15: 9,
        14: 14,
        1: 2,
        2: 2,
        209: 216,
        216: 216,
        225: 216,
        195: 195,
        200: 195,
        194: 186,
    }
    assert {n: int(best[n]) for n in expected} == expected
    # Without any training rows every class guesses its smallest member.
    empty = best_guess_table({})
    assert empty[225] == 209 and empty[139] == 97 and empty[194] == 186


def test_kinematic_ceiling_by_hand():
    # Hits: rows 1, 3, 6, 8, 10, 14 of 15.
    assert kinematic_ceiling(Y_TRUE, TRAIN_COUNTS) == pytest.approx(6 / 15)
    # The evaluated rows' own counts: 225 (3 rows) wins its class, ties go to 4, 5, 9, 1;
    # hits: rows 2, 3, 6, 8, 9, 11, 12, 13, 15.
    own = dict(zip(*np.unique(Y_TRUE, return_counts=True), strict=True))
    assert kinematic_ceiling(Y_TRUE, own) == pytest.approx(9 / 15)


def test_equivalence_accuracy_by_hand():
    # Same class: rows 1, 2, 3, 4, 6, 7, 10, 13.
    assert equivalence_accuracy(Y_TRUE, Y_PRED) == pytest.approx(8 / 15)
    assert equivalence_accuracy([4, 186, 97], [11, 194, 139]) == 1.0


def test_error_bins_by_hand():
    codes = error_bin_codes(Y_TRUE, Y_PRED)
    assert codes.tolist() == [-1, 3, -1, 3, 2, 3, 3, 0, 2, -1, 2, 1, 3, 0, 2]
    bins = error_bins(Y_TRUE, Y_PRED)
    assert list(bins) == [key for key, _ in ERROR_BINS]
    assert {k: b["n"] for k, b in bins.items()} == {
        "wrong_crystal_system": 2,
        "wrong_laue_class": 1,
        "wrong_absences": 4,
        "indistinguishable": 5,
    }
    assert bins["wrong_absences"]["share"] == pytest.approx(4 / 15)
    assert bins["wrong_laue_class"]["label"] == "right system, wrong Laue class"
    # The bins hold every wrong row once: they add up to 1 - top-1 (3 right of 15).
    assert sum(b["share"] for b in bins.values()) == pytest.approx(12 / 15)


def test_confused_pairs_by_hand():
    pairs = confused_pairs(Y_TRUE, Y_PRED, top=3)
    assert [(p["true"], p["predicted"], p["n"], p["bin"]) for p in pairs] == [
        (225, 229, 2, "wrong_absences"),  # the only pair seen twice
        (1, 2, 1, "indistinguishable"),  # then ties by true, predicted group
        (2, 194, 1, "wrong_crystal_system"),
    ]
    assert pairs[0]["share"] == pytest.approx(2 / 15)
    assert (pairs[0]["true_symbol"], pairs[0]["predicted_symbol"]) == ("Fm-3m", "Im-3m")
    assert pairs[0]["bin_label"] == "right Laue class, wrong absences"
    assert len(confused_pairs(Y_TRUE, Y_PRED, top=20)) == 11  # every distinct wrong pair
    assert len(confused_pairs(Y_TRUE, Y_PRED)) == DEFAULT_TOP_PAIRS == 10
    assert confused_pairs([14, 62], [14, 62]) == []


def test_bad_numbers_are_refused():
    with pytest.raises(ValueError, match="1..230"):
        kinematic_ceiling([0, 14], {14: 1})
    with pytest.raises(ValueError, match="1..230"):
        error_bins([14], [231])
