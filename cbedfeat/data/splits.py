"""Material-grouped splits of training rows."""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["DEFAULT_HOLDOUT_FRACTION", "holdout_split"]

DEFAULT_HOLDOUT_FRACTION = 0.2


def holdout_split(
    y: Any, groups: Any, *, fraction: float = DEFAULT_HOLDOUT_FRACTION, seed: int = 0
) -> tuple[Any, Any]:
    """Material-grouped, class-stratified hold-out of training rows.

    Classes with a single material keep it in the fitting part (a hold-out would remove
    the class from training). The hold-out is one fold of
    :class:`sklearn.model_selection.StratifiedGroupKFold` with ``round(1 / fraction)`` folds.

    Parameters
    ----------
    y : (n,) array of int
    groups : (n,) array of str
        Material of each row.
    fraction : float
    seed : int

    Returns
    -------
    fit_mask, holdout_mask : (n,) bool ndarray
    """
    import numpy as np
    from sklearn.model_selection import StratifiedGroupKFold

    y = np.asarray(y)
    groups = np.asarray(groups)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"hold-out fraction must be in (0, 1), got {fraction}")
    n_materials = {c: np.unique(groups[y == c]).size for c in np.unique(y)}
    eligible = np.array([n_materials[c] > 1 for c in y])
    holdout = np.zeros(y.size, dtype=bool)
    n_splits = max(2, round(1.0 / fraction))
    if np.unique(groups[eligible]).size >= n_splits:
        cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        with warnings.catch_warnings():
            # Rare classes have fewer materials than folds; that is expected here.
            warnings.simplefilter("ignore", UserWarning)
            _, test_idx = next(cv.split(np.zeros(eligible.sum()), y[eligible], groups[eligible]))
        holdout[np.flatnonzero(eligible)[test_idx]] = True
    return ~holdout, holdout
