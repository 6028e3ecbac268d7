from .blend import BlendedClassifier
from .boosting import SpaceGroupClassifier, grouped_validation_split
from .ensembles import (
    BalancedBaggingSpaceGroupClassifier,
    BalancedRandomForestSpaceGroupClassifier,
    EasyEnsembleSpaceGroupClassifier,
    RUSBoostSpaceGroupClassifier,
    capped_sampling_strategy,
)
from .gated import SystemGatedClassifier
from .hierarchical import HierarchicalSpaceGroupClassifier
from .logit_adjust import LogitAdjustedClassifier
from .registry import DEFAULT_MODEL, DEFAULT_WEIGHTING, MODEL_NAMES, MODELS, make_model
from .weights import WEIGHTING_SCHEMES, compute_sample_weights

__all__ = [
    "BalancedBaggingSpaceGroupClassifier",
    "BalancedRandomForestSpaceGroupClassifier",
    "BlendedClassifier",
    "DEFAULT_MODEL",
    "DEFAULT_WEIGHTING",
    "EasyEnsembleSpaceGroupClassifier",
    "HierarchicalSpaceGroupClassifier",
    "LogitAdjustedClassifier",
    "MODELS",
    "MODEL_NAMES",
    "RUSBoostSpaceGroupClassifier",
    "SpaceGroupClassifier",
    "SystemGatedClassifier",
    "WEIGHTING_SCHEMES",
    "capped_sampling_strategy",
    "compute_sample_weights",
    "grouped_validation_split",
    "make_model",
]
