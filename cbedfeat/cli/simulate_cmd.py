"""``cbedfeat simulate``: write a synthetic CBED data set in the ORNL layout."""

from __future__ import annotations

import click


@click.command("simulate")
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory for batch_{train,dev,test}_<n>.h5 and simulation.json.",
)
@click.option(
    "--preset",
    default="demo",
    show_default=True,
    help="Preset of the data manifest (demo, bench); the options below override it.",
)
@click.option(
    "--materials",
    type=click.IntRange(min=1),
    default=None,
    help="Number of materials; wins over the preset's per-class minimum, which "
    "drops to what N allows (a note says so) unless --min-per-class is given.",
)
@click.option(
    "--energies",
    type=click.IntRange(1, 10),
    default=None,
    help="Beam energies per material: 100, 110, ... keV.",
)
@click.option("--seed", type=int, default=None, help="Seed of every random choice.")
@click.option(
    "--min-per-class",
    type=click.IntRange(min=0),
    default=None,
    help="Minimum materials per space group drawn.",
)
@click.option(
    "--top-classes",
    type=click.IntRange(min=1),
    default=None,
    help="Draw only the N most common ORNL train space groups.",
)
@click.option(
    "--samples-per-file",
    type=click.IntRange(min=1),
    default=None,
    help="Upper bound of samples per HDF5 file.",
)
@click.option(
    "--noise/--no-noise",
    default=None,
    help="Poisson noise at --dose (or the preset's dose) / noiseless patterns.",
)
@click.option(
    "--dose",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Incident electrons per pixel for Poisson noise.",
)
@click.option(
    "--blur",
    "blur_px",
    type=click.FloatRange(min=0),
    default=None,
    help="Detector blur sigma in pixels.",
)
@click.option(
    "--mistilt",
    "mistilt_mrad",
    type=click.FloatRange(min=0),
    default=None,
    help="Largest random mistilt from the zone axis, mrad.",
)
@click.option(
    "--engine",
    type=click.Choice(["kinematic", "multislice"]),
    default=None,
    help="Kinematic (fast, Friedel's law holds) or dynamical multislice with abTEM "
    "(pip install 'cbedfeat[dynamical]'); default: the preset's (kinematic).",
)
@click.option(
    "--probe-grid",
    type=click.IntRange(min=1),
    default=None,
    help="Multislice: mean over N x N probe positions (the ORNL data used 8; cost grows with N^2).",
)
@click.option(
    "--oversampling",
    type=click.FloatRange(min=1.0),
    default=None,
    help="Multislice: real-space points per detector pixel (1.5 fills the detector's "
    "inscribed circle at about twice the cost of 1).",
)
@click.option(
    "--crystals",
    type=click.Choice(["compact", "varied"]),
    default=None,
    help="Random cells: compact (edges < 10 A as in the ORNL set, 8-20 A^3 per atom) or "
    "varied (edges to 12.5 A, 8-35 A^3 per atom); default: the preset's.",
)
@click.option(
    "--zone-axes",
    type=click.Choice(["short", "strong"]),
    default=None,
    help="Zone axes: the shortest directions, or those holding pairs of the strongest "
    "reflections (as the ORNL set chose them); default: the preset's.",
)
@click.option(
    "--energy-draw",
    type=click.Choice(["first", "random"]),
    default=None,
    help="Energies: 100, 110, ... keV for every material, or K of 100-190 keV drawn "
    "per material; default: the preset's.",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Where the multislice engine computes.",
)
@click.option(
    "--workers",
    "-j",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes.",
)
@click.option(
    "--resume/--no-resume",
    default=True,
    show_default=True,
    help="Keep complete files of an interrupted run / rewrite every file.",
)
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar.")
def simulate(
    out,
    preset,
    materials,
    energies,
    seed,
    min_per_class,
    top_classes,
    samples_per_file,
    noise,
    dose,
    blur_px,
    mistilt_mrad,
    engine,
    probe_grid,
    oversampling,
    crystals,
    zone_axes,
    energy_draw,
    device,
    workers,
    resume,
    progress,
):
    """Simulate CBED stacks of random crystals into OUT (the ORNL layout).

    Space groups follow the ORNL train distribution; every material gets three zone
    axes and K energies; train/dev/test keep materials apart. Both engines draw the
    same crystals, zone axes and splits from the same seed. The same options give the
    same bytes whatever --workers (multislice: to float32 rounding); an interrupted run
    finishes with --resume.
    """
    from dataclasses import replace

    from cbedfeat.simulate.generate import generate_dataset
    from cbedfeat.simulate.plan import SimulationConfig, fit_min_per_class

    try:
        config = SimulationConfig.from_preset(
            preset,
            materials=materials,
            energies=energies,
            seed=seed,
            min_per_class=min_per_class,
            top_classes=top_classes,
            samples_per_file=samples_per_file,
            dose=dose,
            blur_px=blur_px,
            mistilt_mrad=mistilt_mrad,
            engine=engine,
            probe_grid=probe_grid,
            oversampling=oversampling,
            crystals=crystals,
            zone_axes=zone_axes,
            energy_draw=energy_draw,
        )
        if materials is not None and min_per_class is None:
            fitted = fit_min_per_class(config)
            if fitted.min_per_class != config.min_per_class:
                click.echo(
                    f"note: --materials {materials} leaves {fitted.min_per_class} per "
                    f"class (preset {preset!r} asks for {config.min_per_class})",
                    err=True,
                )
            config = fitted
        if noise is False:
            config = replace(config, dose=None)
        elif noise and config.dose is None:
            raise click.BadParameter("--noise needs --dose (the preset has none)")
        used = _device(device, config.engine)
        result = generate_dataset(
            out, config=config, workers=workers, resume=resume, progress=progress, device=used
        )
    except (KeyError, ValueError, ImportError, RuntimeError) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from None
    click.echo(
        f"{result.out_dir}: wrote {len(result.written)} files ({result.samples} samples), "
        f"kept {len(result.skipped)} complete files, {result.seconds:.1f} s"
    )


def _device(device: str, engine: str) -> str:
    """'cpu' or 'cuda' for the multislice engine ('auto': CUDA when CuPy sees a GPU)."""
    if engine != "multislice" or device == "cpu":
        return "cpu"
    from cbedfeat.features.backend import resolve_device

    used = resolve_device(device)
    click.echo(f"multislice on {used}", err=True)
    return used
