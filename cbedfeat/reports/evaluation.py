"""Evaluation report: ``metrics.json``, PNG plots and one self-contained ``report.html``.

The report is built from the metrics ``dict`` of :func:`cbedfeat.metrics.classification.evaluate_predictions`
alone, so a report can be re-rendered from a saved ``metrics.json``. Plots use
Matplotlib's non-interactive Agg backend (no display needed); the HTML page embeds the
same PNGs as base64, so the single file can be mailed or opened anywhere.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cbedfeat._util import to_json, write_atomic
from cbedfeat.data.labels import space_group_info
from cbedfeat.data.table import read_table
from cbedfeat.models.bundle import load_bundle

PLOT_FILES = {
    "recall_vs_frequency": "recall_vs_frequency.png",
    "crystal_system_confusion": "crystal_system_confusion.png",
    "top_k_curve": "top_k_curve.png",
}
# Drawn only when the metrics hold probability scores (cbedfeat.workflows.evaluate).
RELIABILITY_PLOT = "reliability.png"

_FRIEDEL_NOTE = (
    "Kinematic patterns obey Friedel's law (|F<sub>g</sub>| = |F<sub>-g</sub>|): they show the "
    "Laue class and systematic absences but not the full point group, so enantiomorphic pairs "
    "(e.g. P4<sub>1</sub> / P4<sub>3</sub>) cannot be told apart and top-1 accuracy has a "
    "ceiling below 100 %. The crystal-system and Laue-class accuracies are the levels such "
    "patterns can answer in full."
)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_recall_vs_frequency(
    series: Mapping[str, Sequence[Mapping[str, Any]]], path: Path, *, title: str | None = None
) -> Path:
    """Per-class recall against the number of training samples of the class (log x axis).

    Parameters
    ----------
    series : mapping of str to list of dict
        Label -> ``per_class`` list of :func:`cbedfeat.metrics.classification.evaluate_predictions`;
        several series (e.g. two strategies) share the axes.
    path : Path
        PNG to write.
    title : str, optional

    Returns
    -------
    Path
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    markers = ["o", "s", "^", "D", "v"]
    for i, (label, rows) in enumerate(series.items()):
        rows = [r for r in rows if r["support"] > 0]
        # Classes without training data sit at x = 0.5, left of every real count.
        x = np.array([max(r["train_samples"], 0.5) for r in rows], dtype=float)
        y = np.array([r["recall"] for r in rows], dtype=float)
        ax.scatter(x, y, s=18, alpha=0.6, marker=markers[i % len(markers)], label=label)
    ax.set_xscale("log")
    ax.set_xlabel("training samples of the class (log; unseen classes at 0.5)")
    ax.set_ylabel("recall on evaluated rows")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(True, which="both", alpha=0.3)
    if len(series) > 1:
        ax.legend(loc="lower right")
    ax.set_title(title or "Per-class recall against training frequency")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_crystal_system_confusion(confusion: Mapping[str, Any], path: Path) -> Path:
    """Row-normalised crystal-system confusion matrix (true system per row)."""
    from sklearn.metrics import ConfusionMatrixDisplay

    plt = _pyplot()
    matrix = np.asarray(confusion["matrix"], dtype=float)
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    fig, ax = plt.subplots(figsize=(6.5, 5.5), dpi=110)
    ConfusionMatrixDisplay(normalised, display_labels=confusion["labels"]).plot(
        ax=ax, cmap="Blues", values_format=".2f", colorbar=False, xticks_rotation=45
    )
    ax.set_title("Crystal system of the predicted space group (rows sum to 1)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_top_k_curve(curve: Mapping[str, Sequence[float]], path: Path) -> Path:
    """Top-k accuracy for k = 1, 2, ..."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    ax.plot(curve["k"], curve["accuracy"], marker="o")
    ax.set_xlabel("k")
    ax.set_ylabel("top-k accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.set_title("Top-k accuracy")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_reliability(calibration: Mapping[str, Any], path: Path) -> Path:
    """Reliability diagram: accuracy against mean top probability per confidence bin.

    Parameters
    ----------
    calibration : mapping
        The ``calibration`` entry of :func:`cbedfeat.workflows.evaluate.uncertainty_metrics`:
        ``before`` and (optionally) ``after``, each with ``reliability`` bins.
    path : Path
        PNG to write.

    Returns
    -------
    Path
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=110)
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", label="perfect calibration")
    for key, label, marker in (("before", "model", "o"), ("after", "calibrated", "s")):
        scores = calibration.get(key)
        if not scores or not scores.get("reliability"):
            continue
        bins = scores["reliability"]
        pts = [
            (c, a)
            for c, a, n in zip(bins["confidence"], bins["accuracy"], bins["count"], strict=True)
            if n
        ]
        x, y = (np.array(v, dtype=float) for v in zip(*pts, strict=True))
        ax.plot(x, y, marker=marker, label=f"{label} (ECE {scores['ece']:.3f})")
    ax.set_xlabel("mean top-1 probability in the bin")
    ax.set_ylabel("top-1 accuracy in the bin")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left")
    ax.set_title("Reliability of the top-1 probability")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return html.escape(str(value))


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"><figcaption>{html.escape(alt)} ({path.name})</figcaption></figure>'


