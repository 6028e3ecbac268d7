"""``cbedfeat inspect PATH...``: check and summarise ORNL-layout HDF5 files.

Exit status (also in ``--help``): 0 every sample valid; 1 pattern problems only
(samples or files unusable everywhere); 3 metadata problems only (every pattern
usable, some samples unlabelled); 4 both kinds; 2 usage errors (missing path, no HDF5
files found, bad option).
"""

from __future__ import annotations

import sys

import click

# Exit status by the kinds of problem found (DataSummary.found); 2 is click's usage error.
EXIT_CODES = {"none": 0, "pattern": 1, "metadata": 3, "both": 4}


@click.command(
    "inspect",
    epilog=(
        "\b\nExit status:\n  0  every sample valid\n"
        "  1  pattern problems (samples or files unusable everywhere)\n"
        "  2  usage error\n"
        "  3  metadata problems only (every pattern usable; unlabelled samples are predicted,\n"
        "     never trained or evaluated on)\n"
        "  4  both kinds"
    ),
)
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=True, file_okay=True)
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--strict",
    is_flag=True,
    help="Stop at the first bad file or sample (exit 1 for a pattern problem, "
    "3 for a metadata problem) instead of listing all.",
)
@click.option(
    "--metadata-only",
    is_flag=True,
    help="Check attributes and stack shape/dtype without reading intensities (fast).",
)
@click.option(
    "--top",
    default=20,
    show_default=True,
    type=click.IntRange(min=1),
    help="Space groups listed in the text report.",
)
@click.option(
    "--compare-ornl",
    is_flag=True,
    help="Show the real ORNL data set's samples per split (data manifest) beside the counts.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar over files (default: when stderr is a terminal).",
)
def inspect(
    paths: tuple[str, ...],
    as_json: bool,
    strict: bool,
    metadata_only: bool,
    top: int,
    compare_ornl: bool,
    progress: bool | None,
) -> None:
    """Check ORNL CBED files and summarise them.

    PATHS are files or directories (searched for batch_*.h5). Prints files, samples
    per split, samples and materials per space group and crystal system, attribute
    ranges, and every problem found, in two lists: pattern problems (the stack is
    missing, of the wrong shape or dtype, non-finite or unreadable, or the file does
    not open) and metadata problems (an attribute is missing or invalid: the sample
    is unlabelled, still usable by predict and extract).
    """
    from cbedfeat.data import CBEDDataError, find_h5_files
    from cbedfeat.data.summary import summarize

    files = find_h5_files(paths)
    if not files:
        raise click.UsageError(f"no batch_*.h5 files found in {', '.join(paths)}")
    if progress is None and len(files) < 4:
        progress = False  # a bar for a handful of files is only noise
    try:
        summary = summarize(files, strict=strict, load_stack=not metadata_only, progress=progress)
    except CBEDDataError as err:
        if as_json:
            click.echo(_json_error(err))
        click.echo(f"error: {err}", err=True)
        sys.exit(EXIT_CODES["metadata" if err.to_problem().about_metadata else "pattern"])
    expected = None
    if compare_ornl:
        from cbedfeat.data.schema import expected_split_counts

        expected = expected_split_counts()
    click.echo(
        summary.to_json(expected=expected)
        if as_json
        else summary.format_text(top=top, expected=expected)
    )
    sys.exit(EXIT_CODES[summary.found])


def _json_error(err) -> str:
    import json

    return json.dumps({"error": str(err), "problems": [err.to_problem().to_dict()]}, indent=2)
