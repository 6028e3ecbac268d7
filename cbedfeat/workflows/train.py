"""Training orchestration: feature table in, validated model bundle out.

:func:`train_model` reads a feature table, keeps the labelled rows of split ``train``
(rows of unlabelled samples are left out and counted, see
:func:`cbedfeat.data.table.labelled_rows`), fits the
chosen estimator on the pattern features (never on a label or target column, see
:func:`cbedfeat.data.table.check_no_leak`), measures it on the ``dev`` rows (or, when the
table has none, on a material-grouped hold-out of the training rows), and saves a
:mod:`bundle <cbedfeat.models.bundle>` with the training metadata.

Models are built through :data:`TRAINERS`, a dict from the command-line name to a
factory ``f(*, weighting, device, random_state, **params) -> estimator``; another model
joins the command line with one :func:`register_trainer` call. The module imports only
the standard library at the top, so the command line can list the names cheaply.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from cbedfeat.data.splits import DEFAULT_HOLDOUT_FRACTION, holdout_split
from cbedfeat.data.table import data_fingerprint, read_table

logger = logging.getLogger(__name__)

# Identity and label columns whose values define the training data's fingerprint.


def _make_model_factory(name: str) -> Callable[..., Any]:
    def factory(**kwargs: Any) -> Any:
        from cbedfeat.models import make_model

        return make_model(name, **kwargs)

    factory.__name__ = f"make_{name}"
    return factory


TRAINERS: dict[str, Callable[..., Any]] = {
    name: _make_model_factory(name)
    for name in ("xgb", "brf", "bagging", "easy", "rusboost", "hierarchical", "logit", "gated",
                 "gated-logit", "blend", "gated-blend-logit")
}


def _make_multitask(**kwargs: Any) -> Any:
    from cbedfeat.models.multitask import MultiTaskCBEDModel

    n_estimators = kwargs.pop("n_estimators", None)  # --n-estimators: the stage-2 classifier's
    if n_estimators is not None:
        kwargs["classifier_params"] = {**(kwargs.get("classifier_params") or {}),
                                       "n_estimators": n_estimators}
    return MultiTaskCBEDModel(**kwargs)


TRAINERS["multitask"] = _make_multitask


def register_trainer(name: str, factory: Callable[..., Any]) -> None:
    """Make ``factory(*, weighting, device, random_state, **params)`` trainable as ``name``."""
    TRAINERS[name] = factory


def build_model(
    name: str, *, weighting: str = "balanced", device: str = "auto", seed: int = 0,
    params: Mapping[str, Any] | None = None,
) -> Any:
    """An unfitted estimator from :data:`TRAINERS`."""
    if name not in TRAINERS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(TRAINERS)}")
    return TRAINERS[name](weighting=weighting, device=device, random_state=seed, **dict(params or {}))


@dataclass
class TrainResult:
    """What :func:`train_model` did.

    Attributes
    ----------
    bundle_path : Path
    model : fitted estimator
    validation : dict
        Summary metrics on the validation rows (see :func:`cbedfeat.metrics.classification.summary_metrics`).
    training : dict
        The training metadata saved in the bundle.
    fit_seconds : float
    """

    bundle_path: Path
    model: Any
    validation: dict[str, Any]
    training: dict[str, Any] = field(default_factory=dict)
    fit_seconds: float = 0.0


def fit_and_validate(
    table: Any,
    feature_names: list[str],
    *,
    model: str = "xgb",
    weighting: str = "balanced",
    device: str = "auto",
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
    train_split: str = "train",
    holdout_fraction: float = DEFAULT_HOLDOUT_FRACTION,
    rare_threshold: int | None = None,
) -> tuple[Any, dict[str, Any], float]:
    """Fit on the ``train_split`` rows and validate on ``dev`` or a grouped hold-out.

    Only labelled rows are used; ``training["n_unlabelled_left_out"]`` says how many
    rows of the table were left out.

    Returns
    -------
    estimator : fitted estimator
    training : dict
        JSON-ready training metadata, validation metrics included.
    fit_seconds : float
    """
    import numpy as np

    from cbedfeat.data.table import check_no_leak, labelled_rows
    from cbedfeat.metrics.classification import (
        DEFAULT_RARE_THRESHOLD,
        class_training_counts,
        evaluate_predictions,
        summary_metrics,
    )
    from cbedfeat.models.targets import LATTICE_COLUMNS, predicts_lattice, table_regression_errors

    check_no_leak(feature_names)
    table, n_unlabelled = labelled_rows(table, "training")
    rare_threshold = DEFAULT_RARE_THRESHOLD if rare_threshold is None else rare_threshold
    split = table["split"].astype(str)
    train = table[split == train_split]
    if train.empty:
        raise ValueError(f"the table has no rows of split {train_split!r} "
                         f"(splits present: {sorted(split.unique())})")
    dev = table[split == "dev"]
    if len(dev):
        fit_rows, val_rows, source = train, dev, "dev"
    else:
        fit_mask, val_mask = holdout_split(train["space_group"].to_numpy(), train["material"].to_numpy(),
                                           fraction=holdout_fraction, seed=seed)
        fit_rows, val_rows, source = train[fit_mask], train[val_mask], "holdout"
    X = fit_rows.loc[:, feature_names].to_numpy(dtype=np.float64)
    y = fit_rows["space_group"].to_numpy(dtype=np.int64)
    groups = fit_rows["material"].astype(str).to_numpy()
    estimator = build_model(model, weighting=weighting, device=device, seed=seed, params=params)
    fit_kwargs: dict[str, Any] = {"groups": groups}
    if getattr(estimator, "needs_targets", False):  # multi-task: the lattice is a stage-1 target
        fit_kwargs["targets"] = fit_rows.loc[:, list(LATTICE_COLUMNS)]
    start = time.perf_counter()
    estimator.fit(X, y, **fit_kwargs)
    fit_seconds = time.perf_counter() - start
    counts = class_training_counts(y, groups)
    validation: dict[str, Any] = {"source": source, "n_samples": len(val_rows)}
    if len(val_rows):
        proba = estimator.predict_proba(val_rows.loc[:, feature_names].to_numpy(dtype=np.float64))
        metrics = evaluate_predictions(val_rows["space_group"].to_numpy(), proba, estimator.classes_,
                                       train_counts=counts, rare_threshold=rare_threshold)
        validation.update(summary_metrics(metrics))
        validation["unseen_classes"] = metrics["unseen"]["classes"]
        if predicts_lattice(estimator):
            validation["regression"] = table_regression_errors(val_rows, estimator.predict_targets(
                val_rows.loc[:, feature_names].to_numpy(dtype=np.float64)))
    if source == "holdout":
        validation["fraction"] = holdout_fraction
    training = {
        "model": model,
        "weighting": weighting,
        "seed": seed,
        "params": dict(params or {}),
        "device_requested": device,
        "device_used": getattr(estimator, "device_used_", None),
        "best_iteration": getattr(estimator, "best_iteration_", None),
        "split": train_split,
        "data_fingerprint": data_fingerprint(train),
        "n_train_samples": len(fit_rows),
        "n_unlabelled_left_out": n_unlabelled,
        "n_train_materials": int(np.unique(groups).size),
        "class_counts": {str(k): v for k, v in counts.items()},
        "rare_threshold_materials": rare_threshold,
        "validation": validation,
    }
    logger.info("fitted %s (%s weighting) on %d rows in %.1f s; device %s", model, weighting,
                len(fit_rows), fit_seconds, training["device_used"])
    return estimator, training, fit_seconds


def train_model(
    features: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    model: str = "xgb",
    weighting: str = "balanced",
    device: str = "auto",
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
    holdout_fraction: float = DEFAULT_HOLDOUT_FRACTION,
    rare_threshold: int | None = None,
    calibration_fraction: float | None = None,
) -> TrainResult:
    """Train a model on a feature table's ``train`` rows and save it as a bundle.

    Parameters
    ----------
    features : path
        Feature table (Parquet).
    out : path
        Bundle directory to write (see :func:`cbedfeat.models.bundle.save_bundle`).
    model : str
        A key of :data:`TRAINERS`.
    weighting : {"none", "balanced", "sqrt", "effective"}
    device : {"auto", "cpu", "cuda"}
    seed : int
    params : mapping, optional
        Extra estimator parameters (e.g. ``n_estimators``).
    holdout_fraction : float
        Share of training materials held out for validation when the table has no
        ``dev`` rows.
    rare_threshold : int, optional
        Rare classes have fewer training materials than this.
    calibration_fraction : float, optional
        When given, this share of the training materials is held out (never fitted
        on) to fit a temperature and conformal scores, stored in the bundle
        (:mod:`cbedfeat.workflows.calibrate`).

    Returns
    -------
    TrainResult
    """
    from cbedfeat.models.bundle import save_bundle

    table, meta = read_table(features)
    names = list(meta["feature_names"])
    calibration = None
    if calibration_fraction is not None:
        from cbedfeat.data.table import labelled_rows
        from cbedfeat.workflows.calibrate import mark_calibration_rows

        table, _ = labelled_rows(table, "calibration")
        table, split, train_rows = mark_calibration_rows(table, fraction=calibration_fraction, seed=seed)
    estimator, training, seconds = fit_and_validate(
        table, names, model=model, weighting=weighting, device=device,
        seed=seed, params=params, holdout_fraction=holdout_fraction, rare_threshold=rare_threshold,
    )
    training["features_file"] = PurePath(features).name
    if calibration_fraction is not None:
        from cbedfeat.workflows.calibrate import fit_calibration

        calibration = fit_calibration(estimator, names, train_rows[split.temperature],
                                      train_rows[split.conformal],
                                      info={"fraction": calibration_fraction, "seed": seed}).to_dict()
    path = save_bundle(out, estimator, feature_names=names,
                       feature_config=meta["feature_config"], feature_version=meta["feature_version"],
                       training=training, calibration=calibration)
    return TrainResult(path, estimator, training["validation"], training, seconds)
