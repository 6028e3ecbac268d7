"""Space-group classifiers, all scikit-learn compatible.

* :class:`SpaceGroupClassifier`: XGBoost ``hist`` (GPU when present), grouped early
  stopping, native UBJSON save/load;
* imbalanced-learn ensembles: :class:`BalancedRandomForestSpaceGroupClassifier`,
  :class:`BalancedBaggingSpaceGroupClassifier` (XGBoost bags),
  :class:`EasyEnsembleSpaceGroupClassifier`, :class:`RUSBoostSpaceGroupClassifier`;
* :class:`HierarchicalSpaceGroupClassifier`: crystal system, then space group;
* :class:`SystemGatedClassifier`: a flat model whose crystal-system shares come from a
  dedicated system model;
* :class:`LogitAdjustedClassifier`: post-hoc logit adjustment of any of them, strength
  chosen on a material-grouped hold-out;
* :class:`BlendedClassifier`: soft vote of a boosted model and extremely randomised
  trees, weight chosen on a material-grouped hold-out;
* :func:`compute_sample_weights`: the class-weighting schemes;
* :mod:`~cbedfeat.models.registry`: every model by name (:data:`MODELS`,
  :func:`make_model`, :data:`DEFAULT_MODEL`, :data:`DEFAULT_WEIGHTING`), read by the
  command line, the training workflow, the README table and the tests.

Every estimator: ``fit(X, y, *, groups=None, sample_weight=None)``, ``predict`` ->
space-group numbers, ``predict_proba`` -> (n, K) over ``classes_``, ``device_used_``.

Names are imported on first use, so the command line reads the registry without
importing scikit-learn or XGBoost.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS: dict[str, str] = {
    "BalancedBaggingSpaceGroupClassifier": "cbedfeat.models.ensembles",
    "BalancedRandomForestSpaceGroupClassifier": "cbedfeat.models.ensembles",
    "BlendedClassifier": "cbedfeat.models.blend",
    "DEFAULT_MODEL": "cbedfeat.models.registry",
    "DEFAULT_WEIGHTING": "cbedfeat.models.registry",
    "EasyEnsembleSpaceGroupClassifier": "cbedfeat.models.ensembles",
    "HierarchicalSpaceGroupClassifier": "cbedfeat.models.hierarchical",
    "LogitAdjustedClassifier": "cbedfeat.models.logit_adjust",
    "MODELS": "cbedfeat.models.registry",
    "MODEL_NAMES": "cbedfeat.models.registry",
    "RUSBoostSpaceGroupClassifier": "cbedfeat.models.ensembles",
    "SpaceGroupClassifier": "cbedfeat.models.boosting",
    "SystemGatedClassifier": "cbedfeat.models.gated",
    "WEIGHTING_SCHEMES": "cbedfeat.models.weights",
    "capped_sampling_strategy": "cbedfeat.models.ensembles",
    "compute_sample_weights": "cbedfeat.models.weights",
    "grouped_validation_split": "cbedfeat.models.boosting",
    "make_model": "cbedfeat.models.registry",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from cbedfeat.models.blend import BlendedClassifier  # noqa: F401
    from cbedfeat.models.boosting import (  # noqa: F401
        SpaceGroupClassifier,
        grouped_validation_split,
    )
    from cbedfeat.models.ensembles import (  # noqa: F401
        BalancedBaggingSpaceGroupClassifier,
        BalancedRandomForestSpaceGroupClassifier,
        EasyEnsembleSpaceGroupClassifier,
        RUSBoostSpaceGroupClassifier,
        capped_sampling_strategy,
    )
    from cbedfeat.models.gated import SystemGatedClassifier  # noqa: F401
    from cbedfeat.models.hierarchical import HierarchicalSpaceGroupClassifier  # noqa: F401
    from cbedfeat.models.logit_adjust import LogitAdjustedClassifier  # noqa: F401
    from cbedfeat.models.registry import (  # noqa: F401
        DEFAULT_MODEL,
        DEFAULT_WEIGHTING,
        MODEL_NAMES,
        MODELS,
        make_model,
    )
    from cbedfeat.models.weights import WEIGHTING_SCHEMES, compute_sample_weights  # noqa: F401


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cbedfeat.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
