"""Bench: are the calibrated probabilities honest and do the conformal sets cover as promised?

Trains ``cbedfeat train``'s default model (model and weighting read from
:func:`cbedfeat.workflows.train.train_model`'s defaults) on a feature table's train
rows less a material-grouped calibration hold-out (:mod:`cbedfeat.workflows.calibrate`:
one part fits the temperature, the other gives the conformal scores), then reports on
the test rows:

- top-1 and top-5 accuracy beside the mean conformal set size;
- log loss, multiclass Brier score and expected calibration error (ECE) before and
  after the temperature, and the same for scikit-learn's
  :class:`~sklearn.calibration.CalibratedClassifierCV` around the frozen model
  (:class:`~sklearn.frozen.FrozenEstimator`; sigmoid, isotonic and temperature), fitted
  on the same temperature rows;
- empirical coverage of the marginal and class-conditional (Mondrian) sets at the
  nominal coverage, with a 95 % bootstrap interval over test materials
  (``bench/_bootstrap.py``), per crystal system and for rare against frequent classes,
  and per rare class.

Results: ``bench/results/calibration.{json,md}`` (``calibration_synthetic.*`` with
``--synthetic``, a random table from :func:`cbedfeat.testing.make_feature_table` whose
numbers say nothing about CBED data).

    python bench/bench_calibration.py --features bench-large.parquet
    python bench/bench_calibration.py --synthetic --quick
"""

from __future__ import annotations

import argparse
import inspect
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
QUICK_ROUNDS = 20
QUICK_RESAMPLES = 200

logger = logging.getLogger("bench_calibration")


def _train_defaults() -> dict[str, Any]:
    from cbedfeat.workflows.train import train_model

    params = inspect.signature(train_model).parameters
    return {"model": params["model"].default, "weighting": params["weighting"].default}


