"""The feature table: column roles shared by extraction, models, evaluation and EDA.

A feature table (Parquet, written by :mod:`cbedfeat.extraction.extract`) has three kinds of
columns, always in this order:

1. identity columns (:data:`ID_COLUMNS`) that say where a row came from and how rows
   group (``material`` is the grouping key for every split);
2. label and target columns (:data:`TARGET_COLUMNS`): the space group, its crystal
   system and the lattice. These come from file attributes and give the label away,
   so they are targets, never classifier inputs;
3. feature columns: everything else, computed from the pattern alone.

Models must select inputs with :func:`feature_columns`, which refuses any column that
is not a pattern feature, so a label can never leak into the inputs by accident.

A row of an unlabelled sample (no attributes, invalid ones, a row of a ``.npy`` array)
has nulls in the identity and target columns it lacks. Training and evaluation use the
labelled rows only (:func:`labelled_rows`) and say how many they left out.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import Any

ID_COLUMNS: tuple[str, ...] = ("file", "group", "material", "split", "energy_keV")
TARGET_COLUMNS: tuple[str, ...] = (
    "space_group",
    "crystal_system",
    "a",
    "b",
    "c",
    "alpha",
    "beta",
    "gamma",
)
# Attributes of the files that describe the material or the simulation geometry and
# would give the label away; they must never appear as feature columns.
LEAKY_NAMES: frozenset[str] = frozenset(
    {
        "formula",
        "abc_angstrom",
        "angles_degree",
        "d_hkls_angstrom",
        "semi_angles_rad",
        "z_dirs",
        "y_dirs",
        "material",
        "space_group",
    }
)
# Columns a row needs to be trained or evaluated on: label, grouping key, targets, energy.
LABEL_COLUMNS: tuple[str, ...] = ("material", "energy_keV", *TARGET_COLUMNS)
# Integer columns (nullable in Parquet; pandas reads them as float when a null is present).
INTEGER_COLUMNS: tuple[str, ...] = ("energy_keV", "space_group")
NON_FEATURE_COLUMNS: frozenset[str] = (
    frozenset(ID_COLUMNS) | frozenset(TARGET_COLUMNS) | LEAKY_NAMES
)

# Parquet schema-metadata keys written by extraction (values are JSON strings).
META_FEATURE_NAMES = b"cbedfeat.feature_names"
META_FEATURE_CONFIG = b"cbedfeat.feature_config"
META_FEATURE_VERSION = b"cbedfeat.feature_version"
META_CBEDFEAT_VERSION = b"cbedfeat.version"


def feature_columns(columns: Sequence[str]) -> list[str]:
    """The feature columns of a table, in table order.

    Parameters
    ----------
    columns : sequence of str
        All column names of a feature table.

    Returns
    -------
    list of str
        Every column that is neither an identity, a label/target nor a leaky attribute.
    """
    return [c for c in columns if c not in NON_FEATURE_COLUMNS]


def check_no_leak(names: Sequence[str]) -> None:
    """Raise ``ValueError`` if any of ``names`` is a label, target or leaky attribute."""
    bad = sorted(set(names) & NON_FEATURE_COLUMNS)
    if bad:
        raise ValueError(f"label or target columns may not be used as features: {bad}")


logger = logging.getLogger(__name__)


def labelled_mask(table):
    """Which rows are labelled: every :data:`LABEL_COLUMNS` column the table has holds a value.

    Parameters
    ----------
    table : pandas.DataFrame
        A feature table.

    Returns
    -------
    (n_rows,) bool ndarray
    """
    columns = [c for c in LABEL_COLUMNS if c in table.columns]
    return table.loc[:, columns].notna().all(axis=1).to_numpy()


def labelled_rows(table, purpose: str = "training"):
    """The labelled rows of a table and how many were left out (logged when any).

    Parameters
    ----------
    table : pandas.DataFrame
    purpose : str
        What the rows are for, in the log message.

    Returns
    -------
    rows : pandas.DataFrame
        ``table`` itself when every row is labelled. Integer columns that pandas read
        as floats because of their nulls are integers again.
    n_left_out : int
    """
    mask = labelled_mask(table)
    n_left_out = int(mask.size - mask.sum())
    if not n_left_out:
        return table, 0
    logger.warning(
        "%s: left out %d of %d rows without a valid label, material or lattice "
        "(unlabelled samples)",
        purpose,
        n_left_out,
        mask.size,
    )
    rows = table[mask]
    ints = {c: "int64" for c in INTEGER_COLUMNS if c in rows.columns and rows[c].dtype.kind == "f"}
    return (rows.astype(ints) if ints else rows), n_left_out


_META_FIELDS = {
    "feature_names": META_FEATURE_NAMES,
    "feature_config": META_FEATURE_CONFIG,
    "feature_version": META_FEATURE_VERSION,
    "cbedfeat_version": META_CBEDFEAT_VERSION,
}


def read_feature_table(path, columns: Sequence[str] | None = None):
    """Read a feature table (one Parquet file or a directory of parts) and its metadata.

    Parameters
    ----------
    path : path-like
        ``FEATURES.parquet`` or a directory of parts written by ``cbedfeat extract``.
    columns : sequence of str, optional
        Read only these columns.

    Returns
    -------
    table : pandas.DataFrame
        Rows in file order, then sample order.
    metadata : dict
        ``feature_names`` (list of str), ``feature_config`` (dict),
        ``feature_version`` and ``cbedfeat_version``; a key is missing when the
        file does not carry it.
    """
    import json

    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=None if columns is None else list(columns))
    raw = table.schema.metadata or {}
    metadata = {name: json.loads(raw[key]) for name, key in _META_FIELDS.items() if key in raw}
    return table.to_pandas(), metadata


FINGERPRINT_COLUMNS = ("file", "group", "material", "space_group")


def read_table(path: str | os.PathLike[str]) -> tuple[Any, dict[str, Any]]:
    """A feature table and its metadata, checked for training and evaluation.

    :func:`cbedfeat.data.table.read_feature_table` plus the checks the models need: the
    identity and label columns are present and no feature is a label or target.

    Parameters
    ----------
    path : path
        Parquet file (or directory of Parquet parts) written by :mod:`cbedfeat.extraction.extract`.

    Returns
    -------
    table : DataFrame
    metadata : dict
        ``feature_names`` (list; from the schema metadata, else every feature column),
        ``feature_config`` (dict or None), ``feature_version``, ``cbedfeat_version``
        (None when the file does not carry them).
    """
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: no such feature table")
    table, raw = read_feature_table(path)
    meta = {
        key: raw.get(key)
        for key in ("feature_names", "feature_config", "feature_version", "cbedfeat_version")
    }
    if not meta["feature_names"]:
        meta["feature_names"] = feature_columns(list(table.columns))
    check_no_leak(meta["feature_names"])
    missing = [c for c in ("material", "split", "space_group") if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: not a feature table, columns {missing} missing")
    return table, meta


def data_fingerprint(table: Any) -> str:
    """sha256 of the rows' file names, groups, materials and labels, order-independent.

    File names enter without their directory, so the same data moved elsewhere keeps
    its fingerprint.
    """
    cols = [c for c in FINGERPRINT_COLUMNS if c in table.columns]
    frame = table.loc[:, cols].astype(str)
    if "file" in frame:
        frame["file"] = [PurePath(f).name for f in frame["file"]]
    lines = sorted("\t".join(row) for row in frame.itertuples(index=False, name=None))
    digest = hashlib.sha256("\t".join(cols).encode())
    for line in lines:
        digest.update(b"\n" + line.encode())
    return digest.hexdigest()
