"""Post-hoc temperature scaling of a fitted classifier's probabilities.

A temperature ``T > 0`` turns the model's probabilities ``p`` into
``softmax(log p / T)``: ``T > 1`` softens over-confident probabilities, ``T < 1``
sharpens under-confident ones, and the ranking of the classes (hence every top-k
prediction) is unchanged. ``T`` is the one number that minimises the log loss on
held-out rows (material-grouped, never rows the model was fitted on; see
:mod:`cbedfeat.workflows.calibrate`), found by :func:`scipy.optimize.minimize_scalar`
over ``log T``.

Why a temperature rather than :class:`sklearn.calibration.CalibratedClassifierCV`
around a :class:`sklearn.frozen.FrozenEstimator`: ``bench/bench_calibration.py``
fits both on the same temperature rows and scores the test rows. On its synthetic table
(``python bench/bench_calibration.py --synthetic``; 12 classes, 19 temperature
materials) the temperature gave the lowest log loss (0.20 against 0.40 uncalibrated), ECE 0.039
(0.166 uncalibrated); ``isotonic`` reached a lower ECE (0.021) and Brier score but three
times the log loss (0.61: zero probabilities for true classes), ``sigmoid`` (one
calibrator per class, one-vs-rest) changed next to nothing, and scikit-learn's own
``temperature`` on this model's probabilities was worse than none. Above all,
``CalibratedClassifierCV`` fails (IndexError) when the calibration rows lack some of the
model's classes, which a material-grouped hold-out of a long-tailed table always does
(classes with one training material keep it for fitting). The temperature works with
any hold-out, keeps the top-k order, and is stored as one number in the bundle's JSON.

A temperature fitted on a few hundred held-out materials is itself uncertain: the log
loss is heavy-tailed (one true class at probability 1e-5 weighs as much as a hundred
rows near 0.9), so its minimum moves with the rows. :func:`temperature_interval`
bootstraps it over materials, and :func:`cbedfeat.workflows.calibrate.fit_calibration`
applies the fitted temperature only when that interval leaves out 1. On bench-large
(``bench/results/calibration.md``) the temperature fitted on 255 held-out materials was
0.976 (interval 0.910-1.047), so none is applied; applied, it would have made the test
log loss and ECE worse (2.0389 and 0.071 against 2.0362 and 0.066), and the dev rows'
too (0.079 against 0.076); half of the same hold-out gave 0.957 and a test ECE of 0.085.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cbedfeat.models.conformal import ConformalSets, MaterialSets

__all__ = [
    "CALIBRATION_FORMAT",
    "PROBABILITY_FLOOR",
    "Calibration",
    "apply_temperature",
    "bundle_calibration",
    "fit_temperature",
    "log_probabilities",
    "temperature_interval",
]

CALIBRATION_FORMAT = 1

# Probabilities are clipped here before the logarithm: some estimators (forests,
# ensembles of undersampled trees) give exact zeros.
PROBABILITY_FLOOR = 1e-12
# log T is searched in [-LOG_T_BOUND, LOG_T_BOUND]: T from about 0.02 to 55.
LOG_T_BOUND = 4.0
# The bootstrap of the temperature searches log T within this distance of the fitted
# one, in steps of 0.005 (T within a factor e, to 0.5 %).
_LOG_T_SPAN = 1.0
_LOG_T_STEPS = 401


def log_probabilities(proba: np.ndarray) -> np.ndarray:
    """Logarithm of probabilities clipped at :data:`PROBABILITY_FLOOR`.

    Parameters
    ----------
    proba : (n, K) array_like

    Returns
    -------
    (n, K) ndarray of float64
    """
    return np.log(np.clip(np.asarray(proba, dtype=np.float64), PROBABILITY_FLOOR, 1.0))


def apply_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Calibrated probabilities ``softmax(log p / T)``.

    Parameters
    ----------
    proba : (n, K) array_like
        Probabilities of the model (rows sum to 1).
    temperature : float
        ``T > 0``; 1 returns the probabilities renormalised.

    Returns
    -------
    (n, K) ndarray of float64
        Rows sum to 1; the order of the classes in each row is kept.
    """
    from scipy.special import softmax

    if not temperature > 0:
        raise ValueError(f"the temperature must be positive, got {temperature}")
    return softmax(log_probabilities(proba) / float(temperature), axis=1)


