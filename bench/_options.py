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
