"""Write a synthetic CBED data set in the ORNL layout.

Each material i (space group and split from :mod:`cbedfeat.simulate.plan`) gets a random
crystal, three zone axes, a thickness and a Debye-Waller factor, all drawn from its own
generator (seed, i); it is rendered at K energies into groups ``sample_<i>_<j>``.
Workers (processes) render whole materials; the parent writes the files one by one in
the plan's order, each atomically (:class:`cbedfeat.data.ORNLWriter`), so the same seed
gives the same bytes whatever the number of workers, an interrupted run leaves only
complete files, and ``resume`` finishes it by skipping the files already there.

Workers are spawned processes: a script that calls :func:`generate_dataset` with
``workers > 1`` needs the usual ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cbedfeat._util import progress_bar
from cbedfeat.data import ORNLWriter, SampleMeta
from cbedfeat.simulate.crystals import random_crystal
from cbedfeat.simulate.kinematic import RenderOptions, render_pattern
from cbedfeat.simulate.plan import PLAN_FILE, Plan, SimulationConfig, make_plan, material_rng
from cbedfeat.simulate.zone_axes import pick_zone_axes

log = logging.getLogger(__name__)


@dataclass
class GenerationResult:
    """What :func:`generate_dataset` did.

    Attributes
    ----------
    out_dir : Path
    written, skipped : list of str
        File names written now / already complete and kept.
    samples : int
        Samples (groups) written now.
    seconds : float
        Wall time.
    """

    out_dir: Path
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    samples: int = 0
    seconds: float = 0.0


def material_crystal(plan_or_config, index: int, space_group: int):
    """The crystal and per-material draws of material ``index``: a pure function of the seed.

    Returns
    -------
    crystal : Crystal
    z_dirs : (3, 3) ndarray of int
    options : RenderOptions
    rng : numpy.random.Generator
        The material's generator, positioned after these draws (for the noise).
    """

    config = getattr(plan_or_config, "config", plan_or_config)
    rng = material_rng(config.seed, index)
    crystal = random_crystal(int(space_group), rng, material=f"syn-{index}", style=config.crystals)
    z_dirs = pick_zone_axes(crystal, rng, mode=config.zone_axes, pool=config.zone_axis_pool)
    options = RenderOptions(
        thickness_A=float(rng.uniform(*config.thickness_A)),
        debye_waller_B=float(rng.uniform(*config.debye_waller_B)),
        dose=config.dose,
        blur_px=config.blur_px,
        mistilt_mrad=config.mistilt_mrad,
        shape=config.shape,
    )
    return crystal, z_dirs, options, rng


def _renderers(config: SimulationConfig, crystal, z_dirs, device: str) -> list:
    """One ``render(energy, options, rng) -> (pattern, info)`` per zone axis.

    The multislice engine builds each zone axis's potential once here, and every
    energy of the material reuses it.
    """
    if config.engine == "multislice":
        from cbedfeat.simulate.multislice import MultisliceSettings, ZoneAxisPotential

        settings = MultisliceSettings(
            probe_grid=config.probe_grid, oversampling=config.oversampling, device=device
        )
        return [
            ZoneAxisPotential(crystal, uvw, settings, shape=config.shape).render for uvw in z_dirs
        ]

    return [
        lambda energy, options, rng, uvw=uvw: render_pattern(
            crystal, uvw, energy, options=options, rng=rng
        )
        for uvw in z_dirs
    ]


def simulate_material(
    config: SimulationConfig,
    index: int,
    space_group: int,
    split: str = "unknown",
    device: str = "cpu",
) -> list[tuple[np.ndarray, object]]:
    """All K samples of material ``index``: ``[(stack, SampleMeta), ...]`` in energy order.

    ``stack`` is (3, H, W) float32, one pattern per zone axis, rendered by
    ``config.engine`` (on ``device``, 'cpu' or 'cuda', for the multislice engine); the
    metadata records the zone axes, the renderer's in-plane directions, reference
    d-spacings and semi-angles (lambda / (4 d) at that energy), and the crystal's
    lattice and formula. Both engines draw the same crystal, zone axes and options
    from the same seed.
    """

    crystal, z_dirs, options, rng = material_crystal(config, index, space_group)
    renderers = _renderers(config, crystal, z_dirs, device)
    out = []
    for j, energy in enumerate(config.material_energies_keV(index)):
        patterns, y_dirs, d_hkls, semi = [], [], [], []
        for render in renderers:
            pattern, info = render(energy, options, rng)
            patterns.append(np.asarray(pattern, dtype=np.float32))
            y_dirs.append(np.asarray(info["y_dir"], dtype=float))
            d_hkls.append(float(info["d_hkl"]))
            semi.append(float(info["semi_angle"]))
        meta = SampleMeta(
            file="",
            group=f"sample_{index}_{j}",
            split=split,
            material=crystal.material,
            space_group=crystal.space_group,
            energy_keV=int(energy),
            z_dirs=z_dirs,
            y_dirs=np.array(y_dirs),
            semi_angles_rad=np.array(semi),
            d_hkls_angstrom=np.array(d_hkls),
            abc_angstrom=crystal.abc,
            angles_degree=crystal.angles,
            formula=crystal.formula,
        )
        out.append((np.stack(patterns), meta))
    return out


def _worker_init() -> None:
    # One BLAS thread per process: the processes are the parallelism.
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except Exception:  # threadpoolctl is optional at run time
        pass


def _worker(args):
    config, index, space_group, split, device = args
    return simulate_material(config, index, space_group, split, device)


def _file_complete(path: Path, expected_groups: int) -> bool:
    """A file left by an earlier run is complete if it opens and has every group."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return len(f.keys()) == expected_groups
    except Exception:
        return False


