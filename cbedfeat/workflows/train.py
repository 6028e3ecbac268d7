"""Training: one path for every model, feature table (or HDF5 files) in, bundle out.

:func:`train_model` reads the training data, keeps the labelled rows of split ``train``
(rows of unlabelled samples are left out and counted, see
:func:`cbedfeat.data.table.labelled_rows`), fits the chosen model of the
:mod:`registry <cbedfeat.models.registry>` (feature models on the pattern features,
never on a label or target column, see :func:`cbedfeat.data.table.check_no_leak`; the
CNN on the stacks the table's ``file``/``group`` columns point to), measures it on the
``dev`` rows (or, when there are none, on a material-grouped hold-out of the training
rows), and saves a :mod:`bundle <cbedfeat.models.bundle>` with the training metadata.

What a model reads comes from its :class:`~cbedfeat.models.registry.ModelSpec`
(``inputs``): the feature matrix, the features and the lattice targets (multi-task), or
the raw stacks (CNN; data loading in :mod:`cbedfeat.models.cnn_data`). A model whose
``fit`` takes ``eval_set`` (the CNN: its epoch is chosen on it) gets the validation rows.
The module imports only the standard library and light cbedfeat modules at the top.
"""

from __future__ import annotations

import inspect
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from cbedfeat.data.splits import DEFAULT_HOLDOUT_FRACTION, holdout_split
from cbedfeat.data.table import check_no_leak, data_fingerprint, labelled_rows, read_table
from cbedfeat.models.bundle import save_bundle
from cbedfeat.models.registry import (
    DEFAULT_MODEL,
    DEFAULT_WEIGHTING,
    STACK_INPUTS,
    get_spec,
    make_model,
)

logger = logging.getLogger(__name__)


def build_model(
    name: str,
    *,
    weighting: str = DEFAULT_WEIGHTING,
    device: str = "auto",
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
) -> Any:
    """An unfitted estimator of the registry (:func:`cbedfeat.models.registry.make_model`).

    Raises
    ------
    ValueError
        Unknown model name.
    ImportError
        The model needs an optional dependency that is missing (the message names the
        extra to install).
    """
    spec = get_spec(name)
    try:
        return make_model(
            name, weighting=weighting, device=device, random_state=seed, **dict(params or {})
        )
    except ImportError as exc:
        if spec.extra is None:
            raise
        raise ImportError(
            f"the {name} model needs the {spec.extra!r} extra "
            f"(pip install 'cbedfeat[{spec.extra}]'): {exc}"
        ) from exc


def _needs_targets(estimator: Any) -> bool:
    """Whether ``fit`` needs the lattice targets (multi-task models)."""
    return bool(
        getattr(estimator, "needs_targets", False) or getattr(estimator, "multitask", False)
    )


def _input_reader(estimator: Any, feature_names: list[str]) -> Callable[[Any], Any]:
    """rows -> what the model reads: the feature matrix, or the rows themselves (stacks)."""
    import numpy as np

    if getattr(estimator, "reads_stacks", False):
        return lambda rows: rows.reset_index(drop=True)
    # float32: what every estimator fits on (the table stores float32), without a float64
    # copy of the whole matrix on the way.
    return lambda rows: rows.loc[:, feature_names].to_numpy(dtype=np.float32)


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


def validation_summary(
    source: str,
    y_true: Any,
    proba: Any,
    classes: Any,
    train_counts: Mapping[int, Any],
    rare_threshold: int,
) -> dict[str, Any]:
    """The ``validation`` record of the training metadata.

    Parameters
    ----------
    source : {"dev", "holdout"}
        Where the validation rows come from.
    y_true : (n,) array-like
        Their labels.
    proba : (n, K) array-like or None
        The model's probabilities over ``classes`` (None when ``n`` is 0).
    classes : (K,) array-like
    train_counts : mapping
        :func:`cbedfeat.metrics.classification.class_training_counts` of the fitted rows.
    rare_threshold : int

    Returns
    -------
    dict
        ``source``, ``n_samples`` and, with rows, the summary metrics and ``unseen_classes``.
    """
    from cbedfeat.metrics.classification import evaluate_predictions, summary_metrics

    validation: dict[str, Any] = {"source": source, "n_samples": len(y_true)}
    if len(y_true):
        metrics = evaluate_predictions(
            y_true, proba, classes, train_counts=train_counts, rare_threshold=rare_threshold
        )
        validation.update(summary_metrics(metrics))
        validation["unseen_classes"] = metrics["unseen"]["classes"]
    return validation


