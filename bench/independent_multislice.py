"""An independent multislice check set in the ORNL layout, made without cbedfeat.simulate.

The question it serves: does a model trained on cbedfeat's own simulations hold on
dynamical CBED patterns that another generator made? Every physical choice here is
made by this file alone; from cbedfeat it takes only the ORNL writer (file layout and
attribute types, :mod:`cbedfeat.data.ornl_write`) and the ORNL space-group counts.

Crystals
    ``pyxtal`` (Fredericks et al. (2021), *Comput. Phys. Commun.* 261, 107810; PyPI,
    MIT) random crystals: the space group is drawn with the probabilities of the ORNL
    sample counts (``total`` column of ``ornl_sg_counts.csv``); 1-3 species from
    :data:`ELEMENTS` (often with an anion from :data:`ANIONS` as the last one); atoms per
    species = the sum of one or two Wyckoff multiplicities of the group (small ones
    preferred), at most ``max_atoms`` in the conventional cell. A crystal is kept when
    pyxtal succeeds, every cell edge lies in [``min_cell_A``, ``max_cell_A``], and spglib
    finds exactly the requested group at ``symprec`` 1e-3 (no accidental supergroup).

Zone axes from the strongest reflections
    Kinematic X-ray intensities |F_hkl|^2 (pymatgen's X-ray form factors
    ``f(s) = Z - 41.78214 s^2 sum_i a_i exp(-b_i s^2)``, s = 1 / (2 d), no thermal
    factor) of every reflection with |h|, |k|, |l| <= 3 and 1 < d < 5 A. Reflections of
    equal intensity and d form a family (symmetry-equivalent ones always do), families
    are ranked by intensity. For each pair of non-parallel reflections among the
    ``n_families`` strongest families, the zone axis containing both is their cross
    product [uvw] = h1 x h2 (Weiss zone law: h . uvw = 0 for both), divided by the gcd,
    sign fixed so the first non-zero index is positive, kept when max |u|, |v|, |w| <=
    ``max_index`` and its period |u a1 + v a2 + w a3| <= ``max_period_A``. Candidates
    are sorted by the rank of the weaker family of their pair (the pair of the
    strongest reflections first), then by period (low index), then by [uvw]; three are
    taken greedily, skipping any equivalent to one already taken under the point
    group's rotations (spglib) or inversion. Where fewer than three exist, the search
    widens (|h| <= 5, 0.7 < d < 8 A, more families); where it still fails the crystal
    is redrawn.

Reference reflection and convergence
    For each axis the reference reflection is the shortest ZOLZ reflection (h . uvw = 0,
    |h|, |k|, |l| <= 8) that is not extinct (|F| > 1e-3 sum_j f_j); ties go to the
    stronger, then the larger hkl. d_ref = 1 / |g_ref|, semi-angle alpha =
    lambda / (4 d_ref) (ORNL), so neighbouring disks of the zone at most touch.

Rendering (abTEM, Madsen & Susi (2021), *Open Research Europe* 1, 24)
    The beam runs along +z = the zone axis, +x along g_ref. The crystal's lattice
    vector T = u a1 + v a2 + w a3 lies along the beam, so the crystal repeats along z
    with period P = |T|: the atoms of one period filling a ``box_A`` x ``box_A`` column
    (crystal origin at the box centre) make one ``abtem.Potential`` (abTEM's default
    parametrisation and projection) sliced into ceil(P / ``max_slice_A``) equal slices,
    and ``abtem.CrystalPotential`` repeats it round(``thickness_A`` / P) times (at
    least once): the thickness is the whole number of periods nearest ``thickness_A``.
    One ``abtem.Probe`` (no aberrations, focused on the entrance surface) at the box
    centre, ``gpts`` x ``gpts`` points over the box, so the diffraction pattern from
    ``diffraction_patterns(max_angle='full')`` has 1 / ``box_A`` = 0.01 1/A pixels; the
    array is stored as abTEM returns it (axis 0 = k_x, axis 1 = k_y, zero frequency at
    index gpts // 2) in abTEM's normalisation. One beam energy per material, drawn from
    the ORNL energies 100, 110, ..., 190 keV unless ``--energy`` fixes it; the wavelength
    is the relativistic one computed here from CODATA constants.

Files
    ``batch_test_<n>.h5`` with ``per_file`` materials each (group ``sample_<i>_<j>``,
    i the material index, j the energy's index in the ORNL list), written by
    cbedfeat's ORNL writer (every attribute, atomically), plus
    ``batch_test_<n>.info.json`` with what the attributes do not hold (strong
    reflection pairs, periods, thickness, atoms, wall and CPU seconds per pattern).
    A file that exists is skipped, so an interrupted run resumes; every material's
    random draws come from ``SeedSequence([seed, i])``, whatever the workers or file
    size.

Usage::

    python bench/independent_multislice.py --n-materials 300 --out bench/data/independent \\
        --workers 2 --seed 7
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from math import gcd
from pathlib import Path

# One BLAS / FFT thread per process: the workers are the parallelism.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ORNL_ENERGIES_KEV = tuple(range(100, 200, 10))
ROOT = Path(__file__).resolve().parents[1]
SG_COUNTS = ROOT / "cbedfeat" / "resources" / "ornl_sg_counts.csv"

#: cations and other species, Z <= 80, no noble gases, no hydrogen (too weak a scatterer)
ELEMENTS = (
    "Li Be B C N O F Na Mg Al Si P S Cl K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br "
    "Rb Sr Y Zr Nb Mo Ru Rh Pd Ag Cd In Sn Sb Te I Cs Ba La Ce Pr Nd Sm Eu Gd Tb Dy Ho "
    "Er Yb Lu Hf Ta W Re Os Ir Pt Au Hg"
).split()
#: the last species of a compound is often one of these (oxides, halides, chalcogenides)
ANIONS = ("O", "O", "O", "F", "S", "N", "Cl", "Se", "Br", "Te", "P")

# CODATA 2018
_H = 6.62607015e-34  # J s
_M0 = 9.1093837015e-31  # kg
_E = 1.602176634e-19  # C
_C = 299792458.0  # m / s


def wavelength_A(energy_keV: float) -> float:
    """Relativistic electron wavelength in A.

    lambda = h / sqrt(2 m0 e V (1 + e V / (2 m0 c^2))) (e.g. Williams & Carter,
    *Transmission Electron Microscopy* (2009), eq. 1.6); 0.03701 A at 100 keV.
    """
    ev = float(energy_keV) * 1e3 * _E
    return _H / np.sqrt(2.0 * _M0 * ev * (1.0 + ev / (2.0 * _M0 * _C**2))) * 1e10


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    """Everything that decides the check set besides the seed and the material index.

    Attributes
    ----------
    gpts : int
        Real-space grid points per side = detector pixels per side.
    box_A : float
        Lateral size of the simulation box; the pattern's pixel is 1 / box_A 1/A.
    thickness_A : float
        Target thickness (rounded to whole periods along the beam).
    max_slice_A : float
        Largest slice thickness.
    energy_keV : int or None
        Beam energy of every material; None draws one per material from the ORNL ones.
    min_cell_A, max_cell_A : float
        Bounds on the conventional cell edges.
    max_atoms : int
        Most atoms in the conventional cell.
    max_index : int
        Largest |u|, |v|, |w| of a zone axis.
    max_period_A : float
        Longest period |u a1 + v a2 + w a3| of a zone axis (cost of one potential unit).
    n_families : int
        Strongest reflection families whose pairs define candidate zone axes.
    """

    gpts: int = 512
    box_A: float = 100.0
    thickness_A: float = 200.0
    max_slice_A: float = 2.0
    energy_keV: int | None = None
    min_cell_A: float = 3.0
    max_cell_A: float = 20.0
    max_atoms: int = 48
    max_index: int = 3
    max_period_A: float = 50.0
    n_families: int = 6


# ----------------------------------------------------------------------------- crystals


@dataclass(frozen=True, eq=False)
class Material:
    """A crystal: conventional cell and all of its atoms.

    Attributes
    ----------
    lattice : (3, 3) ndarray
        Rows a1, a2, a3 in A (cartesian).
    frac : (N, 3) ndarray
        Fractional coordinates of every atom of the cell.
    symbols : tuple of str, length N
    space_group : int
    rotations : (K, 3, 3) ndarray of int
        Rotation parts of the space group's operations in the cell's basis (spglib):
        a direction [uvw] goes to W [uvw], a reflection h to h W.
    """

    lattice: np.ndarray
    frac: np.ndarray
    symbols: tuple[str, ...]
    space_group: int
    rotations: np.ndarray

    @property
    def numbers(self) -> np.ndarray:
        """(N,) atomic numbers."""
        from ase.data import atomic_numbers

        return np.array([atomic_numbers[s] for s in self.symbols], dtype=int)

    @property
    def recip(self) -> np.ndarray:
        """(3, 3) reciprocal basis, rows b_i with a_i . b_j = delta_ij (no 2 pi)."""
        return np.linalg.inv(self.lattice).T

    @property
    def formula(self) -> str:
        """Formula in order of first appearance, e.g. 'Fe4 O8'."""
        order = list(dict.fromkeys(self.symbols))
        return " ".join(f"{s}{self.symbols.count(s)}" for s in order)

    def cellpar(self) -> tuple[np.ndarray, np.ndarray]:
        """(3,) a, b, c in A and (3,) alpha, beta, gamma in degrees."""
        from ase.geometry import cell_to_cellpar

        par = cell_to_cellpar(self.lattice)
        return par[:3], par[3:]


def space_group_probabilities(path: Path = SG_COUNTS) -> tuple[np.ndarray, np.ndarray]:
    """Space groups and their shares of all ORNL samples.

    Returns
    -------
    groups : (G,) ndarray of int
    p : (G,) ndarray of float
        Sums to 1; only groups with samples.
    """
    import pandas as pd

    counts = pd.read_csv(path)
    counts = counts[counts["total"] > 0]
    total = counts["total"].to_numpy(dtype=float)
    return counts["space_group"].to_numpy(dtype=int), total / total.sum()


def _composition(
    rng: np.random.Generator, group, max_atoms: int
) -> tuple[list[str], list[int]] | None:
    """Species and atoms per species drawn for a pyxtal ``Group``; None if incompatible."""
    n_species = int(rng.choice([1, 2, 3], p=[0.15, 0.45, 0.40]))
    species = [str(s) for s in rng.choice(ELEMENTS, size=n_species, replace=False)]
    if n_species > 1 and rng.random() < 0.6:
        anion = str(rng.choice(ANIONS))
        if anion not in species:
            species[-1] = anion
    mults = np.unique([w.multiplicity for w in group.Wyckoff_positions])
    mults = mults[mults <= max_atoms]
    if mults.size == 0:
        return None
    weights = 1.0 / mults  # small multiplicities first: affordable cells
    weights /= weights.sum()
    num = [
        int(rng.choice(mults, size=int(rng.choice([1, 2], p=[0.7, 0.3])), p=weights).sum())
        for _ in species
    ]
    if sum(num) > max_atoms or not group.check_compatible(num)[0]:
        return None
    return species, num


def random_material(
    space_group: int, rng: np.random.Generator, settings: Settings, *, max_tries: int = 400
) -> Material:
    """A pyxtal crystal of ``space_group`` within the settings' cell bounds.

    Raises
    ------
    RuntimeError
        When ``max_tries`` draws gave no acceptable crystal.
    """
    import spglib
    from pyxtal import pyxtal
    from pyxtal.symmetry import Group

    group = Group(int(space_group))
    for _ in range(max_tries):
        comp = _composition(rng, group, settings.max_atoms)
        if comp is None:
            continue
        species, num = comp
        crystal = pyxtal()
        try:
            crystal.from_random(
                3, int(space_group), species, num, random_state=int(rng.integers(2**31))
            )
        except Exception:  # noqa: BLE001 - pyxtal raises many kinds on an impossible draw
            continue
        if not crystal.valid:
            continue
        atoms = crystal.to_ase()
        lattice = np.asarray(atoms.cell[:], dtype=float)
        abc = np.linalg.norm(lattice, axis=1)
        if abc.min() < settings.min_cell_A or abc.max() > settings.max_cell_A:
            continue
        frac = np.mod(atoms.get_scaled_positions(wrap=False), 1.0)
        data = spglib.get_symmetry_dataset(
            (lattice, frac, atoms.get_atomic_numbers()), symprec=1e-3
        )
        if data is None or int(data.number) != int(space_group):
            continue
        return Material(
            lattice=lattice,
            frac=frac,
            symbols=tuple(atoms.get_chemical_symbols()),
            space_group=int(space_group),
            rotations=np.asarray(data.rotations, dtype=int),
        )
    raise RuntimeError(f"no acceptable crystal of space group {space_group} in {max_tries} draws")


# ----------------------------------------------------------------------------- reflections


def _form_factor_table(symbols) -> dict[str, np.ndarray]:
    from pymatgen.analysis.diffraction.xrd import ATOMIC_SCATTERING_PARAMS

    return {s: np.asarray(ATOMIC_SCATTERING_PARAMS[s], dtype=float) for s in set(symbols)}


def structure_factors(material: Material, hkl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kinematic X-ray structure factors.

    Parameters
    ----------
    material : Material
    hkl : (M, 3) ndarray of int

    Returns
    -------
    F : (M,) complex ndarray
        sum_j f_j(s) exp(2 pi i h . x_j) over every atom of the cell.
    total_f : (M,) ndarray
        sum_j f_j(s): the scale an extinct reflection is small against.
    """
    from ase.data import atomic_numbers

    hkl = np.asarray(hkl, dtype=float).reshape(-1, 3)
    s2 = (np.linalg.norm(hkl @ material.recip, axis=1) / 2.0) ** 2
    table = _form_factor_table(material.symbols)
    phases = np.exp(2j * np.pi * hkl @ material.frac.T)  # (M, N)
    symbols = np.array(material.symbols)
    F = np.zeros(len(hkl), dtype=complex)
    total = np.zeros(len(hkl))
    for sym, coeff in table.items():
        f = atomic_numbers[sym] - 41.78214 * s2 * np.sum(
            coeff[:, 0] * np.exp(-coeff[:, 1] * s2[:, None]), axis=1
        )
        mask = symbols == sym
        F += f * phases[:, mask].sum(axis=1)
        total += f * mask.sum()
    return F, total


