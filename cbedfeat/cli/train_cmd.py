"""``cbedfeat train``: feature table -> model bundle."""

from __future__ import annotations

import json

import click

from cbedfeat.data.splits import DEFAULT_HOLDOUT_FRACTION
from cbedfeat.workflows.train import TRAINERS


def _parse_params(values: tuple[str, ...]) -> dict:
    params = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--param")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw  # a bare word stays a string
    return params


@click.command("train")
@click.argument("features", type=click.Path(exists=True))
@click.option("--out", "-o", required=True, type=click.Path(), help="Model bundle directory to write.")
@click.option("--model", type=click.Choice([*TRAINERS, "cnn"]), default="xgb", show_default=True,
              help="Estimator (cnn: the CNN baseline on the stacks that FEATURES, a feature "
                   "table or an HDF5 directory, points to; --param epochs=N, batch_size=N ...).")
@click.option("--weighting", type=click.Choice(["none", "balanced", "sqrt", "effective"]),
              default="balanced", show_default=True, help="Cost-sensitive class weighting.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where XGBoost trains.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every random choice.")
@click.option("--n-estimators", type=click.IntRange(min=1), default=None,
              help="Boosting rounds / ensemble members [default: the estimator's].")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Extra estimator parameter (JSON value), repeatable, e.g. --param max_depth=4.")
@click.option("--holdout-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=DEFAULT_HOLDOUT_FRACTION, show_default=True,
              help="Share of training materials held out for validation when FEATURES has no dev rows.")
@click.option("--rare-threshold", type=click.IntRange(min=1), default=None,
              help="Classes with fewer training materials are 'rare' in the metrics [default: 10].")
@click.option("--calibration-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=None,
              help="Hold out this share of the training materials (never fitted on) to fit a "
                   "temperature and conformal scores, stored in the bundle (predict --coverage).")
def train(features, out, model, weighting, device, seed, n_estimators, params, holdout_fraction,
          rare_threshold, calibration_fraction):
    """Train a classifier on the 'train' rows of FEATURES and save a bundle to OUT.

    Validation runs on the 'dev' rows, or on a material-grouped hold-out of the
    training rows when FEATURES has none. Bundles of the imbalanced-learn ensembles,
    hierarchical, logit, gated, gated-logit, blend, gated-blend-logit and multitask
    contain a joblib pickle: share and load them only between trusted parties (xgb and
    cnn bundles hold no pickle).
    """
    from cbedfeat.models.bundle import BundleError
    from cbedfeat.workflows.train import train_model

    extra = _parse_params(params)
    if n_estimators is not None:
        extra["n_estimators"] = n_estimators
    if model == "cnn":
        if calibration_fraction is not None:
            raise click.UsageError("--calibration-fraction applies to the feature models, not cnn")
        _train_cnn(features, out, weighting=weighting, device=device, seed=seed, params=extra)
        return
    try:
        result = train_model(features, out, model=model, weighting=weighting, device=device, seed=seed,
                             params=extra, holdout_fraction=holdout_fraction, rare_threshold=rare_threshold,
                             calibration_fraction=calibration_fraction)
    except (BundleError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    val = result.validation
    if result.training.get("n_unlabelled_left_out"):
        click.echo(f"left out {result.training['n_unlabelled_left_out']} unlabelled rows "
                   "(no valid label, material or lattice)")
    click.echo(f"trained {model} ({weighting} weighting) on {result.training['n_train_samples']} samples "
               f"in {result.fit_seconds:.1f} s, device {result.training.get('device_used') or 'cpu'}")
    if "top1_accuracy" in val:
        click.echo(f"validation ({val['source']}, {val['n_samples']} samples): "
                   f"top-1 {val['top1_accuracy']:.3f}  balanced accuracy {val['balanced_accuracy']:.3f}  "
                   f"macro-F1 {val['macro_f1']:.3f}  crystal system {val['crystal_system_accuracy']:.3f}")
    if "regression" in val:
        mae = val["regression"]["mae"]
        click.echo("validation lattice MAE: " + "  ".join(
            f"{k} {v:.3g} {val['regression']['units'][k]}" for k, v in mae.items()))
    click.echo(f"model bundle: {result.bundle_path}")


def _train_cnn(features, out, *, weighting, device, seed, params):
    from cbedfeat.models.bundle import BundleError

    if "n_estimators" in params:
        raise click.UsageError("--n-estimators does not apply to cnn; use --param epochs=N")
    try:
        from cbedfeat.models.cnn_train import train_cnn
    except ImportError as exc:
        raise click.ClickException(
            f"the cnn model needs torch (pip install 'cbedfeat[cnn]'): {exc}") from None
    try:
        est = train_cnn(features, out, weighting=weighting, device=device, seed=seed, **params)
    except (BundleError, ValueError, OSError, TypeError) as exc:
        raise click.ClickException(str(exc)) from None
    info = est.training_info_
    click.echo(f"trained cnn ({weighting} weighting) on {info['n_train']} samples in "
               f"{info['fit_seconds']:.1f} s, device {info['device_used']}")
    val = info.get("validation", {})
    if "top1_accuracy" in val:
        click.echo(f"validation (dev, {info['n_dev']} samples): top-1 {val['top1_accuracy']:.3f}  "
                   f"balanced accuracy {val['balanced_accuracy']:.3f}  macro-F1 {val['macro_f1']:.3f}")
    click.echo(f"model bundle: {out}")
