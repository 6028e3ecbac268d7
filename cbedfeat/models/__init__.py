"""Space-group classifiers, all scikit-learn compatible.

* :class:`SpaceGroupClassifier`: XGBoost ``hist`` (GPU when present), grouped early
  stopping, native UBJSON save/load;
* imbalanced-learn ensembles: :class:`BalancedRandomForestSpaceGroupClassifier`,
  :class:`BalancedBaggingSpaceGroupClassifier` (XGBoost bags),
  :class:`EasyEnsembleSpaceGroupClassifier`, :class:`RUSBoostSpaceGroupClassifier`;
* :class:`HierarchicalSpaceGroupClassifier`: crystal system, then space group;
* :func:`compute_sample_weights`: the class-weighting schemes;
* :func:`make_model` / :data:`MODEL_NAMES`: models by name for the CLI and benchmarks.

Every estimator: ``fit(X, y, *, groups=None, sample_weight=None)``, ``predict`` ->
space-group numbers, ``predict_proba`` -> (n, K) over ``classes_``, ``device_used_``.
"""

from cbedfeat.models.boosting import SpaceGroupClassifier, grouped_validation_split
from cbedfeat.models.ensembles import (
    BalancedBaggingSpaceGroupClassifier,
    BalancedRandomForestSpaceGroupClassifier,
    EasyEnsembleSpaceGroupClassifier,
    RUSBoostSpaceGroupClassifier,
    capped_sampling_strategy,
)
from cbedfeat.models.hierarchical import HierarchicalSpaceGroupClassifier
from cbedfeat.models.registry import MODEL_NAMES, make_model
from cbedfeat.models.weights import WEIGHTING_SCHEMES, compute_sample_weights

__all__ = [
    "MODEL_NAMES",
    "WEIGHTING_SCHEMES",
    "BalancedBaggingSpaceGroupClassifier",
    "BalancedRandomForestSpaceGroupClassifier",
    "EasyEnsembleSpaceGroupClassifier",
    "HierarchicalSpaceGroupClassifier",
    "RUSBoostSpaceGroupClassifier",
    "SpaceGroupClassifier",
    "capped_sampling_strategy",
    "compute_sample_weights",
    "grouped_validation_split",
    "make_model",
]
