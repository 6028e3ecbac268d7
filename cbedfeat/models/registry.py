"""Model names used by the command line and the benchmarks -> configured estimators."""

from __future__ import annotations

import inspect

MODEL_NAMES: tuple[str, ...] = (
    "xgb",
    "brf",
    "bagging",
    "easy",
    "rusboost",
    "hierarchical",
    "logit",
    "gated",
    "gated-logit",
)
# Wrappers whose inner stages are SpaceGroupClassifiers: parameters the wrapper does not
# take configure those stages.
_WRAPPERS = ("hierarchical", "logit", "gated", "gated-logit")


def _model_class(name: str):
    from cbedfeat.models import ensembles
    from cbedfeat.models.boosting import SpaceGroupClassifier
    from cbedfeat.models.gated import SystemGatedClassifier
    from cbedfeat.models.hierarchical import HierarchicalSpaceGroupClassifier
    from cbedfeat.models.logit_adjust import LogitAdjustedClassifier

    return {
        "xgb": SpaceGroupClassifier,
        "brf": ensembles.BalancedRandomForestSpaceGroupClassifier,
        "bagging": ensembles.BalancedBaggingSpaceGroupClassifier,
        "easy": ensembles.EasyEnsembleSpaceGroupClassifier,
        "rusboost": ensembles.RUSBoostSpaceGroupClassifier,
        "hierarchical": HierarchicalSpaceGroupClassifier,
        "logit": LogitAdjustedClassifier,
        "gated": SystemGatedClassifier,
        "gated-logit": LogitAdjustedClassifier,
    }[name]


def _accepted(cls) -> set[str]:
    return set(inspect.signature(cls.__init__).parameters) - {"self"}


def _take(params: dict, names: set[str]) -> dict:
    return {k: params.pop(k) for k in list(params) if k in names}


def _wrapper(name: str, cls, common: dict, params: dict):
    """A wrapper model: its own parameters, the gate's (gated-logit), the rest for the stages."""
    from cbedfeat.models.boosting import SpaceGroupClassifier
    from cbedfeat.models.gated import SystemGatedClassifier

    own = _take(params, _accepted(cls))
    inner = own.pop("estimator", None)
    gate = (
        _take(params, _accepted(SystemGatedClassifier) - _accepted(cls))
        if name == "gated-logit"
        else {}
    )
    stage = _take(params, _accepted(SpaceGroupClassifier))
    if params:
        raise TypeError(f"model {name!r} does not take parameters {sorted(params)}")
    if inner is None and (stage or name == "gated-logit"):
        inner = SpaceGroupClassifier(**stage)
    if name == "gated-logit":
        inner = SystemGatedClassifier(inner, **gate)
    kwargs = {k: v for k, v in common.items() if k in _accepted(cls)}
    return cls(inner, **kwargs, **own)


def make_model(
    name: str, *, weighting: str = "balanced", device: str = "auto", random_state=0, **params
):
    """A configured, unfitted estimator by name.

    Parameters
    ----------
    name : one of :data:`MODEL_NAMES`
        ``xgb``: :class:`~cbedfeat.models.boosting.SpaceGroupClassifier`;
        ``brf``, ``bagging``, ``easy``, ``rusboost``: the imbalanced-learn ensembles of
        :mod:`cbedfeat.models.ensembles`; ``hierarchical``:
        :class:`~cbedfeat.models.hierarchical.HierarchicalSpaceGroupClassifier` over
        ``SpaceGroupClassifier`` stages; ``logit``:
        :class:`~cbedfeat.models.logit_adjust.LogitAdjustedClassifier` over a
        ``SpaceGroupClassifier``; ``gated``:
        :class:`~cbedfeat.models.gated.SystemGatedClassifier` (flat and crystal-system
        ``SpaceGroupClassifier``); ``gated-logit``: the logit adjustment of ``gated``.
    weighting : {"none", "balanced", "sqrt", "effective"}
        Class weighting (every model takes it; for ``gated`` it is the flat model's,
        the system model has ``system_weighting``).
    device : {"auto", "cpu", "cuda"}
        Used by the models that run XGBoost (``xgb``, ``bagging`` and the wrappers);
        the others run on the CPU and ignore it.
    random_state : int
    **params
        Further constructor parameters of the chosen class. ``n_jobs`` goes to every
        model that takes it and is ignored by the others (``rusboost`` runs
        single-threaded). For the wrappers (``hierarchical``, ``logit``, ``gated``,
        ``gated-logit``), parameters the wrapper does not take (``n_estimators``,
        ``max_depth`` ...) configure its ``SpaceGroupClassifier`` stages; for
        ``gated-logit``, those of ``SystemGatedClassifier`` (``system_power`` ...)
        configure the gate.

    Returns
    -------
    estimator
        Unfitted, scikit-learn compatible.
    """
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose one of {MODEL_NAMES}")
    cls = _model_class(name)
    params = dict(params)
    common = {"weighting": weighting, "device": device, "random_state": random_state}
    if "n_jobs" in params:  # thread count: dropped for models that run single-threaded
        common["n_jobs"] = params.pop("n_jobs")
    if name in _WRAPPERS:
        return _wrapper(name, cls, common, params)
    accepted = _accepted(cls)
    kwargs = {k: v for k, v in common.items() if k in accepted}
    unknown = set(params) - accepted
    if unknown:
        raise TypeError(f"model {name!r} does not take parameters {sorted(unknown)}")
    return cls(**kwargs, **params)
