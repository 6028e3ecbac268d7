"""Question: how much of the training set should calibration hold out, and how much of that the conformal scores?

Measured on the dev rows only (never fitted on, never used to calibrate), so that the
choice leaves the test rows alone. For each calibration fraction (share of the training
materials held out, :func:`cbedfeat.workflows.calibrate.calibration_split`) the default
model of ``cbedfeat train`` is fitted once on the rest, and its dev top-1 and top-5
recorded. The held-out materials are then cut, ``--draws`` times with different seeds,
into a temperature part and a conformal part in each conformal share (the cut of
:func:`~cbedfeat.workflows.calibrate.calibration_split`: a uniform random draw of
materials), and each cut gives a temperature and conformal scores
(:func:`~cbedfeat.workflows.calibrate.fit_calibration`; the fitted temperature is
applied whatever its bootstrap interval, so that its spread shows). On the dev rows each reports
the coverage and mean size of the marginal sets at the nominal coverage and the ECE
after the temperature; over the draws, their mean and spread, and the spread of the
temperature itself.

What the numbers decide: the fraction trades fitting materials (top-1, set size)
against conformal scores (the spread of the coverage, see
:func:`cbedfeat.metrics.calibration.split_conformal_range`); the share trades
temperature rows (the temperature's spread, hence ECE and log loss) against conformal
scores.

Results: ``bench/results/calibration_share.{json,md}``.

    python bench/bench_calibration_share.py --features bench/data/large.parquet --n-jobs 2
    python bench/bench_calibration_share.py --synthetic --quick
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

logger = logging.getLogger("bench_calibration_share")


def _cut(materials: np.ndarray, held: np.ndarray, share: float, seed: int) -> np.ndarray:
    """(n,) bool: the held-out rows of a uniform random ``share`` of the held-out materials."""
    names = np.unique(materials[held])
    n = min(max(round(names.size * share), 1), max(names.size - 1, 1))
    chosen = np.random.default_rng(seed).permutation(names)[:n]
    return held & np.isin(materials, chosen)


def run(
    table: Any,
    feature_names: list[str],
    *,
    fractions: list[float],
    shares: list[float],
    draws: int,
    coverage: float,
    seed: int,
    device: str,
    params: dict,
) -> dict[str, Any]:
    """Fit per fraction, calibrate per share and draw, score on dev; the JSON document."""
    from cbedfeat.data.table import labelled_rows
    from cbedfeat.metrics.calibration import probability_scores, set_metrics, split_conformal_range
    from cbedfeat.metrics.classification import top_k_accuracy
    from cbedfeat.workflows.calibrate import fit_calibration, mark_calibration_rows
    from cbedfeat.workflows.train import fit_and_validate, train_model

    defaults = inspect.signature(train_model).parameters
    model, weighting = defaults["model"].default, defaults["weighting"].default
    table, _ = labelled_rows(table, "bench")
    dev = table[table["split"].astype(str) == "dev"]
    if dev.empty:
        raise ValueError("the table has no dev rows")
    y_dev = dev["space_group"].to_numpy(np.int64)
    results = []
    for fraction in fractions:
        marked, split, train = mark_calibration_rows(table, fraction=fraction, seed=seed)
        start = time.perf_counter()
        estimator, training, _ = fit_and_validate(
            marked,
            feature_names,
            model=model,
            weighting=weighting,
            device=device,
            seed=seed,
            params=params,
        )
        fit_seconds = time.perf_counter() - start
        classes = np.asarray(estimator.classes_)
        raw = np.asarray(estimator.predict_proba(dev[feature_names].to_numpy(np.float32)))
        materials = train["material"].astype(str).to_numpy()
        held = ~split.fit
        entry: dict[str, Any] = {
            "fraction": fraction,
            "fit_materials": training["n_train_materials"],
            "held_materials": int(np.unique(materials[held]).size),
            "fit_seconds": fit_seconds,
            "dev_top1": top_k_accuracy(y_dev, raw, classes, 1),
            "dev_top5": top_k_accuracy(y_dev, raw, classes, 5),
            "shares": [],
        }
        for share in shares:
            runs = []
            for draw in range(draws):
                conformal = _cut(materials, held, share, seed=seed + 1 + draw)
                # The fitted temperature always applied, so that its own spread shows.
                cal = fit_calibration(
                    estimator,
                    feature_names,
                    train[held & ~conformal],
                    train[conformal],
                    temperature_level=None,
                )
                calibrated = cal.calibrate(raw)
                sets = set_metrics(
                    y_dev, cal.predict_set(calibrated, coverage), classes, coverage=coverage
                )
                runs.append(
                    {
                        "temperature": cal.temperature,
                        # Materials, the independent units (rows of one material are not).
                        "conformal_scores": int(cal.info["conformal_materials"]),
                        "coverage": sets["coverage"],
                        "mean_set_size": sets["mean_set_size"],
                        "ece": probability_scores(y_dev, calibrated, classes)["ece"],
                    }
                )
            n_scores = int(np.median([r["conformal_scores"] for r in runs]))
            summary = {
                key: {
                    "mean": float(np.mean([r[key] for r in runs])),
                    "sd": float(np.std([r[key] for r in runs], ddof=1)) if draws > 1 else None,
                }
                for key in ("temperature", "coverage", "mean_set_size", "ece")
            }
            entry["shares"].append(
                {
                    "share": share,
                    "conformal_scores": n_scores,
                    "temperature_materials": entry["held_materials"] - n_scores,
                    "split_conformal_range": split_conformal_range(
                        n_scores, int(dev["material"].nunique()), coverage
                    ),
                    **summary,
                    "draws": runs,
                }
            )
            logger.info(
                "fraction %.2f share %.2f: dev coverage %.3f +- %.3f, set %.2f, T %.3f +- %s",
                fraction,
                share,
                summary["coverage"]["mean"],
                summary["coverage"]["sd"] or 0.0,
                summary["mean_set_size"]["mean"],
                summary["temperature"]["mean"],
                summary["temperature"]["sd"],
            )
        results.append(entry)
    return {
        "model": model,
        "weighting": weighting,
        "seed": seed,
        "params": params,
        "nominal_coverage": coverage,
        "draws": draws,
        "dev_rows": int(y_dev.size),
        "dev_materials": int(dev["material"].nunique()),
        "fractions": results,
    }


def markdown(doc: dict[str, Any]) -> str:
    """The results as Markdown tables."""
    from _tables import pct

    def sd(v: Any, scale: float = 1.0, digits: int = 3) -> str:
        return "" if v is None else f" ± {scale * v:.{digits}f}"

    lines = [
        "# Calibration hold-out: fraction and conformal share, measured on the dev rows",
        "",
        f"Model {doc['model']} ({doc['weighting']} weighting), seed {doc['seed']}; "
        f"{doc['dev_rows']} dev rows of {doc['dev_materials']} materials; nominal coverage "
        f"{pct(doc['nominal_coverage'])} %; {doc['draws']} random cuts of the hold-out per share "
        "(mean ± standard deviation over the cuts).",
        "",
        "| fraction | fit materials | dev top-1 % | dev top-5 % | share | conformal scores | "
        "temperature | dev coverage % | split conformal 95 % range % | dev mean set | dev ECE |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in doc["fractions"]:
        for s in f["shares"]:
            rng = s["split_conformal_range"]
            lines.append(
                f"| {f['fraction']:.2f} | {f['fit_materials']} | {pct(f['dev_top1'])} | "
                f"{pct(f['dev_top5'])} | {s['share']:.2f} | {s['conformal_scores']} | "
                f"{s['temperature']['mean']:.3f}{sd(s['temperature']['sd'])} | "
                f"{pct(s['coverage']['mean'])}{sd(s['coverage']['sd'], 100, 1)} | "
                f"{pct(rng['lo'])}-{pct(rng['hi'])} | "
                f"{s['mean_set_size']['mean']:.2f}{sd(s['mean_set_size']['sd'], 1, 2)} | "
                f"{s['ece']['mean']:.4f}{sd(s['ece']['sd'], 1, 4)} |"
            )
    lines += [
        "",
        "The spread of the dev coverage over cuts is the calibration part of split "
        "conformal's spread (the dev rows stay the same); the 95 % range column is that of "
        "exact split conformal with this many scores on this many dev materials, calibration "
        "and test sampling together.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=Path, help="feature table with train and dev rows")
    parser.add_argument("--synthetic", action="store_true", help="a small random table instead")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.2, 0.3])
    parser.add_argument("--shares", type=float, nargs="+", default=[0.25, 0.5, 0.75])
    parser.add_argument("--draws", type=int, default=5, help="random cuts per share")
    parser.add_argument("--coverage", type=float, default=0.9)
    parser.add_argument("--rounds", type=int, default=None, help="n_estimators")
    parser.add_argument("--n-jobs", type=int, default=1, help="threads of the model (0: its own)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds (smoke run)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if bool(args.features) == args.synthetic:
        parser.error("give --features or --synthetic")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    sys.path.insert(0, str(ROOT))  # bench/_tables.py when imported as a module

    from _tables import write_results

    params: dict[str, Any] = {}
    rounds = args.rounds or (QUICK_ROUNDS if args.quick else None)
    if rounds:
        params["n_estimators"] = rounds
    if args.n_jobs:
        params["n_jobs"] = args.n_jobs
    if args.synthetic:
        from cbedfeat.testing import make_feature_table

        table = make_feature_table(
            n_classes=12,
            max_materials=60,
            tail_exponent=0.6,
            samples_per_material=2,
            seed=args.seed,
        )
        names = [c for c in table.columns if c.startswith(("f_", "noise_"))]
        stem = "calibration_share_synthetic"
    else:
        from cbedfeat.data.table import read_table

        table, meta = read_table(args.features)
        names = list(meta["feature_names"])
        stem = "calibration_share"
    doc = run(
        table,
        names,
        fractions=args.fractions,
        shares=args.shares,
        draws=args.draws,
        coverage=args.coverage,
        seed=args.seed,
        device=args.device,
        params=params,
    )
    doc["features"] = "synthetic" if args.synthetic else str(args.features)
    write_results(args.out_dir, stem, doc, markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
