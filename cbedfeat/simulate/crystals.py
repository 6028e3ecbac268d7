"""Random crystals for every one of the 230 space groups.

A crystal is a conventional cell (lattice + every atom of the cell) of a requested
space group: lattice parameters drawn within the constraints of the crystal system,
1-4 atomic species placed on Wyckoff positions generated as orbits of seed points under
the space group's symmetry operations (spglib's database, standard Hall setting;
hexagonal axes for the rhombohedral groups). Coincident images of a seed point merge,
which is how special positions arise; seed coordinates mix special values (0, 1/8,
1/4, 1/3, 1/2, ...), ties such as (x, x, z) or (x, 2x, z), and random values, so that
groups whose general position has up to 192 points still fit in a cell below 10 A.
How large and how dense the cells are is a :class:`CrystalStyle`: ``compact`` (cell
edges below 10 A as in the ORNL set, 8-20 A^3 per atom) or ``varied`` (edges to 12.5 A,
8-35 A^3 per atom, as the loosely packed cells of random-structure generators).
Every crystal is checked with spglib: it must be found in exactly the requested group
(not a supergroup) at ``symprec=1e-3``.

References
----------
International Tables for Crystallography, Vol. A (2016): space-group operations,
Wyckoff positions, lattice constraints of the crystal systems (Table 2.1.2.1).
A. Togo, K. Shinohara & I. Tanaka (2018), "Spglib: a software library for crystal
symmetry search", arXiv:1808.01590.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache

import numpy as np

from cbedfeat.data.labels import crystal_system_of, space_group_info
from cbedfeat.simulate.elements import ANIONS, ELEMENTS, formula_of

MIN_DISTANCE_A = 1.5  # minimum interatomic distance of every crystal
MAX_LATTICE_A = 9.9  # lattice constants stay below 10 A, as in the ORNL set
MIN_LATTICE_A = 2.8
SYMPREC = 1e-3
MAX_ATTEMPTS = 200  # full attempts (new lattice, new atoms) before giving up
_SEED_TRIES = 40  # seed points tried for each Wyckoff orbit
_MAX_ORBITS = 16
_SPECIAL = np.array([0.0, 0.5, 0.25, 0.75, 1 / 8, 3 / 8, 5 / 8, 7 / 8, 1 / 3, 2 / 3, 1 / 6, 5 / 6])
# 27 lattice translations: the minimum-image convention alone misses short contacts in
# oblique cells.
_OFFSETS = np.array(
    [[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], dtype=float
)


@dataclass(frozen=True)
class CrystalStyle:
    """How large and how densely filled the random cells are.

    Attributes
    ----------
    max_lattice_A : float
        Longest cell edge drawn up to this (A).
    volume_per_atom_A3 : (2,) float
        Range of the cell volume per atom the atoms are placed for (A^3).
    max_atoms : int or None
        Most atoms the cell is filled for (None: no bound beyond the volume).
    """

    max_lattice_A: float = MAX_LATTICE_A
    volume_per_atom_A3: tuple[float, float] = (8.0, 20.0)
    max_atoms: int | None = None


#: Named styles (``SimulationConfig.crystals``). ``compact`` is the original one: the
#: ORNL set left out materials with a lattice constant >= 10 A. ``varied`` widens the
#: cells and lowers the density, so that a model does not learn one generator's habits.
CRYSTAL_STYLES = {
    "compact": CrystalStyle(),
    "varied": CrystalStyle(max_lattice_A=12.5, volume_per_atom_A3=(8.0, 35.0), max_atoms=64),
}


def crystal_style(name: str) -> CrystalStyle:
    """The :class:`CrystalStyle` called ``name`` (a key of :data:`CRYSTAL_STYLES`)."""
    try:
        return CRYSTAL_STYLES[name]
    except KeyError:
        raise ValueError(
            f"crystal style must be one of {sorted(CRYSTAL_STYLES)}, got {name!r}"
        ) from None


class CrystalGenerationError(RuntimeError):
    """A crystal of the requested space group could not be generated."""


@dataclass(frozen=True, eq=False)
class Crystal:
    """A crystal: conventional cell and all of its atoms.

    Attributes
    ----------
    lattice : (3, 3) ndarray
        Rows are the lattice vectors a1, a2, a3 in Angstrom (cartesian).
    frac : (N, 3) ndarray
        Fractional coordinates in [0, 1) of ALL atoms of the conventional cell.
    numbers : (N,) ndarray of int
        Atomic numbers Z.
    space_group : int
        ITA space-group number, 1..230.
    material : str
        Material id, ``'syn-<n>'`` for synthetic crystals.
    """

    lattice: np.ndarray
    frac: np.ndarray
    numbers: np.ndarray
    space_group: int
    material: str = ""

    @property
    def abc(self) -> np.ndarray:
        """(3,) lattice constants a, b, c in Angstrom."""
        return np.linalg.norm(self.lattice, axis=1)

    @property
    def angles(self) -> np.ndarray:
        """(3,) lattice angles alpha, beta, gamma in degrees."""
        a1, a2, a3 = self.lattice
        a, b, c = self.abc

        def ang(u: np.ndarray, v: np.ndarray, nu: float, nv: float) -> float:
            return float(np.degrees(np.arccos(np.clip(u @ v / (nu * nv), -1.0, 1.0))))

        return np.array([ang(a2, a3, b, c), ang(a1, a3, a, c), ang(a1, a2, a, b)])

    @property
    def volume(self) -> float:
        """Cell volume in cubic Angstrom."""
        return float(abs(np.linalg.det(self.lattice)))

    @property
    def reciprocal(self) -> np.ndarray:
        """(3, 3) reciprocal vectors b_i as rows, with a_i . b_j = delta_ij (no 2 pi)."""
        return np.linalg.inv(self.lattice).T

    @property
    def formula(self) -> str:
        """Chemical formula of the cell in the ORNL style, e.g. ``'Fe8 O14 F2'``."""
        return formula_of(self.numbers)

    def spglib_cell(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``(lattice, positions, numbers)`` tuple spglib takes."""
        return (self.lattice, self.frac, self.numbers)


