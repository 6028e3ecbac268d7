"""The malformed corpus of the foundation issue: good samples, bad samples, bad files.

``write_corpus(root)`` writes it; the tables below say what each group holds. Used by
``tests/test_validation.py`` (the reader) and ``tests/test_predict.py`` (prediction).
"""

from __future__ import annotations

import os

import h5py
import numpy as np
from ornl_samples import build_meta, build_stack

from cbedfeat.data import (
    METADATA_KINDS,
    BadAttributeError,
    BadStackError,
    MissingAttributeError,
    MissingDataError,
    ORNLWriter,
)


def _set_attr(name, value):
    def mutate(g):
        g.attrs[name] = value

    return mutate


def _del_attr(name):
    def mutate(g):
        del g.attrs[name]

    return mutate


def _replace_stack(data):
    def mutate(g):
        del g["cbed_stack"]
        g.create_dataset("cbed_stack", data=data)

    return mutate


def _nan_stack():
    s = build_stack(size=8)
    s[1, 3, 4] = np.nan
    return s


def _inf_stack():
    s = build_stack(size=8)
    s[2, 0, 0] = np.inf
    return s


# group -> (mutation of a good group, expected error, text the reason must contain)
BAD_GROUPS = {
    "sample_1_0": (_replace_stack(np.zeros((4, 8, 8), np.float32)), BadStackError, "orientations"),
    "sample_1_1": (_replace_stack(np.zeros((8, 8), np.float32)), BadStackError, "2-D"),
    "sample_1_2": (_replace_stack(np.zeros((3, 8, 8, 1), np.float32)), BadStackError, "4-D"),
    "sample_1_3": (_replace_stack(_nan_stack()), BadStackError, "1 NaN"),
    "sample_1_4": (_replace_stack(_inf_stack()), BadStackError, "1 Inf"),
    "sample_1_5": (_replace_stack(np.ones((3, 8, 8), np.int32)), BadStackError, "dtype int32"),
    "sample_1_6": (
        lambda g: g.__delitem__("cbed_stack"),
        MissingDataError,
        "'cbed_stack' is missing",
    ),
    "sample_2_0": (_set_attr("space_group", np.bytes_(b"0")), BadAttributeError, "space_group"),
    "sample_2_1": (_set_attr("space_group", np.bytes_(b"231")), BadAttributeError, "out of range"),
    "sample_2_2": (
        _set_attr("space_group", np.bytes_(b"abc")),
        BadAttributeError,
        "not an integer",
    ),
    "sample_2_3": (_del_attr("energy_keV"), MissingAttributeError, "'energy_keV' is missing"),
    "sample_2_4": (
        _set_attr("abc_angstrom", np.array([5.0, 2.5e-314, 7.0])),
        BadAttributeError,
        "garbage value 2.5e-314",
    ),
    "sample_2_5": (
        _set_attr("d_hkls_angstrom", np.array([2.0, 2.5e-314, 1.0], dtype=np.longdouble)),
        BadAttributeError,
        "garbage",
    ),
    "sample_2_6": (_set_attr("formula", np.bytes_(b"Fe\xff\xfe O3")), BadAttributeError, "UTF-8"),
    "sample_2_7": (
        _set_attr("z_dirs", np.ones((3, 3), np.int64)),
        BadAttributeError,
        "shape (3, 3)",
    ),
    "sample_2_8": (_set_attr("z_dirs", np.full((1, 3, 3), 0.5)), BadAttributeError, "not integer"),
    "sample_2_9": (
        _set_attr("abc_angstrom", np.array([5.0, 150.0, 7.0])),
        BadAttributeError,
        "out of range",
    ),
    "sample_3_0": (
        _set_attr("angles_degree", np.array([90.0, 180.0, 90.0])),
        BadAttributeError,
        "out of range",
    ),
    "sample_3_1": (
        _set_attr("semi_angles_rad", np.array([np.nan, 0.01, 0.01])),
        BadAttributeError,
        "non-finite",
    ),
    "sample_3_2": (_set_attr("energy_keV", np.int64(5)), BadAttributeError, "energy_keV"),
    "sample_3_3": (_set_attr("material", np.bytes_(b"")), BadAttributeError, "empty"),
    "sample_3_4": (_set_attr("y_dirs", np.ones((1, 3, 2))), BadAttributeError, "y_dirs"),
}
GOOD_GROUPS = ("sample_0_0", "sample_0_1", "sample_9_0")


def write_groups(path, groups):
    with ORNLWriter(path) as w:
        for k, group in enumerate(groups):
            w.write(build_stack(seed=k, size=8), build_meta(group=group))


def write_corpus(root):
    """Write the corpus into directory ``root`` (returned): good and bad samples, bad files."""
    mixed = root / "batch_train_0.h5"
    write_groups(mixed, [*GOOD_GROUPS[:2], *BAD_GROUPS, GOOD_GROUPS[2]])
    with h5py.File(mixed, "a") as f:
        for group, (mutate, _, _) in BAD_GROUPS.items():
            mutate(f[group])
        f.create_dataset("sample_4_0", data=np.zeros(3))  # a member that is no group
    write_groups(root / "batch_test_0.h5", ["sample_7_0", "sample_7_1"])

    write_groups(root / "batch_dev_0.h5", ["sample_8_0"])
    data = (root / "batch_dev_0.h5").read_bytes()
    (root / "batch_dev_1.h5").write_bytes(data[: len(data) // 2])  # truncated
    (root / "batch_dev_0.h5").unlink()
    (root / "batch_dev_2.h5").write_bytes(b"space_group,train\n14,9\n")  # not HDF5
    (root / "batch_dev_3.h5").write_bytes(b"")  # empty
    os.symlink(root / "gone.h5", root / "batch_dev_4.h5")  # unreadable: dangling link

    # A damaged chunk: the group opens and its attributes read, the stack does not.
    damaged = root / "batch_train_1.h5"
    with ORNLWriter(damaged, compression="gzip") as w:
        for k, group in enumerate(["sample_5_0", "sample_5_1"]):
            w.write(build_stack(seed=k, size=32), build_meta(group=group))
    with h5py.File(damaged, "r") as f:
        ds = f["sample_5_0/cbed_stack"]
        info = ds.id.get_chunk_info(0)
        offset, size = info.byte_offset, info.size
    with open(damaged, "r+b") as fh:
        fh.seek(offset)
        fh.write(b"\x00garbage" * (size // 8))
    return root


# Groups whose pattern is fine and only an attribute is bad, and the field left empty.
METADATA_GROUPS = {g: v for g, v in BAD_GROUPS.items() if v[1].kind in METADATA_KINDS}
EMPTY_FIELD = {
    "sample_2_0": "space_group",
    "sample_2_1": "space_group",
    "sample_2_2": "space_group",
    "sample_2_3": "energy_keV",
    "sample_2_4": "abc_angstrom",
    "sample_2_5": "d_hkls_angstrom",
    "sample_2_6": "formula",
    "sample_2_7": "z_dirs",
    "sample_2_8": "z_dirs",
    "sample_2_9": "abc_angstrom",
    "sample_3_0": "angles_degree",
    "sample_3_1": "semi_angles_rad",
    "sample_3_2": "energy_keV",
    "sample_3_3": "material",
    "sample_3_4": "y_dirs",
}

FILE_PROBLEMS = {
    "batch_dev_1.h5": "cannot open as HDF5",
    "batch_dev_2.h5": "cannot open as HDF5",
    "batch_dev_3.h5": "empty",
    "batch_dev_4.h5": "cannot stat",
}
