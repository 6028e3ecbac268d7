"""The plan of a synthetic data set: which space group, split and file each material gets.

Everything here is decided before any pattern is rendered, from the seed alone, so
that the plan (and hence every file) is the same whatever the number of workers, and
an interrupted run can be finished file by file.

Space groups follow the ORNL train distribution (``ornl_sg_counts.csv``): after an
optional minimum number of materials per class, the remaining materials are shared in
proportion to the train counts (largest remainders), then shuffled. The
train/dev/test split is drawn per space group so that every material stays on one side
and every dev/test class also occurs in train, as in the real data.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from cbedfeat.data.schema import preset
from cbedfeat.simulate.crystals import CRYSTAL_STYLES
from cbedfeat.simulate.zone_axes import ZONE_AXIS_MODES

logger = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
ENGINES = ("kinematic", "multislice")
ENERGY_DRAWS = ("first", "random")
PLAN_FILE = "simulation.json"
FIRST_ENERGY_KEV = 100
ENERGY_STEP_KEV = 10


@dataclass(frozen=True)
class SimulationConfig:
    """Parameters of a synthetic data set (the keys of a manifest preset).

    Attributes
    ----------
    materials : int
        Number of distinct materials (crystals).
    energies : int
        K beam energies per material (K <= 10, as in the ORNL files).
    energy_draw : {'first', 'random'}
        ``first``: every material at 100, 110, ... keV (the first K); ``random``: each
        material at K of the ten ORNL energies (100-190 keV) drawn for it.
    seed : int
        Seed of every random choice.
    min_per_class : int
        Minimum number of materials of each space group drawn (0: pure ORNL proportions).
    top_classes : int or None
        Draw only from the ``top_classes`` most common train space groups.
    split : (3,) float
        Fractions of materials in train, dev, test.
    samples_per_file : int
        Upper bound of samples (groups) per HDF5 file; a material never spans two files.
    thickness_A, debye_waller_B : (2,) float
        Ranges from which each material draws its specimen thickness (A) and B (A^2).
    dose : float or None
        Incident electrons per pixel for Poisson noise (None: noiseless).
    blur_px : float
        Detector blur (Gaussian sigma, pixels).
    mistilt_mrad : float
        Largest random beam mistilt from the exact zone axis (mrad).
    shape : (2,) int
        Pattern shape H, W (512 x 512 in the ORNL geometry).
    zone_axis_pool : int
        Zone axes are drawn from this many best candidate direction families.
    zone_axes : {'short', 'strong'}
        How candidates are ranked: ``short``, shortest direction first (low index);
        ``strong``, axes holding pairs of the strongest reflections first, as the ORNL
        set chose them (:mod:`cbedfeat.simulate.zone_axes`).
    crystals : {'compact', 'varied'}
        Cell sizes and densities of the random crystals
        (:data:`cbedfeat.simulate.crystals.CRYSTAL_STYLES`).
    engine : {'kinematic', 'multislice'}
        How patterns are computed: two-beam kinematic theory (fast, Friedel's law
        holds) or dynamical multislice with abTEM (the ``dynamical`` extra).
    probe_grid : int
        Multislice only: the pattern is the mean over N x N probe positions.
    oversampling : float
        Multislice only: real-space points per detector pixel (1.5 fills the
        inscribed circle, 1 reaches 2/3 of its radius at half the cost).
    compression : {'gzip', 'lzf', None}
        HDF5 filter of the stacks. gzip level 1 stores the mostly-zero kinematic patterns
        about 8x smaller for about 15 ms per sample; None as in the real files.
    compression_level : int
        gzip level.
    """

    materials: int = 60
    energies: int = 2
    seed: int = 0
    min_per_class: int = 0
    top_classes: int | None = None
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    samples_per_file: int = 64
    thickness_A: tuple[float, float] = (300.0, 1000.0)
    debye_waller_B: tuple[float, float] = (0.3, 1.0)
    dose: float | None = None
    blur_px: float = 0.0
    mistilt_mrad: float = 0.0
    shape: tuple[int, int] = (512, 512)
    zone_axis_pool: int = 5
    zone_axes: str = "short"
    crystals: str = "compact"
    energy_draw: str = "first"
    engine: str = "kinematic"
    probe_grid: int = 1
    oversampling: float = 1.0
    compression: str | None = "gzip"
    compression_level: int = 1

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in ("split", "thickness_A", "debye_waller_B", "shape"):
            set_(self, name, tuple(getattr(self, name)))
        set_(self, "shape", tuple(int(s) for s in self.shape))
        if self.materials < 1:
            raise ValueError(f"materials must be >= 1, got {self.materials}")
        if not 1 <= self.energies <= 10:
            raise ValueError(f"energies must be in 1..10 (100..190 keV), got {self.energies}")
        if self.samples_per_file < self.energies:
            raise ValueError("samples_per_file must hold all energies of one material")
        if len(self.split) != 3 or min(self.split) < 0 or sum(self.split) <= 0:
            raise ValueError(f"split must be three non-negative fractions, got {self.split}")
        if self.min_per_class < 0:
            raise ValueError("min_per_class must be >= 0")
        if self.zone_axes not in ZONE_AXIS_MODES:
            raise ValueError(f"zone_axes must be one of {ZONE_AXIS_MODES}, got {self.zone_axes!r}")
        if self.crystals not in CRYSTAL_STYLES:
            raise ValueError(
                f"crystals must be one of {sorted(CRYSTAL_STYLES)}, got {self.crystals!r}"
            )
        if self.energy_draw not in ENERGY_DRAWS:
            raise ValueError(f"energy_draw must be one of {ENERGY_DRAWS}, got {self.energy_draw!r}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {self.engine!r}")
        if int(self.probe_grid) != self.probe_grid or self.probe_grid < 1:
            raise ValueError(f"probe_grid must be an integer >= 1, got {self.probe_grid}")
        if not self.oversampling >= 1.0:
            raise ValueError(f"oversampling must be >= 1, got {self.oversampling}")

    @property
    def energies_keV(self) -> list[int]:
        """The first K beam energies, 100 keV in 10 keV steps (``energy_draw='first'``)."""
        return [FIRST_ENERGY_KEV + ENERGY_STEP_KEV * j for j in range(self.energies)]

    def material_energies_keV(self, index: int) -> list[int]:
        """The K beam energies of material ``index``, ascending.

        ``first``: :attr:`energies_keV`. ``random``: K of the ten ORNL energies drawn
        from a generator of (seed, index) of its own, so that the crystal, zone axes and
        options drawn for the material do not change with this choice.
        """
        if self.energy_draw == "first":
            return self.energies_keV
        ss = np.random.SeedSequence(self.seed, spawn_key=(2, int(index)))
        every = FIRST_ENERGY_KEV + ENERGY_STEP_KEV * np.arange(10)
        rng = np.random.Generator(np.random.PCG64(ss))
        return sorted(int(e) for e in rng.choice(every, size=self.energies, replace=False))

    @classmethod
    def from_preset(cls, name: str, **overrides) -> SimulationConfig:
        """Config of a manifest preset (``presets.<name>``), with some fields replaced."""

        params = {k: v for k, v in preset(name).items() if k != "description"}
        known = {f.name for f in fields(cls)}
        unknown = set(params) - known
        if unknown:
            raise ValueError(f"preset {name!r} has unknown keys {sorted(unknown)}")
        params.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**params)

    def to_dict(self) -> dict:
        """JSON-able dict of every field."""
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


@dataclass(frozen=True)
class FilePlan:
    """One output file: its name, split and the material indices it holds (in order)."""

    name: str
    split: str
    materials: tuple[int, ...]


@dataclass(frozen=True)
class Plan:
    """Space group and split of every material, and the files that hold them.

    Attributes
    ----------
    config : SimulationConfig
    space_groups : (materials,) ndarray of int
        Space group of material i (group names ``sample_<i>_<j>``).
    splits : (materials,) ndarray of str
    files : list of FilePlan
        In writing order: train files, then dev, then test.
    """

    config: SimulationConfig
    space_groups: np.ndarray
    splits: np.ndarray
    files: list[FilePlan] = field(default_factory=list)

    def to_json(self) -> str:
        """The plan as JSON (written beside the data as ``simulation.json``)."""
        return json.dumps(
            {
                "config": self.config.to_dict(),
                "space_groups": [int(s) for s in self.space_groups],
                "splits": [str(s) for s in self.splits],
                "files": [
                    {"name": f.name, "split": f.split, "materials": list(f.materials)}
                    for f in self.files
                ],
            },
            indent=1,
        )


def plan_rng(seed: int) -> np.random.Generator:
    """Generator of the plan (space groups, splits); independent of every material's."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(0,))))