def _sklearn_calibrators(
    estimator: Any, x_fit: np.ndarray, y_fit: np.ndarray, x_test: np.ndarray
) -> dict:
    """Test probabilities of CalibratedClassifierCV(FrozenEstimator(estimator)) per method."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    out: dict[str, Any] = {}
    for method in ("sigmoid", "isotonic", "temperature"):
        try:
            ccv = CalibratedClassifierCV(FrozenEstimator(estimator), method=method).fit(
                x_fit, y_fit
            )
            proba = ccv.predict_proba(x_test)
            if not np.array_equal(ccv.classes_, estimator.classes_):
                raise ValueError("calibrated classes differ from the model's")
            out[method] = proba
        except Exception as exc:  # noqa: BLE001 - a method that cannot run is reported, not fatal
            out[method] = f"{type(exc).__name__}: {exc}"
    return out


def _coverage_interval(
    y: np.ndarray,
    sets: np.ndarray,
    classes: np.ndarray,
    materials: np.ndarray,
    n_resamples: int,
    seed: int,
) -> list[float]:
    from _bootstrap import interval, material_weights, weighted_means

    column = {c: i for i, c in enumerate(classes.tolist())}
    known = np.isin(y, classes)
    covered = np.zeros(y.size)
    covered[known] = sets[np.flatnonzero(known), [column[c] for c in y[known].tolist()]]
    weights = material_weights(materials[known], n_resamples, seed=seed)
    return interval(weighted_means({"c": covered[known]}, weights)["c"])


def run(
    table: Any,
    feature_names: list[str],
    *,
    model: str,
    weighting: str,
    seed: int,
    device: str,
    params: dict,
    coverage: float,
    fraction: float,
    n_resamples: int,
) -> dict[str, Any]:
    """Fit, calibrate and score; the JSON document of the results."""
    from cbedfeat.data.table import labelled_rows
    from cbedfeat.metrics.calibration import ece_of_calibrated, probability_scores, set_metrics
    from cbedfeat.metrics.classification import DEFAULT_RARE_THRESHOLD, top_k_accuracy
    from cbedfeat.workflows.calibrate import fit_calibration, mark_calibration_rows
    from cbedfeat.workflows.train import fit_and_validate

    table, _ = labelled_rows(table, "bench")
    marked, split, train = mark_calibration_rows(table, fraction=fraction, seed=seed)
    start = time.perf_counter()
    estimator, training, fit_seconds = fit_and_validate(
        marked,
        feature_names,
        model=model,
        weighting=weighting,
        device=device,
        seed=seed,
        params=params,
    )
    temp_rows, conf_rows = train[split.temperature], train[split.conformal]
    calibration = fit_calibration(estimator, feature_names, temp_rows, conf_rows)
    test = table[table["split"].astype(str) == "test"]
    x_test = test[feature_names].to_numpy(np.float64)
    y = test["space_group"].to_numpy(np.int64)
    materials = test["material"].astype(str).to_numpy()
    classes = np.asarray(estimator.classes_)
    raw = np.asarray(estimator.predict_proba(x_test))
    calibrated = calibration.calibrate(raw)
    counts = training["class_counts"]
    rare = [int(c) for c, v in counts.items() if v["materials"] < DEFAULT_RARE_THRESHOLD]

    def scores(p: np.ndarray) -> dict[str, Any]:
        s = probability_scores(y, p, classes)
        out = {k: s[k] for k in ("log_loss", "brier", "ece")}
        # What sampling alone gives on this many rows if p were perfectly calibrated.
        out["ece_if_calibrated"] = ece_of_calibrated(p, seed=seed)
        return out

    calibrators: dict[str, Any] = {
        "none": scores(raw),
        "temperature (cbedfeat)": scores(calibrated),
    }
    known = np.isin(temp_rows["space_group"].to_numpy(), classes)
    sk = _sklearn_calibrators(
        estimator,
        temp_rows[feature_names].to_numpy(np.float64)[known],
        temp_rows["space_group"].to_numpy(np.int64)[known],
        x_test,
    )
    for method, proba in sk.items():
        calibrators[f"CalibratedClassifierCV {method}"] = (
            scores(proba) if isinstance(proba, np.ndarray) else {"error": proba}
        )
    sets = {}
    for name, mondrian in (("marginal", False), ("mondrian", True)):
        s = calibration.predict_set(calibrated, coverage, mondrian=mondrian)
        m = set_metrics(y, s, classes, rare_classes=rare, coverage=coverage)
        m["coverage_ci95"] = _coverage_interval(y, s, classes, materials, n_resamples, seed)
        sets[name] = m
    return {
        "model": model,
        "weighting": weighting,
        "seed": seed,
        "params": params,
        "nominal_coverage": coverage,
        "calibration_fraction": fraction,
        "n_fit_rows": training["n_train_samples"],
        "n_train_materials_fit": training["n_train_materials"],
        "calibration": {"temperature": calibration.temperature, **calibration.info},
        "n_test_rows": int(y.size),
        "n_test_materials": int(np.unique(materials).size),
        "n_classes_model": int(classes.size),
        "rare_threshold_materials": DEFAULT_RARE_THRESHOLD,
        "top1_accuracy": top_k_accuracy(y, calibrated, classes, 1),
        "top5_accuracy": top_k_accuracy(y, calibrated, classes, 5),
        "fit_seconds": fit_seconds,
        "seconds": time.perf_counter() - start,
        "calibrators": calibrators,
        "sets": sets,
    }


def markdown(doc: dict[str, Any]) -> str:
    """The results as Markdown tables."""
    from _tables import pct

    def num(v: Any) -> str:
        return "n/a" if v is None else f"{v:.4f}"

    lines = [
        "# Calibration and conformal sets",
        "",
        f"Model {doc['model']} ({doc['weighting']} weighting), seed {doc['seed']}; fitted on "
        f"{doc['n_fit_rows']} rows; temperature {doc['calibration']['temperature']:.3f} from "
        f"{doc['calibration']['temperature_rows']} rows of {doc['calibration']['temperature_materials']} "
        f"materials; {doc['calibration']['conformal_rows']} conformal scores from "
        f"{doc['calibration']['conformal_materials']} materials (none of them fitted on). "
        f"{doc['n_test_rows']} test rows of {doc['n_test_materials']} materials.",
        "",
        f"top-1 {pct(doc['top1_accuracy'])} %, top-5 {pct(doc['top5_accuracy'])} %, mean set size at "
        f"{pct(doc['nominal_coverage'])} %: {doc['sets']['marginal']['mean_set_size']:.2f} (marginal), "
        f"{doc['sets']['mondrian']['mean_set_size']:.2f} (Mondrian).",
        "",
        "## Probabilities on the test rows",
        "",
        "| calibrator | log loss | Brier | ECE | ECE if perfectly calibrated (median, 95 % range) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, s in doc["calibrators"].items():
        if "error" in s:
            lines.append(f"| {name} | {s['error']} | | | |")
        else:
            floor = s.get("ece_if_calibrated")
            floor_text = (
                f"{floor['median']:.4f} ({floor['lo']:.4f}-{floor['hi']:.4f})" if floor else ""
            )
            lines.append(
                f"| {name} | {num(s['log_loss'])} | {num(s['brier'])} | {num(s['ece'])} | "
                f"{floor_text} |"
            )
    lines += [
        "",
        "The last column is the ECE that sampling alone gives on these test rows: the top-1 "
        "of every row drawn right with probability equal to its confidence, 200 times. An "
        "observed ECE inside that range cannot be told from perfect calibration here.",
        "",
        f"## Conformal sets at nominal {pct(doc['nominal_coverage'])} %",
        "",
        "| sets | coverage % [95 % CI over materials] | rare classes % | frequent % | mean size | "
        "median size | empty % |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, m in doc["sets"].items():
        lo, hi = m["coverage_ci95"]
        lines.append(
            f"| {name} | {pct(m['coverage'])} [{pct(lo)}, {pct(hi)}] | {pct(m['rare']['coverage'])} "
            f"(n={m['rare']['n']}) | {pct(m['frequent']['coverage'])} | {m['mean_set_size']:.2f} | "
            f"{m['median_set_size']:.1f} | {pct(m['empty_share'])} |"
        )
    lines += [
        "",
        "Coverage per crystal system (marginal / Mondrian):",
        "",
        "| system | rows | marginal % | Mondrian % |",
        "| --- | --- | --- | --- |",
    ]
    for system, v in doc["sets"]["marginal"]["by_crystal_system"].items():
        mon = doc["sets"]["mondrian"]["by_crystal_system"][system]
        lines.append(f"| {system} | {v['n']} | {pct(v['coverage'])} | {pct(mon['coverage'])} |")
    rare = doc["sets"]["marginal"]["rare_classes"]
    if rare:
        mon = {r["space_group"]: r for r in doc["sets"]["mondrian"]["rare_classes"]}
        lines += [
            "",
            "Coverage per rare class (fewer than "
            f"{doc['rare_threshold_materials']} training materials):",
            "",
            "| SG | rows | marginal % | Mondrian % |",
            "| --- | --- | --- | --- |",
        ]
        lines += [
            f"| {r['space_group']} | {r['n']} | {pct(r['coverage'])} | "
            f"{pct(mon[r['space_group']]['coverage'])} |"
            for r in rare
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    defaults = _train_defaults()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--features", type=Path, help="feature table (Parquet) with train and test rows"
    )
    parser.add_argument("--synthetic", action="store_true", help="a small random table instead")
    parser.add_argument("--model", default=defaults["model"])
    parser.add_argument("--weighting", default=defaults["weighting"])
    parser.add_argument(
        "--rounds", type=int, default=None, help="n_estimators (default: the estimator's)"
    )
    parser.add_argument("--n-jobs", type=int, default=1, help="threads of the model (0: its own)")
    parser.add_argument("--coverage", type=float, default=0.9)
    parser.add_argument("--calibration-fraction", type=float, default=0.2)
    parser.add_argument(
        "--resamples", type=int, default=None, help="bootstrap resamples (default 1000)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer rounds and resamples (smoke run)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if bool(args.features) == args.synthetic:
        parser.error("give --features or --synthetic")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    sys.path.insert(0, str(ROOT))  # bench/_tables.py, bench/_bootstrap.py when imported as a module
    from _bootstrap import N_RESAMPLES

    from cbedfeat._util import to_json

    params: dict[str, Any] = {}
    rounds = args.rounds or (QUICK_ROUNDS if args.quick else None)
    if rounds:
        params["n_estimators"] = rounds
    if args.n_jobs:
        params["n_jobs"] = args.n_jobs
    if args.synthetic:
        from cbedfeat.testing import make_feature_table

        # A flat tail (every class with several materials), so that every class reaches the
        # temperature rows and CalibratedClassifierCV can run at all.
        table = make_feature_table(
            n_classes=12,
            max_materials=60,
            tail_exponent=0.6,
            samples_per_material=4,
            class_separation=0.8,
            seed=args.seed,
        )
        names = [c for c in table.columns if c.startswith(("f_", "noise_"))]
        stem = "calibration_synthetic"
    else:
        from cbedfeat.data.table import read_table

        table, meta = read_table(args.features)
        names = list(meta["feature_names"])
        stem = "calibration"
    doc = run(
        table,
        names,
        model=args.model,
        weighting=args.weighting,
        seed=args.seed,
        device=args.device,
        params=params,
        coverage=args.coverage,
        fraction=args.calibration_fraction,
        n_resamples=args.resamples or (QUICK_RESAMPLES if args.quick else N_RESAMPLES),
    )
    doc["features"] = "synthetic" if args.synthetic else str(args.features)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"{stem}.json").write_text(to_json(doc) + "\n")
    md = markdown(doc)
    (args.out_dir / f"{stem}.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