def _pct(value: Any) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{100 * value:.1f} %"


def _kinematic_section(metrics: Mapping[str, Any]) -> str:
    """Ceiling, accuracy up to equivalence, error bins and confused pairs (HTML)."""
    if "kinematic_ceiling" not in metrics:  # a metrics.json written before these metrics
        return ""
    source = metrics.get("kinematic_ceiling_counts", "training rows")
    caveat = (
        ""
        if source == "training rows"
        else " The model bundle holds no training label counts, so the best guesses come from the "
        "evaluated rows' own counts: an upper bound of the ceiling under the training counts."
    )
    parts = [
        "<h2>What kinematic diffraction allows</h2>",
        "<p>Two space groups with the same Laue class and the same systematic absences give identical "
        "kinematic intensities (one kinematic-equivalence class; absences from spglib's symmetry "
        "operations, |h|, |k|, |l| &le; 6). The kinematic ceiling is the share of evaluated rows whose "
        "space group is the most frequent member of its class in the "
        + html.escape(str(source))
        + " (ties and classes without rows: the smallest number)."
        + caveat
        + "</p>",
        _table(
            [
                ("top-1 accuracy", _pct(metrics["top1_accuracy"])),
                ("kinematic ceiling", _pct(metrics["kinematic_ceiling"])),
                ("top-1 / ceiling", _pct(metrics["top1_over_ceiling"])),
                ("accuracy up to equivalence", _pct(metrics["equivalence_accuracy"])),
                ("crystal system accuracy", _pct(metrics["crystal_system_accuracy"])),
                ("Laue class accuracy", _pct(metrics["laue_class_accuracy"])),
                ("point group accuracy", _pct(metrics["point_group_accuracy"])),
            ],
            ["metric", "value"],
        ),
        "<h3>Wrong top-1 predictions by error bin</h3><p>Each wrong prediction in the first bin that "
        "fits; shares are of all evaluated rows, so the bins add up to 1 - top-1.</p>",
        _table(
            [(b["label"], b["n"], _pct(b["share"])) for b in metrics["error_bins"].values()],
            ["error bin", "rows", "share of evaluated rows"],
        ),
    ]
    pairs = metrics.get("confused_pairs") or []
    if pairs:
        parts.append("<h3>Most confused pairs</h3>")
        parts.append(
            _table(
                [
                    (
                        f"{p['true']} {p['true_symbol']}",
                        f"{p['predicted']} {p['predicted_symbol']}",
                        p["n"],
                        _pct(p["share"]),
                        p["bin_label"],
                    )
                    for p in pairs
                ],
                ["true", "predicted", "rows", "share of evaluated rows", "error bin"],
            )
        )
    return "".join(parts)


