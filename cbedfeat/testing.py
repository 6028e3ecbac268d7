"""Synthetic feature tables for tests and for developing benchmarks without real data.

:func:`make_feature_table` draws a table with the layout of :mod:`cbedfeat.data.table`
(identity columns, targets, then feature columns) whose features carry the label in a
controlled way: a crystal-system centroid plus a space-group centroid plus a
per-material offset plus per-sample noise, and a few pure-noise columns. Class sizes
follow a power law like the ORNL training set (a few classes with hundreds of
materials, a long tail with one to three), and every material's samples share one
split, as real splits do. Its numbers say nothing about real CBED data.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cbedfeat._version import __version__
from cbedfeat.data.labels import CRYSTAL_SYSTEMS, crystal_system_of
from cbedfeat.data.table import (
    ID_COLUMNS,
    META_CBEDFEAT_VERSION,
    META_FEATURE_CONFIG,
    META_FEATURE_NAMES,
    META_FEATURE_VERSION,
    TARGET_COLUMNS,
    feature_columns,
)

SYNTHETIC_FEATURE_CONFIG: dict[str, Any] = {"synthetic": True}
SYNTHETIC_FEATURE_VERSION = "synthetic-1"


def make_feature_table(
    *,
    n_classes: int = 12,
    n_features: int = 16,
    n_noise_features: int = 4,
    max_materials: int = 30,
    tail_exponent: float = 1.3,
    samples_per_material: int = 4,
    split_fractions: tuple[float, float, float] = (0.6, 0.15, 0.25),
    class_separation: float = 1.5,
    seed: int = 0,
) -> pd.DataFrame:
    """A random, imbalanced feature table with informative features.

    Parameters
    ----------
    n_classes : int
        Number of space groups, drawn from 1..230 so that several crystal systems occur.
    n_features : int
        Informative feature columns ``f_000`` ...
    n_noise_features : int
        Pure-noise columns ``noise_000`` ... appended after them.
    max_materials : int
        Materials of the largest class; class ``r`` (0-based rank) gets
        ``max(1, round(max_materials * (r + 1) ** -tail_exponent))``.
    tail_exponent : float
    samples_per_material : int
        Rows per material (the beam energies 100, 110, ... keV).
    split_fractions : (3,) tuple of float
        Share of materials in train, dev and test. A class with one material keeps it
        in train; every class has at least one training material.
    class_separation : float
        Scale of the space-group centroids against unit sample noise.
    seed : int

    Returns
    -------
    DataFrame
        Columns: :data:`~cbedfeat.data.table.ID_COLUMNS`, :data:`~cbedfeat.data.table.TARGET_COLUMNS`,
        then the feature columns.
    """
    rng = np.random.default_rng(seed)
    groups = np.sort(rng.choice(np.arange(1, 231), size=n_classes, replace=False))
    ranks = rng.permutation(n_classes)
    n_materials = np.maximum(1, np.round(max_materials * (ranks + 1.0) ** -tail_exponent)).astype(
        int
    )
    system_centroids = rng.normal(0.0, 2.0, size=(len(CRYSTAL_SYSTEMS), n_features))
    rows: list[dict[str, Any]] = []
    features: list[np.ndarray] = []
    material_id = 0
    for sg, m in zip(groups, n_materials, strict=True):
        system = crystal_system_of(int(sg))
        centroid = system_centroids[CRYSTAL_SYSTEMS.index(system)] + rng.normal(
            0.0, class_separation, n_features
        )
        splits = rng.choice(["train", "dev", "test"], size=m, p=list(split_fractions))
        splits[0] = "train"
        for split in splits:
            offset = rng.normal(0.0, 0.5, n_features)
            lattice = rng.uniform(3.0, 9.0, 3)
            for j in range(samples_per_material):
                rows.append(
                    {
                        "file": f"batch_{split}_{material_id // 50}.h5",
                        "group": f"sample_{material_id}_{j}",
                        "material": f"mp-{1000 + material_id}",
                        "split": str(split),
                        "energy_keV": 100 + 10 * j,
                        "space_group": int(sg),
                        "crystal_system": system,
                        "a": lattice[0],
                        "b": lattice[1],
                        "c": lattice[2],
                        "alpha": 90.0,
                        "beta": 90.0,
                        "gamma": 90.0,
                    }
                )
                features.append(centroid + offset + rng.normal(0.0, 1.0, n_features))
            material_id += 1
    informative = np.asarray(features)
    noise = rng.normal(0.0, 1.0, size=(len(rows), n_noise_features))
    table = pd.DataFrame(rows, columns=list(ID_COLUMNS) + list(TARGET_COLUMNS))
    names = [f"f_{i:03d}" for i in range(n_features)] + [
        f"noise_{i:03d}" for i in range(n_noise_features)
    ]
    values = pd.DataFrame(np.hstack([informative, noise]).astype(np.float32), columns=names)
    return pd.concat([table, values], axis=1)


def write_feature_table(
    table: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    feature_names: list[str] | None = None,
    feature_config: dict[str, Any] | None = None,
    feature_version: str = SYNTHETIC_FEATURE_VERSION,
) -> Path:
    """Write ``table`` as Parquet with the schema metadata of :mod:`cbedfeat.data.table`.

    Parameters
    ----------
    table : DataFrame
    path : path
    feature_names : list of str, optional
        Defaults to every column after the identity and target columns.
    feature_config : dict, optional
        Defaults to :data:`SYNTHETIC_FEATURE_CONFIG`.
    feature_version : str

    Returns
    -------
    Path
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = feature_names if feature_names is not None else feature_columns(list(table.columns))
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    meta = dict(arrow.schema.metadata or {})
    meta.update(
        {
            META_FEATURE_NAMES: json.dumps(names).encode(),
            META_FEATURE_CONFIG: json.dumps(feature_config or SYNTHETIC_FEATURE_CONFIG).encode(),
            META_FEATURE_VERSION: json.dumps(feature_version).encode(),
            META_CBEDFEAT_VERSION: json.dumps(__version__).encode(),
        }
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    pq.write_table(arrow.replace_schema_metadata(meta), tmp)
    os.replace(tmp, out)
    return out