def fit_temperature(proba: np.ndarray, y_index: np.ndarray) -> float:
    """The temperature that minimises the log loss of held-out rows.

    Parameters
    ----------
    proba : (n, K) array_like
        The model's probabilities on rows it was not fitted on.
    y_index : (n,) array_like of int
        Column of each row's true class in ``proba`` (0..K-1).

    Returns
    -------
    float
        ``T`` in about [0.02, 55].

    Raises
    ------
    ValueError
        Without rows, or with a class index outside ``proba``'s columns.
    """
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    logp = log_probabilities(proba)
    y_index = np.asarray(y_index, dtype=np.int64)
    if logp.ndim != 2 or logp.shape[0] == 0 or logp.shape[0] != y_index.size:
        raise ValueError(
            f"need (n, K) probabilities and n labels, got {logp.shape} and {y_index.shape}"
        )
    if y_index.min() < 0 or y_index.max() >= logp.shape[1]:
        raise ValueError("a class index lies outside the probability columns")
    rows = np.arange(y_index.size)

    def nll(log_t: float) -> float:
        return float(-log_softmax(logp / np.exp(log_t), axis=1)[rows, y_index].mean())

    result = minimize_scalar(
        nll, bounds=(-LOG_T_BOUND, LOG_T_BOUND), method="bounded", options={"xatol": 1e-5}
    )
    return float(np.exp(result.x))


