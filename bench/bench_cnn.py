"""Question: at equal training time, which classifies better: physics features + XGBoost, or a CNN?

For each data set given (``--set NAME DATA_DIR [TABLE]``, e.g. a kinematic and a
dynamical one), on its ``train`` rows, scored on its ``test`` rows:

- **the feature model**: :class:`~cbedfeat.models.SpaceGroupClassifier` fitted as
  ``cbedfeat train`` fits it (:func:`cbedfeat.workflows.train.fit_and_validate`, its
  grouped early stopping included) at several numbers of boosting rounds
  (``--rounds``), each an independent fit. Its training time is the fit's plus the
  time to extract the features of the training rows, measured here on a seeded sample
  of them (``--extract-rows``, read + extract, one process) and scaled to all of them;
- **the CNN** (:class:`~cbedfeat.models.cnn.CNNSpaceGroupClassifier`), for each of
  ``--archs``: ``resnet`` is the published recipe (the default of ``cbedfeat train
  --model cnn``, here at ``--width``), ``small`` the earlier baseline
  (:data:`~cbedfeat.models.cnn.SMALL_RECIPE`) at the same number of epochs. Scored on
  the test rows after every ``--curve-every`` epochs; its training time is the
  cumulative time of the epochs (reading and preprocessing the stacks included; the
  scoring in between is not counted). Neither approach looks at the dev rows while it
  trains: the CNN keeps its last epoch, as the one-cycle schedule intends.

Every point of the curves gets the metrics of ``cbedfeat evaluate``
(:func:`cbedfeat.metrics.classification.evaluate_predictions`: top-1, macro-F1, crystal
system, the error bins of :mod:`cbedfeat.metrics.physics` ...); the end point of each
curve also 95 % bootstrap intervals over test materials (``bench/_bootstrap.py``, as
in ``bench/bench_dynamical.py``). The equal-time comparison pairs every CNN point with
the feature model of the most rounds trained within the same time, and reports where
the CNN first overtakes it (the crossover), if it does.

Writes ``bench/results/cnn.json`` and ``cnn.md``.

Usage::

    python bench/bench_cnn.py --set kinematic bench/data/dynamical-kinematic \\
        --set dynamical bench/data/dynamical [--epochs 30 --width 32] [--device cuda]
    python bench/bench_cnn.py --set NAME DATA_DIR TABLE.parquet ...   # table elsewhere

A set's table defaults to ``DATA_DIR.parquet`` beside the data directory and is
extracted (``cbedfeat extract``, all cores) when missing.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
DEFAULT_ROUNDS = (10, 25, 50, 100, 200)
QUICK_ROUNDS = (5, 20)
CURVE_KEYS = (
    "top1_accuracy",
    "macro_f1",
    "crystal_system_accuracy",
    "errors_wrong_crystal_system",
    "errors_wrong_laue_class",
    "errors_wrong_absences",
    "errors_indistinguishable",
)
CURVE_HEADERS = (
    "top-1",
    "macro-F1",
    "system",
    "err: system",
    "err: Laue",
    "err: absences",
    "err: indisting.",
)
logger = logging.getLogger("bench_cnn")


# ----------------------------------------------------------------------------- data


def parse_set(values: list[str]) -> tuple[str, Path, Path]:
    """``NAME DATA_DIR [TABLE]`` -> (name, data directory, feature table path)."""
    if len(values) not in (2, 3):
        raise SystemExit(f"--set takes NAME DATA_DIR [TABLE], got {values}")
    data = Path(values[1])
    table = Path(values[2]) if len(values) == 3 else data.with_name(data.name + ".parquet")
    return values[0], data, table


def ensure_table(table: Path, data: Path, *, device: str) -> Path:
    """``table``, extracted from the HDF5 files of ``data`` first when it is missing."""
    if table.exists():
        return table
    if not (data.is_dir() and any(data.glob("*.h5"))):
        raise SystemExit(f"{table} not found and no HDF5 files under {data} to extract it from")
    from cbedfeat.extraction.extract import extract

    logger.info("extracting %s -> %s", data, table)
    extract(data, table, device=device, progress=False)
    return table


def _rows(table, split: str):
    rows = table[table["split"].astype(str) == split].reset_index(drop=True)
    if rows.empty:
        raise SystemExit(f"the table has no {split!r} rows")
    return rows


def extraction_seconds_per_row(
    train, data: Path, feature_config, *, n_rows: int, seed: int, device: str
) -> tuple[float, int]:
    """Seconds to read and extract one training row, one process, from ``n_rows`` of them.

    A first extraction of one stack, not timed, pays the one-off set-up, which would
    otherwise be scaled up with the rows.

    Returns
    -------
    seconds_per_row : float
    n_timed : int
    """
    import numpy as np

    from cbedfeat.features.pipeline import FeatureExtractor
    from cbedfeat.models.cnn_data import StackDataset, refs_from_table

    sample = train.sample(n=min(n_rows, len(train)), random_state=seed)
    ext = FeatureExtractor(config=feature_config, device=device).fit()
    ds = StackDataset(refs_from_table(sample, data))
    try:
        ext.transform(ds.read_raw(0)[None])  # one-off set-up (imports, FFT plans), not per row
        t0 = time.perf_counter()
        ext.transform(np.stack([ds.read_raw(i) for i in range(len(ds))]))
        seconds = time.perf_counter() - t0
    finally:
        ds.close()
    return seconds / len(sample), len(sample)


# ----------------------------------------------------------------------------- scoring


def curve_metrics(test, proba, classes, train) -> dict:
    """The scalar metrics of ``cbedfeat evaluate`` for one curve point."""
    from cbedfeat.metrics.classification import (
        class_training_counts,
        evaluate_predictions,
        summary_metrics,
    )

    counts = class_training_counts(
        train["space_group"].to_numpy(), train["material"].astype(str).to_numpy()
    )
    return summary_metrics(
        evaluate_predictions(test["space_group"].to_numpy(), proba, classes, train_counts=counts)
    )


def end_point(test, proba, classes, train, *, n_resamples: int, seed: int) -> dict:
    """Every metric of the last point of a curve, with 95 % intervals over test materials."""
    from bench_dynamical import score

    from cbedfeat.metrics.classification import DEFAULT_RARE_THRESHOLD

    return score(
        proba,
        classes,
        test,
        train,
        n_resamples=n_resamples,
        seed=seed,
        rare_threshold=DEFAULT_RARE_THRESHOLD,
    )


# ----------------------------------------------------------------------------- the two approaches


def feature_curve(table, names, train, test, *, rounds, extract_s: float, args) -> dict:
    """Independent XGBoost fits at each number of rounds; time = fit + extraction."""
    import numpy as np

    from cbedfeat.workflows.train import fit_and_validate

    fit_rows = table[table["split"].astype(str).isin(["train", "dev"])]  # dev: scored after the fit
    points, proba, est = [], None, None
    for n in rounds:
        params = {"n_estimators": int(n), "n_jobs": args.threads}
        est, training, fit_s = fit_and_validate(
            fit_rows,
            names,
            model="xgb",
            weighting=args.weighting,
            device=args.device,
            seed=args.seed,
            params=params,
        )
        proba = est.predict_proba(test[names].to_numpy(dtype=np.float64))
        best = training.get("best_iteration")
        points.append(
            {
                "step": int(n),
                "rounds_used": None if best is None else int(best) + 1,
                "fit_seconds": fit_s,
                "seconds": fit_s + extract_s,
                "device_used": training["device_used"],
                **curve_metrics(test, proba, est.classes_, train),
            }
        )
        logger.info(
            "xgb %d rounds: %.1f s, top-1 %.3f", n, fit_s + extract_s, points[-1]["top1_accuracy"]
        )
    return {
        "approach": "features",
        "label": "physics features + XGBoost",
        "unit": "rounds",
        "extract_seconds": extract_s,
        "points": points,
        "_proba": (proba, est.classes_),
        "end": end_point(
            test, proba, est.classes_, train, n_resamples=args.resamples, seed=args.seed
        ),
    }


#: How the ResNet's training views are named in the tables.
AUGMENT_LABELS = {
    "continuous": "rotations + mirrors",
    "dihedral": "right-angle rotations + mirrors",
    "frame": "frame-keeping half turns + mirrors",
    "none": "no augmentation",
}


def cnn_params(arch: str, args) -> dict:
    """Constructor parameters of the CNN of ``arch`` for this run."""
    from cbedfeat.models.cnn import SMALL_RECIPE

    common = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "image_size": args.image_size,
        "cache_inputs": args.cache,
        "num_workers": args.workers,
        "weighting": args.weighting,
        "device": args.device,
        "random_state": args.seed,
    }
    if arch == "small":
        return {**SMALL_RECIPE, **common}
    return {
        "arch": "resnet",
        "width": args.width,
        "augment": args.augment,
        "tta": args.tta,
        "lr": args.lr,
        **common,
    }


def cnn_curve(arch: str, train, test, data: Path, args) -> dict:
    """One CNN fit, scored on the test rows every ``curve_every`` epochs and at the end."""
    from cbedfeat.models.cnn import CNNSpaceGroupClassifier
    from cbedfeat.models.cnn_data import refs_from_table

    params = cnn_params(arch, args)
    est = CNNSpaceGroupClassifier(**params)
    test_refs = refs_from_table(test, data)
    points, last = [], {}

    def on_epoch(epoch: int, model) -> None:
        if (epoch + 1) % args.curve_every and epoch + 1 != model.epochs:
            return
        proba = model.predict_proba(test_refs)
        last["proba"] = proba
        points.append(
            {
                "step": epoch + 1,
                "seconds": model.history_[-1]["seconds"],
                "train_loss": model.history_[-1]["train_loss"],
                **curve_metrics(test, proba, model.classes_, train),
            }
        )
        logger.info(
            "%s epoch %d: %.1f s, top-1 %.3f",
            arch,
            epoch + 1,
            points[-1]["seconds"],
            points[-1]["top1_accuracy"],
        )

    est.fit(refs_from_table(train, data), train["space_group"].to_numpy(), epoch_callback=on_epoch)
    if arch == "small":
        label = f"small CNN (width {params['width']}), earlier recipe"
    else:
        label = (
            f"ResNet (width {params['width']}{', ResNet-18' if params['width'] == 64 else ''}), "
            f"{AUGMENT_LABELS[params['augment']]}, label smoothing, one-cycle, "
            f"{params['tta']}-view averaging"
        )
    return {
        "approach": f"cnn-{arch}",
        "label": label,
        "unit": "epochs",
        "params": params,
        "device_used": str(est.device_),
        "points": points,
        "_proba": (last["proba"], est.classes_),
        "end": end_point(
            test, last["proba"], est.classes_, train, n_resamples=args.resamples, seed=args.seed
        ),
    }


# ----------------------------------------------------------------------------- both together


def blend_point(features: dict, cnn: dict, test, train, args) -> dict:
    """Features and one CNN together: the plain mean of their last probabilities.

    What ``cbedfeat train --model features-cnn`` trains
    (:class:`~cbedfeat.models.hybrid.FeatureCNNClassifier`, ``cnn_share=0.5``). Nothing
    is tuned (equal weights), so the test rows choose nothing; the time is the sum of
    both trainings (run one after the other).
    """
    from cbedfeat.models.hybrid import mix_probabilities

    (p_feat, c_feat), (p_cnn, c_cnn) = features["_proba"], cnn["_proba"]
    proba, classes = mix_probabilities([(p_feat, c_feat, 0.5), (p_cnn, c_cnn, 0.5)])
    return {
        "approach": f"features+{cnn['approach']}",
        "label": f"{features['label']} and {cnn['label']}: mean of the probabilities",
        "seconds": features["points"][-1]["seconds"] + cnn["points"][-1]["seconds"],
        "end": end_point(test, proba, classes, train, n_resamples=args.resamples, seed=args.seed),
    }


# ----------------------------------------------------------------------------- equal time


def equal_time(features: dict, cnn: dict, key: str = "top1_accuracy") -> dict:
    """Each CNN point against the feature model of the most rounds trained within its time.

    Returns
    -------
    dict
        ``pairs``: per CNN point, its seconds and metric, the feature point (rounds,
        seconds, metric) available by then (None before the first one is done) and the
        difference CNN - features; ``crossover``: the first CNN point ahead of a feature
        model available at its time (None if none is; points before the first feature
        model is done do not count); ``n_before_features``: CNN points before then;
        ``features_time_to_cnn_end``: seconds of the first feature point at least as good
        as the CNN's last point.
    """
    fpts = sorted(features["points"], key=lambda p: p["seconds"])
    pairs, crossover = [], None
    for p in cnn["points"]:
        done = [f for f in fpts if f["seconds"] <= p["seconds"]]
        f = done[-1] if done else None
        pair = {
            "epoch": p["step"],
            "seconds": p["seconds"],
            "cnn": p[key],
            "feature_rounds": None if f is None else f["step"],
            "feature_seconds": None if f is None else f["seconds"],
            "features": None if f is None else f[key],
            "delta": None if f is None else p[key] - f[key],
        }
        pairs.append(pair)
        if crossover is None and f is not None and p[key] > f[key]:
            crossover = pair
    end = cnn["points"][-1][key]
    reach = next((f["seconds"] for f in fpts if f[key] >= end), None)
    return {
        "metric": key,
        "pairs": pairs,
        "crossover": crossover,
        "n_before_features": sum(p["features"] is None for p in pairs),
        "first_feature_seconds": fpts[0]["seconds"] if fpts else None,
        "features_time_to_cnn_end": reach,
    }


# ----------------------------------------------------------------------------- one set


def run_set(name: str, data: Path, table_path: Path, args) -> dict:
    """Both approaches' curves on one data set."""
    from cbedfeat.data.table import data_fingerprint, read_table

    table, meta = read_table(ensure_table(table_path, data, device=args.device))
    names = list(meta["feature_names"])
    train, test = _rows(table, "train"), _rows(table, "test")
    per_row, n_timed = extraction_seconds_per_row(
        train,
        data,
        meta.get("feature_config"),
        n_rows=args.extract_rows,
        seed=args.seed,
        device=args.device,
    )
    extract_s = per_row * len(train)
    curves = [
        feature_curve(table, names, train, test, rounds=args.rounds, extract_s=extract_s, args=args)
    ]
    curves += [cnn_curve(arch, train, test, data, args) for arch in args.archs]
    blends = [blend_point(curves[0], c, test, train, args) for c in curves[1:]]
    for c in curves:
        del c["_proba"]  # arrays: not part of the report
    return {
        "name": name,
        "data": str(data),
        "table": str(table_path),
        "fingerprint": data_fingerprint(table),
        "n_features": len(names),
        "n_train": len(train),
        "n_train_materials": int(train["material"].nunique()),
        "n_test": len(test),
        "n_test_materials": int(test["material"].nunique()),
        "extract_seconds_per_row": per_row,
        "extract_rows_timed": n_timed,
        "curves": curves,
        "equal_time": {c["approach"]: equal_time(curves[0], c) for c in curves[1:]},
        "blends": blends,
    }


