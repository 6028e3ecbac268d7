"""``cbedfeat extract`` end to end: outputs, skip report, strict mode, kill and resume, Dask."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from ornl_samples import build_meta, build_stack

from cbedfeat.cli import main
from cbedfeat.data import ORNLWriter
from cbedfeat.data.table import ID_COLUMNS, TARGET_COLUMNS, feature_columns


def cli(*args):
    return CliRunner().invoke(main, ["extract", *map(str, args)], catch_exceptions=False)


@pytest.fixture
def data_copy(small_ornl_dir, tmp_path):
    dst = tmp_path / "data"
    shutil.copytree(small_ornl_dir, dst)
    return dst


def test_cli_extract_writes_table_parts_and_report(small_ornl_dir, tmp_path):
    out = tmp_path / "FEATURES.parquet"
    r = cli(small_ornl_dir, "--out", out, "--workers", 1, "--device", "cpu", "--no-progress")
    assert r.exit_code == 0, r.output
    assert "12 stacks from 4 files (0 resumed)" in r.output and "0 skipped" in r.output
    df = pd.read_parquet(out)
    assert list(df.columns[:13]) == list(ID_COLUMNS + TARGET_COLUMNS)
    assert len(df) == 12 and len(feature_columns(df.columns)) == len(df.columns) - 13
    assert len(list((tmp_path / "FEATURES.parquet.parts").glob("*.parquet"))) == 4
    assert (tmp_path / "FEATURES.skipped.csv").read_text() == "file,group,kind,reason\n"
    r = cli(small_ornl_dir, "--out", out, "--workers", 1, "--device", "cpu", "--no-progress")
    assert "(4 resumed)" in r.output


def test_cli_skip_report_and_strict(data_copy, tmp_path):
    with h5py.File(data_copy / "batch_dev_0.h5", "r+") as f:
        del f["sample_4_1"].attrs["material"]
        f["sample_4_0"]["cbed_stack"][0, 0, 0] = np.nan
    out = tmp_path / "FEATURES.parquet"
    r = cli(data_copy, "--out", out, "--workers", 1, "--device", "cpu", "--no-progress")
    assert r.exit_code == 0, r.output
    assert "11 stacks" in r.output and "1 skipped" in r.output and "1 rows unlabelled" in r.output
    report = (tmp_path / "FEATURES.skipped.csv").read_text().splitlines()
    assert len(report) == 2 and "batch_dev_0.h5,sample_4_0,bad_stack," in report[1]
    report = (tmp_path / "FEATURES.metadata.csv").read_text().splitlines()
    assert len(report) == 2 and "batch_dev_0.h5,sample_4_1,missing_attribute," in report[1]
    df = pd.read_parquet(out).set_index(["file", "group"])
    assert ("batch_dev_0.h5", "sample_4_0") not in df.index
    row = df.loc[("batch_dev_0.h5", "sample_4_1")]
    assert pd.isna(row["material"]) and row["space_group"] == 194  # only the bad field is null

    r = CliRunner().invoke(
        main,
        [
            "extract",
            str(data_copy),
            "--out",
            str(tmp_path / "s.parquet"),
            "--workers",
            "1",
            "--device",
            "cpu",
            "--no-progress",
            "--strict",
        ],
    )
    assert r.exit_code != 0
    assert "batch_dev_0.h5" in r.output and "sample_4_0" in r.output
    assert not (tmp_path / "s.parquet").exists()


def _many_files(root, n_files=10, per_file=4, size=96):
    for k in range(n_files):
        with ORNLWriter(root / f"batch_train_{k}.h5") as w:
            for j in range(per_file):
                meta = build_meta(
                    group=f"sample_{k}_{j}", material=f"mp-{2000 + k}", energy_keV=100 + 10 * j
                )
                w.write(build_stack(seed=100 * k + j, size=size), meta)
    return root


@pytest.mark.slow
def test_killed_run_resumed_gives_identical_table(tmp_path):
    data = _many_files(tmp_path / "data")
    cmd = [
        sys.executable,
        "-m",
        "cbedfeat",
        "extract",
        str(data),
        "--workers",
        "1",
        "--device",
        "cpu",
        "--no-progress",
        "--batch-size",
        "1",
    ]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    full = tmp_path / "full.parquet"
    subprocess.run([*cmd, "--out", str(full)], check=True, env=env, capture_output=True)

    out = tmp_path / "killed.parquet"
    parts = tmp_path / "killed.parquet.parts"
    proc = subprocess.Popen(
        [*cmd, "--out", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while not list(parts.glob("*.parquet")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()  # dead: the parts on disk are all it will ever write
    n_done = len(list(parts.glob("*.parquet")))
    assert 0 < n_done < 10, "the run must be killed mid-way"
    assert not out.exists()

    r = subprocess.run(
        [*cmd, "--out", str(out)], check=True, env=env, capture_output=True, text=True
    )
    assert f"({n_done} resumed)" in r.stdout
    assert out.read_bytes() == full.read_bytes()


@pytest.mark.slow
def test_dask_local_scheduler_gives_the_same_table_as_processes(small_ornl_dir, tmp_path):
    procs = tmp_path / "procs.parquet"
    r = cli(small_ornl_dir, "--out", procs, "--workers", 2, "--device", "cpu", "--no-progress")
    assert r.exit_code == 0, r.output
    assert "processes x 2" in r.output
    dask = tmp_path / "dask.parquet"
    r = cli(
        small_ornl_dir,
        "--out",
        dask,
        "--workers",
        2,
        "--device",
        "cpu",
        "--no-progress",
        "--scheduler",
        "local",
    )
    assert r.exit_code == 0, r.output
    assert "dask x 2" in r.output
    assert dask.read_bytes() == procs.read_bytes()
    np.testing.assert_array_equal(pd.read_parquet(dask)["group"], pd.read_parquet(procs)["group"])


def test_cli_config_file_and_device_errors(small_ornl_dir, tmp_path):
    import json

    import pyarrow.parquet as pq

    from cbedfeat.data.table import META_FEATURE_CONFIG
    from cbedfeat.features import FeatureConfig
    from cbedfeat.features.backend import gpu_available

    cfg = tmp_path / "features.yaml"
    cfg.write_text("zernike_degree: 4\nfamilies: [radial, zernike]\n")
    out = tmp_path / "f.parquet"
    r = cli(
        small_ornl_dir / "batch_dev_0.h5",
        "--out",
        out,
        "--config",
        cfg,
        "--workers",
        1,
        "--device",
        "cpu",
        "--no-progress",
    )
    assert r.exit_code == 0, r.output
    meta = json.loads(pq.read_schema(out).metadata[META_FEATURE_CONFIG])
    assert FeatureConfig.from_dict(meta) == FeatureConfig(
        zernike_degree=4, families=("radial", "zernike")
    )
    assert not any("rot" in c or "mirror" in c for c in pd.read_parquet(out).columns)
    if not gpu_available():
        r = CliRunner().invoke(
            main, ["extract", str(small_ornl_dir), "--out", str(out), "--device", "cuda"]
        )
        assert r.exit_code != 0 and "cuda" in r.output.lower()
