"""What does training cost at the scale of the real data set (150,000 rows)?

For XGBoost (``xgb``) and the recommended model (the registry's best standing feature
model, :func:`cbedfeat.models.registry.recommended_model`), at each training size this
script measures, through the one training path (:func:`cbedfeat.workflows.train.fit_and_validate`):

* fit time (``estimator.fit`` alone) and the wall time of the whole training call;
* peak memory of the process that trains (``resource`` maximum RSS of a fresh process
  per run, so one run's peak never hides another's), beside the memory the table takes;
* the bundle's size on disk (:func:`cbedfeat.models.bundle.save_bundle`) and its load time;
* predict throughput: rows/s of the loaded bundle on a feature table, and, when HDF5
  files are given (``--h5``), stacks/s end to end (read, features, model:
  :func:`cbedfeat.workflows.predict.predict_files`);
* top-1 accuracy on the table's test rows, only at sizes made of real rows.

Training rows come from a feature table (``--table``; without one, a synthetic table of
:func:`cbedfeat.testing.make_feature_table` with ``--classes`` classes and ``--features``
columns). Sizes beyond the table's training rows are made by drawing its training
materials again (each draw a new material id) with Gaussian noise of ``--noise`` times
each feature's standard deviation added: such rows cost what real rows cost to fit,
but say nothing about accuracy, and the table marks them so. One cost they understate:
a fully grown extra tree (the blend's second member) splits until its leaves are pure, and
noisy copies of a few thousand materials are pure sooner than as many distinct materials,
so the recommended model's trees, memory and bundle grow less with redrawn rows than with
real ones (on 20,000 redrawn rows of 1,200 materials a tree has ~2,600 nodes, against
~0.8 node per row on distinct materials); measure those on real rows.

A power law ``t = c * n ** b`` fitted (least squares on log-log) to each model's fit times
gives the trend and the expected time at the largest size. ``--budget-s`` skips a run
whose expected time (from that trend) would overrun the budget, ``--max-rounds`` and
``--max-trees`` cap the boosting rounds and extra trees. ``--quick`` runs two tiny sizes
(the test suite does).

``--compare-unscreened`` fits each model again with every column at the sizes made of
real rows (same rows, split and seed): the paired accuracy cost of the column screen
(``screen_features`` of :class:`cbedfeat.models.boosting.SpaceGroupClassifier`). Rows
are written to ``<name>.partial.json`` as they come, so a run stopped part-way keeps them.

The measurement in ``bench/results/train_scale.md`` (this machine, 2 cores; one file of
HDF5 stacks is enough for the end-to-end rate)::

    nice -n 10 python bench/bench_train_scale.py --table bench/data/large.parquet \\
        --h5 bench/data/large-uncompressed/batch_test_0.h5 --n-jobs 2 \\
        --sizes 5000 60000 150000 --compare-unscreened

Writes ``bench/results/train_scale.json`` and ``.md`` (``--name`` changes the stem).
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
DEFAULT_SIZES = (5_000, 10_000, 20_000, 50_000, 100_000, 150_000)
QUICK_SIZES = (100, 400)
# Rows scored for the rows/s figure (at most; fewer when the training set is smaller).
PREDICT_ROWS = 20_000


# ---------------------------------------------------------------------------- tables
def base_table(path: str | None, *, n_classes: int, n_features: int, seed: int):
    """(labelled table, feature names, feature config, feature version, real?).

    Parameters
    ----------
    path : str or None
        A feature table; None: a synthetic one.
    n_classes, n_features : int
        Of the synthetic table.
    seed : int

    Returns
    -------
    tuple
    """
    from cbedfeat.data.table import labelled_rows, read_table

    if path is not None:
        table, meta = read_table(path)
        table, _ = labelled_rows(table)
        return (
            table,
            list(meta["feature_names"]),
            meta["feature_config"],
            meta["feature_version"],
            True,
        )
    from cbedfeat.testing import (
        SYNTHETIC_FEATURE_CONFIG,
        SYNTHETIC_FEATURE_VERSION,
        make_feature_table,
    )

    n_noise = max(1, n_features // 10)
    table = make_feature_table(
        n_classes=n_classes,
        n_features=n_features - n_noise,
        n_noise_features=n_noise,
        max_materials=max(4, 3 * n_classes),
        tail_exponent=1.0,
        samples_per_material=3,
        split_fractions=(0.8, 0.05, 0.15),
        seed=seed,
    )
    names = [c for c in table.columns if c.startswith(("f_", "noise_"))]
    return table, names, dict(SYNTHETIC_FEATURE_CONFIG), SYNTHETIC_FEATURE_VERSION, False


def training_rows(train, names: list[str], n: int, *, noise: float, seed: int):
    """``n`` training rows: whole real materials while they last, then noisy redraws.

    Parameters
    ----------
    train : DataFrame
        The real training rows.
    names : list of str
        Feature columns (noise is added to these only).
    n : int
    noise : float
        Noise standard deviation of a redrawn row, in units of each feature's spread.
    seed : int

    Returns
    -------
    rows : DataFrame
        ``n`` rows, split ``"train"``.
    n_real : int
        How many of them are real rows (the first ones).
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    materials = train["material"].astype(str).to_numpy()
    order = rng.permutation(np.unique(materials))
    by_material = {m: idx for m, idx in pd.Series(np.arange(len(train))).groupby(materials)}
    take = np.concatenate([by_material[m].to_numpy() for m in order])
    if n <= len(train):
        rows = train.iloc[take[:n]].reset_index(drop=True)
        return rows.assign(split="train"), n
    spread = np.nanstd(train[names].to_numpy(np.float32), axis=0).astype(np.float32)
    parts, have, draw = [train.iloc[take]], len(train), 0
    while have < n:
        draw += 1
        picked = rng.choice(order, size=len(order), replace=True)
        idx = np.concatenate([by_material[m].to_numpy() for m in picked])[: n - have]
        part = train.iloc[idx].reset_index(drop=True)
        values = part[names].to_numpy(np.float32, copy=True)
        values += rng.standard_normal(values.shape, dtype=np.float32) * (noise * spread)
        part[names] = values
        part["material"] = part["material"].astype(str) + f"~draw{draw}"
        parts.append(part)
        have += len(part)
    rows = pd.concat(parts, ignore_index=True)
    return rows.assign(split="train"), len(train)