# ----------------------------------------------------------------------------- Markdown


def _cell(end: dict, key: str) -> str:
    from _tables import pct

    value = pct(end.get(key))
    ci = end.get("ci95", {}).get(key)
    return value if ci is None or value == "n/a" else f"{value} ({pct(ci[0])}-{pct(ci[1])})"


def _set_markdown(s: dict) -> list[str]:
    from _tables import METRIC_COLUMNS, pct

    lines = [
        f"## {s['name']}: `{s['data']}`",
        "",
        f"{s['n_train']} train rows ({s['n_train_materials']} materials), {s['n_test']} test rows "
        f"({s['n_test_materials']} materials), {s['n_features']} features; feature extraction "
        f"{1000 * s['extract_seconds_per_row']:.1f} ms per row (one process, timed on "
        f"{s['extract_rows_timed']} train rows), {s['curves'][0]['extract_seconds']:.1f} s for all "
        "train rows, counted in every feature-model point.",
        "",
        "### Curves (metrics in % of the test rows)",
        "",
        "| approach | step | train s | " + " | ".join(CURVE_HEADERS) + " |",
        "|---|---:|---:|" + "---:|" * len(CURVE_HEADERS),
    ]
    for c in s["curves"]:
        for p in c["points"]:
            step = f"epoch {p['step']}" if c["unit"] == "epochs" else f"{p['step']} rounds"
            lines.append(
                f"| {c['label']} | {step} | {p['seconds']:.1f} | "
                + " | ".join(pct(p.get(k)) for k in CURVE_KEYS)
                + " |"
            )
    lines += [
        "",
        "### End points, with 95 % intervals over test materials",
        "",
        "| approach | train s | " + " | ".join(h for _, h in METRIC_COLUMNS) + " |",
        "|---|---:|" + "---:|" * len(METRIC_COLUMNS),
    ]
    for c in s["curves"]:
        lines.append(
            f"| {c['label']} | {c['points'][-1]['seconds']:.1f} | "
            + " | ".join(_cell(c["end"], k) for k, _ in METRIC_COLUMNS)
            + " |"
        )
    for b in s.get("blends", []):
        lines.append(
            f"| {b['label']} | {b['seconds']:.1f} | "
            + " | ".join(_cell(b["end"], k) for k, _ in METRIC_COLUMNS)
            + " |"
        )
    lines += ["", "### Equal time (top-1)", ""]
    for approach, eq in s["equal_time"].items():
        cross = eq["crossover"]
        if cross is None:
            verdict = "the CNN never overtakes the feature model trained within the same time"
        else:
            verdict = (
                f"the CNN overtakes the feature model at epoch {cross['epoch']} "
                f"({cross['seconds']:.1f} s: {pct(cross['cnn'])} against {pct(cross['features'])} "
                f"of {cross['feature_rounds']} rounds)"
            )
        if eq["n_before_features"]:
            verdict += (
                f" ({eq['n_before_features']} CNN point(s) come before the first feature model "
                f"is done, at {eq['first_feature_seconds']:.1f} s)"
            )
        reach = eq["features_time_to_cnn_end"]
        reach_s = (
            "no feature point reaches the CNN's last top-1"
            if reach is None
            else f"the feature model reaches the CNN's last top-1 after {reach:.1f} s"
        )
        last = eq["pairs"][-1]
        delta = (
            "no feature model is done by then"
            if last["delta"] is None
            else f"CNN - features = {100 * last['delta']:+.1f} points"
        )
        lines.append(
            f"- `{approach}`: {verdict}; {reach_s}; at the CNN's last epoch "
            f"({last['seconds']:.1f} s): {delta}."
        )
    return lines + [""]


