"""Question (3): does predicting the lattice together with the space group help the space group?

Single-task: :class:`~cbedfeat.models.SpaceGroupClassifier` on the pattern features.
Multi-task: :class:`~cbedfeat.models.multitask.MultiTaskCBEDModel`, whose stage-2
classifier (the same ``SpaceGroupClassifier`` settings) also sees out-of-fold
predictions of the lattice (log a, b, c, cosines of the angles, log volume) and of the
crystal system. Both train on the ``train`` rows of the same feature table with the
same seed and class weighting (through :func:`cbedfeat.workflows.train.fit_and_validate`, as
``cbedfeat train`` does) and are scored on ``test`` with every metric of
:mod:`cbedfeat.metrics.classification`; the multi-task model's lattice predictions get their MAE per
target and per crystal system, beside a predictor of the training median as the floor.

Writes ``bench/results/multitask.json`` and ``multitask.md``.

Usage::

    python bench/bench_multitask.py [--features bench/data/features.parquet] [--quick]
    python bench/bench_multitask.py --synthetic --quick   # development, random table
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent
DEFAULT_FEATURES = ROOT / "data" / "features.parquet"
RESULTS = ROOT / "results"
# The answer sentence calls a difference real only when the paired bootstrap interval
# (test materials resampled, both models on the same resample) excludes zero.
N_BOOTSTRAP = 1000

QUICK_PARAMS = {
    "xgb": {"n_estimators": 60},
    "multitask": {
        "n_estimators": 60,
        "regressor_estimators": 60,
        "n_splits": 3,
        "system_params": {"n_estimators": 40},
    },
}
MODELS = (
    ("single-task", "xgb", "XGBoost on the features"),
    ("multi-task", "multitask", "XGBoost on the features + OOF lattice and crystal system"),
)

logger = logging.getLogger("bench_multitask")


def _synthetic_table(directory: Path, seed: int) -> Path:
    from cbedfeat.testing import make_feature_table, write_feature_table

    table = make_feature_table(
        n_classes=30,
        n_features=24,
        max_materials=40,
        samples_per_material=5,
        class_separation=1.0,
        seed=seed,
    )
    return write_feature_table(table, directory / "synthetic_features.parquet")


def run(features: Path, *, quick: bool, seed: int, device: str, weighting: str) -> dict:
    """Fit and score both models; return the results document."""
    import numpy as np

    from cbedfeat.data.table import data_fingerprint, read_table
    from cbedfeat.metrics.classification import evaluate_predictions, summary_metrics
    from cbedfeat.models.targets import (
        LATTICE_COLUMNS,
        from_targets,
        table_regression_errors,
        to_targets,
    )
    from cbedfeat.workflows.train import fit_and_validate

    table, meta = read_table(features)
    names = list(meta["feature_names"])
    split = table["split"].astype(str)
    test, train = table[split == "test"], table[split == "train"]
    if test.empty:
        raise SystemExit(f"{features} has no test rows")
    X_test = test[names].to_numpy(dtype="float64")
    rows, preds = [], []
    for key, model_name, label in MODELS:
        params = dict(QUICK_PARAMS[model_name]) if quick else {}
        logger.info("fitting %s", key)
        model, training, seconds = fit_and_validate(
            table,
            names,
            model=model_name,
            weighting=weighting,
            device=device,
            seed=seed,
            params=params,
        )
        counts = {int(k): v for k, v in training["class_counts"].items()}
        metrics = evaluate_predictions(
            test["space_group"].to_numpy(),
            model.predict_proba(X_test),
            model.classes_,
            train_counts=counts,
            rare_threshold=training["rare_threshold_materials"],
        )
        preds.append(model.predict(X_test))
        row = {
            "model": key,
            "label": label,
            "params": params,
            "fit_seconds": seconds,
            "device_used": training["device_used"],
            **summary_metrics(metrics),
        }
        if key == "multi-task":
            row["regression"] = table_regression_errors(test, model.predict_targets(X_test))
            stage1_sys = model.predict_crystal_system(X_test)
            true_sys = (
                test["crystal_system"].astype(str).to_numpy() if "crystal_system" in test else None
            )
            if true_sys is not None:
                row["stage1_crystal_system_accuracy"] = float(np.mean(stage1_sys == true_sys))
        rows.append(row)
        logger.info(
            "%s: top-1 %.3f macro-F1 %.3f (%.1f s)",
            key,
            row["top1_accuracy"],
            row["macro_f1"],
            seconds,
        )
    # Floor for the regression: the training median of every target, for every test row.
    z = to_targets(train[list(LATTICE_COLUMNS)])
    median = from_targets(np.tile(np.nanmedian(z, axis=0), (len(test), 1)))
    floor = table_regression_errors(test, median)
    single, multi = rows
    deltas = {
        k: multi[k] - single[k]
        for k in single
        if isinstance(single[k], float) and k not in ("fit_seconds",)
    }
    intervals = _bootstrap(
        test["space_group"].to_numpy(), *preds, test["material"].astype(str).to_numpy(), seed
    )
    return {
        "features": str(features),
        "data_fingerprint": data_fingerprint(train),
        "n_train": len(train),
        "n_dev": int((split == "dev").sum()),
        "n_test": len(test),
        "n_classes_train": int(train["space_group"].nunique()),
        "n_features": len(names),
        "quick": quick,
        "seed": seed,
        "device": device,
        "weighting": weighting,
        "rows": rows,
        "median_floor": floor,
        "delta": deltas,
        "delta_95ci": intervals,
        "n_test_materials": int(test["material"].nunique()),
        "fit_time_ratio": multi["fit_seconds"] / single["fit_seconds"],
        "answer": _answer(deltas, intervals, len(test), int(test["material"].nunique())),
    }


def _bootstrap(y, pred_single, pred_multi, materials, seed) -> dict:
    """95 % paired bootstrap intervals of multi - single for top-1 and macro-F1.

    Test materials (not rows: the samples of one material are near-duplicates) are
    resampled with replacement; both models are scored on the same resample.
    """
    import numpy as np
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(seed)
    mats, inverse = np.unique(materials, return_inverse=True)
    members = [np.flatnonzero(inverse == i) for i in range(len(mats))]
    d_top1, d_f1 = [], []
    for _ in range(N_BOOTSTRAP):
        idx = np.concatenate([members[i] for i in rng.integers(0, len(mats), len(mats))])
        yt = y[idx]
        d_top1.append(np.mean(pred_multi[idx] == yt) - np.mean(pred_single[idx] == yt))
        d_f1.append(
            f1_score(yt, pred_multi[idx], average="macro", zero_division=0)
            - f1_score(yt, pred_single[idx], average="macro", zero_division=0)
        )
    return {
        k: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))]
        for k, v in (("top1_accuracy", d_top1), ("macro_f1", d_f1))
    }


def _answer(d: dict, ci: dict, n_rows: int, n_materials: int) -> str:
    top1, f1, bal = (100 * d[k] for k in ("top1_accuracy", "macro_f1", "balanced_accuracy"))
    up = [ci[k][0] > 0 for k in ("top1_accuracy", "macro_f1")]  # interval above zero
    down = [ci[k][1] < 0 for k in ("top1_accuracy", "macro_f1")]  # interval below zero
    if all(up):
        verdict = "helps the space group"
    elif all(down):
        verdict = "hurts the space group"
    elif any(up) and any(down):
        verdict = "helps on one of top-1 / macro-F1 and hurts on the other"
    elif any(up):
        verdict = "helps on one of top-1 / macro-F1 and is unresolved on the other"
    elif any(down):
        verdict = "hurts on one of top-1 / macro-F1 and is unresolved on the other"
    else:
        verdict = (
            f"makes no difference to the space group that {n_rows} test rows "
            f"({n_materials} materials) can resolve"
        )

    def ci_text(k):
        return f"95 % CI {100 * ci[k][0]:+.1f} to {100 * ci[k][1]:+.1f}"

    return (
        f"On this split, predicting the lattice and crystal system first (out-of-fold stacking) "
        f"{verdict}: top-1 {top1:+.1f} ({ci_text('top1_accuracy')}), macro-F1 {f1:+.1f} "
        f"({ci_text('macro_f1')}), balanced accuracy {bal:+.1f} points against the single-task "
        "model with the same weighting and seed (intervals: paired bootstrap over test materials)."
    )


def _markdown(doc: dict) -> str:
    from _tables import METRIC_COLUMNS as cols
    from _tables import pct

    lines = [
        "# Multi-task against single-task (bench/bench_multitask.py)",
        "",
        f"Table `{doc['features']}` (fingerprint `{doc['data_fingerprint'][:12]}`): {doc['n_train']} train / "
        f"{doc['n_dev']} dev / {doc['n_test']} test rows, {doc['n_classes_train']} training classes, "
        f"{doc['n_features']} features; weighting `{doc['weighting']}`, seed {doc['seed']}, device "
        f"{doc['device']}{', --quick' if doc['quick'] else ''}. Scored on the test rows; metrics in %.",
        "",
        "| model | " + " | ".join(h for _, h in cols) + " | fit s |",
        "|---|" + "---:|" * (len(cols) + 1),
    ]
    for r in doc["rows"]:
        lines.append(
            f"| {r['model']}: {r['label']} | "
            + " | ".join(pct(r.get(k)) for k, _ in cols)
            + f" | {r['fit_seconds']:.1f} |"
        )
    lines.append(
        "| difference (multi - single) | "
        + " | ".join(
            f"{100 * doc['delta'][k]:+.1f}" if k in doc["delta"] else "n/a" for k, _ in cols
        )
        + f" | x{doc['fit_time_ratio']:.1f} |"
    )
    multi = doc["rows"][1]
    reg, floor = multi["regression"], doc["median_floor"]
    tcols = list(reg["mae"])
    lines += [
        "",
        "## Lattice regression (multi-task model, test rows): mean absolute error",
        "",
        "| rows | n | " + " | ".join(f"{c} ({reg['units'][c]})" for c in tcols) + " |",
        "|---|---:|" + "---:|" * len(tcols),
        "| all | " + f"{reg['n']} | " + " | ".join(f"{reg['mae'][c]:.3g}" for c in tcols) + " |",
        "| all, training-median predictor | "
        + f"{floor['n']} | "
        + " | ".join(f"{floor['mae'][c]:.3g}" for c in tcols)
        + " |",
    ]
    for system, r in reg.get("mae_by_crystal_system", {}).items():
        lines.append(f"| {system} | {r['n']} | " + " | ".join(f"{r[c]:.3g}" for c in tcols) + " |")
    if "stage1_crystal_system_accuracy" in multi:
        lines += [
            "",
            f"Stage-1 crystal-system classifier on the test rows: "
            f"{100 * multi['stage1_crystal_system_accuracy']:.1f} % accuracy.",
        ]
    lines += [
        "",
        f"**Answer (3).** {doc['answer']}",
        "",
        "G-mean* is the geometric mean of recalls with imbalanced-learn's correction 1e-3. "
        "Stacking uses out-of-fold stage-1 predictions over material-grouped folds, so the "
        "stage-2 classifier never learns from a lattice prediction made by a model that saw "
        "the same material.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=Path, default=DEFAULT_FEATURES)
    parser.add_argument("--synthetic", action="store_true", help="Use a random feature table.")
    parser.add_argument("--quick", action="store_true", help="Fewer boosting rounds (smoke run).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument(
        "--weighting", default="balanced", choices=["none", "balanced", "sqrt", "effective"]
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--name",
        default=None,
        help="Result file stem [multitask, or multitask_synthetic with --synthetic].",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    from cbedfeat._util import to_json

    with tempfile.TemporaryDirectory() as tmp:
        features = _synthetic_table(Path(tmp), args.seed) if args.synthetic else args.features
        if not Path(features).exists():
            print(
                f"{features} not found: run `cbedfeat simulate --preset bench --out bench/data/raw` "
                "and `cbedfeat extract bench/data/raw --out bench/data/features.parquet`",
                file=sys.stderr,
            )
            return 2
        doc = run(
            Path(features),
            quick=args.quick,
            seed=args.seed,
            device=args.device,
            weighting=args.weighting,
        )
    name = args.name or ("multitask_synthetic" if args.synthetic else "multitask")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(to_json(doc) + "\n")
    (args.out / f"{name}.md").write_text(_markdown(doc))
    print(_markdown(doc))
    json.dumps(doc["delta"])  # fail loudly here, not in a reader, if a value is not JSON
    return 0


if __name__ == "__main__":
    sys.exit(main())
