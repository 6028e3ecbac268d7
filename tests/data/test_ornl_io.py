"""Reading and writing the ORNL layout: round trip, stored types, atomicity, determinism."""

import hashlib
import os
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
from ornl_samples import SMALL_ORNL_MATERIALS, build_meta, build_stack

from cbedfeat.data import (
    BadAttributeError,
    BadStackError,
    ORNLFile,
    ORNLWriter,
    find_h5_files,
    iter_samples,
    list_groups,
    read_sample,
    split_of,
)
from cbedfeat.data.ornl import open_h5
from cbedfeat.data.schema import attribute_schema, stack_schema


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _expected_meta(path, group):
    """What conftest wrote into ``group`` of ``path``."""
    i, j = (int(t) for t in group.split("_")[1:])
    _, _, sg, abc, angles, formula = next(m for m in SMALL_ORNL_MATERIALS if m[1] == i)
    return build_meta(
        file=str(path),
        group=group,
        split=split_of(path),
        material=f"mp-{1000 + i}",
        space_group=sg,
        energy_keV=(100, 110)[j],
        abc_angstrom=abc,
        angles_degree=angles,
        formula=formula,
    )


def test_round_trip_every_value(small_ornl_dir, small_ornl_expected):
    samples = list(iter_samples(small_ornl_dir, strict=True))
    assert len(samples) == small_ornl_expected["samples"]
    for stack, meta in samples:
        assert meta == _expected_meta(meta.file, meta.group)
        i, j = meta.ij
        np.testing.assert_array_equal(stack, build_stack(seed=10 * i + j))
        assert stack.dtype == np.float32 and stack.shape == small_ornl_expected["shape"]
        assert isinstance(meta.space_group, int) and isinstance(meta.energy_keV, int)
        assert isinstance(meta.material, str) and isinstance(meta.formula, str)
        assert meta.z_dirs.dtype == np.int64 and meta.z_dirs.shape == (3, 3)
        assert meta.y_dirs.dtype == np.float64 and meta.y_dirs.shape == (3, 3)
        assert not meta.abc_angstrom.flags.writeable  # frozen record


def test_stable_natural_order(small_ornl_dir):
    keys = [
        (os.path.basename(m.file), m.group)
        for _, m in iter_samples(small_ornl_dir, load_stack=False)
    ]
    assert keys == sorted(keys)  # names here have single digits, so natural == lexicographic
    assert keys[0] == ("batch_dev_0.h5", "sample_4_0")
    assert keys == [(os.path.basename(m.file), m.group) for _, m in iter_samples(small_ornl_dir)]


def test_natural_order_of_numbers(tmp_path):
    with ORNLWriter(tmp_path / "batch_train_10.h5") as w:
        for group in ("sample_10_0", "sample_2_1", "sample_2_0", "sample_1_12", "sample_1_3"):
            w.write(build_stack(size=8), build_meta(group=group))
    with ORNLWriter(tmp_path / "batch_train_2.h5") as w:
        w.write(build_stack(size=8), build_meta())
    assert list_groups(tmp_path / "batch_train_10.h5") == [
        "sample_1_3",
        "sample_1_12",
        "sample_2_0",
        "sample_2_1",
        "sample_10_0",
    ]
    assert [p.name for p in find_h5_files(tmp_path)] == ["batch_train_2.h5", "batch_train_10.h5"]


def test_official_notebook_style_read_gives_same_values(small_ornl_dir):
    """Plain h5py, as the challenge notebook reads: f[key]['cbed_stack'][()], attrs.items()."""
    path = small_ornl_dir / "batch_train_0.h5"
    ours = {m.group: (s, m) for s, m in iter_samples(path)}
    with h5py.File(path, "r", swmr=True) as f:
        assert sorted(f.keys()) == sorted(ours)
        for key in f.keys():
            stack = f[key]["cbed_stack"][()]
            attrs = dict(f[key].attrs.items())
            s, m = ours[key]
            np.testing.assert_array_equal(stack, s)
            assert int(attrs["space_group"].decode()) == m.space_group
            assert attrs["material"].decode() == m.material
            assert int(attrs["energy_keV"]) == m.energy_keV
            assert attrs["formula"] == m.formula
            np.testing.assert_array_equal(attrs["z_dirs"][0], m.z_dirs)
            np.testing.assert_array_equal(attrs["y_dirs"][0], m.y_dirs)
            for name in ("semi_angles_rad", "d_hkls_angstrom", "abc_angstrom", "angles_degree"):
                np.testing.assert_array_equal(attrs[name], getattr(m, name))


