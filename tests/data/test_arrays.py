"""Array sources (.npy files, FILE.h5:/dataset) and the mixed input list."""

import h5py
import numpy as np
import pytest
from ornl_samples import build_stack

from cbedfeat.data import BadStackError, FileOpenError, MissingDataError, Problem
from cbedfeat.data.arrays import count_rows, iter_array, parse_array_source
from cbedfeat.data.sources import iter_inputs, resolve_inputs, source_file


def _stacks(n, size=8):
    return np.stack([build_stack(seed=k, size=size) for k in range(n)])


def test_npy_rows_are_samples_and_bad_rows_are_named(tmp_path):
    arr = _stacks(4).astype(np.float64)
    arr[1, 0, 2, 2] = np.nan
    arr[3, 2, 0, 0] = 1e300  # beyond float32: Inf once cast
    path = tmp_path / "stacks.npy"
    np.save(path, arr)
    problems: list[Problem] = []
    samples = list(iter_array(str(path), problems=problems))
    assert [s.meta.group for s in samples] == ["row_0", "row_2"]
    assert all(
        s.meta.file == str(path) and s.meta.space_group is None and not s.meta.labelled
        for s in samples
    )
    np.testing.assert_array_equal(samples[1].stack, arr[2].astype(np.float32))
    assert samples[0].stack.dtype == np.float32
    assert [(p.file, p.group, p.kind) for p in problems] == [
        (str(path), "row_1", "bad_stack"),
        (str(path), "row_3", "bad_stack"),
    ]
    assert "1 NaN" in problems[0].reason and "1 Inf" in problems[1].reason
    with pytest.raises(BadStackError, match="row_1"):
        list(iter_array(str(path), strict=True))
    assert count_rows(str(path)) == 4


def test_one_stack_is_row_0(tmp_path):
    np.save(tmp_path / "one.npy", build_stack(size=8))
    (sample,) = iter_array(str(tmp_path / "one.npy"))
    assert sample.meta.group == "row_0" and sample.stack.shape == (3, 8, 8)


@pytest.mark.parametrize(
    "array, text",
    [
        (np.zeros((2, 4, 8, 8), np.float32), "orientations"),
        (np.zeros((8, 8), np.float32), "2-D"),
        (np.zeros((2, 3, 8, 8), np.int16), "dtype int16"),
    ],
)
def test_bad_array_layout_is_one_problem_naming_the_source(tmp_path, array, text):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    problems: list[Problem] = []
    assert list(iter_array(str(path), problems=problems)) == []
    assert len(problems) == 1 and problems[0].file == str(path) and problems[0].group is None
    assert problems[0].kind == "bad_stack" and text in problems[0].reason


def test_not_an_npy_file(tmp_path):
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(FileOpenError, match="junk.npy"):
        list(iter_array(str(tmp_path / "junk.npy"), strict=True))
    with pytest.raises(FileNotFoundError):
        parse_array_source(tmp_path / "missing.npy")


def test_hdf5_dataset_source(tmp_path):
    path = tmp_path / "mine.h5"
    arr = _stacks(3)
    arr[2, 1, 1, 1] = np.inf
    with h5py.File(path, "w") as f:
        f.create_dataset("data/stacks", data=arr, chunks=(1, 3, 8, 8))
        f.create_dataset("data/flat", data=np.zeros(5))
    name = f"{path}:/data/stacks"
    src = parse_array_source(name)
    assert (src.path, src.dataset) == (path, "/data/stacks") and source_file(name) == path
    problems: list[Problem] = []
    got = list(iter_array(name, problems=problems))
    assert [s.meta.group for s in got] == ["row_0", "row_1"] and got[0].meta.file == name
    np.testing.assert_array_equal(got[1].stack, arr[1])
    assert [(p.file, p.group) for p in problems] == [(name, "row_2")]
    with pytest.raises(MissingDataError, match="no such dataset"):
        list(iter_array(f"{path}:/nope", strict=True))
    problems = []
    assert list(iter_array(f"{path}:/data/flat", problems=problems)) == []
    assert problems[0].kind == "bad_stack" and problems[0].file == f"{path}:/data/flat"


def test_mixed_inputs_keep_ornl_order_then_arrays(small_ornl_dir, tmp_path):
    np.save(tmp_path / "a.npy", _stacks(2))
    sources = resolve_inputs([tmp_path / "a.npy", small_ornl_dir])
    assert sources[-1] == str(tmp_path / "a.npy")
    assert [s.rsplit("/", 1)[-1] for s in sources[:-1]] == [
        "batch_dev_0.h5",
        "batch_test_0.h5",
        "batch_train_0.h5",
        "batch_train_1.h5",
    ]
    samples = list(iter_inputs([small_ornl_dir, tmp_path / "a.npy"], require_metadata=False))
    assert len(samples) == 12 + 2 and sum(s.meta.labelled for s in samples) == 12
    with pytest.raises(FileNotFoundError):
        resolve_inputs([tmp_path / "gone.h5:/x"])