def _check_plan_file(out_dir: Path, plan: Plan, resume: bool) -> None:
    """Refuse to mix two different simulations in one directory."""
    import json

    path = out_dir / PLAN_FILE
    if path.exists() and resume:
        old = json.loads(path.read_text())
        new = json.loads(plan.to_json())
        # Plans written before a config field existed lack it: they used its default.
        defaults = SimulationConfig().to_dict()
        old["config"] = {**{k: defaults[k] for k in new["config"]}, **old.get("config", {})}
        if old != new:
            raise ValueError(
                f"{out_dir} holds a different simulation ({PLAN_FILE} differs from these "
                "parameters); choose another --out or pass --no-resume to overwrite it"
            )
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(plan.to_json())
    os.replace(tmp, path)


def _results(tasks: list, workers: int) -> Iterator[list]:
    """Simulated materials in task order, from this process or a spawn pool."""
    if workers <= 1 or len(tasks) <= 1:
        for t in tasks:
            yield _worker(t)
        return
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # no fork: safe whatever threads the parent runs
    old = os.environ.get("OPENBLAS_NUM_THREADS")
    os.environ["OPENBLAS_NUM_THREADS"] = "1"  # inherited by the spawned workers at start
    try:
        with ctx.Pool(processes=workers, initializer=_worker_init) as pool:
            yield from pool.imap(_worker, tasks, chunksize=1)
    finally:
        if old is None:
            os.environ.pop("OPENBLAS_NUM_THREADS", None)
        else:
            os.environ["OPENBLAS_NUM_THREADS"] = old


def generate_dataset(
    out_dir,
    *,
    preset: str | None = None,
    config: SimulationConfig | None = None,
    workers: int = 1,
    resume: bool = True,
    progress: bool = True,
    device: str = "cpu",
    **overrides,
) -> GenerationResult:
    """Simulate a data set into ``out_dir`` as ``batch_{train,dev,test}_<n>.h5`` files.

    Parameters
    ----------
    out_dir : path
        Created if missing. Gets the HDF5 files and ``simulation.json`` (the plan).
    preset : str or None
        Name of a preset of the data manifest (``demo``, ``bench``); else defaults.
    config : SimulationConfig or None
        Full parameter set (instead of ``preset``).
    workers : int
        Processes that render materials (1: in this process).
    resume : bool
        Keep complete files of the same plan and write only the missing ones; a
        directory holding a different plan is an error. False rewrites every file.
    progress : bool
        Show a tqdm progress bar (materials).
    device : {'cpu', 'cuda'}
        Where the multislice engine computes (the kinematic engine runs on the CPU).
        Not part of the plan: a run can be resumed on another device.
    **overrides
        Fields of :class:`SimulationConfig` replacing the preset's (None is ignored):
        ``materials``, ``energies``, ``seed``, ``dose``, ...

    Returns
    -------
    GenerationResult
    """

    if config is None:
        if preset is not None:
            config = SimulationConfig.from_preset(preset, **overrides)
        else:
            config = SimulationConfig(**{k: v for k, v in overrides.items() if v is not None})
    elif overrides:
        raise TypeError("give either config or field overrides, not both")
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = make_plan(config)
    _check_plan_file(out_dir, plan, resume)
    result = GenerationResult(out_dir=out_dir)

    pending = []
    for fp in plan.files:
        path = out_dir / fp.name
        stale = path.with_name(path.name + ".tmp")
        if stale.exists():
            stale.unlink()  # left by an interrupted run
        if resume and path.exists() and _file_complete(path, len(fp.materials) * config.energies):
            result.skipped.append(fp.name)
        else:
            pending.append(fp)
    tasks = [
        (config, i, int(plan.space_groups[i]), fp.split, device)
        for fp in pending
        for i in fp.materials
    ]
    log.info(
        "simulating %d materials into %d files (%d complete files kept), %d workers",
        len(tasks),
        len(pending),
        len(result.skipped),
        workers,
    )
    results = _results(tasks, workers)
    level = config.compression_level if config.compression == "gzip" else None
    try:
        with progress_bar(
            total=len(tasks), desc="simulate", unit="material", enabled=progress
        ) as bar:
            for fp in pending:
                with ORNLWriter(
                    out_dir / fp.name, compression=config.compression, compression_opts=level
                ) as writer:
                    for _ in fp.materials:
                        for stack, meta in next(results):
                            writer.write(stack, meta)
                            result.samples += 1
                        bar.update(1)
                result.written.append(fp.name)
    finally:
        results.close()  # on an error: stop the worker pool now, not at garbage collection
    result.seconds = time.perf_counter() - t0
    return result
