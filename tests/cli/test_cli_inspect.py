"""``cbedfeat inspect``: counts, JSON output and exit codes."""

import json
import shutil
import subprocess
import sys

from click.testing import CliRunner

from cbedfeat.cli import main


def _run(*args):
    return CliRunner().invoke(main, ["inspect", *map(str, args)])


def test_counts_on_a_valid_directory(small_ornl_dir, small_ornl_expected):
    result = _run(small_ornl_dir, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    exp = small_ornl_expected
    assert data["n_files"] == exp["files"] and data["n_samples"] == exp["samples"]
    assert data["n_materials"] == exp["materials"] and data["n_problems"] == 0
    assert data["samples_per_split"] == exp["per_split"]
    assert data["materials_per_split"] == {"train": 4, "dev": 1, "test": 1}
    assert {int(k): v["samples"] for k, v in data["space_groups"].items()} == exp["per_space_group"]
    assert {int(k): v["materials"] for k, v in data["space_groups"].items()} == exp[
        "materials_per_space_group"
    ]
    assert {k: v["samples"] for k, v in data["crystal_systems"].items()} == exp[
        "per_crystal_system"
    ]
    assert data["ranges"]["energy_keV"] == [100, 110]
    assert data["ranges"]["abc_angstrom"] == [3.2, 8.8]
    assert data["stack_shapes"] == {"3x64x64": 12}
    assert data["problems"] == []


def test_text_report(small_ornl_dir):
    result = _run(small_ornl_dir, "--top", "2")
    assert result.exit_code == 0
    out = result.output
    assert "samples: 12 valid, 6 materials, 0 problems" in out
    lines = out.splitlines()
    assert any(line.split() == ["train", "2", "8", "4"] for line in lines)
    assert any(line.split() == ["14", "P2_1/c", "monoclinic", "4", "2"] for line in lines)
    assert any(line.split() == ["225", "Fm-3m", "cubic", "4", "2"] for line in lines)
    assert not any(line.split()[:1] == ["62"] for line in lines)  # --top 2
    assert "problems: none" in out


def test_problems_give_exit_1_and_are_listed(small_ornl_dir, tmp_path):
    shutil.copy(small_ornl_dir / "batch_dev_0.h5", tmp_path / "batch_dev_0.h5")
    (tmp_path / "batch_test_0.h5").write_bytes(b"not hdf5")
    result = _run(tmp_path, "--json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["n_samples"] == 2 and data["n_problems"] == 1
    assert data["problems"][0]["kind"] == "file_open"
    assert data["problems"][0]["file"].endswith("batch_test_0.h5")
    assert [f["opened"] for f in data["files"]] == [True, False]
    text = _run(tmp_path)
    assert (
        text.exit_code == 1 and "problems (1):" in text.output and "batch_test_0.h5" in text.output
    )


def test_strict_stops_with_exit_1(tmp_path, small_ornl_dir):
    shutil.copy(small_ornl_dir / "batch_dev_0.h5", tmp_path / "batch_dev_0.h5")
    (tmp_path / "batch_dev_1.h5").write_bytes(b"")
    result = _run(tmp_path, "--strict")
    assert result.exit_code == 1
    assert "batch_dev_1.h5" in result.output and "empty" in result.output


def test_metadata_only(small_ornl_dir):
    data = json.loads(_run(small_ornl_dir, "--json", "--metadata-only").output)
    assert data["n_samples"] == 12 and data["stacks_checked"] is False
    assert "intensity" not in data["ranges"]


def test_usage_errors_exit_2(tmp_path):
    assert _run().exit_code == 2  # no PATH
    assert _run(tmp_path / "missing").exit_code == 2  # PATH does not exist
    assert _run(tmp_path).exit_code == 2  # no batch_*.h5 inside
    assert _run(tmp_path, "--top", "0").exit_code == 2  # bad option value
    assert _run(tmp_path, "--no-such-option").exit_code == 2


def test_console_script_exit_codes(small_ornl_dir, tmp_path):
    """The real process, not the test runner: exit status 0 / 1 / 2."""

    def code(*args):
        return subprocess.run(
            [sys.executable, "-m", "cbedfeat", "inspect", *map(str, args)],
            capture_output=True,
            timeout=120,
        ).returncode

    (tmp_path / "batch_dev_0.h5").write_bytes(b"junk")
    assert code(small_ornl_dir / "batch_dev_0.h5") == 0
    assert code(tmp_path) == 1
    assert code(tmp_path / "missing") == 2


def test_compare_with_the_real_data_set(small_ornl_dir):
    result = _run(small_ornl_dir, "--compare-ornl")
    assert result.exit_code == 0
    assert any(
        line.split() == ["train", "2", "8", "4", "148006"] for line in result.output.splitlines()
    )
    data = json.loads(_run(small_ornl_dir, "--json", "--compare-ornl").output)
    assert data["expected_samples_per_split"] == {"train": 148006, "dev": 20400, "test": 18749}


def _with_bad_metadata(small_ornl_dir, tmp_path):
    """batch_dev_0.h5 with a garbage label on sample_4_0 and no attributes on sample_4_1."""
    import h5py

    path = tmp_path / "batch_dev_0.h5"
    shutil.copy(small_ornl_dir / "batch_dev_0.h5", path)
    with h5py.File(path, "a") as f:
        f["sample_4_0"].attrs["space_group"] = b"abc"
        for name in list(f["sample_4_1"].attrs):
            del f["sample_4_1"].attrs[name]
    return path


def test_metadata_problems_are_counted_apart_and_exit_3(small_ornl_dir, tmp_path):
    _with_bad_metadata(small_ornl_dir, tmp_path)
    result = _run(tmp_path, "--json")
    assert result.exit_code == 3, result.output
    data = json.loads(result.output)
    assert data["n_samples"] == 0 and data["n_unlabelled"] == 2
    assert data["unlabelled_per_split"] == {"dev": 2}
    assert data["n_pattern_problems"] == 0 and data["problems"] == []
    assert data["n_metadata_problems"] == 2
    assert {(p["group"], p["kind"]) for p in data["metadata_problems"]} == {
        ("sample_4_0", "bad_attribute"),
        ("sample_4_1", "missing_attribute"),
    }
    assert data["stack_shapes"] == {"3x64x64": 2}  # the patterns were checked and counted
    assert data["files"][0]["unlabelled"] == 2 and data["files"][0]["metadata_problems"] == 2
    text = _run(tmp_path)
    assert (
        text.exit_code == 3
        and "metadata problems (2): 2 samples usable for prediction only" in text.output
        and "pattern problems" not in text.output
    )
    assert _run(tmp_path, "--strict").exit_code == 3  # the first problem is a metadata one


def test_both_kinds_exit_4(small_ornl_dir, tmp_path):
    _with_bad_metadata(small_ornl_dir, tmp_path)
    (tmp_path / "batch_test_0.h5").write_bytes(b"not hdf5")
    result = _run(tmp_path, "--json")
    assert result.exit_code == 4
    data = json.loads(result.output)
    assert (data["n_pattern_problems"], data["n_metadata_problems"], data["n_problems"]) == (
        1,
        2,
        3,
    )
    assert "Exit status" in _run("--help").output and "4  both kinds" in _run("--help").output