def fit_and_validate(
    table: Any,
    feature_names: list[str],
    *,
    model: str = DEFAULT_MODEL,
    weighting: str = DEFAULT_WEIGHTING,
    device: str = "auto",
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
    train_split: str = "train",
    holdout_fraction: float = DEFAULT_HOLDOUT_FRACTION,
    rare_threshold: int | None = None,
    data_root: str | os.PathLike[str] | None = None,
) -> tuple[Any, dict[str, Any], float]:
    """Fit on the ``train_split`` rows and validate on ``dev`` or a grouped hold-out.

    Only labelled rows are used; ``training["n_unlabelled_left_out"]`` says how many
    rows of the table were left out.

    Parameters
    ----------
    table : DataFrame
        Feature table, or for a model that reads stacks any table with ``file``,
        ``group``, ``material``, ``split`` and ``space_group`` columns.
    feature_names : list of str
        The model's input columns (empty for a model that reads stacks).
    model : str
        A name of the registry (:data:`cbedfeat.models.registry.MODELS`).
    weighting, device, seed, params, holdout_fraction, rare_threshold
        See :func:`train_model`.
    train_split : str
        Split of the rows to fit on.
    data_root : path, optional
        Stack-reading models: where the HDF5 files of the table's bare ``file`` names
        are (saved with the model, so ``cbedfeat evaluate`` finds them).

    Returns
    -------
    estimator : fitted estimator
    training : dict
        JSON-ready training metadata, validation metrics included.
    fit_seconds : float
    """
    import numpy as np

    from cbedfeat.metrics.classification import DEFAULT_RARE_THRESHOLD, class_training_counts
    from cbedfeat.models.targets import LATTICE_COLUMNS, predicts_lattice, table_regression_errors

    check_no_leak(feature_names)
    estimator = build_model(model, weighting=weighting, device=device, seed=seed, params=params)
    if data_root is not None and "data_root" in estimator.get_params():
        if estimator.get_params()["data_root"] is None:
            estimator.set_params(data_root=str(Path(data_root).resolve()))
    if getattr(estimator, "reads_features", False) and not estimator.get_params()["feature_names"]:
        estimator.set_params(feature_names=list(feature_names))  # it reads the table itself
    table, n_unlabelled = labelled_rows(table, "training")
    rare_threshold = DEFAULT_RARE_THRESHOLD if rare_threshold is None else rare_threshold
    split = table["split"].astype(str)
    train = table[split == train_split]
    if train.empty:
        raise ValueError(
            f"the table has no rows of split {train_split!r} "
            f"(splits present: {sorted(split.unique())})"
        )
    dev = table[split == "dev"]
    if len(dev):
        fit_rows, val_rows, source = train, dev, "dev"
    else:
        fit_mask, val_mask = holdout_split(
            train["space_group"].to_numpy(),
            train["material"].to_numpy(),
            fraction=holdout_fraction,
            seed=seed,
        )
        fit_rows, val_rows, source = train[fit_mask], train[val_mask], "holdout"
    inputs = _input_reader(estimator, feature_names)
    y = fit_rows["space_group"].to_numpy(dtype=np.int64)
    groups = fit_rows["material"].astype(str).to_numpy()
    accepted = inspect.signature(estimator.fit).parameters
    lattice = list(LATTICE_COLUMNS)
    fit_kwargs: dict[str, Any] = {}
    if "groups" in accepted:
        fit_kwargs["groups"] = groups
    if _needs_targets(estimator):  # multi-task: the lattice is a target too
        fit_kwargs["targets"] = fit_rows.loc[:, lattice]
    if "eval_set" in accepted and len(val_rows):  # e.g. the CNN's epoch selection
        fit_kwargs["eval_set"] = (
            inputs(val_rows),
            val_rows["space_group"].to_numpy(dtype=np.int64),
            *([val_rows.loc[:, lattice]] if "targets" in fit_kwargs else []),
        )
    start = time.perf_counter()
    estimator.fit(inputs(fit_rows), y, **fit_kwargs)
    fit_seconds = time.perf_counter() - start
    counts = class_training_counts(y, groups)
    proba = estimator.predict_proba(inputs(val_rows)) if len(val_rows) else None
    validation = validation_summary(
        source,
        val_rows["space_group"].to_numpy(),
        proba,
        estimator.classes_,
        counts,
        rare_threshold,
    )
    if len(val_rows):
        if predicts_lattice(estimator):
            validation["regression"] = table_regression_errors(
                val_rows, estimator.predict_targets(inputs(val_rows))
            )
    if source == "holdout":
        validation["fraction"] = holdout_fraction
    device_used = getattr(estimator, "device_used_", None)
    if device_used is None and hasattr(estimator, "device_"):  # torch models
        device_used = str(estimator.device_.type)
    training = {
        "model": model,
        "weighting": weighting,
        "seed": seed,
        "params": dict(params or {}),
        "device_requested": device,
        "device_used": device_used,
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
    if hasattr(estimator, "best_epoch_"):
        training["best_epoch"] = int(estimator.best_epoch_)
    logger.info(
        "fitted %s (%s weighting) on %d rows in %.1f s; device %s",
        model,
        weighting,
        len(fit_rows),
        fit_seconds,
        training["device_used"],
    )
    return estimator, training, fit_seconds


def _read_training_data(features: str | os.PathLike[str], inputs: str):
    """(table, feature names, table metadata, data root) of a model's training input.

    ``inputs`` is the model's :data:`cbedfeat.models.registry.INPUTS` entry: a model
    that reads features and stacks gets the feature table and, as data root, the
    table's directory (where ``cbedfeat extract`` leaves bare file names pointing).
    """
    if inputs not in STACK_INPUTS:
        table, meta = read_table(features)
        return table, list(meta["feature_names"]), meta, None
    if inputs == "features+stacks":
        if not str(features).endswith(".parquet"):
            raise ValueError(
                f"{features}: a model that reads features and stacks trains on a feature "
                "table (.parquet) whose file/group columns point to the stacks"
            )
        table, meta = read_table(features)
        return table, list(meta["feature_names"]), meta, Path(features).resolve().parent
    try:
        from cbedfeat.models.cnn_data import load_index
    except ImportError as exc:
        raise ImportError(
            f"reading stacks needs the 'cnn' extra (pip install 'cbedfeat[cnn]'): {exc}"
        ) from exc
    table, root = load_index(features)
    return table, [], {"feature_config": None, "feature_version": None}, root


def train_model(
    features: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    model: str = DEFAULT_MODEL,
    weighting: str = DEFAULT_WEIGHTING,
    device: str = "auto",
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
    holdout_fraction: float = DEFAULT_HOLDOUT_FRACTION,
    rare_threshold: int | None = None,
    calibration_fraction: float | None = None,
    data_root: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """Train a model of the registry and save it as a bundle.

    Parameters
    ----------
    features : path
        Feature table (Parquet). A model that reads stacks (``cnn``) also takes HDF5
        files or a directory of them.
    out : path
        Bundle directory to write (see :func:`cbedfeat.models.bundle.save_bundle`).
    model : str
        A name of :data:`cbedfeat.models.registry.MODELS`; default
        :data:`~cbedfeat.models.registry.DEFAULT_MODEL`.
    weighting : {"none", "balanced", "sqrt", "effective"}
        Default :data:`~cbedfeat.models.registry.DEFAULT_WEIGHTING`.
    device : {"auto", "cpu", "cuda"}
    seed : int
    params : mapping, optional
        Extra estimator parameters (e.g. ``n_estimators``, ``epochs``).
    holdout_fraction : float
        Share of training materials held out for validation when the table has no
        ``dev`` rows.
    rare_threshold : int, optional
        Rare classes have fewer training materials than this.
    calibration_fraction : float, optional
        When given, this share of the training materials is held out (never fitted
        on) to fit a temperature and conformal scores, stored in the bundle
        (:mod:`cbedfeat.workflows.calibrate`).
    data_root : path, optional
        Stack-reading models: where the HDF5 files of a table's bare ``file`` names are
        (default: the table's directory, or that of the HDF5 inputs).

    Returns
    -------
    TrainResult
    """

    table, names, meta, root = _read_training_data(features, get_spec(model).inputs)
    calibration = None
    if calibration_fraction is not None:
        from cbedfeat.data.table import labelled_rows
        from cbedfeat.workflows.calibrate import mark_calibration_rows

        table, _ = labelled_rows(table, "calibration")
        table, split, train_rows = mark_calibration_rows(
            table, fraction=calibration_fraction, seed=seed
        )
    estimator, training, seconds = fit_and_validate(
        table,
        names,
        model=model,
        weighting=weighting,
        device=device,
        seed=seed,
        params=params,
        holdout_fraction=holdout_fraction,
        rare_threshold=rare_threshold,
        data_root=data_root if data_root is not None else root,
    )
    training["features_file"] = PurePath(features).name
    if calibration_fraction is not None:
        from cbedfeat.workflows.calibrate import fit_calibration

        calibration = fit_calibration(
            estimator,
            names,
            train_rows[split.temperature],
            train_rows[split.conformal],
            info={"fraction": calibration_fraction, "seed": seed},
            seed=seed,
        ).to_dict()
    path = save_bundle(
        out,
        estimator,
        feature_names=names,
        feature_config=meta["feature_config"],
        feature_version=meta["feature_version"],
        training=training,
        calibration=calibration,
    )
    return TrainResult(path, estimator, training["validation"], training, seconds)
