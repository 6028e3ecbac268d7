"""Metrics of a space-group classifier: what it gets right, on which classes, at which level.

Every number is computed by scikit-learn or imbalanced-learn; this module only decides
which rows and labels each metric sees:

- top-1 / top-k accuracy (:func:`sklearn.metrics.top_k_accuracy_score` with ``labels=``
  the model's classes), balanced accuracy, macro and weighted F1. Like balanced
  accuracy, the F1 averages run over the space groups present in the evaluated rows
  (``labels=np.unique(y_true)``): a wrong prediction still lowers the recall of the
  true class, but a class that only occurs as a prediction adds no extra zero;
- the geometric mean of per-class recalls (:func:`imblearn.metrics.geometric_mean_score`;
  with hundreds of classes one class at zero recall makes it 0, so the value with
  imbalanced-learn's ``correction`` is reported too);
- accuracy of the crystal system, Laue class and point group of the predicted space
  group (:func:`cbedfeat.data.labels.space_group_info`): coarser questions that patterns
  answer more reliably;
- recall on rare classes (fewer than ``rare_threshold`` training materials) against the
  frequent ones, the question class-imbalance handling is about;
- what kinematic diffraction allows (:mod:`cbedfeat.metrics.physics`): accuracy up to
  kinematic equivalence (same Laue class and systematic absences), the kinematic
  ceiling of the evaluated rows under the training rows' label counts, top-1 as a
  share of that ceiling, the four error bins of the wrong predictions and the most
  confused pairs with their bin.

Classes of the evaluated rows that the model never saw during training cannot be
predicted; their rows count as errors in every metric and are listed under
``"unseen"``. Kinematic patterns obey Friedel's law, so enantiomorphic pairs
(e.g. P4_1 / P4_3) cannot be told apart and top-1 has a ceiling below 1; see
``reference/cbed_physics.md``. The ceiling needs the training label counts
(``train_counts``, saved in every bundle as ``class_counts``); without them it falls
back to the evaluated rows' own counts, which gives the best score any fixed guess per
class could reach on these rows (an upper bound of the training-count ceiling), and
``kinematic_ceiling_counts`` says which counts were used.

The metrics are a plain JSON-ready ``dict``; :mod:`cbedfeat.reports.evaluation` turns it into plots
and an HTML page.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from imblearn.metrics import geometric_mean_score
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    top_k_accuracy_score,
)

from cbedfeat.data.labels import CRYSTAL_SYSTEMS, space_group_info
from cbedfeat.metrics.physics import (
    ERROR_BINS,
    confused_pairs,
    equivalence_accuracy,
    error_bins,
    kinematic_ceiling,
)

# imbalanced-learn's suggested substitute for a zero recall in the geometric mean.
GMEAN_CORRECTION = 1e-3
DEFAULT_RARE_THRESHOLD = 10
DEFAULT_TOP_K = 5
MAX_CURVE_K = 20

__all__ = [
    "DEFAULT_RARE_THRESHOLD",
    "class_training_counts",
    "evaluate_predictions",
    "summary_metrics",
    "top_k_accuracy",
    "top_k_predictions",
]


def class_training_counts(y: Sequence[int], groups: Sequence[str]) -> dict[int, dict[str, int]]:
    """Samples and distinct materials per class of a training set.

    Parameters
    ----------
    y : (n,) array of int
        Space-group numbers.
    groups : (n,) array of str
        Material of each sample.

    Returns
    -------
    dict
        ``{space_group: {"samples": int, "materials": int}}``, sorted by space group.
    """
    y = np.asarray(y)
    groups = np.asarray(groups)
    out: dict[int, dict[str, int]] = {}
    for label in np.unique(y):
        mask = y == label
        out[int(label)] = {
            "samples": int(mask.sum()),
            "materials": int(np.unique(groups[mask]).size),
        }
    return out


def top_k_predictions(
    proba: np.ndarray, classes: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most probable classes of each row, best first.

    Parameters
    ----------
    proba : (n, K) ndarray
        Class probabilities, columns in the order of ``classes``.
    classes : (K,) ndarray
        Class labels (space-group numbers).
    k : int
        How many; capped at ``K``.

    Returns
    -------
    labels : (n, min(k, K)) ndarray
    probs : (n, min(k, K)) ndarray
    """
    proba = np.asarray(proba, dtype=float)
    k = min(int(k), proba.shape[1])
    # Stable sort on the negated scores: ties keep the lower class first, reproducibly.
    order = np.argsort(-proba, axis=1, kind="stable")[:, :k]
    return np.asarray(classes)[order], np.take_along_axis(proba, order, axis=1)


