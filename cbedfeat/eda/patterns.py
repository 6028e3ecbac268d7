"""Pattern-side statistics over a streamed, seeded subsample of stacks.

Memory is bounded by the subsample size (``max_samples``): each chosen stack is read on
its own (random access by file and group), reduced to a small log-scaled thumbnail and
folded into running statistics, then dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cbedfeat._util import progress_bar
from cbedfeat.data import CBEDDataError, ORNLFile
from cbedfeat.data.labels import CRYSTAL_SYSTEMS

THUMB = 64  # thumbnail side for the statistics and the PCA
EXAMPLE = 128  # thumbnail side for the example grid


def log_scale(stack: np.ndarray, floor: float = 1e-7) -> np.ndarray:
    """Log10 of each pattern normalised to unit total intensity, floored.

    Parameters
    ----------
    stack : (..., H, W) ndarray
    floor : float
        Smallest normalised intensity kept (values below are raised to it).

    Returns
    -------
    (..., H, W) float32 ndarray
    """
    x = np.asarray(stack, dtype=np.float64)
    total = x.sum(axis=(-2, -1), keepdims=True)
    x = x / np.where(total > 0, total, 1.0)
    return np.log10(np.maximum(x, floor)).astype(np.float32)


def downsample(stack: np.ndarray, side: int) -> np.ndarray:
    """Area-average a (..., H, W) stack to (..., side, side) (H, W multiples of side, else resize)."""
    *lead, h, w = stack.shape
    if h % side == 0 and w % side == 0:
        return stack.reshape(*lead, side, h // side, side, w // side).mean(axis=(-3, -1))
    from skimage.transform import resize

    return resize(stack, (*lead, side, side), order=1, anti_aliasing=True, preserve_range=True)


def dynamic_range(stack: np.ndarray) -> np.ndarray:
    """log10(max / smallest positive value) of each pattern.

    Parameters
    ----------
    stack : (3, H, W) ndarray

    Returns
    -------
    (3,) ndarray
        NaN for a pattern with no positive value.
    """
    flat = np.asarray(stack, dtype=np.float64).reshape(stack.shape[0], -1)
    pos = np.where(flat > 0, flat, np.inf).min(axis=1)
    top = flat.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isfinite(pos) & (top > 0), np.log10(top / pos), np.nan)


class RunningMoments:
    """Welford's running mean and variance of equally shaped arrays."""

    def __init__(self) -> None:
        self.n = 0
        self.mean: np.ndarray | None = None
        self._m2: np.ndarray | None = None

    def add(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64)
        if self.mean is None:
            self.mean = np.zeros_like(x)
            self._m2 = np.zeros_like(x)
        self.n += 1
        delta = x - self.mean
        self.mean += delta / self.n
        self._m2 += delta * (x - self.mean)

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self._m2 / max(self.n - 1, 1))


def streaming_pca(batches: Iterable[np.ndarray], n_components: int):
    """Fit ``sklearn.decomposition.IncrementalPCA`` batch by batch.

    Parameters
    ----------
    batches : iterable of (b, D) ndarray
        Every batch must hold at least ``n_components`` rows except possibly the last,
        which is merged into the previous one by the caller (:func:`batched`).
    n_components : int

    Returns
    -------
    IncrementalPCA
    """
    from sklearn.decomposition import IncrementalPCA

    ipca = IncrementalPCA(n_components=n_components)
    for batch in batches:
        ipca.partial_fit(batch)
    return ipca


def batched(rows: np.ndarray, size: int) -> Iterator[np.ndarray]:
    """Split (n, D) rows into batches of ``size``; a short tail joins the last batch."""
    n = len(rows)
    starts = list(range(0, n, size))
    if len(starts) > 1 and n - starts[-1] < size:
        starts.pop()
    for k, s in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else n
        yield rows[s:end]


@dataclass
class PatternStats:
    """What the pattern pass found (see :func:`pattern_statistics`)."""

    n: int = 0
    mean: np.ndarray | None = None  # (3, THUMB, THUMB) log10 intensity
    std: np.ndarray | None = None
    dynamic_range: pd.DataFrame = field(default_factory=pd.DataFrame)  # sample x orientation
    examples: dict[str, list[tuple[str, np.ndarray]]] = field(default_factory=dict)
    pca: object | None = None
    pca_scores: np.ndarray | None = None  # (n, n_components)
    pca_systems: list[str] = field(default_factory=list)
    problems: list = field(default_factory=list)


def choose_subsample(meta: pd.DataFrame, max_samples: int, seed: int) -> pd.DataFrame:
    """A seeded subsample of at most ``max_samples`` rows, kept in file order for reading."""
    if len(meta) <= max_samples:
        return meta
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(meta), size=max_samples, replace=False))
    return meta.iloc[idx]


def pattern_statistics(
    meta: pd.DataFrame,
    *,
    max_samples: int = 400,
    seed: int = 0,
    n_components: int = 10,
    examples_per_system: int = 2,
    progress: bool = False,
) -> PatternStats:
    """Mean/std images, dynamic range, examples and a PCA of a streamed subsample.

    Parameters
    ----------
    meta : DataFrame
        The metadata table (columns file, group, crystal_system at least).
    max_samples : int
        Upper bound on the number of stacks read (memory bound of this pass).
    seed : int
        Seed of the subsample.
    n_components : int
        PCA components (capped by the number of stacks read).
    examples_per_system : int
        Example stacks kept per crystal system.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    PatternStats
    """

    sub = choose_subsample(meta, max_samples, seed)
    moments = RunningMoments()
    ranges, thumbs, systems = [], [], []
    stats = PatternStats()
    bar = progress_bar(total=len(sub), desc="patterns", unit="stack", enabled=progress)
    for file, rows in sub.groupby("file", sort=False):
        try:
            handle = ORNLFile(file)
        except CBEDDataError as err:
            stats.problems.append(err.to_problem())
            bar.update(len(rows))
            continue
        with handle:
            for row in rows.itertuples(index=False):
                bar.update(1)
                try:
                    stack = handle.read(row.group).stack
                except CBEDDataError as err:
                    stats.problems.append(err.to_problem())
                    continue
                scaled = log_scale(stack)
                thumb = downsample(scaled, THUMB)
                moments.add(thumb)
                ranges.append((row.file, row.group, *dynamic_range(stack)))
                thumbs.append(thumb.ravel())
                systems.append(row.crystal_system)
                kept = stats.examples.setdefault(row.crystal_system, [])
                if len(kept) < examples_per_system:
                    kept.append((row.group, downsample(scaled, EXAMPLE)))
    bar.close()
    stats.n = moments.n
    if stats.n == 0:
        return stats
    stats.mean, stats.std = moments.mean, moments.std
    stats.dynamic_range = pd.DataFrame(ranges, columns=["file", "group", "p0", "p1", "p2"])
    stats.examples = {s: stats.examples[s] for s in CRYSTAL_SYSTEMS if s in stats.examples}
    k = min(n_components, stats.n, thumbs[0].size)
    if k >= 2:
        rows = np.asarray(thumbs, dtype=np.float64)
        stats.pca = streaming_pca(batched(rows, max(4 * k, 64)), k)
        stats.pca_scores = stats.pca.transform(rows)
        stats.pca_systems = systems
    return stats
