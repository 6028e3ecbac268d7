"""Streaming CBED stacks from HDF5 files for the CNN baseline (needs the ``cnn`` extra).

The CNN reads the raw stacks, but the feature table is the natural index of them: its
``file`` and ``group`` columns point to every validated sample, and its ``split``,
``material`` and target columns say what to train on. So training takes either a table
(DataFrame or Parquet path), and then one ``cbedfeat evaluate`` path serves CNN and
feature models alike, or HDF5 files/directories, whose metadata :func:`index_h5` indexes
first (without reading a stack); :func:`load_index` does either.

A :class:`StackDataset` holds only references ``(file, group)``; each item is read on
demand from its own HDF5 group (one ``cbed_stack`` dataset, never a whole file), so
a data set of hundreds of gigabytes trains with memory for one batch. File handles are
opened lazily by whichever process reads: each DataLoader worker opens its own (h5py
handles must not cross a ``fork``), and pickling the data set drops them.

Preprocessing follows the published ResNet baselines on the ORNL data (Pan 2020; the
ORNL STEMDL benchmark): downsample each pattern to 128 x 128 by area averaging, then a
log scale with a floor, since intensities span many orders of magnitude from the centre.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from cbedfeat.data.ornl import iter_samples, open_h5
from cbedfeat.models.targets import LATTICE_COLUMNS

log = logging.getLogger(__name__)

STACK_DATASET = "cbed_stack"


def _area_downsample(img: np.ndarray, size: int) -> np.ndarray:
    """Mean over pixel blocks: (n, H, W) -> (n, size, size).

    When ``H`` (or ``W``) is a multiple of ``size`` this is the exact block mean (the
    ORNL 512 -> 128 case); otherwise torch's adaptive average pooling, whose windows
    cover the image with overlaps of at most one pixel.
    """
    n, h, w = img.shape
    if h == size and w == size:
        return img
    if h % size == 0 and w % size == 0:
        fh, fw = h // size, w // size
        return (
            img.reshape(n, size, fh, size, fw)
            .mean(axis=(2, 4), dtype=np.float64)
            .astype(np.float32)
        )
    t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None]
    return torch.nn.functional.adaptive_avg_pool2d(t, size)[0].numpy()


def preprocess_stack(
    stack: np.ndarray, *, size: int = 128, floor: float = 1e-6, standardize: bool = True
) -> np.ndarray:
    """Raw stack -> network input.

    Parameters
    ----------
    stack : (3, H, W) ndarray
        Raw intensities (three orientations).
    size : int
        Output side; the pattern is area-averaged to ``size x size``.
    floor : float
        Intensities are clipped to at least ``floor`` times the stack maximum before the
        logarithm, so empty pixels give a finite value and the dynamic range is bounded.
    standardize : bool
        Shift and scale each orientation to zero mean and unit variance, which makes the
        input independent of the overall beam intensity.

    Returns
    -------
    (3, size, size) float32 ndarray
    """
    x = np.asarray(stack, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"stack must be (orientations, H, W), got shape {x.shape}")
    x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    x = _area_downsample(x, size)
    top = float(x.max())
    scale = top if top > 0 else 1.0
    x = np.log(np.maximum(x / scale, floor)).astype(np.float32)
    if standardize:
        mean = x.mean(axis=(1, 2), keepdims=True)
        std = x.std(axis=(1, 2), keepdims=True)
        x = (x - mean) / np.where(std > 0, std, 1.0)
    return x.astype(np.float32, copy=False)


class StackDataset(Dataset):
    """Map-style data set of preprocessed stacks, read from HDF5 by ``(file, group)``.

    Parameters
    ----------
    refs : sequence of (str, str)
        ``(file, group)`` of each sample.
    labels : (n,) int array_like, optional
        Encoded class index (0..K-1) of each sample; ``-1`` when unknown.
    targets : (n, t) float array_like, optional
        Regression targets (already scaled); NaN marks a missing value.
    size, floor, standardize
        Passed to :func:`preprocess_stack`.
    cache : bool
        Keep every preprocessed item in this process's memory after its first read
        (``3 * size**2 * 4`` bytes each: 192 KiB at 128 x 128), so later epochs skip the
        HDF5 read and the downsampling. For data sets that fit in memory, with
        in-process loading (``num_workers=0``); off by default (pure streaming).

    Notes
    -----
    ``dataset[i]`` returns ``(x, label, target)``: x is a (3, size, size) float32 tensor,
    label a 0-d int64 tensor, target a (t,) float32 tensor (t may be 0).
    """

    def __init__(
        self,
        refs: Sequence[tuple[str, str]],
        labels=None,
        targets=None,
        *,
        size: int = 128,
        floor: float = 1e-6,
        standardize: bool = True,
        cache: bool = False,
    ):
        self.refs = [(str(f), str(g)) for f, g in refs]
        n = len(self.refs)
        self.labels = (
            np.full(n, -1, dtype=np.int64) if labels is None else np.asarray(labels, np.int64)
        )
        self.targets = (
            np.zeros((n, 0), np.float32) if targets is None else np.asarray(targets, np.float32)
        )
        if self.labels.shape != (n,) or self.targets.shape[0] != n:
            raise ValueError("labels and targets need one row per reference")
        self.size, self.floor, self.standardize = int(size), float(floor), bool(standardize)
        self.cache = bool(cache)
        self._cache: dict[int, np.ndarray] = {}
        self._handles: dict[str, h5py.File] = {}
        self._pid: int | None = None

    def __len__(self) -> int:
        return len(self.refs)

    def __getstate__(self):
        # Open HDF5 handles cannot be pickled or shared with worker processes.
        state = self.__dict__.copy()
        state["_handles"], state["_pid"], state["_cache"] = {}, None, {}
        return state

    def _file(self, path: str) -> h5py.File:
        if self._pid != os.getpid():  # forked worker: never reuse the parent's handles
            self._handles, self._pid = {}, os.getpid()
        handle = self._handles.get(path)
        if handle is None:
            handle = self._handles[path] = open_h5(path)
        return handle

    def read_raw(self, i: int) -> np.ndarray:
        """The raw (3, H, W) float32 stack of item ``i``, read from its group alone."""
        path, group = self.refs[i]
        try:
            data = self._file(path)[group][STACK_DATASET][...]
        except (OSError, KeyError, ValueError) as exc:
            raise OSError(f"cannot read {STACK_DATASET} of {path}:{group}: {exc}") from exc
        if data.ndim != 3:
            raise ValueError(
                f"{path}:{group}: {STACK_DATASET} has shape {data.shape}, expected (3, H, W)"
            )
        return data

    def __getitem__(self, i: int):
        x = self._cache.get(i)
        if x is None:
            x = preprocess_stack(
                self.read_raw(i), size=self.size, floor=self.floor, standardize=self.standardize
            )
            if self.cache:
                self._cache[i] = x
        return (
            torch.from_numpy(x),
            torch.tensor(self.labels[i], dtype=torch.int64),
            torch.from_numpy(self.targets[i].copy()),
        )

    def close(self) -> None:
        """Close every file handle this process opened."""
        for handle in self._handles.values():
            handle.close()
        self._handles = {}


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed NumPy from torch's per-worker seed.

    Torch gives each worker ``base_seed + worker_id``, where ``base_seed`` comes from the
    loader's seeded generator, so every run with the same seed sees the same numbers.
    """
    # The legacy global RNG is what third-party code in a worker would draw from.
    np.random.seed(torch.initial_seed() % 2**32)  # noqa: NPY002
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    torch.set_num_threads(1)