def material_rng(seed: int, index: int) -> np.random.Generator:
    """Generator of material ``index``: depends on (seed, index) only."""
    ss = np.random.SeedSequence(seed, spawn_key=(1, int(index)))
    return np.random.Generator(np.random.PCG64(ss))


def ornl_train_counts() -> dict[int, int]:
    """Space group -> number of train samples in the ORNL set (groups with > 0 only)."""
    from cbedfeat.data.reference import load_ornl_counts

    table = load_ornl_counts()
    pairs = zip(table["space_group"], table["train"], strict=True)
    return {int(k): int(v) for k, v in pairs if int(v) > 0}


def largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    """Integers proportional to ``weights`` summing to ``total`` (Hamilton's method).

    Ties of the remainders go to the lower index, so the result is deterministic.
    """
    w = np.asarray(weights, dtype=float)
    exact = w / w.sum() * total
    out = np.floor(exact).astype(int)
    rest = total - int(out.sum())
    order = np.lexsort((np.arange(len(w)), -(exact - out)))
    out[order[:rest]] += 1
    return out


def _drawn_classes(config: SimulationConfig, counts: dict[int, int]) -> np.ndarray:
    """Sorted space groups the draw picks from (the ``top_classes`` most common, or all)."""
    classes = sorted(counts, key=lambda s: (-counts[s], s))
    if config.top_classes is not None:
        classes = classes[: config.top_classes]
    return np.array(sorted(classes))