def temperature_interval(
    proba: np.ndarray,
    y_index: np.ndarray,
    groups: np.ndarray,
    *,
    n_resamples: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Bootstrap interval of the temperature, resampling materials.

    Each resample draws the materials with replacement (a material brings all its rows:
    its stacks are not independent evidence) and takes the temperature that minimises
    its log loss, searched on a grid of ``log T`` in steps of 0.005 within 1 of the
    temperature of all rows (:func:`fit_temperature`).

    Parameters
    ----------
    proba : (n, K) array_like
        The model's probabilities on held-out rows.
    y_index : (n,) array_like of int
        Column of each row's true class.
    groups : (n,) array_like
        Material of each row.
    n_resamples : int
    level : float
        Probability of the central interval.
    seed : int

    Returns
    -------
    lo, hi : float
        Percentile interval of ``T``.
    """
    from scipy.special import log_softmax

    logp = log_probabilities(proba)
    y_index = np.asarray(y_index, dtype=np.int64)
    center = np.log(fit_temperature(proba, y_index))
    grid = np.clip(
        center + np.linspace(-_LOG_T_SPAN, _LOG_T_SPAN, _LOG_T_STEPS), -LOG_T_BOUND, LOG_T_BOUND
    )
    rows = np.arange(y_index.size)
    # (n, G) log loss of every row at every grid temperature, a few temperatures at a
    # time so that the (n, step, K) array stays near 4 million numbers.
    losses = np.empty((y_index.size, grid.size))
    step = max(1, int(4e6 // max(logp.size, 1)))
    for start in range(0, grid.size, step):
        t = np.exp(grid[start : start + step])
        scaled = log_softmax(logp[:, None, :] / t[None, :, None], axis=2)
        losses[:, start : start + step] = -scaled[rows, :, y_index]
    _, inverse = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    n_groups = inverse.max() + 1
    per_group = np.zeros((n_groups, grid.size))
    np.add.at(per_group, inverse, losses)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_groups, size=(n_resamples, n_groups))
    weights = np.zeros((n_resamples, n_groups))
    np.add.at(weights, (np.arange(n_resamples)[:, None], draws), 1.0)
    best = np.exp(grid[np.argmin(weights @ per_group, axis=1)])
    tail = 100.0 * (1.0 - level) / 2.0
    lo, hi = np.percentile(best, [tail, 100.0 - tail])
    return float(lo), float(hi)


@dataclass
class Calibration:
    """What a bundle stores to calibrate its model: a temperature and conformal scores.

    Attributes
    ----------
    temperature : float
    conformal : ConformalSets or None
        Scores of single stacks.
    info : dict
        Provenance: rows and materials of each hold-out, log loss before and after on
        the temperature rows, fractions and seed of the split.
    material_conformal : MaterialSets or None
        Scores of whole materials (their stacks combined), for combined predictions.
    """

    temperature: float = 1.0
    conformal: ConformalSets | None = None
    info: dict[str, Any] = field(default_factory=dict)
    material_conformal: MaterialSets | None = None

    def calibrate(self, proba: np.ndarray) -> np.ndarray:
        """(n, K) calibrated probabilities of (n, K) model probabilities."""
        return apply_temperature(proba, self.temperature)

    def predict_set(
        self, calibrated: np.ndarray, coverage: float, *, mondrian: bool = False
    ) -> np.ndarray:
        """(n, K) bool conformal sets of (n, K) *calibrated* probabilities.

        Raises
        ------
        ValueError
            When no conformal scores are stored.
        """
        if self.conformal is None:
            raise ValueError("the calibration holds no conformal scores")
        return self.conformal.predict_set(calibrated, coverage, mondrian=mondrian)

    def predict_material_set(
        self,
        combined: np.ndarray,
        n_stacks: np.ndarray,
        coverage: float,
        *,
        mondrian: bool = False,
    ) -> np.ndarray:
        """(n, K) bool conformal sets of combined material predictions.

        Parameters
        ----------
        combined : (n, K) array_like
            Softmax of the sum of each material's calibrated log-probabilities.
        n_stacks : (n,) array_like of int
            Stacks of each material.
        coverage : float
        mondrian : bool

        Raises
        ------
        ValueError
            When no material-level conformal scores are stored.
        """
        if self.material_conformal is None:
            raise ValueError("the calibration holds no material-level conformal scores")
        return self.material_conformal.predict_set(combined, n_stacks, coverage, mondrian=mondrian)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form.

        Keys ``format``, ``method``, ``temperature``, ``info``, ``conformal`` and
        ``material_conformal`` (None where absent; a reader that does not know the last
        one ignores it and gives combined predictions no set).
        """
        return {
            "format": CALIBRATION_FORMAT,
            "method": "temperature",
            "temperature": float(self.temperature),
            "info": dict(self.info),
            "conformal": None if self.conformal is None else self.conformal.to_dict(),
            "material_conformal": (
                None if self.material_conformal is None else self.material_conformal.to_dict()
            ),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """Inverse of :meth:`to_dict`."""
        if int(data.get("format", 0)) > CALIBRATION_FORMAT or data.get("method") != "temperature":
            raise ValueError(
                f"unsupported calibration (format {data.get('format')}, "
                f"method {data.get('method')!r})"
            )
        conformal = data.get("conformal")
        material = data.get("material_conformal")
        return cls(
            float(data["temperature"]),
            None if conformal is None else ConformalSets.from_dict(conformal),
            dict(data.get("info") or {}),
            None if material is None else MaterialSets.from_dict(material),
        )


def bundle_calibration(bundle: Any) -> Calibration | None:
    """The :class:`Calibration` of a :class:`~cbedfeat.models.bundle.ModelBundle`, None without one.

    Raises
    ------
    ValueError
        When the stored conformal scores were computed for other classes than the model's.
    """
    data = getattr(bundle, "calibration", None)
    if not data:
        return None
    calibration = Calibration.from_dict(data)
    stored = [calibration.conformal]
    if calibration.material_conformal is not None:
        stored.append(calibration.material_conformal.sets)
    if any(
        c is not None and not np.array_equal(c.classes, np.asarray(bundle.classes)) for c in stored
    ):
        raise ValueError("the bundle's conformal scores belong to other classes than its model's")
    return calibration
