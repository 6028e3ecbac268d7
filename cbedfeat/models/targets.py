"""Regression targets of the lattice, in a scale-aware form with exact inverses.

The multi-task models predict the unit cell beside the space group. Lengths span a
factor of several (about 2 to 10 A in the ORNL data) and errors on them are relative,
so lengths and the cell volume are regressed as natural logarithms; angles are
regressed as cosines, which are smooth, bounded in [-1, 1] and put the common 90
degrees at 0 (so a right angle is an easy, exact target).

Cell volume of a general (triclinic) cell, International Tables for Crystallography
Vol. B (2008), Section 1.1.2::

    V = a b c sqrt(1 - cos^2 alpha - cos^2 beta - cos^2 gamma
                   + 2 cos alpha cos beta cos gamma)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from cbedfeat.data.labels import crystal_system_of

#: Physical lattice columns as the feature table stores them (lengths in A, angles in degrees).
LATTICE_COLUMNS: tuple[str, ...] = ("a", "b", "c", "alpha", "beta", "gamma")
#: Physical quantities predicted by the multi-task models (volume in A^3).
PHYSICAL_COLUMNS: tuple[str, ...] = (*LATTICE_COLUMNS, "volume")
#: The transformed regression targets, column for column with :data:`PHYSICAL_COLUMNS`.
TARGET_NAMES: tuple[str, ...] = (
    "log_a",
    "log_b",
    "log_c",
    "cos_alpha",
    "cos_beta",
    "cos_gamma",
    "log_volume",
)
UNITS: Mapping[str, str] = {
    "a": "A",
    "b": "A",
    "c": "A",
    "alpha": "deg",
    "beta": "deg",
    "gamma": "deg",
    "volume": "A^3",
}


def cell_volume(a, b, c, alpha, beta, gamma) -> np.ndarray:
    """Volume of the unit cell (ITA Vol. B, 1.1.2).

    Parameters
    ----------
    a, b, c : (n,) array_like
        Lattice constants in angstrom.
    alpha, beta, gamma : (n,) array_like
        Lattice angles in degrees.

    Returns
    -------
    (n,) ndarray
        Volume in cubic angstrom; NaN where the angles do not form a cell.
    """
    ca, cb, cg = (np.cos(np.radians(np.asarray(x, dtype=float))) for x in (alpha, beta, gamma))
    radicand = 1.0 - ca**2 - cb**2 - cg**2 + 2.0 * ca * cb * cg
    with np.errstate(invalid="ignore"):
        root = np.sqrt(np.where(radicand > 0, radicand, np.nan))
    return np.asarray(a, float) * np.asarray(b, float) * np.asarray(c, float) * root


def _lattice_array(lattice) -> np.ndarray:
    if isinstance(lattice, pd.DataFrame):
        missing = [c for c in LATTICE_COLUMNS if c not in lattice.columns]
        if missing:
            raise ValueError(f"lattice table lacks columns {missing}")
        return lattice.loc[:, list(LATTICE_COLUMNS)].to_numpy(dtype=float)
    arr = np.asarray(lattice, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != 6:
        raise ValueError(f"lattice must be (n, 6) [a, b, c, alpha, beta, gamma], got {arr.shape}")
    return arr


def to_targets(lattice) -> np.ndarray:
    """Physical lattice -> regression targets.

    Parameters
    ----------
    lattice : DataFrame with columns a, b, c, alpha, beta, gamma, or (n, 6) array_like
        Lengths in angstrom, angles in degrees.

    Returns
    -------
    (n, 7) ndarray
        Columns :data:`TARGET_NAMES`: log lengths, cosines of the angles, log volume.
    """
    arr = _lattice_array(lattice)
    lengths, angles = arr[:, :3], arr[:, 3:]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_len = np.log(np.where(lengths > 0, lengths, np.nan))
        vol = cell_volume(*arr.T)
        log_vol = np.log(vol)
    return np.column_stack([log_len, np.cos(np.radians(angles)), log_vol])


def from_targets(z) -> pd.DataFrame:
    """Regression targets -> physical lattice (the exact inverse of :func:`to_targets`).

    Parameters
    ----------
    z : (n, 7) array_like
        Columns :data:`TARGET_NAMES`. Cosines outside [-1, 1] (possible in predictions)
        are clipped before the arccosine.

    Returns
    -------
    DataFrame
        Columns :data:`PHYSICAL_COLUMNS` in angstrom, degrees and cubic angstrom.
    """
    z = np.asarray(z, dtype=float)
    if z.ndim != 2 or z.shape[1] != len(TARGET_NAMES):
        raise ValueError(f"targets must be (n, {len(TARGET_NAMES)}), got {z.shape}")
    lengths = np.exp(z[:, :3])
    angles = np.degrees(np.arccos(np.clip(z[:, 3:6], -1.0, 1.0)))
    volume = np.exp(z[:, 6])
    return pd.DataFrame(np.column_stack([lengths, angles, volume]), columns=list(PHYSICAL_COLUMNS))


def regression_errors(true, pred, crystal_system=None) -> dict:
    """Mean absolute errors of lattice predictions, in physical units.

    Parameters
    ----------
    true : DataFrame
        Physical columns a, b, c, alpha, beta, gamma (``volume`` is computed when absent).
    pred : DataFrame
        Predicted columns :data:`PHYSICAL_COLUMNS` (as from ``predict_targets``).
    crystal_system : (n,) array_like of str, optional
        True crystal system of each row; adds the MAE per crystal system.

    Returns
    -------
    dict
        ``{"mae": {col: float}, "units": {...}, "n": int}`` plus, with ``crystal_system``,
        ``"mae_by_crystal_system": {system: {"n": int, col: float}}``. Rows where the true
        value is not finite are left out of that column's mean.
    """
    true = pd.DataFrame(true).reset_index(drop=True).copy()
    pred = pd.DataFrame(pred).reset_index(drop=True)
    if "volume" not in true.columns:
        true["volume"] = cell_volume(*(true[c].to_numpy(float) for c in LATTICE_COLUMNS))
    if len(true) != len(pred):
        raise ValueError(f"true has {len(true)} rows, pred has {len(pred)}")
    cols = [c for c in PHYSICAL_COLUMNS if c in pred.columns]
    err = pred[cols].to_numpy(float) - true[cols].to_numpy(float)

    def _mae(rows: np.ndarray) -> dict[str, float]:
        out = {}
        for j, col in enumerate(cols):
            e = np.abs(err[rows, j])
            e = e[np.isfinite(e)]
            out[col] = float(e.mean()) if e.size else float("nan")
        return out

    report = {
        "n": int(len(true)),
        "mae": _mae(np.arange(len(true))),
        "units": {c: UNITS[c] for c in cols},
    }
    if crystal_system is not None:
        cs = np.asarray(crystal_system).astype(str)
        if cs.shape[0] != len(true):
            raise ValueError("crystal_system must have one entry per row")
        report["mae_by_crystal_system"] = {
            s: {"n": int((cs == s).sum()), **_mae(np.flatnonzero(cs == s))} for s in sorted(set(cs))
        }
    return report


def table_regression_errors(rows: pd.DataFrame, pred: pd.DataFrame) -> dict:
    """:func:`regression_errors` of lattice predictions for rows of a feature table.

    Parameters
    ----------
    rows : DataFrame
        Feature-table rows with the lattice columns and ``space_group`` (the true
        crystal system follows from it).
    pred : DataFrame
        Predictions for the same rows (``predict_targets``).
    """

    systems = [crystal_system_of(int(n)) for n in rows["space_group"]]
    return regression_errors(rows.loc[:, list(LATTICE_COLUMNS)], pred, crystal_system=systems)


def predicts_lattice(model) -> bool:
    """Whether a fitted model has lattice predictions (``predict_targets``)."""
    return bool(getattr(model, "predicts_lattice", False))
