"""Figures of the exploratory report (matplotlib, Agg backend, PNG files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cbedfeat.data.labels import CRYSTAL_SYSTEMS, LAUE_CLASSES, POINT_GROUPS

SYSTEM_COLOURS = dict(
    zip(
        CRYSTAL_SYSTEMS,
        ("#7f7f7f", "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#ff7f0e", "#17becf"),
        strict=True,
    )
)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out / name, dpi=90)
    _plt().close(fig)
    return name


def space_group_counts(sg: pd.DataFrame, out: Path) -> list[str]:
    """Samples and materials per space group, by count and by crystal system (log scale)."""
    plt = _plt()
    names = []
    for order, fname in (
        ("count", "targets_space_groups_by_count.png"),
        ("system", "targets_space_groups_by_system.png"),
    ):
        t = sg.sort_values("samples", ascending=False) if order == "count" else sg.sort_index()
        fig, ax = plt.subplots(figsize=(12, 3.8))
        x = np.arange(len(t))
        colours = [SYSTEM_COLOURS[s] for s in t["crystal_system"]]
        ax.bar(x, t["samples"], color=colours, label="samples")
        ax.plot(x, t["materials"], "k.", ms=3, label="materials")
        ax.set_yscale("log")
        ax.set_xticks(x if len(t) <= 60 else x[:: max(1, len(t) // 40)])
        ax.set_xticklabels(
            t.index[:: 1 if len(t) <= 60 else max(1, len(t) // 40)], rotation=90, fontsize=7
        )
        ax.set_xlabel(
            "space group"
            + (
                " (ordered by samples)"
                if order == "count"
                else " (ordered by number = by crystal system)"
            )
        )
        ax.set_ylabel("count (log)")
        handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in SYSTEM_COLOURS.values()]
        ax.legend(
            handles + ax.get_legend_handles_labels()[0][-1:],
            list(SYSTEM_COLOURS) + ["materials"],
            fontsize=7,
            ncol=4,
        )
        names.append(_save(fig, out, fname))
    return names


def class_groupings(tables: dict[str, pd.DataFrame], out: Path) -> str:
    """Samples per crystal system / Laue class / point group, stacked by split."""
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), gridspec_kw={"width_ratios": [7, 11, 32]})
    for ax, key, order in zip(
        axes,
        ("crystal_system", "laue_class", "point_group"),
        (CRYSTAL_SYSTEMS, LAUE_CLASSES, POINT_GROUPS),
        strict=True,
    ):
        t = tables[key].reindex([o for o in order if o in tables[key].index])
        splits = [c for c in ("train", "dev", "test", "unknown") if c in t.columns]
        bottom = np.zeros(len(t))
        for split in splits:
            ax.bar(np.arange(len(t)), t[split], bottom=bottom, label=split)
            bottom += t[split].to_numpy()
        ax.set_xticks(np.arange(len(t)))
        ax.set_xticklabels(t.index, rotation=90, fontsize=7)
        ax.set_title(key.replace("_", " "))
        ax.set_yscale("log")
    axes[0].legend(fontsize=7)
    return _save(fig, out, "targets_groupings.png")


def ornl_comparison(fractions: pd.DataFrame, out: Path) -> str:
    """Fraction of samples per space group: this data set against the ORNL train split."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(12, 3.5))
    ax.semilogy(
        fractions.index, fractions["ornl_train"], "-", color="0.5", label="ORNL train (reference)"
    )
    ax.semilogy(
        fractions.index, fractions["data"].replace(0, np.nan), "o", ms=3, label="this data set"
    )
    ax.set_xlabel("space group")
    ax.set_ylabel("fraction of samples")
    ax.legend(fontsize=8)
    return _save(fig, out, "targets_vs_ornl.png")


def lattice_by_system(meta: pd.DataFrame, out: Path) -> str:
    """Box plots of a, b, c, alpha, beta, gamma per crystal system."""
    plt = _plt()
    systems = [s for s in CRYSTAL_SYSTEMS if s in set(meta["crystal_system"])]
    fig, axes = plt.subplots(2, 3, figsize=(13, 6))
    for ax, col in zip(axes.ravel(), ("a", "b", "c", "alpha", "beta", "gamma"), strict=True):
        data = [meta.loc[meta["crystal_system"] == s, col].to_numpy() for s in systems]
        ax.boxplot(data, tick_labels=[s[:5] for s in systems], showfliers=False)
        ax.set_title(col + (" (A)" if col in "abc" else " (degrees)"))
        ax.tick_params(axis="x", labelsize=7)
    return _save(fig, out, "properties_lattice.png")


def property_histograms(meta: pd.DataFrame, out: Path) -> str:
    """Histograms of cell volume, elements per formula, energies, semi-angles, d-spacings."""
    plt = _plt()
    fig, axes = plt.subplots(1, 5, figsize=(16, 3.2))
    axes[0].hist(meta["volume"].dropna(), bins=40)
    axes[0].set_title("cell volume (A^3)")
    counts = meta["n_elements"].value_counts().sort_index()
    axes[1].bar(counts.index, counts.to_numpy())
    axes[1].set_title("elements per formula")
    energies = meta["energy_keV"].value_counts().sort_index()
    axes[2].bar(energies.index, energies.to_numpy(), width=6)
    axes[2].set_title("beam energy (keV)")
    axes[3].hist(meta[["semi_angle_0", "semi_angle_1", "semi_angle_2"]].to_numpy().ravel(), bins=40)
    axes[3].set_title("semi-angle (mrad)")
    axes[4].hist(meta[["d_hkl_0", "d_hkl_1", "d_hkl_2"]].to_numpy().ravel(), bins=40)
    axes[4].set_title("reference d-spacing (A)")
    return _save(fig, out, "properties_histograms.png")