def markdown(doc: dict) -> str:
    """The report: one section per set, then the protocol."""
    a = doc["args"]
    lines = ["# Features + XGBoost against CNNs at equal training time (bench/bench_cnn.py)", ""]
    for s in doc["sets"]:
        lines += _set_markdown(s)
    lines += [
        "## Protocol",
        "",
        f"Seed {a['seed']}, `{a['weighting']}` class weighting for both approaches, device "
        f"{a['device']}, {a['threads']} threads (torch and XGBoost) on {doc['cpu_count']} CPU cores"
        f"{', --quick' if a['quick'] else ''}. CNN: {a['epochs']} epochs, batch {a['batch_size']}, "
        f"{a['image_size']} x {a['image_size']} log-scaled inputs, inputs "
        f"{'cached in memory after the first epoch' if a['cache'] else 'read from the files every epoch'}; "
        f"test metrics every {a['curve_every']} epoch(s). Feature model: XGBoost at "
        f"{', '.join(str(r) for r in a['rounds'])} rounds, each an independent fit with its grouped "
        "early stopping (so a point may use fewer rounds than asked: `rounds_used` in the JSON).",
        "",
        "Training time: for the CNN the cumulative seconds of its epochs (the stacks' reading and "
        "preprocessing included); for the feature model its fit plus the extraction of the "
        "training rows' features at the one-process rate measured here (an upper bound: "
        "`cbedfeat extract` runs one process per core). Each ResNet curve is one run of its one-cycle "
        "schedule over all its epochs: an intermediate point is the model at that epoch of the "
        "full schedule, not a model trained for that many epochs from the start (which would "
        "have annealed its learning rate sooner and usually scores higher); the same holds for the "
        "small CNN's per-epoch cosine schedule.",
        "",
        "What a GPU changes: the CNN's epochs are dominated by convolutions, which a GPU runs one "
        "to two orders of magnitude faster than two CPU cores, while XGBoost on a few thousand "
        "rows and the per-pattern feature extraction gain less; on a GPU the CNN curve moves left "
        "much more than the feature curve, and the crossover (if any) comes earlier. Run with "
        "`--device cuda` to measure it.",
        "",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(t) for t in text.split(",") if t.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        nargs="+",
        required=True,
        metavar="NAME DATA_DIR [TABLE]",
        help="a data set: name, HDF5 directory, "
        "feature table (default DATA_DIR.parquet, extracted when missing); repeatable",
    )
    parser.add_argument(
        "--archs", default="resnet,small", help="CNN architectures (comma-separated)"
    )
    parser.add_argument("--epochs", type=int, default=None, help="CNN epochs [30; --quick: 2]")
    parser.add_argument(
        "--width",
        type=int,
        default=32,
        help="ResNet width (64: ResNet-18; 32 trains about 4x faster on a CPU)",
    )
    parser.add_argument("--lr", type=float, default=1e-3, help="ResNet peak learning rate")
    parser.add_argument(
        "--augment",
        default="frame",
        choices=list(AUGMENT_LABELS),
        help="ResNet training views (frame: half turns and mirrors that keep the "
        "pattern's reference direction on its y axis)",
    )
    parser.add_argument(
        "--tta",
        type=int,
        default=4,
        choices=[1, 2, 4, 8],
        help="ResNet test-time views (at most 4 with --augment frame or none)",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=None, help="[128; --quick: 64]")
    parser.add_argument(
        "--cache",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep the CNN's preprocessed inputs in memory after epoch 1",
    )
    parser.add_argument("--workers", type=int, default=0, help="CNN DataLoader workers")
    parser.add_argument("--curve-every", type=int, default=1, help="score the CNN every N epochs")
    parser.add_argument(
        "--rounds",
        type=_ints,
        default=None,
        help=f"XGBoost rounds of the feature curve [{','.join(map(str, DEFAULT_ROUNDS))}]",
    )
    parser.add_argument(
        "--extract-rows", type=int, default=200, help="train rows whose extraction is timed"
    )
    parser.add_argument(
        "--weighting", default="balanced", choices=["none", "balanced", "sqrt", "effective"]
    )
    parser.add_argument(
        "--resamples", type=int, default=None, help="bootstrap resamples [1000; --quick: 100]"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="torch and XGBoost threads [all cores]",
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick", action="store_true", help="2 epochs at 64 x 64, fewer rounds (smoke run)"
    )
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--name", default="cnn", help="stem of the result files")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))  # _tables, _bootstrap, bench_dynamical when imported as a module
    from _bootstrap import N_RESAMPLES

    args.epochs = args.epochs or (2 if args.quick else 30)
    args.image_size = args.image_size or (64 if args.quick else 128)
    args.rounds = args.rounds or (QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS)
    args.resamples = args.resamples or (100 if args.quick else N_RESAMPLES)
    args.archs = [a for a in args.archs.split(",") if a]
    sets = [parse_set(v) for v in args.sets]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    import torch

    from cbedfeat._util import to_json

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    doc = {
        "question": "features + XGBoost against CNNs on the raw patterns, at equal training time",
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "sets": [run_set(name, data, table, args) for name, data, table in sets],
    }
    doc["total_seconds"] = time.perf_counter() - start
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"{args.name}.json").write_text(to_json(doc) + "\n")
    md = markdown(doc)
    (args.out_dir / f"{args.name}.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
