"""The data manifest: present, consistent with the reference counts and with the code."""

import dataclasses
from pathlib import Path

import pytest
import yaml

from cbedfeat.data import SampleMeta
from cbedfeat.data import schema as manifest
from cbedfeat.data.reference import load_ornl_counts

ROOT = Path(__file__).resolve().parents[2]


def test_root_file_is_the_packaged_manifest():
    root = ROOT / "data_manifest.yaml"
    assert root.is_symlink() or root.is_file()
    assert root.read_text() == manifest.manifest_path().read_text()


def test_schema_names_every_sample_meta_attribute():
    record = {"file", "group", "split", "problems"}  # where it came from, what was wrong with it
    fields = [f.name for f in dataclasses.fields(SampleMeta)]
    assert set(manifest.attribute_schema()) == set(fields) - record


def test_schema_types_as_in_the_layout_table():
    s = manifest.attribute_schema()
    table = {  # reference/ornl_layout.md
        "space_group": ("bytes", ()),
        "material": ("bytes", ()),
        "energy_keV": ("int", ()),
        "z_dirs": ("int", (1, 3, 3)),
        "y_dirs": ("float", (1, 3, 3)),
        "semi_angles_rad": ("float", (3,)),
        "d_hkls_angstrom": ("float", (3,)),
        "abc_angstrom": ("float", (3,)),
        "angles_degree": ("float", (3,)),
        "formula": ("str", ()),
    }
    assert {k: (v.stored, v.shape) for k, v in s.items()} == table
    assert (s["abc_angstrom"].gt, s["abc_angstrom"].lt) == (0.5, 100.0)
    assert (s["angles_degree"].gt, s["angles_degree"].lt) == (0.0, 180.0)
    assert (s["space_group"].ge, s["space_group"].le) == (1, 230)
    assert all(
        s[k].unit for k in ("energy_keV", "abc_angstrom", "angles_degree", "semi_angles_rad")
    )
    stack = manifest.stack_schema()
    assert (stack.name, stack.dtype, stack.shape, stack.fixed_axes) == (
        "cbed_stack",
        "float32",
        (3, 512, 512),
        {0: 3},
    )


def test_split_counts_agree_with_the_reference_table():
    counts = load_ornl_counts()
    assert list(counts.columns) == ["space_group", "train", "dev", "test", "total"]
    assert counts["space_group"].tolist() == list(range(1, 231))
    sums = {s: int(counts[s].sum()) for s in ("train", "dev", "test")}
    assert (
        sums == manifest.expected_split_counts() == {"train": 148006, "dev": 20400, "test": 18749}
    )
    assert (counts["train"] > 0).sum() == manifest.load_manifest()["ornl"]["space_groups_in_train"]
    assert (counts["train"] + counts["dev"] + counts["test"] == counts["total"]).all()
    assert (
        round(int(counts.loc[counts.space_group == 14, "train"].iloc[0]) / sums["train"], 2) == 0.08
    )


def test_file_and_group_patterns():
    m = manifest.load_manifest()["ornl"]
    assert m["files"]["count"] == 1138
    assert manifest.file_regex().match("batch_dev_41.h5").group(1) == "dev"
    assert manifest.file_regex().match("batch_dev_41.h5.tmp") is None
    assert manifest.group_regex().match("sample_12_9").groups() == ("12", "9")
    assert m["energies_keV"] == list(range(100, 200, 10))
    assert "cbedfeat inspect" in m["check"]


@pytest.mark.parametrize("name", ["demo", "bench"])
def test_presets(name):
    p = manifest.preset(name)
    for key in ("description", "materials", "energies", "seed", "samples_per_file"):
        assert key in p, key
    assert isinstance(p["seed"], int)
    p["seed"] = -1  # a copy: the next caller still gets the manifest's value
    assert manifest.preset(name)["seed"] != -1
    assert name in manifest.preset_names()


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(KeyError, match="demo"):
        manifest.preset("nope")


def test_a_typo_in_the_schema_is_refused():
    data = yaml.safe_load(manifest.manifest_path().read_text())
    data["ornl"]["attributes"]["abc_angstrom"]["gt_"] = 0.5
    with pytest.raises(ValueError, match="unknown keys"):
        manifest._check_manifest(data)
    data = yaml.safe_load(manifest.manifest_path().read_text())
    data["ornl"]["attributes"]["formula"]["stored"] = "text"
    with pytest.raises(ValueError, match="stored/value"):
        manifest._check_manifest(data)
