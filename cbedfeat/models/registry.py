"""The one list of models: every estimator ``cbedfeat train --model`` knows, declared once.

Each :class:`ModelSpec` holds a model's command-line name, the class that
:func:`make_model` builds (as ``module:Class``, imported on first use), a one-line
description, its measured standing on the bench (``bench/results/*.md``) and what it
reads. The command line (choices and help), the training workflow
(:mod:`cbedfeat.workflows.train`), the README's model table (:func:`markdown_table`) and
``tests/test_estimators.py`` all read :data:`MODELS`; so do the defaults
:data:`DEFAULT_MODEL` and :data:`DEFAULT_WEIGHTING`.

The module imports only the standard library (and the scheme names of
:mod:`cbedfeat.models.weights`, which imports NumPy only inside its functions) at the
top, so the command line lists the names without importing NumPy, scikit-learn or XGBoost.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any

from cbedfeat.models.weights import WEIGHTING_SCHEMES  # the scheme names (no NumPy import)

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_REASON",
    "DEFAULT_WEIGHTING",
    "INPUTS",
    "MODELS",
    "STACK_INPUTS",
    "MODEL_NAMES",
    "WEIGHTING_SCHEMES",
    "ModelSpec",
    "Standing",
    "get_spec",
    "make_model",
    "markdown_table",
    "parameters",
    "recommended_model",
]


#: What a model reads: the feature matrix; the features and the lattice targets
#: (``fit(..., targets=...)``); the raw stacks the table's file/group columns point to;
#: or both the features and those stacks.
INPUTS: tuple[str, ...] = ("features", "features+lattice", "stacks", "features+stacks")
#: The inputs of models that read the stacks themselves (they take the table's rows).
STACK_INPUTS: tuple[str, ...] = ("stacks", "features+stacks")


@dataclass(frozen=True)
class Standing:
    """A model's measured scores on the bench's test rows (metrics in %).

    Attributes
    ----------
    top1, macro_f1 : float
    source : str
        The result file under ``bench/results/``.
    setting : str
        How the measured model was configured, where it differs from ``make_model``'s.
    """

    top1: float
    macro_f1: float
    source: str
    setting: str = ""

    def __str__(self) -> str:
        setting = f"; {self.setting}" if self.setting else ""
        return f"top-1 {self.top1:.1f} %, macro-F1 {self.macro_f1:.1f} ({self.source}{setting})"


@dataclass(frozen=True)
class ModelSpec:
    """One model of the registry.

    Attributes
    ----------
    name : str
        Command-line name (``cbedfeat train --model NAME``).
    target : str
        ``"module:Class"`` of the estimator :func:`make_model` returns.
    description : str
        One line.
    standing : Standing or None
        Measured on the bench; None: not measured.
    inputs : {"features", "features+lattice", "stacks", "features+stacks"}
        See :data:`INPUTS`.
    extra : str or None
        The optional dependency group it needs (``pip install 'cbedfeat[EXTRA]'``).
    """

    name: str
    target: str
    description: str
    standing: Standing | None = None
    inputs: str = "features"
    extra: str | None = None

    @property
    def estimator_class(self) -> type:
        """The class (imports its module)."""
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)

    @property
    def standing_text(self) -> str:
        """The standing in words, ``"not measured"`` when there is none."""
        return "not measured" if self.standing is None else str(self.standing)


_FIXED = "100 XGBoost rounds, no early stopping"
_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "xgb",
        "cbedfeat.models.boosting:SpaceGroupClassifier",
        "XGBoost hist, early stopping on a material-grouped hold-out; CPU or CUDA",
        Standing(36.7, 16.6, "imbalance.md", "unweighted"),
    ),
    ModelSpec(
        "brf",
        "cbedfeat.models.ensembles:BalancedRandomForestSpaceGroupClassifier",
        "imbalanced-learn balanced random forest, classes capped at the median count",
        Standing(16.7, 10.6, "imbalance.md", "balanced weights"),
    ),
    ModelSpec(
        "bagging",
        "cbedfeat.models.ensembles:BalancedBaggingSpaceGroupClassifier",
        "imbalanced-learn balanced bagging of XGBoost models",
        Standing(22.7, 14.2, "imbalance.md", "balanced weights"),
    ),
    ModelSpec(
        "easy",
        "cbedfeat.models.ensembles:EasyEnsembleSpaceGroupClassifier",
        "imbalanced-learn EasyEnsemble: AdaBoost on under-sampled subsets",
        Standing(13.3, 5.4, "imbalance.md", "balanced weights"),
    ),
    ModelSpec(
        "rusboost",
        "cbedfeat.models.ensembles:RUSBoostSpaceGroupClassifier",
        "imbalanced-learn RUSBoost: AdaBoost with per-round under-sampling",
        Standing(7.8, 3.7, "imbalance.md", "balanced weights"),
    ),
    ModelSpec(
        "hierarchical",
        "cbedfeat.models.hierarchical:HierarchicalSpaceGroupClassifier",
        "crystal system first, then the space group within it (XGBoost stages)",
        Standing(25.3, 10.9, "imbalance.md", "balanced weights"),
    ),
    ModelSpec(
        "logit",
        "cbedfeat.models.logit_adjust:LogitAdjustedClassifier",
        "XGBoost with post-hoc logit adjustment, strength chosen on a grouped hold-out",
        Standing(39.8, 19.6, "imbalance.md", f"unweighted, {_FIXED}"),
    ),
    ModelSpec(
        "gated",
        "cbedfeat.models.gated:SystemGatedClassifier",
        "flat XGBoost whose crystal-system shares come from a 7-class XGBoost",
        Standing(40.4, 18.1, "imbalance.md", f"unweighted, {_FIXED}"),
    ),
    ModelSpec(
        "gated-logit",
        "cbedfeat.models.logit_adjust:LogitAdjustedClassifier",
        "the logit adjustment of gated",
        Standing(40.0, 18.9, "imbalance.md", f"unweighted, {_FIXED}"),
    ),
    ModelSpec(
        "blend",
        "cbedfeat.models.blend:BlendedClassifier",
        "soft vote of XGBoost and extremely randomised trees, share chosen on a hold-out",
        Standing(42.4, 19.4, "imbalance.md", f"unweighted, {_FIXED}"),
    ),
    ModelSpec(
        "gated-blend-logit",
        "cbedfeat.models.logit_adjust:LogitAdjustedClassifier",
        "gated-logit with blends as the flat and the crystal-system model",
        Standing(43.3, 22.6, "imbalance.md", f"unweighted, {_FIXED}; best on the bench"),
    ),
    ModelSpec(
        "multitask",
        "cbedfeat.models.multitask:MultiTaskCBEDModel",
        "predicts the lattice and crystal system out of fold, then the space group",
        Standing(31.6, 13.5, "multitask.md", "balanced weights"),
        inputs="features+lattice",
    ),
    ModelSpec(
        "cnn",
        "cbedfeat.models.cnn:CNNSpaceGroupClassifier",
        "PyTorch ResNet on the raw stacks: the published recipe, views that keep the frame",
        Standing(
            58.1,
            23.4,
            "cnn_equal_compute.md",
            "bench-large, width 16, 30 epochs, unweighted; xgb there: 59.9 % in a tenth of the time",
        ),
        inputs="stacks",
        extra="cnn",
    ),
    ModelSpec(
        "features-cnn",
        "cbedfeat.models.hybrid:FeatureCNNClassifier",
        "mean of the probabilities of xgb on the features and the CNN on the stacks",
        Standing(
            62.4,
            23.8,
            "cnn_equal_compute.md",
            "bench-large, xgb 200 rounds + CNN width 16, 30 epochs; on bench-dynamical 38.7 "
            "against xgb's 43.0",
        ),
        inputs="features+stacks",
        extra="cnn",
    ),
)

#: Every model by name, in the order the command line and the README list them.
MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}
MODEL_NAMES: tuple[str, ...] = tuple(MODELS)

#: The model and weighting ``cbedfeat train`` uses when none is given: the best measured
#: trade-off on bench-large (5,130 training materials, 639 test materials, feature version
#: 3; ``learning_curve.md``): top-1 62.6 % against 59.2 % for unweighted XGBoost, crystal
#: system 94.2 % against 86.7 %, macro-F1 28.5 against 22.4, for about 2.4 times the fit
#: (415 s against 171 s on the 2 cores).
DEFAULT_MODEL = "gated-blend-logit"
DEFAULT_WEIGHTING = "none"
DEFAULT_REASON = (
    "on bench-large (5,130 training materials) top-1 62.6 % against 59.2 % for "
    "unweighted xgb, crystal system 94.2 % against 86.7 %, macro-F1 28.5 against 22.4, "
    "for about 2.4x the fit time (415 s against 171 s on 2 cores; "
    "bench/results/learning_curve.md); xgb is the fast choice"
)

# Wrappers whose inner stages are SpaceGroupClassifiers: parameters the wrapper does not
# take configure those stages.
_WRAPPERS = ("hierarchical", "logit", "gated", "gated-logit", "blend", "gated-blend-logit")
# Compositions: LogitAdjusted over SystemGated (over BlendedClassifier).
_GATED_LOGIT = ("gated-logit", "gated-blend-logit")


def recommended_model(inputs: str = "features") -> str:
    """The model of ``inputs`` with the best measured top-1 standing on the bench.

    Parameters
    ----------
    inputs : {"features", "features+lattice", "stacks"}
        What the model reads (:data:`INPUTS`).

    Returns
    -------
    str
        A name of :data:`MODELS`; ties go to the model listed first.

    Raises
    ------
    ValueError
        No model of ``inputs`` has a standing.
    """
    ranked = [spec for spec in MODELS.values() if spec.inputs == inputs and spec.standing]
    if not ranked:
        raise ValueError(f"no model reading {inputs!r} has a measured standing")
    return max(ranked, key=lambda spec: spec.standing.top1).name


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``name``; ValueError naming the choices when unknown."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {MODEL_NAMES}") from None


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


def _multitask(cls, common: dict, params: dict):
    """The multi-task model; ``n_estimators`` (``--n-estimators``) is its stage-2 classifier's."""
    n_estimators = params.pop("n_estimators", None)
    if n_estimators is not None:
        params["classifier_params"] = {
            **(params.get("classifier_params") or {}),
            "n_estimators": n_estimators,
        }
    return _plain("multitask", cls, common, params)


