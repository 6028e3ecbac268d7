"""extract and predict warn, naming file and sample, when patterns are off the image centre."""

from __future__ import annotations

import numpy as np
from ornl_samples import build_meta

from cbedfeat.data import ORNLWriter
from cbedfeat.extraction.extract import extract


def _disks(size=96, shift=(0, 0)):
    """(3, size, size) square net of soft disks around (size // 2, size // 2) + shift,
    cut off beyond 36 px from it (as the signal of a simulated pattern is)."""
    yy, xx = np.mgrid[:size, :size].astype(float)
    cy, cx = size // 2 + shift[0], size // 2 + shift[1]
    img = np.zeros((size, size))
    for i in range(-4, 5):
        for j in range(-4, 5):
            d2 = (yy - cy - 11 * i) ** 2 + (xx - cx - 11 * j) ** 2
            img += np.exp(-np.hypot(i, j) / 3) * np.exp(-d2 / 8.0)
    img[np.hypot(yy - cy, xx - cx) > 36] = 0
    return np.stack([img, 0.5 * img, img**2]).astype(np.float32)


def _write(path, shift, n=2):
    with ORNLWriter(path) as w:
        for i in range(n):
            w.write(_disks(shift=shift), build_meta(group=f"sample_{i}_0", material=f"mp-{i}"))


def test_extract_warns_about_files_off_centre(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    _write(data / "batch_train_0.h5", (0, 0))
    _write(data / "batch_train_1.h5", (2, 0))
    result = extract(data, tmp_path / "t.parquet", workers=1, device="cpu", progress=False)
    assert result.rows == 4  # a warning, nothing lost
    assert len(result.off_centre) == 1
    record = result.off_centre[0]
    assert record["file"].endswith("batch_train_1.h5") and record["group"] == "sample_0_0"
    assert abs(record["offset_px"] - 2.0) < 0.3
    assert "WARNING: 1 files with patterns off the image centre" in result.summary()
    # a resumed run remembers the warning
    again = extract(data, tmp_path / "t.parquet", workers=1, device="cpu", progress=False)
    assert again.resumed == 2 and len(again.off_centre) == 1


def test_extract_with_a_found_centre_does_not_warn(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    _write(data / "batch_train_0.h5", (3, -2))
    result = extract(
        data,
        tmp_path / "t.parquet",
        workers=1,
        device="cpu",
        progress=False,
        config={"center": "inversion"},
    )
    assert result.off_centre == [] and "WARNING" not in result.summary()


def test_predict_checks_the_first_stack_of_each_file():
    from types import SimpleNamespace

    from cbedfeat.workflows.predict import _check_centres

    def sample(file, group, shift):
        return SimpleNamespace(
            stack=_disks(shift=shift), meta=SimpleNamespace(file=file, group=group)
        )

    batch = [
        sample("a.h5", "s0", (0, 2)),
        sample("a.h5", "s1", (0, 0)),
        sample("b.h5", "s0", (0, 0)),
    ]
    checked, out = set(), []
    _check_centres(batch, "image", checked, out)
    assert checked == {"a.h5", "b.h5"} and [(r["file"], r["group"]) for r in out] == [
        ("a.h5", "s0")
    ]
    _check_centres([sample("a.h5", "s2", (0, 3))], "image", checked, out)
    assert len(out) == 1  # one check per file
    _check_centres([sample("c.h5", "s0", (0, 3))], "inversion", checked, out)
    assert len(out) == 1