def refs_from_table(table, base: str | Path | None = None) -> list[tuple[str, str]]:
    """``(file, group)`` references of every row of a feature table.

    Parameters
    ----------
    table : DataFrame
        Must have ``file`` and ``group`` columns.
    base : path, optional
        Directory that relative ``file`` entries are resolved against when they do not
        exist relative to the working directory (e.g. the table's own directory).
    """
    missing = {"file", "group"} - set(table.columns)
    if missing:
        raise ValueError(f"table lacks columns {sorted(missing)} needed to find the stacks")
    refs = []
    cache: dict[str, str] = {}
    for f, g in zip(table["file"].astype(str), table["group"].astype(str), strict=True):
        if f not in cache:
            p = Path(f)
            if not p.is_absolute() and not p.exists() and base is not None:
                p = Path(base) / p
            if not p.exists():
                raise FileNotFoundError(
                    f"stack file {f!r} of the table not found (looked in "
                    f"{str(base) if base is not None else 'the working directory'}); feature "
                    "tables store bare file names: give the directory of the HDF5 files "
                    "(data_root)"
                )
            cache[f] = str(p)
        refs.append((cache[f], g))
    return refs


# ----------------------------------------------------------------------------------
# Indexing the training data: a feature table or HDF5 files -> rows of (file, group)
# ----------------------------------------------------------------------------------
INDEX_COLUMNS = (
    "file",
    "group",
    "material",
    "split",
    "energy_keV",
    "space_group",
    *LATTICE_COLUMNS,
)


