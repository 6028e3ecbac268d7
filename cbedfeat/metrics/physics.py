"""Metrics that know what kinematic diffraction can tell apart.

Two space groups of one kinematic-equivalence class (same Laue class, same systematic
absences; :mod:`cbedfeat.data.equivalence`) give identical kinematic intensities, so no
classifier can separate them from kinematic patterns. This module measures a
classifier against that limit:

- **accuracy up to equivalence**: the top-1 prediction lies in the true group's class;
- **the kinematic ceiling**: the best any classifier can do on the evaluated rows when
  it knows the class exactly and guesses inside it from the *training* label counts.
  The best guess of a class is its member with the most training rows; ties go to the
  smaller space-group number, and a class without training rows guesses its smallest
  member. The ceiling is the share of evaluated rows whose true group equals the best
  guess of its class. Using the training counts (not the evaluated rows') makes it a
  fixed property of the split: two people scoring the same rows agree;
- **error bins**: every wrong top-1 prediction goes into the first bin that fits:
  wrong crystal system; right system, wrong Laue class; right Laue class, wrong
  absences; indistinguishable (same Laue class and absences). Shares are of all
  evaluated rows, so the bins add up to 1 - top-1;
- **the most confused pairs** (true, predicted), each labelled with its bin.

Counting is done by NumPy and :func:`sklearn.metrics.accuracy_score`; the classes come
from spglib through :mod:`cbedfeat.data.equivalence`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score

from cbedfeat.data.equivalence import equivalence_classes, equivalence_index_table
from cbedfeat.data.labels import CRYSTAL_SYSTEMS, LAUE_CLASSES, space_group_info

# (key, label) of the error bins, in the order a wrong prediction is tested against them.
ERROR_BINS: tuple[tuple[str, str], ...] = (
    ("wrong_crystal_system", "wrong crystal system"),
    ("wrong_laue_class", "right system, wrong Laue class"),
    ("wrong_absences", "right Laue class, wrong absences"),
    ("indistinguishable", "indistinguishable (same Laue class and absences)"),
)
DEFAULT_TOP_PAIRS = 10

__all__ = [
    "DEFAULT_TOP_PAIRS",
    "ERROR_BINS",
    "best_guess_table",
    "confused_pairs",
    "equivalence_accuracy",
    "error_bin_codes",
    "error_bins",
    "kinematic_ceiling",
]


def _numbers(y: Sequence[int]) -> np.ndarray:
    y = np.asarray(y).astype(np.int64)
    if y.size and (y.min() < 1 or y.max() > 230):
        raise ValueError("space-group numbers must lie in 1..230")
    return y


def best_guess_table(label_counts: Mapping[int, int]) -> np.ndarray:
    """The best guess inside each space group's kinematic-equivalence class.

    Parameters
    ----------
    label_counts : mapping of int to int
        Training rows per space group; groups missing from it count 0.

    Returns
    -------
    (231,) ndarray of int
        Entry ``n`` is the member of n's class with the most training rows (ties and
        classes without training rows: the smallest such member); entry 0 is 0.
    """
    counts = np.zeros(231, dtype=np.int64)
    for number, count in label_counts.items():
        counts[int(number)] = int(count)
    best = np.zeros(231, dtype=np.int64)
    for members in equivalence_classes():
        members_arr = np.asarray(members)
        # argmax takes the first maximum: members are sorted, so the smaller number wins.
        best[members_arr] = members_arr[np.argmax(counts[members_arr])]
    return best


def kinematic_ceiling(y_true: Sequence[int], label_counts: Mapping[int, int]) -> float:
    """Share of rows whose true group is the best guess of its class.

    Parameters
    ----------
    y_true : (n,) array of int
        True space groups of the evaluated rows.
    label_counts : mapping of int to int
        Training rows per space group (see :func:`best_guess_table`).

    Returns
    -------
    float
    """
    y_true = _numbers(y_true)
    return float(accuracy_score(y_true, best_guess_table(label_counts)[y_true]))


def equivalence_accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """Share of rows whose prediction lies in the true group's equivalence class.

    Parameters
    ----------
    y_true, y_pred : (n,) array of int
        True and predicted space groups.

    Returns
    -------
    float
    """
    index = equivalence_index_table()
    return float(accuracy_score(index[_numbers(y_true)], index[_numbers(y_pred)]))


@cache
def _level_tables() -> tuple[np.ndarray, np.ndarray]:
    """(231,) crystal-system and Laue-class indices of every space group (0: none)."""
    system = np.full(231, -1, dtype=np.int64)
    laue = np.full(231, -1, dtype=np.int64)
    for n in range(1, 231):
        info = space_group_info(n)
        system[n] = CRYSTAL_SYSTEMS.index(info.crystal_system)
        laue[n] = LAUE_CLASSES.index(info.laue_class)
    return system, laue


def error_bin_codes(y_true: Sequence[int], y_pred: Sequence[int]) -> np.ndarray:
    """The error bin of every row.

    Parameters
    ----------
    y_true, y_pred : (n,) array of int
        True and predicted space groups.

    Returns
    -------
    (n,) ndarray of int
        -1 for a right prediction, else the index in :data:`ERROR_BINS` of the first
        bin that fits.
    """
    y_true, y_pred = _numbers(y_true), _numbers(y_pred)
    system, laue = _level_tables()
    cls = equivalence_index_table()
    codes = np.full(y_true.shape, -1, dtype=np.int64)
    tests = (
        system[y_true] != system[y_pred],
        laue[y_true] != laue[y_pred],
        cls[y_true] != cls[y_pred],
        np.ones(y_true.shape, dtype=bool),
    )
    wrong = y_true != y_pred
    # Walk the bins from the last to the first so the first that fits is written last.
    for code in reversed(range(len(ERROR_BINS))):
        codes[wrong & tests[code]] = code
    return codes


def error_bins(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, dict[str, Any]]:
    """Counts and shares of the wrong top-1 predictions per error bin.

    Parameters
    ----------
    y_true, y_pred : (n,) array of int
        True and predicted space groups.

    Returns
    -------
    dict
        ``{key: {"label": str, "n": int, "share": float}}`` in the order of
        :data:`ERROR_BINS`; ``share`` is of all ``n`` rows.
    """
    codes = error_bin_codes(y_true, y_pred)
    counts = np.bincount(codes[codes >= 0], minlength=len(ERROR_BINS))
    return {
        key: {
            "label": label,
            "n": int(counts[i]),
            "share": float(counts[i] / codes.size) if codes.size else 0.0,
        }
        for i, (key, label) in enumerate(ERROR_BINS)
    }


def confused_pairs(
    y_true: Sequence[int], y_pred: Sequence[int], *, top: int = DEFAULT_TOP_PAIRS
) -> list[dict[str, Any]]:
    """The most frequent (true, predicted) pairs among the wrong predictions.

    Parameters
    ----------
    y_true, y_pred : (n,) array of int
        True and predicted space groups.
    top : int
        How many pairs.

    Returns
    -------
    list of dict
        Most frequent first (ties: smaller true, then predicted group first); each with
        ``true``, ``true_symbol``, ``predicted``, ``predicted_symbol``, ``n``,
        ``share`` (of all rows), ``bin`` (key of :data:`ERROR_BINS`) and ``bin_label``.
    """
    y_true, y_pred = _numbers(y_true), _numbers(y_pred)
    wrong = y_true != y_pred
    if not wrong.any():
        return []
    pairs, counts = np.unique(
        np.stack([y_true[wrong], y_pred[wrong]], axis=1), axis=0, return_counts=True
    )
    order = np.argsort(-counts, kind="stable")[: max(int(top), 0)]  # pairs come sorted
    codes = error_bin_codes(pairs[order, 0], pairs[order, 1])
    return [
        {
            "true": int(t),
            "true_symbol": space_group_info(int(t)).symbol,
            "predicted": int(p),
            "predicted_symbol": space_group_info(int(p)).symbol,
            "n": int(counts[i]),
            "share": float(counts[i] / y_true.size),
            "bin": ERROR_BINS[code][0],
            "bin_label": ERROR_BINS[code][1],
        }
        for (t, p), i, code in zip(pairs[order], order, codes, strict=True)
    ]