def _uncertainty_section(metrics: Mapping[str, Any]) -> str:
    """Calibration, conformal sets and accuracy per material (HTML)."""
    parts: list[str] = []
    cal = metrics.get("calibration")
    if cal:
        parts.append("<h2>Calibration</h2>")
        if cal.get("after") is None:
            parts.append(
                "<p>The bundle holds no calibration (train with --calibration-fraction); "
                "the model's own probabilities are scored.</p>"
            )
        else:
            fitted_on = cal.get("fitted_on") or {}
            interval = fitted_on.get("temperature_interval")
            rule = (
                f" The fitted temperature was {fitted_on['temperature_fitted']:.3f}, 95 % "
                f"bootstrap interval over materials {interval[0]:.3f}-{interval[1]:.3f}; it is "
                "applied only when the interval leaves out 1."
                if interval and "temperature_fitted" in fitted_on
                else ""
            )
            parts.append(
                f"<p>Temperature {cal['temperature']:.3f}, fitted by minimising the log loss on "
                "a material-grouped hold-out of the training rows that the model was not fitted "
                f"on.{rule}</p>"
            )
        names = [
            ("log_loss", "log loss"),
            ("brier", "Brier score (multiclass, 0-2)"),
            ("ece", "expected calibration error (top-1, 15 bins)"),
        ]
        after = cal.get("after") or {}
        parts.append(
            _table(
                [(label, cal["before"].get(key), after.get(key)) for key, label in names],
                ["metric", "model", "calibrated"],
            )
        )
    conf = metrics.get("conformal")
    if conf:
        nominal = conf.get("nominal")
        kind = "class-conditional (Mondrian)" if conf.get("mondrian") else "marginal"
        parts.append(
            f"<h2>Conformal prediction sets</h2><p>Split conformal, {kind}, nominal coverage "
            f"{_pct(nominal)}: the share of rows whose set holds the true space group.</p>"
        )
        rows = [("all rows", conf["n"], _pct(conf["coverage"]))]
        rows += [
            (f"system: {k}", v["n"], _pct(v["coverage"]))
            for k, v in conf["by_crystal_system"].items()
        ]
        rows += [
            (f"{k} classes", conf[k]["n"], _pct(conf[k]["coverage"])) for k in ("rare", "frequent")
        ]
        parts.append(_table(rows, ["rows", "n", "empirical coverage"]))
        parts.append(
            _table(
                [
                    ("mean set size", conf["mean_set_size"]),
                    ("median set size", conf["median_set_size"]),
                    ("empty sets", _pct(conf["empty_share"])),
                    ("single-group sets", _pct(conf["singleton_share"])),
                ],
                ["set size", "value"],
            )
        )
        parts.append("<h3>Distribution of set sizes</h3>")
        parts.append(_table(list(conf["set_size_counts"].items()), ["set size", "rows"]))
        if conf["rare_classes"]:
            parts.append("<h3>Coverage per rare class</h3>")
            parts.append(
                _table(
                    [
                        (
                            r["space_group"],
                            space_group_symbol(r["space_group"]),
                            r["n"],
                            _pct(r["coverage"]),
                        )
                        for r in conf["rare_classes"]
                    ],
                    ["SG", "symbol", "rows", "coverage"],
                )
            )
    mat = metrics.get("per_material")
    if mat:
        parts.append(
            f"<h2>One prediction per material</h2><p>{mat['n_materials']} materials, "
            f"{mat['mean_stacks_per_material']:.1f} stacks each on average; a material's "
            "prediction sums its stacks' calibrated log-probabilities.</p>"
        )
        parts.append(
            _table(
                [
                    ("top-1, single stacks", _pct(mat["stack_top1_accuracy"])),
                    ("top-1, per material", _pct(mat["material_top1_accuracy"])),
                    (f"top-{mat['k']}, per material", _pct(mat["material_topk_accuracy"])),
                ],
                ["accuracy", "value"],
            )
        )
        mconf = mat.get("conformal")
        if mconf:
            kind = "class-conditional (Mondrian)" if mconf.get("mondrian") else "marginal"
            parts.append(
                f"<p>Conformal sets of the per-material predictions ({kind}, nominal "
                f"{_pct(mconf.get('nominal'))}), calibrated on whole held-out materials: "
                "the share of materials whose set holds the true space group.</p>"
            )
            parts.append(
                _table(
                    [
                        ("coverage, all materials", mconf["n"], _pct(mconf["coverage"])),
                        (
                            "coverage, rare classes",
                            mconf["rare"]["n"],
                            _pct(mconf["rare"]["coverage"]),
                        ),
                        ("mean set size", "", f"{mconf['mean_set_size']:.2f}"),
                    ],
                    ["materials", "n", "value"],
                )
            )
    return "".join(parts)