def top_k_accuracy(y_true: np.ndarray, proba: np.ndarray, classes: np.ndarray, k: int) -> float:
    """Top-k accuracy where rows of classes outside ``classes`` count as misses.

    :func:`sklearn.metrics.top_k_accuracy_score` refuses true labels outside ``labels``,
    so it scores the rows of known classes and the result is scaled by their share.
    """
    y_true = np.asarray(y_true)
    classes = np.asarray(classes)
    seen = np.isin(y_true, classes)
    if not seen.any():
        return 0.0
    y_seen, p_seen = y_true[seen], np.asarray(proba, dtype=float)[seen]
    n_classes = classes.size
    if k >= n_classes:
        score = 1.0
    elif n_classes == 2:
        score = accuracy_score(y_seen, classes[np.argmax(p_seen, axis=1)])
    else:
        score = top_k_accuracy_score(y_seen, p_seen, k=k, labels=classes)
    return float(score * seen.mean())


def _hierarchy_accuracy(y_true: np.ndarray, y_pred: np.ndarray, field: str) -> float:
    lookup = {int(n): getattr(space_group_info(int(n)), field) for n in np.union1d(y_true, y_pred)}
    true = np.array([lookup[int(n)] for n in y_true], dtype=object)
    pred = np.array([lookup[int(n)] for n in y_pred], dtype=object)
    return float(accuracy_score(true.astype(str), pred.astype(str)))


def _recall_summary(per_class: list[dict[str, Any]], select: Sequence[bool]) -> dict[str, Any]:
    """Macro (mean over classes) and micro (over samples) recall of the selected classes."""
    rows = [r for r, s in zip(per_class, select, strict=True) if s and r["support"] > 0]
    support = sum(r["support"] for r in rows)
    hits = sum(r["correct"] for r in rows)
    return {
        "n_classes": len(rows),
        "n_samples": int(support),
        # None (JSON null), not NaN, when no evaluated row falls in this part.
        "recall_macro": float(np.mean([r["recall"] for r in rows])) if rows else None,
        "recall_micro": float(hits / support) if support else None,
    }


