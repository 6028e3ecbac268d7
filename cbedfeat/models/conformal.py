"""Split-conformal prediction sets of space groups, computed by crepes.

The non-conformity score of a row and a candidate class is ``1 - p`` (crepes'
:func:`crepes.extras.hinge`) of the calibrated probability ``p`` of that class. The
scores of the true classes of held-out calibration rows (material-grouped: the rows of
one material are near-duplicates and not exchangeable with each other, so a material
is either wholly in the calibration set or not at all; see
:mod:`cbedfeat.workflows.calibrate`) are kept; a candidate class enters a row's set
when its conformal p-value (:class:`crepes.ConformalClassifier`, non-smoothed, so the
sets are deterministic) is at least ``1 - coverage``. On exchangeable rows the set then
holds the true class with probability at least ``coverage`` (split conformal).

Marginal coverage can hide rare classes: a set that always misses a class with one
material in a thousand still covers 90 % of the rows. The class-conditional
(Mondrian) option gives each class with at least ``min_class_scores`` calibration
scores its own category, and pools the classes with fewer into one "rare" category,
so that coverage holds per frequent class and for the rare classes together. When the
pooled category itself has fewer than ``min_class_scores`` scores, its candidates are
judged against all scores (marginal), not against a handful.

A material measured at several beam energies gives several stacks, and the prediction
for the material sums their calibrated log-probabilities. Those stacks are not
independent, so the combined probabilities are sharper than their accuracy warrants and
the stack-level scores say nothing about them. :class:`MaterialSets` keeps its own
scores: the combined probabilities of whole calibration materials (one score per
material, the materials exchangeable with the materials predicted later). The score of a
combination depends on how many stacks it sums, so a material of ``k`` stacks is judged
against the calibration materials of ``k`` stacks when there are at least
``min_class_scores`` of them, else against all (then the guarantee holds only as far as
the stack counts are alike).

The scores and their true classes are plain numbers (:meth:`ConformalSets.to_dict`,
:meth:`MaterialSets.to_dict`), stored as JSON in the model bundle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_COVERAGE",
    "DEFAULT_MIN_CLASS_SCORES",
    "ConformalSets",
    "MaterialSets",
    "conformity_scores",
]

DEFAULT_COVERAGE = 0.9
DEFAULT_MIN_CLASS_SCORES = 20
_POOLED = -1  # Mondrian category of the classes with too few calibration scores


def conformity_scores(
    proba: np.ndarray, classes: np.ndarray, y: np.ndarray | None = None
) -> np.ndarray:
    """Hinge non-conformity scores ``1 - p`` (:func:`crepes.extras.hinge`).

    Parameters
    ----------
    proba : (n, K) array_like
        Calibrated probabilities, columns in the order of ``classes``.
    classes : (K,) array_like of int
    y : (n,) array_like of int, optional
        True classes; every one must be in ``classes``.

    Returns
    -------
    ndarray
        ``(n,)`` scores of the true classes when ``y`` is given, else ``(n, K)`` scores
        of every class.
    """
    from crepes.extras import hinge

    proba = np.asarray(proba, dtype=np.float64)
    if y is None:
        return np.asarray(hinge(proba), dtype=np.float64)
    classes = np.asarray(classes)
    missing = np.setdiff1d(np.asarray(y), classes)
    if missing.size:
        raise ValueError(f"classes {missing.tolist()} are not among the model's classes")
    return np.asarray(hinge(proba, classes, np.asarray(y)), dtype=np.float64)


@dataclass
class ConformalSets:
    """Calibration scores of a split-conformal classifier and the sets they give.

    Attributes
    ----------
    classes : (K,) ndarray of int
        The model's classes, in probability-column order.
    scores : (m,) ndarray of float
        Non-conformity scores of the calibration rows' true classes.
    labels : (m,) ndarray of int
        True class of each calibration score.
    n_materials : int
        Materials of the calibration rows.
    min_class_scores : int
        Mondrian sets: classes with fewer calibration scores share one category.
    """

    classes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    n_materials: int = 0
    min_class_scores: int = DEFAULT_MIN_CLASS_SCORES

    @classmethod
    def fit(
        cls,
        proba: np.ndarray,
        y: np.ndarray,
        classes: np.ndarray,
        *,
        n_materials: int = 0,
        min_class_scores: int = DEFAULT_MIN_CLASS_SCORES,
    ) -> ConformalSets:
        """Keep the scores of the calibration rows' true classes.

        Parameters
        ----------
        proba : (m, K) array_like
            Calibrated probabilities of the calibration rows.
        y : (m,) array_like of int
            Their true classes (rows of classes the model does not know must be left out).
        classes : (K,) array_like of int
        n_materials : int
        min_class_scores : int

        Returns
        -------
        ConformalSets
        """
        classes = np.asarray(classes, dtype=np.int64)
        y = np.asarray(y, dtype=np.int64)
        if y.size == 0:
            raise ValueError("no calibration rows for the conformal sets")
        return cls(
            classes,
            conformity_scores(proba, classes, y),
            y,
            int(n_materials),
            int(min_class_scores),
        )

    def categories(self) -> np.ndarray:
        """Mondrian category of every class: the class itself, or -1 (pooled rare classes).

        Returns
        -------
        (K,) ndarray of int
        """
        counts = dict(zip(*np.unique(self.labels, return_counts=True), strict=True))
        return np.array(
            [
                c if counts.get(c, 0) >= self.min_class_scores else _POOLED
                for c in self.classes.tolist()
            ],
            dtype=np.int64,
        )

    def p_values(self, proba: np.ndarray, *, mondrian: bool = False) -> np.ndarray:
        """Conformal p-value of every class of every row (:meth:`crepes.ConformalClassifier.predict_p`).

        Parameters
        ----------
        proba : (n, K) array_like
            Calibrated probabilities.
        mondrian : bool
            Class-conditional p-values (see the module docstring).

        Returns
        -------
        (n, K) ndarray of float
        """
        from crepes import ConformalClassifier

        alphas = conformity_scores(proba, self.classes)
        if not mondrian:
            return ConformalClassifier().fit(self.scores).predict_p(alphas, smoothing=False)
        category = self.categories()
        column = {c: i for i, c in enumerate(self.classes.tolist())}
        cal_bins = category[[column[c] for c in self.labels.tolist()]]
        out = np.empty_like(alphas)
        pooled = category == _POOLED
        own = ~pooled
        if np.sum(cal_bins == _POOLED) < self.min_class_scores:
            # Too few pooled scores: judge the rare candidates against every score.
            own_bins = cal_bins != _POOLED
            if pooled.any():
                out[:, pooled] = (
                    ConformalClassifier()
                    .fit(self.scores)
                    .predict_p(alphas[:, pooled], smoothing=False)
                )
            scores, bins = self.scores[own_bins], cal_bins[own_bins]
        else:
            own = np.ones_like(pooled)
            scores, bins = self.scores, cal_bins
        if own.any():
            # One flat call: every (row, candidate) score with its candidate's category.
            flat = alphas[:, own].ravel()
            flat_bins = np.tile(category[own], alphas.shape[0])
            p = (
                ConformalClassifier()
                .fit(scores, bins=bins)
                .predict_p(flat, bins=flat_bins, smoothing=False)
            )
            out[:, own] = p.reshape(alphas.shape[0], -1)
        return out

    def predict_set(
        self, proba: np.ndarray, coverage: float = DEFAULT_COVERAGE, *, mondrian: bool = False
    ) -> np.ndarray:
        """Prediction sets at a nominal coverage.

        Parameters
        ----------
        proba : (n, K) array_like
            Calibrated probabilities, columns in the order of :attr:`classes`.
        coverage : float
            Nominal probability that a set holds the true class, in (0, 1).
        mondrian : bool
            Class-conditional sets (see the module docstring).

        Returns
        -------
        (n, K) ndarray of bool
            True where the class is in the row's set.
        """
        if not 0.0 < coverage < 1.0:
            raise ValueError(f"coverage must be in (0, 1), got {coverage}")
        return self.p_values(proba, mondrian=mondrian) >= 1.0 - coverage

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (see :meth:`from_dict`)."""
        return {
            "score": "hinge",
            "n_scores": int(self.scores.size),
            "n_materials": self.n_materials,
            "min_class_scores": self.min_class_scores,
            "classes": self.classes.tolist(),
            "scores": self.scores.tolist(),
            "labels": self.labels.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConformalSets:
        """Inverse of :meth:`to_dict`."""
        if data.get("score", "hinge") != "hinge":
            raise ValueError(f"unknown non-conformity score {data.get('score')!r}")
        return cls(
            np.asarray(data["classes"], dtype=np.int64),
            np.asarray(data["scores"], dtype=np.float64),
            np.asarray(data["labels"], dtype=np.int64),
            int(data.get("n_materials", 0)),
            int(data.get("min_class_scores", DEFAULT_MIN_CLASS_SCORES)),
        )


@dataclass
class MaterialSets:
    """Split-conformal sets of material-level predictions (several stacks combined).

    Attributes
    ----------
    sets : ConformalSets
        Scores of the calibration materials' combined probabilities and their classes.
    n_stacks : (m,) ndarray of int
        Stacks summed into each calibration material's prediction.
    materials : (m,) ndarray of str
        The calibration materials, in the order of the scores.
    """

    sets: ConformalSets
    n_stacks: np.ndarray
    materials: np.ndarray

    @classmethod
    def fit(
        cls,
        proba: np.ndarray,
        y: np.ndarray,
        classes: np.ndarray,
        n_stacks: np.ndarray,
        materials: np.ndarray,
        *,
        min_class_scores: int = DEFAULT_MIN_CLASS_SCORES,
    ) -> MaterialSets:
        """Keep the scores of whole calibration materials.

        Parameters
        ----------
        proba : (m, K) array_like
            Combined calibrated probabilities of the calibration materials (the softmax
            of the sum of their stacks' calibrated log-probabilities).
        y : (m,) array_like of int
            Their true classes.
        classes : (K,) array_like of int
        n_stacks : (m,) array_like of int
            Stacks of each material.
        materials : (m,) array_like of str
        min_class_scores : int
            Fewest calibration materials of one stack count (and, for Mondrian sets, of
            one class) that get their own category.

        Returns
        -------
        MaterialSets
        """
        n_stacks = np.asarray(n_stacks, dtype=np.int64)
        materials = np.asarray(materials).astype(str)
        if not n_stacks.size == materials.size == np.asarray(y).size:
            raise ValueError("need one stack count and one material per score")
        if np.unique(materials).size != materials.size:
            raise ValueError("a material may give one score only")
        sets = ConformalSets.fit(
            proba,
            y,
            classes,
            n_materials=materials.size,
            min_class_scores=min_class_scores,
        )
        return cls(sets, n_stacks, materials)

    def _scores_for(self, k: int) -> ConformalSets:
        """The calibration scores a material of ``k`` stacks is judged against."""
        same = self.n_stacks == k
        if same.all() or same.sum() < self.sets.min_class_scores:
            return self.sets
        return ConformalSets(
            self.sets.classes,
            self.sets.scores[same],
            self.sets.labels[same],
            int(same.sum()),
            self.sets.min_class_scores,
        )

    def predict_set(
        self,
        proba: np.ndarray,
        n_stacks: np.ndarray,
        coverage: float = DEFAULT_COVERAGE,
        *,
        mondrian: bool = False,
    ) -> np.ndarray:
        """Prediction sets of combined material predictions.

        Parameters
        ----------
        proba : (n, K) array_like
            Combined calibrated probabilities, columns in the order of the classes.
        n_stacks : (n,) array_like of int
            Stacks of each material.
        coverage : float
            Nominal probability that a set holds the material's true class, in (0, 1).
        mondrian : bool
            Class-conditional sets (see the module docstring).

        Returns
        -------
        (n, K) ndarray of bool
        """
        proba = np.asarray(proba, dtype=np.float64)
        n_stacks = np.asarray(n_stacks, dtype=np.int64)
        if n_stacks.size != proba.shape[0]:
            raise ValueError(f"{n_stacks.size} stack counts for {proba.shape[0]} materials")
        out = np.zeros(proba.shape, dtype=bool)
        for k in np.unique(n_stacks).tolist():
            rows = n_stacks == k
            out[rows] = self._scores_for(k).predict_set(proba[rows], coverage, mondrian=mondrian)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (see :meth:`from_dict`)."""
        return {
            **self.sets.to_dict(),
            "n_stacks": self.n_stacks.tolist(),
            "materials": self.materials.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MaterialSets:
        """Inverse of :meth:`to_dict`."""
        return cls(
            ConformalSets.from_dict(data),
            np.asarray(data["n_stacks"], dtype=np.int64),
            np.asarray(data["materials"], dtype=str),
        )
