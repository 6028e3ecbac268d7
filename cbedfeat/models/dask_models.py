"""The registry's XGBoost-only models trained on a Dask cluster.

:func:`fit_dask_model` trains ``xgb``, ``gated``, ``logit`` and ``gated-logit`` (every
model of the registry whose stages are all :class:`~cbedfeat.models.boosting.SpaceGroupClassifier`)
from a ``dask.dataframe`` without gathering the feature matrix: each XGBoost stage goes
through :func:`~cbedfeat.models.dask_boosting.fit_dask`, and a wrapper's own choices are
made as its local ``fit`` makes them, from small columns (labels, materials) and from
the probabilities of its hold-out rows only:

* :class:`~cbedfeat.models.gated.SystemGatedClassifier`: the flat stage on the space
  groups, the system stage on the ``level`` of each label (computed partition by
  partition from the labels, never read from the table's attributes);
* :class:`~cbedfeat.models.logit_adjust.LogitAdjustedClassifier`: ``tau`` chosen on the
  same material-grouped hold-out as locally (:func:`~cbedfeat.models.fitting.grouped_validation_split`
  with the same seed), the base model refitted on every row or kept as ``refit`` says.

The result is the same class with the same fitted attributes as a local fit, so the
bundle and prediction do not know where it was trained. The blends are not here: their
extremely randomised trees are a scikit-learn model that trains in one process.
"""

from __future__ import annotations

import logging

import numpy as np

from cbedfeat.models.boosting import SpaceGroupClassifier
from cbedfeat.models.dask_boosting import fit_dask
from cbedfeat.models.fitting import grouped_validation_split, refits, seed_from
from cbedfeat.models.gated import SystemGatedClassifier
from cbedfeat.models.logit_adjust import LogitAdjustedClassifier, select_tau

logger = logging.getLogger(__name__)

__all__ = ["fit_dask_model", "predict_proba_frame"]

# Column of the derived first-level label (crystal system) of the gated model's system stage.
_LEVEL_COLUMN = "_cbedfeat_level"


def _level_part(part, gated, label):
    """One partition with the level of each label added (a str column)."""
    return part.assign(**{_LEVEL_COLUMN: gated.system_of(part[label].to_numpy())})


def _fit_gated(est, client, frame, feature_names, label, groups, classes):
    def stage(template, weighting, rows, column):
        return fit_dask(
            est._stage(template, weighting),
            client,
            rows,
            feature_names,
            label=column,
            groups=groups,
        )

    flat = stage(est.estimator, est.weighting, frame, label)
    system = None
    if np.unique(est.system_of(classes)).size > 1:
        meta = frame._meta.assign(**{_LEVEL_COLUMN: np.array([], dtype=object)})
        with_level = frame.map_partitions(_level_part, est, label, meta=meta)
        system = stage(est.system_estimator, est.system_weighting, with_level, _LEVEL_COLUMN)
    est.n_features_in_ = len(feature_names)
    return est.set_stages(flat, system, classes)


def _fit_logit(est, client, frame, feature_names, label, groups, keys):
    est._check_tau()
    y = keys[label].to_numpy()
    material = keys[groups].astype(str).to_numpy()
    classes = np.unique(y)
    refit = refits(est.refit, len(y))
    fit_y, base = y, None
    est.tau_, est.tuning_ = (0.0 if est.tau == "auto" else float(est.tau)), None
    if est.tau == "auto":
        tr, va = grouped_validation_split(
            y, material, est.holdout_fraction, seed_from(est.random_state)
        )
        if va.size:
            held = sorted(set(material[va].tolist()))
            in_va = frame[groups].astype(str).isin(held)
            probe = fit_dask_model(
                est._template(), client, frame[~in_va], feature_names, label=label, groups=groups
            )
            va_rows = frame[in_va]
            y_va = va_rows[label].compute().to_numpy()
            proba = np.zeros((len(y_va), len(classes)))
            proba[:, np.searchsorted(classes, probe.classes_)] = (
                predict_proba_frame(probe, va_rows, feature_names).compute().to_numpy()
            )
            prior = est._prior(y[tr], classes, None)
            est.tau_, est.tuning_ = select_tau(
                y_va, proba, classes, prior, est.taus, est.top1_tolerance
            )
            if not refit:
                base, fit_y = probe, y[tr]
        else:
            logger.warning("too few groups to hold out for tau: using tau=0")
    if base is None:
        base = fit_dask_model(
            est._template(), client, frame, feature_names, label=label, groups=groups
        )
    est.n_features_in_ = len(feature_names)
    return est.set_base(base, fit_y, classes)


