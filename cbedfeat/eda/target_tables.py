"""Target-side statistics of a CBED data set: counts, imbalance, material properties.

Everything here works on the *metadata table*: one row per valid sample, built by one
streaming pass over the files that never reads a pattern (:func:`metadata_table`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from cbedfeat.data.labels import CRYSTAL_SYSTEMS, space_group_info

_ELEMENT = re.compile(r"[A-Z][a-z]?")


def cell_volume(abc: np.ndarray, angles_degree: np.ndarray) -> np.ndarray:
    """Volume of the unit cell from lattice constants and angles.

    Parameters
    ----------
    abc : (n, 3) ndarray
        Lattice constants a, b, c in Angstrom.
    angles_degree : (n, 3) ndarray
        Lattice angles alpha, beta, gamma in degrees.

    Returns
    -------
    (n,) ndarray
        V = abc * sqrt(1 - cos^2 a - cos^2 b - cos^2 g + 2 cos a cos b cos g), in A^3;
        NaN where the angles do not form a cell.
    """
    abc = np.asarray(abc, dtype=float).reshape(-1, 3)
    ca, cb, cg = np.cos(np.radians(np.asarray(angles_degree, dtype=float).reshape(-1, 3))).T
    arg = 1 - ca**2 - cb**2 - cg**2 + 2 * ca * cb * cg
    root = np.sqrt(np.where(arg > 0, arg, np.nan))
    return abc.prod(axis=1) * root


def n_elements(formula: str) -> int:
    """Number of distinct elements in an ORNL-style formula such as ``'Fe8 O14 F2'``."""
    return len(set(_ELEMENT.findall(formula)))


def metadata_table(samples: Iterable) -> pd.DataFrame:
    """One row per sample with identity, labels and material properties.

    Parameters
    ----------
    samples : iterable of cbedfeat.data.Sample
        Typically ``iter_samples(paths, load_stack=False, problems=...)``.

    Returns
    -------
    pandas.DataFrame
        Columns: file, group, split, material, space_group, crystal_system, laue_class,
        point_group, energy_keV, a, b, c, alpha, beta, gamma, volume, n_elements,
        semi_angle_0..2 (mrad), d_hkl_0..2 (A).
    """
    rows = []
    for sample in samples:
        m = sample.meta
        info = space_group_info(m.space_group)
        row = {
            "file": m.file,
            "group": m.group,
            "split": m.split,
            "material": m.material,
            "space_group": m.space_group,
            "crystal_system": info.crystal_system,
            "laue_class": info.laue_class,
            "point_group": info.point_group,
            "energy_keV": m.energy_keV,
            "n_elements": n_elements(m.formula),
        }
        row.update(zip(("a", "b", "c"), m.abc_angstrom.tolist(), strict=True))
        row.update(zip(("alpha", "beta", "gamma"), m.angles_degree.tolist(), strict=True))
        for k in range(3):
            row[f"semi_angle_{k}"] = 1e3 * float(m.semi_angles_rad[k])
            row[f"d_hkl_{k}"] = float(m.d_hkls_angstrom[k])
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df["volume"] = cell_volume(
        df[["a", "b", "c"]].to_numpy(), df[["alpha", "beta", "gamma"]].to_numpy()
    )
    return df


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of class counts (0 = perfectly balanced, -> 1 = one class).

    Parameters
    ----------
    counts : (K,) array of non-negative numbers
    """
    x = np.sort(np.asarray(counts, dtype=float))
    n = x.size
    if n == 0 or x.sum() == 0:
        return 0.0
    # Mean absolute difference form: G = sum_i (2 i - n - 1) x_(i) / (n sum x).
    i = np.arange(1, n + 1)
    return float(np.sum((2 * i - n - 1) * x) / (n * x.sum()))


def entropy_ratio(counts: np.ndarray) -> float:
    """Shannon entropy of the class distribution divided by log(K) (1 = balanced)."""
    c = np.asarray(counts, dtype=float)
    c = c[c > 0]
    if c.size <= 1:
        return 0.0 if c.size == 1 else float("nan")
    p = c / c.sum()
    return float(-(p * np.log(p)).sum() / np.log(c.size))


def classes_for_half(counts: np.ndarray) -> int:
    """Smallest number of classes that together hold at least half of the samples."""
    c = np.sort(np.asarray(counts, dtype=float))[::-1]
    if c.sum() == 0:
        return 0
    return int(np.searchsorted(np.cumsum(c), 0.5 * c.sum()) + 1)


def imbalance_summary(df: pd.DataFrame) -> dict:
    """Imbalance statistics of the space-group labels.

    Parameters
    ----------
    df : DataFrame
        The metadata table (:func:`metadata_table`).

    Returns
    -------
    dict
        n_samples, n_materials, n_classes, gini, entropy_ratio, classes_for_half,
        imbalance_ratio (largest / smallest class), classes_below (samples < 10/30/100),
        per-split presence: classes only in one split, classes in dev/test but not train.
    """
    counts = df["space_group"].value_counts()
    per_split = {s: set(g["space_group"]) for s, g in df.groupby("split")}
    train = per_split.get("train", set())
    presence = {}
    for split, classes in per_split.items():
        others = set().union(*(c for s, c in per_split.items() if s != split))
        presence[split] = {
            "n_classes": len(classes),
            "only_here": sorted(int(c) for c in classes - others),
            "missing_here": sorted(int(c) for c in others - classes),
        }
    unseen = sorted(
        int(c) for s, cl in per_split.items() if s in ("dev", "test") for c in cl - train
    )
    return {
        "n_samples": int(len(df)),
        "n_materials": int(df["material"].nunique()),
        "n_classes": int(counts.size),
        "gini": gini(counts.to_numpy()),
        "entropy_ratio": entropy_ratio(counts.to_numpy()),
        "classes_for_half": classes_for_half(counts.to_numpy()),
        "imbalance_ratio": float(counts.max() / counts.min()) if counts.size else float("nan"),
        "largest_class": {
            "space_group": int(counts.index[0]),
            "fraction": float(counts.iloc[0] / len(df)),
        }
        if counts.size
        else None,
        "classes_below": {str(t): int((counts < t).sum()) for t in (10, 30, 100)},
        "splits": presence,
        "eval_classes_not_in_train": sorted(set(unseen)),
    }


