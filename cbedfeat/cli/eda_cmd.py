"""``cbedfeat eda``: the exploratory analysis report."""

from __future__ import annotations

import click


@click.command("eda")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Report directory.")
@click.option(
    "--features",
    type=click.Path(exists=True, dir_okay=True),
    help="Feature table from `cbedfeat extract`.",
)
@click.option(
    "--max-samples",
    default=400,
    show_default=True,
    type=click.IntRange(min=1),
    help="Stacks read for the image parts (memory bound).",
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--progress/--no-progress", default=True, show_default=True)
def eda(inputs, out, features, max_samples, seed, progress):
    """Write an exploratory report (report.html, PNG figures, summary.json) of INPUTS."""
    from cbedfeat.eda import run_eda

    try:
        summary = run_eda(
            inputs, out, features=features, max_samples=max_samples, seed=seed, progress=progress
        )
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    n_bad = len(summary["problems"])
    click.echo(
        f"{summary['imbalance']['n_samples']} samples, {summary['imbalance']['n_classes']} space groups, "
        f"{n_bad} problem(s); report: {out}/report.html"
    )
