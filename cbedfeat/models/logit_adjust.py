"""Post-hoc logit adjustment: trade a little top-1 accuracy for the rare classes.

A classifier trained on imbalanced labels learns :math:`P(y \\mid x)` under the
training prior :math:`\\pi_y`, so its arg-max favours frequent classes. Dividing by
a power of the prior,

.. math:: \\tilde P(y \\mid x) \\propto P(y \\mid x) \\, / \\, \\pi_y^{\\tau},

moves the decision towards the balanced-error optimum as :math:`\\tau \\to 1`
(Menon et al. 2021, post-hoc adjustment with logits :math:`\\log P`); :math:`\\tau = 0`
leaves the model unchanged. Unlike class weights it leaves training alone (no shortened
early stopping, no up-weighted handful of rare samples): the base model is trained as
usual and only its output is moved.

:math:`\\pi` is the class distribution the base model was *fitted to*: the training
label frequencies times the class weights of ``weighting`` (and any ``sample_weight``).
With ``weighting="balanced"`` that prior is uniform and the adjustment does nothing,
so the two are alternatives, not a pair.

``tau="auto"`` picks :math:`\\tau` on a material-grouped hold-out of the training rows:
a copy of the base model is fitted on the rest, and the :math:`\\tau` of ``taus`` with
the highest balanced accuracy + macro-F1 on the hold-out among those whose top-1
accuracy stays within ``top1_tolerance`` of :math:`\\tau = 0` is kept; the base model
is then refitted on every row.

References
----------
A. K. Menon, S. Jayasumana, A. S. Rawat, H. Jain, A. Veit, S. Kumar, "Long-tail
learning via logit adjustment", ICLR 2021.
"""

from __future__ import annotations

import logging
import warnings
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score
from sklearn.utils.validation import check_is_fitted

from cbedfeat.models.boosting import SpaceGroupClassifier
from cbedfeat.models.fitting import (
    check_sample_weight,
    configured_clone,
    fit_with_groups,
    grouped_validation_split,
    refits,
    reuse_identical_fits,
    seed_from,
    validate_fit_inputs,
    validate_predict_input,
)
from cbedfeat.models.weights import class_weight_table

logger = logging.getLogger(__name__)

DEFAULT_TAUS: tuple[float, ...] = tuple(np.round(np.arange(0.0, 1.5001, 0.125), 3).tolist())


def fitted_prior(y, classes, *, weighting="none", beta=0.999, cap=None, sample_weight=None):
    """Class distribution a model sees when fitted on ``y`` with these weights.

    Parameters
    ----------
    y : (n,) array-like
        Training labels.
    classes : (K,) array-like
        Sorted labels; the order of the result.
    weighting, beta, cap
        Class weighting of the fit (:func:`cbedfeat.models.weights.class_weight_table`).
    sample_weight : (n,) array-like or None

    Returns
    -------
    (K,) float64 ndarray
        Sums to 1; ``prior[k]`` is proportional to the weighted count of ``classes[k]``.
    """
    y = np.asarray(y)
    classes = np.asarray(classes)
    w = check_sample_weight(sample_weight, len(y))
    table = class_weight_table(y, weighting, beta=beta, cap=cap)
    mass = np.bincount(np.searchsorted(classes, y), weights=w, minlength=len(classes))
    mass = mass * np.array([table.get(c.item() if hasattr(c, "item") else c, 0.0) for c in classes])
    return mass / mass.sum()


def adjust_proba(proba, prior, tau):
    """Probabilities divided by ``prior ** tau`` and renormalised.

    Parameters
    ----------
    proba : (n, K) array-like
        Rows of class probabilities.
    prior : (K,) array-like
        Class prior, > 0.
    tau : float
        Strength; 0 returns ``proba`` (renormalised).

    Returns
    -------
    (n, K) float64 ndarray
        Rows sum to 1.
    """
    proba = np.asarray(proba, dtype=np.float64)
    # Classes given zero weight in the fit get the smallest positive prior, not a division by 0.
    prior = np.asarray(prior, dtype=np.float64)
    prior = np.maximum(prior, prior[prior > 0].min())
    out = proba * prior ** (-float(tau))
    return out / out.sum(axis=1, keepdims=True)


