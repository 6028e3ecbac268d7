"""imbalanced-learn ensembles behind the space-group classifier interface.

Every class here has the interface of
:class:`~cbedfeat.models.boosting.SpaceGroupClassifier`: ``fit(X, y, *, groups=None,
sample_weight=None)``, ``predict`` returning space-group numbers, ``predict_proba``
over ``classes_`` (sorted labels seen in fit), a ``weighting`` parameter and
``device_used_``. The ensembles themselves come from :mod:`imblearn.ensemble`.

Sampling strategy
-----------------
imbalanced-learn's default strategies cut every class to the size of the rarest one.
With 200+ space groups, the rarest of which has one or two materials, that leaves a
few samples per class and throws most of the data away. The estimators here use
:func:`capped_sampling_strategy` instead: the target size of class ``c`` is
``min(n_c, cap)`` with ``cap`` the median class count by default, i.e.
``clip(n_c, floor, cap)`` where the floor is the class's own count (under-sampling can
never add samples, so no smaller floor is needed). Classes below the cap keep all their
samples, classes above it are cut to the cap, so the largest-to-smallest ratio drops
from ``max/min`` to ``median/min`` while half of the classes lose nothing. What imbalance remains among the rare classes is
handled by ``weighting`` where the ensemble accepts weights.
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from cbedfeat.models.boosting import SpaceGroupClassifier
from cbedfeat.models.fitting import check_sample_weight, seed_from
from cbedfeat.models.weights import compute_sample_weights

logger = logging.getLogger(__name__)


def class_cap(y, max_per_class="median") -> int:
    """The per-class under-sampling cap: the median class count (rounded up) or an int."""
    if isinstance(max_per_class, str):
        if max_per_class != "median":
            raise ValueError(f"max_per_class must be 'median' or an int, got {max_per_class!r}")
        _, counts = np.unique(np.asarray(y), return_counts=True)
        return int(np.ceil(np.median(counts)))
    cap = int(max_per_class)
    if cap < 1:
        raise ValueError(f"max_per_class must be >= 1, got {max_per_class!r}")
    return cap


class CappedStrategy:
    """Picklable imbalanced-learn ``sampling_strategy`` callable: ``y -> {c: min(n_c, cap)}``.

    A callable rather than a fixed dict because bagging under-samples each bootstrap
    sample, whose class counts differ from those of the full training set (a class may
    even be absent).
    """

    def __init__(self, cap: int):
        self.cap = int(cap)

    def __call__(self, y) -> dict:
        classes, counts = np.unique(np.asarray(y), return_counts=True)
        return {
            c.item() if isinstance(c, np.generic) else c: int(min(n, self.cap))
            for c, n in zip(classes, counts, strict=True)
        }

    def __repr__(self) -> str:
        return f"CappedStrategy(cap={self.cap})"


def capped_sampling_strategy(y, max_per_class="median") -> dict:
    """Per-class target sizes for under-sampling: ``min(n_c, cap)``.

    Parameters
    ----------
    y : (n,) array-like
        Labels.
    max_per_class : "median" or int, default "median"
        The cap: the median class count (rounded up), or a fixed number of samples.

    Returns
    -------
    dict
        label -> number of samples to keep (an imbalanced-learn ``sampling_strategy``).
    """
    return CappedStrategy(class_cap(y, max_per_class))(y)


class ClassWeightedClassifier(ClassifierMixin, BaseEstimator):
    """Fits ``estimator`` with class weights computed on the labels of each fit.

    Inside a bagging ensemble every bag has its own class counts; this wrapper gives
    the inner estimator the :func:`~cbedfeat.models.weights.compute_sample_weights` of
    the bag it actually sees.

    Parameters
    ----------
    estimator : classifier accepting ``sample_weight``
    weighting, weight_beta, weight_cap
        As in :func:`~cbedfeat.models.weights.compute_sample_weights`.
    random_state : int, RandomState or None
        Passed to ``estimator`` when it has that parameter (bagging sets it per bag).
    """

    def __init__(
        self,
        estimator,
        *,
        weighting="balanced",
        weight_beta=0.999,
        weight_cap=None,
        random_state=None,
    ):
        self.estimator = estimator
        self.weighting = weighting
        self.weight_beta = weight_beta
        self.weight_cap = weight_cap
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None):
        w = compute_sample_weights(y, self.weighting, beta=self.weight_beta, cap=self.weight_cap)
        if sample_weight is not None:
            w = w * np.asarray(sample_weight, dtype=np.float64)
        est = clone(self.estimator)
        if "random_state" in est.get_params():
            est.set_params(random_state=self.random_state)
        self.estimator_ = est.fit(X, y, sample_weight=w)
        self.classes_ = self.estimator_.classes_
        return self

    def predict_proba(self, X):
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    def predict(self, X):
        check_is_fitted(self)
        return self.estimator_.predict(X)


class _ImblearnSpaceGroupClassifier(ClassifierMixin, BaseEstimator):
    """Shared fit/predict plumbing; subclasses build the imbalanced-learn estimator."""

    #: whether the inner ensemble's fit takes ``sample_weight``
    _takes_sample_weight = True

    def _make_estimator(self, y, seed):  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, X, y, *, groups=None, sample_weight=None):
        """Train on ``X`` (n, F) and labels ``y`` (n,).

        Parameters
        ----------
        X : (n, F) array-like
        y : (n,) array-like
            Labels (space-group numbers), at least two distinct.
        groups : (n,) array-like or None
            Accepted for interface compatibility; these ensembles do no early stopping
            and do not use it.
        sample_weight : (n,) array-like or None
            Extra per-sample weights, multiplied with the class weights (ensembles
            whose fit takes no weights reject a non-None value).

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes, got 1 class: {classes[0]!r}"
            )
        if groups is not None and len(groups) != len(y):
            raise ValueError(f"groups has {len(groups)} entries but X has {len(y)} rows")
        est = self._make_estimator(y, seed_from(self.random_state))
        if self._takes_sample_weight:
            w = compute_sample_weights(
                y, self.weighting, beta=self.weight_beta, cap=self.weight_cap
            ) * check_sample_weight(sample_weight, len(y))
            est.fit(X, y, sample_weight=w)
        else:
            if sample_weight is not None:
                raise ValueError(f"{type(self).__name__} does not accept sample_weight")
            est.fit(X, y)
        if not np.array_equal(np.asarray(est.classes_), classes):
            raise AssertionError("inner ensemble reordered the classes")  # guards the mapping
        self.estimator_ = est
        self.classes_ = classes
        self.label_map_ = classes.tolist()
        self.device_used_ = self._device_used()
        logger.info(
            "%s: %d classes, %d samples, device %s",
            type(self).__name__,
            len(classes),
            len(y),
            self.device_used_,
        )
        return self

    def _device_used(self) -> str:
        return "cpu"

    def predict_proba(self, X):
        """Class probabilities, (n, K) float64, columns in ``classes_`` order."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float32)
        proba = np.asarray(self.estimator_.predict_proba(X), dtype=np.float64)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X):
        """Most probable label of each row: (n,) space-group numbers."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class BalancedRandomForestSpaceGroupClassifier(_ImblearnSpaceGroupClassifier):
    """:class:`imblearn.ensemble.BalancedRandomForestClassifier` with capped under-sampling.

    Each tree sees every class cut to ``min(n_c, max_per_class)`` samples (drawn with
    replacement, i.e. a per-class bootstrap), see :func:`capped_sampling_strategy`.

    Parameters
    ----------
    n_estimators, max_depth, max_features, min_samples_leaf
        Forest parameters.
    max_per_class : "median" or int
        Under-sampling cap per class.
    weighting, weight_beta, weight_cap
        Class weighting of the remaining samples (:mod:`cbedfeat.models.weights`).
    n_jobs : int or None
        Trees built in parallel; None: one at a time.
    random_state : int, RandomState or None
    """

    def __init__(
        self,
        *,
        n_estimators=200,
        max_depth=None,
        max_features="sqrt",
        min_samples_leaf=1,
        max_per_class="median",
        weighting="balanced",
        weight_beta=0.999,
        weight_cap=None,
        n_jobs=None,
        random_state=0,
    ):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.max_features = max_features
        self.min_samples_leaf = min_samples_leaf
        self.max_per_class = max_per_class
        self.weighting = weighting
        self.weight_beta = weight_beta
        self.weight_cap = weight_cap
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _make_estimator(self, y, seed):
        from imblearn.ensemble import BalancedRandomForestClassifier

        return BalancedRandomForestClassifier(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            max_features=self.max_features,
            min_samples_leaf=self.min_samples_leaf,
            sampling_strategy=capped_sampling_strategy(y, self.max_per_class),
            replacement=True,
            bootstrap=False,
            n_jobs=self.n_jobs,
            random_state=seed,
        )