def test_stored_types_match_the_layout_table(small_ornl_dir):
    """Types as in reference/ornl_layout.md, checked on the HDF5 type itself."""
    with h5py.File(small_ornl_dir / "batch_train_1.h5", "r") as f:
        g = f["sample_2_0"]
        a = g.attrs
        # bytes, e.g. b'62': fixed-length byte string, read back as numpy.bytes_
        assert type(a["space_group"]) is np.bytes_ and a["space_group"] == b"62"
        assert type(a["material"]) is np.bytes_ and a["material"] == b"mp-1002"
        for name in ("space_group", "material"):
            t = a.get_id(name).get_type()
            assert t.get_class() == h5py.h5t.STRING and not t.is_variable_str()
        # int energy, int (1,3,3) z_dirs, float (1,3,3) y_dirs, float (3,) arrays
        assert isinstance(a["energy_keV"], np.integer) and a["energy_keV"] == 100
        assert a.get_id("energy_keV").shape == ()
        assert a["z_dirs"].dtype == np.int64 and a["z_dirs"].shape == (1, 3, 3)
        assert a["y_dirs"].dtype == np.float64 and a["y_dirs"].shape == (1, 3, 3)
        for name in ("semi_angles_rad", "d_hkls_angstrom", "abc_angstrom", "angles_degree"):
            assert a[name].dtype == np.float64 and a[name].shape == (3,)
        # str formula: variable-length UTF-8, read back as str
        assert type(a["formula"]) is str and a["formula"] == "Ca4 Ti4 O12"
        t = a.get_id("formula").get_type()
        assert t.is_variable_str() and t.get_cset() == h5py.h5t.CSET_UTF8
        ds = g["cbed_stack"]
        assert ds.dtype == np.float32 and ds.shape == (3, 64, 64)
        assert ds.chunks == ds.shape  # one whole sample per chunk
        assert ds.compression is None


_CLASS_OF_STORED = {
    "bytes": h5py.h5t.STRING,
    "str": h5py.h5t.STRING,
    "int": h5py.h5t.INTEGER,
    "float": h5py.h5t.FLOAT,
}


def test_writer_output_matches_the_manifest_schema(small_ornl_dir):
    """The document (data_manifest.yaml) and the writer cannot drift apart."""
    schema = attribute_schema()
    with h5py.File(small_ornl_dir / "batch_test_0.h5", "r") as f:
        g = f["sample_5_1"]
        assert set(g.attrs) == set(schema)
        for name, spec in schema.items():
            aid = g.attrs.get_id(name)
            t = aid.get_type()
            assert t.get_class() == _CLASS_OF_STORED[spec.stored], name
            assert aid.shape == spec.shape, name
            if spec.stored in ("int", "float"):
                assert t.get_size() == 8, name
            if spec.stored == "bytes":
                assert not t.is_variable_str(), name
            if spec.stored == "str":
                assert t.is_variable_str() and t.get_cset() == h5py.h5t.CSET_UTF8, name
        ds = g[stack_schema().name]
        assert ds.dtype == np.dtype(stack_schema().dtype)
        assert len(ds.shape) == len(stack_schema().shape)


def test_random_access_equals_iteration(small_ornl_dir):
    path = small_ornl_dir / "batch_dev_0.h5"
    by_iter = {m.group: (s, m) for s, m in iter_samples(path)}
    stack, meta = read_sample(path, "sample_4_1")
    np.testing.assert_array_equal(stack, by_iter["sample_4_1"][0])
    assert meta == by_iter["sample_4_1"][1]
    with ORNLFile(path) as f:
        assert f.groups == ["sample_4_0", "sample_4_1"]
        assert f.read("sample_4_0").meta == by_iter["sample_4_0"][1]


