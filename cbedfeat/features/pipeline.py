"""The scikit-learn face of the feature vector: :class:`FeatureExtractor`.

The computation lives in :mod:`cbedfeat.features.vector`, which does not import
scikit-learn; :func:`pattern_features` is re-exported here.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from cbedfeat.features.vector import StackFeaturizer, pattern_features

__all__ = ["FeatureExtractor", "pattern_features"]


class FeatureExtractor(TransformerMixin, BaseEstimator):
    """Stacks ``(N, 3, H, W)`` to the named feature vector ``(N, F)``.

    Follows scikit-learn's transformer conventions: ``fit`` (which learns nothing)
    resolves the device and the names, ``transform`` returns float32 NumPy arrays,
    ``get_feature_names_out`` the stable names. The computing is done by
    :class:`~cbedfeat.features.vector.StackFeaturizer`, which the ``cbedfeat extract``
    workers use directly.

    Parameters
    ----------
    config : FeatureConfig or dict, optional
        Default: ``FeatureConfig()``.
    device : {"cpu", "cuda", "auto"}
        Where to compute; the device used is logged by ``fit``.
    batch_size : int
        Stacks computed together (on the GPU, larger batches are faster; on the CPU
        at most 16 at a time, which keeps the working set in cache).

    Attributes
    ----------
    config_ : FeatureConfig
    device_ : str
    feature_names_out_ : ndarray of str
    n_features_out_ : int
    """

    def __init__(self, config=None, device: str = "cpu", batch_size: int = 32):
        self.config = config
        self.device = device
        self.batch_size = batch_size

    def fit(self, X=None, y=None):
        """Resolve config, device and names; ``X`` and ``y`` are ignored. Returns ``self``."""
        featurizer = StackFeaturizer(self.config, self.device, self.batch_size)
        self.featurizer_ = featurizer
        self.config_ = featurizer.config
        self.device_ = featurizer.device
        self.feature_names_out_ = featurizer.get_feature_names_out()
        self.n_features_out_ = featurizer.n_features
        return self

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Feature names, in column order (``input_features`` is ignored)."""
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()

    def transform(self, X) -> np.ndarray:
        """Feature vectors of stacks.

        Parameters
        ----------
        X : (N, 3, H, W) array
            Raw intensities (NumPy or CuPy), float32 preferred.

        Returns
        -------
        (N, F) float32 ndarray (NumPy)
        """
        check_is_fitted(self, "featurizer_")
        return self.featurizer_.transform(X)

    def family_transform(self, name: str, X) -> np.ndarray:
        """One family's columns for stacks ``X`` (for timing); shared steps included.

        Returns
        -------
        (N, F_family) float32 ndarray, the columns of ``feature_names(config, [name])``.
        """
        check_is_fitted(self, "featurizer_")
        return self.featurizer_.family_transform(name, X)
