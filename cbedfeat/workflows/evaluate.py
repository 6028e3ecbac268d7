"""Evaluate a model bundle on the labelled rows of a feature table."""

from __future__ import annotations

from typing import Any

import numpy as np

from cbedfeat.data.table import labelled_rows
from cbedfeat.metrics.calibration import probability_scores, set_metrics
from cbedfeat.metrics.classification import (
    DEFAULT_RARE_THRESHOLD,
    DEFAULT_TOP_K,
    evaluate_predictions,
    top_k_accuracy,
)
from cbedfeat.models.calibration import bundle_calibration, log_probabilities
from cbedfeat.models.conformal import DEFAULT_COVERAGE
from cbedfeat.workflows.explain import combine_log_probabilities

__all__ = ["evaluate_bundle", "uncertainty_metrics"]


def evaluate_bundle(
    bundle: Any,
    table: Any,
    *,
    split: str | None = "test",
    rare_threshold: int | None = None,
    top_k: int = DEFAULT_TOP_K,
    coverage: float = DEFAULT_COVERAGE,
    mondrian: bool = False,
) -> dict[str, Any]:
    """Metrics of a :class:`~cbedfeat.models.bundle.ModelBundle` on a feature table's rows.

    Parameters
    ----------
    bundle : ModelBundle
    table : DataFrame
        Feature table; must hold every feature of the bundle.
    split : str or None
        Evaluate the rows of this split; None evaluates every row.
    rare_threshold : int, optional
        Defaults to the threshold saved at training time.
    top_k : int
    coverage : float
        Nominal coverage of the conformal sets evaluated (bundles with a calibration).
    mondrian : bool
        Evaluate class-conditional sets.

    Returns
    -------
    dict
        See :func:`evaluate_predictions`; ``split`` and ``n_unlabelled_left_out`` (rows
        of the split without a valid label, material or lattice, which are not
        evaluated) added, ``regression`` (lattice errors) for models that predict
        the lattice, and ``calibration``, ``conformal`` and ``per_material`` (see
        :func:`uncertainty_metrics`).
    """
    from cbedfeat.models.targets import LATTICE_COLUMNS, predicts_lattice, table_regression_errors

    if split is not None:
        rows = table[table["split"].astype(str) == split]
        if rows.empty:
            raise ValueError(
                f"the table has no rows of split {split!r} "
                f"(splits present: {sorted(table['split'].astype(str).unique())})"
            )
    else:
        rows = table
    rows, n_unlabelled = labelled_rows(rows, "evaluation")
    if rows.empty:
        raise ValueError(f"no labelled rows to evaluate ({n_unlabelled} unlabelled rows left out)")
    training = bundle.training or {}
    counts = training.get("class_counts")
    if rare_threshold is None:
        rare_threshold = int(training.get("rare_threshold_materials", DEFAULT_RARE_THRESHOLD))
    proba = bundle.predict_proba(rows)
    metrics = evaluate_predictions(
        rows["space_group"].to_numpy(),
        proba,
        bundle.classes,
        train_counts={int(k): v for k, v in counts.items()} if counts else None,
        rare_threshold=rare_threshold,
        top_k=top_k,
    )
    if predicts_lattice(bundle.model) and set(LATTICE_COLUMNS) <= set(rows.columns):
        # Multi-task models: MAE per lattice target, overall and per true crystal system.
        metrics["regression"] = table_regression_errors(rows, bundle.predict_targets(rows))
    rare = [int(c) for c, v in (counts or {}).items() if int(v["materials"]) < rare_threshold]
    metrics.update(
        uncertainty_metrics(
            bundle,
            rows,
            proba,
            rare_classes=rare,
            top_k=top_k,
            coverage=coverage,
            mondrian=mondrian,
        )
    )
    return {"split": split, "n_unlabelled_left_out": n_unlabelled, **metrics}


