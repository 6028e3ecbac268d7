"""The ``cbedfeat`` command line: a thin click group.

Each sub-command lives in its own module of this package and only parses arguments
and calls the library. Heavy imports (NumPy, h5py, XGBoost, torch) happen inside the
command functions, so ``cbedfeat --version`` stays fast (a test keeps it so).
"""

from __future__ import annotations

import importlib
import logging

import click

from cbedfeat._version import __version__

# (module, attribute) of every sub-command, in the order ``--help`` lists them.
_COMMANDS: list[tuple[str, str]] = [
    ("cbedfeat.cli.inspect_cmd", "inspect"),
    ("cbedfeat.cli.extract_cmd", "extract"),
    ("cbedfeat.cli.simulate_cmd", "simulate"),
    ("cbedfeat.cli.train_cmd", "train"),
    ("cbedfeat.cli.evaluate_cmd", "evaluate"),
    ("cbedfeat.cli.predict_cmd", "predict"),
    ("cbedfeat.cli.eda_cmd", "eda"),
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cbedfeat")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Space-group classification from CBED patterns with physics-aware features."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


for _module, _attr in _COMMANDS:
    main.add_command(getattr(importlib.import_module(_module), _attr))
