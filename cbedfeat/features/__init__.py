"""Physics-aware CBED features on NumPy (CPU) or CuPy (GPU).

Small pure functions per family (:mod:`.radial`, :mod:`.polar`, :mod:`.symmetry`,
:mod:`.zernike`, :mod:`.autocorr`) over batches of patterns, and
:class:`FeatureExtractor`, a scikit-learn-style transformer that turns stacks
``(N, 3, H, W)`` into the named vector described by :class:`FeatureConfig`, and
:class:`StackFeaturizer`, the same computation without importing scikit-learn (what the
``cbedfeat extract`` workers use: a shorter start-up).
"""

import lazy_loader

# The public names are listed once, in __init__.pyi, and imported on first use.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