def index_h5(paths, *, problems: list | None = None) -> pd.DataFrame:
    """One row per valid sample of HDF5 files/directories, metadata only.

    Parameters
    ----------
    paths : path or iterable of paths
        Files and directories (see :func:`cbedfeat.data.ornl.find_h5_files`).
    problems : list, optional
        Receives a :class:`~cbedfeat.data.errors.Problem` per skipped sample or file.

    Returns
    -------
    DataFrame
        Columns :data:`INDEX_COLUMNS` (lattice in angstrom and degrees).
    """

    rows = []
    for s in iter_samples(paths, problems=problems, load_stack=False):
        m = s.meta
        rows.append(
            (
                str(Path(m.file).resolve()),
                m.group,
                m.material,
                m.split,
                m.energy_keV,
                m.space_group,
                *m.abc_angstrom.tolist(),
                *m.angles_degree.tolist(),
            )
        )
    return pd.DataFrame(rows, columns=list(INDEX_COLUMNS))


def load_index(table_or_paths) -> tuple[pd.DataFrame, Path | None]:
    """A table of samples and the directory relative ``file`` entries are resolved against.

    ``table_or_paths`` is a DataFrame, a ``.parquet`` path (directory: the table's own), or
    HDF5 files/directories (directory: the files' common parent, when they share one).
    """
    if isinstance(table_or_paths, pd.DataFrame):
        return table_or_paths, None
    paths = (
        [table_or_paths] if isinstance(table_or_paths, (str, os.PathLike)) else list(table_or_paths)
    )
    if len(paths) == 1 and str(paths[0]).endswith(".parquet"):
        return pd.read_parquet(paths[0]), Path(paths[0]).resolve().parent
    table = index_h5(paths)
    parents = {str(Path(f).parent) for f in table["file"].unique()}
    return table, Path(parents.pop()) if len(parents) == 1 else None


def train_dev_split(table: pd.DataFrame, *, seed: int = 0, validation_fraction: float = 0.15):
    """Rows of split ``train`` and ``dev``; a material-grouped hold-out of train without dev.

    Returns
    -------
    train, dev : DataFrame, DataFrame
    """
    from cbedfeat.models.boosting import grouped_validation_split

    train = table[table["split"] == "train"]
    dev = table[table["split"] == "dev"]
    if train.empty:
        raise ValueError("the table has no rows of split 'train'")
    if dev.empty:
        tr, va = grouped_validation_split(
            train["space_group"].to_numpy(),
            train["material"].to_numpy(),
            validation_fraction,
            random_state=seed,
        )
        train, dev = train.iloc[tr], train.iloc[va]
        log.info("no dev rows: held out %d materials of train", dev["material"].nunique())
    return train.reset_index(drop=True), dev.reset_index(drop=True)
