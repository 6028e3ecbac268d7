"""Evaluate a model bundle on the labelled rows of a feature table."""

from __future__ import annotations

from typing import Any

from cbedfeat.metrics.classification import (
    DEFAULT_RARE_THRESHOLD,
    DEFAULT_TOP_K,
    evaluate_predictions,
)

__all__ = ["evaluate_bundle"]


def evaluate_bundle(
    bundle: Any,
    table: Any,
    *,
    split: str | None = "test",
    rare_threshold: int | None = None,
    top_k: int = DEFAULT_TOP_K,
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

    Returns
    -------
    dict
        See :func:`evaluate_predictions`; ``split`` and ``n_unlabelled_left_out`` (rows
        of the split without a valid label, material or lattice, which are not
        evaluated) added, and ``regression`` (lattice errors) for models that predict
        the lattice.
    """
    from cbedfeat.data.table import labelled_rows
    from cbedfeat.models.targets import LATTICE_COLUMNS, predicts_lattice, table_regression_errors

    if split is not None:
        rows = table[table["split"].astype(str) == split]
        if rows.empty:
            raise ValueError(f"the table has no rows of split {split!r} "
                             f"(splits present: {sorted(table['split'].astype(str).unique())})")
    else:
        rows = table
    rows, n_unlabelled = labelled_rows(rows, "evaluation")
    if rows.empty:
        raise ValueError(f"no labelled rows to evaluate ({n_unlabelled} unlabelled rows left out)")
    training = bundle.training or {}
    counts = training.get("class_counts")
    if rare_threshold is None:
        rare_threshold = int(training.get("rare_threshold_materials", DEFAULT_RARE_THRESHOLD))
    metrics = evaluate_predictions(
        rows["space_group"].to_numpy(),
        bundle.predict_proba(rows),
        bundle.classes,
        train_counts={int(k): v for k, v in counts.items()} if counts else None,
        rare_threshold=rare_threshold,
        top_k=top_k,
    )
    if predicts_lattice(bundle.model) and set(LATTICE_COLUMNS) <= set(rows.columns):
        # Multi-task models: MAE per lattice target, overall and per true crystal system.
        metrics["regression"] = table_regression_errors(rows, bundle.predict_targets(rows))
    return {"split": split, "n_unlabelled_left_out": n_unlabelled, **metrics}
