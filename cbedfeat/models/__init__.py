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
* :func:`make_model` / :data:`MODEL_NAMES`: models by name for the CLI and benchmarks.

Every estimator: ``fit(X, y, *, groups=None, sample_weight=None)``, ``predict`` ->
space-group numbers, ``predict_proba`` -> (n, K) over ``classes_``, ``device_used_``.
"""

from cbedfeat.models.blend import BlendedClassifier
from cbedfeat.models.boosting import SpaceGroupClassifier, grouped_validation_split
from cbedfeat.models.ensembles import (
    BalancedBaggingSpaceGroupClassifier,
    BalancedRandomForestSpaceGroupClassifier,
    EasyEnsembleSpaceGroupClassifier,
    RUSBoostSpaceGroupClassifier,
    capped_sampling_strategy,
)
from cbedfeat.models.gated import SystemGatedClassifier
from cbedfeat.models.hierarchical import HierarchicalSpaceGroupClassifier
from cbedfeat.models.logit_adjust import LogitAdjustedClassifier
from cbedfeat.models.registry import MODEL_NAMES, make_model
from cbedfeat.models.weights import WEIGHTING_SCHEMES, compute_sample_weights

__all__ = [
    "MODEL_NAMES",
    "WEIGHTING_SCHEMES",
    "BalancedBaggingSpaceGroupClassifier",
    "BalancedRandomForestSpaceGroupClassifier",
    "BlendedClassifier",
    "EasyEnsembleSpaceGroupClassifier",
    "HierarchicalSpaceGroupClassifier",
    "LogitAdjustedClassifier",
    "RUSBoostSpaceGroupClassifier",
    "SpaceGroupClassifier",
    "SystemGatedClassifier",
    "capped_sampling_strategy",
    "compute_sample_weights",
    "grouped_validation_split",
    "make_model",
]
