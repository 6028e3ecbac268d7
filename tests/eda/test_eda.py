"""Tests of the exploratory report (cbedfeat.eda and ``cbedfeat eda``)."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cbedfeat.cli import main
from cbedfeat.data import iter_samples
from cbedfeat.eda import run_eda
from cbedfeat.eda.patterns import batched, downsample, dynamic_range, log_scale, streaming_pca
from cbedfeat.eda.target_tables import (
    cell_volume,
    classes_for_half,
    count_tables,
    entropy_ratio,
    gini,
    imbalance_summary,
    metadata_table,
    n_elements,
)

PROMISED_FIGURES = {
    "targets_space_groups_by_count.png",
    "targets_space_groups_by_system.png",
    "targets_groupings.png",
    "targets_vs_ornl.png",
    "properties_lattice.png",
    "properties_histograms.png",
    "patterns_mean_std.png",
    "patterns_dynamic_range.png",
    "patterns_examples.png",
    "pca_explained_variance.png",
    "pca_components.png",
    "pca_scatter.png",
}
FEATURE_FIGURES = {
    "features_correlation.png",
    "features_mutual_information.png",
    "features_embedding.png",
}


def test_imbalance_statistics_by_hand():
    # counts 1, 2, 3, 4: sum over pairs |xi - xj| = 20, G = 20 / (2 n^2 mean) = 0.25
    assert gini([4, 1, 3, 2]) == pytest.approx(0.25)
    assert gini([5, 5, 5]) == pytest.approx(0.0)
    p = np.array([0.75, 0.25])
    assert entropy_ratio([3, 1]) == pytest.approx(-(p * np.log(p)).sum() / np.log(2))
    assert entropy_ratio([7, 7, 7, 7]) == pytest.approx(1.0)
    assert classes_for_half([5, 3, 1, 1]) == 1
    assert classes_for_half([1, 2, 3, 4]) == 2
    assert n_elements("Fe8 O14 F2") == 3
    assert n_elements("Na4 Cl4") == 2


def test_cell_volume_known_cells():
    v = cell_volume(
        np.array([[2.0, 2.0, 2.0], [1.0, 1.0, 1.0]]), np.array([[90, 90, 90], [90, 90, 120]])
    )
    np.testing.assert_allclose(v, [8.0, np.sqrt(3) / 2])


def test_counts_on_small_directory(small_ornl_dir, small_ornl_expected):
    meta = metadata_table(iter_samples([small_ornl_dir], load_stack=False))
    tables = count_tables(meta)
    sg = tables["space_group"]
    assert sg["samples"].to_dict() == small_ornl_expected["per_space_group"]
    assert sg["materials"].to_dict() == small_ornl_expected["materials_per_space_group"]
    assert (
        tables["crystal_system"]["samples"].to_dict() == small_ornl_expected["per_crystal_system"]
    )

    imb = imbalance_summary(meta)
    # class sizes 4 (SG 14), 4 (SG 225), 2 (SG 62), 2 (SG 194)
    assert imb["n_samples"] == 12 and imb["n_materials"] == 6 and imb["n_classes"] == 4
    assert imb["gini"] == pytest.approx(1 / 6)
    p = np.array([4, 4, 2, 2]) / 12
    assert imb["entropy_ratio"] == pytest.approx(-(p * np.log(p)).sum() / np.log(4))
    assert imb["classes_for_half"] == 2
    assert imb["imbalance_ratio"] == pytest.approx(2.0)
    assert imb["classes_below"] == {"10": 4, "30": 4, "100": 4}
    assert imb["splits"]["dev"]["only_here"] == [194]
    assert imb["splits"]["train"]["only_here"] == [14, 62]
    assert imb["eval_classes_not_in_train"] == [194]


def test_incremental_pca_equals_full_pca():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    basis = rng.normal(size=(4, 60))
    X = rng.normal(size=(300, 4)) * [5, 3, 2, 1] @ basis + 0.01 * rng.normal(size=(300, 60))
    ipca = streaming_pca(batched(X, 50), 4)
    full = PCA(n_components=4).fit(X)
    np.testing.assert_allclose(
        ipca.explained_variance_ratio_, full.explained_variance_ratio_, rtol=1e-3
    )
    cos = np.abs(np.sum(ipca.components_ * full.components_, axis=1))
    np.testing.assert_allclose(cos, 1.0, atol=1e-4)


def test_batched_never_leaves_a_short_tail():
    sizes = [len(b) for b in batched(np.zeros((130, 2)), 50)]
    assert sizes == [50, 80] and sum(sizes) == 130


def test_pattern_helpers_known_values():
    stack = np.zeros((3, 8, 8))
    stack[:, 0, 0] = 1000.0
    stack[:, 1, 1] = 0.1
    np.testing.assert_allclose(dynamic_range(stack), [4.0, 4.0, 4.0])
    assert downsample(np.arange(16.0).reshape(1, 4, 4), 2).tolist() == [[[2.5, 4.5], [10.5, 12.5]]]
    scaled = log_scale(np.full((1, 4, 4), 3.0))
    np.testing.assert_allclose(scaled, np.log10(1 / 16), rtol=1e-6)


def test_report_has_every_figure_and_valid_json(small_ornl_dir, tmp_path):
    summary = run_eda([small_ornl_dir], tmp_path / "rep", max_samples=8, progress=False)
    files = {p.name for p in (tmp_path / "rep").iterdir()}
    assert PROMISED_FIGURES <= files
    assert {"report.html", "summary.json"} <= files
    loaded = json.loads((tmp_path / "rep" / "summary.json").read_text())
    assert loaded["imbalance"]["n_samples"] == 12
    assert loaded["patterns"]["n_read"] == 8
    assert set(loaded["figures"]) == PROMISED_FIGURES
    html = (tmp_path / "rep" / "report.html").read_text()
    for name in PROMISED_FIGURES:
        assert f'src="{name}"' in html
    assert summary["problems"] == [] and summary["n_unlabelled"] == 0


def test_bad_samples_are_listed_and_the_rest_reported(small_ornl_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(small_ornl_dir, data)
    with h5py.File(data / "batch_train_1.h5", "a") as f:
        f["sample_2_0"]["cbed_stack"][0, 0, 0] = np.nan
        f["sample_3_1"].attrs["space_group"] = np.bytes_("231")
    (data / "batch_train_9.h5").write_bytes(b"\x89HDF\r\n truncated")
    summary = run_eda([data], tmp_path / "rep", max_samples=50, progress=False)
    # the NaN stack passes the metadata pass but fails when the pattern is read
    listed = {(p["file"].split("/")[-1], p["group"]) for p in summary["problems"]}
    assert ("batch_train_1.h5", "sample_2_0") in listed
    assert ("batch_train_1.h5", "sample_3_1") in listed
    assert ("batch_train_9.h5", None) in listed
    assert summary["imbalance"]["n_samples"] == 11
    assert summary["patterns"]["n_read"] == 10
    assert (
        summary["n_unlabelled"] == 1
    )  # sample_3_1; the NaN stack and the bad file are no label problem
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "sample_3_1" in html and "batch_train_9.h5" in html
    assert "1 unlabelled samples" in html


def _feature_table(small_ornl_dir) -> pd.DataFrame:
    meta = metadata_table(iter_samples([small_ornl_dir], load_stack=False))
    rng = np.random.default_rng(0)
    t = meta[
        ["file", "group", "material", "split", "energy_keV", "space_group", "crystal_system"]
    ].copy()
    t["p0_informative"] = t["space_group"] + 0.01 * rng.normal(size=len(t))
    t["p0_copy"] = 2 * t["p0_informative"]
    t["p1_noise"] = rng.normal(size=len(t))
    return t


def test_cli_with_features(small_ornl_dir, tmp_path):
    table = tmp_path / "features.parquet"
    _feature_table(small_ornl_dir).to_parquet(table)
    out = tmp_path / "rep"
    result = CliRunner().invoke(
        main,
        [
            "eda",
            str(small_ornl_dir),
            "--out",
            str(out),
            "--features",
            str(table),
            "--max-samples",
            "6",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "12 samples" in result.output
    files = {p.name for p in out.iterdir()}
    assert FEATURE_FIGURES | PROMISED_FIGURES <= files
    summary = json.loads((out / "summary.json").read_text())
    feats = summary["features"]
    assert feats["n_features"] == 3
    # the informative feature and its copy form one correlation cluster; noise stands alone
    assert feats["n_correlation_clusters"] == 2
    assert ["p0_copy", "p0_informative"] in feats["largest_clusters"]
    assert "p1_noise" not in list(feats["top_mi_space_group"])[:2]


def test_cli_fails_cleanly_without_valid_samples(tmp_path):
    (tmp_path / "batch_train_0.h5").write_bytes(b"junk")
    result = CliRunner().invoke(
        main, ["eda", str(tmp_path), "--out", str(tmp_path / "rep"), "--no-progress"]
    )
    assert result.exit_code != 0
    assert "no valid sample" in result.output
