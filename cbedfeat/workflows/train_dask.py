"""Training on a Dask cluster: Parquet parts in, the same bundle as a local training out.

:func:`train_model_dask` is :func:`cbedfeat.workflows.train.train_model` for a feature
table too large for one process: it reads the table (a Parquet file, or the parts
directory ``cbedfeat extract`` writes) with ``dask.dataframe.read_parquet``, keeps the
labelled rows of split ``train`` partition by partition, and trains every XGBoost stage
with ``xgboost.dask`` (:func:`cbedfeat.models.dask_models.fit_dask_model`), so the feature
matrix is never gathered on one process. Only small columns (labels, materials, file and group
names) and the validation rows' probabilities come to the calling process. Validation
runs on the ``dev`` rows or, without any, on the same material-grouped hold-out as the
local path (:func:`cbedfeat.data.splits.holdout_split`); the bundle is written by
:func:`cbedfeat.models.bundle.save_bundle` as a local one is.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

from cbedfeat.data.splits import DEFAULT_HOLDOUT_FRACTION, holdout_split
from cbedfeat.data.table import (
    META_FEATURE_CONFIG,
    META_FEATURE_NAMES,
    META_FEATURE_VERSION,
    check_no_leak,
    data_fingerprint,
    feature_columns,
    labelled_mask,
)
from cbedfeat.models.bundle import save_bundle
from cbedfeat.models.registry import DEFAULT_WEIGHTING
from cbedfeat.workflows.train import TrainResult, build_model, validation_summary

logger = logging.getLogger(__name__)

#: Models of the registry that train on Dask: those whose every stage is an XGBoost booster
#: (:mod:`cbedfeat.models.dask_models`); the blends' extremely randomised trees are not.
DASK_MODELS: tuple[str, ...] = ("xgb", "gated", "logit", "gated-logit")


def table_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Feature names, config and version from the schema of a table or of its first part.

    Parameters
    ----------
    path : path
        A Parquet file or a directory of Parquet parts.

    Returns
    -------
    dict
        ``feature_names``, ``feature_config``, ``feature_version`` (None when absent).
    """
    import pyarrow.parquet as pq

    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.glob("*.parquet") if not p.name.startswith((".", "_")))
        if not files:
            raise FileNotFoundError(f"{path}: no Parquet parts")
        path = files[0]
    schema = pq.read_schema(path)
    raw = schema.metadata or {}

    def get(key):
        return json.loads(raw[key]) if key in raw else None

    names = get(META_FEATURE_NAMES) or feature_columns(schema.names)
    return {
        "feature_names": list(names),
        "feature_config": get(META_FEATURE_CONFIG),
        "feature_version": get(META_FEATURE_VERSION),
    }


def _labelled_part(part):
    """The labelled rows of one partition (:func:`cbedfeat.data.table.labelled_mask`)."""

    return part[labelled_mask(part)]


@contextlib.contextmanager
def dask_client(scheduler: Any, workers: int | None = None):
    """A ``distributed.Client``: given, to a scheduler address, or on a new LocalCluster.

    Parameters
    ----------
    scheduler : "local", str or distributed.Client
        ``"local"`` starts a ``LocalCluster`` (one thread per worker) and closes it on exit;
        an address connects to a running scheduler; a client is used as it is (not closed).
    workers : int, optional
        Workers of a local cluster (default: the cluster's).

    Yields
    ------
    distributed.Client
    """
    from distributed import Client, LocalCluster

    if not isinstance(scheduler, str):
        yield scheduler
        return
    if scheduler != "local":
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        yield client


