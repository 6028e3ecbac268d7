"""Model names used by the command line and the benchmarks -> configured estimators."""

from __future__ import annotations

import inspect

MODEL_NAMES: tuple[str, ...] = ("xgb", "brf", "bagging", "easy", "rusboost", "hierarchical")


def _model_class(name: str):
    from cbedfeat.models import ensembles
    from cbedfeat.models.boosting import SpaceGroupClassifier
    from cbedfeat.models.hierarchical import HierarchicalSpaceGroupClassifier

    return {
        "xgb": SpaceGroupClassifier,
        "brf": ensembles.BalancedRandomForestSpaceGroupClassifier,
        "bagging": ensembles.BalancedBaggingSpaceGroupClassifier,
        "easy": ensembles.EasyEnsembleSpaceGroupClassifier,
        "rusboost": ensembles.RUSBoostSpaceGroupClassifier,
        "hierarchical": HierarchicalSpaceGroupClassifier,
    }[name]


def make_model(name: str, *, weighting: str = "balanced", device: str = "auto",
               random_state=0, **params):
    """A configured, unfitted estimator by name.

    Parameters
    ----------
    name : one of :data:`MODEL_NAMES`
        ``xgb``: :class:`~cbedfeat.models.boosting.SpaceGroupClassifier`;
        ``brf``, ``bagging``, ``easy``, ``rusboost``: the imbalanced-learn ensembles of
        :mod:`cbedfeat.models.ensembles`; ``hierarchical``:
        :class:`~cbedfeat.models.hierarchical.HierarchicalSpaceGroupClassifier` over
        ``SpaceGroupClassifier`` stages.
    weighting : {"none", "balanced", "sqrt", "effective"}
        Class weighting (every model takes it).
    device : {"auto", "cpu", "cuda"}
        Used by the models that run XGBoost (``xgb``, ``bagging``, ``hierarchical``);
        the others run on the CPU and ignore it.
    random_state : int
    **params
        Further constructor parameters of the chosen class. ``n_jobs`` goes to every
        model that takes it and is ignored by the others (``rusboost`` runs
        single-threaded). For ``hierarchical``, parameters that the hierarchical class
        does not take (``n_estimators``, ``max_depth`` ...) configure its
        ``SpaceGroupClassifier`` stages.

    Returns
    -------
    estimator
        Unfitted, scikit-learn compatible.
    """
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose one of {MODEL_NAMES}")
    cls = _model_class(name)
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    if name == "hierarchical":
        from cbedfeat.models.boosting import SpaceGroupClassifier

        stage = {k: params.pop(k) for k in list(params) if k not in accepted}
        if stage:
            params.setdefault("estimator", SpaceGroupClassifier(**stage))
    common = {"weighting": weighting, "device": device, "random_state": random_state}
    if "n_jobs" in params:  # thread count: dropped for models that run single-threaded
        common["n_jobs"] = params.pop("n_jobs")
    kwargs = {k: v for k, v in common.items() if k in accepted}
    unknown = set(params) - accepted
    if unknown:
        raise TypeError(f"model {name!r} does not take parameters {sorted(unknown)}")
    return cls(**kwargs, **params)
