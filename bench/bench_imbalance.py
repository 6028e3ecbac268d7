"""Question (2): what does each way of handling class imbalance do to which metric?

One row per strategy: unweighted XGBoost (the baseline), XGBoost with each class
weighting, each imbalanced-learn ensemble and the hierarchical classifier. Every
strategy trains on the ``train`` rows of the same feature table with the same seed,
validates on ``dev`` (or a material-grouped hold-out), and is scored on ``test`` with
every metric of :mod:`cbedfeat.evaluate`, plus its fit time and the ratio to the baseline's fit time
measured in the same run.

Writes ``bench/results/imbalance.json``, ``imbalance.md`` and
``imbalance_recall.png`` (per-class recall against training frequency, baseline
against the best strategy). The best strategy is the one with the highest
macro-F1 + balanced accuracy among those whose top-1 stays within 2 points of the
baseline (among all, when none does); the target checks of the issue are computed,
never assumed.

Usage::

    python bench/bench_imbalance.py [--features bench/data/features.parquet] [--quick]
    python bench/bench_imbalance.py --synthetic --quick   # development, random table

The bench table comes from ``cbedfeat simulate --preset bench --out bench/data/raw``
followed by ``cbedfeat extract bench/data/raw --out bench/data/features.parquet``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent
DEFAULT_FEATURES = ROOT / "data" / "features.parquet"
RESULTS = ROOT / "results"
TOP1_TOLERANCE = 0.02
GAIN_TARGET = 0.05
SYSTEM_TARGET = 0.90

logger = logging.getLogger("bench_imbalance")


@dataclass(frozen=True)
class Strategy:
    key: str
    model: str
    weighting: str
    label: str


STRATEGIES: tuple[Strategy, ...] = (
    Strategy("xgb-none", "xgb", "none", "XGBoost, unweighted (baseline)"),
    Strategy("xgb-balanced", "xgb", "balanced", "XGBoost, balanced weights"),
    Strategy("xgb-sqrt", "xgb", "sqrt", "XGBoost, 1/sqrt weights"),
    Strategy("xgb-effective", "xgb", "effective", "XGBoost, effective-number weights"),
    Strategy("brf", "brf", "balanced", "Balanced random forest"),
    Strategy("bagging", "bagging", "balanced", "Balanced bagging of XGBoost"),
    Strategy("easy", "easy", "balanced", "Easy ensemble"),
    Strategy("rusboost", "rusboost", "balanced", "RUSBoost"),
    Strategy("hierarchical", "hierarchical", "balanced", "Hierarchical (system, then group), XGBoost"),
)
BASELINE = "xgb-none"

# --quick: fewer rounds and members, for a smoke run of the whole script.
QUICK_PARAMS: dict[str, dict] = {
    "xgb": {"n_estimators": 60},
    "brf": {"n_estimators": 60},
    "bagging": {"n_estimators": 3, "boost_rounds": 30},
    "easy": {"n_estimators": 3, "boost_rounds": 20},
    "rusboost": {"n_estimators": 30},
    "hierarchical": {"n_estimators": 60},
}


def _synthetic_table(directory: Path, seed: int) -> Path:
    from cbedfeat.testing import make_feature_table, write_feature_table

    table = make_feature_table(n_classes=40, n_features=24, max_materials=60, tail_exponent=1.2,
                               samples_per_material=5, class_separation=1.0, seed=seed)
    return write_feature_table(table, directory / "synthetic_features.parquet")


def _params(model: str, quick: bool, rounds: int | None) -> dict:
    params = dict(QUICK_PARAMS[model]) if quick else {}
    if rounds is not None:  # boosting rounds of every XGBoost inside the strategy
        params[{"bagging": "boost_rounds", "easy": "boost_rounds"}.get(model, "n_estimators")] = rounds
    return params


def run(features: Path, *, quick: bool, seed: int, device: str, rounds: int | None = None,
        only: tuple[str, ...] = ()) -> dict:
    """Fit and score every strategy; return the results document."""
    from cbedfeat.evaluate import evaluate_predictions, summary_metrics
    from cbedfeat.train import data_fingerprint, fit_and_validate, read_table

    table, meta = read_table(features)
    names = list(meta["feature_names"])
    split = table["split"].astype(str)
    test = table[split == "test"]
    if test.empty:
        # Scoring on validation rows would mix model selection and evaluation.
        raise SystemExit(f"{features} has no test rows")
    rows, per_class = [], {}
    chosen = [s for s in STRATEGIES if not only or s.key in only or s.key == BASELINE]
    for strategy in chosen:
        params = _params(strategy.model, quick, rounds)
        logger.info("fitting %s", strategy.key)
        model, training, seconds = fit_and_validate(
            table, names, model=strategy.model, weighting=strategy.weighting, device=device,
            seed=seed, params=params)
        counts = {int(k): v for k, v in training["class_counts"].items()}
        metrics = evaluate_predictions(test["space_group"].to_numpy(),
                                       model.predict_proba(test[names].to_numpy(dtype="float64")),
                                       model.classes_, train_counts=counts,
                                       rare_threshold=training["rare_threshold_materials"])
        row = {"strategy": strategy.key, "label": strategy.label, "model": strategy.model,
               "weighting": strategy.weighting, "params": params, "fit_seconds": seconds,
               "device_used": training["device_used"],
               **summary_metrics(metrics),
               "rare_recall_micro": metrics["rare"]["recall_micro"],
               "frequent_recall_micro": metrics["frequent"]["recall_micro"],
               "validation": training["validation"]}
        rows.append(row)
        per_class[strategy.key] = metrics["per_class"]
        logger.info("%s: top-1 %.3f macro-F1 %.3f balanced %.3f (%.1f s)", strategy.key,
                    row["top1_accuracy"], row["macro_f1"], row["balanced_accuracy"], seconds)
    base = next(r for r in rows if r["strategy"] == BASELINE)
    for r in rows:
        r["fit_time_vs_baseline"] = r["fit_seconds"] / base["fit_seconds"]
        for key in ("top1_accuracy", "macro_f1", "balanced_accuracy"):
            r[f"delta_{key}"] = r[key] - base[key]
    others = [r for r in rows if r["strategy"] != BASELINE]
    allowed = [r for r in others if r["delta_top1_accuracy"] >= -TOP1_TOLERANCE] or others
    best = max(allowed, key=lambda r: r["macro_f1"] + r["balanced_accuracy"])
    target = {
        "macro_f1_gain": best["delta_macro_f1"],
        "balanced_accuracy_gain": best["delta_balanced_accuracy"],
        "top1_drop": -best["delta_top1_accuracy"],
        "crystal_system_accuracy": best["crystal_system_accuracy"],
        "macro_f1_gain_ok": best["delta_macro_f1"] >= GAIN_TARGET,
        "balanced_accuracy_gain_ok": best["delta_balanced_accuracy"] >= GAIN_TARGET,
        "top1_drop_ok": -best["delta_top1_accuracy"] <= TOP1_TOLERANCE,
        "crystal_system_ok": best["crystal_system_accuracy"] >= SYSTEM_TARGET,
    }
    train = table[split == "train"]
    return {
        "features": str(features),
        "data_fingerprint": data_fingerprint(train),
        "n_train": len(train), "n_dev": int((split == "dev").sum()), "n_test": len(test),
        "n_classes_train": int(train["space_group"].nunique()),
        "n_features": len(names), "quick": quick, "seed": seed, "device": device, "rounds": rounds,
        "rare_threshold_materials": training["rare_threshold_materials"],
        "rows": rows, "best": best["strategy"], "target": target, "per_class": per_class,
    }


def _markdown(doc: dict) -> str:
    cols = [("top1_accuracy", "top-1"), ("top5_accuracy", "top-5"), ("balanced_accuracy", "bal. acc"),
            ("macro_f1", "macro-F1"), ("weighted_f1", "wtd F1"), ("geometric_mean_corrected", "G-mean*"),
            ("crystal_system_accuracy", "system"), ("laue_class_accuracy", "Laue"),
            ("point_group_accuracy", "point grp"), ("rare_recall_macro", "rare recall"),
            ("frequent_recall_macro", "freq. recall")]
    mode = (", --quick" if doc["quick"] else "") + (f", {doc['rounds']} boosting rounds" if doc["rounds"] else "")
    lines = [
        "# Class-imbalance strategies (bench/bench_imbalance.py)",
        "",
        f"Table `{doc['features']}` (fingerprint `{doc['data_fingerprint'][:12]}`): "
        f"{doc['n_train']} train / {doc['n_dev']} dev / {doc['n_test']} test rows, "
        f"{doc['n_classes_train']} training classes, {doc['n_features']} features; seed {doc['seed']}, "
        f"device {doc['device']}{mode}. Scored on the test rows. "
        f"Rare classes have fewer than {doc['rare_threshold_materials']} training materials; "
        "G-mean* is the geometric mean of recalls with imbalanced-learn's correction 1e-3.",
        "",
        "| strategy | " + " | ".join(h for _, h in cols) + " | fit s | fit x base |",
        "|---|" + "---:|" * (len(cols) + 2),
    ]
    for r in doc["rows"]:
        mark = " **(best)**" if r["strategy"] == doc["best"] else ""
        cells = [f"{100 * r[k]:.1f}" if r.get(k) is not None and r[k] == r[k] else "n/a" for k, _ in cols]
        lines.append(f"| {r['label']}{mark} | " + " | ".join(cells)
                     + f" | {r['fit_seconds']:.1f} | {r['fit_time_vs_baseline']:.2f} |")
    t = doc["target"]
    best = next(r for r in doc["rows"] if r["strategy"] == doc["best"])

    def ok(flag):
        return "met" if flag else "NOT met"

    lines += [
        "",
        "Metrics in %. Best strategy: highest macro-F1 + balanced accuracy with top-1 within "
        f"{100 * TOP1_TOLERANCE:.0f} points of the baseline: **{best['label']}**.",
        "",
        f"- macro-F1 {100 * t['macro_f1_gain']:+.1f} points over unweighted XGBoost "
        f"(target +{100 * GAIN_TARGET:.0f}): {ok(t['macro_f1_gain_ok'])}",
        f"- balanced accuracy {100 * t['balanced_accuracy_gain']:+.1f} points "
        f"(target +{100 * GAIN_TARGET:.0f}): {ok(t['balanced_accuracy_gain_ok'])}",
        f"- top-1 {-100 * t['top1_drop']:+.1f} points (target: a drop of at most "
        f"{100 * TOP1_TOLERANCE:.0f}): {ok(t['top1_drop_ok'])}",
        f"- crystal-system accuracy {100 * t['crystal_system_accuracy']:.1f} % "
        f"(target {100 * SYSTEM_TARGET:.0f} %): {ok(t['crystal_system_ok'])}",
        "",
        "Kinematic patterns obey Friedel's law, so enantiomorphic space groups are "
        "indistinguishable and top-1 has a ceiling below 100 %.",
        "",
        "![per-class recall](imbalance_recall.png)",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=Path, default=DEFAULT_FEATURES, help="feature table (Parquet)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds and members (smoke run)")
    parser.add_argument("--synthetic", action="store_true",
                        help="use a random synthetic table instead (development; results get a _synthetic suffix)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--rounds", type=int, default=None,
                        help="boosting rounds of every XGBoost model (default: the estimators' own)")
    parser.add_argument("--only", default="", help="comma-separated strategies to run besides the baseline: "
                        + ",".join(s.key for s in STRATEGIES))
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    from cbedfeat.report import plot_recall_vs_frequency, to_json

    with tempfile.TemporaryDirectory() as tmp:
        if args.synthetic:
            features, stem = _synthetic_table(Path(tmp), args.seed), "imbalance_synthetic"
        else:
            features, stem = args.features, "imbalance"
            if not features.exists():
                print(f"{features} not found. Make it with:\n"
                      "  cbedfeat simulate --preset bench --out bench/data/raw\n"
                      f"  cbedfeat extract bench/data/raw --out {features}\n"
                      "or run with --synthetic for a random development table.", file=sys.stderr)
                return 2
        start = time.perf_counter()
        only = tuple(k for k in args.only.split(",") if k)
        unknown = set(only) - {s.key for s in STRATEGIES}
        if unknown:
            parser.error(f"unknown strategies {sorted(unknown)}")
        doc = run(features, quick=args.quick, seed=args.seed, device=args.device, rounds=args.rounds,
                  only=only)
        doc["total_seconds"] = time.perf_counter() - start
    args.out_dir.mkdir(parents=True, exist_ok=True)
    best = next(r for r in doc["rows"] if r["strategy"] == doc["best"])
    plot_recall_vs_frequency(
        {"XGBoost, unweighted": doc["per_class"][BASELINE], best["label"]: doc["per_class"][doc["best"]]},
        args.out_dir / f"{stem}_recall.png",
        title="Per-class recall: unweighted XGBoost against the best strategy",
    )
    (args.out_dir / f"{stem}.json").write_text(to_json(doc) + "\n")
    md = _markdown(doc).replace("imbalance_recall.png", f"{stem}_recall.png")
    (args.out_dir / f"{stem}.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
