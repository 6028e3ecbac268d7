"""Prediction rows that explain themselves, and one prediction from several stacks of a material.

For every one of the top-k space groups a row names its Hermann-Mauguin symbol,
crystal system, Laue class and point group (:func:`cbedfeat.data.labels.space_group_info`,
read from spglib); it gives the kinematic-equivalence class of the top-1 group (the
groups whose kinematic patterns cannot differ from it, :mod:`cbedfeat.data.equivalence`),
the conformal set (:mod:`cbedfeat.models.conformal`) and a flag,
``ambiguous_by_physics``, when the set holds two or more groups that all lie in one
equivalence class: the model has narrowed the answer down as far as kinematic
diffraction allows, and the remaining choice is not the model's to make.

Several stacks of one material (the real data holds up to ten beam energies per
material) combine into one prediction by summing their calibrated log-probabilities
(:func:`combine_log_probabilities`): the product of the per-stack probabilities,
renormalised, as if the stacks were independent views of one crystal. The combined row
has no conformal set: the sets' guarantee is per stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cbedfeat.data.equivalence import equivalence_class_of, equivalence_index_table
from cbedfeat.data.labels import space_group_info

__all__ = [
    "ambiguous_by_physics",
    "combine_log_probabilities",
    "group_facts",
    "json_record",
    "row_columns",
    "row_fields",
]

# Per-rank fields of a row, after pred_i and prob_i: (CSV prefix, SpaceGroupInfo attribute).
_FACTS = (
    ("symbol", "symbol"),
    ("system", "crystal_system"),
    ("laue", "laue_class"),
    ("point_group", "point_group"),
)


def group_facts(number: int) -> dict[str, str]:
    """Symbol, crystal system, Laue class and point group of one space group.

    Parameters
    ----------
    number : int
        ITA number, 1..230.

    Returns
    -------
    dict
        ``{"symbol", "crystal_system", "laue_class", "point_group"}``, e.g. ``'P2_1/c'``,
        ``'monoclinic'``, ``'2/m'``, ``'2/m'`` for 14.
    """
    info = space_group_info(int(number))
    return {
        "symbol": info.symbol,
        "crystal_system": info.crystal_system,
        "laue_class": info.laue_class,
        "point_group": info.point_group,
    }


def ambiguous_by_physics(groups: Sequence[int]) -> bool:
    """Whether a set of two or more space groups lies inside one kinematic-equivalence class.

    Parameters
    ----------
    groups : sequence of int
        A prediction set (space-group numbers).

    Returns
    -------
    bool
        False for an empty set or a single group (nothing left to resolve).
    """
    numbers = np.unique(np.asarray(list(groups), dtype=np.int64))
    if numbers.size < 2:
        return False
    return bool(np.unique(equivalence_index_table()[numbers]).size == 1)


def row_columns(k: int) -> list[str]:
    """CSV columns of :func:`row_fields` for ``k`` ranks."""
    ranks = range(1, k + 1)
    cols = [f"pred_{i}" for i in ranks] + [f"prob_{i}" for i in ranks]
    for prefix, _ in _FACTS:
        cols += [f"{prefix}_{i}" for i in ranks]
    return cols + [
        "equivalent_to_pred_1",
        "calibrated",
        "set_coverage",
        "set",
        "set_size",
        "ambiguous_by_physics",
    ]


def _numbers(values: Sequence[int] | None) -> str:
    return "" if values is None else " ".join(str(int(v)) for v in values)


def row_fields(
    labels: Sequence[int],
    probs: Sequence[float],
    *,
    calibrated: bool,
    prediction_set: Sequence[int] | None = None,
    coverage: float | None = None,
) -> dict[str, Any]:
    """The flat CSV fields of one prediction (see :func:`row_columns`).

    Parameters
    ----------
    labels : (k,) sequence of int
        Top-k space groups, best first.
    probs : (k,) sequence of float
        Their probabilities.
    calibrated : bool
        Whether ``probs`` are calibrated.
    prediction_set : sequence of int, optional
        The conformal set (None: no set was asked for or none can be given).
    coverage : float, optional
        Nominal coverage of the set.

    Returns
    -------
    dict
        ``pred_i``, ``prob_i``, ``symbol_i``, ``system_i``, ``laue_i``, ``point_group_i``;
        ``equivalent_to_pred_1`` (space-separated numbers), ``calibrated``,
        ``set_coverage``, ``set`` (space-separated, ascending), ``set_size`` and
        ``ambiguous_by_physics`` (empty without a set).
    """
    if len(labels) != len(probs):
        raise ValueError(f"{len(labels)} groups but {len(probs)} probabilities")
    infos = [space_group_info(int(label)) for label in labels]
    row: dict[str, Any] = {f"pred_{i}": int(v) for i, v in enumerate(labels, start=1)}
    row.update({f"prob_{i}": float(v) for i, v in enumerate(probs, start=1)})
    for prefix, attr in _FACTS:  # in the order of row_columns
        row.update({f"{prefix}_{i}": getattr(info, attr) for i, info in enumerate(infos, start=1)})
    members = sorted(int(v) for v in prediction_set) if prediction_set is not None else None
    row.update(
        {
            "equivalent_to_pred_1": _numbers(equivalence_class_of(int(labels[0]))),
            "calibrated": bool(calibrated),
            "set_coverage": coverage if members is not None else None,
            "set": _numbers(members),
            "set_size": len(members) if members is not None else None,
            "ambiguous_by_physics": ambiguous_by_physics(members) if members is not None else None,
        }
    )
    return row


def json_record(row: dict[str, Any], k: int) -> dict[str, Any]:
    """A flat prediction row as one nested JSON record.

    Parameters
    ----------
    row : dict
        A row of :class:`cbedfeat.workflows.predict.Predictions` (identity fields and
        :func:`row_fields`).
    k : int

    Returns
    -------
    dict
        The identity fields, ``top`` (a list of ``{"space_group", "probability",
        "symbol", "crystal_system", "laue_class", "point_group"}``, best first), and
        ``equivalent_to_pred_1``, ``set`` (lists of int, ``set`` None without a set),
        ``calibrated``, ``set_coverage``, ``set_size``, ``ambiguous_by_physics``.
    """
    ranked = {
        f"{p}_{i}" for i in range(1, k + 1) for p in ("pred", "prob", *(f for f, _ in _FACTS))
    }
    special = {"equivalent_to_pred_1", "set"}
    record = {key: value for key, value in row.items() if key not in ranked and key not in special}
    record["top"] = [
        {
            "space_group": row[f"pred_{i}"],
            "probability": row[f"prob_{i}"],
            **{attr: row[f"{prefix}_{i}"] for prefix, attr in _FACTS},
        }
        for i in range(1, k + 1)
        if f"pred_{i}" in row
    ]
    record["equivalent_to_pred_1"] = [int(v) for v in str(row["equivalent_to_pred_1"]).split()]
    record["set"] = (
        None if row.get("set_size") is None else [int(v) for v in str(row["set"]).split()]
    )
    return record


def combine_log_probabilities(
    log_proba: np.ndarray, keys: Sequence[Any]
) -> tuple[np.ndarray, np.ndarray]:
    """Sum the log-probabilities of the rows that share a key (a material).

    Parameters
    ----------
    log_proba : (n, K) array_like
        Calibrated log-probabilities of every stack.
    keys : (n,) sequence
        Material of each row.

    Returns
    -------
    unique_keys : (m,) ndarray
        Sorted.
    combined : (m, K) ndarray of float64
        Row ``j`` is the sum of the rows of ``unique_keys[j]``; :func:`scipy.special.softmax`
        of it is the combined probability.
    """
    log_proba = np.asarray(log_proba, dtype=np.float64)
    unique_keys, inverse = np.unique(np.asarray(keys), return_inverse=True)
    combined = np.zeros((unique_keys.size, log_proba.shape[1]))
    np.add.at(combined, inverse, log_proba)
    return unique_keys, combined
