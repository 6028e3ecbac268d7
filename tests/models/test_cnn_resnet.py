"""ResNet recipe of the CNN baseline: network, augmentation, test-time averaging, training."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # the suite shares a small machine

from cnn_fixtures import write_tiny_dir  # noqa: E402

from cbedfeat.models.cnn import SMALL_RECIPE, CNNSpaceGroupClassifier, SmallCBEDNet  # noqa: E402
from cbedfeat.models.cnn_augment import (  # noqa: E402
    FRAME_VIEWS,
    dihedral_view,
    random_rotate_flip,
    rotate,
    tta_views,
    view_group,
)
from cbedfeat.models.cnn_data import StackDataset, index_h5  # noqa: E402
from cbedfeat.models.cnn_resnet import BasicBlock, CBEDResNet, ResNetTrunk  # noqa: E402
from cbedfeat.models.weights import class_weight_table  # noqa: E402

TINY = dict(epochs=2, batch_size=4, image_size=16, width=4, device="cpu", random_state=3)


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory):
    return index_h5(write_tiny_dir(tmp_path_factory.mktemp("resnet_tiny")))


def _xy(index, split):
    rows = index[index["split"] == split]
    return list(zip(rows["file"], rows["group"], strict=True)), rows["space_group"].to_numpy()


# -- network -----------------------------------------------------------------------------
def test_resnet18_trunk_has_torchvision_resnet18_shape():
    trunk = ResNetTrunk(in_channels=1)
    n = sum(p.numel() for p in trunk.parameters())
    # torchvision resnet18: 11,689,512 parameters; minus fc (512 * 1000 + 1000) and
    # conv1's two other input channels (2 * 64 * 7 * 7).
    assert n == 11_689_512 - 513_000 - 2 * 64 * 49
    assert [len(getattr(trunk, f"layer{i}")) for i in range(1, 5)] == [2, 2, 2, 2]
    assert isinstance(trunk.layer2[0], BasicBlock) and trunk.layer2[0].downsample is not None
    assert trunk.layer1[0].downsample is None
    assert trunk(torch.zeros(2, 1, 128, 128)).shape == (2, 512)


def test_state_dict_keys_match_torchvision():
    tv = pytest.importorskip("torchvision")
    ours = ResNetTrunk(in_channels=3).state_dict()
    theirs = {k: v for k, v in tv.models.resnet18().state_dict().items() if not k.startswith("fc.")}
    assert {k: tuple(v.shape) for k, v in ours.items()} == {
        k: tuple(v.shape) for k, v in theirs.items()
    }


@pytest.mark.parametrize("pool", ["concat", "mean"])
@pytest.mark.parametrize("n_targets", [0, 7])
def test_shared_trunk_forward_shapes(pool, n_targets):
    net = CBEDResNet(n_classes=5, n_targets=n_targets, width=4, pool=pool).eval()
    logits, reg = net(torch.zeros(2, 3, 32, 32))
    assert logits.shape == (2, 5) and reg.shape == (2, n_targets)
    assert net.classifier.in_features == 32 * (3 if pool == "concat" else 1)
    assert net.trunk.conv1.in_channels == 1  # one channel, shared by the three patterns


def test_mean_pool_is_invariant_to_the_order_of_the_patterns():
    torch.manual_seed(0)
    net = CBEDResNet(n_classes=3, width=4, pool="mean").eval()
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(net(x)[0], net(x[:, [2, 0, 1]])[0])


# -- augmentation --------------------------------------------------------------------------
def test_rotation_by_right_angles_matches_the_exact_views():
    x = torch.randn(3, 1, 12, 12)
    for v in range(8):
        angle = torch.full((3,), (v % 4) * math.pi / 2)
        mirror = torch.full((3,), v >= 4)
        torch.testing.assert_close(rotate(x, angle, mirror), dihedral_view(x, v), atol=1e-5, rtol=0)


@pytest.mark.parametrize("rotation", ["continuous", "dihedral", "frame"])
def test_augmentation_keeps_shapes_and_is_seeded(rotation):
    x = torch.randn(4, 3, 16, 16)
    a = random_rotate_flip(x, torch.Generator().manual_seed(1), rotation=rotation)
    b = random_rotate_flip(x, torch.Generator().manual_seed(1), rotation=rotation)
    c = random_rotate_flip(x, torch.Generator().manual_seed(2), rotation=rotation)
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, b) and not torch.equal(a, c)
    if rotation != "continuous":  # exact: every pattern is a permutation of its pixels
        torch.testing.assert_close(a.flatten(2).sort(-1).values, x.flatten(2).sort(-1).values)


def test_frame_views_keep_the_reference_direction_on_the_y_axis():
    # A framed pattern: a bright disk on the +y axis above the centre (row 2, middle
    # column) and a weaker one right of the centre. Every frame view must leave the
    # bright disk on the vertical line through the centre, any right-angle turn must not.
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 2, 4], x[0, 0, 4, 7] = 1.0, 0.5
    for v in range(8):
        row, col = divmod(int(dihedral_view(x, v).flatten().argmax()), 9)
        assert (col == 4) == (v in FRAME_VIEWS), v
    draws = random_rotate_flip(
        x.expand(64, 3, 9, 9), torch.Generator().manual_seed(0), rotation="frame"
    )
    brightest = draws.flatten(2).argmax(-1) % 9
    assert torch.all(brightest == 4)
    seen = {tuple(d.flatten().nonzero().flatten().tolist()) for d in draws.reshape(-1, 81)}
    assert len(seen) == 4  # all four frame views are drawn, nothing else


def test_frame_views_at_prediction():
    assert tta_views(4, "frame") == FRAME_VIEWS and tta_views(2, "frame") == (0, 2)
    with pytest.raises(ValueError, match="tta must be one of"):
        tta_views(8, "frame")
    with pytest.raises(ValueError, match="group"):
        tta_views(2, "circle")
    assert [view_group(a) for a in ("frame", "none", "dihedral", "continuous")] == [
        "frame",
        "frame",
        "square",
        "square",
    ]
    with pytest.raises(ValueError, match="tta must be one of"):
        CNNSpaceGroupClassifier(augment="frame", tta=8)._check_params()


def test_a_round_pattern_survives_any_rotation():
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    disk = (torch.hypot(yy - 15.5, xx - 15.5) < 8).float()
    x = disk.expand(8, 3, 32, 32).clone()
    out = random_rotate_flip(x, torch.Generator().manual_seed(0))
    assert (out - x).abs().mean() < 0.02  # only the rim of the disk is interpolated


def test_training_augments_inputs_and_keeps_labels(tiny_index):
    refs, y = _xy(tiny_index, "train")
    est = CNNSpaceGroupClassifier(**{**TINY, "epochs": 2})
    seen_labels, seen_shapes = [], []
    orig_loss, orig_aug = est._loss, est._augmented
    changed = []

    def spy_loss(out, label, target, class_w):
        seen_labels.append(label.clone())
        return orig_loss(out, label, target, class_w)

    def spy_aug(x, gen):
        out = orig_aug(x, gen)
        seen_shapes.append((tuple(x.shape), tuple(out.shape)))
        changed.append(not torch.equal(out, x))
        return out

    est._loss, est._augmented = spy_loss, spy_aug
    est.fit(refs, y)
    assert all(a == b for a, b in seen_shapes) and all(changed)
    per_epoch = len(seen_labels) // 2
    encoded = np.searchsorted(est.classes_, y)
    for e in range(2):
        got = torch.cat(seen_labels[e * per_epoch : (e + 1) * per_epoch]).numpy()
        np.testing.assert_array_equal(np.sort(got), np.sort(encoded))


# -- test-time averaging -----------------------------------------------------------------------
@pytest.mark.parametrize("tta", [1, 4, 8])
def test_test_time_averaging_is_the_mean_of_the_rotated_predictions(tiny_index, tta):
    refs, y = _xy(tiny_index, "train")
    params = {**TINY, "epochs": 1, "augment": "continuous", "tta": tta}
    est = CNNSpaceGroupClassifier(**params).fit(refs, y)
    ds = StackDataset(refs[:5], size=16)
    x = torch.stack([ds[i][0] for i in range(5)])
    ds.close()
    with torch.no_grad():
        expected = np.mean(
            [
                torch.softmax(est.model_(dihedral_view(x, v))[0].double(), 1).numpy()
                for v in tta_views(tta)
            ],
            axis=0,
        )
    np.testing.assert_allclose(est.predict_proba(refs[:5]), expected, rtol=1e-6, atol=1e-9)
    stacks = [StackDataset(refs[:5], size=16).read_raw(i) for i in range(5)]
    np.testing.assert_allclose(est.predict_proba_stacks(stacks), expected, rtol=1e-5, atol=1e-7)
    assert tta_views(tta) == (0, 2, 1, 3, 4, 6, 5, 7)[:tta]


def test_frame_averaging_is_the_mean_of_the_frame_views(tiny_index):
    refs, y = _xy(tiny_index, "train")
    est = CNNSpaceGroupClassifier(**{**TINY, "epochs": 1, "augment": "frame", "tta": 4})
    est.fit(refs, y)
    ds = StackDataset(refs[:4], size=16)
    x = torch.stack([ds[i][0] for i in range(4)])
    ds.close()
    with torch.no_grad():
        probas = [
            torch.softmax(est.model_(dihedral_view(x, v))[0].double(), 1) for v in (0, 2, 4, 6)
        ]
    torch.testing.assert_close(est._forward_views(x)[0], torch.stack(probas).mean(0))
    # averaging over the group makes the prediction invariant under its views, not under
    # a quarter turn (which the frame rules out)
    torch.testing.assert_close(est._forward_views(x)[0], est._forward_views(dihedral_view(x, 6))[0])


def test_full_averaging_is_invariant_to_right_angle_rotations(tiny_index):
    refs, y = _xy(tiny_index, "train")
    params = {**TINY, "epochs": 1, "augment": "dihedral", "tta": 8}
    est = CNNSpaceGroupClassifier(**params).fit(refs, y)
    ds = StackDataset(refs[:4], size=16)
    x = torch.stack([ds[i][0] for i in range(4)])
    ds.close()
    a = est._forward_views(x)[0]
    b = est._forward_views(dihedral_view(x, 5))[0]
    torch.testing.assert_close(a, b)


# -- training ---------------------------------------------------------------------------------
def test_one_training_step_lowers_the_loss_of_a_tiny_batch():
    torch.manual_seed(0)
    est = CNNSpaceGroupClassifier(label_smoothing=0.1)
    est.n_targets_ = 0
    net = CBEDResNet(n_classes=3, width=4, dropout=0.0)
    x = torch.randn(6, 3, 16, 16)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    w = torch.ones(3)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)  # as the training loop
    before = est._loss(net(x), y, torch.zeros(6, 0), w)
    opt.zero_grad()
    before.backward()
    opt.step()
    after = est._loss(net(x), y, torch.zeros(6, 0), w)
    assert float(after.detach()) < float(before.detach())


def test_seeded_cpu_runs_are_identical(tiny_index):
    refs, y = _xy(tiny_index, "train")
    dev_refs, dev_y = _xy(tiny_index, "dev")
    a = CNNSpaceGroupClassifier(**TINY).fit(refs, y, eval_set=(dev_refs, dev_y))
    b = CNNSpaceGroupClassifier(**TINY).fit(refs, y, eval_set=(dev_refs, dev_y))
    for (ka, va), (kb, vb) in zip(
        a.model_.state_dict().items(), b.model_.state_dict().items(), strict=True
    ):
        assert ka == kb and torch.equal(va, vb), ka
    np.testing.assert_array_equal(a.predict_proba(dev_refs), b.predict_proba(dev_refs))
    assert [h["train_loss"] for h in a.history_] == [h["train_loss"] for h in b.history_]
    c = CNNSpaceGroupClassifier(**{**TINY, "random_state": 4}).fit(refs, y)
    assert not np.array_equal(a.predict_proba(dev_refs), c.predict_proba(dev_refs))


@pytest.mark.parametrize("weighting", ["none", "balanced", "sqrt", "effective"])
def test_class_weighting_options(tiny_index, weighting):
    refs, y = _xy(tiny_index, "train")
    keep = np.r_[np.flatnonzero(y == 225), np.flatnonzero(y == 14)[:2]]  # 8 vs 2 samples
    est = CNNSpaceGroupClassifier(
        **{**TINY, "epochs": 1, "weighting": weighting, "weight_beta": 0.9}
    )
    seen = {}
    orig = est._loss

    def spy(out, label, target, class_w):
        seen["w"] = class_w.numpy()
        return orig(out, label, target, class_w)

    est._loss = spy
    est.fit([refs[i] for i in keep], y[keep])
    table = class_weight_table(y[keep], weighting, beta=0.9)
    np.testing.assert_allclose(seen["w"], [table[14], table[225]], rtol=1e-6)


def test_one_cycle_schedule_and_epoch_callback(tiny_index):
    refs, y = _xy(tiny_index, "train")
    calls = []
    est = CNNSpaceGroupClassifier(**{**TINY, "epochs": 3, "lr": 1e-2})
    est.fit(refs, y, epoch_callback=lambda e, m: calls.append((e, m.model_.training)))
    assert calls == [(0, False), (1, False), (2, False)]
    lrs = [h["lr"] for h in est.history_]
    assert lrs[-1] < 1e-5 < lrs[0]  # annealed from the peak to (nearly) nothing
    secs = [h["seconds"] for h in est.history_]
    assert secs == sorted(secs)


def test_bad_recipe_parameters_are_refused(tiny_index):
    refs, y = _xy(tiny_index, "train")
    for bad in (
        {"arch": "vgg"},
        {"tta": 3},
        {"augment": "shear"},
        {"schedule": "step"},
        {"pool": "max"},
        {"label_smoothing": 1.0},
    ):
        with pytest.raises(ValueError):
            CNNSpaceGroupClassifier(**{**TINY, **bad}).fit(refs, y)


# -- persistence ---------------------------------------------------------------------------------
def test_save_load_round_trip_of_the_resnet_holds_arrays_only(tiny_index, tmp_path):
    refs, y = _xy(tiny_index, "train")
    est = CNNSpaceGroupClassifier(**{**TINY, "epochs": 1, "pool": "mean", "tta": 4}).fit(refs, y)
    est.save(tmp_path / "m")
    with np.load(tmp_path / "m" / "weights.npz", allow_pickle=False) as arrays:  # no pickle
        assert set(arrays.files) == set(est.model_.state_dict())
    back = CNNSpaceGroupClassifier.load(tmp_path / "m", device="cpu")
    assert isinstance(back.model_, CBEDResNet) and back.tta == 4 and back.pool == "mean"
    np.testing.assert_array_equal(back.predict_proba(refs), est.predict_proba(refs))


def test_format_1_directories_load_as_the_small_cnn(tiny_index, tmp_path):
    refs, y = _xy(tiny_index, "train")
    est = CNNSpaceGroupClassifier(**{**TINY, **SMALL_RECIPE, "width": 4, "epochs": 1}).fit(refs, y)
    est.save(tmp_path / "m")
    params_file = tmp_path / "m" / "params.json"
    meta = json.loads(params_file.read_text())
    for key in ("arch", "augment", "tta", "label_smoothing", "schedule", "pool"):
        meta["params"].pop(key)  # what the first format stored
    meta["format_version"] = 1
    params_file.write_text(json.dumps(meta))
    # The first formats stored the state_dict with torch.save as model.pt.
    torch.save(
        {k: v.detach().cpu() for k, v in est.model_.state_dict().items()},
        tmp_path / "m" / "model.pt",
    )
    (tmp_path / "m" / "weights.npz").unlink()
    back = CNNSpaceGroupClassifier.load(tmp_path / "m", device="cpu")
    assert isinstance(back.model_, SmallCBEDNet) and back.tta == 1
    np.testing.assert_array_equal(back.predict_proba(refs), est.predict_proba(refs))
