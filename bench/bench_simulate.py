"""How fast does ``cbedfeat simulate`` render 512 x 512 patterns, with 1 and 2 workers?

For each crystal system (space groups drawn from the ORNL train distribution within the
system) and for the demo preset's mix of space groups, whole materials (crystal, zone
axes, three patterns per energy) are simulated by a pool of 1 and of 2 spawned worker
processes, the same work for both. Reported: patterns per second, the speed-up of 2
workers over 1 (the peer measured in the same run), and the peak resident memory of a
worker process. Target on a 2-core machine: >= 20 patterns/s with 2 workers for the
demo mix, < 1 GB per worker.

Writes bench/results/simulate.json and bench/results/simulate.md.

Usage: python bench/bench_simulate.py [--quick] [--materials N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def _tasks(config, space_groups, first_index):
    return [(config, first_index + k, int(sg), "train") for k, sg in enumerate(space_groups)]


def _warm(_):
    # Import the simulator before the clock starts.
    import cbedfeat.simulate.generate  # noqa: F401
    import cbedfeat.simulate.kinematic  # noqa: F401

    return os.getpid()


def _run(tasks, workers: int) -> tuple[float, int]:
    """Seconds to simulate ``tasks`` on a fresh pool (start-up excluded), patterns made."""
    import multiprocessing as mp

    from cbedfeat.simulate.generate import _worker, _worker_init

    ctx = mp.get_context("spawn")
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    with ctx.Pool(workers, initializer=_worker_init) as pool:
        pool.map(_warm, range(workers), chunksize=1)
        t0 = time.perf_counter()
        n = 0
        for samples in pool.imap(_worker, tasks, chunksize=1):
            n += sum(stack.shape[0] for stack, _ in samples)
        return time.perf_counter() - t0, n


def _space_groups_of(system: str, n: int, seed: int) -> np.ndarray:
    from cbedfeat.data.labels import crystal_system_of
    from cbedfeat.simulate.plan import ornl_train_counts

    counts = {sg: c for sg, c in ornl_train_counts().items() if crystal_system_of(sg) == system}
    sgs = np.array(sorted(counts))
    p = np.array([counts[s] for s in sgs], dtype=float)
    return np.random.default_rng(seed).choice(sgs, size=n, p=p / p.sum())


def main(argv=None) -> int:
    from cbedfeat.data.labels import CRYSTAL_SYSTEMS
    from cbedfeat.simulate.plan import SimulationConfig, make_plan

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few materials, demo mix only")
    ap.add_argument("--materials", type=int, default=None, help="materials per row")
    args = ap.parse_args(argv)
    n = args.materials or (4 if args.quick else 16)

    demo = SimulationConfig.from_preset("demo")
    config = replace(demo, energies=1)  # one energy: every material gives 3 patterns
    rows_spec = [("demo mix", make_plan(demo).space_groups[:n])]
    if not args.quick:
        rows_spec += [(s, _space_groups_of(s, n, seed=i)) for i, s in enumerate(CRYSTAL_SYSTEMS)]

    rows = []
    for label, sgs in rows_spec:
        tasks = _tasks(config, sgs, first_index=10_000)
        for workers in (1, 2):
            seconds, patterns = _run(tasks, workers)
            rows.append({"crystals": label, "workers": workers, "materials": len(tasks),
                         "patterns": patterns, "seconds": round(seconds, 3),
                         "patterns_per_s": round(patterns / seconds, 2)})
            print(f"{label:13s} workers={workers} {patterns} patterns in {seconds:.2f} s "
                  f"= {patterns / seconds:.1f} /s", flush=True)
    # Largest resident set of any worker process that has ended (kB on Linux).
    max_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    by = {(r["crystals"], r["workers"]): r["patterns_per_s"] for r in rows}
    speedup = {label: round(by[(label, 2)] / by[(label, 1)], 2) for label, _ in rows_spec}
    demo_2w = by[("demo mix", 2)]
    result = {
        "benchmark": "simulate",
        "question": "patterns/s of the kinematic simulator at 512x512, 1 vs 2 workers",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": sys.version.split()[0]},
        "shape": list(config.shape), "quick": args.quick,
        "rows": rows, "speedup_2_over_1": speedup,
        "max_worker_rss_mb": round(max_rss_mb, 1),
        "target": {"demo_patterns_per_s_2_workers": 20, "max_worker_rss_mb": 1024},
        "meets_target": bool(demo_2w >= 20 and max_rss_mb < 1024),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "simulate.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# bench_simulate: kinematic CBED patterns per second (512 x 512)", "",
             f"Machine: {os.cpu_count()} CPUs, {platform.platform()}. "
             f"{'Quick run. ' if args.quick else ''}One energy, 3 patterns per material.", "",
             "| crystals | workers | materials | patterns | s | patterns/s |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['crystals']} | {r['workers']} | {r['materials']} | {r['patterns']} | "
              f"{r['seconds']:.2f} | {r['patterns_per_s']:.1f} |" for r in rows]
    lines += ["", "Speed-up of 2 workers over 1: "
              + ", ".join(f"{k} {v:.2f}x" for k, v in speedup.items()) + ".",
              f"Peak worker memory: {max_rss_mb:.0f} MB. Target (demo mix, 2 workers): "
              f">= 20 patterns/s and < 1024 MB: {'met' if result['meets_target'] else 'NOT met'}.", ""]
    (RESULTS / "simulate.md").write_text("\n".join(lines))
    print(f"wrote {RESULTS / 'simulate.json'} and simulate.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
