"""Soft vote of a boosted model and extremely randomised trees, weight chosen on a hold-out.

Gradient boosting and a forest of extremely randomised trees err differently: boosting
fits the frequent classes sharply and is over-confident where it is wrong, while
:class:`~sklearn.ensemble.ExtraTreesClassifier` spreads its votes over the classes
whose training samples lie nearby, rare ones included. :class:`BlendedClassifier`
averages their probabilities,

.. math:: P(g \\mid x) = w \\, P_{boost}(g \\mid x) + (1 - w) \\, P_{trees}(g \\mid x),

with :math:`w` = ``weight`` the boosted model's share. Each member's columns are
placed onto the blend's ``classes_`` first (a class a member never saw gets 0 from
it), so rows sum to 1 whatever the members saw.

``weight="auto"`` chooses :math:`w` from ``weights`` on a material-grouped hold-out of
the *training* rows (:func:`~cbedfeat.models.fitting.grouped_validation_split`, the same
split as :class:`~cbedfeat.models.logit_adjust.LogitAdjustedClassifier` uses for tau):
both members are fitted once on the other materials, every candidate blend of their
hold-out probabilities is scored, and both members are then refitted on every row.

Selection criterion: the hold-out **log loss** (lowest wins; ties go to the larger
boosted share). Unlike tau, whose only job is to move arg-max decisions, the blend is an
inner stage whose probabilities are reshaped afterwards: the system gate and the logit
adjustment both *multiply* them, so what they need from it is good probabilities over
all classes, which a proper scoring rule measures and a top-1 or macro-F1 count does
not. The log loss also uses every hold-out row's probability of its true class rather
than whether one of ~200 classes wins, so on a hold-out of a few hundred materials it is
far less noisy than the arg-max metrics (top-1, balanced accuracy and macro-F1 are
recorded in ``tuning_`` for reference, never used). Probabilities are clipped at the
float64 machine epsilon (as :func:`sklearn.metrics.log_loss` does): a fully grown tree
ensemble alone (``w = 0``) gives exact zeros, and every hold-out row whose true class
it gives zero is charged ~36 nats. That is intended: a class the blend gives zero can
never be brought back by the gate or the logit adjustment.
"""

from __future__ import annotations

import logging
import warnings
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score
from sklearn.utils.validation import check_is_fitted

from cbedfeat.models.boosting import SpaceGroupClassifier
from cbedfeat.models.fitting import (
    configured_clone,
    fit_with_groups,
    grouped_validation_split,
    refits,
    seed_from,
    validate_fit_inputs,
    validate_predict_input,
)
from cbedfeat.models.weights import compute_sample_weights

logger = logging.getLogger(__name__)

DEFAULT_WEIGHTS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
# Used when the training rows hold too few materials for a hold-out: the plain soft vote.
FALLBACK_WEIGHT = 0.5
# Floor of the probability of the true class in the hold-out log loss (sklearn's clip).
_LOG_FLOOR = float(np.finfo(np.float64).eps)


def aligned_proba(estimator, X, classes):
    """``estimator.predict_proba(X)`` with its columns placed onto ``classes``.

    Parameters
    ----------
    estimator : fitted classifier
        Its ``classes_`` must be a subset of ``classes``.
    X : (n, F) array-like
    classes : (K,) ndarray
        Sorted labels.

    Returns
    -------
    (n, K) float64 ndarray
        Zero in the columns of classes the estimator never saw.
    """
    own = np.asarray(estimator.classes_)
    if not np.all(np.isin(own, classes)):
        raise ValueError(f"{type(estimator).__name__} has classes outside the blend's classes_")
    cols = np.searchsorted(classes, own)
    out = np.zeros((len(X), len(classes)))
    out[:, cols] = estimator.predict_proba(X)
    return out


def blend_proba(boosted, trees, weight):
    """``weight * boosted + (1 - weight) * trees``, rows renormalised.

    Parameters
    ----------
    boosted, trees : (n, K) array-like or None
        Member probabilities over the same classes; a member may be None when its share
        is 0.
    weight : float in [0, 1]
        Share of ``boosted``.

    Returns
    -------
    (n, K) float64 ndarray
        Rows sum to 1 (a row that is zero in every member with a share stays zero).
    """
    weight = float(weight)
    parts = [(weight, boosted), (1.0 - weight, trees)]
    out = sum(w * np.asarray(p, dtype=np.float64) for w, p in parts if w > 0)
    total = out.sum(axis=1, keepdims=True)
    return out / np.where(total > 0, total, 1.0)