# ---------------------------------------------------------------------------- one run
def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _boosting_rounds(model) -> list[int]:
    """Rounds kept by every XGBoost stage inside a fitted model (nested wrappers too)."""
    found, seen, todo = [], set(), [model]
    while todo:
        est = todo.pop()
        if est is None or id(est) in seen:
            continue
        seen.add(id(est))
        if hasattr(est, "booster_"):
            found.append(int(est.best_iteration_) + 1)
        todo.extend(v for k, v in vars(est).items() if k.endswith("_") and hasattr(v, "fit"))
    return sorted(found)


def model_params(
    name: str,
    *,
    n_jobs: int,
    max_rounds: int | None,
    max_trees: int | None,
    extra: dict | None = None,
) -> dict:
    """The parameters of ``name`` for a run: threads and the caps it takes."""
    from cbedfeat.models.registry import parameters

    taken = parameters(name)
    params = {"n_jobs": n_jobs}
    if max_rounds is not None and "n_estimators" in taken:
        params["n_estimators"] = max_rounds
    if max_trees is not None and "n_trees" in taken:
        params["n_trees"] = max_trees
    params.update({k: v for k, v in (extra or {}).items() if k in taken})
    return params


def measure(job: dict) -> dict:
    """Train one model at one size and measure it (runs in a fresh process).

    Parameters
    ----------
    job : dict
        ``table``, ``classes``, ``features``, ``seed``, ``noise``, ``model``, ``n``,
        ``params``, ``h5`` (list of str), ``device``.

    Returns
    -------
    dict
        The measured row.
    """
    import numpy as np
    import pandas as pd
    import psutil

    from cbedfeat.models.bundle import load_bundle, save_bundle
    from cbedfeat.workflows.train import fit_and_validate

    table, names, config, version, real = base_table(
        job["table"], n_classes=job["classes"], n_features=job["features"], seed=job["seed"]
    )
    split = table["split"].astype(str)
    train = table[split == "train"]
    test = table[split == "test"] if (split == "test").any() else table[split == "dev"]
    rows, n_real = training_rows(train, names, job["n"], noise=job["noise"], seed=job["seed"])
    # The test rows are the training call's "dev" rows: its validation is their accuracy.
    data = pd.concat([rows, test.assign(split="dev")], ignore_index=True)
    del table, train, split
    proc = psutil.Process()
    rss_before = proc.memory_info().rss
    table_bytes = int(data[names].memory_usage(index=False, deep=False).sum())
    start = time.perf_counter()
    est, training, fit_s = fit_and_validate(
        data,
        names,
        model=job["model"],
        device=job["device"],
        seed=job["seed"],
        params=job["params"],
    )
    train_s = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    val = training["validation"]
    out = {
        "model": job["model"],
        "n": job["n"],
        "n_real": n_real,
        "real": n_real >= job["n"],
        "n_classes": int(rows["space_group"].nunique()),
        "n_features": len(names),
        "params": job["params"],
        "fit_s": fit_s,
        "train_call_s": train_s,
        "peak_rss_bytes": int(peak),
        "rss_before_fit_bytes": int(rss_before),
        "table_bytes": table_bytes,
        "boosting_rounds": _boosting_rounds(est),
        "device_used": training.get("device_used"),
        "top1": val.get("top1_accuracy") if n_real >= job["n"] and real else None,
        "top1_any": val.get("top1_accuracy"),
        "n_test": int(len(test)),
        "test_is_real": bool(real),
    }
    tmp = Path(tempfile.mkdtemp(prefix="train_scale_"))
    try:
        start = time.perf_counter()
        save_bundle(
            tmp / "bundle",
            est,
            feature_names=names,
            feature_config=config,
            feature_version=version,
            training=training,
        )
        out["save_s"] = time.perf_counter() - start
        out["bundle_bytes"] = _dir_bytes(tmp / "bundle")
        start = time.perf_counter()
        bundle = load_bundle(tmp / "bundle")
        out["load_s"] = time.perf_counter() - start
        scored = rows.iloc[: min(len(rows), PREDICT_ROWS)]
        if len(scored) < 2_000:  # too few rows to time: score them again until 2,000
            scored = rows.iloc[np.resize(np.arange(len(rows)), 2_000)]
        start = time.perf_counter()
        bundle.predict_proba(scored)
        out["predict_rows"] = int(len(scored))
        out["predict_rows_per_s"] = len(scored) / (time.perf_counter() - start)
        out["stacks_per_s"] = out["n_stacks"] = None
        if job["h5"]:
            from cbedfeat.workflows.predict import predict_files

            start = time.perf_counter()
            pred = predict_files(bundle, job["h5"], device=job["device"])
            out["n_stacks"] = len(pred.rows)
            out["stacks_per_s"] = len(pred.rows) / (time.perf_counter() - start)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def run_isolated(job: dict) -> dict:
    """:func:`measure` in a fresh process (its peak memory is this run's alone)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(measure, job).result()


# ---------------------------------------------------------------------------- trend
def power_law(sizes, seconds) -> dict | None:
    """Least-squares fit of ``log t = log c + b log n``; None with fewer than two sizes.

    Returns
    -------
    dict or None
        ``{"exponent": b, "coefficient": c}``.
    """
    import numpy as np

    pts = [(n, t) for n, t in zip(sizes, seconds, strict=True) if t and t > 0]
    if len({n for n, _ in pts}) < 2:
        return None
    b, log_c = np.polyfit(np.log([n for n, _ in pts]), np.log([t for _, t in pts]), 1)
    return {"exponent": float(b), "coefficient": float(math.exp(log_c))}


def expected_seconds(rows: list[dict], model: str, n: int) -> float | None:
    """Fit time of ``model`` at ``n`` rows expected from the runs so far (None: no run yet)."""
    done = [
        r for r in rows if r["model"] == model and r.get("fit_s") and r["variant"] == "defaults"
    ]
    trend = power_law([r["n"] for r in done], [r["train_call_s"] for r in done])
    if trend is not None:
        return trend["coefficient"] * n ** trend["exponent"]
    if done:  # one size: assume time grows linearly with rows
        return done[-1]["train_call_s"] * n / done[-1]["n"]
    return None


def _write_partial(args, rows: list[dict]) -> None:
    from cbedfeat._util import to_json, write_atomic

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / f"{args.name}.partial.json", (to_json({"rows": rows}) + "\n").encode())


def run(args) -> dict:
    """Every (model, size) run of ``args``, in order of size, within the budget."""
    from cbedfeat.models.registry import parameters, recommended_model

    recommended = recommended_model()
    models = [recommended if m == "recommended" else m for m in args.models]
    models = list(dict.fromkeys(models))
    rows, skipped, start = [], [], time.perf_counter()
    for n in sorted(args.sizes):
        for model in models:
            expect = expected_seconds(rows, model, n)
            used = time.perf_counter() - start
            if args.budget_s and expect is not None and used + expect > args.budget_s:
                skipped.append(
                    {
                        "model": model,
                        "n": n,
                        "expected_s": expect,
                        "reason": f"expected {expect:.0f} s, {args.budget_s - used:.0f} s "
                        "of the budget left",
                    }
                )
                print(f"skip {model} at {n}: {skipped[-1]['reason']}", flush=True)
                continue
            job = {
                "table": args.table,
                "classes": args.classes,
                "features": args.features,
                "seed": args.seed,
                "noise": args.noise,
                "model": model,
                "n": n,
                "device": args.device,
                "h5": [str(p) for p in args.h5 or []],
                "params": model_params(
                    model, n_jobs=args.n_jobs, max_rounds=args.max_rounds, max_trees=args.max_trees
                ),
            }
            row = run_isolated(job)
            row["variant"] = "defaults"
            rows.append(row)
            if args.compare_unscreened and row["real"] and "screen_features" in parameters(model):
                # The same fit with every column: what the screen costs in accuracy.
                rows.append(
                    {
                        **run_isolated(
                            {**job, "params": {**job["params"], "screen_features": None}}
                        ),
                        "variant": "every column",
                    }
                )
            # Kept as it comes: a run stopped part-way still leaves its rows.
            _write_partial(args, rows)
            print(
                {
                    k: row[k]
                    for k in (
                        "model",
                        "n",
                        "fit_s",
                        "peak_rss_bytes",
                        "bundle_bytes",
                        "predict_rows_per_s",
                        "top1",
                    )
                },
                flush=True,
            )
    trends = {}
    for model in models:
        done = [r for r in rows if r["model"] == model and r["variant"] == "defaults"]
        trend = power_law([r["n"] for r in done], [r["fit_s"] for r in done])
        if trend is not None:
            trend["expected_fit_s_at_max"] = (
                trend["coefficient"] * max(args.sizes) ** trend["exponent"]
            )
        trends[model] = trend
    return {
        "table": args.table,
        "synthetic": args.table is None,
        "recommended_model": recommended,
        "models": models,
        "sizes": sorted(args.sizes),
        "noise": args.noise,
        "seed": args.seed,
        "n_jobs": args.n_jobs,
        "device": args.device,
        "max_rounds": args.max_rounds,
        "max_trees": args.max_trees,
        "budget_s": args.budget_s,
        "compare_unscreened": bool(args.compare_unscreened),
        "cpu_count": os.cpu_count(),
        "h5": [str(p) for p in args.h5 or []],
        "rows": rows,
        "skipped": skipped,
        "trends": trends,
        "total_s": time.perf_counter() - start,
    }


# ---------------------------------------------------------------------------- report
def _mb(value) -> str:
    return "n/a" if value is None else f"{value / 1e6:.1f}"


def _num(value, fmt="{:.0f}") -> str:
    return "n/a" if value is None else fmt.format(value)


def markdown(doc: dict) -> str:
    """The Markdown report of :func:`run`'s document."""
    rows = doc["rows"]
    first = rows[0] if rows else {}
    source = (
        "a synthetic table (cbedfeat.testing.make_feature_table; its accuracy says nothing "
        "about CBED data)"
        if doc["synthetic"]
        else f"`{doc['table']}`"
    )
    lines = [
        "# Training at scale (bench/bench_train_scale.py)",
        "",
        f"Training rows from {source}: {first.get('n_classes', 'n/a')} classes, "
        f"{first.get('n_features', 'n/a')} features; {doc['n_jobs']} thread(s), device "
        f"{doc['device']}, {doc['cpu_count']} CPUs seen, seed {doc['seed']}. Recommended model "
        f"(best standing of the registry): `{doc['recommended_model']}`. Caps: rounds "
        f"{doc['max_rounds'] or 'the default'}, extra trees {doc['max_trees'] or 'the default'}.",
        "",
        "Rows marked *resampled* are the table's training materials drawn again with "
        f"Gaussian noise of {doc['noise']} x each feature's spread: **for timing, not "
        "accuracy** (no accuracy is given for them). Peak memory is the maximum RSS of the "
        "training process (table, fit, validation); 'table' is the feature matrix as read. "
        "Redrawn rows understate the size of fully grown extra trees (the blend's member), "
        "hence the memory and bundle of the recommended model: real rows make more leaves.",
        "",
        "Variant *defaults* is the model as `cbedfeat train` builds it (XGBoost trains on "
        "the columns its screen keeps, `screen_features`); *every column* is the same fit "
        "on the same rows and split with the screen off (`--compare-unscreened`, real rows "
        "only), so the two top-1 figures are a paired comparison of the screen.",
        "",
        "| model | variant | rows | rows are | fit s | s / 1k rows | XGBoost rounds kept | peak RSS MB | "
        "table MB | bundle MB | load s | predict rows/s | stacks/s (HDF5) | top-1 % |",
        "|---|---|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        kind = "real" if r["real"] else f"resampled ({r['n_real']} real)"
        top1 = "n/a" if r["top1"] is None else f"{100 * r['top1']:.1f}"
        lines.append(
            f"| `{r['model']}` | {r.get('variant', 'defaults')} | {r['n']:,} | {kind} | {r['fit_s']:.1f} | "
            f"{1000 * r['fit_s'] / r['n']:.3f} | {','.join(map(str, r['boosting_rounds'])) or '-'} | "
            f"{_mb(r['peak_rss_bytes'])} | {_mb(r['table_bytes'])} | {_mb(r['bundle_bytes'])} | "
            f"{r['load_s']:.1f} | {_num(r['predict_rows_per_s'])} | "
            f"{_num(r['stacks_per_s'], '{:.1f}')} | {top1} |"
        )
    lines += [
        "",
        "## Trend of fit time against rows (power law, least squares on log-log)",
        "",
        f"| model | exponent b | t = c n^b, c | expected fit s at {max(doc['sizes']):,} rows |",
        "|---|---:|---:|---:|",
    ]
    for model, trend in doc["trends"].items():
        if trend is None:
            lines.append(f"| `{model}` | n/a | n/a | n/a (fewer than two sizes) |")
        else:
            lines.append(
                f"| `{model}` | {trend['exponent']:.2f} | {trend['coefficient']:.3g} | "
                f"{trend['expected_fit_s_at_max']:.0f} |"
            )
    if doc["skipped"]:
        lines += ["", f"Skipped to stay within the budget of {doc['budget_s']:.0f} s:", ""]
        lines += [f"- `{s['model']}` at {s['n']:,} rows: {s['reason']}" for s in doc["skipped"]]
    lines += ["", f"Total {doc['total_s']:.0f} s."]
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", default=None, help="feature table (default: synthetic)")
    parser.add_argument(
        "--h5",
        nargs="*",
        default=None,
        help="HDF5 files or directories for the end-to-end stacks/s",
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument(
        "--models",
        nargs="+",
        default=["xgb", "recommended"],
        help="registry names; 'recommended' is the best standing model",
    )
    parser.add_argument("--classes", type=int, default=200, help="classes of a synthetic table")
    parser.add_argument("--features", type=int, default=780, help="columns of a synthetic table")
    parser.add_argument("--noise", type=float, default=0.05)
    parser.add_argument("--max-rounds", type=int, default=None, help="cap of boosting rounds")
    parser.add_argument("--max-trees", type=int, default=None, help="cap of the blend's trees")
    parser.add_argument(
        "--budget-s",
        type=float,
        default=None,
        help="skip runs expected to overrun this many seconds in all",
    )
    parser.add_argument(
        "--compare-unscreened",
        action="store_true",
        help="at sizes made of real rows, fit each model again with every column",
    )
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"sizes {QUICK_SIZES}, 5 rounds, 5 trees, a small synthetic table",
    )
    parser.add_argument("--out-dir", default=str(RESULTS))
    parser.add_argument("--name", default="train_scale")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = list(QUICK_SIZES)
        args.max_rounds = args.max_rounds or 5
        args.max_trees = args.max_trees or 5
        if args.table is None:
            args.classes, args.features = min(args.classes, 12), min(args.features, 24)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    doc = run(args)
    from cbedfeat._util import to_json, write_atomic

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / f"{args.name}.json", (to_json(doc) + "\n").encode())
    write_atomic(out / f"{args.name}.md", markdown(doc).encode())
    (out / f"{args.name}.partial.json").unlink(missing_ok=True)
    print(markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
