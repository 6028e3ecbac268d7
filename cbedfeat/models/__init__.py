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

import lazy_loader

# The public names are listed once, in __init__.pyi, and imported on first use.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