def evaluate_predictions(
    y_true: Sequence[int],
    proba: np.ndarray,
    classes: Sequence[int],
    *,
    train_counts: Mapping[int, Mapping[str, int]] | None = None,
    rare_threshold: int = DEFAULT_RARE_THRESHOLD,
    top_k: int = DEFAULT_TOP_K,
    max_curve_k: int = MAX_CURVE_K,
) -> dict[str, Any]:
    """Every metric of one set of predictions.

    Parameters
    ----------
    y_true : (n,) array of int
        True space groups.
    proba : (n, K) ndarray
        Predicted probabilities, columns in the order of ``classes``.
    classes : (K,) array of int
        The model's classes (``estimator.classes_``), sorted.
    train_counts : mapping, optional
        ``{space_group: {"samples": s, "materials": m}}`` of the training set (see
        :func:`class_training_counts`); needed for rare/frequent recall and the kinematic
        ceiling (its ``samples`` are the training label counts). Classes missing from it
        have no training data. Without it the ceiling uses the evaluated rows' counts.
    rare_threshold : int
        A class is rare when it has fewer than this many training materials.
    top_k : int
        The ``k`` of the headline top-k accuracy.
    max_curve_k : int
        Top-k accuracy is reported for k = 1 .. min(max_curve_k, K).

    Returns
    -------
    dict
        JSON-ready metrics: scalars (``top1_accuracy``, ``top{k}_accuracy``,
        ``balanced_accuracy``, ``macro_f1``, ``weighted_f1``, ``geometric_mean``,
        ``geometric_mean_corrected``, ``crystal_system_accuracy``,
        ``laue_class_accuracy``, ``point_group_accuracy``, ``equivalence_accuracy``,
        ``kinematic_ceiling``, ``top1_over_ceiling`` (None when the ceiling is 0)),
        ``kinematic_ceiling_counts`` (``'training rows'`` or ``'evaluated rows'``),
        ``error_bins`` (see :func:`cbedfeat.metrics.physics.error_bins`),
        ``confused_pairs`` (see :func:`cbedfeat.metrics.physics.confused_pairs`),
        ``rare`` / ``frequent`` recall summaries, ``unseen`` classes, ``top_k_curve``,
        ``crystal_system_confusion`` and a ``per_class`` list.
    """
    y_true = np.asarray(y_true).astype(np.int64)
    classes = np.asarray(classes).astype(np.int64)
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2 or proba.shape != (y_true.size, classes.size):
        raise ValueError(
            f"proba must have shape (n_samples, n_classes) = ({y_true.size}, {classes.size}), "
            f"got {proba.shape}"
        )
    if y_true.size == 0:
        raise ValueError("no rows to evaluate")
    if np.any(np.diff(classes) <= 0):
        raise ValueError("classes must be sorted and unique")
    y_pred = classes[np.argmax(proba, axis=1)]
    unseen = np.setdiff1d(np.unique(y_true), classes)

    evaluated = np.unique(y_true)
    with warnings.catch_warnings():
        # Classes predicted but absent from y_true (and the reverse) are expected here.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        warnings.simplefilter("ignore", UserWarning)
        metrics: dict[str, Any] = {
            "n_samples": int(y_true.size),
            "n_classes_model": int(classes.size),
            "n_classes_evaluated": int(np.unique(y_true).size),
            "top1_accuracy": float(accuracy_score(y_true, y_pred)),
            f"top{top_k}_accuracy": top_k_accuracy(y_true, proba, classes, top_k),
            "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
            "macro_f1": float(
                f1_score(y_true, y_pred, labels=evaluated, average="macro", zero_division=0)
            ),
            "weighted_f1": float(
                f1_score(y_true, y_pred, labels=evaluated, average="weighted", zero_division=0)
            ),
            "geometric_mean": float(geometric_mean_score(y_true, y_pred, average="multiclass")),
            "geometric_mean_corrected": float(
                geometric_mean_score(
                    y_true, y_pred, average="multiclass", correction=GMEAN_CORRECTION
                )
            ),
            "crystal_system_accuracy": _hierarchy_accuracy(y_true, y_pred, "crystal_system"),
            "laue_class_accuracy": _hierarchy_accuracy(y_true, y_pred, "laue_class"),
            "point_group_accuracy": _hierarchy_accuracy(y_true, y_pred, "point_group"),
        }
        labels = np.union1d(np.unique(y_true), classes)
        precision, recall, f1, support = precision_recall_fscore_support(
            y_true, y_pred, labels=labels, zero_division=0
        )
    if train_counts is not None:
        label_counts = {int(k): int(v.get("samples", 0)) for k, v in train_counts.items()}
        metrics["kinematic_ceiling_counts"] = "training rows"
    else:
        values, n = np.unique(y_true, return_counts=True)
        label_counts = dict(zip(values.tolist(), n.tolist(), strict=True))
        metrics["kinematic_ceiling_counts"] = "evaluated rows"
    ceiling = kinematic_ceiling(y_true, label_counts)
    metrics["equivalence_accuracy"] = equivalence_accuracy(y_true, y_pred)
    metrics["kinematic_ceiling"] = ceiling
    metrics["top1_over_ceiling"] = metrics["top1_accuracy"] / ceiling if ceiling > 0 else None
    metrics["error_bins"] = error_bins(y_true, y_pred)
    metrics["confused_pairs"] = confused_pairs(y_true, y_pred)
    counts = {int(k): dict(v) for k, v in (train_counts or {}).items()}
    per_class = []
    for i, label in enumerate(labels):
        info = space_group_info(int(label))
        c = counts.get(int(label), {"samples": 0, "materials": 0})
        per_class.append(
            {
                "space_group": int(label),
                "symbol": info.symbol,
                "crystal_system": info.crystal_system,
                "support": int(support[i]),
                "correct": int(np.sum((y_true == label) & (y_pred == label))),
                "recall": float(recall[i]),
                "precision": float(precision[i]),
                "f1": float(f1[i]),
                "train_samples": int(c.get("samples", 0)),
                "train_materials": int(c.get("materials", 0)),
                "seen": bool(np.isin(label, classes)),
            }
        )
    if train_counts is not None:
        rare = [r["train_materials"] < rare_threshold for r in per_class]
        metrics["rare_threshold_materials"] = int(rare_threshold)
        metrics["rare"] = _recall_summary(per_class, rare)
        metrics["frequent"] = _recall_summary(per_class, [not r for r in rare])
    metrics["unseen"] = {
        "classes": [int(c) for c in unseen],
        "n_samples": int(np.isin(y_true, unseen).sum()),
    }
    ks = list(range(1, min(max_curve_k, classes.size) + 1))
    metrics["top_k_curve"] = {
        "k": ks,
        "accuracy": [top_k_accuracy(y_true, proba, classes, k) for k in ks],
    }
    sys_true = [space_group_info(int(n)).crystal_system for n in y_true]
    sys_pred = [space_group_info(int(n)).crystal_system for n in y_pred]
    metrics["crystal_system_confusion"] = {
        "labels": list(CRYSTAL_SYSTEMS),
        "matrix": confusion_matrix(sys_true, sys_pred, labels=list(CRYSTAL_SYSTEMS)).tolist(),
    }
    metrics["per_class"] = per_class
    return metrics


