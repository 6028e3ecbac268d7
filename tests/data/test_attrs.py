"""AttributeReader returns what h5py's ``attrs[name]`` returns, type and value."""

import h5py
import numpy as np
import pytest

from cbedfeat.data.attrs import AttributeReader

# Attribute kinds seen in ORNL files and the odd ones that real files may hold.
VALUES = {
    "fixed_bytes": np.bytes_(b"14"),
    "vlen_str": "Fe8 O14 F2",
    "empty": h5py.Empty("f8"),
    "int": np.int64(100),
    "float": np.float64(0.5),
    "float128": np.longdouble("2.5e-314"),
    "array": np.arange(9, dtype=np.int64).reshape(1, 3, 3),
    "floats": np.array([1.5, 2.5, 3.5]),
    "str_array": np.array([b"a", b"bc"]),
    "unicode": "α-Fe₂O₃",
}


def _write(path, groups):
    with h5py.File(path, "w") as f:
        for name, attrs in groups.items():
            g = f.create_group(name)
            for key, value in attrs.items():
                g.attrs[key] = value
        # A top-level array type (NumPy has none: h5py fakes the shape).
        f["g0"].attrs.create("array_type", np.zeros(2, "(3,)f4") + 1.0, dtype=np.dtype("(3,)f4"))


def _same(got, want):
    assert type(got) is type(want), (type(got), type(want))
    if isinstance(want, h5py.Empty):
        assert got.dtype == want.dtype
    elif isinstance(want, np.ndarray):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    else:
        assert got == want or (np.isnan(got) and np.isnan(want))


def test_reader_equals_h5py_for_every_kind(tmp_path):
    path = tmp_path / "a.h5"
    # The second group changes some types (a longer fixed string, int32, float32):
    # a cached conversion must not be reused for them.
    changed = dict(VALUES, fixed_bytes=np.bytes_(b"230"), int=np.int32(7), float=np.float32(2.0))
    _write(path, {"g0": VALUES, "g1": changed, "g2": VALUES})
    reader = AttributeReader()
    with h5py.File(path, "r") as f:
        for group in ("g0", "g1", "g2", "g0"):
            g = f[group]
            for name in g.attrs:
                _same(reader.read(g, name), g.attrs[name])


def test_missing_attribute_is_a_key_error(tmp_path):
    path = tmp_path / "a.h5"
    _write(path, {"g0": {"x": 1}})
    with h5py.File(path, "r") as f, pytest.raises(KeyError):
        AttributeReader().read(f["g0"], "missing")
