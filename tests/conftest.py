"""Shared test fixtures (stable names: other test modules rely on them).

Fixtures
--------
make_meta : callable ``make_meta(**overrides) -> SampleMeta``
    A valid :class:`cbedfeat.data.SampleMeta` (space group 14, material 'mp-1000',
    100 keV, group 'sample_0_0', plausible lattice and geometry); any field can be
    overridden, e.g. ``make_meta(group="sample_3_1", space_group=225)``. The same
    function is importable for helpers as ``conftest.build_meta``.
make_stack : callable ``make_stack(seed=0, size=64) -> (3, size, size) float32``
    A deterministic, non-negative, CBED-like stack (bright centre decaying outwards,
    plus a little seeded noise).
small_ornl_dir : pathlib.Path (session scope; treat as read-only, copy to change it)
    A directory in the ORNL layout written by :class:`cbedfeat.data.ORNLWriter`::

        batch_train_0.h5  materials 0 (SG 14, mp-1000), 1 (SG 225, mp-1001)
        batch_train_1.h5  materials 2 (SG 62,  mp-1002), 3 (SG 14,  mp-1003)
        batch_dev_0.h5    material  4 (SG 194, mp-1004)
        batch_test_0.h5   material  5 (SG 225, mp-1005)

    each material at 100 and 110 keV (groups ``sample_<i>_0``, ``sample_<i>_1``),
    stacks (3, 64, 64) float32: 12 samples, 6 materials.
small_ornl_expected : dict
    What ``small_ornl_dir`` holds (keys: files, samples, per_split, materials,
    per_space_group, materials_per_space_group, per_crystal_system, shape, energies,
    space_group_of_material).

Hypothesis runs under the profile ``cbedfeat``: derandomized (the same examples on every
run, so CI is reproducible) and without per-example deadlines (the machine is shared).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import settings

from cbedfeat.data import ORNLWriter, SampleMeta

settings.register_profile("cbedfeat", derandomize=True, deadline=None)
settings.load_profile("cbedfeat")

# (file, material index, space group, a b c, alpha beta gamma, formula)
SMALL_ORNL_MATERIALS = (
    ("batch_train_0.h5", 0, 14, (5.1, 6.2, 7.3), (90.0, 101.5, 90.0), "Fe2 O3"),
    ("batch_train_0.h5", 1, 225, (4.05, 4.05, 4.05), (90.0, 90.0, 90.0), "Al4"),
    ("batch_train_1.h5", 2, 62, (5.5, 7.5, 5.0), (90.0, 90.0, 90.0), "Ca4 Ti4 O12"),
    ("batch_train_1.h5", 3, 14, (6.0, 4.9, 8.8), (90.0, 95.0, 90.0), "Na4 S4 O16"),
    ("batch_dev_0.h5", 4, 194, (3.2, 3.2, 5.2), (90.0, 90.0, 120.0), "Mg2"),
    ("batch_test_0.h5", 5, 225, (5.64, 5.64, 5.64), (90.0, 90.0, 90.0), "Na4 Cl4"),
)
SMALL_ORNL_ENERGIES = (100, 110)
SMALL_ORNL_SIZE = 64


def electron_wavelength_angstrom(energy_kev: float) -> float:
    """Relativistic electron wavelength (A); reference/cbed_physics.md (0.03701 A at 100 kV)."""
    volts = energy_kev * 1e3
    return 12.2643 / np.sqrt(volts * (1 + 0.97848e-6 * volts))


def build_meta(**overrides) -> SampleMeta:
    """A valid SampleMeta; keyword arguments override any field."""
    energy = overrides.get("energy_keV", 100)
    d_hkls = np.asarray(overrides.get("d_hkls_angstrom", (2.5, 2.1, 1.8)), dtype=float)
    fields = dict(
        file="",
        group="sample_0_0",
        split="unknown",
        material="mp-1000",
        space_group=14,
        energy_keV=energy,
        z_dirs=[[[1, 0, 0], [0, 1, 1], [1, 1, 1]]],
        y_dirs=[[[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, -1.0, 0.0]]],
        semi_angles_rad=electron_wavelength_angstrom(energy) / (4 * d_hkls),
        d_hkls_angstrom=d_hkls,
        abc_angstrom=(5.1, 6.2, 7.3),
        angles_degree=(90.0, 101.5, 90.0),
        formula="Fe2 O3",
    )
    fields.update(overrides)
    return SampleMeta(**fields)


def build_stack(seed: int = 0, size: int = SMALL_ORNL_SIZE) -> np.ndarray:
    """(3, size, size) float32, non-negative: bright centre decaying outwards plus noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    r = np.hypot(yy, xx)
    base = np.exp(-r / (size / 8))
    stack = np.stack([base * (1 + k) for k in range(3)]) + 0.01 * rng.random((3, size, size))
    return stack.astype(np.float32)


@pytest.fixture(name="make_meta")
def _make_meta_fixture():
    return build_meta


@pytest.fixture(name="make_stack")
def _make_stack_fixture():
    return build_stack


@pytest.fixture(scope="session")
def small_ornl_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("small_ornl")
    by_file: dict[str, list] = {}
    for entry in SMALL_ORNL_MATERIALS:
        by_file.setdefault(entry[0], []).append(entry)
    for fname, entries in by_file.items():
        with ORNLWriter(root / fname) as w:
            for _, i, sg, abc, angles, formula in entries:
                for j, energy in enumerate(SMALL_ORNL_ENERGIES):
                    meta = build_meta(
                        group=f"sample_{i}_{j}",
                        material=f"mp-{1000 + i}",
                        space_group=sg,
                        energy_keV=energy,
                        abc_angstrom=abc,
                        angles_degree=angles,
                        formula=formula,
                    )
                    w.write(build_stack(seed=10 * i + j), meta)
    return root


@pytest.fixture(scope="session")
def small_ornl_expected():
    per_split = {"train": 0, "dev": 0, "test": 0}
    per_sg: dict[int, int] = {}
    mats_sg: dict[int, int] = {}
    for fname, _, sg, *_ in SMALL_ORNL_MATERIALS:
        split = fname.split("_")[1]
        per_split[split] += len(SMALL_ORNL_ENERGIES)
        per_sg[sg] = per_sg.get(sg, 0) + len(SMALL_ORNL_ENERGIES)
        mats_sg[sg] = mats_sg.get(sg, 0) + 1
    return {
        "files": len({m[0] for m in SMALL_ORNL_MATERIALS}),
        "samples": len(SMALL_ORNL_MATERIALS) * len(SMALL_ORNL_ENERGIES),
        "per_split": per_split,
        "materials": len(SMALL_ORNL_MATERIALS),
        "per_space_group": per_sg,
        "materials_per_space_group": mats_sg,
        # 14 monoclinic x2 materials, 225 cubic x2, 62 orthorhombic, 194 hexagonal
        "per_crystal_system": {"monoclinic": 4, "cubic": 4, "orthorhombic": 2, "hexagonal": 2},
        "shape": (3, SMALL_ORNL_SIZE, SMALL_ORNL_SIZE),
        "energies": SMALL_ORNL_ENERGIES,
        "space_group_of_material": {f"mp-{1000 + i}": sg for _, i, sg, *_ in SMALL_ORNL_MATERIALS},
    }