class BalancedBaggingSpaceGroupClassifier(_ImblearnSpaceGroupClassifier):
    """:class:`imblearn.ensemble.BalancedBaggingClassifier` of XGBoost models.

    The base estimator is a :class:`~cbedfeat.models.boosting.SpaceGroupClassifier`
    without early stopping: it encodes the labels of each bag itself, so a bag that
    misses some classes trains on the classes it has and the bagging ensemble maps its
    probability columns back onto ``classes_`` (absent classes get 0 from that bag).

    Parameters
    ----------
    n_estimators : int, default 5
        Number of bags.
    max_per_class : "median" or int
        Under-sampling cap per class in each bag.
    boost_rounds, learning_rate, max_depth, max_bin, colsample_bytree
        XGBoost parameters of each bag's model.
    weighting, weight_beta, weight_cap
        Class weighting computed inside each bag.
    device : {"auto", "cpu", "cuda"}
    n_jobs : int or None
        XGBoost threads per bag (bags are trained one after the other).
    random_state : int, RandomState or None
    """

    _takes_sample_weight = False

    def __init__(
        self,
        *,
        n_estimators=5,
        max_per_class="median",
        boost_rounds=60,
        learning_rate=0.2,
        max_depth=4,
        max_bin=64,
        colsample_bytree=0.4,
        weighting="balanced",
        weight_beta=0.999,
        weight_cap=None,
        device="auto",
        n_jobs=None,
        random_state=0,
    ):
        self.n_estimators = n_estimators
        self.max_per_class = max_per_class
        self.boost_rounds = boost_rounds
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.max_bin = max_bin
        self.colsample_bytree = colsample_bytree
        self.weighting = weighting
        self.weight_beta = weight_beta
        self.weight_cap = weight_cap
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _make_estimator(self, y, seed):
        from imblearn.ensemble import BalancedBaggingClassifier

        base = SpaceGroupClassifier(
            n_estimators=self.boost_rounds,
            learning_rate=self.learning_rate,
            max_depth=self.max_depth,
            max_bin=self.max_bin,
            subsample=1.0,
            colsample_bytree=self.colsample_bytree,
            weighting=self.weighting,
            weight_beta=self.weight_beta,
            weight_cap=self.weight_cap,
            early_stopping_rounds=None,
            device=self.device,
            n_jobs=self.n_jobs,
        )
        return BalancedBaggingClassifier(
            estimator=base,
            n_estimators=self.n_estimators,
            sampling_strategy=CappedStrategy(class_cap(y, self.max_per_class)),
            replacement=False,
            bootstrap=True,
            n_jobs=1,
            random_state=seed,
        )

    def _device_used(self) -> str:
        devices = {est[-1].device_used_ for est in self.estimator_.estimators_}
        return devices.pop() if len(devices) == 1 else ",".join(sorted(devices))


