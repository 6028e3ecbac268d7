"""Reference tables shipped with cbedfeat (package data under ``cbedfeat/resources``)."""

from __future__ import annotations

from importlib import resources

import pandas as pd

COUNTS_RESOURCE = "ornl_sg_counts.csv"


def load_ornl_counts() -> pd.DataFrame:
    """Samples per space group in the real ORNL data set.

    Returns
    -------
    pandas.DataFrame
        Columns ``space_group`` (int, 1..230), ``train``, ``dev``, ``test``, ``total``
        (int), one row per space group listed in the reference table, sorted by
        space group. Sums: train 148,006, dev 20,400, test 18,749.
    """
    with resources.files("cbedfeat").joinpath("resources", COUNTS_RESOURCE).open("rb") as fh:
        df = pd.read_csv(fh)
    df = df.astype({c: "int64" for c in df.columns})
    return df.sort_values("space_group", ignore_index=True)
