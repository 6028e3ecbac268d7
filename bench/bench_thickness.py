"""How much does specimen thickness matter to a model trained on dynamical patterns?

The ORNL description states no thickness, so the ``bench-dynamical`` preset draws one
per material from 100-300 A. This bench trains the default model on the dynamical train
split (as ``bench_dynamical.py`` does), then renders the test materials again by
multislice at fixed thicknesses (the same crystals, zone axes and energy: only the
thickness range of the plan changes, and with it nothing else the materials draw) and
scores the model on each. Writes ``bench/results/thickness.{json,md}``.

Usage::

    python bench/bench_thickness.py [--thicknesses 100 200 400] [--workers 2]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
DEFAULT_DYNAMICAL = ROOT / "data" / "dynamical.parquet"
logger = logging.getLogger("bench_thickness")


def _render(args) -> np.ndarray:
    """(3, H, W) multislice stack of material ``index`` at one fixed thickness."""
    config, index, space_group = args
    from cbedfeat.simulate.generate import simulate_material

    (stack, _), *_ = simulate_material(config, index, space_group)
    return stack


def render_test_split(thickness: float, materials: list[int], workers: int) -> np.ndarray:
    """(M, 3, H, W) stacks of the test materials at ``thickness`` A."""
    from cbedfeat.simulate.plan import SimulationConfig, make_plan

    config = SimulationConfig.from_preset("bench-dynamical")
    plan = make_plan(config)
    fixed = replace(config, thickness_A=(float(thickness), float(thickness)))
    tasks = [(fixed, i, int(plan.space_groups[i])) for i in materials]
    if workers <= 1:
        return np.stack([_render(t) for t in tasks])
    with ProcessPoolExecutor(workers) as pool:
        return np.stack(list(pool.map(_render, tasks, chunksize=4)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dynamical", type=Path, default=DEFAULT_DYNAMICAL)
    parser.add_argument("--thicknesses", type=float, nargs="+", default=[100.0, 200.0, 400.0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="first N test materials only")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    sys.path.insert(0, str(ROOT))
    from bench_dynamical import score, train_defaults

    from cbedfeat._util import to_json
    from cbedfeat.data.table import labelled_rows, read_table
    from cbedfeat.features import FeatureConfig, StackFeaturizer
    from cbedfeat.metrics.classification import DEFAULT_RARE_THRESHOLD
    from cbedfeat.workflows.train import fit_and_validate

    table, meta = read_table(args.dynamical)
    table, _ = labelled_rows(table, "bench")
    names = list(meta["feature_names"])
    defaults = train_defaults()
    start = time.perf_counter()
    model, training, fit_s = fit_and_validate(
        table,
        names,
        model=defaults["model"],
        weighting=defaults["weighting"],
        device="cpu",
        seed=args.seed,
        params={"n_jobs": args.n_jobs},
    )
    train_rows = table[table["split"].astype(str) == "train"]
    test = table[table["split"].astype(str) == "test"].copy()
    test["index"] = [int(str(g).split("_")[1]) for g in test["group"]]
    if args.limit:
        test = test.iloc[: args.limit]
    featurizer = StackFeaturizer(FeatureConfig.from_dict(meta["feature_config"]))
    rows = {}
    baseline = model.predict_proba(test[names].to_numpy(np.float32))
    rows["as simulated (100-300 A)"] = score(
        baseline,
        model.classes_,
        test,
        train_rows,
        n_resamples=args.resamples,
        seed=args.seed,
        rare_threshold=DEFAULT_RARE_THRESHOLD,
    )
    for t in args.thicknesses:
        t0 = time.perf_counter()
        stacks = render_test_split(t, test["index"].tolist(), args.workers)
        feats = featurizer.transform(stacks)[:, [featurizer.names.index(n) for n in names]]
        proba = model.predict_proba(feats.astype(np.float32))
        rows[f"{t:.0f} A"] = score(
            proba,
            model.classes_,
            test,
            train_rows,
            n_resamples=args.resamples,
            seed=args.seed,
            rare_threshold=DEFAULT_RARE_THRESHOLD,
        )
        logger.info(
            "%.0f A: top-1 %.3f system %.3f (%.0f s)",
            t,
            rows[f"{t:.0f} A"]["top1_accuracy"],
            rows[f"{t:.0f} A"]["crystal_system_accuracy"],
            time.perf_counter() - t0,
        )
    doc = {
        "table": str(args.dynamical),
        "model": defaults,
        "fit_seconds": fit_s,
        "n_test_materials": int(len(test)),
        "rows": rows,
        "seconds": time.perf_counter() - start,
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "thickness.json").write_text(to_json(doc) + "\n")
    lines = [
        "# Thickness sensitivity of a model trained on dynamical patterns (bench/bench_thickness.py)",
        "",
        f"Model `{defaults['model']}` ({defaults['weighting']} weighting) trained on the "
        "bench-dynamical train split (thicknesses drawn from 100-300 A); the "
        f"{len(test)} test materials rendered again by multislice at each fixed thickness "
        "(same crystals, zone axes, 100 keV, one probe position). % of the test rows, 95 % "
        "intervals over test materials.",
        "",
        "| test patterns | top-1 | crystal system | point group |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, r in rows.items():
        ci = r["ci95"]
        lines.append(
            f"| {name} | {100 * r['top1_accuracy']:.1f} ({100 * ci['top1_accuracy'][0]:.1f}-"
            f"{100 * ci['top1_accuracy'][1]:.1f}) | {100 * r['crystal_system_accuracy']:.1f} | "
            f"{100 * r['point_group_accuracy']:.1f} |"
        )
    (args.out_dir / "thickness.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