class EasyEnsembleSpaceGroupClassifier(_ImblearnSpaceGroupClassifier):
    """:class:`imblearn.ensemble.EasyEnsembleClassifier`: AdaBoost on under-sampled subsets.

    Each subset cuts the classes to ``min(n_c, max_per_class)``; the AdaBoost learner of
    each subset is wrapped in :class:`ClassWeightedClassifier` so ``weighting`` acts on
    the counts of that subset.

    Parameters
    ----------
    n_estimators : int, default 5
        Number of subsets (AdaBoost learners).
    boost_rounds : int, default 30
        AdaBoost rounds per subset.
    max_depth : int, default 5
        Depth of AdaBoost's trees (stumps are too weak for tens of classes).
    max_features : int, float, "sqrt" or None, default "sqrt"
        Features tried per split: with hundreds of features, "sqrt" makes each tree
        tens of times cheaper and decorrelates the boosted trees.
    learning_rate : float, default 0.5
    max_per_class, weighting, weight_beta, weight_cap, n_jobs, random_state
        As for :class:`BalancedRandomForestSpaceGroupClassifier`.
    """

    _takes_sample_weight = False

    def __init__(
        self,
        *,
        n_estimators=5,
        boost_rounds=30,
        max_depth=5,
        max_features="sqrt",
        learning_rate=0.5,
        max_per_class="median",
        weighting="balanced",
        weight_beta=0.999,
        weight_cap=None,
        n_jobs=None,
        random_state=0,
    ):
        self.n_estimators = n_estimators
        self.boost_rounds = boost_rounds
        self.max_depth = max_depth
        self.max_features = max_features
        self.learning_rate = learning_rate
        self.max_per_class = max_per_class
        self.weighting = weighting
        self.weight_beta = weight_beta
        self.weight_cap = weight_cap
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _make_estimator(self, y, seed):
        from imblearn.ensemble import EasyEnsembleClassifier
        from sklearn.ensemble import AdaBoostClassifier
        from sklearn.tree import DecisionTreeClassifier

        ada = AdaBoostClassifier(
            DecisionTreeClassifier(max_depth=self.max_depth, max_features=self.max_features),
            n_estimators=self.boost_rounds,
            learning_rate=self.learning_rate,
        )
        base = ClassWeightedClassifier(
            ada,
            weighting=self.weighting,
            weight_beta=self.weight_beta,
            weight_cap=self.weight_cap,
        )
        return EasyEnsembleClassifier(
            n_estimators=self.n_estimators,
            estimator=base,
            sampling_strategy=CappedStrategy(class_cap(y, self.max_per_class)),
            replacement=False,
            n_jobs=self.n_jobs,
            random_state=seed,
        )


