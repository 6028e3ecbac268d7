"""Metrics of space-group predictions: classification scores and what physics allows.

:mod:`~cbedfeat.metrics.classification` scores probabilities (top-k, macro-F1, balanced
accuracy, crystal system, Laue class, point group, rare classes);
:mod:`~cbedfeat.metrics.physics` adds the kinematic ceiling, accuracy up to kinematic
equivalence and the error bins.
"""