@contextmanager
def _quiet_spglib():
    """Silence spglib 2.5's DeprecationWarning about its error handling (None on failure
    is what this module relies on)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


@cache
def symmetry_operations(space_group: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetry operations of the standard setting of ``space_group``.

    Returns
    -------
    rotations : (n, 3, 3) ndarray of int
        Rotation parts W (acting on fractional column vectors).
    translations : (n, 3) ndarray
        Translation parts w, centring translations included.
    """
    import spglib

    with _quiet_spglib():
        ops = spglib.get_symmetry_from_database(space_group_info(space_group).hall_number)
    rot = np.asarray(ops["rotations"], dtype=int)
    trans = np.asarray(ops["translations"], dtype=float)
    rot.setflags(write=False)
    trans.setflags(write=False)
    return rot, trans


def point_group_rotations(space_group: int) -> np.ndarray:
    """(m, 3, 3) distinct rotation parts of ``space_group`` (its point group, fractional)."""
    rot, _ = symmetry_operations(space_group)
    return np.unique(rot, axis=0)


def lattice_from_parameters(abc, angles_deg) -> np.ndarray:
    """(3, 3) cell matrix (rows a1, a2, a3) with a1 along x and a2 in the xy plane."""
    a, b, c = (float(v) for v in abc)
    al, be, ga = np.radians(np.asarray(angles_deg, dtype=float))
    cx = c * np.cos(be)
    cy = c * (np.cos(al) - np.cos(be) * np.cos(ga)) / np.sin(ga)
    cz2 = c * c - cx * cx - cy * cy
    if cz2 <= 0:
        raise ValueError(f"lattice angles {np.degrees([al, be, ga])} do not form a cell")
    lat = np.array([[a, 0.0, 0.0], [b * np.cos(ga), b * np.sin(ga), 0.0], [cx, cy, np.sqrt(cz2)]])
    lat[np.abs(lat) < 1e-12] = 0.0
    return lat


