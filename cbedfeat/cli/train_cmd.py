"""``cbedfeat train``: feature table -> model bundle."""

from __future__ import annotations

import json

import click

from cbedfeat.data.splits import DEFAULT_HOLDOUT_FRACTION
from cbedfeat.models.registry import (
    DEFAULT_MODEL,
    DEFAULT_REASON,
    DEFAULT_WEIGHTING,
    MODELS,
    STACK_INPUTS,
    WEIGHTING_SCHEMES,
)


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


def _models_epilog() -> str:
    lines = ["\b", "Models (measured standing on the bench, bench/results/):"]
    for spec in MODELS.values():
        lines.append(f"  {spec.name:<18} {spec.description}")
        lines.append(f"  {'':<18} {spec.standing_text}")
    return "\n".join(lines)


@click.command("train", epilog=_models_epilog())
@click.argument("features", type=click.Path(exists=True))
@click.option(
    "--out", "-o", required=True, type=click.Path(), help="Model bundle directory to write."
)
@click.option(
    "--model",
    type=click.Choice(list(MODELS)),
    default=None,
    help=f"Estimator (listed below). Default {DEFAULT_MODEL} with --weighting "
    f"{DEFAULT_WEIGHTING}: {DEFAULT_REASON}; with --scheduler, xgb. cnn reads the stacks that FEATURES, "
    "a feature table or an HDF5 directory, points to (--param epochs=N, "
    "batch_size=N ...); features-cnn reads a feature table and the stacks it points to "
    "(--param 'cnn_params={\"width\": 16}').",
)
@click.option(
    "--weighting",
    type=click.Choice(list(WEIGHTING_SCHEMES)),
    default=DEFAULT_WEIGHTING,
    show_default=True,
    help="Cost-sensitive class weighting.",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Where XGBoost (or the CNN) trains.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every random choice.")
@click.option(
    "--n-estimators",
    type=click.IntRange(min=1),
    default=None,
    help="Boosting rounds / ensemble members [default: the estimator's].",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Extra estimator parameter (JSON value), repeatable, e.g. --param max_depth=4.",
)
@click.option(
    "--holdout-fraction",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=DEFAULT_HOLDOUT_FRACTION,
    show_default=True,
    help="Share of training materials held out for validation when FEATURES has no dev rows.",
)
@click.option(
    "--rare-threshold",
    type=click.IntRange(min=1),
    default=None,
    help="Classes with fewer training materials are 'rare' in the metrics [default: 10].",
)
@click.option(
    "--calibration-fraction",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="Hold out this share of the training materials (never fitted on) to fit a "
    "temperature and conformal scores, stored in the bundle (predict --coverage).",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDR|local",
    help="Train XGBoost on Dask (xgboost.dask): 'local' (a LocalCluster) or a scheduler "
    "address. FEATURES may then be the Parquet parts directory extract writes; the "
    "table is never gathered on one process. Models: xgb (the default here), gated, "
    "logit, gated-logit (those made of XGBoost stages only).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Workers of --scheduler local [default: Dask's].",
)
def train(
    features,
    out,
    model,
    weighting,
    device,
    seed,
    n_estimators,
    params,
    holdout_fraction,
    rare_threshold,
    calibration_fraction,
    scheduler,
    workers,
):
    """Train a classifier on the 'train' rows of FEATURES and save a bundle to OUT.

    Validation runs on the 'dev' rows, or on a material-grouped hold-out of the
    training rows when FEATURES has none. Every model goes through the same training
    path and bundle writer; a bundle holds no pickle (XGBoost UBJSON, JSON, NumPy
    arrays, skops files and torch weights only) and loading it runs no code from it.
    """
    from cbedfeat.models.bundle import BundleError
    from cbedfeat.workflows.train import train_model

    extra = _parse_params(params)
    if model is None:
        # The default model's extra trees do not train on Dask: there, the plain booster.
        model = "xgb" if scheduler is not None else DEFAULT_MODEL
    if n_estimators is not None:
        if MODELS[model].inputs in STACK_INPUTS:
            raise click.UsageError(
                f"--n-estimators does not apply to {model}; use --param epochs=N "
                "(features-cnn: --param 'feature_params={\"n_estimators\": N}')"
            )
        extra["n_estimators"] = n_estimators
    if MODELS[model].inputs in STACK_INPUTS and calibration_fraction is not None:
        raise click.UsageError(f"--calibration-fraction applies to the feature models, not {model}")
    if scheduler is not None:
        from cbedfeat.workflows.train_dask import DASK_MODELS

        if model not in DASK_MODELS:
            raise click.UsageError(f"--scheduler trains {', '.join(DASK_MODELS)}, not {model}")
        if calibration_fraction is not None:
            raise click.UsageError("--calibration-fraction does not apply with --scheduler")
    try:
        if scheduler is not None:
            from cbedfeat.workflows.train_dask import train_model_dask

            result = train_model_dask(
                features,
                out,
                scheduler=scheduler,
                model=model,
                weighting=weighting,
                device=device,
                seed=seed,
                params=extra,
                holdout_fraction=holdout_fraction,
                rare_threshold=rare_threshold,
                workers=workers,
            )
        else:
            result = train_model(
                features,
                out,
                model=model,
                weighting=weighting,
                device=device,
                seed=seed,
                params=extra,
                holdout_fraction=holdout_fraction,
                rare_threshold=rare_threshold,
                calibration_fraction=calibration_fraction,
            )
    except ImportError as exc:
        raise click.ClickException(str(exc)) from None
    except (BundleError, ValueError, OSError, TypeError) as exc:
        raise click.ClickException(str(exc)) from None
    val = result.validation
    if result.training.get("n_unlabelled_left_out"):
        click.echo(
            f"left out {result.training['n_unlabelled_left_out']} unlabelled rows "
            "(no valid label, material or lattice)"
        )
    click.echo(
        f"trained {model} ({weighting} weighting) on {result.training['n_train_samples']} samples "
        f"in {result.fit_seconds:.1f} s, device {result.training.get('device_used') or 'cpu'}"
    )
    if "top1_accuracy" in val:
        click.echo(
            f"validation ({val['source']}, {val['n_samples']} samples): "
            f"top-1 {val['top1_accuracy']:.3f}  balanced accuracy {val['balanced_accuracy']:.3f}  "
            f"macro-F1 {val['macro_f1']:.3f}  crystal system {val['crystal_system_accuracy']:.3f}"
        )
    if "regression" in val:
        mae = val["regression"]["mae"]
        click.echo(
            "validation lattice MAE: "
            + "  ".join(f"{k} {v:.3g} {val['regression']['units'][k]}" for k, v in mae.items())
        )
    click.echo(f"model bundle: {result.bundle_path}")
