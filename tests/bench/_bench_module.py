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


def tiny_kinematic_set(directory: Path) -> tuple[Path, Path]:
    """Simulate 16 materials of two groups (128 px, kinematic) and extract them.

    Returns
    -------
    data : Path
        The HDF5 directory (``directory / "data"``).
    table : Path
        Its feature table (``directory / "data.parquet"``).
    """
    from cbedfeat.extraction.extract import extract
    from cbedfeat.simulate.generate import generate_dataset
    from cbedfeat.simulate.plan import SimulationConfig

    config = SimulationConfig(
        materials=16,
        energies=1,
        seed=4,
        top_classes=2,
        min_per_class=8,
        split=(0.5, 0.25, 0.25),
        samples_per_file=8,
        shape=(128, 128),
    )
    data = directory / "data"
    generate_dataset(data, config=config, workers=1, progress=False)
    table = directory / "data.parquet"
    extract(data, table, workers=1, device="cpu", progress=False)
    return data, table
