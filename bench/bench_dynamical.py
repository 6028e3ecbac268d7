"""Question: does what cbedfeat learns on kinematic patterns hold on dynamical (multislice) ones?

Two feature tables of one simulation plan: the ``bench-dynamical`` preset rendered by
multislice, and the same seed rendered kinematically (same crystals, zone axes and
splits). The same model (by default the one ``cbedfeat train`` defaults to, through
:func:`cbedfeat.workflows.train.fit_and_validate`, as ``cbedfeat train`` fits it) is trained on

(a) the kinematic train split (plus, with ``--extra-kinematic``, the train rows of
    another kinematic table),
(b) the dynamical train split,
(c) both,

and scored on the dynamical test split; (a) also on the paired kinematic test split.
Each ``--drop-family`` / ``--drop-prefix`` adds an ablation row: (b) with those
feature columns left out. Every row gets every metric of ``cbedfeat evaluate``
(:func:`cbedfeat.metrics.classification.evaluate_predictions`, the kinematic ceiling and the four
error bins included), 95 % bootstrap intervals over test materials (materials are
resampled, not rows) and its fit seconds; the majority-class baselines (always the
most common space group, crystal system, Laue class and point group of the training
rows) are rows too.

Writes ``bench/results/dynamical.json`` and ``dynamical.md``.

Usage::

    python bench/bench_dynamical.py [--dynamical bench/data/dynamical.parquet]
        [--kinematic bench/data/dynamical-kinematic.parquet] [--extra-kinematic T.parquet]
        [--drop-family NAME] [--drop-prefix PREFIX] [--quick]
    python bench/bench_dynamical.py --synthetic --quick   # development, random tables

The tables come from::

    cbedfeat simulate --preset bench-dynamical --out bench/data/dynamical -j 2
    cbedfeat simulate --preset bench-dynamical --engine kinematic --out bench/data/dynamical-kinematic -j 2
    cbedfeat extract bench/data/dynamical --out bench/data/dynamical.parquet
    cbedfeat extract bench/data/dynamical-kinematic --out bench/data/dynamical-kinematic.parquet

(the script runs the two extractions itself when a table is missing and its data
directory, ``--dynamical-data`` / ``--kinematic-data``, exists).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "data"
DEFAULT_DYNAMICAL = DATA / "dynamical.parquet"
DEFAULT_KINEMATIC = DATA / "dynamical-kinematic.parquet"
DEFAULT_DYNAMICAL_DATA = DATA / "dynamical"
DEFAULT_KINEMATIC_DATA = DATA / "dynamical-kinematic"
RESULTS = ROOT / "results"
QUICK_ROUNDS = 30
QUICK_RESAMPLES = 200
EXTRA_PREFIX = (
    "extra:"  # material ids of --extra-kinematic rows: another plan's "syn-7" is another crystal
)

# Metrics that are the mean of a per-row quantity: their intervals come from weighted means.
ROW_METRICS = (
    "top1_accuracy",
    "top5_accuracy",
    "crystal_system_accuracy",
    "laue_class_accuracy",
    "point_group_accuracy",
    "equivalence_accuracy",
    "kinematic_ceiling",
    "errors_wrong_crystal_system",
    "errors_wrong_laue_class",
    "errors_wrong_absences",
    "errors_indistinguishable",
)
HIERARCHY = (
    ("crystal_system_accuracy", "crystal_system"),
    ("laue_class_accuracy", "laue_class"),
    ("point_group_accuracy", "point_group"),
)

logger = logging.getLogger("bench_dynamical")


def train_defaults() -> dict[str, str]:
    """The model and weighting ``cbedfeat train`` uses when none is given."""
    from cbedfeat.models.registry import DEFAULT_MODEL, DEFAULT_WEIGHTING

    return {"model": DEFAULT_MODEL, "weighting": DEFAULT_WEIGHTING}


# ----------------------------------------------------------------------------- per-row values


def _levels(numbers) -> dict:
    """Crystal system, Laue class and point group of each space group in ``numbers``."""
    import numpy as np

    from cbedfeat.data.labels import space_group_info

    lookup = {int(n): space_group_info(int(n)) for n in np.unique(numbers)}
    return {
        field: np.array([getattr(lookup[int(n)], field) for n in numbers], dtype=object)
        for _, field in HIERARCHY
    }


def row_values(y, y_pred, top5, train_counts) -> dict:
    """Per-row quantities whose means are the metrics of :data:`ROW_METRICS`.

    Parameters
    ----------
    y, y_pred : (n,) ndarray of int
        True and predicted space groups.
    top5 : (n, k) ndarray of int
        The k most probable groups of each row.
    train_counts : mapping of int to int
        Training rows per space group (for the kinematic ceiling's best guesses).

    Returns
    -------
    dict of str to (n,) ndarray of float
    """
    import numpy as np

    from cbedfeat.data.equivalence import equivalence_index_table
    from cbedfeat.metrics.physics import ERROR_BINS, best_guess_table, error_bin_codes

    true_lv, pred_lv = _levels(y), _levels(y_pred)
    eq = equivalence_index_table()
    codes = error_bin_codes(y, y_pred)
    out = {
        "top1_accuracy": y_pred == y,
        "top5_accuracy": (top5 == y[:, None]).any(axis=1),
        "equivalence_accuracy": eq[y] == eq[y_pred],
        "kinematic_ceiling": best_guess_table(train_counts)[y] == y,
    }
    for key, field in HIERARCHY:
        out[key] = true_lv[field] == pred_lv[field]
    for i, (name, _) in enumerate(ERROR_BINS):
        out[f"errors_{name}"] = codes == i
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}


def bootstrap_intervals(y, y_pred, values: dict, materials, *, n_resamples: int, seed: int) -> dict:
    """95 % intervals over test materials of every row metric, top-1 / ceiling,
    macro-F1 and balanced accuracy (scikit-learn's, with the resample as sample weights)."""
    import warnings

    import numpy as np
    from _bootstrap import interval, material_weights, weighted_means, weighted_statistic
    from sklearn.metrics import balanced_accuracy_score, f1_score

    weights = material_weights(materials, n_resamples, seed)
    means = weighted_means(values, weights)
    ci = {k: interval(v) for k, v in means.items()}
    ratio = np.divide(
        means["top1_accuracy"],
        means["kinematic_ceiling"],
        out=np.full(n_resamples, np.nan),
        where=means["kinematic_ceiling"] > 0,
    )
    ci["top1_over_ceiling"] = interval(ratio)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ci["macro_f1"] = interval(
            weighted_statistic(
                lambda i, w: f1_score(
                    y[i],
                    y_pred[i],
                    labels=np.unique(y[i]),
                    average="macro",
                    sample_weight=w,
                    zero_division=0,
                ),
                weights,
            )
        )
        ci["balanced_accuracy"] = interval(
            weighted_statistic(
                lambda i, w: balanced_accuracy_score(y[i], y_pred[i], sample_weight=w), weights
            )
        )
    return ci


# ----------------------------------------------------------------------------- scoring


def score(
    proba, classes, rows, training_rows, *, n_resamples: int, seed: int, rare_threshold: int
) -> dict:
    """Every metric of one model's predictions on ``rows``, with intervals over materials."""
    import numpy as np

    from cbedfeat.metrics.classification import (
        class_training_counts,
        evaluate_predictions,
        summary_metrics,
        top_k_predictions,
    )

    y = rows["space_group"].to_numpy(dtype=np.int64)
    counts = class_training_counts(
        training_rows["space_group"].to_numpy(), training_rows["material"].astype(str).to_numpy()
    )
    metrics = evaluate_predictions(
        y, proba, classes, train_counts=counts, rare_threshold=rare_threshold
    )
    y_pred = np.asarray(classes)[np.argmax(proba, axis=1)]
    top5, _ = top_k_predictions(proba, classes, 5)
    values = row_values(y, y_pred, top5, {k: v["samples"] for k, v in counts.items()})
    materials = rows["material"].astype(str).to_numpy()
    return {
        **summary_metrics(metrics),
        "ci95": bootstrap_intervals(
            y, y_pred, values, materials, n_resamples=n_resamples, seed=seed
        ),
        "n_rows": int(y.size),
        "n_materials": int(np.unique(materials).size),
        "unseen_classes": metrics["unseen"]["classes"],
        "confused_pairs": metrics["confused_pairs"][:5],
    }


def majority_row(training_rows, rows, *, n_resamples: int, seed: int, rare_threshold: int) -> dict:
    """Always the most common space group (and system, Laue class, point group) of training.

    The space-group metrics are those of predicting the training class prior for every
    row (top-1: the most common group; top-5: the five most common); the crystal-system,
    Laue-class and point-group accuracies are those of always guessing the most common
    of that level among the training rows.
    """
    import numpy as np
    from _bootstrap import interval, material_weights, weighted_means

    labels, n = np.unique(training_rows["space_group"].to_numpy(dtype=np.int64), return_counts=True)
    proba = np.tile(n / n.sum(), (len(rows), 1))
    out = score(
        proba,
        labels,
        rows,
        training_rows,
        n_resamples=n_resamples,
        seed=seed,
        rare_threshold=rare_threshold,
    )
    train_lv, test_lv = (
        _levels(training_rows["space_group"].to_numpy()),
        _levels(rows["space_group"].to_numpy()),
    )
    values, most = {}, {}
    for key, field in HIERARCHY:
        kinds, k_n = np.unique(train_lv[field].astype(str), return_counts=True)
        most[field] = str(kinds[np.argmax(k_n)])  # ties: the first in sorted order
        values[key] = (test_lv[field].astype(str) == most[field]).astype(float)
        out[key] = float(values[key].mean())
    means = weighted_means(
        values, material_weights(rows["material"].astype(str).to_numpy(), n_resamples, seed)
    )
    out["ci95"].update({k: interval(v) for k, v in means.items()})
    out["majority"] = {"space_group": int(labels[np.argmax(n)]), **most}
    return out


# ----------------------------------------------------------------------------- tables


def _synthetic_tables(directory: Path, seed: int) -> tuple[Path, Path]:
    """A random kinematic table and its 'dynamical' twin: same rows, weaker features."""
    import numpy as np

    from cbedfeat.data.table import feature_columns
    from cbedfeat.testing import make_feature_table, write_feature_table

    kin = make_feature_table(
        n_classes=12,
        n_features=10,
        max_materials=20,
        samples_per_material=2,
        split_fractions=(0.6, 0.15, 0.25),
        class_separation=1.5,
        seed=seed,
    )
    names = feature_columns(list(kin.columns))
    dyn = kin.copy()
    rng = np.random.default_rng(seed + 1)
    dyn[names] = (0.5 * kin[names].to_numpy() + rng.normal(0, 1, (len(kin), len(names)))).astype(
        "float32"
    )
    return (
        write_feature_table(dyn, directory / "synthetic_dynamical.parquet"),
        write_feature_table(kin, directory / "synthetic_kinematic.parquet"),
    )


def ensure_table(table: Path, data_dir: Path | None, *, workers: int | None, device: str) -> Path:
    """``table``, extracted from ``data_dir`` first when it is missing and the data exist."""
    if table.exists():
        return table
    if data_dir is not None and data_dir.is_dir() and any(data_dir.glob("*.h5")):
        from cbedfeat.extraction.extract import extract

        logger.info("extracting %s -> %s", data_dir, table)
        extract(data_dir, table, workers=workers, device=device)
        return table
    raise SystemExit(
        f"{table} not found, and no HDF5 files under {data_dir} to extract it from. Make them with:\n"
        "  cbedfeat simulate --preset bench-dynamical --out bench/data/dynamical -j 2\n"
        "  cbedfeat simulate --preset bench-dynamical --engine kinematic "
        "--out bench/data/dynamical-kinematic -j 2\n"
        "or run with --synthetic for random development tables."
    )


def pairing(dyn, kin) -> dict:
    """How well the two tables pair: materials with the same split and space group."""

    def key(t):
        return dict(
            zip(
                t["material"].astype(str),
                zip(t["split"].astype(str), t["space_group"].astype(int), strict=True),
                strict=True,
            )
        )

    a, b = key(dyn), key(kin)
    common = set(a) & set(b)
    agree = sum(a[m] == b[m] for m in common)
    return {
        "dynamical_materials": len(a),
        "kinematic_materials": len(b),
        "common_materials": len(common),
        "agreeing_split_and_group": agree,
        "paired": len(a) == len(b) == len(common) == agree,
    }


def drop_columns(
    names: list[str],
    *,
    family: str | None = None,
    prefix: str | None = None,
    feature_config: dict | None = None,
) -> list[str]:
    """The feature columns of one family (through :mod:`cbedfeat.features.names`) or prefix.

    A prefix matches a column name with or without its ``p{i}_`` pattern prefix.
    """
    if prefix is not None:
        return [
            n for n in names if n.startswith(prefix) or re.sub(r"^p\d+_", "", n).startswith(prefix)
        ]
    from cbedfeat.features.config import FeatureConfig
    from cbedfeat.features.names import family_names

    try:
        config = FeatureConfig.from_dict(feature_config or {})
    except (TypeError, ValueError) as exc:
        raise SystemExit(
            f"--drop-family needs the table's feature config ({exc}); use --drop-prefix"
        ) from None
    members = set(family_names(family, config))
    return [n for n in names if re.sub(r"^p\d+_", "", n) in members]


# ----------------------------------------------------------------------------- the run


def run(
    dynamical: Path,
    kinematic: Path,
    *,
    extra: Path | None = None,
    model: str,
    weighting: str,
    seed: int,
    device: str,
    params: dict,
    n_resamples: int,
    ablations: list[tuple[str, str]],
    quick: bool,
) -> dict:
    """Fit every training set, score every row; return the results document."""
    import pandas as pd
    from _tables import shown_path

    from cbedfeat.data.table import data_fingerprint, read_table
    from cbedfeat.metrics.classification import DEFAULT_RARE_THRESHOLD
    from cbedfeat.workflows.train import fit_and_validate

    dyn, dyn_meta = read_table(dynamical)
    kin, kin_meta = read_table(kinematic)
    names = list(dyn_meta["feature_names"])
    if list(kin_meta["feature_names"]) != names:
        raise SystemExit(f"{dynamical} and {kinematic} have different feature columns")
    pair = pairing(dyn, kin)
    if not pair["paired"]:
        logger.warning("the tables are not paired: %s", pair)

    def part(t, *splits):
        return t[t["split"].astype(str).isin(splits)]

    kin_fit = part(kin, "train", "dev")
    n_extra = 0
    if extra is not None:
        ext, ext_meta = read_table(extra)
        if list(ext_meta["feature_names"]) != names:
            raise SystemExit(f"{extra} has other feature columns than {dynamical}")
        ext = part(ext, "train").assign(material=lambda t: EXTRA_PREFIX + t["material"].astype(str))
        n_extra = len(ext)
        kin_fit = pd.concat([kin_fit, ext], ignore_index=True)
    dyn_fit = part(dyn, "train", "dev")
    # One material's kinematic and dynamical rows share its id, so grouped hold-outs
    # inside the fit keep them on one side.
    both_fit = pd.concat([kin_fit, dyn_fit], ignore_index=True)
    tests = {"dynamical": part(dyn, "test"), "kinematic": part(kin, "test")}
    if tests["dynamical"].empty:
        raise SystemExit(f"{dynamical} has no test rows")
    plan = [
        ("kinematic", kin_fit, names, None, ("kinematic", "dynamical")),
        ("dynamical", dyn_fit, names, None, ("dynamical",)),
        ("both", both_fit, names, None, ("dynamical",)),
    ]
    for kind, value in ablations:
        dropped = drop_columns(names, feature_config=dyn_meta["feature_config"], **{kind: value})
        if not dropped:
            raise SystemExit(f"--drop-{kind} {value}: no feature column matches")
        kept = [n for n in names if n not in set(dropped)]
        plan.append(
            (
                f"dynamical without {value}",
                dyn_fit,
                kept,
                {kind: value, "n_dropped": len(dropped)},
                ("dynamical",),
            )
        )

    opts = {"n_resamples": n_resamples, "seed": seed, "rare_threshold": DEFAULT_RARE_THRESHOLD}
    rows = []
    for train_name, table, cols, ablation, test_names in plan:
        logger.info("fitting on %s (%d rows, %d features)", train_name, len(table), len(cols))
        est, training, seconds = fit_and_validate(
            table, cols, model=model, weighting=weighting, device=device, seed=seed, params=params
        )
        fit_rows = table[table["split"].astype(str) == "train"]
        for test_name in test_names:
            rows_ = tests[test_name]
            proba = est.predict_proba(rows_[cols].to_numpy(dtype="float64"))
            row = {
                "train": train_name,
                "test": test_name,
                "model": model,
                "weighting": weighting,
                "n_features": len(cols),
                "n_train_rows": len(fit_rows),
                "n_train_materials": int(fit_rows["material"].nunique()),
                "fit_seconds": seconds,
                "device_used": training["device_used"],
                "best_iteration": training["best_iteration"],
                "validation": training["validation"],
                **score(proba, est.classes_, rows_, fit_rows, **opts),
            }
            if ablation:
                row["ablation"] = ablation
            rows.append(row)
            logger.info(
                "%s -> %s: top-1 %.3f system %.3f (%.1f s)",
                train_name,
                test_name,
                row["top1_accuracy"],
                row["crystal_system_accuracy"],
                seconds,
            )
    baselines = [
        {
            "train": "majority of dynamical train",
            "test": "dynamical",
            **majority_row(part(dyn, "train"), tests["dynamical"], **opts),
        }
    ]
    if extra is not None:
        baselines.append(
            {
                "train": "majority of kinematic + extra train",
                "test": "dynamical",
                **majority_row(part(kin_fit, "train"), tests["dynamical"], **opts),
            }
        )
    return {
        "question": "models trained on kinematic, dynamical or both CBED patterns, scored on dynamical ones",
        "dynamical": shown_path(dynamical),
        "kinematic": shown_path(kinematic),
        "extra_kinematic": None if extra is None else str(extra),
        "n_extra_kinematic_rows": n_extra,
        "fingerprints": {"dynamical": data_fingerprint(dyn), "kinematic": data_fingerprint(kin)},
        "feature_version": dyn_meta["feature_version"],
        "n_features": len(names),
        "splits": {
            name: {
                s: {
                    "rows": int((t["split"].astype(str) == s).sum()),
                    "materials": int(t.loc[t["split"].astype(str) == s, "material"].nunique()),
                }
                for s in ("train", "dev", "test")
            }
            for name, t in (("dynamical", dyn), ("kinematic", kin))
        },
        "pairing": pair,
        "model": model,
        "weighting": weighting,
        "params": params,
        "seed": seed,
        "device": device,
        "quick": quick,
        "n_resamples": n_resamples,
        "level": 0.95,
        "rows": rows,
        "baselines": baselines,
    }


# ----------------------------------------------------------------------------- Markdown


def _cell(row: dict, key: str) -> str:
    from _tables import pct

    value = pct(row.get(key))
    ci = row.get("ci95", {}).get(key)
    if ci is None or value == "n/a":
        return value
    return f"{value} ({pct(ci[0])}-{pct(ci[1])})"


def markdown(doc: dict) -> str:
    """The results table and the protocol."""
    from _tables import METRIC_COLUMNS

    cols = METRIC_COLUMNS
    head = "| train -> test | " + " | ".join(h for _, h in cols) + " | fit s |"
    lines = [
        "# Kinematic against dynamical CBED patterns (bench/bench_dynamical.py)",
        "",
        head,
        "|---|" + "---:|" * (len(cols) + 1),
    ]
    for r in doc["rows"]:
        lines.append(
            f"| {r['train']} -> {r['test']} | "
            + " | ".join(_cell(r, k) for k, _ in cols)
            + f" | {r['fit_seconds']:.1f} |"
        )
    for r in doc["baselines"]:
        lines.append(
            f"| {r['train']} -> {r['test']} | "
            + " | ".join(_cell(r, k) for k, _ in cols)
            + " | - |"
        )
    s = doc["splits"]
    pair = doc["pairing"]
    rounds = doc["params"].get("n_estimators")
    extra = (
        f" The kinematic training rows include the {doc['n_extra_kinematic_rows']} train rows of "
        f"`{doc['extra_kinematic']}` (material ids prefixed, so none is taken for a material of "
        "the paired plan)."
        if doc["extra_kinematic"]
        else ""
    )
    ablations = [r for r in doc["rows"] if r.get("ablation")]
    ablated = (
        " Ablation rows train the same model on the dynamical train split without the "
        "columns named: "
        + "; ".join(
            f"{r['train']} ({r['ablation']['n_dropped']} of {doc['n_features']} columns dropped)"
            for r in ablations
        )
        + "."
        if ablations
        else ""
    )
    lines += [
        "",
        "Metrics in % of the test rows, with 95 % bootstrap intervals in brackets "
        f"({doc['n_resamples']} resamples of the test materials with replacement, not of rows; "
        "percentile intervals). Error bins ('err: ...') are shares of all test rows and add up "
        "to 100 - top-1; the ceiling is the kinematic ceiling under each row's training label "
        "counts. Majority rows: top-1 and the other space-group metrics predict the training "
        "class prior (always the most common group "
        + ", ".join(f"{b['majority']['space_group']}" for b in doc["baselines"])
        + "); their system, Laue and point-group columns always guess the most common crystal "
        "system, Laue class and point group of the training rows ("
        + "; ".join(
            f"{b['majority']['crystal_system']}, {b['majority']['laue_class']}, "
            f"{b['majority']['point_group']}"
            for b in doc["baselines"]
        )
        + ").",
        "",
        "## Protocol",
        "",
        f"Dynamical table `{doc['dynamical']}` (fingerprint `{doc['fingerprints']['dynamical'][:12]}`), "
        f"kinematic table `{doc['kinematic']}` (fingerprint `{doc['fingerprints']['kinematic'][:12]}`); "
        f"{doc['n_features']} features (version {doc['feature_version']}). Dynamical split: "
        + ", ".join(
            f"{k} {v['rows']} rows / {v['materials']} materials" for k, v in s["dynamical"].items()
        )
        + "; kinematic: "
        + ", ".join(
            f"{k} {v['rows']} rows / {v['materials']} materials" for k, v in s["kinematic"].items()
        )
        + ". "
        + (
            "The two tables are paired: every material has the same split and space group in both."
            if pair["paired"]
            else f"The tables are NOT fully paired ({pair['common_materials']} common materials, "
            f"{pair['agreeing_split_and_group']} with the same split and group)."
        )
        + extra,
        "",
        f"Model `{doc['model']}` with `{doc['weighting']}` class weighting, seed {doc['seed']}, "
        f"device {doc['device']}, "
        + (f"{rounds} boosting rounds" if rounds else "the estimator's own rounds")
        + (f", parameters {json.dumps(doc['params'])}" if doc["params"] else "")
        + (" (--quick)" if doc["quick"] else "")
        + ", fitted through `cbedfeat.workflows.train.fit_and_validate` (the path of `cbedfeat train`) on "
        "the train rows of each training set (kinematic, dynamical, or both, one row per material and "
        "physics) and validated on its dev rows; each fit is scored once on the test rows and "
        "nothing is tuned on them. 'fit s' is the seconds of that fit on this machine." + ablated,
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))  # bench/_options.py, _tables.py, _bootstrap.py as modules
    from _options import add_fit_options, fit_settings
    from _tables import write_results

    defaults = train_defaults()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dynamical", type=Path, default=DEFAULT_DYNAMICAL, help="dynamical feature table"
    )
    parser.add_argument(
        "--kinematic",
        type=Path,
        default=DEFAULT_KINEMATIC,
        help="the paired kinematic feature table",
    )
    parser.add_argument(
        "--dynamical-data",
        type=Path,
        default=DEFAULT_DYNAMICAL_DATA,
        help="HDF5 directory to extract --dynamical from when it is missing",
    )
    parser.add_argument(
        "--kinematic-data",
        type=Path,
        default=DEFAULT_KINEMATIC_DATA,
        help="HDF5 directory to extract --kinematic from when it is missing",
    )
    parser.add_argument(
        "--extra-kinematic",
        type=Path,
        default=None,
        help="another kinematic table whose train rows join the kinematic training rows",
    )
    parser.add_argument(
        "--model",
        default=defaults["model"],
        help=f"model of cbedfeat train (default: its default, {defaults['model']})",
    )
    parser.add_argument(
        "--weighting",
        default=defaults["weighting"],
        choices=["none", "balanced", "sqrt", "effective"],
        help=f"class weighting (default: cbedfeat train's, {defaults['weighting']})",
    )
    add_fit_options(parser, quick_rounds=QUICK_ROUNDS, quick_resamples=QUICK_RESAMPLES)
    parser.add_argument(
        "--drop-family",
        action="append",
        default=[],
        metavar="NAME",
        help="ablation row: the dynamical model without this feature family "
        "(cbedfeat.features.names), repeatable",
    )
    parser.add_argument(
        "--drop-prefix",
        action="append",
        default=[],
        metavar="PREFIX",
        help="ablation row: without the columns whose name, with or without its "
        "p{i}_ prefix, starts with PREFIX, repeatable",
    )
    parser.add_argument(
        "--synthetic",
        action="store_true",
        help="random paired tables instead (development; results get a _synthetic suffix)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument(
        "--workers", type=int, default=None, help="extraction workers (default: all cores)"
    )
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    params, resamples = fit_settings(
        args, quick_rounds=QUICK_ROUNDS, quick_resamples=QUICK_RESAMPLES
    )
    ablations = [("family", f) for f in args.drop_family] + [
        ("prefix", p) for p in args.drop_prefix
    ]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        if args.synthetic:
            dynamical, kinematic = _synthetic_tables(Path(tmp), args.seed)
            stem = "dynamical_synthetic"
        else:
            dynamical = ensure_table(
                args.dynamical, args.dynamical_data, workers=args.workers, device=args.device
            )
            kinematic = ensure_table(
                args.kinematic, args.kinematic_data, workers=args.workers, device=args.device
            )
            stem = "dynamical"
        doc = run(
            dynamical,
            kinematic,
            extra=args.extra_kinematic,
            model=args.model,
            weighting=args.weighting,
            seed=args.seed,
            device=args.device,
            params=params,
            n_resamples=resamples,
            ablations=ablations,
            quick=args.quick,
        )
    doc["total_seconds"] = time.perf_counter() - start
    write_results(args.out_dir, stem, doc, markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
