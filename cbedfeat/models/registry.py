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
    "blend",
    "gated-blend-logit",
)
# Wrappers whose inner stages are SpaceGroupClassifiers: parameters the wrapper does not
# take configure those stages.
_WRAPPERS = ("hierarchical", "logit", "gated", "gated-logit", "blend", "gated-blend-logit")
# Compositions: LogitAdjusted over SystemGated (over BlendedClassifier).
_GATED_LOGIT = ("gated-logit", "gated-blend-logit")


def _model_class(name: str):
    from cbedfeat.models import ensembles
    from cbedfeat.models.blend import BlendedClassifier
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
        "blend": BlendedClassifier,
        "gated-blend-logit": LogitAdjustedClassifier,
    }[name]


def _accepted(cls) -> set[str]:
    return set(inspect.signature(cls.__init__).parameters) - {"self"}


def _take(params: dict, names: set[str]) -> dict:
    return {k: params.pop(k) for k in list(params) if k in names}


def _wrapper(name: str, cls, common: dict, params: dict):
    """A wrapper model: its own parameters, the gate's and the blend's (compositions), the
    rest for the stages.

    A parameter goes to the outermost model that takes it: for ``gated-blend-logit``,
    ``holdout_fraction`` is the logit adjustment's and ``weighting``, ``device``,
    ``n_jobs``, ``random_state`` are passed down by the wrappers themselves.
    """
    from cbedfeat.models.blend import BlendedClassifier
    from cbedfeat.models.boosting import SpaceGroupClassifier
    from cbedfeat.models.gated import SystemGatedClassifier

    own = _take(params, _accepted(cls))
    inner = own.pop("estimator", None)
    taken = _accepted(cls)
    gate = blend = {}
    if name in _GATED_LOGIT:
        gate = _take(params, _accepted(SystemGatedClassifier) - taken)
        taken = taken | _accepted(SystemGatedClassifier)
    if name == "gated-blend-logit":
        blend = _take(params, _accepted(BlendedClassifier) - taken)
    stage = _take(params, _accepted(SpaceGroupClassifier))
    if params:
        raise TypeError(f"model {name!r} does not take parameters {sorted(params)}")
    if inner is None and (stage or name in _GATED_LOGIT):
        inner = SpaceGroupClassifier(**stage)
    if name == "gated-blend-logit":
        inner = BlendedClassifier(inner, **blend)
    if name in _GATED_LOGIT:
        # No system_estimator: the crystal-system stage is a clone of ``inner`` (for
        # gated-blend-logit a blend too, with its own weight chosen on its own hold-out).
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
        ``SpaceGroupClassifier``); ``gated-logit``: the logit adjustment of ``gated``;
        ``blend``: :class:`~cbedfeat.models.blend.BlendedClassifier`, a soft vote of a
        ``SpaceGroupClassifier`` and extremely randomised trees, weight chosen on a
        grouped hold-out; ``gated-blend-logit``: ``gated-logit`` with blends as the flat
        and the crystal-system model.
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
        ``gated-logit``, ``blend``, ``gated-blend-logit``), parameters the wrapper does
        not take (``n_estimators``, ``max_depth`` ...) configure its
        ``SpaceGroupClassifier`` stages; for ``gated-logit`` and ``gated-blend-logit``,
        those of ``SystemGatedClassifier`` (``system_power`` ...) configure the gate,
        and for ``gated-blend-logit`` those of ``BlendedClassifier`` (``weight``,
        ``n_trees`` ...) the blends.

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
