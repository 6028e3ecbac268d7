"""Bootstrap intervals over test materials, shared by the bench scripts.

The samples of one material (its energies, or its kinematic and dynamical renderings)
are near-duplicates, so an interval that resamples rows is too narrow: the unit of
independent evidence is the material. :func:`material_weights` draws materials with
replacement and turns each resample into a weight per row (how many times its material
was drawn); a metric of the resample is the metric of the rows weighted that way,
which equals the metric of the rows concatenated material by material.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

N_RESAMPLES = 1000
LEVEL = 0.95

__all__ = [
    "LEVEL",
    "N_RESAMPLES",
    "interval",
    "material_weights",
    "weighted_means",
    "weighted_statistic",
]


def material_weights(
    materials: Sequence[str], n_resamples: int = N_RESAMPLES, seed: int = 0
) -> np.ndarray:
    """Row weights of ``n_resamples`` bootstrap resamples of the materials.

    Parameters
    ----------
    materials : (n,) array of str
        Material of each row.
    n_resamples : int
    seed : int

    Returns
    -------
    (n_resamples, n) ndarray of int
        Entry ``[b, i]`` is how many times resample ``b`` drew the material of row ``i``
        (each resample draws as many materials as there are, with replacement).
    """
    mats, inverse = np.unique(np.asarray(materials).astype(str), return_inverse=True)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, mats.size, size=(n_resamples, mats.size))
    counts = np.zeros((n_resamples, mats.size), dtype=np.int64)
    np.add.at(counts, (np.arange(n_resamples)[:, None], draws), 1)
    return counts[:, inverse]


def weighted_means(values: Mapping[str, np.ndarray], weights: np.ndarray) -> dict[str, np.ndarray]:
    """Each per-row value's mean under every resample's weights.

    Parameters
    ----------
    values : mapping of str to (n,) ndarray
        Per-row quantities whose mean is the metric (e.g. 1 where top-1 is right).
    weights : (B, n) ndarray
        From :func:`material_weights`.

    Returns
    -------
    dict of str to (B,) ndarray
    """
    total = weights.sum(axis=1).astype(float)
    return {k: weights @ np.asarray(v, dtype=float) / total for k, v in values.items()}


def weighted_statistic(
    statistic: Callable[[np.ndarray, np.ndarray], float], weights: np.ndarray
) -> np.ndarray:
    """A statistic ``f(rows, row_weights)`` on every resample.

    Parameters
    ----------
    statistic : callable
        ``f(index, sample_weight) -> float``: the metric of the rows ``index`` (the rows
        drawn at least once) weighted by ``sample_weight``, e.g. scikit-learn's
        ``f1_score(y[index], pred[index], sample_weight=w)``.
    weights : (B, n) ndarray
        From :func:`material_weights`.

    Returns
    -------
    (B,) ndarray
    """
    out = np.empty(weights.shape[0])
    for b, w in enumerate(weights):
        index = np.flatnonzero(w)
        out[b] = statistic(index, w[index])
    return out


def interval(resampled: np.ndarray, level: float = LEVEL) -> list[float]:
    """Percentile interval ``[lo, hi]`` of the resampled values (NaNs ignored)."""
    tail = 100 * (1 - level) / 2
    lo, hi = np.nanpercentile(np.asarray(resampled, dtype=float), [tail, 100 - tail])
    return [float(lo), float(hi)]