def _plain(name: str, cls, common: dict, params: dict):
    accepted = _accepted(cls)
    kwargs = {k: v for k, v in common.items() if k in accepted}
    unknown = set(params) - accepted
    if unknown:
        raise TypeError(f"model {name!r} does not take parameters {sorted(unknown)}")
    return cls(**kwargs, **params)


def parameters(name: str) -> set[str]:
    """Names of the parameters :func:`make_model` accepts for ``name`` (stages included)."""
    from cbedfeat.models.blend import BlendedClassifier
    from cbedfeat.models.boosting import SpaceGroupClassifier
    from cbedfeat.models.gated import SystemGatedClassifier

    names = _accepted(get_spec(name).estimator_class) | {"weighting", "device", "random_state"}
    if name in _WRAPPERS:
        names |= _accepted(SpaceGroupClassifier)
    if name in _GATED_LOGIT:
        names |= _accepted(SystemGatedClassifier)
    if name == "gated-blend-logit":
        names |= _accepted(BlendedClassifier)
    if name == "multitask":
        names.add("n_estimators")
    return names - {"estimator"}


def make_model(
    name: str,
    *,
    weighting: str = DEFAULT_WEIGHTING,
    device: str = "auto",
    random_state: int = 0,
    **params: Any,
):
    """A configured, unfitted estimator by name.

    Parameters
    ----------
    name : one of :data:`MODEL_NAMES`
        See :data:`MODELS` for what each builds. The wrappers: ``hierarchical`` runs
        ``SpaceGroupClassifier`` stages; ``logit`` adjusts a ``SpaceGroupClassifier``;
        ``gated`` has a flat and a crystal-system ``SpaceGroupClassifier``;
        ``gated-logit`` is the logit adjustment of ``gated``; ``blend`` is a soft vote of
        a ``SpaceGroupClassifier`` and extremely randomised trees; ``gated-blend-logit``
        is ``gated-logit`` with blends as the flat and the crystal-system model.
    weighting : {"none", "balanced", "sqrt", "effective"}
        Class weighting (every model takes it; for ``gated`` it is the flat model's,
        the system model has ``system_weighting``). Default :data:`DEFAULT_WEIGHTING`.
    device : {"auto", "cpu", "cuda"}
        Used by the models that run XGBoost or torch; the others run on the CPU and
        ignore it.
    random_state : int
    **params
        Further constructor parameters of the chosen class. ``n_jobs`` goes to every
        model that takes it and is ignored by the others (``rusboost`` and ``cnn``).
        For the wrappers, parameters the wrapper does not take (``n_estimators``,
        ``max_depth`` ...) configure its ``SpaceGroupClassifier`` stages; for
        ``gated-logit`` and ``gated-blend-logit``, those of ``SystemGatedClassifier``
        (``system_power`` ...) configure the gate, and for ``gated-blend-logit`` those
        of ``BlendedClassifier`` (``weight``, ``n_trees`` ...) the blends. For
        ``multitask``, ``n_estimators`` is the stage-2 classifier's.

    Returns
    -------
    estimator
        Unfitted, scikit-learn compatible.
    """
    spec = get_spec(name)
    cls = spec.estimator_class
    params = dict(params)
    common = {"weighting": weighting, "device": device, "random_state": random_state}
    if "n_jobs" in params:  # thread count: dropped for models that run single-threaded
        common["n_jobs"] = params.pop("n_jobs")
    if name in _WRAPPERS:
        return _wrapper(name, cls, common, params)
    if name == "multitask":
        return _multitask(cls, common, params)
    return _plain(name, cls, common, params)


def markdown_table() -> str:
    """The README's model table (a test keeps the README equal to it)."""
    rows = ["| model | what it is | reads | measured standing |", "| --- | --- | --- | --- |"]
    for spec in MODELS.values():
        default = " (default)" if spec.name == DEFAULT_MODEL else ""
        rows.append(
            f"| `{spec.name}`{default} | {spec.description} | {spec.inputs} | "
            f"{spec.standing_text} |"
        )
    return "\n".join(rows)
