"""Physics-aware CBED features on NumPy (CPU) or CuPy (GPU).

Small pure functions per family (:mod:`.radial`, :mod:`.polar`, :mod:`.symmetry`,
:mod:`.zernike`, :mod:`.autocorr`) over batches of patterns, and
:class:`FeatureExtractor`, a scikit-learn-style transformer that turns stacks
``(N, 3, H, W)`` into the named vector described by :class:`FeatureConfig`, and
:class:`StackFeaturizer`, the same computation without importing scikit-learn (what the
``cbedfeat extract`` workers use: a shorter start-up).
"""

from cbedfeat.features.config import FAMILIES, FEATURE_VERSION, FeatureConfig
from cbedfeat.features.names import feature_names
from cbedfeat.features.vector import StackFeaturizer, pattern_features

__all__ = [
    "FAMILIES",
    "FEATURE_VERSION",
    "FeatureConfig",
    "FeatureExtractor",
    "StackFeaturizer",
    "feature_names",
    "pattern_features",
]


def __getattr__(name):
    # Imported on first use: scikit-learn costs about 1.5 s of start-up.
    if name == "FeatureExtractor":
        from cbedfeat.features.pipeline import FeatureExtractor

        return FeatureExtractor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
