"""``cbedfeat predict``: model bundle + HDF5 files -> predictions CSV."""

from __future__ import annotations

import click


@click.command("predict")
@click.argument("model", type=click.Path(exists=True, file_okay=False))
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="Predictions CSV to write.")
@click.option("--top-k", type=click.IntRange(min=1), default=5, show_default=True,
              help="Space groups (with probabilities) per sample.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where features are computed.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True,
              help="Stacks per feature batch.")
def predict(model, inputs, out, top_k, device, batch_size):
    """Predict the space group of every sample in INPUT files and directories (batch_*.h5).

    Features are computed with the model's own feature config. One CSV row per sample:
    file, group, material, pred_1..k, prob_1..k. Unreadable samples are skipped and
    listed in OUT's stem + '.skipped.csv'.
    """
    from cbedfeat.models.bundle import BundleError, load_bundle
    from cbedfeat.predict import predict_files, write_predictions

    try:
        bundle = load_bundle(model)
        result = predict_files(bundle, inputs, top_k=top_k, device=device, batch_size=batch_size)
    except BundleError as exc:
        raise click.ClickException(str(exc)) from None
    path, skipped = write_predictions(result, out)
    click.echo(f"{len(result.rows)} samples predicted: {path}")
    if skipped is not None:
        click.echo(f"{len(result.problems)} samples or files skipped: {skipped}")
