"""Metric columns and number formatting shared by the bench scripts' Markdown tables."""

from __future__ import annotations

# (key of cbedfeat.metrics.classification.summary_metrics, column header), in table order.
METRIC_COLUMNS: list[tuple[str, str]] = [
    ("top1_accuracy", "top-1"),
    ("top5_accuracy", "top-5"),
    ("balanced_accuracy", "bal. acc"),
    ("macro_f1", "macro-F1"),
    ("weighted_f1", "wtd F1"),
    ("geometric_mean_corrected", "G-mean*"),
    ("crystal_system_accuracy", "system"),
    ("laue_class_accuracy", "Laue"),
    ("point_group_accuracy", "point grp"),
    ("rare_recall_macro", "rare recall"),
    ("frequent_recall_macro", "freq. recall"),
    # What kinematic diffraction allows (cbedfeat.metrics.physics); the error bins are
    # shares of all test rows and add up to 100 - top-1.
    ("kinematic_ceiling", "ceiling"),
    ("top1_over_ceiling", "top-1/ceiling"),
    ("equivalence_accuracy", "up to equiv."),
    ("errors_wrong_crystal_system", "err: system"),
    ("errors_wrong_laue_class", "err: Laue"),
    ("errors_wrong_absences", "err: absences"),
    ("errors_indistinguishable", "err: indisting."),
]


def pct(value) -> str:
    """A fraction as a percentage with one decimal; 'n/a' for None or NaN."""
    return "n/a" if value is None or value != value else f"{100 * value:.1f}"


def write_results(out_dir, stem: str, doc: dict, md: str) -> None:
    """``<out_dir>/<stem>.json`` (the document) and ``<stem>.md`` (the tables); prints md."""
    from pathlib import Path

    from cbedfeat._util import to_json

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{stem}.json").write_text(to_json(doc) + "\n")
    (out_dir / f"{stem}.md").write_text(md)
    print(md)


def shown_path(path) -> str:
    """``path`` relative to the repository when inside it (results name no home paths)."""
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    try:
        return str(Path(path).absolute().relative_to(repo))
    except ValueError:
        return str(path)