def test_metadata_only_iteration(small_ornl_dir):
    full = list(iter_samples(small_ornl_dir))
    light = list(iter_samples(small_ornl_dir, load_stack=False))
    assert all(s is None for s, _ in light)
    assert [m for _, m in light] == [m for _, m in full]


def test_files_open_read_only_in_swmr_mode(small_ornl_dir):
    with open_h5(small_ornl_dir / "batch_train_0.h5") as f:
        assert f.mode == "r" and f.swmr_mode


@pytest.mark.parametrize(
    ("name", "split"),
    [
        ("batch_train_0.h5", "train"),
        ("batch_dev_12.h5", "dev"),
        ("batch_test_7.h5", "test"),
        ("batch_valid_1.h5", "unknown"),
        ("train_0.h5", "unknown"),
        ("batch_train_0.h5.tmp", "unknown"),
        ("batch_train_x.h5", "unknown"),
    ],
)
def test_split_of(name, split):
    assert split_of(f"/data/{name}") == split


def test_find_h5_files(tmp_path, small_ornl_dir):
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    (nested / "batch_test_3.h5").write_bytes(b"")
    (nested / "batch_test_3.h5.tmp").write_bytes(b"")  # an unfinished write: never listed
    (nested / "notes.h5").write_bytes(b"")
    other = tmp_path / "my_file.h5"
    other.write_bytes(b"")
    found = find_h5_files([tmp_path, other, other, tmp_path / "a"])
    assert found == [nested / "batch_test_3.h5", other]
    assert len(find_h5_files(small_ornl_dir)) == 4
    assert find_h5_files(str(small_ornl_dir)) == find_h5_files([small_ornl_dir])
    with pytest.raises(FileNotFoundError):
        find_h5_files([tmp_path / "missing"])


def test_explicit_file_of_any_name_reads_as_unknown_split(tmp_path):
    path = tmp_path / "mine.h5"
    with ORNLWriter(path) as w:
        w.write(build_stack(size=8), build_meta())
    ((_, meta),) = iter_samples(path)
    assert meta.split == "unknown" and meta.file == str(path)


@pytest.mark.parametrize("compression", ["gzip", "lzf"])
def test_compression_round_trip(tmp_path, compression):
    path = tmp_path / "batch_train_0.h5"
    stack = build_stack(seed=3)
    with ORNLWriter(path, compression=compression) as w:
        w.write(stack, build_meta())
    with h5py.File(path, "r") as f:
        assert f["sample_0_0/cbed_stack"].compression == compression
    np.testing.assert_array_equal(read_sample(path, "sample_0_0").stack, stack)


def test_float64_stack_is_stored_as_float32(tmp_path):
    path = tmp_path / "batch_train_0.h5"
    stack = build_stack(seed=4).astype(np.float64)
    with ORNLWriter(path) as w:
        w.write(stack, build_meta())
    with h5py.File(path, "r") as f:
        assert f["sample_0_0/cbed_stack"].dtype == np.float32


def _write_two(path, compression=None):
    with ORNLWriter(path, compression=compression) as w:
        for i in range(2):
            w.write(build_stack(seed=i), build_meta(group=f"sample_{i}_0", material=f"mp-{i}"))


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_same_inputs_give_same_bytes(tmp_path, compression):
    a, b = tmp_path / "a" / "batch_train_0.h5", tmp_path / "b" / "batch_train_0.h5"
    _write_two(a, compression)
    _write_two(b, compression)  # later in time: no timestamps may differ
    assert _sha(a) == _sha(b)


def test_exception_mid_write_leaves_no_file(tmp_path):
    path = tmp_path / "batch_train_0.h5"
    with pytest.raises(RuntimeError), ORNLWriter(path) as w:
        w.write(build_stack(), build_meta())
        raise RuntimeError("interrupted")
    assert not path.exists()
    assert not (tmp_path / "batch_train_0.h5.tmp").exists()


