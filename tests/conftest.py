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

import pytest
from hypothesis import settings
from ornl_samples import (  # noqa: F401  (re-exported for older imports)
    SMALL_ORNL_ENERGIES,
    SMALL_ORNL_MATERIALS,
    SMALL_ORNL_SIZE,
    build_meta,
    build_stack,
    electron_wavelength_angstrom,
)

from cbedfeat.data import ORNLWriter

settings.register_profile("cbedfeat", derandomize=True, deadline=None)
settings.load_profile("cbedfeat")


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
