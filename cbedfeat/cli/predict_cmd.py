"""``cbedfeat predict``: model bundle + HDF5 files or arrays of stacks -> predictions CSV."""

from __future__ import annotations

import click


@click.command("predict")
@click.argument("model", type=click.Path(exists=True, file_okay=False))
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "--out", "-o", required=True, type=click.Path(dir_okay=False), help="Predictions CSV to write."
)
@click.option(
    "--top-k",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Space groups (with probabilities) per sample.",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Where features are computed.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="Stacks per feature batch.",
)
@click.option(
    "--coverage",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="Write each sample's conformal set of space groups at this nominal coverage, "
    "e.g. 0.9 (needs a bundle trained with --calibration-fraction).",
)
@click.option(
    "--mondrian",
    is_flag=True,
    help="Class-conditional conformal sets (coverage per frequent class and for the rare "
    "classes together).",
)
@click.option(
    "--combine-materials",
    is_flag=True,
    help="One prediction per material: the sum of its stacks' calibrated log-probabilities; "
    "with --coverage, its set comes from the bundle's material-level conformal scores.",
)
@click.option("--json", "as_json", is_flag=True, help="Write OUT as JSON lines instead of CSV.")
def predict(
    model, inputs, out, top_k, device, batch_size, coverage, mondrian, combine_materials, as_json
):
    """Predict the space group of every stack in INPUTS.

    INPUTS are ORNL-layout HDF5 files and directories (batch_*.h5), .npy files and
    HDF5 datasets named FILE.h5:/path/to/dataset, each holding one stack (3, H, W) or
    many (N, 3, H, W) in the ORNL geometry (0.01 1/A per pixel, pattern centred);
    row i of an array is named row_<i>.

    Only cbed_stack is needed. Features are computed with the model's own feature
    config, from the pixels alone: no attribute (the beam energy included) is used or
    assumed. One CSV row per sample: file, group, material, true_space_group (the
    stored label where it is valid, else empty), pred_1..k, prob_1..k (calibrated
    when the bundle holds a calibration), the symbol, crystal system, Laue class and
    point group of each predicted group, the kinematic-equivalence class of pred_1,
    and with --coverage the conformal set and whether it lies inside one
    equivalence class (ambiguous by physics). Samples whose
    pattern is unusable are skipped and listed in OUT's stem + '.skipped.csv';
    missing or invalid attributes of predicted samples are listed in
    OUT's stem + '.metadata.csv'.
    """
    from cbedfeat.features.centring import ADVICE
    from cbedfeat.models.bundle import BundleError, load_bundle
    from cbedfeat.models.calibration import bundle_calibration
    from cbedfeat.workflows.predict import (
        combine_by_material,
        predict_files,
        write_predictions,
    )

    if mondrian and coverage is None:
        raise click.UsageError("--mondrian needs --coverage")
    try:
        bundle = load_bundle(model)
        result = predict_files(
            bundle,
            inputs,
            top_k=top_k,
            device=device,
            batch_size=batch_size,
            coverage=coverage,
            mondrian=mondrian,
        )
    except FileNotFoundError as exc:
        raise click.BadParameter(str(exc), param_hint="INPUTS") from None
    except (BundleError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    n_samples, n_unlabelled = len(result.rows), result.n_unlabelled
    off_centre = result.off_centre
    if combine_materials:
        result = combine_by_material(
            result, calibration=bundle_calibration(bundle), coverage=coverage, mondrian=mondrian
        )
    path, skipped, metadata = write_predictions(result, out, as_json=as_json)
    what = f", combined into {len(result.rows)} materials" if combine_materials else ""
    click.echo(
        f"{n_samples} samples predicted ({n_unlabelled} without a valid stored label){what}: {path}"
    )
    if metadata is not None:
        click.echo(
            f"{len(result.metadata_problems)} metadata problems of predicted samples: {metadata}"
        )
    if skipped is not None:
        click.echo(f"{len(result.problems)} samples or files skipped: {skipped}")
    if off_centre:
        first = off_centre[0]
        click.echo(
            f"WARNING: {len(off_centre)} files with patterns off the image centre, e.g. "
            f"{first['file']} [{first['group']}] by {first['offset_px']} px: {ADVICE}",
            err=True,
        )
