"""A flat space-group model whose crystal-system share comes from a dedicated system model.

A flat classifier over ~200 space groups gets the crystal system of its prediction
right far less often than a classifier trained on the seven systems alone: each
system is a large class for the latter, while the former spreads the same evidence
over many small ones. :class:`SystemGatedClassifier` keeps the flat model's ranking
*within* each system and takes the share of each system from the system model,

.. math::

    P(g \\mid x) = \\frac{P_{sys}(s \\mid x)^{a}}{\\sum_{s'} P_{sys}(s' \\mid x)^{a}}
    \\cdot \\frac{P_{flat}(g \\mid x)}{\\sum_{g' \\in s} P_{flat}(g' \\mid x)},
    \\qquad s = s(g),

with :math:`a` = ``system_power`` (1: the chain rule; larger values trust the system
model's arg-max more). Unlike :class:`~cbedfeat.models.hierarchical.HierarchicalSpaceGroupClassifier`
the second level is one model over all classes, so a space group is told apart from
its look-alikes in other systems with all of the data, not only that of its system.
The system stage is unweighted by default (``system_weighting="none"``): seven
classes of a few hundred samples each need no re-weighting, and class weights would
stop its early stopping short for no gain.
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from cbedfeat.models.boosting import SpaceGroupClassifier
from cbedfeat.models.fitting import (
    configured_clone,
    fit_with_groups,
    validate_fit_inputs,
    validate_predict_input,
)
from cbedfeat.models.hierarchical import level_function

logger = logging.getLogger(__name__)

# Floor of a system's flat-model mass: a system the flat model gives no mass keeps zero
# mass after gating instead of a 0/0.
_TINY = 1e-300


def gate_proba(flat, system, membership, power=1.0):
    """Replace the system marginal of ``flat`` by ``system`` (module docstring formula).

    Parameters
    ----------
    flat : (n, K) array-like
        Flat-model probabilities over the K classes.
    system : (n, S) array-like
        System-model probabilities over the S systems.
    membership : (K, S) array-like of bool
        ``membership[k, s]``: class ``k`` lies in system ``s`` (one True per row).
    power : float
        ``system_power``.

    Returns
    -------
    (n, K) float64 ndarray
        Rows sum to 1.
    """
    flat = np.asarray(flat, dtype=np.float64)
    member = np.asarray(membership, dtype=np.float64)
    share = np.asarray(system, dtype=np.float64) ** float(power)
    share = share / share.sum(axis=1, keepdims=True)
    within = flat / (np.maximum(flat @ member, _TINY) @ member.T)
    out = within * (share @ member.T)
    total = out.sum(axis=1, keepdims=True)
    # A row whose every system with mass got none from the flat model: keep the flat row.
    return np.where(total > 0, out / np.where(total > 0, total, 1.0), flat)


class SystemGatedClassifier(ClassifierMixin, BaseEstimator):
    """Flat classifier over all classes, its system shares taken from a system classifier.

    Parameters
    ----------
    estimator : classifier or None, default None
        Flat model over all labels, cloned; None:
        :class:`~cbedfeat.models.boosting.SpaceGroupClassifier`. ``weighting``,
        ``weight_beta``, ``weight_cap``, ``device``, ``n_jobs`` and ``random_state``
        replace its own where it has them.
    system_estimator : classifier or None, default None
        Model of the first-level group (crystal system); None: a clone of the flat
        model's template with ``weighting=system_weighting``.
    level : {"crystal_system", "laue_class", "point_group"} or callable
        The grouping (a callable maps a label to its group).
    system_power : float, default 1.0
        Exponent of the system probabilities (1: chain rule).
    weighting : {"none", "balanced", "sqrt", "effective"}, default "none"
        Class weighting of the flat model.
    system_weighting : {"none", "balanced", "sqrt", "effective"}, default "none"
        Class weighting of the system model.
    weight_beta, weight_cap
        Of the weightings (:mod:`cbedfeat.models.weights`).
    device : {"auto", "cpu", "cuda"}, default "auto"
    n_jobs : int or None
    random_state : int, RandomState or None, default 0

    Attributes
    ----------
    classes_ : (K,) ndarray
    systems_ : (S,) ndarray of str
        Sorted groups of the training labels.
    membership_ : (K, S) bool ndarray
        ``membership_[k, s]``: ``classes_[k]`` belongs to ``systems_[s]``.
    estimator_ : fitted flat classifier
    system_estimator_ : fitted system classifier, or None with a single system
    device_used_ : str
    """

    def __init__(
        self,
        estimator=None,
        system_estimator=None,
        *,
        level="crystal_system",
        system_power=1.0,
        weighting="none",
        system_weighting="none",
        weight_beta=0.999,
        weight_cap=None,
        device="auto",
        n_jobs=None,
        random_state=0,
    ):
        self.estimator = estimator
        self.system_estimator = system_estimator
        self.level = level
        self.system_power = system_power
        self.weighting = weighting
        self.system_weighting = system_weighting
        self.weight_beta = weight_beta
        self.weight_cap = weight_cap
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        stages = (
            self._stage(self.estimator, self.weighting),
            self._stage(self.system_estimator, self.system_weighting),
        )
        tags.input_tags.allow_nan = all(s.__sklearn_tags__().input_tags.allow_nan for s in stages)
        return tags

    def _stage(self, estimator, weighting):
        template = (
            estimator
            if estimator is not None
            else (self.estimator if self.estimator is not None else SpaceGroupClassifier())
        )
        return configured_clone(
            template,
            weighting=weighting,
            weight_beta=self.weight_beta,
            weight_cap=self.weight_cap,
            device=self.device,
            n_jobs=self.n_jobs,
            random_state=self.random_state,
        )

    def fit(self, X, y, *, groups=None, sample_weight=None):
        """Fit the flat and the system model on ``X`` (n, F) and labels ``y`` (n,).

        Parameters
        ----------
        X : (n, F) array-like
        y : (n,) array-like
            Space-group numbers (or labels ``level`` maps), at least two distinct.
        groups : (n,) array-like or None
            Material ids, passed to each stage whose fit takes them.
        sample_weight : (n,) array-like or None

        Returns
        -------
        self
        """
        if not float(self.system_power) > 0:
            raise ValueError(f"system_power must be > 0, got {self.system_power!r}")
        X, y, classes, groups, sample_weight = validate_fit_inputs(
            self, X, y, groups, sample_weight
        )
        class_system = self.system_of(classes)
        systems = np.unique(class_system)
        sample_system = class_system[np.searchsorted(classes, y)]

        flat = fit_with_groups(
            self._stage(self.estimator, self.weighting), X, y, groups, sample_weight
        )
        system = None
        if len(systems) > 1:
            system = fit_with_groups(
                self._stage(self.system_estimator, self.system_weighting),
                X,
                sample_system,
                groups,
                sample_weight,
            )
        return self.set_stages(flat, system, classes)

    def system_of(self, labels) -> np.ndarray:
        """The group (``level``) of each label: (n,) str ndarray."""
        parent_of = level_function(self.level)
        return np.array([str(parent_of(c)) for c in np.asarray(labels).tolist()], dtype=object)

    def set_stages(self, flat, system, classes):
        """Keep two fitted stages as this model's (shared with the training on Dask).

        Parameters
        ----------
        flat : fitted classifier
            Over (a subset of) ``classes``.
        system : fitted classifier or None
            Over the groups of ``classes``; None when they all lie in one group.
        classes : (K,) ndarray
            Sorted labels of the training rows.

        Returns
        -------
        self
        """
        class_system = self.system_of(classes)
        systems = np.unique(class_system)
        self.estimator_ = flat
        self.system_estimator_ = system
        self.classes_ = classes
        self.label_map_ = classes.tolist()
        self.systems_ = systems
        self.membership_ = class_system[:, None] == systems[None, :]
        fitted = [e for e in (self.estimator_, self.system_estimator_) if e is not None]
        self.device_used_ = ",".join(sorted({getattr(e, "device_used_", "cpu") for e in fitted}))
        logger.info(
            "%s: %d classes in %d systems, device %s",
            type(self).__name__,
            len(classes),
            len(systems),
            self.device_used_,
        )
        return self

    def predict_system_proba(self, X):
        """P(system | x) from the system model: (n, S) over ``systems_``."""
        check_is_fitted(self)
        if self.system_estimator_ is None:
            return np.ones((len(X), 1))
        out = np.zeros((len(X), len(self.systems_)))
        cols = np.searchsorted(self.systems_, self.system_estimator_.classes_.astype(str))
        out[:, cols] = self.system_estimator_.predict_proba(X)
        return out

    def predict_proba(self, X):
        """Gated probabilities: (n, K) over ``classes_``, rows summing to 1."""
        check_is_fitted(self)
        X = validate_predict_input(self, X)
        flat = np.zeros((len(X), len(self.classes_)))
        flat[:, np.searchsorted(self.classes_, self.estimator_.classes_)] = (
            self.estimator_.predict_proba(X)
        )
        return gate_proba(flat, self.predict_system_proba(X), self.membership_, self.system_power)

    def predict(self, X):
        """Most probable label after gating: (n,)."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