def fit_min_per_class(
    config: SimulationConfig, counts: dict[int, int] | None = None
) -> SimulationConfig:
    """``config`` with its per-class minimum lowered to what ``materials`` allows.

    A preset's ``min_per_class`` is meant for its own number of materials; when the user
    asks for fewer, the number of materials wins: the minimum becomes
    ``materials // n_classes`` (a logged note says so) instead of
    :func:`draw_space_groups` refusing the draw.

    Parameters
    ----------
    config : SimulationConfig
    counts : dict, optional
        Space group -> weight (default: the ORNL train counts).

    Returns
    -------
    SimulationConfig
        ``config`` itself when its minimum fits.
    """
    counts = ornl_train_counts() if counts is None else counts
    n_classes = len(_drawn_classes(config, counts))
    most = config.materials // n_classes
    if config.min_per_class <= most:
        return config
    logger.info(
        "note: %d materials over %d space groups: the per-class minimum drops from %d to %d",
        config.materials,
        n_classes,
        config.min_per_class,
        most,
    )
    return replace(config, min_per_class=most)


def draw_space_groups(
    config: SimulationConfig, rng: np.random.Generator, counts: dict[int, int] | None = None
) -> np.ndarray:
    """(materials,) space groups following the ORNL train distribution.

    Raises
    ------
    ValueError
        If ``min_per_class`` times the number of classes exceeds ``materials`` (see
        :func:`fit_min_per_class`).
    """
    counts = ornl_train_counts() if counts is None else counts
    classes = _drawn_classes(config, counts)
    weights = np.array([counts[s] for s in classes], dtype=float)
    base = config.min_per_class * len(classes)
    if base > config.materials:
        raise ValueError(
            f"min_per_class={config.min_per_class} over {len(classes)} space groups needs "
            f"{base} materials, more than materials={config.materials}"
        )
    per_class = config.min_per_class + largest_remainder(weights, config.materials - base)
    groups = np.repeat(classes, per_class)
    return groups[rng.permutation(len(groups))]


def assign_splits(space_groups: np.ndarray, fractions, rng: np.random.Generator) -> np.ndarray:
    """(materials,) split names: per space group, dev/test counts by stochastic rounding.

    A class always keeps at least one train material, so every dev/test class occurs
    in train (as in the ORNL data).
    """
    frac = np.asarray(fractions, dtype=float)
    frac = frac / frac.sum()
    splits = np.empty(len(space_groups), dtype=object)
    for sg in np.unique(space_groups):
        idx = np.flatnonzero(space_groups == sg)
        m = len(idx)
        n_dev = int(np.floor(m * frac[1] + rng.random()))
        n_test = int(np.floor(m * frac[2] + rng.random()))
        while n_dev + n_test > m - 1 and n_dev + n_test > 0:
            if n_test >= n_dev:
                n_test -= 1
            else:
                n_dev -= 1
        perm = idx[rng.permutation(m)]
        splits[perm] = "train"
        splits[perm[:n_dev]] = "dev"
        splits[perm[n_dev : n_dev + n_test]] = "test"
    return splits.astype(str)


def make_plan(config: SimulationConfig, counts: dict[int, int] | None = None) -> Plan:
    """The full plan of a data set: space groups, splits and files, from ``config.seed``."""
    rng = plan_rng(config.seed)
    sgs = draw_space_groups(config, rng, counts)
    splits = assign_splits(sgs, config.split, rng)
    per_file = max(1, config.samples_per_file // config.energies)
    files = []
    for split in SPLITS:
        members = np.flatnonzero(splits == split)
        for n, start in enumerate(range(0, len(members), per_file)):
            chunk = tuple(int(i) for i in members[start : start + per_file])
            files.append(FilePlan(f"batch_{split}_{n}.h5", split, chunk))
    return Plan(config=config, space_groups=sgs, splits=splits, files=files)
