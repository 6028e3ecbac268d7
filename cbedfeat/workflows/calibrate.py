"""Calibration hold-outs of the training rows, and fitting a :class:`~cbedfeat.models.calibration.Calibration`.

Rows of one material (its beam energies) are near-duplicates, so they are not
exchangeable with each other: the rows a temperature or conformal scores are fitted on
must come from materials the model never saw. :func:`calibration_split` takes a
material-grouped, class-stratified hold-out of the training rows
(:func:`cbedfeat.data.splits.holdout_split`) and cuts it, again by material, into a
*temperature* part and a *conformal* part; the model is then fitted on the rest (the
*fit* rows). No material is in two parts. Classes with a single training material stay
in the fit part (holding it out would remove the class from training), so the
calibration parts hold no row of them; the conformal sets treat them as rare (see
:mod:`cbedfeat.models.conformal`). The test and dev splits obey the same rule (every
class keeps a training material), so the hold-out draws materials like they do.

The cut between the two calibration parts is a uniform random draw of the held-out
materials, not a stratified one. Split conformal holds when the conformal rows are
exchangeable with the rows predicted later; a stratified cut needs a rule for the
classes with a single held-out material (nearly every rare class), and whichever side
that rule sends them to is no longer a random sample: the conformal part then holds too
few rows of rare, poorly predicted classes, its score quantile is too low, and the sets
cover less than promised. A uniform draw gives every held-out material the same chance.
Three quarters of the held-out materials give the conformal scores
(:data:`DEFAULT_CONFORMAL_SHARE`).

The temperature is fitted on its own rows and the conformal scores computed on rows
that played no part in choosing it, so the conformal guarantee is not weakened by
reusing rows. With several stacks per material, the conformal part also gives scores of
the material-level combination of the stacks (:func:`fit_calibration`), so that a
combined prediction has its own valid set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from cbedfeat.data.splits import holdout_split
from cbedfeat.models.calibration import (
    PROBABILITY_FLOOR,
    Calibration,
    fit_temperature,
    log_probabilities,
    temperature_interval,
)
from cbedfeat.models.conformal import DEFAULT_MIN_CLASS_SCORES, ConformalSets, MaterialSets
from cbedfeat.workflows.explain import combine_log_probabilities

logger = logging.getLogger(__name__)

__all__ = [
    "CALIBRATION_SPLIT",
    "DEFAULT_CALIBRATION_FRACTION",
    "DEFAULT_CONFORMAL_SHARE",
    "DEFAULT_TEMPERATURE_LEVEL",
    "CalibrationSplit",
    "calibration_split",
    "fit_calibration",
    "mark_calibration_rows",
    "material_scores_input",
]

DEFAULT_CALIBRATION_FRACTION = 0.2
# Three quarters of the held-out materials give the conformal scores, the rest fit the
# temperature: the scores carry the coverage guarantee, whose spread shrinks with their
# number (at bench-large's 1,020 held-out materials, 765 scores against 510: standard
# deviation of the coverage 1.1 against 1.3 points), and the temperature is one number,
# applied only when its interval leaves out 1. Measured on the dev rows
# (bench/results/calibration_share.md, fraction 0.2, five cuts each): mean set 19.5
# against 20.4, coverage 91.4 against 91.7 %. The fraction stays 0.2: dev top-1 did not
# move measurably between 0.1 and 0.3 (56.4, 55.8, 56.3 %, about 2 points of sampling
# error each).
DEFAULT_CONFORMAL_SHARE = 0.75
DEFAULT_TEMPERATURE_LEVEL = 0.95
# Split label of the held-out rows in a table handed to training: neither "train" nor "dev".
CALIBRATION_SPLIT = "calibration"


@dataclass
class CalibrationSplit:
    """Row masks of the three material-disjoint parts of the training rows.

    Attributes
    ----------
    fit, temperature, conformal : (n,) ndarray of bool
        Exactly one is True in every row.
    """

    fit: np.ndarray
    temperature: np.ndarray
    conformal: np.ndarray


def calibration_split(
    y: Any,
    materials: Any,
    *,
    fraction: float = DEFAULT_CALIBRATION_FRACTION,
    conformal_share: float = DEFAULT_CONFORMAL_SHARE,
    seed: int = 0,
) -> CalibrationSplit:
    """Split training rows into fit, temperature and conformal parts, by material.

    Parameters
    ----------
    y : (n,) array_like of int
        Space groups.
    materials : (n,) array_like of str
    fraction : float
        Share of the materials held out for calibration.
    conformal_share : float
        Share of the held-out materials that give the conformal scores, drawn uniformly
        at random (the others fit the temperature); in (0, 1).
    seed : int

    Returns
    -------
    CalibrationSplit
    """
    if not 0.0 < conformal_share < 1.0:
        raise ValueError(f"conformal_share must be in (0, 1), got {conformal_share}")
    y = np.asarray(y)
    materials = np.asarray(materials).astype(str)
    fit, held = holdout_split(y, materials, fraction=fraction, seed=seed)
    conformal = np.zeros(y.size, dtype=bool)
    names = np.unique(materials[held])
    if names.size:
        # Every held-out material has the same chance to give a conformal score,
        # whatever its class (see the module docstring); both parts keep one at least.
        n_conformal = min(max(round(names.size * conformal_share), 1), max(names.size - 1, 1))
        chosen = np.random.default_rng(seed + 1).permutation(names)[:n_conformal]
        conformal = held & np.isin(materials, chosen)
    temperature = held & ~conformal
    return CalibrationSplit(fit=fit, temperature=temperature, conformal=conformal)


def mark_calibration_rows(
    table: Any,
    *,
    train_split: str = "train",
    fraction: float = DEFAULT_CALIBRATION_FRACTION,
    conformal_share: float = DEFAULT_CONFORMAL_SHARE,
    seed: int = 0,
) -> tuple[Any, CalibrationSplit, Any]:
    """A copy of ``table`` whose held-out training rows are relabelled ``"calibration"``.

    Training on the copy (:func:`cbedfeat.workflows.train.fit_and_validate`) fits on the
    remaining ``train_split`` rows only.

    Parameters
    ----------
    table : DataFrame
        Labelled feature table.
    train_split : str
    fraction, conformal_share : float
        See :func:`calibration_split`.
    seed : int

    Returns
    -------
    table : DataFrame
        The copy.
    split : CalibrationSplit
        Masks over the training rows.
    train : DataFrame
        The original training rows (index aligned with ``split``'s masks).
    """
    is_train = table["split"].astype(str).to_numpy() == train_split
    train = table[is_train]
    if train.empty:
        raise ValueError(f"the table has no rows of split {train_split!r}")
    split = calibration_split(
        train["space_group"].to_numpy(),
        train["material"].to_numpy(),
        fraction=fraction,
        conformal_share=conformal_share,
        seed=seed,
    )
    if not (split.temperature.any() and split.conformal.any()):
        raise ValueError("too few training materials to hold some out for calibration")
    labels = table["split"].astype(str).to_numpy(dtype=object)
    labels[np.flatnonzero(is_train)[~split.fit]] = CALIBRATION_SPLIT
    marked = table.copy()
    marked["split"] = labels
    return marked, split, train


def material_scores_input(
    calibrated: np.ndarray, y: np.ndarray, materials: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Combine the calibrated probabilities of the stacks of each material.

    Parameters
    ----------
    calibrated : (n, K) array_like
        Calibrated probabilities of the stacks.
    y : (n,) array_like of int
        True class of each stack (the same for every stack of a material).
    materials : (n,) array_like of str

    Returns
    -------
    combined : (m, K) ndarray
        Softmax of the sum of each material's calibrated log-probabilities
        (:func:`cbedfeat.workflows.explain.combine_log_probabilities`).
    y_material : (m,) ndarray of int
    n_stacks : (m,) ndarray of int
    keys : (m,) ndarray of str
        The materials, sorted.

    Raises
    ------
    ValueError
        When the stacks of one material carry different classes.
    """
    from scipy.special import softmax

    y = np.asarray(y, dtype=np.int64)
    materials = np.asarray(materials).astype(str)
    keys, combined = combine_log_probabilities(log_probabilities(calibrated), materials)
    index = np.searchsorted(keys, materials)
    n_stacks = np.bincount(index, minlength=keys.size)
    y_material = np.zeros(keys.size, dtype=np.int64)
    y_material[index] = y
    if not np.array_equal(y_material[index], y):
        raise ValueError("the stacks of a material carry different space groups")
    return softmax(combined, axis=1), y_material, n_stacks, keys


def fit_calibration(
    estimator: Any,
    feature_names: list[str],
    temperature_rows: Any,
    conformal_rows: Any,
    *,
    min_class_scores: int | None = None,
    info: dict[str, Any] | None = None,
    temperature_level: float | None = DEFAULT_TEMPERATURE_LEVEL,
    seed: int = 0,
) -> Any:
    """Fit a temperature and keep conformal scores for a fitted estimator.

    The temperature that minimises the log loss of the temperature rows is applied only
    when its bootstrap interval over materials
    (:func:`cbedfeat.models.calibration.temperature_interval`) leaves out 1: a
    temperature the rows cannot tell from 1 is noise, and applying it makes held-out
    probabilities worse, not better (see :mod:`cbedfeat.models.calibration`). The
    conformal rows give two sets of scores: one per stack, and one per material (its
    stacks' calibrated log-probabilities summed; see
    :class:`cbedfeat.models.conformal.MaterialSets`).

    Parameters
    ----------
    estimator : fitted classifier
        With ``predict_proba`` and ``classes_``.
    feature_names : list of str
    temperature_rows, conformal_rows : DataFrame
        Held-out rows of materials the estimator was not fitted on (rows of classes the
        estimator does not know are left out).
    min_class_scores : int, optional
        See :class:`cbedfeat.models.conformal.ConformalSets`.
    info : dict, optional
        Extra provenance stored with the calibration.
    temperature_level : float or None
        Level of the temperature's bootstrap interval; None applies the fitted
        temperature whatever its interval.
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    Calibration
        ``info`` holds ``temperature_fitted`` and ``temperature_interval`` beside the
        rows and materials of each part.
    """

    classes = np.asarray(estimator.classes_)
    column = {c: i for i, c in enumerate(classes.tolist())}

    def proba_of(rows: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = np.asarray(
            estimator.predict_proba(rows.loc[:, feature_names].to_numpy(dtype=np.float32))
        )
        y = rows["space_group"].to_numpy(dtype=np.int64)
        keep = np.isin(y, classes)
        return p[keep], y[keep], rows["material"].astype(str).to_numpy()[keep]

    p_t, y_t, m_t = proba_of(temperature_rows)
    if y_t.size == 0:
        raise ValueError("no temperature rows of a class the model knows")
    y_index = np.array([column[c] for c in y_t.tolist()])
    fitted = fit_temperature(p_t, y_index)
    interval = None
    temperature = fitted
    if temperature_level is not None:
        interval = temperature_interval(p_t, y_index, m_t, level=temperature_level, seed=seed)
        if interval[0] <= 1.0 <= interval[1]:
            temperature = 1.0
    calibration = Calibration(temperature=temperature)
    rows = np.arange(y_index.size)
    floor = PROBABILITY_FLOOR
    nll_before = float(-np.log(np.clip(p_t[rows, y_index], floor, 1)).mean())
    nll_after = float(-np.log(np.clip(calibration.calibrate(p_t)[rows, y_index], floor, 1)).mean())
    p_c, y_c, m_c = proba_of(conformal_rows)
    if y_c.size == 0:
        raise ValueError("no conformal rows of a class the model knows")
    min_scores = DEFAULT_MIN_CLASS_SCORES if min_class_scores is None else min_class_scores
    calibrated = calibration.calibrate(p_c)
    calibration.conformal = ConformalSets.fit(
        calibrated,
        y_c,
        classes,
        n_materials=int(conformal_rows["material"].nunique()),
        min_class_scores=min_scores,
    )
    combined, y_m, n_stacks, keys = material_scores_input(calibrated, y_c, m_c)
    calibration.material_conformal = MaterialSets.fit(
        combined, y_m, classes, n_stacks, keys, min_class_scores=min_scores
    )
    calibration.info = {
        **dict(info or {}),
        "temperature_fitted": fitted,
        "temperature_interval": None if interval is None else list(interval),
        "temperature_level": temperature_level,
        "temperature_rows": int(y_t.size),
        "temperature_log_loss_before": nll_before,
        "temperature_log_loss_after": nll_after,
        "temperature_materials": int(temperature_rows["material"].nunique()),
        "conformal_rows": int(y_c.size),
        "conformal_materials": int(conformal_rows["material"].nunique()),
    }
    logger.info(
        "temperature %.3f (fitted %.3f, interval %s) from %d rows; "
        "%d conformal scores from %d materials",
        temperature,
        fitted,
        "none" if interval is None else f"{interval[0]:.3f}-{interval[1]:.3f}",
        y_t.size,
        y_c.size,
        calibration.info["conformal_materials"],
    )
    return calibration
