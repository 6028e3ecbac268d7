"""CNN baseline: preprocessing, network shapes, training, determinism, streaming, bundles.

The estimator tests run the default architecture (the ResNet recipe) at toy sizes; the
ResNet, augmentation and test-time averaging themselves are tested in test_cnn_resnet.py.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # the suite shares a small machine

from cnn_fixtures import write_tiny_dir  # noqa: E402

from cbedfeat.models import cnn_data  # noqa: E402
from cbedfeat.models.cnn import CNNSpaceGroupClassifier, SmallCBEDNet, resolve_device  # noqa: E402
from cbedfeat.models.cnn_data import StackDataset, index_h5, preprocess_stack  # noqa: E402

SMALL = dict(epochs=2, batch_size=4, image_size=16, width=4, device="cpu", random_state=3)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return write_tiny_dir(tmp_path_factory.mktemp("cnn_tiny"))


@pytest.fixture(scope="module")
def tiny_index(tiny_dir):
    return index_h5(tiny_dir)


def _xy(index, split):
    rows = index[index["split"] == split]
    return list(zip(rows["file"], rows["group"], strict=True)), rows["space_group"].to_numpy(), rows


# -- preprocessing ---------------------------------------------------------------------
def test_area_downsample_is_block_mean_then_log():
    stack = np.arange(3 * 8 * 8, dtype=np.float32).reshape(3, 8, 8) + 1.0
    out = preprocess_stack(stack, size=2, standardize=False)
    blocks = stack.reshape(3, 2, 4, 2, 4).mean(axis=(2, 4))
    np.testing.assert_allclose(out, np.log(blocks / blocks.max()), rtol=1e-6)


def test_log_floor_bounds_empty_pixels_and_standardize():
    stack = np.zeros((3, 4, 4), np.float32)
    stack[:, 0, 0] = 5.0
    raw = preprocess_stack(stack, size=4, floor=1e-4, standardize=False)
    assert raw[0, 0, 0] == pytest.approx(0.0)
    assert raw[0, 1, 1] == pytest.approx(np.log(1e-4))
    std = preprocess_stack(stack, size=4, floor=1e-4)
    np.testing.assert_allclose(std.mean(axis=(1, 2)), 0.0, atol=1e-6)
    np.testing.assert_allclose(std.std(axis=(1, 2)), 1.0, atol=1e-5)


def test_non_divisible_size_uses_adaptive_pooling():
    stack = np.ones((3, 10, 10), np.float32)
    assert preprocess_stack(stack, size=4, standardize=False).shape == (3, 4, 4)


# -- network ------------------------------------------------------------------------------
@pytest.mark.parametrize("n_targets", [0, 7])
def test_forward_shapes(n_targets):
    net = SmallCBEDNet(n_classes=5, n_targets=n_targets, width=4).eval()
    logits, reg = net(torch.zeros(2, 3, 128, 128))
    assert logits.shape == (2, 5)
    assert reg.shape == (2, n_targets)
    logits, _ = net(torch.zeros(1, 3, 16, 16))  # smallest size the four pools allow
    assert logits.shape == (1, 5)


def test_one_training_step_lowers_the_loss():
    torch.manual_seed(0)
    net = SmallCBEDNet(n_classes=3, n_targets=2, width=4, dropout=0.0)
    x = torch.randn(6, 3, 16, 16)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    t = torch.randn(6, 2)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)  # as the training loop

    def loss():
        logits, reg = net(x)
        return torch.nn.functional.cross_entropy(logits, y) + ((reg - t) ** 2).mean()

    before = loss()
    opt.zero_grad()
    before.backward()
    opt.step()
    assert float(loss().detach()) < float(before.detach())


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError):
        resolve_device("tpu")


# -- streaming ------------------------------------------------------------------------------
class _RecordingFile:
    """Wraps an open h5py.File and records every key looked up on it."""

    def __init__(self, handle, log):
        self._h, self._log = handle, log

    def __getitem__(self, key):
        self._log.append(key)
        return self._h[key]

    def close(self):
        self._h.close()


def test_dataset_reads_one_group_per_item_and_opens_lazily(tiny_index, monkeypatch):
    opened, looked_up = [], []
    real_open = cnn_data.open_h5

    def spy_open(path):
        opened.append(path)
        return _RecordingFile(real_open(path), looked_up)

    monkeypatch.setattr(cnn_data, "open_h5", spy_open)
    refs, _, _ = _xy(tiny_index, "train")
    ds = StackDataset(refs, size=16)
    assert opened == []  # nothing is read before an item is asked for
    x, label, target = ds[5]
    assert x.shape == (3, 16, 16) and int(label) == -1 and target.shape == (0,)
    assert looked_up == [refs[5][1]]  # only that sample's group, nothing else of the file
    ds[2]
    assert looked_up == [refs[5][1], refs[2][1]]
    assert len(opened) == 1  # the handle is reused, not reopened per item
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._handles == {}  # handles never travel to worker processes
    ds.close()
    # opt-in cache: a second pass reads nothing, and gives the same tensors
    cached = StackDataset(refs[:3], size=16, cache=True)
    looked_up.clear()
    first = [cached[i][0] for i in range(3)]
    second = [cached[i][0] for i in range(3)]
    assert looked_up == [g for _, g in refs[:3]]
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_loader_with_workers_matches_in_process(tiny_index):
    refs, _, _ = _xy(tiny_index, "train")
    ds = StackDataset(refs, size=16)
    serial = torch.cat([b[0] for b in torch.utils.data.DataLoader(ds, batch_size=4)])
    loader = torch.utils.data.DataLoader(
        ds, batch_size=4, num_workers=2, worker_init_fn=cnn_data.seed_worker
    )
    parallel = torch.cat([b[0] for b in loader])
    assert torch.equal(serial, parallel)
    assert ds._handles == {} or all(h.id.valid for h in ds._handles.values())


def test_table_refs_resolve_bare_names_against_data_root(tiny_dir, tiny_index):
    table = tiny_index.assign(file=[Path(f).name for f in tiny_index["file"]])
    refs = cnn_data.refs_from_table(table, tiny_dir)
    assert refs[0] == (str(tiny_dir / table["file"].iloc[0]), table["group"].iloc[0])
    with pytest.raises(FileNotFoundError, match="data_root"):
        cnn_data.refs_from_table(table, tiny_dir / "elsewhere")


def test_unreadable_group_names_file_and_group(tiny_index):
    f = tiny_index["file"].iloc[0]
    ds = StackDataset([(f, "sample_999_0")], size=16)
    with pytest.raises(OSError, match="sample_999_0"):
        ds[0]


# -- estimator ------------------------------------------------------------------------------
def test_fit_learns_two_classes_and_seeded_runs_are_identical(tiny_index):
    refs, y, rows = _xy(tiny_index, "train")
    dev_refs, dev_y, _ = _xy(tiny_index, "dev")
    params = {**SMALL, "epochs": 6, "lr": 3e-3}
    a = CNNSpaceGroupClassifier(**params).fit(refs, y, eval_set=(dev_refs, dev_y))
    b = CNNSpaceGroupClassifier(**params).fit(refs, y, eval_set=(dev_refs, dev_y))
    for (ka, va), (kb, vb) in zip(
        a.model_.state_dict().items(), b.model_.state_dict().items(), strict=True
    ):
        assert ka == kb and torch.equal(va, vb), ka
    np.testing.assert_array_equal(a.predict_proba(dev_refs), b.predict_proba(dev_refs))
    c = CNNSpaceGroupClassifier(**{**params, "random_state": 4}).fit(refs, y)
    assert not np.array_equal(a.predict_proba(dev_refs), c.predict_proba(dev_refs))
    assert list(a.classes_) == [14, 225]
    proba = a.predict_proba(dev_refs)
    assert proba.shape == (len(dev_refs), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (a.predict(dev_refs) == dev_y).mean() >= 0.75  # ring vs disk is easy
    assert len(a.history_) == 6 and "dev_loss" in a.history_[0]


def test_weighting_sets_class_weights_of_the_loss(tiny_index):
    refs, y, _ = _xy(tiny_index, "train")
    keep = np.r_[np.flatnonzero(y == 225), np.flatnonzero(y == 14)[:2]]  # 8 vs 2 samples
    refs = [refs[i] for i in keep]
    est = CNNSpaceGroupClassifier(**{**SMALL, "epochs": 1, "weighting": "balanced"})
    seen = {}
    orig = est._loss

    def spy(out, label, target, class_w):
        seen["w"] = class_w.cpu().numpy()
        return orig(out, label, target, class_w)

    est._loss = spy
    est.fit(refs, y[keep])
    # balanced: n / (K n_c) -> classes_ [14, 225] with counts [2, 8]
    np.testing.assert_allclose(seen["w"], [10 / (2 * 2), 10 / (2 * 8)])


def test_multitask_head_predicts_lattice_in_physical_units(tiny_index):
    refs, y, rows = _xy(tiny_index, "train")
    est = CNNSpaceGroupClassifier(**{**SMALL, "multitask": True, "epochs": 1})
    est.fit(refs, y, targets=rows[["a", "b", "c", "alpha", "beta", "gamma"]])
    pred = est.predict_targets(refs[:3])
    assert list(pred.columns) == ["a", "b", "c", "alpha", "beta", "gamma", "volume"]
    assert len(pred) == 3 and (pred[["a", "b", "c"]].to_numpy() > 0).all()
    with pytest.raises(ValueError, match="targets"):
        CNNSpaceGroupClassifier(**{**SMALL, "multitask": True}).fit(refs, y)


def test_save_load_round_trip(tiny_index, tmp_path):
    refs, y, _ = _xy(tiny_index, "train")
    est = CNNSpaceGroupClassifier(**{**SMALL, "epochs": 1}).fit(refs, y)
    est.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "label_map.json",
        "params.json",
        "weights.npz",
    ]
    back = CNNSpaceGroupClassifier.load(tmp_path / "m", device="cpu")
    np.testing.assert_array_equal(back.classes_, est.classes_)
    np.testing.assert_array_equal(back.predict_proba(refs), est.predict_proba(refs))
    (tmp_path / "m" / "weights.npz").write_bytes(b"junk")
    with pytest.raises(ValueError, match="cannot load"):
        CNNSpaceGroupClassifier.load(tmp_path / "m", device="cpu")


# -- command line ---------------------------------------------------------------------------
@pytest.mark.slow
def test_train_cnn_cli_end_to_end_then_evaluate(tiny_dir, tmp_path):
    import json

    from click.testing import CliRunner

    from cbedfeat.cli import main
    from cbedfeat.models.bundle import load_bundle

    runner = CliRunner()
    tiny = [
        "--param",
        "epochs=1",
        "--param",
        "image_size=16",
        "--param",
        "width=4",
        "--param",
        "batch_size=4",
        "--device",
        "cpu",
        "--seed",
        "1",
    ]
    # HDF5 directory route
    res = runner.invoke(
        main,
        [
            "train",
            str(tiny_dir),
            "--model",
            "cnn",
            "--out",
            str(tmp_path / "m"),
            "--weighting",
            "balanced",
            *tiny,
        ],
    )
    assert res.exit_code == 0, res.output
    assert "trained cnn" in res.output and "validation (dev, 8 samples)" in res.output
    bundle = load_bundle(tmp_path / "m")
    assert bundle.training["model"] == "cnn" and bundle.training["device_used"] == "cpu"
    assert (tmp_path / "m" / "model" / "weights.npz").is_file()
    # table route: a table whose file/group columns point to the stacks (bare file names,
    # as extraction writes them), multi-task heads
    table = index_h5(tiny_dir)
    table["file"] = [Path(f).name for f in table["file"]]
    table_path = tmp_path / "table.parquet"
    table.to_parquet(table_path)
    res = runner.invoke(
        main,
        [
            "train",
            str(table_path),
            "--model",
            "cnn",
            "--out",
            str(tmp_path / "mt"),
            "--param",
            "multitask=true",
            "--param",
            f"data_root={tiny_dir}",
            *tiny,
        ],
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        main,
        [
            "evaluate",
            str(tmp_path / "mt"),
            str(table_path),
            "--split",
            "dev",
            "--out",
            str(tmp_path / "report"),
        ],
    )
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["n_samples"] == 8 and 0.0 <= metrics["top1_accuracy"] <= 1.0
    assert set(metrics["regression"]["mae_by_crystal_system"]) == {"cubic", "monoclinic"}
    # the bundle predicts exactly what the estimator it holds predicts
    mt = load_bundle(tmp_path / "mt")
    dev = table.query("split == 'dev'")
    np.testing.assert_array_equal(mt.predict_proba(dev), mt.model.predict_proba(dev))
    # a model trained on the HDF5 directory remembers it: the bare names resolve
    res = runner.invoke(
        main,
        [
            "evaluate",
            str(tmp_path / "m"),
            str(table_path),
            "--split",
            "dev",
            "--out",
            str(tmp_path / "report_m"),
        ],
    )
    assert res.exit_code == 0, res.output
