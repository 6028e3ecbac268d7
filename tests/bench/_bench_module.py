"""Import a bench script as a module, the way it runs as a script."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(name: str, monkeypatch):
    """``bench/{name}.py`` as a module; ``bench/`` goes on ``sys.path`` first, as when
    the script runs (it imports ``_tables``, ``_bootstrap`` and other scripts), and both
    are undone after the test."""
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module
