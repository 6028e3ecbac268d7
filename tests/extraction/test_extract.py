"""cbedfeat.extraction.extract: files -> parts -> one Parquet table, resumable and deterministic."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from cbedfeat.data import read_sample
from cbedfeat.data.labels import crystal_system_of
from cbedfeat.data.table import (
    ID_COLUMNS,
    META_CBEDFEAT_VERSION,
    META_FEATURE_CONFIG,
    META_FEATURE_NAMES,
    META_FEATURE_VERSION,
    TARGET_COLUMNS,
    check_no_leak,
    feature_columns,
    read_feature_table,
)
from cbedfeat.extraction import parts as parts_mod
from cbedfeat.extraction.extract import ExtractError, combine_parts, extract, output_paths
from cbedfeat.extraction.parts import FileJob, PartBuilder, read_part_info
from cbedfeat.features import FEATURE_VERSION, FeatureConfig, FeatureExtractor

# Natural order of the fixture's files (dev < test < train_0 < train_1), then groups.
EXPECTED_ORDER = [
    ("batch_dev_0.h5", "sample_4_0"),
    ("batch_dev_0.h5", "sample_4_1"),
    ("batch_test_0.h5", "sample_5_0"),
    ("batch_test_0.h5", "sample_5_1"),
    ("batch_train_0.h5", "sample_0_0"),
    ("batch_train_0.h5", "sample_0_1"),
    ("batch_train_0.h5", "sample_1_0"),
    ("batch_train_0.h5", "sample_1_1"),
    ("batch_train_1.h5", "sample_2_0"),
    ("batch_train_1.h5", "sample_2_1"),
    ("batch_train_1.h5", "sample_3_0"),
    ("batch_train_1.h5", "sample_3_1"),
]


def run(inputs, out, **kw):
    kw.setdefault("workers", 1)
    kw.setdefault("device", "cpu")
    kw.setdefault("progress", False)
    kw.setdefault("batch_size", 3)
    return extract(inputs, out, **kw)


@pytest.fixture
def data_copy(small_ornl_dir, tmp_path):
    """A writable copy of the small ORNL directory."""
    dst = tmp_path / "data"
    shutil.copytree(small_ornl_dir, dst)
    return dst


@pytest.fixture(scope="module")
def reference(small_ornl_dir, tmp_path_factory):
    """One uninterrupted run: (result, table bytes, DataFrame)."""
    out = tmp_path_factory.mktemp("ref") / "FEATURES.parquet"
    res = run([small_ornl_dir], out)
    return res, out.read_bytes(), pd.read_parquet(out)


def test_output_paths():
    assert output_paths("x/FEATURES.parquet") == (
        Path("x/FEATURES.parquet"),
        Path("x/FEATURES.parquet.parts"),
        Path("x/FEATURES.skipped.csv"),
    )
    table, parts, skipped = output_paths("x/feats", parts_only=True)
    assert table is None and str(parts) == "x/feats" and str(skipped) == "x/feats.skipped.csv"


def test_table_rows_columns_targets_and_features(reference, small_ornl_dir):
    res, _, df = reference
    names = list(FeatureExtractor().fit().get_feature_names_out())
    assert list(df.columns) == list(ID_COLUMNS) + list(TARGET_COLUMNS) + names
    assert feature_columns(df.columns) == names
    check_no_leak(feature_columns(df.columns))
    assert list(zip(df["file"], df["group"], strict=True)) == EXPECTED_ORDER
    assert res.rows == 12 and res.skipped == [] and res.resumed == 0
    assert all(df[n].dtype == np.float32 for n in names)

    # Targets and ids come from the sample attributes; features equal a direct transform.
    samples = [read_sample(small_ornl_dir / f, g) for f, g in EXPECTED_ORDER]
    metas = [s.meta for s in samples]
    assert list(df["material"]) == [m.material for m in metas]
    assert list(df["split"]) == [m.split for m in metas]
    assert list(df["split"][:2]) == ["dev", "dev"]
    assert list(df["energy_keV"]) == [m.energy_keV for m in metas]
    assert list(df["space_group"]) == [m.space_group for m in metas]
    assert list(df["crystal_system"]) == [crystal_system_of(m.space_group) for m in metas]
    assert df["crystal_system"].iloc[0] == "hexagonal"  # SG 194
    np.testing.assert_array_equal(
        df[["a", "b", "c"]].to_numpy(), np.stack([m.abc_angstrom for m in metas])
    )
    np.testing.assert_array_equal(
        df[["alpha", "beta", "gamma"]].to_numpy(), np.stack([m.angles_degree for m in metas])
    )
    direct = FeatureExtractor().fit().transform(np.stack([s.stack for s in samples]))
    np.testing.assert_allclose(df[names].to_numpy(), direct, rtol=1e-5, atol=1e-6)


def test_parquet_metadata(reference):
    res, _, _ = reference
    meta = pq.read_schema(res.table).metadata
    names = json.loads(meta[META_FEATURE_NAMES])
    assert names == list(FeatureExtractor().fit().get_feature_names_out())
    assert FeatureConfig.from_dict(json.loads(meta[META_FEATURE_CONFIG])) == FeatureConfig()
    assert json.loads(meta[META_FEATURE_VERSION]) == FEATURE_VERSION
    from cbedfeat import __version__

    assert json.loads(meta[META_CBEDFEAT_VERSION]) == __version__
    assert parts_mod.PART_INFO_KEY not in meta  # per-part records stay in the parts

    df, info = read_feature_table(res.table)
    assert info["feature_names"] == names and info["feature_version"] == FEATURE_VERSION
    assert info["feature_config"] == FeatureConfig().to_dict()
    assert len(df) == 12


def test_parts_directory_reads_as_the_same_table(reference):
    res, _, df = reference
    part_files = sorted(p.name for p in res.parts_dir.iterdir())
    assert part_files == [
        "00000-batch_dev_0.parquet",
        "00001-batch_test_0.parquet",
        "00002-batch_train_0.parquet",
        "00003-batch_train_1.parquet",
    ]
    pd.testing.assert_frame_equal(pd.read_parquet(res.parts_dir), df)
    pd.testing.assert_frame_equal(ds.dataset(res.parts_dir).to_table().to_pandas(), df)
    info = read_part_info(res.parts_dir / part_files[2])
    assert info["rows"] == 4 and info["skipped"] == []
    assert info["fingerprint"]["feature_version"] == FEATURE_VERSION
    assert info["fingerprint"]["config"] == FeatureConfig().fingerprint()


def test_parts_only_output(small_ornl_dir, tmp_path, reference):
    res = run([small_ornl_dir], tmp_path / "feats", parts_only=True)
    assert res.table is None and res.parts_dir == tmp_path / "feats"
    assert (tmp_path / "feats.skipped.csv").exists()
    df, info = read_feature_table(res.parts_dir)
    pd.testing.assert_frame_equal(df, reference[2])
    assert info["feature_names"] == feature_columns(df.columns)


def test_same_bytes_for_processes_and_single_worker(small_ornl_dir, tmp_path, reference):
    res = run([small_ornl_dir], tmp_path / "two.parquet", workers=2, batch_size=3)
    assert res.runner == "processes" and res.workers == 2
    assert (tmp_path / "two.parquet").read_bytes() == reference[1]
    assert len({f.pid for f in res.files}) >= 1 and all(f.peak_rss > 0 for f in res.files)


def test_gzip_files_give_the_table_of_uncompressed_ones(small_ornl_dir, tmp_path, reference):
    # Uncompressed stacks are featurised from the page cache (mapped views, list
    # batches), gzip ones from a batch array: the same features either way.
    from cbedfeat.data import ORNLWriter, iter_file

    gz = tmp_path / "gz"
    gz.mkdir()
    for path in sorted(small_ornl_dir.glob("*.h5")):
        with ORNLWriter(gz / path.name, compression="gzip") as w:
            for sample in iter_file(path, strict=True):
                w.write(sample.stack, sample.meta)
    run([gz], tmp_path / "gz.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "gz.parquet"), reference[2])


def test_this_process_is_one_of_the_workers(small_ornl_dir, tmp_path, reference):
    # 4 files for this process and one spawned worker: this process computes the
    # files the spawned one is not given (it starts first: its imports are done).
    res = run([small_ornl_dir], tmp_path / "two.parquet", workers=2)
    pids = [f.pid for f in res.files]
    assert os.getpid() in pids and len(set(pids)) == 2
    assert (tmp_path / "two.parquet").read_bytes() == reference[1]


def test_resume_after_crash_gives_identical_table(small_ornl_dir, tmp_path, monkeypatch, reference):
    out = tmp_path / "FEATURES.parquet"
    real_write = parts_mod.write_atomic_table
    calls = []

    def crash_after_two(table, path):
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated kill")
        calls.append(path)
        real_write(table, path)

    monkeypatch.setattr(parts_mod, "write_atomic_table", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        run([small_ornl_dir], out)
    monkeypatch.undo()
    assert not out.exists()
    parts_dir = out.with_name(out.name + ".parts")
    assert len(list(parts_dir.glob("*.parquet"))) == 2
    # A temporary file left by a kill during a write is dropped, never read.
    (parts_dir / ".00002-batch_train_0.parquet.tmp").write_bytes(b"half a part")

    res = run([small_ornl_dir], out)
    assert res.resumed == 2 and res.rows == 12
    assert not list(parts_dir.glob(".*"))
    assert out.read_bytes() == reference[1]


def test_resume_recomputes_only_what_changed(data_copy, tmp_path):
    out = tmp_path / "f.parquet"
    first = run([data_copy], out)
    first_bytes = out.read_bytes()
    assert run([data_copy], out).resumed == 4
    # A touched file (new mtime) is recomputed; the table stays the same.
    path = data_copy / "batch_train_1.h5"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    res = run([data_copy], out)
    assert [f.resumed for f in res.files] == [True, True, True, False]
    assert out.read_bytes() == first_bytes
    # --no-resume recomputes everything; another config invalidates every part.
    assert run([data_copy], out, resume=False).resumed == 0
    other = FeatureConfig(zernike_degree=6)
    res = run([data_copy], out, config=other)
    assert res.resumed == 0
    assert json.loads(pq.read_schema(out).metadata[META_FEATURE_CONFIG]) == other.to_dict()
    assert first.rows == res.rows == 12


def test_parts_are_reused_under_new_names(small_ornl_dir, tmp_path, reference):
    out = tmp_path / "f.parquet"
    sub = [small_ornl_dir / "batch_train_1.h5", small_ornl_dir / "batch_train_0.h5"]
    run(sub, out)  # natural order: train_0 -> 00000, train_1 -> 00001
    res = run([small_ornl_dir], out)  # now they are 00002 and 00003
    assert [f.resumed for f in res.files] == [False, False, True, True]
    assert out.read_bytes() == reference[1]
    assert sorted(p.name for p in res.parts_dir.iterdir()) == sorted(
        p.name for p in reference[0].parts_dir.iterdir()
    )
    # Parts of files no longer asked for are removed, so the directory is the table.
    res = run([small_ornl_dir / "batch_dev_0.h5"], out)
    assert [p.name for p in res.parts_dir.iterdir()] == ["00000-batch_dev_0.parquet"]
    assert res.resumed == 1 and len(pd.read_parquet(out)) == 2


def _break_sample(path, group):
    with h5py.File(path, "r+") as f:
        stack = f[group]["cbed_stack"]
        stack[0, 0, 0] = np.nan


def test_bad_samples_are_skipped_and_reported(data_copy, tmp_path, reference):
    _break_sample(data_copy / "batch_train_0.h5", "sample_1_1")
    (data_copy / "batch_train_7.h5").write_bytes(b"not an HDF5 file")
    out = tmp_path / "FEATURES.parquet"
    res = run([data_copy], out)
    df = pd.read_parquet(out)
    good = [k for k in EXPECTED_ORDER if k != ("batch_train_0.h5", "sample_1_1")]
    assert list(zip(df["file"], df["group"], strict=True)) == good
    ref = reference[2].set_index(["file", "group"]).loc[good].reset_index()
    pd.testing.assert_frame_equal(df, ref)

    with open(tmp_path / "FEATURES.skipped.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(os.path.basename(r["file"]), r["group"], r["kind"]) for r in rows] == [
        ("batch_train_0.h5", "sample_1_1", "bad_stack"),
        ("batch_train_7.h5", "", "file_open"),
    ]
    assert all(r["reason"] for r in rows)
    assert "2 skipped" in res.summary() and "11 stacks" in res.summary()
    # The skip records live in the parts, so a resumed run reports them again,
    # and a strict run does not accept them.
    res2 = run([data_copy], out)
    assert res2.resumed == 5 and len(res2.skipped) == 2
    with pytest.raises(ExtractError, match=r"batch_train_0\.h5 \[sample_1_1\].*earlier run"):
        run([data_copy], out, strict=True)


def test_strict_fails_naming_file_and_group(data_copy, tmp_path):
    _break_sample(data_copy / "batch_train_1.h5", "sample_3_0")
    with pytest.raises(ExtractError, match=r"batch_train_1\.h5.*sample_3_0"):
        run([data_copy], tmp_path / "f.parquet", strict=True)
    assert not (tmp_path / "f.parquet").exists()
    with pytest.raises(ExtractError, match=r"batch_train_1\.h5.*sample_3_0"):
        run([data_copy], tmp_path / "g.parquet", strict=True, workers=2)


def test_no_input_files(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExtractError, match="no HDF5 files"):
        run([tmp_path / "empty"], tmp_path / "f.parquet")


class _FailOnNegative:
    """Extractor for PartBuilder: fails on any batch holding a stack with a negative pixel."""

    def transform(self, stacks):
        if (stacks < 0).any():
            raise ValueError("negative intensity")
        return stacks.reshape(len(stacks), -1)[:, :2].astype(np.float32)


def test_part_builder_loses_only_the_sample_that_fails(tmp_path, make_meta):
    names = ["f0", "f1"]
    meta = {
        k.decode(): v.decode() for k, v in {META_FEATURE_NAMES: json.dumps(names).encode()}.items()
    }
    job = FileJob("x/batch_train_3.h5", str(tmp_path / "p.parquet"), {"k": 1}, meta, False, 3)
    stacks = np.arange(3 * 3 * 2 * 2, dtype=np.float32).reshape(3, 3, 2, 2)
    stacks[1, 0, 0, 0] = -1
    metas = [make_meta(group=f"sample_0_{j}", space_group=225) for j in range(3)]
    builder = PartBuilder(job, _FailOnNegative(), 2)
    assert builder.add(stacks, metas) == 2
    res = builder.finish()
    assert res.rows == 2 and [s["group"] for s in res.skipped] == ["sample_0_1"]
    assert "negative intensity" in res.skipped[0]["reason"]
    table = pq.read_table(tmp_path / "p.parquet")
    assert table.column("group").to_pylist() == ["sample_0_0", "sample_0_2"]
    assert table.column("f0").to_pylist() == [0.0, 24.0]
    assert table.column("crystal_system").to_pylist() == ["cubic", "cubic"]
    assert table.column("file").to_pylist() == ["batch_train_3.h5"] * 2

    strict_job = FileJob(job.source, job.part, job.fingerprint, meta, True, 3)
    with pytest.raises(ExtractError, match=r"batch_train_3\.h5 \[sample_0_1\]"):
        PartBuilder(strict_job, _FailOnNegative(), 2).add(stacks, metas)


def test_combine_streams_row_groups(reference, tmp_path, monkeypatch):
    import cbedfeat.extraction.extract as ex

    res, ref_bytes, df = reference
    # Small row groups: the table is the same, only the row-group split differs.
    monkeypatch.setattr(ex, "ROW_GROUP_BYTES", 1)
    schema = pq.read_schema(res.table)
    out = tmp_path / "small_groups.parquet"
    combine_parts([f.part for f in res.files], out, schema)
    assert pq.ParquetFile(out).metadata.num_row_groups == 4  # one per part
    pd.testing.assert_frame_equal(pd.read_parquet(out), df)
    assert pq.ParquetFile(res.table).metadata.num_row_groups == 1
    assert out.read_bytes() != ref_bytes


@pytest.fixture
def cuda_path_on_cpu(monkeypatch):
    """Route extraction through the GPU runner (reader thread + queue), computing on CPU."""
    import cbedfeat.extraction.extract as ex
    from cbedfeat.extraction import runners

    real = runners.get_extractor
    monkeypatch.setattr(ex, "resolve_device", lambda device: "cuda")
    monkeypatch.setattr(runners, "get_extractor", lambda cfg, device, bs: real(cfg, "cpu", bs))
    monkeypatch.setattr(runners, "PREFETCH_BATCHES", 1)  # the reader blocks on a full queue


def test_gpu_runner_gives_the_same_table(cuda_path_on_cpu, small_ornl_dir, tmp_path, reference):
    res = run([small_ornl_dir], tmp_path / "f.parquet", workers=4)
    assert res.runner == "inline-gpu" and res.device == "cuda"
    assert (tmp_path / "f.parquet").read_bytes() == reference[1]
    assert all(f.read_s > 0 for f in res.files)


def test_gpu_runner_skips_and_fails_like_the_others(cuda_path_on_cpu, data_copy, tmp_path):
    _break_sample(data_copy / "batch_test_0.h5", "sample_5_0")
    res = run([data_copy], tmp_path / "f.parquet")
    assert [(os.path.basename(s["file"]), s["group"]) for s in res.skipped] == [
        ("batch_test_0.h5", "sample_5_0")
    ]
    assert res.rows == 11
    with pytest.raises(ExtractError, match=r"batch_test_0\.h5.*sample_5_0"):
        run([data_copy], tmp_path / "g.parquet", strict=True)


def test_read_batches_bounds_memory(small_ornl_dir):
    problems = []
    batches = list(
        parts_mod.read_batches(
            str(small_ornl_dir / "batch_train_0.h5"), 3, strict=False, problems=problems
        )
    )
    assert [b[0].shape for b in batches] == [(3, 3, 64, 64), (1, 3, 64, 64)]
    assert [m.group for b in batches for m in b[1]] == [
        g for f, g in EXPECTED_ORDER if f == "batch_train_0.h5"
    ]
    assert problems == [] and all(b[0].dtype == np.float32 for b in batches)


@pytest.mark.parametrize("reuse", [False, True])
def test_read_batches_hold_the_stacks_of_the_file(small_ornl_dir, reuse):
    from cbedfeat.data import iter_file

    path = str(small_ornl_dir / "batch_train_0.h5")
    want = [s.stack for s in iter_file(path)]
    got, kept = [], []
    for stacks, _, _ in parts_mod.read_batches(path, 3, strict=False, problems=[], reuse=reuse):
        got.extend(stacks.copy())  # consumed before the next batch is read
        kept.append(stacks)
    np.testing.assert_array_equal(np.stack(got), np.stack(want))
    if not reuse:  # every batch keeps its own array
        np.testing.assert_array_equal(np.concatenate(kept), np.stack(want))
    else:  # one array, refilled: the first batch now holds later stacks
        assert np.shares_memory(kept[0], kept[1])


def test_combiner_takes_parts_in_any_order(reference, tmp_path):
    from cbedfeat.extraction.extract import PartCombiner

    res, ref_bytes, _ = reference
    parts = [f.part for f in res.files]
    schema = pq.read_schema(res.table)
    out = tmp_path / "any_order.parquet"
    combiner = PartCombiner(out, schema, len(parts))
    for i in reversed(range(len(parts))):
        combiner.add(i, parts[i])
        assert not out.exists()  # written under a hidden name until close
    with pytest.raises(ValueError, match="added twice"):
        combiner.add(0, parts[0])
    combiner.close()
    assert out.read_bytes() == ref_bytes

    unfinished = PartCombiner(tmp_path / "unfinished.parquet", schema, len(parts))
    unfinished.add(1, parts[1])
    with pytest.raises(ValueError, match=r"parts \[0"):
        unfinished.close()
    unfinished.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["any_order.parquet"]


def test_failed_run_leaves_no_combined_file(data_copy, tmp_path):
    _break_sample(data_copy / "batch_train_1.h5", "sample_3_0")
    with pytest.raises(ExtractError):
        run([data_copy], tmp_path / "f.parquet", strict=True, workers=2)
    leftovers = [p.name for p in tmp_path.iterdir() if p.is_file()]
    assert leftovers == [], leftovers


def test_batch_size_changes_features_only_by_rounding(small_ornl_dir, tmp_path, reference):
    # Batched BLAS products sum in a shape-dependent order: float32 rounding, no more.
    _, ref_bytes, ref = reference  # batch size 3
    cols = feature_columns(ref.columns)
    for size in (1, None):  # None: the CPU default
        out = tmp_path / f"batch-{size}.parquet"
        run([small_ornl_dir], out, batch_size=size)
        df = pd.read_parquet(out)
        pd.testing.assert_frame_equal(df.drop(columns=cols), ref.drop(columns=cols))
        np.testing.assert_allclose(df[cols].to_numpy(), ref[cols].to_numpy(), rtol=2e-6, atol=1e-6)


def test_unlabelled_samples_get_rows_with_null_labels(data_copy, tmp_path, reference):
    """Bare stacks, garbage labels and .npy rows: a row each, nulls where the metadata is bad."""
    ref = reference[2].set_index(["file", "group"])
    with h5py.File(data_copy / "batch_train_0.h5", "r+") as f:
        f["sample_0_0"].attrs["space_group"] = np.bytes_(b"231")
        f["sample_0_1"].attrs["abc_angstrom"] = np.array([5.0, 2.5e-314, 7.0])
        for name in list(f["sample_1_0"].attrs):
            del f["sample_1_0"].attrs[name]
    stacks = np.stack(
        [read_sample(data_copy / "batch_dev_0.h5", g).stack for g in ("sample_4_0", "sample_4_1")]
    )
    np.save(tmp_path / "stacks.npy", stacks)
    out = tmp_path / "FEATURES.parquet"
    res = run([data_copy, tmp_path / "stacks.npy"], out)
    table = pq.read_table(out)
    assert (
        table.schema.remove_metadata() == pq.read_schema(reference[0].table).remove_metadata()
    )  # same columns and types: nullable
    df = table.to_pandas()
    assert list(zip(df["file"], df["group"], strict=True)) == [
        *EXPECTED_ORDER,
        ("stacks.npy", "row_0"),
        ("stacks.npy", "row_1"),
    ]
    rows = df.set_index(["file", "group"])
    bad_label = rows.loc[("batch_train_0.h5", "sample_0_0")]
    assert pd.isna(bad_label["space_group"]) and pd.isna(bad_label["crystal_system"])
    assert bad_label["material"] == "mp-1000" and bad_label["a"] == 5.1  # the rest is kept
    bad_abc = rows.loc[("batch_train_0.h5", "sample_0_1")]
    assert bad_abc["space_group"] == 14 and pd.isna(bad_abc["a"]) and bad_abc["alpha"] == 90.0
    bare = rows.loc[("batch_train_0.h5", "sample_1_0")]
    assert bare[list(ID_COLUMNS[2:] + TARGET_COLUMNS)].drop("split").isna().all()
    for k, group in enumerate(("sample_4_0", "sample_4_1")):
        npy = rows.loc[("stacks.npy", f"row_{k}")]
        assert (
            npy["split"] == "unknown" and pd.isna(npy["space_group"]) and pd.isna(npy["material"])
        )
        feats = feature_columns(df.columns)
        np.testing.assert_allclose(
            npy[feats].to_numpy(float),
            ref.loc[("batch_dev_0.h5", group), feats].to_numpy(float),
            rtol=1e-5,
            atol=1e-6,
        )
    # Labelled rows are untouched.
    same = [k for k in EXPECTED_ORDER if k[0] != "batch_train_0.h5" or k[1] == "sample_1_1"]
    pd.testing.assert_frame_equal(
        rows.loc[same], ref.loc[same], check_dtype=False
    )  # nulls: int -> float
    with open(res.metadata_report, newline="") as fh:
        meta = list(csv.DictReader(fh))
    assert [(r["group"], r["kind"]) for r in meta] == [
        ("sample_0_0", "bad_attribute"),
        ("sample_0_1", "bad_attribute"),
        ("sample_1_0", "missing_attribute"),
    ]
    assert res.skipped == [] and res.unlabelled == 3 and "3 rows unlabelled" in res.summary()
    assert run([data_copy, tmp_path / "stacks.npy"], out).resumed == 5  # arrays resume too


def test_hdf5_dataset_source_is_one_part(small_ornl_dir, tmp_path, reference):
    stack = read_sample(small_ornl_dir / "batch_test_0.h5", "sample_5_1").stack
    with h5py.File(tmp_path / "mine.h5", "w") as f:
        f.create_dataset("a/b", data=stack)
    res = run([f"{tmp_path / 'mine.h5'}:/a/b"], tmp_path / "F.parquet")
    df = pd.read_parquet(tmp_path / "F.parquet")
    assert list(zip(df["file"], df["group"], strict=True)) == [("mine.h5:/a/b", "row_0")]
    assert Path(res.files[0].part).name == "00000-mine-a-b.parquet"
    feats = feature_columns(df.columns)
    ref = reference[2].set_index(["file", "group"]).loc[("batch_test_0.h5", "sample_5_1"), feats]
    np.testing.assert_allclose(
        df[feats].to_numpy(float)[0], ref.to_numpy(float), rtol=1e-5, atol=1e-6
    )