def test_crash_mid_write_keeps_the_old_file_and_no_half_file(tmp_path):
    path = tmp_path / "batch_train_0.h5"
    _write_two(path)
    before = _sha(path)
    # A process that dies (no clean-up at all) in the middle of rewriting the file.
    code = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(os.path.dirname(os.path.dirname(__file__)))!r})
        from ornl_samples import build_meta, build_stack
        from cbedfeat.data import ORNLWriter
        w = ORNLWriter({str(path)!r})
        w.write(build_stack(seed=9), build_meta(material="mp-999"))
        w._f.flush()
        os._exit(3)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert proc.returncode == 3, proc.stderr.decode()
    assert _sha(path) == before  # the real name still holds the complete old file
    assert (tmp_path / "batch_train_0.h5.tmp").exists()
    assert find_h5_files(tmp_path) == [path]  # the leftover is never read


def test_writer_refuses_what_the_reader_would_refuse(tmp_path):
    path = tmp_path / "batch_train_0.h5"
    with ORNLWriter(path) as w:
        with pytest.raises(BadStackError, match="dtype int"):
            w.write(np.ones((3, 8, 8), dtype=np.int32), build_meta())
        with pytest.raises(BadStackError, match="non-finite"):
            w.write(np.full((3, 8, 8), np.nan), build_meta())
        with pytest.raises(BadStackError, match="orientations"):
            w.write(np.ones((4, 8, 8), dtype=np.float32), build_meta())
        with pytest.raises(BadAttributeError, match="space_group.*out of range"):
            w.write(build_stack(size=8), build_meta(space_group=231))
        with pytest.raises(BadAttributeError, match="abc_angstrom"):
            w.write(build_stack(size=8), build_meta(abc_angstrom=(5.0, 2.5e-314, 7.0)))
        with pytest.raises(BadAttributeError, match="sample_<i>_<j>"):
            w.write(build_stack(size=8), build_meta(group="my_sample"))
        w.write(build_stack(size=8), build_meta())
        with pytest.raises(BadAttributeError, match="already written"):
            w.write(build_stack(size=8), build_meta())
        assert w.n_written == 1
    assert list_groups(path) == ["sample_0_0"]


def test_writer_ignores_file_and_split_of_meta(tmp_path):
    path = tmp_path / "batch_dev_1.h5"
    with ORNLWriter(path) as w:
        w.write(build_stack(size=8), build_meta(file="elsewhere.h5", split="train"))
    meta = read_sample(path, "sample_0_0").meta
    assert (meta.file, meta.split) == (str(path), "dev")


def test_sample_meta_is_hashable_consistently_with_equality():
    a, b = build_meta(), build_meta()
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != build_meta(y_dirs=[[[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]])


def test_reads_a_file_another_process_is_writing_in_swmr_mode(tmp_path):
    """The reader opens like the official notebook (swmr=True), so a live SWMR writer is fine."""
    path = tmp_path / "batch_train_0.h5"
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(os.path.dirname(os.path.dirname(__file__)))!r})
        import h5py
        from ornl_samples import build_meta, build_stack
        from cbedfeat.data.ornl_write import encode_attribute
        from cbedfeat.data.schema import attribute_schema
        meta = build_meta()
        f = h5py.File({str(path)!r}, "w", libver="latest")
        g = f.create_group(meta.group)
        for name, spec in attribute_schema().items():
            g.attrs[name] = encode_attribute(getattr(meta, name), spec)
        g.create_dataset("cbed_stack", data=build_stack(size=8), chunks=(3, 8, 8))
        f.swmr_mode = True
        f.flush()
        print("ready", flush=True)
        sys.stdin.readline()  # hold the file open for writing until told to stop
        f.close()
    """)
    writer = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline().strip() == "ready"
        ((stack, meta),) = iter_samples(path, strict=True)
        assert meta == build_meta(file=str(path), split="train")
        np.testing.assert_array_equal(stack, build_stack(size=8))
    finally:
        writer.communicate("done\n", timeout=60)
    assert writer.returncode == 0
