"""CNN baselines on the raw CBED stacks (needs the ``cnn`` extra: torch).

Two architectures (``arch``):

``"resnet"`` (the default): the recipe of the published ResNet baselines on the ORNL
    data (Pan, SMC 2020; ORNL STEMDL): a ResNet-18 trunk (or a narrower one, ``width``)
    with a single input channel, shared by the three patterns of a stack, whose three
    feature vectors are concatenated or averaged before the heads
    (:class:`~cbedfeat.models.cnn_resnet.CBEDResNet`); log-scaled 128 x 128 inputs
    (:mod:`cbedfeat.models.cnn_data`); a random in-plane view of every training
    pattern (:mod:`cbedfeat.models.cnn_augment`); label smoothing; a one-cycle
    learning-rate schedule (cosine annealing, per step); and class probabilities
    averaged over views at prediction (``tta``). One departure from the published
    recipe, measured: they rotate the patterns by any angle, as if a zone-axis pattern
    had no preferred in-plane orientation, but every pattern of the ORNL layout is
    framed (a reference reflection, ``y_dirs``, lies along +y). The default views are
    the half turns and mirrors that keep that frame (``augment="frame"``, ``tta=4``):
    on bench-large, width 16, 10 epochs, they give 57.7 % top-1 against 39.4 % with
    rotations by any angle and 8-view averaging (``bench/results/cnn_10epochs.md``
    against ``cnn_rotations10.md``, same seed and learning rate);
    ``augment="continuous"`` restores the published one.
``"small"``: :class:`SmallCBEDNet`, four conv blocks on the three patterns as three
    channels; with :data:`SMALL_RECIPE` (no augmentation, no test-time averaging, no
    label smoothing, per-epoch cosine decay) it is the earlier baseline, kept so the
    benchmark can compare the two.

The loss is cross-entropy with the same class-weighting schemes as the boosted models
(:mod:`cbedfeat.models.weights`), plus, optionally, a mean-squared-error head on the
standardised lattice targets of :mod:`cbedfeat.models.targets` (multi-task). Training
runs on CPU by default and on CUDA when asked or available. Same seed, same device:
same weights (torch deterministic algorithms, a seeded DataLoader generator and a
seeded generator for the augmentation draws).

A saved model is a directory: ``weights.npz`` (the ``state_dict`` as NumPy arrays, read
with ``allow_pickle=False``: no pickle), ``label_map.json`` and ``params.json``. Models
saved by earlier versions as ``model.pt`` load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.utils.data import DataLoader

from cbedfeat._util import to_json  # handles NumPy scalars and arrays
from cbedfeat._version import __version__
from cbedfeat.models.cnn_augment import (
    ROTATIONS,
    dihedral_view,
    random_rotate_flip,
    tta_views,
    view_group,
)
from cbedfeat.models.cnn_data import StackDataset, preprocess_stack, refs_from_table, seed_worker
from cbedfeat.models.cnn_resnet import POOLS, CBEDResNet
from cbedfeat.models.targets import from_targets, to_targets
from cbedfeat.models.weights import class_weight_table

log = logging.getLogger(__name__)

BUNDLE_KIND = "torch-cnn"  # the kind cbedfeat.models.bundle stores this model as
FORMAT_VERSION = 3  # 3: weights.npz; 2: model.pt with the ResNet options; 1: the small CNN
MODEL_FILE, LABEL_MAP_FILE, PARAMS_FILE = "model.pt", "label_map.json", "params.json"
WEIGHTS_FILE = "weights.npz"  # format 3: the state_dict as arrays, no pickle
ARCHS = ("resnet", "small")
SCHEDULES = ("onecycle", "cosine")
AUGMENTS = ("none", *ROTATIONS)
#: Channels of the first stage when ``width`` is None: ResNet-18's 64; SmallCBEDNet's 16.
DEFAULT_WIDTH = {"resnet": 64, "small": 16}
#: The earlier baseline: SmallCBEDNet, 15 epochs, no augmentation or test-time
#: averaging, no label smoothing, per-epoch cosine decay.
SMALL_RECIPE = {
    "arch": "small",
    "width": 16,
    "epochs": 15,
    "augment": "none",
    "tta": 1,
    "label_smoothing": 0.0,
    "schedule": "cosine",
}
# Parameters a format-1 model directory (SmallCBEDNet only) did not store.
_FORMAT1_DEFAULTS = {k: v for k, v in SMALL_RECIPE.items() if k not in ("width", "epochs")}


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cuda"`` without a GPU is an error."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' asked for, but torch sees no CUDA device")
    return torch.device(device)


class SmallCBEDNet(nn.Module):
    """Four conv blocks (conv 3x3, batch norm, ReLU, 2x2 max pool) and two heads.

    Parameters
    ----------
    n_classes : int
        Outputs of the classification head.
    n_targets : int
        Outputs of the regression head (0: no head).
    in_channels : int
        Orientations per stack.
    width : int
        Channels of the first block; they double twice (width, 2w, 4w, 4w).
    dropout : float
        Dropout before the heads.

    Notes
    -----
    ``forward(x)`` with x (B, in_channels, H, W), H and W >= 16, returns
    ``(logits (B, n_classes), targets (B, n_targets))``. The last feature map is pooled
    to 4 x 4 rather than 1 x 1 so the heads still see where in the pattern things are.
    """

    def __init__(
        self,
        n_classes: int,
        n_targets: int = 0,
        in_channels: int = 3,
        width: int = 16,
        dropout: float = 0.2,
    ):
        super().__init__()
        blocks, c = [], in_channels
        for k in (width, 2 * width, 4 * width, 4 * width):
            blocks += [
                nn.Conv2d(c, k, 3, padding=1, bias=False),
                nn.BatchNorm2d(k),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            c = k
        self.features = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.trunk = nn.Sequential(
            nn.Linear(16 * c, 256), nn.ReLU(inplace=True), nn.Dropout(dropout)
        )
        self.classifier = nn.Linear(256, n_classes)
        self.regressor = nn.Linear(256, n_targets) if n_targets > 0 else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(self.features(x))
        reg = self.regressor(h) if self.regressor is not None else h.new_zeros((h.shape[0], 0))
        return self.classifier(h), reg


def _as_refs(X, data_root=None) -> list[tuple[str, str]]:
    if isinstance(X, pd.DataFrame):
        return refs_from_table(X, data_root)
    return [(str(f), str(g)) for f, g in X]


class CNNSpaceGroupClassifier(ClassifierMixin, BaseEstimator):
    """Space-group classifier on raw stacks, with scikit-learn conventions.

    ``X`` is a list of ``(file, group)`` references (or a feature table with ``file`` and
    ``group`` columns); the stacks are streamed from the HDF5 files. Feature tables
    store bare file names: ``data_root`` says where they are.

    Parameters
    ----------
    arch : {"resnet", "small"}
        :class:`~cbedfeat.models.cnn_resnet.CBEDResNet` (a ResNet-18-shaped trunk shared
        by the patterns) or :class:`SmallCBEDNet` (see the module docstring).
    epochs, batch_size, lr, weight_decay : training schedule (AdamW; ``lr`` is the peak
        learning rate of the one-cycle schedule, the start of the cosine one).
    schedule : {"onecycle", "cosine"}
        ``"onecycle"``: one-cycle policy stepped per batch (warm-up over the first 30 %
        of the steps, then cosine annealing; torch's ``OneCycleLR``); ``"cosine"``:
        cosine annealing stepped per epoch.
    weighting : {"none", "balanced", "sqrt", "effective"}
        Class weights of the cross-entropy, as for the boosted models.
    weight_beta, weight_cap : parameters of the weighting (see :func:`~cbedfeat.models.compute_sample_weights`).
    label_smoothing : float
        Label smoothing of the cross-entropy (0: none).
    augment : {"continuous", "dihedral", "frame", "none"}
        Random in-plane view of every training pattern: a rotation by any angle
        (bilinear) or a multiple of 90 degrees (exact), each mirrored or not; a half
        turn or mirror about the detector axes, the views that keep the pattern's
        reference direction on its y axis (``"frame"``); or none
        (:func:`~cbedfeat.models.cnn_augment.random_rotate_flip`).
    tta : {1, 2, 4, 8}
        Views averaged at prediction: the first ``tta`` of the right-angle rotations and
        mirror images (:data:`~cbedfeat.models.cnn_augment.VIEW_ORDER`) after
        ``"continuous"`` or ``"dihedral"`` training, of the frame-keeping views
        (:data:`~cbedfeat.models.cnn_augment.FRAME_VIEWS`, at most 4) after ``"frame"``
        or ``"none"``; 1: none.
    multitask : bool
        Add a regression head for the lattice targets (``fit`` then needs ``targets``).
    target_weight : float
        Weight of the regression loss beside the cross-entropy.
    image_size, log_floor : preprocessing (:func:`~cbedfeat.models.cnn_data.preprocess_stack`).
    width : int or None
        Channels of the first stage (ResNet: the four stages have width, 2w, 4w, 8w;
        64 is ResNet-18), or of the first block of :class:`SmallCBEDNet`. None:
        :data:`DEFAULT_WIDTH` of the architecture.
    pool : {"concat", "mean"}
        ResNet only: how the three patterns' features are combined before the heads.
    dropout : float
        Dropout before the heads.
    num_workers : int
        DataLoader worker processes (each opens the HDF5 files itself).
    cache_inputs : bool
        Keep the preprocessed training and dev inputs in memory after the first epoch
        (see :class:`~cbedfeat.models.cnn_data.StackDataset`); for small data sets with
        ``num_workers=0``. Default: stream every epoch from the files. Augmentation acts
        on the batches after loading, so cached inputs are augmented afresh every epoch.
    device : {"auto", "cpu", "cuda"}
    random_state : int
    data_root : str or None
        Directory that relative ``file`` entries of a table are resolved against.
    """

    BUNDLE_KIND = BUNDLE_KIND
    #: ``X`` is a table of (file, group) references, not a feature matrix.
    reads_stacks = True

    def __init__(
        self,
        arch: str = "resnet",
        epochs: int = 30,
        batch_size: int = 32,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        schedule: str = "onecycle",
        weighting: str = "none",
        weight_beta: float = 0.999,
        weight_cap: float | None = None,
        label_smoothing: float = 0.1,
        augment: str = "frame",
        tta: int = 4,
        multitask: bool = False,
        target_weight: float = 1.0,
        image_size: int = 128,
        log_floor: float = 1e-6,
        width: int | None = None,
        pool: str = "concat",
        dropout: float = 0.2,
        num_workers: int = 0,
        device: str = "auto",
        random_state: int = 0,
        data_root: str | None = None,
        cache_inputs: bool = False,
    ):
        self.arch, self.epochs, self.batch_size, self.lr = arch, epochs, batch_size, lr
        self.weight_decay, self.schedule = weight_decay, schedule
        self.weighting, self.weight_beta, self.weight_cap = weighting, weight_beta, weight_cap
        self.label_smoothing, self.augment, self.tta = label_smoothing, augment, tta
        self.multitask, self.target_weight = multitask, target_weight
        self.image_size, self.log_floor, self.width, self.pool = image_size, log_floor, width, pool
        self.dropout = dropout
        self.num_workers, self.device, self.random_state = num_workers, device, random_state
        self.data_root, self.cache_inputs = data_root, cache_inputs

    # -- network -------------------------------------------------------------------
    def _check_params(self) -> None:
        for name, value, choices in (
            ("arch", self.arch, ARCHS),
            ("schedule", self.schedule, SCHEDULES),
            ("augment", self.augment, AUGMENTS),
            ("pool", self.pool, POOLS),
        ):
            if value not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {value!r}")
        tta_views(self.tta, view_group(self.augment))  # raises on a bad count
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")

    def _network(self, n_classes: int, n_targets: int) -> nn.Module:
        """An initialised network of ``arch`` (draws from torch's global generator)."""
        width = DEFAULT_WIDTH[self.arch] if self.width is None else int(self.width)
        if self.arch == "small":
            return SmallCBEDNet(n_classes, n_targets, width=width, dropout=self.dropout)
        return CBEDResNet(n_classes, n_targets, width=width, pool=self.pool, dropout=self.dropout)

    # -- data ----------------------------------------------------------------------
    def _dataset(self, refs, labels=None, targets=None, cache=False) -> StackDataset:
        return StackDataset(
            refs, labels, targets, size=self.image_size, floor=self.log_floor, cache=cache
        )

    def _loader(self, ds: StackDataset, *, shuffle: bool, seed: int = 0) -> DataLoader:
        gen = torch.Generator().manual_seed(int(seed))
        # A last training batch of one sample breaks batch norm; drop it then.
        drop_last = shuffle and len(ds) % self.batch_size == 1 and len(ds) > 1
        return DataLoader(
            ds,
            batch_size=self.batch_size,
            shuffle=shuffle,
            generator=gen,
            num_workers=self.num_workers,
            worker_init_fn=seed_worker,
            drop_last=drop_last,
            pin_memory=self.device_.type == "cuda",
        )

    def _encode(self, y) -> np.ndarray:
        y = np.asarray(y).astype(np.int64)
        idx = np.searchsorted(self.classes_, y).clip(0, len(self.classes_) - 1)
        return np.where(self.classes_[idx] == y, idx, -1)

    def _scaled_targets(self, targets) -> np.ndarray | None:
        if targets is None:
            return None

        z = to_targets(targets)
        return ((z - self.target_mean_) / self.target_std_).astype(np.float32)

    # -- training ------------------------------------------------------------------
    def fit(self, X, y, *, targets=None, eval_set=None, epoch_callback=None):
        """Train on ``X`` (references), ``y`` (space-group numbers).

        Parameters
        ----------
        X : list of (file, group) or DataFrame with file/group columns
        y : (n,) int array_like
        targets : DataFrame with a, b, c, alpha, beta, gamma, optional
            Needed when ``multitask=True``.
        eval_set : tuple (X_dev, y_dev) or (X_dev, y_dev, targets_dev), optional
            The weights of the epoch with the lowest (class-weighted) dev loss are kept.
        epoch_callback : callable, optional
            Called as ``epoch_callback(epoch, self)`` after every epoch, with the model of
            that epoch in eval mode (learning curves); its time is not counted in the
            ``seconds`` of ``history_``.

        Returns
        -------
        self
        """

        refs = _as_refs(X, self.data_root)
        y = np.asarray(y).astype(np.int64)
        if len(refs) != len(y) or len(y) == 0:
            raise ValueError(f"X has {len(refs)} references and y {len(y)} labels")
        if self.multitask and targets is None:
            raise ValueError("multitask=True needs the lattice targets")
        self._check_params()
        self.device_ = resolve_device(self.device)
        log.info("CNN training on device %s", self.device_)
        self.classes_ = np.unique(y)
        table = class_weight_table(y, self.weighting, beta=self.weight_beta, cap=self.weight_cap)
        class_w = torch.tensor([table[c.item()] for c in self.classes_], dtype=torch.float32)
        self.n_targets_ = 0
        if self.multitask:
            z = to_targets(targets)
            self.target_mean_ = np.nanmean(z, axis=0)
            self.target_std_ = np.where(np.nanstd(z, axis=0) > 0, np.nanstd(z, axis=0), 1.0)
            self.n_targets_ = z.shape[1]
        train_ds = self._dataset(
            refs,
            self._encode(y),
            self._scaled_targets(targets) if self.multitask else None,
            cache=self.cache_inputs,
        )
        dev_loader = dev_ds = None
        if eval_set is not None:
            dev_t = eval_set[2] if len(eval_set) > 2 and self.multitask else None
            dev_ds = self._dataset(
                _as_refs(eval_set[0], self.data_root),
                self._encode(eval_set[1]),
                self._scaled_targets(dev_t),
                cache=self.cache_inputs,
            )
            dev_loader = self._loader(dev_ds, shuffle=False)

        was_det = torch.are_deterministic_algorithms_enabled()
        if self.device_.type == "cuda":
            # cuBLAS is only deterministic with a fixed workspace (CUDA docs, "Reproducibility").
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=self.device_.type == "cuda")
        try:
            torch.manual_seed(self.random_state)
            self.model_ = self._network(len(self.classes_), self.n_targets_).to(self.device_)
            self._train_loop(train_ds, dev_loader, class_w.to(self.device_), epoch_callback)
        finally:
            torch.use_deterministic_algorithms(was_det)
            for ds in (train_ds, dev_ds):
                if ds is not None:
                    ds.close()
        self.model_.eval()
        return self

    def _loss(self, out, label, target, class_w):
        logits, reg = out
        loss = nn.functional.cross_entropy(
            logits,
            label,
            weight=class_w,
            ignore_index=-1,
            label_smoothing=float(self.label_smoothing),
        )
        if self.n_targets_ and target.numel():
            mask = torch.isfinite(target)
            if mask.any():
                diff = torch.where(mask, reg - torch.nan_to_num(target), torch.zeros_like(reg))
                loss = loss + self.target_weight * (diff**2).sum() / mask.sum()
        return loss

    def _schedule(self, opt, steps_per_epoch: int):
        """The learning-rate scheduler and whether it steps per batch (else per epoch)."""
        if self.schedule == "onecycle":
            total = max(self.epochs * steps_per_epoch, 1)
            return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.lr, total_steps=total), True
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(self.epochs, 1)), False

    def _augmented(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if self.augment == "none":
            return x
        return random_rotate_flip(x, gen, rotation=self.augment)

    def _train_loop(self, train_ds, dev_loader, class_w, epoch_callback=None) -> None:
        model, dev = self.model_, self.device_
        opt = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        sched, per_step = self._schedule(opt, len(self._loader(train_ds, shuffle=True)))
        aug_gen = torch.Generator().manual_seed(int(self.random_state))
        self.history_, best, best_loss = [], None, np.inf
        t0, outside, last_lr = time.perf_counter(), 0.0, float(self.lr)
        for epoch in range(self.epochs):
            model.train()
            total, count = 0.0, 0
            for x, label, target in self._loader(
                train_ds, shuffle=True, seed=self.random_state + epoch
            ):
                x, label, target = x.to(dev), label.to(dev), target.to(dev)
                x = self._augmented(x, aug_gen)
                opt.zero_grad(set_to_none=True)
                loss = self._loss(model(x), label, target, class_w)
                loss.backward()
                opt.step()
                last_lr = float(opt.param_groups[0]["lr"])  # of this batch
                if per_step:
                    sched.step()
                total += float(loss.detach()) * len(x)
                count += len(x)
            if not per_step:
                sched.step()
            entry = {"epoch": epoch, "train_loss": total / max(count, 1), "lr": last_lr}
            if dev_loader is not None:
                entry.update(self._evaluate(dev_loader, class_w))
                if entry["dev_loss"] < best_loss:
                    best_loss, best = entry["dev_loss"], copy.deepcopy(model.state_dict())
                    self.best_epoch_ = epoch
            entry["seconds"] = time.perf_counter() - t0 - outside
            log.info("epoch %s", entry)
            self.history_.append(entry)
            if epoch_callback is not None:
                t_cb = time.perf_counter()
                model.eval()
                epoch_callback(epoch, self)
                outside += time.perf_counter() - t_cb
        if best is not None:
            model.load_state_dict(best)
        else:
            self.best_epoch_ = self.epochs - 1

    @torch.no_grad()
    def _evaluate(self, loader, class_w) -> dict:
        self.model_.eval()
        total, correct, n = 0.0, 0, 0
        for x, label, target in loader:
            x, label, target = x.to(self.device_), label.to(self.device_), target.to(self.device_)
            out = self.model_(x)
            total += float(self._loss(out, label, target, class_w)) * len(x)
            correct += int((out[0].argmax(1) == label).sum())
            n += len(x)
        return {"dev_loss": total / max(n, 1), "dev_accuracy": correct / max(n, 1)}

    # -- inference -----------------------------------------------------------------
    @torch.no_grad()
    def _forward_views(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Class probabilities and lattice outputs averaged over the ``tta`` views.

        Parameters
        ----------
        x : (B, 3, S, S) float tensor
            Preprocessed stacks on the model's device.

        Returns
        -------
        proba : (B, K) float64 tensor
        reg : (B, n_targets) float64 tensor
        """
        views = tta_views(self.tta, view_group(self.augment))
        proba = reg = None
        for v in views:
            logits, r = self.model_(dihedral_view(x, v))
            p = torch.softmax(logits.double(), 1)
            proba = p if proba is None else proba + p
            reg = r.double() if reg is None else reg + r.double()
        return proba / len(views), reg / len(views)

    @torch.no_grad()
    def _outputs(self, X) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self, "model_")
        ds = self._dataset(_as_refs(X, self.data_root))
        self.model_.eval()
        probs, regs = [], []
        try:
            for x, _, _ in self._loader(ds, shuffle=False):
                proba, reg = self._forward_views(x.to(self.device_))
                probs.append(proba.cpu().numpy())
                regs.append(reg.cpu().numpy())
        finally:
            ds.close()
        k = len(self.classes_)
        if not probs:
            return np.zeros((0, k)), np.zeros((0, self.n_targets_))
        return np.concatenate(probs), np.concatenate(regs)

    def predict_proba(self, X) -> np.ndarray:
        """(n, K) class probabilities, columns in the order of ``classes_``, averaged over
        the ``tta`` rotated / mirrored views of each stack."""
        return self._outputs(X)[0]

    @torch.no_grad()
    def predict_proba_stacks(self, stacks) -> np.ndarray:
        """Class probabilities of stacks already in memory (a row of a ``.npy`` file, ...).

        Each stack is preprocessed as the stacks read from files are
        (:func:`~cbedfeat.models.cnn_data.preprocess_stack`), and averaged over the
        ``tta`` views as :meth:`predict_proba`.

        Parameters
        ----------
        stacks : sequence of (3, H, W) float ndarray

        Returns
        -------
        (n, K) float64 ndarray
            Columns in the order of ``classes_``.
        """
        check_is_fitted(self, "model_")
        if len(stacks) == 0:
            return np.zeros((0, len(self.classes_)))
        x = np.stack(
            [
                preprocess_stack(
                    np.asarray(s, dtype=np.float32), size=self.image_size, floor=self.log_floor
                )
                for s in stacks
            ]
        )
        self.model_.eval()
        proba, _ = self._forward_views(torch.from_numpy(x).to(self.device_))
        return proba.cpu().numpy()

    def predict(self, X) -> np.ndarray:
        """(n,) most probable space-group numbers."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    @property
    def predicts_lattice(self) -> bool:
        """Whether the fitted model has the multi-task lattice head."""
        return bool(getattr(self, "n_targets_", 0))

    def predict_targets(self, X) -> pd.DataFrame:
        """Lattice predictions in physical units (columns a..gamma, volume); multitask only."""

        check_is_fitted(self, "model_")
        if not self.n_targets_:
            raise ValueError("this model was trained without multi-task heads")
        reg = self._outputs(X)[1]
        return from_targets(reg * self.target_std_ + self.target_mean_)

    # -- persistence ---------------------------------------------------------------
    def save(self, directory) -> Path:
        """Write ``weights.npz``, ``label_map.json`` and ``params.json`` into ``directory``."""

        check_is_fitted(self, "model_")
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().numpy() for k, v in self.model_.state_dict().items()}
        tmp = d / (WEIGHTS_FILE + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, **state)
        os.replace(tmp, d / WEIGHTS_FILE)
        _write_json(d / LABEL_MAP_FILE, {"classes": [int(c) for c in self.classes_]})
        meta = {
            "kind": BUNDLE_KIND,
            "format_version": FORMAT_VERSION,
            "params": self.get_params(),
            "n_targets": int(self.n_targets_),
            "target_mean": getattr(self, "target_mean_", np.zeros(0)).tolist(),
            "target_std": getattr(self, "target_std_", np.zeros(0)).tolist(),
            "device_used": str(self.device_),
            "best_epoch": int(self.best_epoch_),
            "history": self.history_,
            "versions": {"cbedfeat": __version__, "torch": torch.__version__},
            "training": getattr(self, "training_info_", {}),
        }
        _write_json(d / PARAMS_FILE, meta)
        return d

    @classmethod
    def load(cls, directory, *, device: str = "auto") -> CNNSpaceGroupClassifier:
        """Read a directory written by :meth:`save`; ``device`` overrides the saved one."""
        d = Path(directory)
        try:
            meta = json.loads((d / PARAMS_FILE).read_text())
            classes = json.loads((d / LABEL_MAP_FILE).read_text())["classes"]
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"{d} is not a readable CNN model directory: {exc}") from exc
        version = meta.get("format_version", 99)
        if meta.get("kind") != BUNDLE_KIND or version > FORMAT_VERSION:
            raise ValueError(f"{d}: not a CNN model of format <= {FORMAT_VERSION}")
        params = {**(_FORMAT1_DEFAULTS if version < 2 else {}), **meta["params"]}
        est = cls(**{**params, "device": device})
        est._check_params()
        est.device_ = resolve_device(device)
        est.classes_ = np.asarray(classes, dtype=np.int64)
        est.n_targets_ = int(meta["n_targets"])
        if est.n_targets_:
            est.target_mean_ = np.asarray(meta["target_mean"])
            est.target_std_ = np.asarray(meta["target_std"])
        est.history_, est.best_epoch_ = meta["history"], meta["best_epoch"]
        est.training_info_ = meta.get("training", {})
        model = est._network(len(classes), est.n_targets_)
        try:
            if version >= 3:
                with np.load(d / WEIGHTS_FILE, allow_pickle=False) as arrays:
                    state = {k: torch.from_numpy(arrays[k].copy()) for k in arrays.files}
            else:  # earlier versions: torch's restricted loader of tensors
                state = torch.load(d / MODEL_FILE, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        except Exception as exc:  # torch raises several types for truncated/corrupt files
            raise ValueError(f"{d}: cannot load the CNN weights: {exc}") from exc
        est.model_ = model.to(est.device_).eval()
        return est


def _write_json(path: Path, obj) -> None:

    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(to_json(obj))
    os.replace(tmp, path)
