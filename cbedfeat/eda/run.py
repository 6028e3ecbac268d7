"""The exploratory report of a CBED data set in the ORNL layout (``cbedfeat eda``).

:func:`run_eda` streams once over the metadata of every sample (no pattern is read),
then reads a seeded subsample of at most ``max_samples`` stacks for the image parts, and
optionally analyses a feature table. It writes ``report.html``, PNG figures and
``summary.json`` into one directory.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from cbedfeat._util import progress_bar
from cbedfeat.data import find_h5_files, iter_samples, load_ornl_counts

log = logging.getLogger(__name__)

__all__ = ["run_eda"]


def run_eda(
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    features: str | os.PathLike | None = None,
    max_samples: int = 400,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Write the exploratory report of the data under ``inputs`` into ``out``.

    Parameters
    ----------
    inputs : sequence of paths
        HDF5 files or directories of ``batch_*.h5`` files.
    out : path
        Report directory (created).
    features : path, optional
        A feature table from ``cbedfeat extract`` for the feature section.
    max_samples : int
        Upper bound on the stacks read for the image parts (the memory bound).
    seed : int
        Seed of every subsample.
    progress : bool
        Show progress bars.

    Returns
    -------
    dict
        The summary also written to ``summary.json``.

    Raises
    ------
    ValueError
        When the inputs hold no valid sample at all.
    """
    from cbedfeat.eda import figures, html
    from cbedfeat.eda.patterns import pattern_statistics
    from cbedfeat.eda.target_tables import (
        count_tables,
        imbalance_summary,
        lattice_leakage,
        metadata_table,
        ornl_comparison,
    )

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = find_h5_files(inputs)
    problems: list = []
    samples = progress_bar(
        iter_samples(files, problems=problems, load_stack=False),
        desc="metadata",
        unit="sample",
        enabled=progress,
    )
    meta = metadata_table(samples)
    if meta.empty:
        raise ValueError(
            f"no valid sample found in {', '.join(map(str, inputs))} ({len(problems)} problems)"
        )

    tables = count_tables(meta)
    simulated = bool(meta["material"].str.startswith("syn-").all())
    summary: dict = {
        "inputs": [str(p) for p in inputs],
        "n_files": len(files),
        "simulated": simulated,
        "imbalance": imbalance_summary(meta),
        "crystal_systems": tables["crystal_system"].reset_index().to_dict(orient="records"),
        "leakage": lattice_leakage(meta, seed=seed),
        "energies_keV": sorted(int(e) for e in meta["energy_keV"].unique()),
    }
    comparison = ornl_comparison(meta, load_ornl_counts())
    summary["ornl_comparison"] = {k: v for k, v in comparison.items() if k != "fractions"}

    figs = {
        "targets": figures.space_group_counts(tables["space_group"], out)
        + [
            figures.class_groupings(tables, out),
            figures.ornl_comparison(comparison["fractions"], out),
        ],
        "properties": [
            figures.lattice_by_system(meta, out),
            figures.property_histograms(meta, out),
        ],
    }

    pstats = pattern_statistics(meta, max_samples=max_samples, seed=seed, progress=progress)
    problems.extend(pstats.problems)
    summary["patterns"] = {"n_read": pstats.n, "max_samples": max_samples}
    if pstats.n:
        figs["patterns"] = [
            figures.mean_std_images(pstats.mean, pstats.std, out),
            figures.dynamic_range_hist(pstats.dynamic_range, out),
            figures.example_grid(pstats.examples, out),
        ]
        dr = pstats.dynamic_range[["p0", "p1", "p2"]].to_numpy()
        summary["patterns"]["dynamic_range_decades_median"] = float(_nanmedian(dr))
        if pstats.pca is not None:
            figs["pca"] = figures.pca_figures(
                pstats.pca, pstats.pca_scores, pstats.pca_systems, out
            )
            summary["patterns"]["pca_explained_variance_ratio"] = [
                float(v) for v in pstats.pca.explained_variance_ratio_
            ]

    fstats = None
    if features is not None:
        import pandas as pd

        from cbedfeat.eda.featstats import feature_statistics

        fstats = feature_statistics(pd.read_parquet(features), seed=seed)
        figs["features"] = figures.feature_figures(fstats, out)
        sizes = fstats.clusters.value_counts()
        summary["features"] = {
            "n_rows_analysed": fstats.n_rows,
            "n_features": fstats.n_features,
            "n_correlation_clusters": int(sizes.size),
            "largest_clusters": [
                sorted(fstats.clusters.index[fstats.clusters == c].tolist())[:10]
                for c in sizes.index[:5]
            ],
            "top_mi_space_group": {k: float(v) for k, v in fstats.mi_space_group.iloc[:20].items()},
            "top_mi_crystal_system": {
                k: float(v) for k, v in fstats.mi_crystal_system.iloc[:20].items()
            },
        }

    summary["problems"] = [p.to_dict() for p in problems]
    # Samples whose stack layout passed but whose attributes did not: unlabelled, so
    # they are in no count or figure above (predict and extract still use them).
    summary["n_unlabelled"] = len({(p.file, p.group) for p in problems if p.about_metadata})
    summary["figures"] = [name for names in figs.values() for name in names]
    html.write_html(out / "report.html", summary, tables, figs, fstats)
    tmp = out / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2, default=_json_default))
    os.replace(tmp, out / "summary.json")
    log.info("EDA report written to %s", out / "report.html")
    return summary


def _nanmedian(x) -> float:
    import numpy as np

    return float(np.nanmedian(x)) if np.isfinite(x).any() else float("nan")


def _json_default(obj):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)