def hkl_grid(hmax: int) -> np.ndarray:
    """(M, 3) int: every hkl with entries in [-hmax, hmax] but 000."""
    r = np.arange(-hmax, hmax + 1)
    grid = np.stack(np.meshgrid(r, r, r, indexing="ij"), axis=-1).reshape(-1, 3)
    return grid[np.any(grid != 0, axis=1)]


def strong_reflections(
    material: Material, *, hmax: int = 3, d_range: tuple[float, float] = (1.0, 5.0)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Allowed reflections in a d-range, ranked into families by intensity.

    Returns
    -------
    hkl : (M, 3) ndarray of int
        Strongest family first.
    intensity : (M,) ndarray
        |F|^2.
    family : (M,) ndarray of int
        0 for the strongest family; equal intensity and d share a family.
    """
    hkl = hkl_grid(hmax)
    d = 1.0 / np.linalg.norm(hkl @ material.recip, axis=1)
    hkl, d = hkl[(d > d_range[0]) & (d < d_range[1])], d[(d > d_range[0]) & (d < d_range[1])]
    F, total = structure_factors(material, hkl)
    allowed = np.abs(F) > 1e-3 * total
    hkl, d, inten = hkl[allowed], d[allowed], np.abs(F[allowed]) ** 2
    if inten.size == 0:
        return hkl, inten, np.zeros(0, dtype=int)
    # Family key rounded: symmetry-equivalent reflections agree to float rounding.
    key_i = np.round(inten / inten.max(), 6)
    key_d = np.round(d, 6)
    order = np.lexsort((-hkl[:, 2], -hkl[:, 1], -hkl[:, 0], key_d, -key_i))
    hkl, inten, key_i, key_d = hkl[order], inten[order], key_i[order], key_d[order]
    new = np.r_[True, (np.diff(key_i) != 0) | (np.diff(key_d) != 0)]
    return hkl, inten, np.cumsum(new) - 1


def _reduce(v: np.ndarray) -> np.ndarray:
    """Divide by the gcd and make the first non-zero entry positive."""
    v = np.asarray(v, dtype=int)
    g = gcd(gcd(abs(int(v[0])), abs(int(v[1]))), abs(int(v[2])))
    v = v // g
    if v[np.flatnonzero(v)[0]] < 0:
        v = -v
    return v


def equivalent_directions(material: Material, uvw: np.ndarray) -> set[tuple[int, int, int]]:
    """Every W [uvw] and -W [uvw] under the point group's rotations."""
    out = set()
    for w in material.rotations:
        t = w @ np.asarray(uvw, dtype=int)
        out.add(tuple(int(x) for x in t))
        out.add(tuple(int(-x) for x in t))
    return out


@dataclass(frozen=True)
class ZoneAxis:
    """One zone axis with the strong pair it came from and its reference reflection.

    Attributes
    ----------
    uvw : (3,) tuple of int
    pair : ((3,) tuple of int, (3,) tuple of int)
        The two strong reflections the axis contains (h . uvw = 0 for both).
    pair_families : (int, int)
        Their intensity ranks (0 = strongest family).
    period_A : float
        |u a1 + v a2 + w a3|.
    hkl_ref : (3,) tuple of int
        Reference reflection (shortest allowed ZOLZ reflection).
    d_ref : float
        Its d-spacing in A.
    """

    uvw: tuple[int, int, int]
    pair: tuple[tuple[int, int, int], tuple[int, int, int]]
    pair_families: tuple[int, int]
    period_A: float
    hkl_ref: tuple[int, int, int] = (0, 0, 0)
    d_ref: float = 0.0


def _candidate_axes(
    material: Material, *, hmax: int, d_range, n_families: int, max_index: int, max_period: float
) -> list[ZoneAxis]:
    hkl, _, family = strong_reflections(material, hmax=hmax, d_range=d_range)
    keep = family < n_families
    hkl, family = hkl[keep], family[keep]
    best: dict[tuple[int, int, int], tuple] = {}
    for i in range(len(hkl)):
        for j in range(i + 1, len(hkl)):
            cross = np.cross(hkl[i], hkl[j])
            if not cross.any():
                continue  # parallel (e.g. a Friedel pair)
            uvw = _reduce(cross)
            if np.abs(uvw).max() > max_index:
                continue
            period = float(np.linalg.norm(uvw @ material.lattice))
            if period > max_period:
                continue
            fams = (int(min(family[i], family[j])), int(max(family[i], family[j])))
            key = (fams[1], fams[0], round(period, 9), tuple(-int(x) for x in uvw))
            t = tuple(int(x) for x in uvw)
            if t not in best or key < best[t][0]:
                pair = (tuple(int(x) for x in hkl[i]), tuple(int(x) for x in hkl[j]))
                best[t] = (key, ZoneAxis(t, pair, fams, period))
    return [za for _, za in sorted(best.values(), key=lambda kv: kv[0])]


def reference_reflection(
    material: Material, uvw, *, hmax: int = 8
) -> tuple[tuple[int, int, int], float]:
    """Shortest non-extinct ZOLZ reflection of [uvw] and its d-spacing.

    Raises
    ------
    ValueError
        When no allowed ZOLZ reflection has entries within ``hmax``.
    """
    hkl = hkl_grid(hmax)
    hkl = hkl[hkl @ np.asarray(uvw, dtype=int) == 0]
    F, total = structure_factors(material, hkl)
    ok = np.abs(F) > 1e-3 * total
    if not ok.any():
        raise ValueError(f"no allowed ZOLZ reflection of {list(uvw)} within |h| <= {hmax}")
    hkl, F = hkl[ok], F[ok]
    glen = np.round(np.linalg.norm(hkl @ material.recip, axis=1), 9)
    i = np.lexsort((-hkl[:, 2], -hkl[:, 1], -hkl[:, 0], -np.round(np.abs(F), 6), glen))[0]
    return tuple(int(x) for x in hkl[i]), float(1.0 / glen[i])


def choose_zone_axes(material: Material, settings: Settings, n: int = 3) -> list[ZoneAxis]:
    """Three symmetry-inequivalent zone axes from pairs of the strongest reflections.

    Raises
    ------
    ValueError
        When even the widened search finds fewer than ``n``.
    """
    searches = (
        {"hmax": 3, "d_range": (1.0, 5.0), "n_families": settings.n_families},
        {"hmax": 5, "d_range": (0.7, 8.0), "n_families": 3 * settings.n_families},
    )
    for search in searches:
        chosen: list[ZoneAxis] = []
        seen: set[tuple[int, int, int]] = set()
        for za in _candidate_axes(
            material,
            max_index=settings.max_index,
            max_period=settings.max_period_A,
            **search,
        ):
            if za.uvw in seen:
                continue
            try:
                hkl_ref, d_ref = reference_reflection(material, za.uvw)
            except ValueError:
                continue
            chosen.append(ZoneAxis(za.uvw, za.pair, za.pair_families, za.period_A, hkl_ref, d_ref))
            seen |= equivalent_directions(material, np.array(za.uvw))
            if len(chosen) == n:
                return chosen
    raise ValueError(f"fewer than {n} zone axes found")


# ----------------------------------------------------------------------------- rendering


def beam_frame(material: Material, zone: ZoneAxis) -> np.ndarray:
    """(3, 3) rows e_x (along g_ref), e_y, e_z (along the zone axis), cartesian."""
    ez = np.asarray(zone.uvw, dtype=float) @ material.lattice
    ez /= np.linalg.norm(ez)
    ex = np.asarray(zone.hkl_ref, dtype=float) @ material.recip
    ex /= np.linalg.norm(ex)
    return np.array([ex, np.cross(ez, ex), ez])


def column_atoms(
    material: Material, frame: np.ndarray, period_A: float, box_A: float
) -> tuple[np.ndarray, np.ndarray]:
    """Every atom of a ``box_A`` x ``box_A`` x ``period_A`` column in the beam frame.

    Returns
    -------
    numbers : (M,) ndarray of int
    positions : (M, 3) ndarray
        In [0, box_A)^2 x [0, period_A), crystal origin at the centre of the box.
    """
    lat = material.lattice
    centre = np.array([box_A / 2.0, box_A / 2.0, 0.0])
    corners = np.array(
        [[x, y, z] for x in (0.0, box_A) for y in (0.0, box_A) for z in (0.0, period_A)]
    )
    # beam frame -> cartesian -> fractional: the lattice translations that can reach the box
    frac = (corners - centre) @ frame @ np.linalg.inv(lat)
    lo, hi = np.floor(frac.min(axis=0)) - 1, np.ceil(frac.max(axis=0)) + 1
    cart = material.frac @ lat
    numbers = material.numbers
    out_z, out_p = [], []
    for n0 in np.arange(lo[0], hi[0] + 1):  # one lattice plane at a time keeps memory small
        n12 = np.stack(
            np.meshgrid([n0], np.arange(lo[1], hi[1] + 1), np.arange(lo[2], hi[2] + 1)), -1
        ).reshape(-1, 3)
        pos = ((n12 @ lat)[:, None, :] + cart[None]).reshape(-1, 3) @ frame.T + centre
        # Half-open along z with a tolerance: an atom and its copy one period up are one.
        eps = 1e-6 * period_A
        keep = (
            (pos[:, 0] >= 0)
            & (pos[:, 0] < box_A)
            & (pos[:, 1] >= 0)
            & (pos[:, 1] < box_A)
            & (pos[:, 2] >= -eps)
            & (pos[:, 2] < period_A - eps)
        )
        out_p.append(pos[keep])
        out_z.append(np.tile(numbers, len(n12))[keep])
    pos = np.concatenate(out_p)
    pos[:, 2] = np.clip(pos[:, 2], 0.0, None)
    return np.concatenate(out_z), pos


def _abtem():
    import abtem

    abtem.config.set({"diagnostics.progress_bar": False, "dask.lazy": False})
    return abtem


def render(
    material: Material, zone: ZoneAxis, energy_keV: float, settings: Settings
) -> tuple[np.ndarray, dict]:
    """One CBED pattern by multislice.

    Returns
    -------
    pattern : (gpts, gpts) ndarray of float32
        abTEM's diffraction pattern, axis 0 along k_x (towards g_ref), axis 1 along k_y.
    info : dict
        ``semi_angle``, ``period_A``, ``thickness_A``, ``n_slices``, ``n_atoms``.
    """
    import ase

    abtem = _abtem()
    frame = beam_frame(material, zone)
    numbers, positions = column_atoms(material, frame, zone.period_A, settings.box_A)
    atoms = ase.Atoms(
        numbers=numbers,
        positions=positions,
        cell=[settings.box_A, settings.box_A, zone.period_A],
        pbc=True,
    )
    n_slices = int(np.ceil(zone.period_A / settings.max_slice_A - 1e-9))
    unit = abtem.Potential(atoms, gpts=settings.gpts, slice_thickness=zone.period_A / n_slices)
    reps = max(1, int(round(settings.thickness_A / zone.period_A)))
    potential = abtem.CrystalPotential(unit, repetitions=(1, 1, reps))
    alpha = wavelength_A(energy_keV) / (4.0 * zone.d_ref)
    probe = abtem.Probe(energy=float(energy_keV) * 1e3, semiangle_cutoff=alpha * 1e3)
    probe.grid.match(unit)
    centre = np.array([[settings.box_A / 2.0, settings.box_A / 2.0]])
    exit_waves = probe.multislice(potential, scan=centre)
    dp = exit_waves.diffraction_patterns(max_angle="full").compute()
    pattern = np.asarray(dp.array, dtype=np.float32).reshape(settings.gpts, settings.gpts)
    info = {
        "semi_angle": float(alpha),
        "period_A": float(zone.period_A),
        "thickness_A": float(reps * zone.period_A),
        "n_slices": int(reps * n_slices),
        "n_atoms": int(len(numbers)),
    }
    return pattern, info


# ----------------------------------------------------------------------------- materials


def material_rng(seed: int, index: int) -> np.random.Generator:
    """The random stream of material ``index``: the same whatever the run layout."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))


def draw_material(seed: int, index: int, settings: Settings):
    """Space group, crystal, zone axes and energy of material ``index`` (no rendering).

    Returns
    -------
    material : Material
    zones : list of ZoneAxis, length 3
    energy_keV : int
    """
    rng = material_rng(seed, index)
    groups, p = space_group_probabilities()
    energy = (
        int(settings.energy_keV)
        if settings.energy_keV is not None
        else int(rng.choice(ORNL_ENERGIES_KEV))
    )
    for _ in range(20):
        sg = int(rng.choice(groups, p=p))
        try:
            material = random_material(sg, rng, settings)
            zones = choose_zone_axes(material, settings)
        except (RuntimeError, ValueError):
            continue  # redraw the group: a rare one pyxtal cannot fill within the bounds
        return material, zones, energy
    raise RuntimeError(f"material {index}: no acceptable crystal in 20 space groups")


def make_material(seed: int, index: int, settings: Settings):
    """Draw and render material ``index``.

    Returns
    -------
    stack : (3, gpts, gpts) ndarray of float32
    meta : cbedfeat.data.ornl.SampleMeta
    info : dict
        Zone axes with their strong pairs and rendering details, JSON-ready.
    """
    from cbedfeat.data.ornl import SampleMeta

    start = time.perf_counter()
    material, zones, energy = draw_material(seed, index, settings)
    patterns, infos = [], []
    for zone in zones:
        t0, c0 = time.perf_counter(), time.process_time()
        pattern, info = render(material, zone, energy, settings)
        patterns.append(pattern)
        # CPU seconds as well as wall seconds: the machine is shared
        infos.append(
            {
                **asdict(zone),
                **info,
                "seconds": time.perf_counter() - t0,
                "cpu_seconds": time.process_time() - c0,
            }
        )
    abc, angles = material.cellpar()
    j = ORNL_ENERGIES_KEV.index(energy) if energy in ORNL_ENERGIES_KEV else 0
    meta = SampleMeta(
        file="",
        group=f"sample_{index}_{j}",
        split="test",
        material=f"indep-{seed}-{index:04d}",
        space_group=material.space_group,
        energy_keV=energy,
        z_dirs=np.array([z.uvw for z in zones], dtype=np.int64),
        y_dirs=np.array([z.hkl_ref for z in zones], dtype=float),
        semi_angles_rad=np.array([i["semi_angle"] for i in infos]),
        d_hkls_angstrom=np.array([z.d_ref for z in zones]),
        abc_angstrom=abc,
        angles_degree=angles,
        formula=material.formula,
    )
    info = {
        "index": index,
        "material": meta.material,
        "space_group": material.space_group,
        "formula": material.formula,
        "n_atoms_cell": len(material.symbols),
        "abc": abc.tolist(),
        "angles": angles.tolist(),
        "energy_keV": energy,
        "zones": infos,
        "seconds": time.perf_counter() - start,
    }
    return np.stack(patterns), meta, info


# ----------------------------------------------------------------------------- files


def file_materials(n_materials: int, per_file: int) -> list[list[int]]:
    """Material indices of each file: [0..per_file), [per_file..2 per_file), ..."""
    return [list(range(s, min(s + per_file, n_materials))) for s in range(0, n_materials, per_file)]


def write_file(out: Path, number: int, indices: list[int], seed: int, settings: Settings) -> Path:
    """Render ``indices`` into ``batch_test_<number>.h5`` (atomic) and its info JSON."""
    from cbedfeat.data.ornl_write import ORNLWriter

    path = out / f"batch_test_{number}.h5"
    infos = []
    with ORNLWriter(path) as writer:
        for i in indices:
            stack, meta, info = make_material(seed, i, settings)
            writer.write(stack, meta)
            infos.append(info)
    side = out / f"batch_test_{number}.info.json"
    tmp = side.with_name(side.name + ".tmp")
    tmp.write_text(json.dumps({"seed": seed, "settings": asdict(settings), "materials": infos}))
    os.replace(tmp, side)
    return path


def _work(job) -> tuple[int, int]:
    out, number, indices, seed, settings = job
    write_file(out, number, indices, seed, settings)
    return number, len(indices)


def generate(
    out: Path,
    n_materials: int,
    *,
    seed: int,
    settings: Settings | None = None,
    workers: int = 1,
    per_file: int = 10,
    progress: bool = True,
) -> list[Path]:
    """Write every missing file of the check set; return all of its files.

    Parameters
    ----------
    out : path
        Output directory (created).
    n_materials : int
    seed : int
    settings : Settings, optional
    workers : int
        Processes; 1 renders in this process.
    per_file : int
        Materials per HDF5 file (the unit of resumption).
    progress : bool
        A tqdm bar over materials.
    """
    from tqdm import tqdm

    settings = Settings() if settings is None else settings
    out = Path(out).absolute()  # workers must not depend on the working directory
    out.mkdir(parents=True, exist_ok=True)
    groups = file_materials(n_materials, per_file)
    paths = [out / f"batch_test_{k}.h5" for k in range(len(groups))]
    jobs = [(out, k, idx, seed, settings) for k, idx in enumerate(groups) if not paths[k].exists()]
    done = n_materials - sum(len(j[2]) for j in jobs)
    with tqdm(total=n_materials, initial=done, unit="material", disable=not progress) as bar:
        if workers <= 1:
            for job in jobs:
                bar.update(_work(job)[1])
        else:
            import multiprocessing as mp

            # spawn: fresh interpreters, no inherited FFTW or BLAS thread state
            with mp.get_context("spawn").Pool(workers, maxtasksperchild=4) as pool:
                for _, n in pool.imap_unordered(_work, jobs):
                    bar.update(n)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-materials", type=int, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "data" / "independent")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-file", type=int, default=10, help="materials per HDF5 file")
    parser.add_argument("--gpts", type=int, default=Settings.gpts)
    parser.add_argument("--thickness", type=float, default=Settings.thickness_A, help="A")
    parser.add_argument(
        "--energy",
        type=int,
        default=None,
        help="keV for every material (default: drawn from the ORNL energies 100..190)",
    )
    parser.add_argument("--max-cell", type=float, default=Settings.max_cell_A, help="A")
    parser.add_argument("--max-atoms", type=int, default=Settings.max_atoms)
    args = parser.parse_args(argv)
    settings = Settings(
        gpts=args.gpts,
        thickness_A=args.thickness,
        energy_keV=args.energy,
        max_cell_A=args.max_cell,
        max_atoms=args.max_atoms,
    )
    start = time.perf_counter()
    paths = generate(
        args.out,
        args.n_materials,
        seed=args.seed,
        settings=settings,
        workers=args.workers,
        per_file=args.per_file,
    )
    print(f"{len(paths)} files in {args.out} ({time.perf_counter() - start:.0f} s this run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "ANIONS",
    "ELEMENTS",
    "Material",
    "Settings",
    "ZoneAxis",
    "choose_zone_axes",
    "draw_material",
    "generate",
    "make_material",
    "random_material",
    "reference_reflection",
    "render",
    "strong_reflections",
    "structure_factors",
    "wavelength_A",
]
