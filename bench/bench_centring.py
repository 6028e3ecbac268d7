"""Question: what happens to accuracy when the patterns are not centred on the image centre?

The ORNL patterns (and every FFT-shifted simulated pattern) have the direct beam on
pixel (H // 2, W // 2), and the features take that pixel as the centre by default
(``FeatureConfig(center="image")``). A pattern from another source (another
simulation code, a detector) may put it elsewhere. This script takes the default model
trained on a table (``--table``, the default ``bench/data/dynamical.parquet``, centred
patterns), shifts the stacks of that table's test split by known amounts (whole
pixels with ``numpy.roll``, fractions of a pixel with linear interpolation), extracts
their features with each centre method (``--methods``: ``image``, the image centre;
``disk``, a circle fitted to the brightest disk; ``inversion``, the centre of the
pattern's 180-degree symmetry) and scores them with the metrics of ``cbedfeat
evaluate`` (95 % bootstrap intervals over test materials, as ``bench_dynamical.py``).
It also reports how far each method's centre lies from the true one.

Writes ``bench/results/centring.json`` and ``centring.md``.

Usage::

    python bench/bench_centring.py [--table bench/data/dynamical.parquet]
        [--data bench/data/dynamical] [--shifts 0,0 1,0 0.5,0.5 -2,3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
DEFAULT_TABLE = ROOT / "data" / "dynamical.parquet"
DEFAULT_DATA = ROOT / "data" / "dynamical"
DEFAULT_SHIFTS = ("0,0", "1,0", "0.5,0.5", "-2,3")
DEFAULT_METHODS = ("image", "disk", "inversion")
QUICK_ROUNDS = 30
QUICK_RESAMPLES = 200
logger = logging.getLogger("bench_centring")


def parse_shift(text: str) -> tuple[float, float]:
    """``'ROW,COL'`` in pixels, e.g. ``'0.5,-2'``."""
    try:
        row, col = (float(v) for v in text.split(","))
    except ValueError:
        raise SystemExit(f"a shift is ROW,COL in pixels, got {text!r}") from None
    return row, col


def shift_stacks(stacks, shift: tuple[float, float]):
    """(N, 3, H, W) stacks moved by ``shift`` pixels (row, col).

    Whole-pixel shifts roll the pixels (nothing interpolated); others interpolate
    linearly (``scipy.ndimage.shift``, order 1, zeros outside).
    """
    import numpy as np

    if shift == (0.0, 0.0):
        return stacks
    if float(shift[0]).is_integer() and float(shift[1]).is_integer():
        return np.roll(stacks, (int(shift[0]), int(shift[1])), axis=(-2, -1))
    from scipy import ndimage

    return ndimage.shift(stacks, (0, 0, *shift), order=1).astype(np.float32)


def load_stacks(rows, data_dir: Path):
    """(N, 3, H, W) float32 stacks of ``rows`` (their ``file`` and ``group`` columns)."""
    import numpy as np

    from cbedfeat.data.ornl import read_sample

    return np.stack(
        [
            read_sample(Path(data_dir) / f, g).stack
            for f, g in zip(rows["file"], rows["group"], strict=True)
        ]
    )


def centre_errors(stacks, shift, method: str) -> dict:
    """Distance (px) of the centres ``method`` finds from the true ones, over all patterns."""
    import numpy as np

    from cbedfeat.features import geometry

    images = stacks.reshape((-1,) + stacks.shape[-2:])
    truth = np.asarray(geometry.image_center(images.shape[-2:])) + np.asarray(shift)
    found = np.asarray(geometry.find_centers(images, method))
    err = np.hypot(*(found - truth).T)
    return {
        "median_px": float(np.median(err)),
        "p90_px": float(np.quantile(err, 0.9)),
        "max_px": float(err.max()),
        "share_over_half_px": float((err > 0.5).mean()),
    }


def run(
    table_path: Path,
    data_dir: Path,
    *,
    shifts: list[tuple[float, float]],
    methods: list[str],
    model: str,
    weighting: str,
    seed: int,
    params: dict,
    n_resamples: int,
    quick: bool,
) -> dict:
    """Fit once on the centred train rows; score every (shift, method) of the test rows."""
    from dataclasses import replace

    from _tables import shown_path
    from bench_dynamical import score

    from cbedfeat.data.table import read_table
    from cbedfeat.features.config import FeatureConfig
    from cbedfeat.features.vector import StackFeaturizer
    from cbedfeat.metrics.classification import DEFAULT_RARE_THRESHOLD
    from cbedfeat.workflows.train import fit_and_validate

    table, meta = read_table(table_path)
    names = list(meta["feature_names"])
    config = FeatureConfig.from_dict(meta["feature_config"])
    test = table[table["split"].astype(str) == "test"].reset_index(drop=True)
    fit_rows = table[table["split"].astype(str) == "train"]
    if quick:
        test = test.iloc[:: max(1, len(test) // 60)].reset_index(drop=True)
    logger.info("fitting %s on %d train rows", model, len(fit_rows))
    est, _, fit_seconds = fit_and_validate(
        table, names, model=model, weighting=weighting, device="cpu", seed=seed, params=params
    )
    stacks = load_stacks(test, data_dir)
    opts = {"n_resamples": n_resamples, "seed": seed, "rare_threshold": DEFAULT_RARE_THRESHOLD}
    rows = []
    for shift in shifts:
        moved = shift_stacks(stacks, shift)
        for method in methods:
            featurizer = StackFeaturizer(replace(config, center=method))
            t0 = time.perf_counter()
            X = featurizer.transform(moved)
            seconds = time.perf_counter() - t0
            proba = est.predict_proba(X.astype("float64"))
            row = {
                "shift_px": list(shift),
                "method": method,
                "extract_seconds_per_stack": seconds / len(moved),
                "centre_error": centre_errors(moved, shift, method),
                **score(proba, est.classes_, test, fit_rows, **opts),
            }
            logger.info(
                "shift %s %s: top-1 %.3f system %.3f, centre error median %.2f px",
                shift,
                method,
                row["top1_accuracy"],
                row["crystal_system_accuracy"],
                row["centre_error"]["median_px"],
            )
            rows.append(row)
    return {
        "question": "accuracy of the default model on test stacks shifted off the image centre, "
        "by centre method",
        "table": shown_path(table_path),
        "n_test_rows": len(test),
        "n_test_materials": int(test["material"].nunique()),
        "n_train_rows": len(fit_rows),
        "model": model,
        "weighting": weighting,
        "params": params,
        "seed": seed,
        "quick": quick,
        "fit_seconds": fit_seconds,
        "n_resamples": n_resamples,
        "rows": rows,
    }


def markdown(doc: dict) -> str:
    from bench_dynamical import _cell

    lines = [
        "# Patterns off the image centre (bench/bench_centring.py)",
        "",
        "| shift (row, col) px | centre method | top-1 | system | point grp | centre error median / max px | extract ms per stack |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in doc["rows"]:
        e = r["centre_error"]
        lines.append(
            f"| {r['shift_px'][0]:g}, {r['shift_px'][1]:g} | {r['method']} | "
            f"{_cell(r, 'top1_accuracy')} | {_cell(r, 'crystal_system_accuracy')} | "
            f"{_cell(r, 'point_group_accuracy')} | {e['median_px']:.2f} / {e['max_px']:.2f} | "
            f"{1000 * r['extract_seconds_per_stack']:.0f} |"
        )
    lines += [
        "",
        f"Model `{doc['model']}` (`{doc['weighting']}` weighting), fitted once on the "
        f"{doc['n_train_rows']} train rows of `{doc['table']}` (centred patterns, centre "
        f"'image'), seed {doc['seed']}"
        + (f", parameters {json.dumps(doc['params'])}" if doc["params"] else "")
        + (" (--quick)" if doc["quick"] else "")
        + f"; scored on the {doc['n_test_rows']} test rows ({doc['n_test_materials']} "
        "materials) after shifting their stacks: whole pixels by rolling the pixels, "
        "fractions by linear interpolation. Metrics in %, 95 % bootstrap intervals over "
        f"test materials ({doc['n_resamples']} resamples). Centre error: distance of the "
        "centre each method finds from the true one, over all patterns. Extraction time: "
        "one process, this machine (the other cores busy or not).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    from _options import add_fit_options, fit_settings
    from _tables import write_results
    from bench_dynamical import train_defaults

    defaults = train_defaults()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, default=DEFAULT_TABLE)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the table's HDF5 files")
    parser.add_argument("--shifts", nargs="+", default=list(DEFAULT_SHIFTS), metavar="ROW,COL")
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS))
    parser.add_argument("--model", default=defaults["model"])
    parser.add_argument("--weighting", default=defaults["weighting"])
    add_fit_options(parser, quick_rounds=QUICK_ROUNDS, quick_resamples=QUICK_RESAMPLES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--name", default="centring", help="stem of the result files")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if not args.table.exists():
        raise SystemExit(
            f"{args.table} not found. Make it with:\n"
            "  cbedfeat simulate --preset bench-dynamical --out bench/data/dynamical --workers 2\n"
            "  cbedfeat extract bench/data/dynamical --out bench/data/dynamical.parquet"
        )
    params, resamples = fit_settings(
        args, quick_rounds=QUICK_ROUNDS, quick_resamples=QUICK_RESAMPLES
    )
    doc = run(
        args.table,
        args.data,
        shifts=[parse_shift(s) for s in args.shifts],
        methods=args.methods,
        model=args.model,
        weighting=args.weighting,
        seed=args.seed,
        params=params,
        n_resamples=resamples,
        quick=args.quick,
    )
    write_results(args.out_dir, args.name, doc, markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
