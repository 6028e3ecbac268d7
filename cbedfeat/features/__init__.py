"""Physics-aware CBED features on NumPy (CPU) or CuPy (GPU).

Small pure functions per family (:mod:`.radial`, :mod:`.polar`, :mod:`.symmetry`,
:mod:`.zernike`, :mod:`.autocorr`) over batches of patterns, and
:class:`FeatureExtractor`, a scikit-learn-style transformer that turns stacks
``(N, 3, H, W)`` into the named vector described by :class:`FeatureConfig`.
"""

from cbedfeat.features.config import FAMILIES, FEATURE_VERSION, FeatureConfig
from cbedfeat.features.names import feature_names
from cbedfeat.features.pipeline import FeatureExtractor, pattern_features

__all__ = [
    "FAMILIES",
    "FEATURE_VERSION",
    "FeatureConfig",
    "FeatureExtractor",
    "feature_names",
    "pattern_features",
]
