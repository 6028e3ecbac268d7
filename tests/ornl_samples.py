"""Small valid ORNL samples for tests: metadata, stacks and the small directory's contents.

Imported by ``tests/conftest.py`` (fixtures) and directly by tests that need the
builders outside a fixture (``from ornl_samples import build_meta, build_stack``).
"""

from __future__ import annotations

import numpy as np

from cbedfeat.data import SampleMeta

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
