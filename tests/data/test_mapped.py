"""Zero-copy stacks: StackMapper views and the batches built from them."""

import h5py
import numpy as np
import pytest

from cbedfeat.data import ORNLWriter, iter_file
from cbedfeat.data.mapped import StackMapper
from cbedfeat.extraction.parts import read_batches
from cbedfeat.features import StackFeaturizer
from cbedfeat.features.config import FeatureConfig


def _dataset_file(path, data, **kw):
    with h5py.File(path, "w", **{k: v for k, v in kw.items() if k == "userblock_size"}) as f:
        f.create_dataset("d", data=data, **{k: v for k, v in kw.items() if k != "userblock_size"})


@pytest.mark.parametrize(
    "layout",
    [{}, {"chunks": (3, 16, 16)}],  # contiguous; one chunk covering the dataset
    ids=["contiguous", "one-chunk"],
)
def test_view_equals_the_stored_values_and_is_read_only(tmp_path, make_stack, layout):
    stack = make_stack(seed=3, size=16)
    path = tmp_path / "a.h5"
    _dataset_file(path, stack, **layout)
    with h5py.File(path, "r") as f, StackMapper(path, f) as mapper:
        view = mapper.view(f["d"])
    assert view is not None and not view.flags.writeable
    np.testing.assert_array_equal(view, stack)  # still valid: the view owns its map


@pytest.mark.parametrize(
    "data,layout",
    [
        (np.ones((3, 16, 16), np.float32), {"chunks": (3, 16, 16), "compression": "gzip"}),
        (np.ones((3, 16, 16), np.float32), {"chunks": (1, 16, 16)}),  # three chunks
        (np.ones((3, 16, 16), ">f4"), {}),  # big-endian
        (np.ones((3, 16, 16), np.float64), {}),
        (np.ones((3, 16, 16), np.float32), {"userblock_size": 512}),
    ],
    ids=["gzip", "several-chunks", "big-endian", "float64", "user-block"],
)
def test_no_view_where_the_data_is_not_one_raw_float32_extent(tmp_path, data, layout):
    path = tmp_path / "a.h5"
    _dataset_file(path, data, **layout)
    with h5py.File(path, "r") as f, StackMapper(path, f) as mapper:
        assert mapper.view(f["d"]) is None
        np.testing.assert_array_equal(f["d"][()], data)  # read the usual way instead


def test_no_view_of_an_extent_beyond_the_end_of_the_file(tmp_path):
    path = tmp_path / "a.h5"
    _dataset_file(path, np.ones((3, 64, 64), np.float32))
    with h5py.File(path, "r") as f:
        mapper = StackMapper(path, f)
        mapper._size = 1024  # as if the file had been cut short after opening
        assert mapper.view(f["d"]) is None
        mapper.close()


def _write(path, make_stack, make_meta, n, compression=None):
    with ORNLWriter(path, compression=compression) as w:
        for i in range(n):
            w.write(make_stack(seed=i, size=32), make_meta(group=f"sample_{i}_0"))


def test_mapped_samples_equal_copied_ones(tmp_path, make_stack, make_meta):
    path = tmp_path / "batch_train_0.h5"
    _write(path, make_stack, make_meta, 3)
    copied = list(iter_file(path))
    mapped = list(iter_file(path, mapped=True))
    assert [s.meta.group for s in mapped] == [s.meta.group for s in copied]
    for a, b in zip(copied, mapped, strict=True):
        assert a.stack.flags.writeable and not b.stack.flags.writeable
        np.testing.assert_array_equal(a.stack, b.stack)


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_mapped_batches_give_the_same_features(tmp_path, make_stack, make_meta, compression):
    path = tmp_path / "batch_train_0.h5"
    _write(path, make_stack, make_meta, 5, compression)
    fx = StackFeaturizer(FeatureConfig(polar_n_r=16, polar_n_phi=32), batch_size=2)
    kw = {"strict": True, "problems": []}
    plain = list(read_batches(str(path), 2, **kw))
    # A reused batch is overwritten by the next one: each is used before the next read.
    mapped = read_batches(str(path), 2, reuse=True, mapped=True, **kw)
    for (stacks, metas, _), (views, vmetas, _) in zip(plain, mapped, strict=True):
        # Uncompressed stacks come as a list of views, gzip ones in one array.
        assert isinstance(views, list) == (compression is None)
        assert [m.group for m in metas] == [m.group for m in vmetas]
        np.testing.assert_array_equal(fx.transform(views), fx.transform(stacks))
    assert [len(b[1]) for b in plain] == [2, 2, 1]


def test_featurizer_takes_a_list_of_read_only_stacks(make_stack):
    stacks = np.stack([make_stack(seed=s, size=48) for s in range(5)])
    views = [s.copy() for s in stacks]
    for v in views:
        v.setflags(write=False)
    fx = StackFeaturizer(FeatureConfig(polar_n_r=16, polar_n_phi=32), batch_size=4)
    np.testing.assert_array_equal(fx.transform(views), fx.transform(stacks))
    with pytest.raises(ValueError, match="share one shape"):
        fx.transform([stacks[0], stacks[0][:, :40]])