def uncertainty_metrics(
    bundle: Any,
    rows: Any,
    proba: np.ndarray,
    *,
    rare_classes: list[int],
    top_k: int = DEFAULT_TOP_K,
    coverage: float = DEFAULT_COVERAGE,
    mondrian: bool = False,
) -> dict[str, Any]:
    """Calibration before and after, conformal sets, and accuracy per material.

    Parameters
    ----------
    bundle : ModelBundle
    rows : DataFrame
        Labelled rows (``space_group``, ``material``).
    proba : (n, K) ndarray
        The model's probabilities of ``rows``.
    rare_classes : list of int
    top_k : int
    coverage : float
    mondrian : bool

    Returns
    -------
    dict
        ``calibration``: ``temperature`` (None without a calibration), ``before`` and
        ``after`` (:func:`cbedfeat.metrics.calibration.probability_scores`; ``after`` None
        without a calibration); ``conformal``
        (:func:`cbedfeat.metrics.calibration.set_metrics` plus ``mondrian``; None without
        conformal scores); ``per_material``: ``n_materials``, top-1 of the single stacks,
        top-1 / top-k of one prediction per material (the sum of its stacks'
        calibrated log-probabilities, :func:`cbedfeat.workflows.explain.combine_log_probabilities`)
        and ``conformal``: the sets of those combined predictions
        (:meth:`cbedfeat.models.calibration.Calibration.predict_material_set`,
        :func:`cbedfeat.metrics.calibration.set_metrics` plus ``mondrian`` and
        ``stacks_per_material`` ``{count: materials}``; None without material-level
        scores).
    """
    from scipy.special import softmax

    y = rows["space_group"].to_numpy(dtype=np.int64)
    classes = bundle.classes
    calibration = bundle_calibration(bundle)
    calibrated = calibration.calibrate(proba) if calibration is not None else np.asarray(proba)
    out: dict[str, Any] = {
        "calibration": {
            "temperature": None if calibration is None else calibration.temperature,
            "fitted_on": None if calibration is None else calibration.info,
            "before": probability_scores(y, proba, classes),
            "after": None if calibration is None else probability_scores(y, calibrated, classes),
        }
    }
    if calibration is not None and calibration.conformal is not None:
        sets = calibration.predict_set(calibrated, coverage, mondrian=mondrian)
        out["conformal"] = {
            "mondrian": mondrian,
            **set_metrics(y, sets, classes, rare_classes=rare_classes, coverage=coverage),
        }
    else:
        out["conformal"] = None
    materials = rows["material"].astype(str).to_numpy()
    keys, combined = combine_log_probabilities(log_probabilities(calibrated), materials)
    truth = dict(zip(materials, y, strict=True))
    y_mat = np.array([truth[m] for m in keys])
    n_stacks = np.bincount(np.searchsorted(keys, materials), minlength=keys.size)
    combined_proba = softmax(combined, axis=1)
    k = min(top_k, classes.size)
    out["per_material"] = {
        "n_materials": int(keys.size),
        "mean_stacks_per_material": float(y.size / max(keys.size, 1)),
        "stack_top1_accuracy": top_k_accuracy(y, calibrated, classes, 1),
        "material_top1_accuracy": top_k_accuracy(y_mat, combined_proba, classes, 1),
        "material_topk_accuracy": top_k_accuracy(y_mat, combined_proba, classes, k),
        "k": k,
        "conformal": None,
    }
    if calibration is not None and calibration.material_conformal is not None:
        sets = calibration.predict_material_set(
            combined_proba, n_stacks, coverage, mondrian=mondrian
        )
        counts = np.unique(n_stacks, return_counts=True)
        out["per_material"]["conformal"] = {
            "mondrian": mondrian,
            "stacks_per_material": {str(int(a)): int(b) for a, b in zip(*counts, strict=True)},
            **set_metrics(y_mat, sets, classes, rare_classes=rare_classes, coverage=coverage),
        }
    return out