def count_tables(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Samples and materials per space group, crystal system, Laue class, point group, split.

    Returns
    -------
    dict of DataFrame
        ``space_group``: index space group, columns samples, materials, crystal_system,
        symbol, one column per split; ``crystal_system``, ``laue_class``,
        ``point_group``: samples per split (columns) and materials.
    """
    out = {}
    sg = df.groupby("space_group").agg(samples=("group", "size"), materials=("material", "nunique"))
    sg = sg.join(
        df.pivot_table(
            index="space_group", columns="split", values="group", aggfunc="size", fill_value=0
        )
    )
    sg["crystal_system"] = [space_group_info(int(n)).crystal_system for n in sg.index]
    sg["symbol"] = [space_group_info(int(n)).symbol for n in sg.index]
    out["space_group"] = sg.sort_values("samples", ascending=False)
    for key in ("crystal_system", "laue_class", "point_group"):
        t = df.pivot_table(index=key, columns="split", values="group", aggfunc="size", fill_value=0)
        t["samples"] = t.sum(axis=1)
        t["materials"] = df.groupby(key)["material"].nunique()
        if key == "crystal_system":
            t = t.reindex([s for s in CRYSTAL_SYSTEMS if s in t.index])
        out[key] = t
    return out


def ornl_comparison(df: pd.DataFrame, ornl_counts: pd.DataFrame) -> dict:
    """Compare the space-group distribution of ``df`` with the real ORNL train split.

    Parameters
    ----------
    df : DataFrame
        The metadata table.
    ornl_counts : DataFrame
        ``cbedfeat.data.load_ornl_counts()`` (columns space_group, train, ...).

    Returns
    -------
    dict
        total_variation (0 = identical distributions, 1 = disjoint), spearman rank
        correlation over the ORNL train classes, and the per-class fractions.
    """
    from scipy.stats import spearmanr

    ref = ornl_counts.set_index("space_group")["train"].astype(float)
    ours = df["space_group"].value_counts().reindex(ref.index, fill_value=0).astype(float)
    extra = int(len(set(df["space_group"]) - set(ref.index[ref > 0])))
    p = ref / ref.sum()
    q = ours / max(ours.sum(), 1.0)
    present = ref > 0
    rho = spearmanr(p[present], q[present]).statistic if present.sum() > 2 else float("nan")
    return {
        "total_variation": float(0.5 * np.abs(p - q).sum()),
        "spearman_rank_correlation": float(rho),
        "classes_not_in_ornl_train": extra,
        "fractions": pd.DataFrame({"ornl_train": p, "data": q}),
    }


def lattice_leakage(df: pd.DataFrame, seed: int = 0) -> dict:
    """How much the lattice attributes alone give the crystal system away.

    A shallow decision tree on (a, b, c, alpha, beta, gamma) is cross-validated with
    folds grouped by material; its accuracy is the danger of using these attributes as
    inputs (they are targets in cbedfeat, never features).

    Returns
    -------
    dict
        accuracy of the tree (or None when too few materials), majority baseline, and
        the fraction of cubic samples with a = b = c and all angles 90 degrees.
    """
    from sklearn.model_selection import GroupKFold, cross_val_score
    from sklearn.tree import DecisionTreeClassifier

    cols = ["a", "b", "c", "alpha", "beta", "gamma"]
    X = df[cols].to_numpy(float)
    y = df["crystal_system"].to_numpy()
    groups = df["material"].to_numpy()
    n_groups = len(set(groups))
    result: dict = {"majority_baseline": float(pd.Series(y).value_counts(normalize=True).iloc[0])}
    if n_groups >= 5 and len(set(y)) >= 2:
        tree = DecisionTreeClassifier(max_depth=6, random_state=seed)
        scores = cross_val_score(
            tree, X, y, groups=groups, cv=GroupKFold(n_splits=min(5, n_groups))
        )
        result["tree_accuracy"] = float(scores.mean())
    else:
        result["tree_accuracy"] = None
    cubic = df[df["crystal_system"] == "cubic"]
    if len(cubic):
        equal = np.isclose(
            cubic[["a", "b", "c"]].to_numpy(), cubic[["a"]].to_numpy(), rtol=1e-3
        ).all(axis=1)
        right = np.isclose(cubic[["alpha", "beta", "gamma"]].to_numpy(), 90.0, atol=1e-2).all(
            axis=1
        )
        result["cubic_metric_fraction"] = float((equal & right).mean())
    else:
        result["cubic_metric_fraction"] = None
    return result
