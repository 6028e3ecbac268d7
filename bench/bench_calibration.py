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
  and per rare class; beside it the range exact split conformal shows with this many
  conformal scores and test rows
  (:func:`cbedfeat.metrics.calibration.split_conformal_range`);
- the coverage of the per-material sets (the stacks of a material combined; with one
  stack per material they equal the stack sets);
- the make-up of the conformal part against the test rows (share of rows of rare
  classes, classes present), which split conformal needs to be alike;
- the same probability scores and sets on the dev rows (never fitted on), a second
  sample beside the test rows.

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
ECE_DRAWS = 1000
QUICK_ECE_DRAWS = 100

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


def _composition(
    rows: Any, fit_materials: dict[int, int], rare_threshold: int, scored: set[int]
) -> dict[str, Any]:
    """Rows, materials, classes and rarity of a part of the table (against the fitted model)."""
    y = rows["space_group"].to_numpy(np.int64)
    fitted = np.array([fit_materials.get(int(c), 0) for c in y])
    return {
        "rows": int(y.size),
        "materials": int(rows["material"].nunique()),
        "classes": int(np.unique(y).size),
        "rare_share": float(np.mean(fitted < rare_threshold)) if y.size else None,
        "unseen_in_fit_rows": int(np.sum(fitted == 0)),
        "rows_of_classes_without_conformal_score": int(np.sum(~np.isin(y, list(scored)))),
    }


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
    conformal_share: float,
    n_resamples: int,
    ece_draws: int = ECE_DRAWS,
) -> dict[str, Any]:
    """Fit, calibrate and score; the JSON document of the results."""
    from scipy.special import softmax

    from cbedfeat.data.table import labelled_rows
    from cbedfeat.metrics.calibration import (
        ece_of_calibrated,
        probability_scores,
        set_metrics,
        split_conformal_range,
    )
    from cbedfeat.metrics.classification import DEFAULT_RARE_THRESHOLD, top_k_accuracy
    from cbedfeat.models.calibration import apply_temperature, log_probabilities
    from cbedfeat.workflows.calibrate import fit_calibration, mark_calibration_rows
    from cbedfeat.workflows.explain import combine_log_probabilities
    from cbedfeat.workflows.train import fit_and_validate

    table, _ = labelled_rows(table, "bench")
    marked, split, train = mark_calibration_rows(
        table, fraction=fraction, conformal_share=conformal_share, seed=seed
    )
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
    calibration = fit_calibration(estimator, feature_names, temp_rows, conf_rows, seed=seed)
    classes = np.asarray(estimator.classes_)
    counts = training["class_counts"]
    rare = [int(c) for c, v in counts.items() if v["materials"] < DEFAULT_RARE_THRESHOLD]
    fit_materials = {int(c): int(v["materials"]) for c, v in counts.items()}
    scored = set(calibration.conformal.labels.tolist())

    def scores(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
        s = probability_scores(y, p, classes)
        out = {k: s[k] for k in ("log_loss", "brier", "ece")}
        # What sampling alone gives on this many rows if p were perfectly calibrated.
        out["ece_if_calibrated"] = ece_of_calibrated(p, n_draws=ece_draws, seed=seed)
        return out

    def evaluate(rows: Any) -> dict[str, Any]:
        """Probability scores and sets of rows the model was not fitted on."""
        x = rows[feature_names].to_numpy(np.float64)
        y = rows["space_group"].to_numpy(np.int64)
        materials = rows["material"].astype(str).to_numpy()
        raw = np.asarray(estimator.predict_proba(x))
        calibrated = calibration.calibrate(raw)
        sets = {}
        for name, mondrian in (("marginal", False), ("mondrian", True)):
            s = calibration.predict_set(calibrated, coverage, mondrian=mondrian)
            m = set_metrics(y, s, classes, rare_classes=rare, coverage=coverage)
            m["coverage_ci95"] = _coverage_interval(y, s, classes, materials, n_resamples, seed)
            sets[name] = m
        keys, combined = combine_log_probabilities(log_probabilities(calibrated), materials)
        truth = dict(zip(materials, y, strict=True))
        y_mat = np.array([truth[k] for k in keys])
        n_stacks = np.bincount(np.searchsorted(keys, materials), minlength=keys.size)
        mat_sets = calibration.predict_material_set(softmax(combined, axis=1), n_stacks, coverage)
        material = set_metrics(y_mat, mat_sets, classes, rare_classes=rare, coverage=coverage)
        material["coverage_ci95"] = _coverage_interval(
            y_mat, mat_sets, classes, keys, n_resamples, seed
        )
        material["mean_stacks"] = float(n_stacks.mean())
        return {
            "rows": int(y.size),
            "materials": int(np.unique(materials).size),
            "top1_accuracy": top_k_accuracy(y, calibrated, classes, 1),
            "top5_accuracy": top_k_accuracy(y, calibrated, classes, 5),
            "calibrators": {
                "none": scores(y, raw),
                "temperature (cbedfeat)": scores(y, calibrated),
                # The fitted temperature, whether or not its interval holds 1.
                "temperature fitted, always applied": scores(
                    y, apply_temperature(raw, calibration.info["temperature_fitted"])
                ),
            },
            "sets": sets,
            "material_sets": material,
            "composition": _composition(rows, fit_materials, DEFAULT_RARE_THRESHOLD, scored),
            # Materials are the independent units on both sides.
            "split_conformal_range": split_conformal_range(
                int(calibration.info["conformal_materials"]),
                int(np.unique(materials).size),
                coverage,
            ),
        }

    test = table[table["split"].astype(str) == "test"]
    dev = table[table["split"].astype(str) == "dev"]
    result = evaluate(test)
    calibrators = result["calibrators"]
    known = np.isin(temp_rows["space_group"].to_numpy(), classes)
    sk = _sklearn_calibrators(
        estimator,
        temp_rows[feature_names].to_numpy(np.float64)[known],
        temp_rows["space_group"].to_numpy(np.int64)[known],
        test[feature_names].to_numpy(np.float64),
    )
    y = test["space_group"].to_numpy(np.int64)
    for method, proba in sk.items():
        calibrators[f"CalibratedClassifierCV {method}"] = (
            scores(y, proba) if isinstance(proba, np.ndarray) else {"error": proba}
        )
    return {
        "model": model,
        "weighting": weighting,
        "seed": seed,
        "params": params,
        "nominal_coverage": coverage,
        "calibration_fraction": fraction,
        "conformal_share": conformal_share,
        "ece_draws": ece_draws,
        "n_fit_rows": training["n_train_samples"],
        "n_train_materials_fit": training["n_train_materials"],
        "calibration": {"temperature": calibration.temperature, **calibration.info},
        "calibration_parts": {
            "temperature": _composition(temp_rows, fit_materials, DEFAULT_RARE_THRESHOLD, scored),
            "conformal": _composition(conf_rows, fit_materials, DEFAULT_RARE_THRESHOLD, scored),
        },
        "n_test_rows": result["rows"],
        "n_test_materials": result["materials"],
        "n_classes_model": int(classes.size),
        "rare_threshold_materials": DEFAULT_RARE_THRESHOLD,
        "top1_accuracy": result["top1_accuracy"],
        "top5_accuracy": result["top5_accuracy"],
        "fit_seconds": fit_seconds,
        "seconds": time.perf_counter() - start,
        "calibrators": calibrators,
        "sets": result["sets"],
        "material_sets": result["material_sets"],
        "composition_test": result["composition"],
        "split_conformal_range": result["split_conformal_range"],
        "dev": evaluate(dev) if len(dev) else None,
    }


def _interval_text(interval: list[float] | None) -> str:
    return "none" if not interval else f"{interval[0]:.3f}-{interval[1]:.3f}"


def _floor_text(floor: dict[str, float] | None) -> str:
    return f"{floor['median']:.4f} ({floor['lo']:.4f}-{floor['hi']:.4f})" if floor else ""


def markdown(doc: dict[str, Any]) -> str:
    """The results as Markdown tables."""
    from _tables import pct

    def num(v: Any) -> str:
        return "n/a" if v is None else f"{v:.4f}"

    cal = doc["calibration"]
    lines = [
        "# Calibration and conformal sets",
        "",
        f"Model {doc['model']} ({doc['weighting']} weighting), seed {doc['seed']}; fitted on "
        f"{doc['n_fit_rows']} rows; {pct(doc['calibration_fraction'])} % of the training materials "
        f"held out, {pct(doc['conformal_share'])} % of those (drawn at random) for the conformal "
        f"scores: temperature {cal['temperature']:.3f} (fitted {cal['temperature_fitted']:.3f}, "
        f"95 % bootstrap interval {_interval_text(cal.get('temperature_interval'))}; applied only "
        f"when the interval leaves out 1) from {cal['temperature_rows']} rows of "
        f"{cal['temperature_materials']} materials; {cal['conformal_rows']} conformal scores from "
        f"{cal['conformal_materials']} materials (none of them fitted on). "
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
            lines.append(
                f"| {name} | {num(s['log_loss'])} | {num(s['brier'])} | {num(s['ece'])} | "
                f"{_floor_text(s.get('ece_if_calibrated'))} |"
            )
    rng = doc["split_conformal_range"]
    lines += [
        "",
        "The last column is the ECE that sampling alone gives on these test rows: the top-1 "
        f"of every row drawn right with probability equal to its confidence, {doc['ece_draws']} "
        "times. An observed ECE inside that range cannot be told from perfect calibration here.",
        "",
        f"## Conformal sets at nominal {pct(doc['nominal_coverage'])} %",
        "",
        "| sets | coverage % [95 % CI over materials] | rare classes % | frequent % | mean size | "
        "median size | empty % |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    rows = [(name, m) for name, m in doc["sets"].items()]
    rows.append(("per material (stacks combined)", doc["material_sets"]))
    for name, m in rows:
        lo, hi = m["coverage_ci95"]
        lines.append(
            f"| {name} | {pct(m['coverage'])} [{pct(lo)}, {pct(hi)}] | {pct(m['rare']['coverage'])} "
            f"(n={m['rare']['n']}) | {pct(m['frequent']['coverage'])} | {m['mean_set_size']:.2f} | "
            f"{m['median_set_size']:.1f} | {pct(m['empty_share'])} |"
        )
    lines += [
        "",
        f"Exact split conformal with {cal['conformal_materials']} conformal materials, on "
        f"{doc['n_test_materials']} "
        f"independent test materials: expected coverage {pct(rng['expected'])} %, and 95 % of "
        f"calibration and test draws give an observed coverage in [{pct(rng['lo'])}, "
        f"{pct(rng['hi'])}] % (standard deviation {pct(rng['sd'])} points, of which "
        f"{pct(rng['calibration_sd'])} from the calibration scores alone; beta-binomial). The "
        "bootstrap interval over test materials above holds the test part of that spread only. "
        f"Per-material sets: {doc['material_sets']['mean_stacks']:.1f} stacks per material.",
        "",
        "Make-up of the calibration parts and the evaluated rows (rare: fewer than "
        f"{doc['rare_threshold_materials']} fitted materials):",
        "",
        "| part | rows | materials | classes | rare % | rows of classes without a conformal score |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    parts = {**doc["calibration_parts"], "test": doc["composition_test"]}
    if doc.get("dev"):
        parts["dev"] = doc["dev"]["composition"]
    for name, c in parts.items():
        lines.append(
            f"| {name} | {c['rows']} | {c['materials']} | {c['classes']} | {pct(c['rare_share'])} | "
            f"{c['rows_of_classes_without_conformal_score']} |"
        )
    dev = doc.get("dev")
    if dev:
        d_cal = dev["calibrators"]["temperature (cbedfeat)"]
        d_rng = dev["split_conformal_range"]
        lines += [
            "",
            f"Dev rows ({dev['rows']} rows of {dev['materials']} materials, never fitted on): "
            f"top-1 {pct(dev['top1_accuracy'])} %, top-5 {pct(dev['top5_accuracy'])} %; log loss "
            + " / ".join(f"{num(v['log_loss'])}" for v in dev["calibrators"].values())
            + " and ECE "
            + " / ".join(f"{num(v['ece'])}" for v in dev["calibrators"].values())
            + f" ({' / '.join(dev['calibrators'])}; perfect calibration: "
            f"{_floor_text(d_cal['ece_if_calibrated'])}); "
            "coverage "
            + ", ".join(
                f"{name} {pct(m['coverage'])} % [{pct(m['coverage_ci95'][0])}, "
                f"{pct(m['coverage_ci95'][1])}] (mean set {m['mean_set_size']:.2f})"
                for name, m in dev["sets"].items()
            )
            + f"; split conformal range [{pct(d_rng['lo'])}, {pct(d_rng['hi'])}] %.",
        ]
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
    from cbedfeat.workflows.calibrate import DEFAULT_CALIBRATION_FRACTION, DEFAULT_CONFORMAL_SHARE

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
    parser.add_argument("--calibration-fraction", type=float, default=DEFAULT_CALIBRATION_FRACTION)
    parser.add_argument(
        "--conformal-share",
        type=float,
        default=DEFAULT_CONFORMAL_SHARE,
        help="share of the held-out materials that give the conformal scores",
    )
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
    from _tables import write_results

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
        conformal_share=args.conformal_share,
        n_resamples=args.resamples or (QUICK_RESAMPLES if args.quick else N_RESAMPLES),
        ece_draws=QUICK_ECE_DRAWS if args.quick else ECE_DRAWS,
    )
    doc["features"] = "synthetic" if args.synthetic else str(args.features)
    write_results(args.out_dir, stem, doc, markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