def train_model_dask(
    features: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    scheduler: Any = "local",
    model: str = "xgb",
    weighting: str = DEFAULT_WEIGHTING,
    device: str = "auto",
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
    holdout_fraction: float = DEFAULT_HOLDOUT_FRACTION,
    rare_threshold: int | None = None,
    workers: int | None = None,
):
    """Train a model of :data:`DASK_MODELS` on a Dask cluster and save it as a bundle.

    Parameters
    ----------
    features : path
        Feature table (Parquet) or the directory of Parquet parts ``extract`` wrote.
    out : path
        Bundle directory to write.
    scheduler : "local", str or distributed.Client
        See :func:`dask_client`.
    model : str
        One of :data:`DASK_MODELS`.
    weighting, device, seed, params, holdout_fraction, rare_threshold
        As for :func:`cbedfeat.workflows.train.train_model`.
    workers : int, optional
        Workers of a ``"local"`` cluster.

    Returns
    -------
    cbedfeat.workflows.train.TrainResult

    Raises
    ------
    ValueError
        A model that does not train on Dask, or a table without training rows.
    """
    import dask.dataframe as dd
    import numpy as np

    from cbedfeat.metrics.classification import DEFAULT_RARE_THRESHOLD, class_training_counts
    from cbedfeat.models.dask_models import fit_dask_model, predict_proba_frame

    if model not in DASK_MODELS:
        raise ValueError(f"model {model!r} does not train on Dask; choose one of {DASK_MODELS}")
    meta = table_metadata(features)
    names = meta["feature_names"]
    check_no_leak(names)
    estimator = build_model(model, weighting=weighting, device=device, seed=seed, params=params)
    rare_threshold = DEFAULT_RARE_THRESHOLD if rare_threshold is None else rare_threshold
    with dask_client(scheduler, workers) as client:
        frame = dd.read_parquet(str(features))
        labelled = frame.map_partitions(_labelled_part, meta=frame._meta)
        n_unlabelled = int(len(frame) - len(labelled))
        train = labelled[labelled["split"].astype(str) == "train"]
        key_cols = [c for c in ("file", "group", "material", "space_group") if c in frame.columns]
        keys = train[key_cols].compute().reset_index(drop=True)
        if keys.empty:
            raise ValueError(f"{features}: the table has no labelled rows of split 'train'")
        dev = labelled[labelled["split"].astype(str) == "dev"]
        n_dev = int(len(dev))
        if n_dev:
            fit_rows, val_rows, source, fit_keys = train, dev, "dev", keys
        else:
            fit_mask, val_mask = holdout_split(
                keys["space_group"].to_numpy(),
                keys["material"].astype(str).to_numpy(),
                fraction=holdout_fraction,
                seed=seed,
            )
            held = sorted(set(keys["material"].astype(str)[val_mask]))
            in_val = train["material"].astype(str).isin(held)
            fit_rows, val_rows, source, fit_keys = (
                train[~in_val],
                train[in_val],
                "holdout",
                keys[fit_mask],
            )
        start = time.perf_counter()
        fit_dask_model(estimator, client, fit_rows, names)
        fit_seconds = time.perf_counter() - start
        y_val = val_rows["space_group"].compute().to_numpy()
        proba = (
            predict_proba_frame(estimator, val_rows, names).compute().to_numpy()
            if len(y_val)
            else None
        )
    y = fit_keys["space_group"].to_numpy(dtype=np.int64)
    groups = fit_keys["material"].astype(str).to_numpy()
    counts = class_training_counts(y, groups)
    validation = validation_summary(
        source, y_val, proba, estimator.classes_, counts, rare_threshold
    )
    if source == "holdout":
        validation["fraction"] = holdout_fraction
    training = {
        "model": model,
        "weighting": weighting,
        "seed": seed,
        "params": dict(params or {}),
        "device_requested": device,
        "device_used": estimator.device_used_,
        "best_iteration": getattr(estimator, "best_iteration_", None),
        "split": "train",
        "data_fingerprint": data_fingerprint(keys),
        "n_train_samples": int(len(fit_keys)),
        "n_unlabelled_left_out": n_unlabelled,
        "n_train_materials": int(np.unique(groups).size),
        "class_counts": {str(k): v for k, v in counts.items()},
        "rare_threshold_materials": rare_threshold,
        "validation": validation,
        "features_file": PurePath(features).name,
        "trained_on": "dask",
    }
    logger.info("fitted %s on Dask on %d rows in %.1f s", model, len(fit_keys), fit_seconds)
    path = save_bundle(
        out,
        estimator,
        feature_names=names,
        feature_config=meta["feature_config"],
        feature_version=meta["feature_version"],
        training=training,
    )
    return TrainResult(path, estimator, validation, training, fit_seconds)