def space_group_symbol(number: int) -> str:
    """Hermann-Mauguin symbol of space group ``number``."""

    return space_group_info(int(number)).symbol


def render_html(
    metrics: Mapping[str, Any],
    plots: Mapping[str, Path],
    *,
    title: str,
    model_info: Mapping[str, Any] | None = None,
) -> str:
    """The report page as one HTML string (plots embedded as base64 PNG)."""
    from cbedfeat.metrics.classification import summary_metrics

    summary = summary_metrics(metrics)
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if model_info:
        parts.append("<h2>Model</h2>")
        parts.append(
            _table(
                [
                    (k, v if not isinstance(v, Mapping | list) else json.dumps(v))
                    for k, v in model_info.items()
                ],
                ["field", "value"],
            )
        )
    parts.append("<h2>Metrics</h2>")
    parts.append(
        f"<p>{metrics['n_samples']} evaluated samples of {metrics['n_classes_evaluated']} "
        f"space groups; the model knows {metrics['n_classes_model']} space groups.</p>"
    )
    parts.append(_table(list(summary.items()), ["metric", "value"]))
    if "rare" in metrics:
        parts.append(
            f"<h2>Rare against frequent classes</h2><p>Rare: fewer than "
            f"{metrics['rare_threshold_materials']} training materials.</p>"
        )
        parts.append(
            _table(
                [
                    (
                        name,
                        metrics[name]["n_classes"],
                        metrics[name]["n_samples"],
                        metrics[name]["recall_macro"],
                        metrics[name]["recall_micro"],
                    )
                    for name in ("rare", "frequent")
                ],
                [
                    "classes",
                    "n classes",
                    "n samples",
                    "recall (mean over classes)",
                    "recall (over samples)",
                ],
            )
        )
    reg = metrics.get("regression")
    if reg:  # multi-task models: lattice MAE, overall and per true crystal system
        cols = list(reg["mae"])
        parts.append("<h2>Lattice regression (mean absolute error)</h2>")
        parts.append(
            _table(
                [("all", reg["n"], *(reg["mae"][c] for c in cols))]
                + [
                    (s, r["n"], *(r[c] for c in cols))
                    for s, r in reg.get("mae_by_crystal_system", {}).items()
                ],
                ["crystal system", "n", *(f"{c} ({reg['units'][c]})" for c in cols)],
            )
        )
    unseen = metrics.get("unseen", {})
    if unseen.get("classes"):
        parts.append(
            f"<h2>Classes the model never saw</h2><p>{unseen['n_samples']} evaluated samples belong to "
            f"space groups absent from training ({', '.join(map(str, unseen['classes']))}); they "
            "count as errors in every metric.</p>"
        )
    parts.append(f"<h2>Accuracy ceiling</h2><p>{_FRIEDEL_NOTE}</p>")
    parts.append(_kinematic_section(metrics))
    parts.append(_uncertainty_section(metrics))
    parts.append("<h2>Plots</h2>")
    for key, path in plots.items():
        parts.append(_img(path, key.replace("_", " ")))
    parts.append(
        "<h2>Per-class results</h2><p>Sorted by training samples, most frequent first.</p>"
    )
    rows = sorted(metrics["per_class"], key=lambda r: (-r["train_samples"], r["space_group"]))
    parts.append(
        _table(
            [
                (
                    r["space_group"],
                    r["symbol"],
                    r["crystal_system"],
                    r["train_samples"],
                    r["train_materials"],
                    r["support"],
                    r["recall"],
                    r["precision"],
                    r["f1"],
                )
                for r in rows
            ],
            [
                "SG",
                "symbol",
                "system",
                "train samples",
                "train materials",
                "eval samples",
                "recall",
                "precision",
                "F1",
            ],
        )
    )
    style = (
        "body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
        "text-align:right}th{background:#f0f0f0}img{max-width:100%}figure{margin:1em 0}"
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}'
        f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n"
    )


