"""Library side of ``inspect``: one streaming pass gives the right counts and ranges."""

import numpy as np
import pytest
from ornl_samples import build_meta, build_stack

from cbedfeat.data import CBEDDataError, ORNLWriter
from cbedfeat.data.summary import summarize


def test_counts_of_the_small_directory(small_ornl_dir, small_ornl_expected):
    s = summarize(small_ornl_dir)
    exp = small_ornl_expected
    assert s.ok and s.n_samples == exp["samples"] and s.n_materials == exp["materials"]
    assert s.samples_per_split == exp["per_split"]
    assert {k: v["samples"] for k, v in s.space_groups.items()} == exp["per_space_group"]
    assert list(s.crystal_systems) == [
        "monoclinic",
        "orthorhombic",
        "hexagonal",
        "cubic",
    ]  # ITA order
    assert [f["samples"] for f in s.files] == [2, 2, 4, 4]  # dev, test, train_0, train_1
    assert s.ranges["angles_degree"] == [90.0, 120.0]


def test_ranges_are_exact(tmp_path):
    path = tmp_path / "batch_train_0.h5"
    stack = build_stack(size=8)
    stack[0, 0, 0] = 0.0
    stack[2, 7, 7] = 1234.5
    with ORNLWriter(path) as w:
        w.write(stack, build_meta(energy_keV=120, z_dirs=[[[1, 0, 0], [0, -2, 1], [1, 1, 3]]]))
        w.write(build_stack(size=8), build_meta(group="sample_0_1", energy_keV=300))
    s = summarize(path)
    assert s.ranges["energy_keV"] == [120, 300]
    assert s.ranges["z_dirs"] == [-2, 3]
    assert s.ranges["intensity"] == [0.0, pytest.approx(1234.5)]
    assert s.stack_shapes == {"3x8x8": 2}


def test_a_material_counted_once_per_group_of_samples(tmp_path):
    with ORNLWriter(tmp_path / "batch_dev_0.h5") as w:
        for j in range(3):
            w.write(build_stack(size=8), build_meta(group=f"sample_0_{j}", material="mp-7"))
    s = summarize(tmp_path)
    assert s.space_groups == {14: {"samples": 3, "materials": 1}}
    assert s.materials_per_split == {"dev": 1}


def test_strict_raises_and_non_strict_records(tmp_path):
    (tmp_path / "batch_dev_0.h5").write_bytes(b"junk")
    s = summarize(tmp_path)
    assert not s.ok and s.n_samples == 0 and s.files[0]["opened"] is False
    with pytest.raises(CBEDDataError):
        summarize(tmp_path, strict=True)


def test_json_round_trip(small_ornl_dir):
    import json

    d = json.loads(summarize(small_ornl_dir, load_stack=False).to_json())
    assert d["n_samples"] == 12 and d["stacks_checked"] is False
    assert np.isclose(
        d["ranges"]["semi_angles_rad"][0], 0.035136 / (4 * 2.5), rtol=1e-3
    )  # lambda(110 keV)
