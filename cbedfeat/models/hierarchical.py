"""Two-level classifier: crystal system first, then the space group within the system.

The probabilities are combined by the chain rule,

.. math:: P(g \\mid x) = P(s(g) \\mid x)\\, P(g \\mid s(g), x),

with :math:`s(g)` the crystal system of space group :math:`g`
(:func:`cbedfeat.data.labels.crystal_system_of`). Every within-system distribution sums
to 1 over the system's space groups, so the combined rows sum to 1 over all classes
seen in fit and ``predict`` is the most probable space group overall (which may lie
outside the single most probable system). A system with one space group in the
training data needs no second-level model: :math:`P(g \\mid s) = 1`.

The first level sees every sample, so the seven-way system decision is learnt from
much larger classes than any single space group; the second level only has to tell
apart space groups of the same lattice symmetry.
"""

from __future__ import annotations

import inspect
import logging

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

from cbedfeat.models.boosting import SpaceGroupClassifier
from cbedfeat.models.fitting import validate_fit_inputs, validate_predict_input

logger = logging.getLogger(__name__)

LEVELS: tuple[str, ...] = ("crystal_system", "laue_class", "point_group")


def level_function(level):
    """label -> parent class (str), for a level name or a callable."""
    if callable(level):
        return level
    if level == "crystal_system":
        from cbedfeat.data.labels import crystal_system_of

        return crystal_system_of
    if level in ("laue_class", "point_group"):
        from cbedfeat.data.labels import space_group_info

        return lambda number: getattr(space_group_info(int(number)), level)
    raise ValueError(f"level must be one of {LEVELS} or a callable, got {level!r}")


def _fit_stage(est, X, y, groups, sample_weight):
    """Fit one stage, passing groups only to estimators whose fit takes them."""
    kwargs = {}
    params = inspect.signature(est.fit).parameters
    if groups is not None and "groups" in params:
        kwargs["groups"] = groups
    if sample_weight is not None:
        kwargs["sample_weight"] = sample_weight
    return est.fit(X, y, **kwargs)


class HierarchicalSpaceGroupClassifier(ClassifierMixin, BaseEstimator):
    """Crystal system, then space group within the system; chain-rule probabilities.

    Parameters
    ----------
    estimator : classifier or None, default None
        Template cloned for the system stage and for every within-system stage; None:
        :class:`~cbedfeat.models.boosting.SpaceGroupClassifier`. Its ``weighting``,
        ``device``, ``n_jobs`` and ``random_state`` are replaced by this estimator's
        where the template has them.
    level : {"crystal_system", "laue_class", "point_group"} or callable
        The first-level grouping of the labels; a callable maps a label to its group.
    weighting : {"none", "balanced", "sqrt", "effective"}, default "balanced"
        Class weighting used at both stages (system counts, then within-system counts).
    device : {"auto", "cpu", "cuda"}, default "auto"
    n_jobs : int or None
    random_state : int, RandomState or None, default 0

    Attributes
    ----------
    classes_ : (K,) ndarray
        Sorted labels seen in fit.
    systems_ : (S,) ndarray of str
        Sorted first-level groups seen in fit.
    system_estimator_ : fitted classifier
        P(system | x) over ``systems_``.
    group_estimators_ : dict
        system -> fitted within-system classifier, or the single label of a
        one-class system.
    device_used_ : str
    """

    def __init__(
        self,
        estimator=None,
        *,
        level="crystal_system",
        weighting="balanced",
        device="auto",
        n_jobs=None,
        random_state=0,
    ):
        self.estimator = estimator
        self.level = level
        self.weighting = weighting
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        template = self._template()
        tags.input_tags.allow_nan = template.__sklearn_tags__().input_tags.allow_nan
        return tags

    def _template(self):
        est = SpaceGroupClassifier() if self.estimator is None else clone(self.estimator)
        own = {
            "weighting": self.weighting,
            "device": self.device,
            "n_jobs": self.n_jobs,
            "random_state": self.random_state,
        }
        accepted = est.get_params(deep=False)
        est.set_params(**{k: v for k, v in own.items() if k in accepted})
        return est

    def fit(self, X, y, *, groups=None, sample_weight=None):
        """Train both levels on ``X`` (n, F) and labels ``y`` (n,).

        Parameters
        ----------
        X : (n, F) array-like
        y : (n,) array-like
            Space-group numbers (or labels ``level`` can map), at least two distinct.
        groups : (n,) array-like or None
            Material ids, passed to each stage that takes them (grouped early stopping).
        sample_weight : (n,) array-like or None

        Returns
        -------
        self
        """
        X, y, classes, groups, sample_weight = validate_fit_inputs(
            self, X, y, groups, sample_weight
        )
        parent_of = level_function(self.level)
        class_system = np.array([str(parent_of(c)) for c in classes.tolist()], dtype=object)
        sample_system = class_system[np.searchsorted(classes, y)]
        systems = np.unique(class_system)

        template = self._template()
        if len(systems) > 1:
            system_est = _fit_stage(clone(template), X, sample_system, groups, sample_weight)
        else:
            system_est = None  # one system: P(system) = 1
        group_ests = {}
        for system in systems:
            members = classes[class_system == system]
            if len(members) == 1:
                group_ests[system] = members[0]
                continue
            rows = sample_system == system
            group_ests[system] = _fit_stage(
                clone(template),
                X[rows],
                y[rows],
                None if groups is None else groups[rows],
                None if sample_weight is None else sample_weight[rows],
            )
        self.classes_ = classes
        self.label_map_ = classes.tolist()
        self.systems_ = systems
        self.class_system_ = class_system
        self.system_estimator_ = system_est
        self.group_estimators_ = group_ests
        fitted = [system_est] + list(group_ests.values())
        devices = {getattr(e, "device_used_", "cpu") for e in fitted if hasattr(e, "predict")}
        self.device_used_ = ",".join(sorted(devices)) or "cpu"
        logger.info(
            "%s: %d %s groups, %d classes, device %s",
            type(self).__name__,
            len(systems),
            self.level if isinstance(self.level, str) else "label",
            len(classes),
            self.device_used_,
        )
        return self

    def predict_proba(self, X):
        """P(space group) = P(system) * P(space group | system).

        Parameters
        ----------
        X : (n, F) array-like

        Returns
        -------
        (n, K) float64 ndarray
            Columns in ``classes_`` order; rows sum to 1.
        """
        check_is_fitted(self)
        X = validate_predict_input(self, X)
        n = X.shape[0]
        if self.system_estimator_ is None:
            p_system = np.ones((n, 1))
            system_cols = {self.systems_[0]: 0}
        else:
            p_system = np.asarray(self.system_estimator_.predict_proba(X), dtype=np.float64)
            system_cols = {s: i for i, s in enumerate(self.system_estimator_.classes_)}
        proba = np.zeros((n, len(self.classes_)))
        for system, est in self.group_estimators_.items():
            ps = p_system[:, system_cols[system]][:, None]
            if hasattr(est, "predict_proba"):
                cols = np.searchsorted(self.classes_, est.classes_)
                proba[:, cols] = ps * est.predict_proba(X)
            else:
                proba[:, np.searchsorted(self.classes_, [est])] = ps
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X):
        """Most probable space group overall: (n,) labels."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def predict_system(self, X):
        """Most probable first-level group (e.g. crystal system name) of each row."""
        check_is_fitted(self)
        if self.system_estimator_ is None:
            return np.full(len(X), self.systems_[0], dtype=object)
        return np.asarray(self.system_estimator_.predict(X))