def select_tau(y_true, proba, classes, prior, taus=DEFAULT_TAUS, top1_tolerance=0.02):
    """The ``tau`` of ``taus`` with the best balanced accuracy + macro-F1 on held-out rows.

    Only values whose top-1 accuracy is at least that of ``tau = 0`` minus
    ``top1_tolerance`` are eligible (``tau = 0`` always is); ties go to the smaller tau.

    Parameters
    ----------
    y_true : (n,) array-like
        Held-out labels.
    proba : (n, K) array-like
        Held-out probabilities over ``classes``.
    classes : (K,) array-like
    prior : (K,) array-like
    taus : sequence of float
    top1_tolerance : float

    Returns
    -------
    tau : float
    table : dict
        ``{"tau": [...], "top1": [...], "balanced_accuracy": [...], "macro_f1": [...]}``
        over the sorted ``taus``.
    """
    y_true = np.asarray(y_true)
    classes = np.asarray(classes)
    taus = sorted({0.0, *map(float, taus)})
    present = np.unique(y_true)
    table = {"tau": taus, "top1": [], "balanced_accuracy": [], "macro_f1": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # classes predicted but absent from y_true
        for tau in taus:
            pred = classes[np.argmax(adjust_proba(proba, prior, tau), axis=1)]
            table["top1"].append(float(accuracy_score(y_true, pred)))
            table["balanced_accuracy"].append(float(balanced_accuracy_score(y_true, pred)))
            table["macro_f1"].append(
                float(f1_score(y_true, pred, labels=present, average="macro", zero_division=0))
            )
    floor = table["top1"][0] - top1_tolerance
    best, best_score = 0.0, -np.inf
    for i, tau in enumerate(taus):
        score = table["balanced_accuracy"][i] + table["macro_f1"][i]
        if table["top1"][i] >= floor - 1e-12 and score > best_score + 1e-12:
            best, best_score = tau, score
    return best, table


class LogitAdjustedClassifier(ClassifierMixin, BaseEstimator):
    """A classifier whose probabilities are divided by the training prior to the power tau.

    Parameters
    ----------
    estimator : classifier or None, default None
        Base model, cloned; None: :class:`~cbedfeat.models.boosting.SpaceGroupClassifier`.
        Its ``weighting``, ``weight_beta``, ``weight_cap``, ``device``, ``n_jobs`` and
        ``random_state`` are replaced by this estimator's where it has them.
    tau : "auto" or float >= 0, default "auto"
        Strength of the adjustment; "auto": chosen on a grouped hold-out (module docstring).
    taus : sequence of float
        Candidates of ``tau="auto"``.
    top1_tolerance : float, default 0.02
        Largest top-1 accuracy a candidate may lose on the hold-out against ``tau=0``.
    holdout_fraction : float, default 0.2
        Share of the materials held out to choose ``tau`` (at most
        :data:`~cbedfeat.models.fitting.MAX_HOLDOUT_ROWS` rows).
    refit : bool or "auto", default "auto"
        After choosing ``tau``, fit the base model again on every row (True) or keep the
        one fitted without the hold-out (False); "auto": refit up to
        :data:`~cbedfeat.models.fitting.REFIT_MAX_ROWS` rows.
    weighting : {"none", "balanced", "sqrt", "effective"}, default "none"
        Class weighting of the base model; the prior includes it.
    weight_beta, weight_cap
        Of the weighting (:mod:`cbedfeat.models.weights`).
    device : {"auto", "cpu", "cuda"}, default "auto"
    n_jobs : int or None
    random_state : int, RandomState or None, default 0
        Seed of the hold-out and of the base model.

    Attributes
    ----------
    estimator_ : fitted classifier
        The base model, fitted on every training row or (no refit) on every row but the
        hold-out's.
    n_base_rows_ : int
        Rows ``estimator_`` was fitted on.
    classes_ : (K,) ndarray
    prior_ : (K,) ndarray
        Fitted class distribution (:func:`fitted_prior`) of the base model.
    tau_ : float
        The strength used.
    tuning_ : dict or None
        Hold-out metrics per candidate (:func:`select_tau`) when ``tau="auto"``.
    device_used_ : str
    """

    def __init__(
        self,
        estimator=None,
        *,
        tau="auto",
        taus=DEFAULT_TAUS,
        top1_tolerance=0.02,
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
        self.tau = tau
        self.taus = taus
        self.top1_tolerance = top1_tolerance
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
        tags.input_tags.allow_nan = self._template().__sklearn_tags__().input_tags.allow_nan
        return tags

    def _template(self):
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

    def _prior(self, y, classes, sample_weight):
        return fitted_prior(
            y,
            classes,
            weighting=self.weighting,
            beta=self.weight_beta,
            cap=self.weight_cap,
            sample_weight=sample_weight,
        )

    def _check_tau(self):
        if isinstance(self.tau, str):
            if self.tau != "auto":
                raise ValueError(f"tau must be 'auto' or a number >= 0, got {self.tau!r}")
        elif not (isinstance(self.tau, Real) and self.tau >= 0):
            raise ValueError(f"tau must be 'auto' or a number >= 0, got {self.tau!r}")

    def _tune(self, X, y, groups, sample_weight, classes):
        """Choose tau on a grouped hold-out.

        Returns
        -------
        tau : float
        table : dict or None
            :func:`select_tau`'s table; None (and tau 0) when too few groups to hold out.
        probe : (fitted base model, fit rows) or None
            The base model fitted on every row but the hold-out's; None without a hold-out.
        """
        tr, va = grouped_validation_split(
            y, groups, self.holdout_fraction, seed_from(self.random_state)
        )
        if va.size == 0:
            logger.warning("too few groups to hold out for tau: using tau=0")
            return 0.0, None, None
        probe = fit_with_groups(
            self._template(),
            X[tr],
            y[tr],
            None if groups is None else groups[tr],
            None if sample_weight is None else sample_weight[tr],
        )
        proba = np.zeros((va.size, len(classes)))
        proba[:, np.searchsorted(classes, probe.classes_)] = probe.predict_proba(X[va])
        prior = self._prior(y[tr], classes, None if sample_weight is None else sample_weight[tr])
        tau, table = select_tau(y[va], proba, classes, prior, self.taus, self.top1_tolerance)
        return tau, table, (probe, tr)

    def fit(self, X, y, *, groups=None, sample_weight=None):
        """Choose tau (when "auto"), then fit the base model on ``X`` (n, F), ``y`` (n,).

        Parameters
        ----------
        X : (n, F) array-like
        y : (n,) array-like
            Labels, at least two distinct.
        groups : (n,) array-like or None
            Material ids: the hold-out never splits a material, and they are passed on
            to base models whose fit takes them.
        sample_weight : (n,) array-like or None

        Returns
        -------
        self
        """
        self._check_tau()
        X, y, classes, groups, sample_weight = validate_fit_inputs(
            self, X, y, groups, sample_weight
        )
        # The tau probe and the final model may fit the same inner member on the same
        # rows (a blend's weight hold-out is the tau hold-out): fit it once.
        refit = refits(self.refit, len(y))
        probe = None
        with reuse_identical_fits():
            if self.tau == "auto":
                self.tau_, self.tuning_, probe = self._tune(X, y, groups, sample_weight, classes)
            else:
                self.tau_, self.tuning_ = float(self.tau), None
            rows = np.arange(len(y))
            if probe is None or refit:
                self.estimator_ = fit_with_groups(self._template(), X, y, groups, sample_weight)
            else:
                self.estimator_, rows = probe
        # The prior is the one the kept base model was fitted to.
        return self.set_base(
            self.estimator_,
            y[rows],
            classes,
            None if sample_weight is None else sample_weight[rows],
        )

    def set_base(self, estimator, y_fit, classes, sample_weight=None):
        """Keep a fitted base model and the prior of its training labels (``tau_`` set).

        Shared with the training on Dask.

        Parameters
        ----------
        estimator : fitted classifier
        y_fit : (m,) array-like
            Labels ``estimator`` was fitted on.
        classes : (K,) ndarray
            Sorted labels of every training row.
        sample_weight : (m,) array-like or None

        Returns
        -------
        self
        """
        self.estimator_ = estimator
        self.n_base_rows_ = int(len(y_fit))
        self.classes_ = classes
        self.label_map_ = classes.tolist()
        self.prior_ = self._prior(np.asarray(y_fit), classes, sample_weight)
        self.device_used_ = getattr(self.estimator_, "device_used_", "cpu")
        logger.info("%s: tau %.3g", type(self).__name__, self.tau_)
        return self

    def predict_proba(self, X):
        """Adjusted probabilities: (n, K) over ``classes_``, rows summing to 1."""
        check_is_fitted(self)
        X = validate_predict_input(self, X)
        base = np.zeros((len(X), len(self.classes_)))
        cols = np.searchsorted(self.classes_, self.estimator_.classes_)
        base[:, cols] = self.estimator_.predict_proba(X)
        return adjust_proba(base, self.prior_, self.tau_)

    def predict(self, X):
        """Most probable label after the adjustment: (n,)."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


__all__ = ["DEFAULT_TAUS", "LogitAdjustedClassifier", "adjust_proba", "fitted_prior", "select_tau"]
