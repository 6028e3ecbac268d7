"""Question: how does each model's accuracy, and each kind of error, grow with training materials?

One kinematic feature table (by default the ``bench-large`` preset: 6,400 materials,
one energy, 640 test materials). The training materials are put in one seeded random
order and the first 320, 640, 1,280, 2,560 and all of them are drawn (nested draws:
each smaller training set is a subset of every larger one; a drawn material brings all
its rows). Each model (by default XGBoost unweighted, and the model and weighting that
``cbedfeat train`` defaults to) is fitted on every draw through
:func:`cbedfeat.workflows.train.fit_and_validate` (the path of ``cbedfeat train``;
validated on the dev rows, which are the same for every draw) and scored once on the
whole test split with every metric of ``cbedfeat evaluate``
(:func:`cbedfeat.metrics.classification.evaluate_predictions`: top-1, top-5, macro-F1,
crystal system, Laue class, point group, the kinematic ceiling under the draw's training
label counts, top-1 / ceiling, accuracy up to kinematic equivalence and the four error
bins), with 95 % bootstrap intervals over test materials and the seconds of each fit.

Per model and metric, a log-linear trend (the metric against log2 of the training
materials, least squares through every point) is extrapolated to ``--extrapolate-to``
training materials (default 48,000, about the real data set). It is an extrapolation of
a straight line, not a measurement: it can leave [0, 1], and nothing guarantees that the
curve stays straight past the largest draw.

Writes ``bench/results/learning_curve.json`` and ``learning_curve.md``.

Usage::

    python bench/bench_learning_curve.py [--features bench/data/large.parquet]
        [--sizes 320,640,1280,2560,all] [--models xgb:none NAME[:WEIGHTING] ...] [--quick]
    python bench/bench_learning_curve.py --synthetic --quick   # development, a random table

The table comes from::

    cbedfeat simulate --preset bench-large --out bench/data/large --workers 2
    cbedfeat extract bench/data/large --out bench/data/large.parquet --workers 2
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent
DEFAULT_FEATURES = ROOT / "data" / "large.parquet"
RESULTS = ROOT / "results"
DEFAULT_SIZES = "320,640,1280,2560,all"
SYNTHETIC_SIZES = "8,16,32,all"
EXTRAPOLATE_TO = 48_000
QUICK_ROUNDS = 30
QUICK_RESAMPLES = 200
# The numbers whose bootstrap intervals the Markdown tables show.
HEADLINE = ("top1_accuracy", "crystal_system_accuracy", "errors_wrong_absences")
# (key of the summary metrics, column header), in table order.
COLUMNS = [
    ("top1_accuracy", "top-1"),
    ("top5_accuracy", "top-5"),
    ("macro_f1", "macro-F1"),
    ("crystal_system_accuracy", "system"),
    ("laue_class_accuracy", "Laue"),
    ("point_group_accuracy", "point grp"),
    ("kinematic_ceiling", "ceiling"),
    ("top1_over_ceiling", "top-1/ceiling"),
    ("equivalence_accuracy", "up to equiv."),
    ("errors_wrong_crystal_system", "err: system"),
    ("errors_wrong_laue_class", "err: Laue"),
    ("errors_wrong_absences", "err: absences"),
    ("errors_indistinguishable", "err: indisting."),
]

logger = logging.getLogger("bench_learning_curve")


# ----------------------------------------------------------------------------- draws


def parse_sizes(text: str) -> list[int | None]:
    """Training-material counts from ``"320,640,all"``; ``None`` stands for all of them.

    Parameters
    ----------
    text : str
        Comma-separated positive integers and/or ``all``.

    Returns
    -------
    list of int or None
    """
    sizes: list[int | None] = []
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        if item.lower() == "all":
            sizes.append(None)
            continue
        try:
            n = int(item.replace("_", ""))
        except ValueError:
            raise SystemExit(f"--sizes: {item!r} is neither a positive integer nor 'all'") from None
        if n < 1:
            raise SystemExit(f"--sizes: {n} is not a positive number of materials")
        sizes.append(n)
    if not sizes:
        raise SystemExit("--sizes: no size given")
    return sizes


def material_order(train_rows, seed: int):
    """The training materials in one seeded random order.

    Parameters
    ----------
    train_rows : DataFrame
        Rows of the train split, with a ``material`` column.
    seed : int

    Returns
    -------
    (m,) ndarray of str
        Every distinct material once; the first ``n`` of them are the draw of size ``n``.
    """
    import numpy as np

    materials = np.unique(
        train_rows["material"].astype(str).to_numpy()
    )  # sorted: seed alone decides
    return np.random.default_rng(seed).permutation(materials)


def nested_draws(train_rows, sizes: list[int | None], seed: int) -> list[tuple[int, object]]:
    """Nested material-grouped draws of the training rows.

    Parameters
    ----------
    train_rows : DataFrame
        Rows of the train split, with a ``material`` column.
    sizes : list of int or None
        Materials per draw; ``None`` (or a count above the number of materials) is all of them.
    seed : int
        Seed of the one random order of the materials (:func:`material_order`).

    Returns
    -------
    list of (int, DataFrame)
        ``(n_materials, rows)`` per distinct size, ascending: the rows of the first
        ``n_materials`` materials of the order, so each draw is a subset of the next
        and a material's rows are all in a draw or all out of it.
    """
    order = material_order(train_rows, seed)
    counts = sorted({order.size if n is None else min(int(n), order.size) for n in sizes})
    rank = {m: i for i, m in enumerate(order)}
    position = train_rows["material"].astype(str).map(rank).to_numpy()
    return [(n, train_rows[position < n]) for n in counts]


# ----------------------------------------------------------------------------- trend


def log_linear_trend(n_materials, values, target: float) -> dict | None:
    """Least-squares line of ``values`` against log2 of ``n_materials``, evaluated at ``target``.

    Parameters
    ----------
    n_materials : (p,) array of int
        Training materials of each point.
    values : (p,) array of float
        The metric at each point (NaN points are left out).
    target : float
        Training materials to extrapolate to.

    Returns
    -------
    dict or None
        ``slope_per_doubling``, ``intercept`` (the value at one material), ``extrapolated``
        (``slope * log2(target) + intercept``), ``r2`` and ``n_points``; None with fewer
        than two distinct sizes.
    """
    import numpy as np

    x = np.log2(np.asarray(n_materials, dtype=float))
    y = np.asarray(values, dtype=float)
    keep = np.isfinite(y)
    x, y = x[keep], y[keep]
    if np.unique(x).size < 2:
        return None
    slope, intercept = np.polyfit(x, y, 1)
    fitted = slope * x + intercept
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum((y - fitted) ** 2)) / ss_tot if ss_tot > 0 else None
    return {
        "slope_per_doubling": float(slope),
        "intercept": float(intercept),
        "extrapolated": float(slope * math.log2(target) + intercept),
        "r2": r2,
        "n_points": int(x.size),
    }


# ----------------------------------------------------------------------------- the run


def parse_model(spec: str, default_weighting: str) -> tuple[str, str]:
    """``NAME[:WEIGHTING]`` -> ``(name, weighting)``, checked against the trainable models."""
    from cbedfeat.models.registry import MODELS

    name, _, weighting = spec.partition(":")
    weighting = weighting or default_weighting
    if name not in MODELS or MODELS[name].inputs != "features":
        choices = sorted(n for n, spec in MODELS.items() if spec.inputs == "features")
        raise SystemExit(f"--models: unknown model {name!r}; choose among {choices}")
    if weighting not in ("none", "balanced", "sqrt", "effective"):
        raise SystemExit(f"--models: unknown weighting {weighting!r} in {spec!r}")
    return name, weighting


def run(
    features: Path,
    *,
    models: list[tuple[str, str]],
    sizes: list[int | None],
    seed: int,
    device: str,
    params: dict,
    n_resamples: int,
    target: float,
    quick: bool,
) -> dict:
    """Fit every model on every draw, score the test split; return the results document."""
    import pandas as pd
    from bench_dynamical import score

    from cbedfeat.data.table import data_fingerprint, labelled_rows, read_table
    from cbedfeat.metrics.classification import DEFAULT_RARE_THRESHOLD
    from cbedfeat.workflows.train import fit_and_validate

    table, meta = read_table(features)
    table, n_unlabelled = labelled_rows(table, "the learning curve")
    names = list(meta["feature_names"])
    split = table["split"].astype(str)
    train, dev, test = table[split == "train"], table[split == "dev"], table[split == "test"]
    if train.empty or test.empty:
        raise SystemExit(
            f"{features} needs train and test rows "
            f"(train {len(train)}, dev {len(dev)}, test {len(test)})"
        )
    order = material_order(train, seed)
    draws = nested_draws(train, sizes, seed)
    opts = {"n_resamples": n_resamples, "seed": seed, "rare_threshold": DEFAULT_RARE_THRESHOLD}
    curves = []
    for model, weighting in models:
        points = []
        for n, rows in draws:
            logger.info("%s (%s): fitting on %d materials, %d rows", model, weighting, n, len(rows))
            fit_table = rows if dev.empty else pd.concat([rows, dev])
            est, training, seconds = fit_and_validate(
                fit_table,
                names,
                model=model,
                weighting=weighting,
                device=device,
                seed=seed,
                params=params,
            )
            proba = est.predict_proba(test[names].to_numpy(dtype="float64"))
            point = {
                "n_train_materials": n,
                "n_train_rows": len(rows),
                "n_train_classes": int(rows["space_group"].nunique()),
                "fit_seconds": seconds,
                "device_used": training["device_used"],
                "best_iteration": training["best_iteration"],
                "validation": training["validation"],
                **score(proba, est.classes_, test, rows, **opts),
            }
            points.append(point)
            logger.info(
                "%s at %d materials: top-1 %.3f, system %.3f, absences bin %.3f (%.1f s)",
                model,
                n,
                point["top1_accuracy"],
                point["crystal_system_accuracy"],
                point["errors_wrong_absences"],
                seconds,
            )
        x = [p["n_train_materials"] for p in points]
        # Every scalar metric of the summary (fit seconds are not a metric of the predictions).
        metric_keys = [
            k for k, v in points[0].items() if isinstance(v, float) and k != "fit_seconds"
        ]
        trend = {k: log_linear_trend(x, [p[k] for p in points], target) for k in metric_keys}
        curves.append({"model": model, "weighting": weighting, "points": points, "trend": trend})
    return {
        "question": "accuracy and error bins against training materials (nested draws), "
        "with a log-linear extrapolation",
        "features": str(features),
        "fingerprint": data_fingerprint(table),
        "feature_version": meta["feature_version"],
        "n_features": len(names),
        "n_unlabelled_left_out": n_unlabelled,
        "splits": {
            s: {
                "rows": int((split == s).sum()),
                "materials": int(table.loc[split == s, "material"].nunique()),
            }
            for s in ("train", "dev", "test")
        },
        "sizes_requested": [("all" if n is None else n) for n in sizes],
        "sizes": [n for n, _ in draws],
        "material_order": [str(m) for m in order],
        "extrapolate_to": target,
        "trend_x": "log2(training materials)",
        "params": params,
        "seed": seed,
        "device": device,
        "quick": quick,
        "n_resamples": n_resamples,
        "level": 0.95,
        "rare_threshold": DEFAULT_RARE_THRESHOLD,
        "curves": curves,
    }


# ----------------------------------------------------------------------------- Markdown


def _cell(values: dict, key: str, ci: dict | None = None) -> str:
    from _tables import pct

    value = pct(values.get(key))
    if ci is None or key not in HEADLINE or key not in ci or value == "n/a":
        return value
    lo, hi = ci[key]
    return f"{value} ({pct(lo)}-{pct(hi)})"


def _signed(value) -> str:
    """A change as signed percentage points; 'n/a' for None or NaN."""
    from _tables import pct

    return "n/a" if value is None or value != value else ("+" if value >= 0 else "") + pct(value)


def markdown(doc: dict) -> str:
    """One table per model, rows by training size, the extrapolation and the protocol."""
    target = doc["extrapolate_to"]
    head = "| training materials | rows | " + " | ".join(h for _, h in COLUMNS) + " | fit s |"
    rule = "|---:|---:|" + "---:|" * (len(COLUMNS) + 1)
    lines = ["# Learning curve (bench/bench_learning_curve.py)", ""]
    for curve in doc["curves"]:
        lines += [f"## {curve['model']}, weighting {curve['weighting']}", "", head, rule]
        for p in curve["points"]:
            lines.append(
                f"| {p['n_train_materials']:,} | {p['n_train_rows']:,} | "
                + " | ".join(_cell(p, k, p["ci95"]) for k, _ in COLUMNS)
                + f" | {p['fit_seconds']:.1f} |"
            )
        trend = curve["trend"]
        if any(trend.get(k) for k, _ in COLUMNS):
            slope = {k: (None if t is None else t["slope_per_doubling"]) for k, t in trend.items()}
            extra = {k: (None if t is None else t["extrapolated"]) for k, t in trend.items()}
            lines.append(
                "| *trend: change per doubling* | | "
                + " | ".join(_signed(slope.get(k)) for k, _ in COLUMNS)
                + " | |"
            )
            lines.append(
                f"| ***extrapolation to {target:,.0f}*** | | "
                + " | ".join(f"*{_cell(extra, k)}*" for k, _ in COLUMNS)
                + " | |"
            )
        lines.append("")
    s = doc["splits"]
    rounds = doc["params"].get("n_estimators")
    lines += [
        "Metrics in % of the test rows. Headline numbers (top-1, crystal system and the "
        "'right Laue class, wrong absences' bin) carry 95 % bootstrap intervals in brackets "
        f"({doc['n_resamples']} resamples of the test materials with replacement, not of rows; "
        "percentile intervals; the JSON has them for every per-row metric). The error bins "
        "('err: ...') are shares of all test rows and add up to 100 - top-1; the ceiling is the "
        "kinematic ceiling of the test rows under each draw's training label counts.",
        "",
        f"**The last row of each table is an extrapolation, not a measurement**: per metric, a "
        f"least-squares line of the metric against log2 of the training materials through the "
        f"measured rows, evaluated at {target:,.0f} training materials (about the real data set); "
        "the row above it is the line's slope, points per doubling of the training materials. "
        "Nothing bounds a straight line to [0, 100] %, and curves flatten as they approach what the "
        "features allow, so read the extrapolation as what today's rate of gain would give, at most. "
        "(The lines of top-1 and of the four bins share their x values, so their extrapolations "
        "still add up to 100 %.)",
        "",
        "## Protocol",
        "",
        f"Feature table `{doc['features']}` (fingerprint `{doc['fingerprint'][:12]}`), "
        f"{doc['n_features']} features (version {doc['feature_version']}); splits "
        + ", ".join(f"{k} {v['rows']:,} rows / {v['materials']:,} materials" for k, v in s.items())
        + (
            f"; {doc['n_unlabelled_left_out']} unlabelled rows left out"
            if doc["n_unlabelled_left_out"]
            else ""
        )
        + ". The train materials are put in one random order (seed "
        f"{doc['seed']}); the draw of n materials is the first n of that order with all their rows, so "
        "the draws are nested (each is a subset of every larger one) and grouped by material. "
        f"Draws: {', '.join(f'{n:,}' for n in doc['sizes'])} materials. Each model is fitted on "
        "every draw through `cbedfeat.workflows.train.fit_and_validate` (the path of `cbedfeat "
        "train`), validated on the dev rows (the same for every draw), and scored once on the whole "
        "test split with `cbedfeat.metrics.classification.evaluate_predictions`; nothing is tuned on "
        f"the test rows. Device {doc['device']}, "
        + (f"{rounds} boosting rounds" if rounds else "each estimator's own rounds")
        + (f", parameters {json.dumps(doc['params'])}" if doc["params"] else "")
        + (" (--quick)" if doc["quick"] else "")
        + ". 'fit s' is the seconds of that fit on this machine.",
        "",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- command line


def _synthetic_table(directory: Path, seed: int) -> Path:
    """A small random feature table (development and tests)."""
    from cbedfeat.testing import make_feature_table, write_feature_table

    table = make_feature_table(
        n_classes=10,
        n_features=8,
        n_noise_features=2,
        max_materials=24,
        samples_per_material=2,
        split_fractions=(0.6, 0.15, 0.25),
        class_separation=1.5,
        seed=seed,
    )
    return write_feature_table(table, directory / "synthetic_learning_curve.parquet")


def default_models() -> list[str]:
    """XGBoost unweighted, and the model and weighting ``cbedfeat train`` defaults to (once)."""
    from bench_dynamical import train_defaults

    defaults = train_defaults()
    return list(dict.fromkeys(["xgb:none", f"{defaults['model']}:{defaults['weighting']}"]))


def main(argv: list[str] | None = None) -> int:
    """Command line; returns the exit status."""
    sys.path.insert(0, str(ROOT))  # bench/_tables.py, _bootstrap.py, bench_dynamical.py as modules
    from _options import add_fit_options, fit_settings
    from bench_dynamical import train_defaults

    defaults = train_defaults()
    models_default = default_models()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--features",
        type=Path,
        default=DEFAULT_FEATURES,
        help=f"feature table (default {DEFAULT_FEATURES.relative_to(ROOT.parent)})",
    )
    parser.add_argument(
        "--sizes",
        default=None,
        help=f"training materials per draw, comma-separated, 'all' for every one "
        f"(default {DEFAULT_SIZES}; --synthetic: {SYNTHETIC_SIZES})",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        default=models_default,
        metavar="NAME[:WEIGHTING]",
        help="models of cbedfeat train, each with its class weighting (default: "
        f"{' '.join(models_default)}: XGBoost unweighted and cbedfeat train's default "
        f"model and weighting; a NAME alone gets {defaults['weighting']})",
    )
    add_fit_options(parser, quick_rounds=QUICK_ROUNDS, quick_resamples=QUICK_RESAMPLES)
    parser.add_argument(
        "--extrapolate-to",
        type=float,
        default=EXTRAPOLATE_TO,
        help=f"training materials of the trend's extrapolation (default {EXTRAPOLATE_TO:,})",
    )
    parser.add_argument(
        "--synthetic",
        action="store_true",
        help="a tiny random table instead (development; results get a _synthetic suffix)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the draws, the fits and the bootstrap"
    )
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    from cbedfeat._util import to_json, write_atomic

    models = list(dict.fromkeys(parse_model(m, defaults["weighting"]) for m in args.models))
    sizes = parse_sizes(args.sizes or (SYNTHETIC_SIZES if args.synthetic else DEFAULT_SIZES))
    if args.extrapolate_to < 1:
        raise SystemExit("--extrapolate-to must be at least 1 material")
    params, resamples = fit_settings(
        args, quick_rounds=QUICK_ROUNDS, quick_resamples=QUICK_RESAMPLES
    )
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        if args.synthetic:
            features, stem = _synthetic_table(Path(tmp), args.seed), "learning_curve_synthetic"
        else:
            features, stem = args.features, "learning_curve"
            if not features.exists():
                raise SystemExit(
                    f"{features} not found. Make it with:\n"
                    "  cbedfeat simulate --preset bench-large --out bench/data/large --workers 2\n"
                    "  cbedfeat extract bench/data/large --out bench/data/large.parquet --workers 2\n"
                    "or run with --synthetic for a random development table."
                )
        doc = run(
            features,
            models=models,
            sizes=sizes,
            seed=args.seed,
            device=args.device,
            params=params,
            n_resamples=resamples,
            target=args.extrapolate_to,
            quick=args.quick,
        )
    doc["total_seconds"] = time.perf_counter() - start
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out_dir / f"{stem}.json", (to_json(doc) + "\n").encode())
    md = markdown(doc)
    write_atomic(args.out_dir / f"{stem}.md", md.encode())
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
