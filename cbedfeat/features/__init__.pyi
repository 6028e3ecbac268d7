from .config import FAMILIES, FEATURE_VERSION, FeatureConfig
from .names import feature_names
from .pipeline import FeatureExtractor
from .vector import StackFeaturizer, pattern_features

__all__ = [
    "FAMILIES",
    "FEATURE_VERSION",
    "FeatureConfig",
    "FeatureExtractor",
    "StackFeaturizer",
    "feature_names",
    "pattern_features",
]
