"""How honest the probabilities and how useful the conformal sets are.

- :func:`probability_scores`: log loss (:func:`sklearn.metrics.log_loss`), multiclass
  Brier score (:func:`sklearn.metrics.brier_score_loss`, the mean over rows of
  ``sum_k (p_k - [y = k])^2``, between 0 and 2) and the top-label expected calibration
  error (ECE): rows binned by their top probability into ``n_bins`` equal-width bins,
  ``ECE = sum_b (n_b / n) |accuracy_b - confidence_b|``;
- :func:`reliability_bins`: the per-bin numbers behind a reliability diagram;
- :func:`set_metrics`: empirical coverage of conformal sets overall, per true crystal
  system, for rare against frequent classes and per rare class, and the mean and
  distribution of the set sizes;
- :func:`split_conformal_range`: the coverage split conformal itself shows on a finite
  test set, from its finite calibration set alone (what "within sampling error" means).

Rows whose true class the model does not know have no probability for it; they are
left out of every number here, and counted (``n_unknown_class``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cbedfeat.data.labels import CRYSTAL_SYSTEMS, crystal_system_of

__all__ = [
    "DEFAULT_ECE_BINS",
    "ece_of_calibrated",
    "probability_scores",
    "reliability_bins",
    "set_metrics",
    "split_conformal_range",
]

DEFAULT_ECE_BINS = 15


def _known(y_true: np.ndarray, classes: np.ndarray) -> np.ndarray:
    return np.isin(np.asarray(y_true), np.asarray(classes))


def reliability_bins(
    y_true: Sequence[int],
    proba: np.ndarray,
    classes: Sequence[int],
    *,
    n_bins: int = DEFAULT_ECE_BINS,
) -> dict[str, list[float]]:
    """Top-label confidence and accuracy in equal-width confidence bins.

    Parameters
    ----------
    y_true : (n,) array_like of int
    proba : (n, K) array_like
        Probabilities, columns in the order of ``classes``.
    classes : (K,) array_like of int
    n_bins : int

    Returns
    -------
    dict
        ``edges`` (n_bins + 1 floats) and, per bin, ``count``, ``confidence`` (mean top
        probability) and ``accuracy`` (share of rows whose top class is right); empty
        bins have None for the last two.
    """
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=np.float64)
    classes = np.asarray(classes)
    confidence = proba.max(axis=1)
    correct = classes[np.argmax(proba, axis=1)] == y_true
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Bin b holds (edges[b], edges[b + 1]]; a confidence of exactly 0 joins bin 0.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(index, minlength=n_bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=n_bins)
    acc_sum = np.bincount(index, weights=correct.astype(float), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf, acc = conf_sum / count, acc_sum / count
    return {
        "edges": edges.tolist(),
        "count": count.tolist(),
        "confidence": [None if c == 0 else float(v) for c, v in zip(count, conf, strict=True)],
        "accuracy": [None if c == 0 else float(v) for c, v in zip(count, acc, strict=True)],
    }


def _ece(bins: Mapping[str, Any]) -> float:
    count = np.asarray(bins["count"], dtype=float)
    gaps = [
        abs(a - c) * n
        for a, c, n in zip(bins["accuracy"], bins["confidence"], count, strict=True)
        if n
    ]
    return float(np.sum(gaps) / count.sum())


def ece_of_calibrated(
    proba: np.ndarray, *, n_bins: int = DEFAULT_ECE_BINS, n_draws: int = 200, seed: int = 0
) -> dict[str, float]:
    """The ECE a perfectly calibrated model with these confidences would show on n rows.

    The top-1 of each row is drawn right with probability equal to its confidence (what
    perfect calibration means), ``n_draws`` times, and the ECE of each draw computed in
    the same bins as :func:`reliability_bins`. On a few hundred rows this is far from 0:
    an observed ECE inside this range is what sampling alone gives.

    Parameters
    ----------
    proba : (n, K) array_like
        Calibrated probabilities.
    n_bins, n_draws, seed : int

    Returns
    -------
    dict
        ``median``, ``lo`` and ``hi`` (2.5 and 97.5 percentiles) of the ECE over draws.
    """
    confidence = np.asarray(proba, dtype=np.float64).max(axis=1)
    rng = np.random.default_rng(seed)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins).astype(float)
    conf_sum = np.bincount(which, weights=confidence, minlength=n_bins)
    values = np.empty(n_draws)
    for k in range(n_draws):
        right = rng.random(confidence.size) < confidence
        acc_sum = np.bincount(which, weights=right.astype(float), minlength=n_bins)
        values[k] = np.abs(acc_sum - conf_sum).sum() / max(count.sum(), 1.0)
    lo, median, hi = np.percentile(values, [2.5, 50.0, 97.5])
    return {"median": float(median), "lo": float(lo), "hi": float(hi)}


def probability_scores(
    y_true: Sequence[int],
    proba: np.ndarray,
    classes: Sequence[int],
    *,
    n_bins: int = DEFAULT_ECE_BINS,
) -> dict[str, Any]:
    """Log loss, multiclass Brier score, ECE and the reliability bins of probabilities.

    Parameters
    ----------
    y_true : (n,) array_like of int
    proba : (n, K) array_like
        Columns in the order of ``classes``.
    classes : (K,) array_like of int
    n_bins : int
        Confidence bins of the ECE.

    Returns
    -------
    dict
        ``n``, ``n_unknown_class``, ``log_loss``, ``brier``, ``ece``, ``reliability``
        (see :func:`reliability_bins`); the scores are None when no row is left.
    """
    from sklearn.metrics import brier_score_loss, log_loss

    y_true = np.asarray(y_true)
    classes = np.asarray(classes)
    proba = np.asarray(proba, dtype=np.float64)
    keep = _known(y_true, classes)
    out: dict[str, Any] = {"n": int(keep.sum()), "n_unknown_class": int((~keep).sum())}
    if not keep.any():
        return {**out, "log_loss": None, "brier": None, "ece": None, "reliability": None}
    y, p = y_true[keep], proba[keep]
    bins = reliability_bins(y, p, classes, n_bins=n_bins)
    out.update(
        {
            "log_loss": float(log_loss(y, p, labels=classes)),
            "brier": float(brier_score_loss(y, p, labels=classes)),
            "ece": _ece(bins),
            "reliability": bins,
        }
    )
    return out


def _coverage(covered: np.ndarray, select: np.ndarray) -> dict[str, Any]:
    n = int(select.sum())
    return {"n": n, "coverage": float(covered[select].mean()) if n else None}


def set_metrics(
    y_true: Sequence[int],
    sets: np.ndarray,
    classes: Sequence[int],
    *,
    rare_classes: Sequence[int] = (),
    coverage: float | None = None,
) -> dict[str, Any]:
    """Empirical coverage and size of conformal prediction sets.

    Parameters
    ----------
    y_true : (n,) array_like of int
    sets : (n, K) array_like of bool
        True where a class is in the row's set; columns in the order of ``classes``.
    classes : (K,) array_like of int
    rare_classes : sequence of int
        The rare classes (fewer training materials than the threshold).
    coverage : float, optional
        The nominal coverage, echoed in the result.

    Returns
    -------
    dict
        ``nominal``, ``n``, ``n_unknown_class``, ``coverage`` (share of rows whose set
        holds the true class), ``by_crystal_system`` and ``rare`` / ``frequent``
        (``{"n", "coverage"}`` each), ``rare_classes`` (one entry per rare class
        evaluated: ``space_group``, ``n``, ``coverage``), ``mean_set_size``,
        ``median_set_size``, ``empty_share``, ``singleton_share`` and
        ``set_size_counts`` (``{size: rows}``).
    """
    y_true = np.asarray(y_true)
    classes = np.asarray(classes)
    sets = np.asarray(sets, dtype=bool)
    keep = _known(y_true, classes)
    y, s = y_true[keep], sets[keep]
    column = {c: i for i, c in enumerate(classes.tolist())}
    covered = s[np.arange(y.size), [column[c] for c in y.tolist()]] if y.size else np.zeros(0, bool)
    size = s.sum(axis=1)
    system = np.array([crystal_system_of(int(c)) for c in y]) if y.size else np.zeros(0, str)
    rare = np.isin(y, np.asarray(list(rare_classes), dtype=np.int64))
    sizes, counts = np.unique(size, return_counts=True)
    return {
        "nominal": coverage,
        "n": int(y.size),
        "n_unknown_class": int((~keep).sum()),
        "coverage": float(covered.mean()) if y.size else None,
        "by_crystal_system": {
            name: _coverage(covered, system == name)
            for name in CRYSTAL_SYSTEMS
            if (system == name).any()
        },
        "rare": _coverage(covered, rare),
        "frequent": _coverage(covered, ~rare),
        "rare_classes": [
            {"space_group": int(c), **_coverage(covered, y == c)} for c in np.unique(y[rare])
        ],
        "mean_set_size": float(size.mean()) if y.size else None,
        "median_set_size": float(np.median(size)) if y.size else None,
        "empty_share": float(np.mean(size == 0)) if y.size else None,
        "singleton_share": float(np.mean(size == 1)) if y.size else None,
        "set_size_counts": {str(int(k)): int(v) for k, v in zip(sizes, counts, strict=True)},
    }


def split_conformal_range(
    n_scores: int, n_rows: int, coverage: float, *, level: float = 0.95
) -> dict[str, float]:
    """Coverage of exact split conformal with ``n_scores`` calibration scores on ``n_rows`` rows.

    With exchangeable rows and no ties, a set holds the true class when the row's score
    is at most the ``k``-th smallest calibration score, ``k = n + 2 - ceil((1 - c)(n + 1))``
    for the p-value rule of :class:`cbedfeat.models.conformal.ConformalSets` (a class
    enters when ``(#{scores >= s} + 1) / (n + 1) >= 1 - c``). The coverage given the
    calibration set is then Beta(k, n + 1 - k) distributed, and the covered count of
    ``n_rows`` independent test rows beta-binomial (:class:`scipy.stats.betabinom`).

    Parameters
    ----------
    n_scores : int
        Calibration scores (``n``).
    n_rows : int
        Test rows (independent: one per material).
    coverage : float
        Nominal coverage ``c`` in (0, 1).
    level : float
        Probability of the central range.

    Returns
    -------
    dict
        ``expected`` (``k / (n + 1)``, at least ``c``), ``calibration_sd`` (standard
        deviation of the coverage given the calibration set), ``sd`` (of the observed
        coverage), ``lo`` and ``hi`` (central ``level`` range of the observed coverage).
    """
    import math

    from scipy.stats import beta, betabinom

    if n_scores < 1 or n_rows < 1:
        raise ValueError(f"need scores and rows, got {n_scores} and {n_rows}")
    if not 0.0 < coverage < 1.0:
        raise ValueError(f"coverage must be in (0, 1), got {coverage}")
    k = n_scores + 2 - math.ceil((1.0 - coverage) * (n_scores + 1) - 1e-12)
    if k > n_scores:  # too few scores: the sets hold every class
        return {"expected": 1.0, "calibration_sd": 0.0, "sd": 0.0, "lo": 1.0, "hi": 1.0}
    a, b = k, n_scores + 1 - k
    counts = betabinom(n_rows, a, b)
    tail = (1.0 - level) / 2.0
    return {
        "expected": a / (n_scores + 1),
        "calibration_sd": float(beta(a, b).std()),
        "sd": float(counts.std() / n_rows),
        "lo": float(counts.ppf(tail) / n_rows),
        "hi": float(counts.ppf(1.0 - tail) / n_rows),
    }