class RUSBoostSpaceGroupClassifier(_ImblearnSpaceGroupClassifier):
    """:class:`imblearn.ensemble.RUSBoostClassifier`: AdaBoost with per-round under-sampling.

    Each boosting round under-samples to ``min(n_c, max_per_class)`` per class; the
    class weights of ``weighting`` are AdaBoost's initial sample weights.

    Parameters
    ----------
    n_estimators : int, default 100
        Boosting rounds.
    max_depth : int, default 6
        Depth of the boosted trees.
    max_features : int, float, "sqrt" or None, default "sqrt"
        Features tried per split (see :class:`EasyEnsembleSpaceGroupClassifier`).
    learning_rate : float, default 0.5
    max_per_class, weighting, weight_beta, weight_cap, random_state
        As for :class:`BalancedRandomForestSpaceGroupClassifier`.
    """

    def __init__(
        self,
        *,
        n_estimators=100,
        max_depth=6,
        max_features="sqrt",
        learning_rate=0.5,
        max_per_class="median",
        weighting="balanced",
        weight_beta=0.999,
        weight_cap=None,
        random_state=0,
    ):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.max_features = max_features
        self.learning_rate = learning_rate
        self.max_per_class = max_per_class
        self.weighting = weighting
        self.weight_beta = weight_beta
        self.weight_cap = weight_cap
        self.random_state = random_state

    def _make_estimator(self, y, seed):
        from imblearn.ensemble import RUSBoostClassifier
        from sklearn.tree import DecisionTreeClassifier

        return RUSBoostClassifier(
            DecisionTreeClassifier(max_depth=self.max_depth, max_features=self.max_features),
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            sampling_strategy=capped_sampling_strategy(y, self.max_per_class),
            replacement=False,
            random_state=seed,
        )