# The scalar metrics, in the order tables show them.
SUMMARY_KEYS: tuple[str, ...] = (
    "top1_accuracy",
    f"top{DEFAULT_TOP_K}_accuracy",
    "balanced_accuracy",
    "macro_f1",
    "weighted_f1",
    "geometric_mean",
    "geometric_mean_corrected",
    "crystal_system_accuracy",
    "laue_class_accuracy",
    "point_group_accuracy",
    "equivalence_accuracy",
    "kinematic_ceiling",
    "top1_over_ceiling",
)


def summary_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The scalar metrics of :func:`evaluate_predictions`, error bins and rare/frequent recall, flat.

    The share of rows in each error bin appears as ``errors_<bin key>`` (keys of
    :data:`cbedfeat.metrics.physics.ERROR_BINS`).

    Parameters
    ----------
    metrics : mapping
        Output of :func:`evaluate_predictions`.

    Returns
    -------
    dict of str to float
    """
    out: dict[str, float] = {
        k: math.nan if metrics[k] is None else float(metrics[k])
        for k in SUMMARY_KEYS
        if k in metrics
    }
    for key, _ in ERROR_BINS:
        if key in metrics.get("error_bins", {}):
            out[f"errors_{key}"] = float(metrics["error_bins"][key]["share"])
    for part in ("rare", "frequent"):
        if part in metrics:
            value = metrics[part]["recall_macro"]
            out[f"{part}_recall_macro"] = math.nan if value is None else float(value)
    return out