def write_report(
    metrics: Mapping[str, Any],
    out_dir: str | os.PathLike[str],
    *,
    title: str = "cbedfeat evaluation report",
    model_info: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``metrics.json``, ``per_class.csv``, the PNG plots and ``report.html``.

    Parameters
    ----------
    metrics : mapping
        Output of :func:`cbedfeat.metrics.classification.evaluate_predictions`.
    out_dir : path
        Report directory; created when missing, files in it replaced.
    title : str
    model_info : mapping, optional
        Model facts shown at the top (name, weighting, data fingerprint, ...).

    Returns
    -------
    Path
        The ``report.html`` file.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    payload = dict(metrics)
    if model_info:
        payload = {"model": dict(model_info), **payload}
    write_atomic(out / "metrics.json", to_json(payload).encode())
    plots = {
        "recall_vs_frequency": plot_recall_vs_frequency(
            {"model": metrics["per_class"]}, out / PLOT_FILES["recall_vs_frequency"]
        ),
        "crystal_system_confusion": plot_crystal_system_confusion(
            metrics["crystal_system_confusion"], out / PLOT_FILES["crystal_system_confusion"]
        ),
        "top_k_curve": plot_top_k_curve(metrics["top_k_curve"], out / PLOT_FILES["top_k_curve"]),
    }
    if metrics.get("calibration") and metrics["calibration"].get("before", {}).get("reliability"):
        plots["reliability"] = plot_reliability(metrics["calibration"], out / RELIABILITY_PLOT)
    fields = list(metrics["per_class"][0]) if metrics["per_class"] else ["space_group"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(metrics["per_class"])
    write_atomic(out / "per_class.csv", buffer.getvalue().encode())
    page = out / "report.html"
    write_atomic(page, render_html(metrics, plots, title=title, model_info=model_info).encode())
    return page


def _validation_text(val: Mapping[str, Any] | None) -> str | None:
    if not val:
        return None
    text = f"{val.get('source')}, {val.get('n_samples')} samples"
    shown = [
        ("top1_accuracy", "top-1"),
        ("balanced_accuracy", "balanced accuracy"),
        ("macro_f1", "macro-F1"),
        ("crystal_system_accuracy", "crystal system"),
    ]
    parts = [f"{label} {val[key]:.3f}" for key, label in shown if val.get(key) is not None]
    return text + (": " + ", ".join(parts) if parts else "")


def run_evaluation(
    model_dir: str | os.PathLike[str],
    features: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    split: str | None = "test",
    rare_threshold: int | None = None,
    top_k: int = 5,
    coverage: float = 0.9,
    mondrian: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """Load a bundle and a table, evaluate, and write the report directory.

    Returns
    -------
    report : Path
        ``report.html`` in ``out_dir``.
    metrics : dict
    """
    from cbedfeat.workflows.evaluate import evaluate_bundle

    bundle = load_bundle(model_dir)
    table, meta = read_table(features)
    bundle.check_features(table.columns, source=str(features))
    bundle.check_table_metadata(meta)
    metrics = evaluate_bundle(
        bundle,
        table,
        split=split,
        rare_threshold=rare_threshold,
        top_k=top_k,
        coverage=coverage,
        mondrian=mondrian,
    )
    training = bundle.training or {}
    info = {
        "bundle": str(Path(model_dir)),
        "model": training.get("model"),
        "weighting": training.get("weighting"),
        "seed": training.get("seed"),
        "trained on split": training.get("split"),
        "training data fingerprint": training.get("data_fingerprint"),
        "evaluated table": str(features),
        "evaluated split": split if split is not None else "all rows",
        "device used in training": training.get("device_used"),
        "validation": _validation_text(training.get("validation")),
        "versions": ", ".join(f"{k} {v}" for k, v in (bundle.versions or {}).items()),
    }
    page = write_report(
        metrics,
        out_dir,
        title=f"cbedfeat evaluation: {training.get('model', 'model')}",
        model_info=info,
    )
    return page, metrics