def mean_std_images(mean: np.ndarray, std: np.ndarray, out: Path) -> str:
    """Mean and standard deviation of log10 intensity, per orientation."""
    plt = _plt()
    fig, axes = plt.subplots(2, 3, figsize=(10, 6.5))
    for k in range(3):
        for row, (img, title) in enumerate(((mean[k], "mean"), (std[k], "std"))):
            im = axes[row, k].imshow(img, cmap="magma")
            axes[row, k].set_title(f"pattern {k}: {title} of log10 I")
            axes[row, k].axis("off")
            fig.colorbar(im, ax=axes[row, k], fraction=0.046)
    return _save(fig, out, "patterns_mean_std.png")


def dynamic_range_hist(ranges: pd.DataFrame, out: Path) -> str:
    """Histogram of log10(max / min positive) per pattern."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for k in range(3):
        ax.hist(ranges[f"p{k}"].dropna(), bins=30, alpha=0.5, label=f"pattern {k}")
    ax.set_xlabel("decades of intensity (log10 max / min positive)")
    ax.set_ylabel("stacks")
    ax.legend(fontsize=8)
    return _save(fig, out, "patterns_dynamic_range.png")


def example_grid(examples: dict[str, list[tuple[str, np.ndarray]]], out: Path) -> str:
    """Example stacks (three orientations side by side), rows by crystal system."""
    plt = _plt()
    rows = [(s, g, img) for s, items in examples.items() for g, img in items]
    fig, axes = plt.subplots(len(rows), 3, figsize=(7.5, 2.5 * len(rows)), squeeze=False)
    for r, (system, group, img) in enumerate(rows):
        for k in range(3):
            axes[r, k].imshow(img[k], cmap="inferno")
            axes[r, k].axis("off")
        axes[r, 0].set_title(f"{system}: {group}", fontsize=8, loc="left")
    return _save(fig, out, "patterns_examples.png")


def pca_figures(pca, scores: np.ndarray, systems: list[str], out: Path) -> list[str]:
    """Explained variance, the first components as images, PC1-PC2 scatter."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ratio = pca.explained_variance_ratio_
    ax.plot(np.arange(1, len(ratio) + 1), np.cumsum(ratio), "o-")
    ax.set_xlabel("components")
    ax.set_ylabel("cumulative explained variance")
    ax.set_ylim(0, 1)
    names = [_save(fig, out, "pca_explained_variance.png")]

    n_show = min(4, pca.components_.shape[0])
    side = int(round(np.sqrt(pca.components_.shape[1] / 3)))
    fig, axes = plt.subplots(n_show, 3, figsize=(7, 2.4 * n_show), squeeze=False)
    for c in range(n_show):
        comp = pca.components_[c].reshape(3, side, side)
        lim = np.abs(comp).max()
        for k in range(3):
            axes[c, k].imshow(comp[k], cmap="RdBu_r", vmin=-lim, vmax=lim)
            axes[c, k].axis("off")
        axes[c, 0].set_title(f"PC{c + 1} ({100 * ratio[c]:.1f} %)", fontsize=8, loc="left")
    names.append(_save(fig, out, "pca_components.png"))

    fig, ax = plt.subplots(figsize=(6, 4.5))
    systems = np.asarray(systems)
    for s in CRYSTAL_SYSTEMS:
        m = systems == s
        if m.any():
            ax.scatter(scores[m, 0], scores[m, 1], s=8, color=SYSTEM_COLOURS[s], label=s)
    ax.set_xlabel("PC1")
    ax.set_ylabel("PC2")
    ax.legend(fontsize=7, markerscale=2)
    names.append(_save(fig, out, "pca_scatter.png"))
    return names


def feature_figures(fs, out: Path, top: int = 20) -> list[str]:
    """Correlation heatmap, most informative features, 2-D embedding."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 6))
    im = ax.imshow(fs.corr, cmap="viridis", vmin=0, vmax=1)
    ax.set_title(
        f"|Spearman rho| of the {len(fs.corr_order)} most informative features (clustered)",
        fontsize=9,
    )
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(im, ax=ax, fraction=0.046)
    names = [_save(fig, out, "features_correlation.png")]

    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for ax, series, title in (
        (axes[0], fs.mi_space_group, "space group"),
        (axes[1], fs.mi_crystal_system, "crystal system"),
    ):
        s = series.iloc[:top][::-1]
        ax.barh(np.arange(len(s)), s.to_numpy())
        ax.set_yticks(np.arange(len(s)))
        ax.set_yticklabels(s.index, fontsize=7)
        ax.set_xlabel(f"mutual information with {title} (nats)")
    names.append(_save(fig, out, "features_mutual_information.png"))

    fig, ax = plt.subplots(figsize=(6, 4.5))
    emb = fs.embedding
    for s in CRYSTAL_SYSTEMS:
        m = emb["crystal_system"] == s
        if m.any():
            ax.scatter(emb.loc[m, "x"], emb.loc[m, "y"], s=8, color=SYSTEM_COLOURS[s], label=s)
    ax.set_title(emb["method"].iloc[0] if len(emb) else "", fontsize=9)
    ax.legend(fontsize=7, markerscale=2)
    names.append(_save(fig, out, "features_embedding.png"))
    return names
