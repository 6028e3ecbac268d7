"""How fast does ``cbedfeat simulate`` render 512 x 512 patterns, with 1 and 2 workers?

Kinematic engine. For each crystal system (space groups drawn from the ORNL train distribution within the
system) and for the demo preset's mix of space groups, whole materials (crystal, zone
axes, three patterns per energy) are simulated by a pool of 1 and of 2 spawned worker
processes, the same work for both. Reported: patterns per second, the speed-up of 2
workers over 1 (the peer measured in the same run), and the peak resident memory of a
worker process. Target on a 2-core machine: >= 20 patterns/s with 2 workers for the
demo mix, < 1 GB per worker.

Multislice engine. The first materials of the ``bench-dynamical`` preset (one energy,
its thickness range, one probe position, 512 points over the 100 A box) are simulated
the same way with ``--engine multislice`` by 1 and 2 workers: patterns/s and the peak
resident memory of a worker. The peer, measured in the same run on the same crystals,
zone axes and thicknesses in one spawned worker: abTEM called directly for one pattern
as its documentation shows, with abTEM's default configuration: an ``ase.Atoms`` slab
of the full thickness, ``abtem.Potential(atoms, gpts=512, slice_thickness=2,
projection='infinite')``, ``abtem.Probe(semiangle_cutoff=..., energy=...)`` and
``probe.multislice(potential, scan=[[x, y]]).diffraction_patterns(max_angle='full')``.
Target: the engine costs no more per pattern than the direct call.

Writes bench/results/simulate.json and simulate.md (with --engine E alone: simulate_E.*).

Usage: python bench/bench_simulate.py [--quick] [--materials N] [--engine kinematic|multislice|all]
       [--multislice-materials N] [--shape N]
(--shape: a smaller detector for a smoke run of the script; its numbers are not the
ORNL geometry's.)
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
    return [(config, first_index + k, int(sg), "train", "cpu") for k, sg in enumerate(space_groups)]


def _warm(engine):
    # Import the simulator (and abTEM, configured as the engine uses it) before the clock starts.
    import cbedfeat.simulate.generate  # noqa: F401
    import cbedfeat.simulate.kinematic  # noqa: F401

    if engine == "multislice":
        from cbedfeat.simulate.multislice import import_abtem

        import_abtem()
    elif engine == "abtem":
        import abtem  # noqa: F401
        import ase  # noqa: F401
    return os.getpid()


def _peak_rss_mb() -> float:
    """Largest resident set of this process so far, MB (ru_maxrss is in kB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measured(task):
    """One material through the engine: (patterns made, this worker's peak memory)."""
    from cbedfeat.simulate.generate import _worker

    samples = _worker(task)
    return sum(stack.shape[0] for stack, _ in samples), _peak_rss_mb()


def _direct_abtem(task):
    """The material's patterns by abTEM called directly, one pattern at a time.

    Same crystal, zone axes, thickness, energy, semi-angle and probe position (the box
    centre) as the engine; atoms from the engine's geometry helpers (what the engine
    adds on top of abTEM), the rest as abTEM's documentation shows, with its default
    configuration (lazy arrays computed by its Dask scheduler) but no progress bar.
    Returns (patterns made, this worker's peak memory).
    """
    import abtem
    import ase

    abtem.config.set({"diagnostics.progress_bar": False})

    from cbedfeat.simulate.generate import material_crystal
    from cbedfeat.simulate.kinematic import reference_reflection
    from cbedfeat.simulate.multislice import crystal_period_atoms
    from cbedfeat.simulate.scattering import electron_wavelength
    from cbedfeat.simulate.zone_geometry import detector_frame, primitive_uvw, reciprocal_basis

    config, index, space_group, _, _ = task
    crystal, z_dirs, options, _ = material_crystal(config, index, space_group)
    box = 1.0 / options.pixel_size
    n = 0
    for uvw in z_dirs:
        uvw = primitive_uvw(uvw)
        d_ref, hkl = reference_reflection(crystal, uvw)
        frame = detector_frame(crystal.lattice, uvw, hkl @ reciprocal_basis(crystal.lattice))
        period = float(np.linalg.norm(uvw @ np.asarray(crystal.lattice, dtype=float)))
        numbers, positions = crystal_period_atoms(crystal, frame, period, box)
        reps = max(1, int(round(options.thickness_A / period)))
        slab = ase.Atoms(numbers=numbers, positions=positions, cell=[box, box, period], pbc=True)
        slab = slab * (1, 1, reps)  # the full thickness
        for energy in config.energies_keV:
            potential = abtem.Potential(
                slab, gpts=config.shape[0], slice_thickness=2, projection="infinite"
            )
            lam = electron_wavelength(energy)
            probe = abtem.Probe(semiangle_cutoff=lam / (4 * d_ref) * 1e3, energy=energy * 1e3)
            pattern = probe.multislice(potential, scan=[[box / 2, box / 2]]).diffraction_patterns(
                max_angle="full"
            )
            np.asarray(pattern.compute().array)
            n += 1
    return n, _peak_rss_mb()


def _run(tasks, workers: int, engine: str = "kinematic") -> tuple[float, int, float]:
    """Seconds to simulate ``tasks`` on a fresh pool (start-up excluded), patterns made and
    the peak resident memory of a worker (MB). ``engine`` 'abtem' runs the direct peer."""
    import multiprocessing as mp

    from cbedfeat.simulate.generate import _worker_init

    ctx = mp.get_context("spawn")
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    func = _direct_abtem if engine == "abtem" else _measured
    with ctx.Pool(workers, initializer=_worker_init) as pool:
        pool.map(_warm, [engine] * workers, chunksize=1)
        t0 = time.perf_counter()
        n, peak = 0, 0.0
        for made, rss in pool.imap(func, tasks, chunksize=1):
            n += made
            peak = max(peak, rss)
        return time.perf_counter() - t0, n, peak


def _space_groups_of(system: str, n: int, seed: int) -> np.ndarray:
    from cbedfeat.data.labels import crystal_system_of
    from cbedfeat.simulate.plan import ornl_train_counts

    counts = {sg: c for sg, c in ornl_train_counts().items() if crystal_system_of(sg) == system}
    sgs = np.array(sorted(counts))
    p = np.array([counts[s] for s in sgs], dtype=float)
    return np.random.default_rng(seed).choice(sgs, size=n, p=p / p.sum())


def _kinematic(args, n: int, shape: tuple[int, int]) -> dict:
    """Rows of the kinematic engine: the demo mix and, unless --quick, each crystal system."""
    from cbedfeat.data.labels import CRYSTAL_SYSTEMS
    from cbedfeat.simulate.plan import SimulationConfig, make_plan

    demo = SimulationConfig.from_preset("demo")
    config = replace(demo, energies=1, shape=shape)  # one energy: every material gives 3 patterns
    rows_spec = [("demo mix", make_plan(demo).space_groups[:n])]
    if not args.quick:
        rows_spec += [(s, _space_groups_of(s, n, seed=i)) for i, s in enumerate(CRYSTAL_SYSTEMS)]
    rows = []
    for label, sgs in rows_spec:
        tasks = _tasks(config, sgs, first_index=10_000)
        for workers in (1, 2):
            seconds, patterns, peak = _run(tasks, workers)
            rows.append(
                {
                    "crystals": label,
                    "workers": workers,
                    "materials": len(tasks),
                    "patterns": patterns,
                    "seconds": round(seconds, 3),
                    "patterns_per_s": round(patterns / seconds, 2),
                    "peak_worker_rss_mb": round(peak, 1),
                }
            )
            print(
                f"{label:13s} workers={workers} {patterns} patterns in {seconds:.2f} s "
                f"= {patterns / seconds:.1f} /s",
                flush=True,
            )
    by = {(r["crystals"], r["workers"]): r["patterns_per_s"] for r in rows}
    speedup = {label: round(by[(label, 2)] / by[(label, 1)], 2) for label, _ in rows_spec}
    max_rss_mb = max(r["peak_worker_rss_mb"] for r in rows)
    demo_2w = by[("demo mix", 2)]
    return {
        "rows": rows,
        "speedup_2_over_1": speedup,
        "max_worker_rss_mb": round(max_rss_mb, 1),
        "target": {"demo_patterns_per_s_2_workers": 20, "max_worker_rss_mb": 1024},
        "meets_target": bool(demo_2w >= 20 and max_rss_mb < 1024),
    }


def _multislice(n: int, shape: tuple[int, int]) -> dict:
    """Rows of the multislice engine (1 and 2 workers) and of abTEM called directly."""
    from cbedfeat.simulate.plan import SimulationConfig, make_plan

    config = SimulationConfig.from_preset("bench-dynamical", shape=shape)
    tasks = _tasks(config, make_plan(config).space_groups[:n], first_index=0)
    rows = []
    for label, engine, workers in (
        ("cbedfeat multislice", "multislice", 1),
        ("cbedfeat multislice", "multislice", 2),
        ("abTEM directly", "abtem", 1),
    ):
        seconds, patterns, peak = _run(tasks, workers, engine)
        rows.append(
            {
                "engine": label,
                "workers": workers,
                "materials": len(tasks),
                "patterns": patterns,
                "seconds": round(seconds, 3),
                "patterns_per_s": round(patterns / seconds, 3),
                "peak_worker_rss_mb": round(peak, 1),
            }
        )
        print(
            f"{label:20s} workers={workers} {patterns} patterns in {seconds:.2f} s "
            f"= {patterns / seconds:.2f} /s, peak {peak:.0f} MB",
            flush=True,
        )
    one, two, direct = rows
    return {
        "preset": "bench-dynamical",
        "settings": {
            "shape": list(shape),
            "energies_keV": config.energies_keV,
            "thickness_A": list(config.thickness_A),
            "probe_grid": config.probe_grid,
            "oversampling": config.oversampling,
        },
        "rows": rows,
        "speedup_2_over_1": round(two["patterns_per_s"] / one["patterns_per_s"], 2),
        "engine_over_direct": round(one["patterns_per_s"] / direct["patterns_per_s"], 2),
        "meets_target": bool(one["patterns_per_s"] >= direct["patterns_per_s"]),
    }


def _markdown(result: dict, quick: bool) -> str:
    lines = []
    kin = result.get("kinematic")
    if kin:
        shape = "x".join(map(str, result["shape"]))
        lines += [
            f"# bench_simulate: kinematic CBED patterns per second ({shape})",
            "",
            f"Machine: {os.cpu_count()} CPUs, {platform.platform()}. "
            f"{'Quick run. ' if quick else ''}One energy, 3 patterns per material.",
            "",
            "| crystals | workers | materials | patterns | s | patterns/s | peak MB/worker |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {r['crystals']} | {r['workers']} | {r['materials']} | {r['patterns']} | "
            f"{r['seconds']:.2f} | {r['patterns_per_s']:.1f} | {r['peak_worker_rss_mb']:.0f} |"
            for r in kin["rows"]
        ]
        lines += [
            "",
            "Speed-up of 2 workers over 1: "
            + ", ".join(f"{k} {v:.2f}x" for k, v in kin["speedup_2_over_1"].items())
            + ".",
            f"Peak worker memory: {kin['max_worker_rss_mb']:.0f} MB. Target (demo mix, 2 workers): "
            f">= 20 patterns/s and < 1024 MB: {'met' if kin['meets_target'] else 'NOT met'}.",
            "",
        ]
    ms = result.get("multislice")
    if ms:
        st = ms["settings"]
        lines += [
            f"## Multislice engine ({st['shape'][0]}x{st['shape'][1]}, bench-dynamical preset)",
            "",
            f"The first {ms['rows'][0]['materials']} materials of the bench-dynamical plan, 3 zone "
            f"axes each, {', '.join(map(str, st['energies_keV']))} keV, "
            f"{st['thickness_A'][0]:g}-{st['thickness_A'][1]:g} A thick, probe grid "
            f"{st['probe_grid']}, oversampling {st['oversampling']:g}; CPU, one thread per "
            "worker. 'abTEM directly': the same patterns by abTEM's documented calls (a "
            "full-thickness ase slab, Potential(gpts, slice_thickness=2, "
            "projection='infinite'), Probe, multislice at one scan position, "
            "diffraction_patterns(max_angle='full')) with its default configuration (no progress "
            "bar), in one worker.",
            "",
            "| engine | workers | materials | patterns | s | patterns/s | peak MB/worker |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {r['engine']} | {r['workers']} | {r['materials']} | {r['patterns']} | "
            f"{r['seconds']:.2f} | {r['patterns_per_s']:.2f} | {r['peak_worker_rss_mb']:.0f} |"
            for r in ms["rows"]
        ]
        lines += [
            "",
            f"Speed-up of 2 workers over 1: {ms['speedup_2_over_1']:.2f}x. The engine (1 "
            f"worker) renders {ms['engine_over_direct']:.2f}x the patterns per second of the "
            "direct call; target (the engine costs no more): "
            f"{'met' if ms['meets_target'] else 'NOT met'}.",
            "",
        ]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few materials, demo mix only")
    ap.add_argument("--materials", type=int, default=None, help="materials per kinematic row")
    ap.add_argument("--engine", choices=["kinematic", "multislice", "all"], default="all")
    ap.add_argument(
        "--multislice-materials",
        type=int,
        default=None,
        help="materials of the multislice rows (default 3; --quick: 1)",
    )
    ap.add_argument(
        "--shape", type=int, default=512, help="detector size N (N x N); 512 is the ORNL one"
    )
    ap.add_argument("--out-dir", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    n = args.materials or (4 if args.quick else 16)
    shape = (args.shape, args.shape)

    result = {
        "benchmark": "simulate",
        "question": "patterns/s of the kinematic and multislice engines, 1 vs 2 workers; "
        "the multislice engine against abTEM called directly",
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
        },
        "shape": list(shape),
        "quick": args.quick,
    }
    if args.engine in ("kinematic", "all"):
        result["kinematic"] = _kinematic(args, n, shape)
    if args.engine in ("multislice", "all"):
        result["multislice"] = _multislice(
            args.multislice_materials or (1 if args.quick else 3), shape
        )
    stem = "simulate" if args.engine == "all" else f"simulate_{args.engine}"
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out_dir / f"{stem}.md").write_text(_markdown(result, args.quick))
    print(f"wrote {args.out_dir / (stem + '.json')} and {stem}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
