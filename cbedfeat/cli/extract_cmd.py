"""``cbedfeat extract``: HDF5 files -> one Parquet feature table."""

from __future__ import annotations

import click


@click.command("extract")
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(),
    help="Feature table to write (FEATURES.parquet); its parts go to FEATURES.parquet.parts/.",
)
@click.option(
    "--workers",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes [default: all cores].",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Where features are computed.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Feature config (YAML).",
)
@click.option(
    "--scheduler",
    default=None,
    help="Run on Dask: 'local' (a LocalCluster) or a scheduler address.",
)
@click.option("--strict", is_flag=True, help="Fail on the first bad sample instead of skipping it.")
@click.option(
    "--resume/--no-resume",
    default=True,
    show_default=True,
    help="Reuse parts whose input is unchanged.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Stacks per feature batch (default: 4 on the CPU, 32 on the GPU).",
)
@click.option(
    "--parts-only",
    is_flag=True,
    help="OUT is a directory of parts (one per file); no combined file.",
)
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Show a progress bar."
)
def extract(
    inputs,
    out,
    workers,
    device,
    config_path,
    scheduler,
    strict,
    resume,
    batch_size,
    parts_only,
    progress,
):
    """Featurise every sample of INPUTS into OUT.

    INPUTS are ORNL-layout HDF5 files and directories (batch_*.h5), .npy files and
    HDF5 datasets named FILE.h5:/path/to/dataset holding one stack (3, H, W) or many
    (N, 3, H, W) in the ORNL geometry (rows named row_<i>).

    Rows keep file order, then sample order. Samples whose pattern is unusable are
    skipped and listed in OUT's stem + '.skipped.csv'. Samples with a usable pattern
    but missing or invalid attributes get a row with those fields null (unlabelled:
    train and evaluate leave them out), listed in OUT's stem + '.metadata.csv'.
    --strict stops the run at the first problem of either kind. An interrupted run
    started again reuses the parts already written (--resume).
    """
    from cbedfeat.extraction.extract import ExtractError
    from cbedfeat.extraction.extract import extract as run_extract

    try:
        result = run_extract(
            list(inputs),
            out,
            workers=workers,
            device=device,
            config=config_path,
            scheduler=scheduler,
            strict=strict,
            resume=resume,
            batch_size=batch_size,
            parts_only=parts_only,
            progress=progress,
        )
    except FileNotFoundError as exc:
        raise click.BadParameter(str(exc), param_hint="INPUTS") from None
    except ExtractError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(result.summary())
