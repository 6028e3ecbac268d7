"""Command-line options the model benchmarks share (fitting, bootstrap, quick runs)."""

from __future__ import annotations

import argparse


def add_fit_options(
    parser: argparse.ArgumentParser, *, quick_rounds: int, quick_resamples: int
) -> None:
    """``--rounds``, ``--param``, ``--n-jobs``, ``--resamples`` and ``--quick``."""
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help=f"boosting rounds, n_estimators (default: the estimator's; --quick: {quick_rounds})",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra estimator parameter (JSON value), repeatable",
    )
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=1,
        help="threads of the model (its n_jobs; default 1, 0: leave the model's own)",
    )
    parser.add_argument(
        "--resamples",
        type=int,
        default=None,
        help=f"bootstrap resamples (default 1000; --quick: {quick_resamples})",
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer rounds and resamples (smoke run)"
    )


def parse_params(items: list[str]) -> dict:
    """``--param KEY=VALUE`` items as a dict; values parsed as JSON where they are."""
    import json

    params = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--param expects KEY=VALUE, got {item!r}")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


def fit_settings(
    args: argparse.Namespace, *, quick_rounds: int, quick_resamples: int
) -> tuple[dict, int]:
    """Estimator parameters and bootstrap resamples from :func:`add_fit_options`'s options.

    ``--rounds`` (or, with ``--quick``, ``quick_rounds``) sets ``n_estimators``;
    ``--n-jobs`` sets ``n_jobs`` unless a ``--param`` did.
    """
    from _bootstrap import N_RESAMPLES

    params = parse_params(args.param)
    rounds = args.rounds or (quick_rounds if args.quick else None)
    if rounds:
        params["n_estimators"] = rounds
    if args.n_jobs:
        params.setdefault("n_jobs", args.n_jobs)
    resamples = args.resamples or (quick_resamples if args.quick else N_RESAMPLES)
    return params, resamples