def _distinct_ratios(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` length ratios in [0.3, 1] (max 1) that differ pairwise by at least 6 %."""
    while True:
        r = rng.uniform(0.3, 1.0, size=n)
        r /= r.max()
        if n == 1 or np.min(np.abs(np.subtract.outer(r, r))[np.triu_indices(n, 1)]) > 0.06:
            return r


def random_lattice_shape(space_group: int, rng: np.random.Generator):
    """Relative lengths (max 1) and angles (degrees) allowed by the crystal system.

    Unique axis b for monoclinic groups, hexagonal axes for trigonal and hexagonal
    groups (ITA standard settings). Ratios and angles keep away from values of a
    higher-symmetry metric (a = b, beta = 90, the cubic ratios of a rhombohedral cell).
    """

    system = crystal_system_of(space_group)
    if system == "cubic":
        return np.ones(3), np.full(3, 90.0)
    if system in ("tetragonal", "trigonal", "hexagonal"):
        while True:
            a, c = _distinct_ratios(rng, 2)
            ratio = c / a
            # c/a of a rhombohedral lattice in hexagonal axes that is really cubic
            # (primitive, face- or body-centred): sqrt(6)/2, sqrt(6), sqrt(3/8).
            if not any(abs(ratio / x - 1) < 0.05 for x in (1.2247, 2.4495, 0.6124)):
                break
        gamma = 90.0 if system == "tetragonal" else 120.0
        return np.array([a, a, c]), np.array([90.0, 90.0, gamma])
    lengths = _distinct_ratios(rng, 3)
    if system == "orthorhombic":
        return lengths, np.full(3, 90.0)
    if system == "monoclinic":
        return lengths, np.array([90.0, rng.uniform(93.0, 120.0), 90.0])
    while True:  # triclinic
        angles = rng.uniform(65.0, 115.0, size=3)
        if np.all(np.abs(angles - 90.0) > 3.0) and np.all(np.abs(np.diff(np.sort(angles))) > 2.0):
            try:
                lattice_from_parameters(lengths, angles)
            except ValueError:
                continue
            return lengths, angles


def orbit(seed: np.ndarray, rotations: np.ndarray, translations: np.ndarray) -> np.ndarray:
    """Distinct images in [0, 1) of one fractional point under the symmetry operations.

    Parameters
    ----------
    seed : (3,) ndarray
    rotations : (n, 3, 3) ndarray of int
    translations : (n, 3) ndarray

    Returns
    -------
    (m, 3) ndarray
        The Wyckoff orbit: images closer than 1e-5 (fractional) merge, so a seed on a
        special position gives fewer than n points.
    """
    images = np.einsum("nij,j->ni", rotations, seed) + translations
    images -= np.floor(images)
    images[images > 1.0 - 1e-9] = 0.0
    keys = np.round(images * 1e5).astype(np.int64) % 100000
    _, first = np.unique(keys, axis=0, return_index=True)
    return images[np.sort(first)]


def min_distance(
    frac_a: np.ndarray, frac_b: np.ndarray, lattice: np.ndarray, same: bool = False
) -> float:
    """Shortest periodic distance (Angstrom) between two sets of fractional points.

    Parameters
    ----------
    frac_a : (n, 3) ndarray
    frac_b : (m, 3) ndarray
    lattice : (3, 3) ndarray
    same : bool
        ``frac_a is frac_b``: the zero distance of each point to itself is ignored
        (its distance to its own lattice images is not).
    """
    if len(frac_a) == 0 or len(frac_b) == 0:
        return np.inf
    diff = frac_a[:, None, :] - frac_b[None, :, :]
    diff -= np.round(diff)
    cart = (diff[:, :, None, :] + _OFFSETS[None, None]) @ lattice
    dist = np.sqrt(np.einsum("abkx,abkx->abk", cart, cart))
    if same:
        n = len(frac_a)
        dist[np.arange(n), np.arange(n), 13] = np.inf  # offset index 13 is (0, 0, 0)
    return float(dist.min())


def _random_seed(rng: np.random.Generator, hexagonal: bool) -> np.ndarray:
    """A seed point mixing special values, coordinate ties and random values."""
    p_random = rng.uniform(0.2, 0.8)
    x = np.empty(3)
    for i in range(3):
        u = rng.random()
        if u < p_random:
            x[i] = rng.random()
        elif i > 0 and u < p_random + 0.15:
            j = rng.integers(i)
            factor = rng.choice([1.0, -1.0, 2.0, 0.5] if hexagonal else [1.0, -1.0])
            x[i] = factor * x[j] + rng.choice([0.0, 0.5, 0.25])
        else:
            x[i] = rng.choice(_SPECIAL)
    return x - np.floor(x)


def _choose_species(rng: np.random.Generator) -> list[int]:
    n = int(rng.choice([1, 2, 3, 4], p=[0.12, 0.38, 0.35, 0.15]))
    pool = list(ELEMENTS)
    if n == 1:
        return [int(rng.choice([z for z in pool if z not in ANIONS]))]
    anion = int(rng.choice(ANIONS))
    others = [z for z in pool if z != anion]
    return [int(z) for z in rng.choice(others, size=n - 1, replace=False)] + [anion]


def _try_build(space_group: int, rng: np.random.Generator, style: CrystalStyle):
    """One attempt: lattice, then Wyckoff orbits added while they keep 1.5 A apart."""

    rot, trans = symmetry_operations(space_group)
    hexagonal = crystal_system_of(space_group) in ("trigonal", "hexagonal")
    ratios, angles = random_lattice_shape(space_group, rng)
    shape = lattice_from_parameters(ratios, angles)
    longest = rng.uniform(max(MIN_LATTICE_A / ratios.min(), 3.5), style.max_lattice_A)
    lattice = shape * longest
    # 8-20 A^3 per atom (compact): dense enough to be a solid, loose enough to fit.
    target_atoms = max(2, int(abs(np.linalg.det(lattice)) / rng.uniform(*style.volume_per_atom_A3)))
    if style.max_atoms is not None:
        target_atoms = min(target_atoms, style.max_atoms)
    species = _choose_species(rng)
    n_orbits = len(species) + int(rng.integers(0, 4))

    frac = np.zeros((0, 3))
    numbers: list[int] = []
    for k in range(_MAX_ORBITS):
        # Beyond the drawn number of orbits, low-multiplicity groups (P1, P-1, ...) keep
        # adding orbits until the cell holds at least half the target: no empty cells.
        if k >= n_orbits and len(frac) >= target_atoms // 2:
            break
        z = species[k] if k < len(species) else int(rng.choice(species))
        for _ in range(_SEED_TRIES):
            pts = orbit(_random_seed(rng, hexagonal), rot, trans)
            if (
                len(pts) + len(frac) <= 2 * target_atoms + 4
                and min_distance(pts, pts, lattice, same=True) >= MIN_DISTANCE_A
                and min_distance(pts, frac, lattice) >= MIN_DISTANCE_A
            ):
                frac = np.vstack([frac, pts])
                numbers += [z] * len(pts)
                break
        else:
            if k < len(species):
                return None  # a species could not be placed: start again
        if len(frac) >= target_atoms:
            break
    return lattice, frac, np.asarray(numbers, dtype=int)


def detected_space_group(
    lattice: np.ndarray, frac: np.ndarray, numbers: np.ndarray, symprec: float = SYMPREC
) -> int:
    """Space-group number spglib finds for a cell (0 when it finds none)."""
    import spglib

    with _quiet_spglib():
        dataset = spglib.get_symmetry_dataset((lattice, frac, numbers), symprec=symprec)
    return 0 if dataset is None else int(dataset.number)


def random_crystal(
    space_group: int,
    rng: np.random.Generator,
    *,
    material: str = "",
    max_attempts: int = MAX_ATTEMPTS,
    style: CrystalStyle | str = "compact",
) -> Crystal:
    """A random crystal that spglib finds in exactly ``space_group``.

    Parameters
    ----------
    space_group : int
        ITA number, 1..230.
    rng : numpy.random.Generator
        Source of every random choice (same state, same crystal).
    material : str
        Material id stored on the crystal, e.g. ``'syn-17'``.
    max_attempts : int
        Attempts (new lattice and atoms) before giving up.
    style : CrystalStyle or str
        Cell sizes and densities, or the name of one in :data:`CRYSTAL_STYLES`.

    Returns
    -------
    Crystal
        Conventional cell, lattice constants below ``style.max_lattice_A`` (10 A for
        ``compact``), interatomic distances >= 1.5 A, 1-4 species.

    Raises
    ------
    CrystalGenerationError
        When no attempt gives a structure in the requested group.
    """

    info = space_group_info(space_group)  # validates the number
    if isinstance(style, str):
        style = crystal_style(style)
    found: dict[int, int] = {}
    for _ in range(max_attempts):
        built = _try_build(info.number, rng, style)
        if built is None:
            found[-1] = found.get(-1, 0) + 1
            continue
        lattice, frac, numbers = built
        number = detected_space_group(lattice, frac, numbers)
        if number == info.number:
            return Crystal(
                lattice=lattice,
                frac=frac,
                numbers=numbers,
                space_group=info.number,
                material=material,
            )
        found[number] = found.get(number, 0) + 1
    raise CrystalGenerationError(
        f"no crystal of space group {info.number} ({info.symbol}) after {max_attempts} "
        f"attempts; spglib found {dict(sorted(found.items()))} (-1: atoms did not fit)"
    )
