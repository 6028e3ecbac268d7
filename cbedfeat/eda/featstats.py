"""Feature-side analysis of a feature table: redundancy, informativeness, embedding."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cbedfeat.data.table import feature_columns


@dataclass
class FeatureStats:
    """What the feature pass found (see :func:`feature_statistics`)."""

    n_rows: int
    n_features: int
    clusters: pd.Series  # feature -> correlation cluster id
    corr_order: list[str]  # features in dendrogram order (at most max_heatmap of them)
    corr: np.ndarray  # (m, m) |Spearman| correlation in corr_order
    mi_space_group: pd.Series  # feature -> mutual information (nats), descending
    mi_crystal_system: pd.Series
    embedding: pd.DataFrame  # columns x, y, crystal_system, method


def correlation_clusters(
    X: np.ndarray, names: list[str], threshold: float = 0.9
) -> tuple[pd.Series, list[int], np.ndarray]:
    """Group features whose absolute Spearman correlation exceeds ``threshold``.

    Parameters
    ----------
    X : (n, F) ndarray
    names : list of str, length F
    threshold : float
        Features linked (average linkage) at |rho| >= threshold share a cluster.

    Returns
    -------
    clusters : Series
        Cluster id per feature name.
    order : list of int
        Feature indices in dendrogram order.
    abs_corr : (F, F) ndarray
        |Spearman rho|; constant features have 0 off the diagonal.
    """
    from scipy.cluster.hierarchy import fcluster, leaves_list, linkage
    from scipy.spatial.distance import squareform
    from scipy.stats import rankdata

    ranks = np.apply_along_axis(rankdata, 0, X)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(ranks, rowvar=False)
    corr = np.nan_to_num(np.atleast_2d(corr), nan=0.0)
    abs_corr = np.abs(corr)
    np.fill_diagonal(abs_corr, 1.0)
    if len(names) < 2:
        return pd.Series(np.ones(len(names), int), index=names), list(range(len(names))), abs_corr
    dist = squareform(np.clip(1.0 - abs_corr, 0.0, None), checks=False)
    tree = linkage(dist, method="average")
    labels = fcluster(tree, t=1.0 - threshold, criterion="distance")
    return pd.Series(labels, index=names), leaves_list(tree).tolist(), abs_corr


def feature_statistics(
    table: pd.DataFrame,
    *,
    max_rows: int = 3000,
    max_heatmap: int = 150,
    max_tsne: int = 1000,
    seed: int = 0,
) -> FeatureStats:
    """Correlation clusters, mutual information with the labels, and a 2-D embedding.

    Parameters
    ----------
    table : DataFrame
        A feature table (``cbedfeat extract`` output).
    max_rows : int
        Rows subsampled (seeded) for the statistics.
    max_heatmap : int
        Features shown in the correlation heatmap (the most informative ones).
    max_tsne : int
        t-SNE runs on at most this many rows; PCA alone above that.
    seed : int

    Returns
    -------
    FeatureStats
    """
    from sklearn.decomposition import PCA
    from sklearn.feature_selection import mutual_info_classif
    from sklearn.preprocessing import StandardScaler

    names = feature_columns(list(table.columns))
    if len(table) > max_rows:
        table = table.sample(n=max_rows, random_state=seed)
    X = table[names].to_numpy(np.float64)
    X = np.where(np.isfinite(X), X, np.nan)
    X = np.where(np.isnan(X), np.nanmedian(X, axis=0), X)
    X = np.nan_to_num(X)
    mi_sg = pd.Series(
        mutual_info_classif(X, table["space_group"].to_numpy(), random_state=seed), index=names
    )
    mi_cs = pd.Series(
        mutual_info_classif(X, table["crystal_system"].to_numpy(), random_state=seed), index=names
    )
    mi_sg, mi_cs = mi_sg.sort_values(ascending=False), mi_cs.sort_values(ascending=False)

    clusters, _, _ = correlation_clusters(X, names)
    top = [n for n in mi_sg.index[:max_heatmap]]
    idx = [names.index(n) for n in top]
    _, order, abs_corr = correlation_clusters(X[:, idx], top)
    corr_order = [top[i] for i in order]
    corr = abs_corr[np.ix_(order, order)]

    Z = StandardScaler().fit_transform(X)
    systems = table["crystal_system"].to_numpy()
    if 10 <= len(Z) <= max_tsne:
        from sklearn.manifold import TSNE

        pre = PCA(n_components=min(30, Z.shape[1], len(Z)), random_state=seed).fit_transform(Z)
        xy = TSNE(
            n_components=2, perplexity=min(30.0, (len(Z) - 1) / 3), random_state=seed, init="pca"
        ).fit_transform(pre)
        method = "t-SNE (on 30 principal components)"
    else:
        xy = (
            PCA(n_components=2, random_state=seed).fit_transform(Z)
            if len(Z) >= 2
            else np.zeros((len(Z), 2))
        )
        method = "PCA"
    embedding = pd.DataFrame(
        {"x": xy[:, 0], "y": xy[:, 1], "crystal_system": systems, "method": method}
    )
    return FeatureStats(
        n_rows=len(table),
        n_features=len(names),
        clusters=clusters,
        corr_order=corr_order,
        corr=corr,
        mi_space_group=mi_sg,
        mi_crystal_system=mi_cs,
        embedding=embedding,
    )
