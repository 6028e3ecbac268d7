"""Is the feature + gradient-boosting pipeline worth it against a CNN on the raw patterns?

The CNN baseline (:class:`~cbedfeat.models.cnn.CNNSpaceGroupClassifier`: log-scaled,
area-averaged 128 x 128 stacks, as the published ResNet baselines) and the feature
model (:class:`~cbedfeat.models.SpaceGroupClassifier` on the feature table) train on the
same ``train`` rows with the same class weighting and seed, select on ``dev``, and are
scored on ``test`` with every metric of :mod:`cbedfeat.metrics.classification`. The CNN reads its
stacks through the table's ``file`` / ``group`` columns, so both see the same samples.

Measured per approach, each in its own process (so peak memory is its own):

- training time: the CNN's ``fit``; the feature model's ``fit``, and that plus the time
  to extract the training rows' features (at the single-process extraction rate
  measured here: ``cbedfeat extract`` runs in parallel, so this is an upper bound);
- inference stacks/s end to end from the HDF5 files: read + preprocess + forward pass
  for the CNN, read + feature extraction + predict for the feature model;
- peak resident memory (``ru_maxrss``) and, on CUDA, peak torch GPU memory.

Target of the issue: the feature pipeline at least matches the CNN on top-1 and macro-F1
at a tenth or less of its training time; the table says whether it does.

Writes ``bench/results/cnn.json`` and ``cnn.md``.

Usage::

    python bench/bench_cnn.py [--features bench/data/features.parquet] [--quick]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent
DEFAULT_FEATURES = ROOT / "data" / "features.parquet"
DEFAULT_DATA = ROOT / "data" / "raw"
RESULTS = ROOT / "results"
TIME_RATIO_TARGET = 0.1
logger = logging.getLogger("bench_cnn")


def _split(table):
    from cbedfeat.models.cnn_data import train_dev_split

    test = table[table["split"].astype(str) == "test"].reset_index(drop=True)
    if test.empty:
        raise SystemExit("the table has no test rows")
    train, dev = train_dev_split(table)
    return train, dev, test


def _read_stacks(refs):
    from cbedfeat.models.cnn_data import StackDataset

    ds = StackDataset(refs)
    try:
        return [ds.read_raw(i) for i in range(len(ds))]
    finally:
        ds.close()


def _score(test, proba, classes, train):
    from cbedfeat.metrics.classification import (
        class_training_counts,
        evaluate_predictions,
        summary_metrics,
    )

    counts = class_training_counts(train["space_group"].to_numpy(), train["material"].to_numpy())
    m = evaluate_predictions(test["space_group"].to_numpy(), proba, classes, train_counts=counts)
    return summary_metrics(m)


def child_features(args) -> dict:
    """Feature model: fit on the table, then time extraction + predict from the raw stacks."""
    import numpy as np

    from cbedfeat.data.table import read_table
    from cbedfeat.features.pipeline import FeatureExtractor
    from cbedfeat.models.cnn_data import refs_from_table
    from cbedfeat.workflows.train import fit_and_validate

    table, meta = read_table(args.features)
    names = list(meta["feature_names"])
    train, _, test = _split(table)
    params = {"n_estimators": 60} if args.quick else {}
    model, training, fit_s = fit_and_validate(table, names, model="xgb", weighting=args.weighting,
                                              device=args.device, seed=args.seed, params=params)
    proba = model.predict_proba(test[names].to_numpy(dtype=np.float64))
    out = {"approach": "features", "label": "physics features + XGBoost", "fit_seconds": fit_s,
           "device_used": training["device_used"], "params": params,
           **_score(test, proba, model.classes_, train)}
    # End-to-end inference on raw stacks: read, extract with the table's config, predict.
    timed = test.iloc[: args.infer_rows]
    refs = refs_from_table(timed, args.data)
    ext = FeatureExtractor(config=meta.get("feature_config"), device=args.device).fit()
    t0 = time.perf_counter()
    stacks = np.stack(_read_stacks(refs))
    t_read = time.perf_counter() - t0
    feats = ext.transform(stacks)
    t_ext = time.perf_counter() - t0 - t_read
    col = {n: i for i, n in enumerate(ext.get_feature_names_out())}
    model.predict_proba(feats[:, [col[n] for n in names]].astype(np.float64))
    total = time.perf_counter() - t0
    rate = len(refs) / t_ext
    out.update(infer_stacks_per_s=len(refs) / total, extract_stacks_per_s=rate,
               infer_rows=len(refs), read_seconds=t_read,
               fit_plus_extract_seconds=fit_s + len(train) / rate)
    return out


def child_cnn(args) -> dict:
    """CNN: fit on the train stacks (model selection on dev), time inference on test stacks."""
    import torch

    from cbedfeat.data.table import read_table
    from cbedfeat.models.cnn import CNNSpaceGroupClassifier
    from cbedfeat.models.cnn_data import refs_from_table

    table, _ = read_table(args.features)
    train, dev, test = _split(table)
    params = {"epochs": args.epochs, "batch_size": args.batch_size, "image_size": args.image_size,
              "num_workers": args.workers, "width": args.width, "cache_inputs": args.cache}
    est = CNNSpaceGroupClassifier(weighting=args.weighting, device=args.device,
                                  random_state=args.seed, **params)
    root = args.data
    t0 = time.perf_counter()
    est.fit(refs_from_table(train, root), train["space_group"].to_numpy(),
            eval_set=(refs_from_table(dev, root), dev["space_group"].to_numpy()) if len(dev) else None)
    fit_s = time.perf_counter() - t0
    refs = refs_from_table(test, root)
    t0 = time.perf_counter()
    proba = est.predict_proba(refs)
    infer_s = time.perf_counter() - t0
    size = args.image_size
    out = {"approach": "cnn", "label": f"small CNN (width {args.width}) on log {size}x{size} stacks, "
           f"{args.epochs} epochs", "fit_seconds": fit_s,
           "fit_plus_extract_seconds": fit_s, "device_used": str(est.device_), "params": params,
           "best_epoch": est.best_epoch_, "infer_stacks_per_s": len(refs) / infer_s,
           "infer_rows": len(refs), "torch_threads": torch.get_num_threads(),
           **_score(test, proba, est.classes_, train)}
    if est.device_.type == "cuda":
        out["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def _run_child(kind: str, argv: list[str]) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        path = fh.name
    try:
        subprocess.run([sys.executable, __file__, "--child", kind, "--child-out", path, *argv],
                       check=True)
        return json.loads(Path(path).read_text())
    finally:
        os.unlink(path)


def _markdown(doc: dict) -> str:
    from _tables import METRIC_COLUMNS as cols
    from _tables import pct

    lines = ["# CNN baseline against the feature pipeline (bench/bench_cnn.py)", "",
             f"Table `{doc['features']}`: {doc['n_train']} train / {doc['n_dev']} dev / {doc['n_test']} "
             f"test rows; weighting `{doc['weighting']}`, seed {doc['seed']}, device {doc['device']}"
             f"{', --quick' if doc['quick'] else ''}; {os.cpu_count()} CPU cores. Metrics in %, on the test rows.",
             "", "| approach | " + " | ".join(h for _, h in cols)
             + " | fit s | fit + extract s | infer stacks/s | peak RSS MiB |",
             "|---|" + "---:|" * (len(cols) + 4)]
    for r in doc["rows"]:
        lines.append(f"| {r['label']} ({r['device_used']}) | " + " | ".join(pct(r.get(k)) for k, _ in cols)
                     + f" | {r['fit_seconds']:.1f} | {r['fit_plus_extract_seconds']:.1f} | "
                     f"{r['infer_stacks_per_s']:.1f} | {r['peak_rss_mib']:.0f} |")
    t = doc["target"]
    lines += ["", f"Feature model training time / CNN training time: {t['fit_time_ratio']:.3f} (fit only), "
              f"{t['fit_plus_extract_ratio']:.3f} (with feature extraction of the training rows).",
              f"Target (features match the CNN on top-1 and macro-F1 at <= {TIME_RATIO_TARGET:g} of its "
              f"training time): **{'met' if t['met'] else 'NOT met'}** "
              f"(top-1 {100 * t['top1_delta']:+.1f}, macro-F1 {100 * t['macro_f1_delta']:+.1f} points).",
              "", "Inference rates are end to end from the HDF5 files (read, preprocess or extract, "
              "predict), one process; 'fit + extract' adds the training rows' feature extraction at the "
              "single-process rate measured here (an upper bound: `cbedfeat extract` runs in parallel).",
              f"CNN inputs cached in memory after the first epoch: {'yes' if doc['cache'] else 'no'}.",
              ""]
    if doc.get("note"):
        lines += [f"Note: {doc['note']}", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=Path, default=DEFAULT_FEATURES)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="Directory of the HDF5 files the table's file names refer to.")
    parser.add_argument("--quick", action="store_true", help="2 epochs at 64x64, fewer rounds.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--weighting", default="balanced", choices=["none", "balanced", "sqrt", "effective"])
    parser.add_argument("--epochs", type=int, default=None, help="CNN epochs [15; 2 with --quick].")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=None, help="[128; 64 with --quick]")
    parser.add_argument("--workers", type=int, default=0, help="CNN DataLoader workers.")
    parser.add_argument("--width", type=int, default=16, help="CNN channels of the first block.")
    parser.add_argument("--cache", action=argparse.BooleanOptionalAction, default=True,
                        help="Keep the CNN's preprocessed train/dev inputs in memory after epoch 1 "
                             "(the bench set fits; favours the CNN's training time).")
    parser.add_argument("--infer-rows", type=int, default=256, help="Test stacks timed for the feature model.")
    parser.add_argument("--note", default="", help="A sentence for the report (why a target is missed).")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", choices=["features", "cnn"], help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.epochs = args.epochs or (2 if args.quick else 15)
    args.image_size = args.image_size or (64 if args.quick else 128)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    if args.child:
        result = (child_features if args.child == "features" else child_cnn)(args)
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        args.child_out.write_text(json.dumps(result))
        return 0
    if not args.features.exists():
        print(f"{args.features} not found: run `cbedfeat simulate --preset bench --out bench/data/raw` and "
              "`cbedfeat extract bench/data/raw --out bench/data/features.parquet`", file=sys.stderr)
        return 2
    from cbedfeat._util import to_json
    from cbedfeat.data.table import read_table

    table, _ = read_table(args.features)
    train, dev, test = _split(table)
    passthrough = list(argv if argv is not None else sys.argv[1:])
    rows = [_run_child("features", passthrough), _run_child("cnn", passthrough)]
    feat, cnn = rows
    target = {"top1_delta": feat["top1_accuracy"] - cnn["top1_accuracy"],
              "macro_f1_delta": feat["macro_f1"] - cnn["macro_f1"],
              "fit_time_ratio": feat["fit_seconds"] / cnn["fit_seconds"],
              "fit_plus_extract_ratio": feat["fit_plus_extract_seconds"] / cnn["fit_seconds"]}
    target["met"] = bool(target["top1_delta"] >= 0 and target["macro_f1_delta"] >= 0
                         and target["fit_plus_extract_ratio"] <= TIME_RATIO_TARGET)
    doc = {"features": str(args.features), "n_train": len(train), "n_dev": len(dev), "n_test": len(test),
           "weighting": args.weighting, "seed": args.seed, "device": args.device, "quick": args.quick,
           "epochs": args.epochs, "image_size": args.image_size, "cache": args.cache,
           "rows": rows, "target": target,
           "note": args.note}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cnn.json").write_text(to_json(doc) + "\n")
    (args.out / "cnn.md").write_text(_markdown(doc))
    print(_markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
