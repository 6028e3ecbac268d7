"""``cbedfeat evaluate``: model bundle + feature table -> report directory."""

from __future__ import annotations

import click


@click.command("evaluate")
@click.argument("model", type=click.Path(exists=True, file_okay=False))
@click.argument("features", type=click.Path(exists=True))
@click.option("--out", "-o", required=True, type=click.Path(), help="Report directory to write.")
@click.option(
    "--split",
    default="test",
    show_default=True,
    help="Rows of FEATURES to evaluate ('all' for every row).",
)
@click.option(
    "--top-k",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="k of the headline top-k accuracy.",
)
@click.option(
    "--rare-threshold",
    type=click.IntRange(min=1),
    default=None,
    help="Classes with fewer training materials are 'rare' [default: the training setting].",
)
@click.option(
    "--coverage",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.9,
    show_default=True,
    help="Nominal coverage of the conformal sets evaluated "
    "(bundles trained with --calibration-fraction).",
)
@click.option("--mondrian", is_flag=True, help="Evaluate class-conditional conformal sets.")
def evaluate(model, features, out, split, top_k, rare_threshold, coverage, mondrian):
    """Evaluate the model bundle MODEL on FEATURES; write metrics.json, plots and report.html to OUT."""
    from cbedfeat.models.bundle import BundleError
    from cbedfeat.reports.evaluation import run_evaluation

    try:
        page, metrics = run_evaluation(
            model,
            features,
            out,
            split=None if split == "all" else split,
            rare_threshold=rare_threshold,
            top_k=top_k,
            coverage=coverage,
            mondrian=mondrian,
        )
    except (BundleError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if metrics.get("n_unlabelled_left_out"):
        click.echo(
            f"left out {metrics['n_unlabelled_left_out']} unlabelled rows "
            "(no valid label, material or lattice)"
        )
    click.echo(
        f"{metrics['n_samples']} samples of split {split}: top-1 {metrics['top1_accuracy']:.3f}  "
        f"top-{top_k} {metrics[f'top{top_k}_accuracy']:.3f}  "
        f"balanced accuracy {metrics['balanced_accuracy']:.3f}  macro-F1 {metrics['macro_f1']:.3f}  "
        f"crystal system {metrics['crystal_system_accuracy']:.3f}"
    )
    ceiling, ratio = metrics["kinematic_ceiling"], metrics["top1_over_ceiling"]
    click.echo(
        f"kinematic ceiling {ceiling:.3f} (best guesses from the {metrics['kinematic_ceiling_counts']})  "
        f"top-1 / ceiling {'n/a' if ratio is None else f'{ratio:.3f}'}  "
        f"up to equivalence {metrics['equivalence_accuracy']:.3f}"
    )
    click.echo(
        "wrong top-1: "
        + "  ".join(f"{b['label']} {b['share']:.3f}" for b in metrics["error_bins"].values())
    )
    if metrics["unseen"]["classes"]:
        click.echo(
            f"{metrics['unseen']['n_samples']} samples of space groups the model never saw "
            f"(counted as errors): {metrics['unseen']['classes']}"
        )
    if "regression" in metrics:
        reg = metrics["regression"]
        click.echo(
            "lattice MAE: "
            + "  ".join(f"{k} {v:.3g} {reg['units'][k]}" for k, v in reg["mae"].items())
        )
    cal = metrics["calibration"]
    for key in ("before", "after"):
        if cal.get(key) and cal[key].get("log_loss") is not None:
            click.echo(
                f"{'calibrated' if key == 'after' else 'model'} probabilities: log loss "
                f"{cal[key]['log_loss']:.3f}  Brier {cal[key]['brier']:.3f}  ECE {cal[key]['ece']:.3f}"
            )
    conf = metrics.get("conformal")
    if conf:
        click.echo(
            f"conformal sets at {conf['nominal']:.0%}: coverage {conf['coverage']:.3f}  "
            f"rare {'n/a' if conf['rare']['coverage'] is None else format(conf['rare']['coverage'], '.3f')}  "
            f"mean size {conf['mean_set_size']:.2f}"
        )
    mat = metrics["per_material"]
    mat_conf = mat.get("conformal")
    mat_sets = (
        f"; sets at {mat_conf['nominal']:.0%}: coverage {mat_conf['coverage']:.3f}  "
        f"mean size {mat_conf['mean_set_size']:.2f}"
        if mat_conf
        else ""
    )
    click.echo(
        f"per material ({mat['n_materials']}): top-1 {mat['material_top1_accuracy']:.3f} "
        f"(single stacks {mat['stack_top1_accuracy']:.3f}){mat_sets}"
    )
    click.echo(f"report: {page}")
