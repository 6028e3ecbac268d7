"""Train :class:`~cbedfeat.models.boosting.SpaceGroupClassifier` on a Dask cluster.

:func:`fit_dask` is the distributed twin of ``SpaceGroupClassifier.fit``: the feature
matrix stays in the partitions of a ``dask.dataframe`` (e.g. the Parquet parts that
``cbedfeat extract`` writes, read with ``dask.dataframe.read_parquet``) and
``xgboost.dask`` builds its quantile matrices on the workers and trains there. Only the
label and material columns (two small columns) come to the calling process: the label
encoding, the class weights and the material-grouped early-stopping hold-out are
computed from them exactly as the local fit does
(:func:`~cbedfeat.models.fitting.grouped_validation_split` with the same seed), so both
train on the same rows with the same weights and stop on the same materials.

The result is an ordinary fitted ``SpaceGroupClassifier`` (its booster is a plain
``xgboost.Booster``), saved and loaded by :mod:`cbedfeat.models.bundle` like a local one.
"""

from __future__ import annotations

import logging

import numpy as np

from cbedfeat.models.boosting import (
    SCREEN_ROUNDS,
    SCREEN_ROWS,
    SpaceGroupClassifier,
    gain_ranking,
    screened_columns,
)
from cbedfeat.models.fitting import grouped_validation_split, resolve_device, seed_from
from cbedfeat.models.weights import class_weight_table

logger = logging.getLogger(__name__)

__all__ = ["dask_features", "fit_dask"]


def _encoded(part, classes, class_weight, scale):
    """Partition of labels -> DataFrame of the encoded label and its weight.

    Parameters
    ----------
    part : pandas.Series
        Labels, each in ``classes``.
    classes : (K,) ndarray
        Sorted labels.
    class_weight : (K,) ndarray
        Weight of each encoded class.
    scale : float
        Divides the weights.

    Returns
    -------
    pandas.DataFrame
        ``label`` (int32, 0..K-1) and ``weight`` (float64), on ``part``'s index.
    """
    import pandas as pd

    codes = np.searchsorted(classes, part.to_numpy())
    weight = np.asarray(class_weight, dtype=np.float64)[codes] / scale
    return pd.DataFrame({"label": codes.astype(np.int32), "weight": weight}, index=part.index)


def dask_features(frame, feature_names):
    """The feature columns of a Dask DataFrame as float32 (lazily, partition by partition).

    Parameters
    ----------
    frame : dask.dataframe.DataFrame
    feature_names : list of str

    Returns
    -------
    dask.dataframe.DataFrame
    """
    return frame[list(feature_names)].astype(np.float32)