def holdout_log_loss(y_true, proba, classes, sample_weight=None):
    """Mean negative log probability of the true class, clipped at machine epsilon.

    Parameters
    ----------
    y_true : (n,) array-like
        Labels, each in ``classes``.
    proba : (n, K) array-like
        Probabilities over ``classes``.
    classes : (K,) ndarray
        Sorted labels.
    sample_weight : (n,) array-like or None
        All zero (a hold-out of rows weighted out): the plain mean.

    Returns
    -------
    float
    """
    proba = np.asarray(proba, dtype=np.float64)
    p = proba[np.arange(len(proba)), np.searchsorted(classes, np.asarray(y_true))]
    if sample_weight is not None and not np.any(np.asarray(sample_weight) > 0):
        sample_weight = None
    return float(np.average(-np.log(np.maximum(p, _LOG_FLOOR)), weights=sample_weight))


def select_weight(y_true, boosted, trees, classes, weights=DEFAULT_WEIGHTS, sample_weight=None):
    """The blend weight of ``weights`` with the lowest log loss on held-out rows.

    Ties (within 1e-12) go to the larger weight, i.e. towards the boosted model alone.

    Parameters
    ----------
    y_true : (n,) array-like
        Held-out labels.
    boosted, trees : (n, K) array-like
        Held-out probabilities of the two members over ``classes``.
    classes : (K,) ndarray
    weights : sequence of float in [0, 1]
    sample_weight : (n,) array-like or None
        Weights of the held-out rows in the log loss.

    Returns
    -------
    weight : float
    table : dict
        ``{"weight": [...], "log_loss": [...], "top1": [...], "balanced_accuracy": [...],
        "macro_f1": [...]}`` over the sorted ``weights``; only ``log_loss`` decides.
    """
    y_true = np.asarray(y_true)
    classes = np.asarray(classes)
    grid = sorted(set(map(float, weights)))
    present = np.unique(y_true)
    table = {"weight": grid, "log_loss": [], "top1": [], "balanced_accuracy": [], "macro_f1": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # classes predicted but absent from y_true
        for w in grid:
            proba = blend_proba(boosted, trees, w)
            pred = classes[np.argmax(proba, axis=1)]
            table["log_loss"].append(holdout_log_loss(y_true, proba, classes, sample_weight))
            table["top1"].append(float(accuracy_score(y_true, pred)))
            table["balanced_accuracy"].append(float(balanced_accuracy_score(y_true, pred)))
            table["macro_f1"].append(
                float(f1_score(y_true, pred, labels=present, average="macro", zero_division=0))
            )
    best, best_loss = grid[-1], np.inf
    for i in range(len(grid) - 1, -1, -1):  # largest weight first: it wins ties
        if table["log_loss"][i] < best_loss - 1e-12:
            best, best_loss = grid[i], table["log_loss"][i]
    return best, table


#: Smallest leaf of the default extra trees: 1, fully grown. Every leaf stores the class
#: fractions of all K classes, so such trees over 200 classes and ~4,000 rows take ~5 MB
#: each in memory; the bundle stores them deflated, ~40x smaller, while larger leaves
#: saved little more on disk and cost accuracy (bench/results/bundle_size.md).
TREES_MIN_SAMPLES_LEAF = 1
#: Most leaves a default tree may grow: its smallest leaf grows with the rows beyond
#: (:func:`trees_min_samples_leaf`). A fully grown tree has about a leaf per row, and a
#: node stores K float64 class fractions: at 150,000 rows and 200 classes one tree would
#: take ~190 MB and 200 of them ~40 GB. At this bound a tree takes at most ~26 MB.
TREES_MAX_LEAVES = 8_192


def trees_min_samples_leaf(n_rows: int) -> int:
    """Smallest leaf of the default trees on ``n_rows`` rows: 1 up to
    :data:`TREES_MAX_LEAVES` rows, then ``ceil(n_rows / TREES_MAX_LEAVES)``."""
    return max(TREES_MIN_SAMPLES_LEAF, -(-int(n_rows) // TREES_MAX_LEAVES))


def _default_trees(n_trees, n_rows=0):
    # sqrt(F) features per split, no bootstrap: scikit-learn's defaults.
    return ExtraTreesClassifier(
        n_estimators=n_trees,
        max_features="sqrt",
        min_samples_leaf=trees_min_samples_leaf(n_rows),
    )


class BlendedClassifier(ClassifierMixin, BaseEstimator):
    """Soft vote of a boosted classifier and an extremely randomised tree ensemble.

    Parameters
    ----------
    estimator : classifier or None, default None
        Boosted member, cloned; None:
        :class:`~cbedfeat.models.boosting.SpaceGroupClassifier`. Its ``weighting``,
        ``weight_beta``, ``weight_cap``, ``device``, ``n_jobs`` and ``random_state`` are
        replaced by this estimator's where it has them.
    trees : classifier or None, default None
        Second member, cloned; None: :class:`~sklearn.ensemble.ExtraTreesClassifier`
        with ``n_trees`` fully grown trees and ``max_features="sqrt"``. Its ``n_jobs``
        and ``random_state`` are replaced by this estimator's; the class weighting
        reaches it as ``sample_weight`` (it must accept ``sample_weight`` unless the
        weighting is ``"none"`` and no weights are given).
    n_trees : int, default 200
        Trees of the default ``trees`` member (ignored when ``trees`` is given); their
        leaves hold at least :func:`trees_min_samples_leaf` rows, 1 up to 8,192 rows.
    weight : "auto" or float in [0, 1], default "auto"
        Share of the boosted member; "auto": chosen on a grouped hold-out (module
        docstring). A member with share 0 is not fitted.
    weights : sequence of float in [0, 1]
        Candidates of ``weight="auto"``.
    holdout_fraction : float, default 0.2
        Share of the materials held out to choose the weight (at most
        :data:`~cbedfeat.models.fitting.MAX_HOLDOUT_ROWS` rows).
    refit : bool or "auto", default "auto"
        After choosing the weight, fit the members again on every row (True) or keep
        those fitted without the hold-out (False); "auto": refit up to
        :data:`~cbedfeat.models.fitting.REFIT_MAX_ROWS` rows.
    weighting : {"none", "balanced", "sqrt", "effective"}, default "none"
        Class weighting of both members (the boosted one's own parameter; sample weights
        of :func:`~cbedfeat.models.weights.compute_sample_weights` for the trees), so a
        :class:`~cbedfeat.models.logit_adjust.LogitAdjustedClassifier` around the blend
        divides by the prior both members were fitted to.
    weight_beta, weight_cap
        Of the weighting (:mod:`cbedfeat.models.weights`).
    device : {"auto", "cpu", "cuda"}, default "auto"
        Of the boosted member; the trees run on the CPU.
    n_jobs : int or None
        Threads of both members.
    random_state : int, RandomState or None, default 0
        Seed of the hold-out and of both members.

    Attributes
    ----------
    estimator_ : fitted classifier or None
        Boosted member; None when ``weight_`` is 0.
    trees_ : fitted classifier or None
        Tree member; None when ``weight_`` is 1.
    n_member_rows_ : int
        Rows the members were fitted on: every training row, or (no refit) every row
        but the weight's hold-out.
    classes_ : (K,) ndarray
    weight_ : float
        The boosted member's share used.
    tuning_ : dict or None
        Hold-out scores per candidate (:func:`select_weight`) when ``weight="auto"``.
    device_used_ : str
    """

    def __init__(
        self,
        estimator=None,
        trees=None,
        *,
        n_trees=200,
        weight="auto",
        weights=DEFAULT_WEIGHTS,
        holdout_fraction=0.2,
        refit="auto",
        weighting="none",
        weight_beta=0.999,
        weight_cap=None,
        device="auto",
        n_jobs=None,
        random_state=0,
    ):
        self.estimator = estimator
        self.trees = trees
        self.n_trees = n_trees
        self.weight = weight
        self.weights = weights
        self.holdout_fraction = holdout_fraction
        self.refit = refit
        self.weighting = weighting
        self.weight_beta = weight_beta
        self.weight_cap = weight_cap
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        members = (self._boosted_template(), self._trees_template())
        tags.input_tags.allow_nan = all(m.__sklearn_tags__().input_tags.allow_nan for m in members)
        return tags

    # ------------------------------------------------------------------ members
    def _boosted_template(self):
        base = SpaceGroupClassifier() if self.estimator is None else self.estimator
        return configured_clone(
            base,
            weighting=self.weighting,
            weight_beta=self.weight_beta,
            weight_cap=self.weight_cap,
            device=self.device,
            n_jobs=self.n_jobs,
            random_state=self.random_state,
        )

    def _trees_template(self, n_rows=0):
        base = _default_trees(self.n_trees, n_rows) if self.trees is None else self.trees
        # configured_clone skips what a custom member lacks; the class weighting is not a
        # parameter here, it reaches the trees as sample weights (_fit_members).
        return configured_clone(base, n_jobs=self.n_jobs, random_state=self.random_state)

    def _fit_members(self, X, y, groups, sample_weight, weight):
        """(boosted, trees) fitted on these rows; a member of share 0 is skipped (None)."""
        boosted = trees = None
        if weight > 0:
            boosted = fit_with_groups(self._boosted_template(), X, y, groups, sample_weight)
        if weight < 1:
            w = sample_weight
            if self.weighting != "none":
                w = compute_sample_weights(
                    y, self.weighting, beta=self.weight_beta, cap=self.weight_cap
                )
                if sample_weight is not None:
                    w = w * sample_weight
            trees = fit_with_groups(self._trees_template(len(y)), X, y, groups, w)
        return boosted, trees

    # ------------------------------------------------------------------ fitting
    def _check_weights(self):
        def ok(w):
            return isinstance(w, Real) and not isinstance(w, bool) and 0.0 <= w <= 1.0

        if isinstance(self.weight, str):
            if self.weight != "auto":
                raise ValueError(
                    f"weight must be 'auto' or a number in [0, 1], got {self.weight!r}"
                )
            if not len(self.weights) or not all(ok(w) for w in self.weights):
                raise ValueError(f"weights must be numbers in [0, 1], got {self.weights!r}")
        elif not ok(self.weight):
            raise ValueError(f"weight must be 'auto' or a number in [0, 1], got {self.weight!r}")

    def _tune(self, X, y, groups, sample_weight, classes):
        """Choose the weight on a grouped hold-out.

        Returns
        -------
        weight : float
        table : dict or None
            :func:`select_weight`'s table; None when too few groups to hold out (the
            weight is then :data:`FALLBACK_WEIGHT`).
        members : (boosted, trees) or None
            Fitted on every row but the hold-out's; None without a hold-out.
        """
        tr, va = grouped_validation_split(
            y, groups, self.holdout_fraction, seed_from(self.random_state)
        )
        if va.size == 0:
            logger.warning(
                "too few groups to hold out for the blend weight: using %g", FALLBACK_WEIGHT
            )
            return FALLBACK_WEIGHT, None, None
        boosted, trees = self._fit_members(
            X[tr],
            y[tr],
            None if groups is None else groups[tr],
            None if sample_weight is None else sample_weight[tr],
            0.5,  # both members
        )
        weight, table = select_weight(
            y[va],
            aligned_proba(boosted, X[va], classes),
            aligned_proba(trees, X[va], classes),
            classes,
            self.weights,
            None if sample_weight is None else sample_weight[va],
        )
        table["n_fit"], table["n_holdout"] = int(tr.size), int(va.size)
        return weight, table, (boosted, trees)

    def fit(self, X, y, *, groups=None, sample_weight=None):
        """Choose the weight (when "auto"), then fit the members on ``X`` (n, F), ``y`` (n,).

        Parameters
        ----------
        X : (n, F) array-like
        y : (n,) array-like
            Labels, at least two distinct.
        groups : (n,) array-like or None
            Material ids: the hold-out never splits a material, and they are passed on
            to members whose fit takes them.
        sample_weight : (n,) array-like or None

        Returns
        -------
        self
        """
        self._check_weights()
        X, y, classes, groups, sample_weight = validate_fit_inputs(
            self, X, y, groups, sample_weight
        )
        refit = refits(self.refit, len(y))
        members = None
        if self.weight == "auto":
            self.weight_, self.tuning_, members = self._tune(X, y, groups, sample_weight, classes)
        else:
            self.weight_, self.tuning_ = float(self.weight), None
        self.n_member_rows_ = len(y)
        if members is None or refit:
            members = self._fit_members(X, y, groups, sample_weight, self.weight_)
        else:
            self.n_member_rows_ = self.tuning_["n_fit"]
        boosted, trees = members
        # A member of share 0 is dropped: it would be fitted, kept and never read.
        self.estimator_ = boosted if self.weight_ > 0 else None
        self.trees_ = trees if self.weight_ < 1 else None
        self.classes_ = classes
        self.label_map_ = classes.tolist()
        used = {"cpu"} if self.trees_ is not None else set()
        if self.estimator_ is not None:
            used.add(getattr(self.estimator_, "device_used_", "cpu"))
        self.device_used_ = ",".join(sorted(used))
        if self.tuning_ is not None:
            losses = ", ".join(
                f"{w:g}: {v:.4f}"
                for w, v in zip(self.tuning_["weight"], self.tuning_["log_loss"], strict=True)
            )
            logger.info(
                "%s: weight %.3g (hold-out log loss %s)", type(self).__name__, self.weight_, losses
            )
        else:
            logger.info("%s: weight %.3g", type(self).__name__, self.weight_)
        return self

    # ------------------------------------------------------------------ prediction
    def predict_proba(self, X):
        """Blended probabilities: (n, K) over ``classes_``, rows summing to 1."""
        check_is_fitted(self)
        X = validate_predict_input(self, X)
        boosted = (
            None if self.estimator_ is None else aligned_proba(self.estimator_, X, self.classes_)
        )
        trees = None if self.trees_ is None else aligned_proba(self.trees_, X, self.classes_)
        return blend_proba(boosted, trees, self.weight_)

    def predict(self, X):
        """Most probable label of the blend: (n,)."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


__all__ = [
    "DEFAULT_WEIGHTS",
    "BlendedClassifier",
    "aligned_proba",
    "blend_proba",
    "holdout_log_loss",
    "select_weight",
]