def fit_dask_model(
    estimator, client, frame, feature_names, *, label="space_group", groups="material"
):
    """Fit a model of the XGBoost-only kinds on the rows of a Dask DataFrame, in place.

    Parameters
    ----------
    estimator : SpaceGroupClassifier, SystemGatedClassifier or LogitAdjustedClassifier
        Unfitted; the wrappers' stages must themselves be of these kinds (``None``
        stages mean :class:`SpaceGroupClassifier`).
    client : distributed.Client
    frame : dask.dataframe.DataFrame
        Training rows: the feature columns, ``label`` and ``groups``.
    feature_names : list of str
    label, groups : str
        Columns of the labels and of the material ids.

    Returns
    -------
    estimator
        Fitted, with the attributes a local ``fit`` gives.

    Raises
    ------
    TypeError
        An estimator (or stage) that does not train on Dask.
    """
    if type(estimator) is SpaceGroupClassifier:
        return fit_dask(estimator, client, frame, feature_names, label=label, groups=groups)
    if type(estimator) is SystemGatedClassifier:
        for stage in (estimator.estimator, estimator.system_estimator):
            _check_stage(stage)
        if not float(estimator.system_power) > 0:
            raise ValueError(f"system_power must be > 0, got {estimator.system_power!r}")
        classes = np.unique(frame[label].compute().to_numpy())
        return _fit_gated(estimator, client, frame, feature_names, label, groups, classes)
    if type(estimator) is LogitAdjustedClassifier:
        _check_stage(estimator.estimator, wrappers=(SystemGatedClassifier,))
        keys = frame[[label, groups]].compute()
        return _fit_logit(estimator, client, frame, feature_names, label, groups, keys)
    raise TypeError(f"{type(estimator).__name__} does not train on Dask")


def _check_stage(stage, wrappers=()):
    if stage is None or type(stage) is SpaceGroupClassifier:
        return
    if type(stage) in wrappers:
        for inner in (stage.estimator, stage.system_estimator):
            _check_stage(inner)
        return
    raise TypeError(f"a {type(stage).__name__} stage does not train on Dask")


def _proba_part(part, model, feature_names, n_classes):
    """One partition's class probabilities as a DataFrame (no rows: an empty one)."""
    import pandas as pd

    columns = list(range(n_classes))
    if not len(part):
        return pd.DataFrame(np.zeros((0, n_classes)), columns=columns, index=part.index)
    X = part[list(feature_names)].to_numpy(dtype=np.float32)
    return pd.DataFrame(model.predict_proba(X), columns=columns, index=part.index)


def predict_proba_frame(model, frame, feature_names):
    """Class probabilities of any fitted model on a Dask DataFrame's rows, on the workers.

    Parameters
    ----------
    model : fitted classifier
        Reads the ``feature_names`` columns in this order.
    frame : dask.dataframe.DataFrame
    feature_names : list of str

    Returns
    -------
    dask.dataframe.DataFrame
        (n, K) probabilities over ``model.classes_``, columns 0..K-1.
    """
    import pandas as pd

    k = len(model.classes_)
    meta = pd.DataFrame({c: pd.Series(dtype=np.float64) for c in range(k)})
    return frame.map_partitions(_proba_part, model, list(feature_names), k, meta=meta)