def fit_dask(
    estimator: SpaceGroupClassifier,
    client,
    frame,
    feature_names,
    *,
    label: str = "space_group",
    groups: str = "material",
) -> SpaceGroupClassifier:
    """Fit ``estimator`` with ``xgboost.dask`` on the rows of a Dask DataFrame.

    Parameters
    ----------
    estimator : SpaceGroupClassifier
        Its parameters configure the fit (``sample_weight`` is not supported); it is
        fitted in place and returned.
    client : distributed.Client
    frame : dask.dataframe.DataFrame
        Training rows: the feature columns, ``label`` and ``groups``.
    feature_names : list of str
        Input columns, in model order.
    label, groups : str
        Columns of the labels (space groups) and of the material ids.

    Returns
    -------
    SpaceGroupClassifier
        Fitted; ``n_features_in_`` is ``len(feature_names)``.

    Raises
    ------
    ValueError
        Fewer than two classes.
    """
    import xgboost as xgb
    from xgboost import dask as dxgb

    est = estimator
    keys = frame[[label, groups]].compute()  # the two small columns, never the features
    y = keys[label].to_numpy()
    classes, y_enc = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"{type(est).__name__} needs at least 2 classes, got {classes.tolist()}")
    material = keys[groups].astype(str).to_numpy()
    seed = seed_from(est.random_state)
    stop = est.early_stopping_rounds is not None and est.validation_fraction
    if stop:
        tr, va = grouped_validation_split(y_enc, material, est.validation_fraction, seed)
    else:
        tr, va = np.arange(len(y)), np.arange(0)
    table = class_weight_table(y_enc[tr], est.weighting, beta=est.weight_beta, cap=est.weight_cap)
    full = np.zeros(len(classes))
    for code, weight in table.items():
        full[int(code)] = weight
    train_scale = float(np.mean(full[y_enc[tr]]))
    held = set(np.unique(material[va]).tolist())
    in_va = frame[groups].astype(str).isin(list(held)) if held else None
    parts = [("train", frame if in_va is None else frame[~in_va], train_scale)]
    if in_va is not None:
        parts.append(("validation", frame[in_va], train_scale if est.weight_validation else None))
    device = resolve_device(est.device)
    params = est._booster_params(len(classes), device, seed)
    cols = _screen(est, client, parts[0][1], feature_names, label, classes, params, tr.size, seed)
    kept = [feature_names[i] for i in cols]
    matrices = {}
    for name, rows, scale in parts:
        lab = rows[label].map_partitions(
            _encoded,
            classes,
            full if scale is not None else np.ones(len(classes)),
            scale if scale is not None else 1.0,
            meta={"label": np.int32, "weight": np.float64},
        )
        matrices[name] = dxgb.DaskQuantileDMatrix(
            client,
            dask_features(rows, kept),
            label=lab["label"],
            weight=lab["weight"],
            max_bin=est.max_bin,
            ref=matrices.get("train"),
        )
    evals = [(matrices["validation"], "validation")] if "validation" in matrices else None
    with xgb.config_context(verbosity=1):
        out = dxgb.train(
            client,
            params,
            matrices["train"],
            num_boost_round=int(est.n_estimators),
            evals=evals,
            early_stopping_rounds=int(est.early_stopping_rounds) if evals else None,
            verbose_eval=False,
        )
    booster = out["booster"]
    # The local fit trains on a nameless array: drop the column names the DataFrame gave,
    # so prediction takes arrays as it does for a locally trained booster.
    booster.feature_names = None
    booster.feature_types = None
    est.n_features_in_ = len(feature_names)
    est.features_ = cols
    return est._set_fitted(
        booster,
        classes,
        dict(out.get("history") or {}),
        stopped=evals is not None,
        n_train=tr.size,
        n_validation=va.size,
    )


def _screen(est, client, rows, feature_names, label, classes, params, n_rows, seed):
    """The columns to train on, chosen as the local fit chooses them, on the workers.

    A seeded draw of at most :data:`~cbedfeat.models.boosting.SCREEN_ROWS` training rows
    (unweighted: the screen only ranks columns) is boosted for
    :data:`~cbedfeat.models.boosting.SCREEN_ROUNDS` rounds with ``xgboost.dask`` and the
    columns ranked by total gain. The draw differs from the local one (Dask samples per
    partition), so the kept columns may differ in a few places.

    Returns
    -------
    (k,) int ndarray
        Ascending indices into ``feature_names``.
    """
    from xgboost import dask as dxgb

    n_features = len(feature_names)
    keep = est.screen_features
    if keep is None or int(keep) >= n_features:
        return np.arange(n_features)
    if int(keep) < 1:
        raise ValueError(f"screen_features must be >= 1 or None, got {keep!r}")
    frac = min(1.0, SCREEN_ROWS / max(n_rows, 1))
    drawn = rows if frac >= 1.0 else rows.sample(frac=frac, random_state=seed)
    lab = drawn[label].map_partitions(
        _encoded,
        classes,
        np.ones(len(classes)),
        1.0,
        meta={"label": np.int32, "weight": np.float64},
    )
    matrix = dxgb.DaskQuantileDMatrix(
        client, dask_features(drawn, feature_names), label=lab["label"], max_bin=est.max_bin
    )
    rounds = min(SCREEN_ROUNDS, int(est.n_estimators))
    booster = dxgb.train(client, params, matrix, num_boost_round=rounds)["booster"]
    booster.feature_names = None  # rank by position (f0, f1 ...), as the local screen does
    return screened_columns(gain_ranking(booster, n_features), keep)
