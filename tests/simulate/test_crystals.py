"""Random crystals: every space group, spglib-verified, physical constraints."""

from __future__ import annotations

import numpy as np
import pytest

from cbedfeat.data.labels import crystal_system_of
from cbedfeat.simulate.crystals import (
    CRYSTAL_STYLES,
    MIN_DISTANCE_A,
    Crystal,
    CrystalGenerationError,
    detected_space_group,
    lattice_from_parameters,
    min_distance,
    orbit,
    random_crystal,
    symmetry_operations,
)
from cbedfeat.simulate.elements import formula_of


@pytest.fixture(scope="module")
def all_crystals() -> dict[int, Crystal]:
    """One crystal per space group, fixed seeds (about 8 s for all 230)."""
    return {
        sg: random_crystal(sg, np.random.default_rng(1000 + sg), material=f"syn-{sg}")
        for sg in range(1, 231)
    }


def test_every_space_group_is_recovered_by_spglib(all_crystals):
    wrong = {}
    for sg, c in all_crystals.items():
        found = detected_space_group(*c.spglib_cell(), symprec=1e-3)
        if found != sg:
            wrong[sg] = found
    assert wrong == {}


def test_every_crystal_is_physical(all_crystals):
    for sg, c in all_crystals.items():
        assert c.space_group == sg and c.material == f"syn-{sg}"
        assert c.frac.shape == (len(c.numbers), 3) and c.lattice.shape == (3, 3)
        assert np.all(c.frac >= 0) and np.all(c.frac < 1), sg
        assert np.all(c.abc < 10.0), (sg, c.abc)
        assert 1 <= len(set(c.numbers.tolist())) <= 4, sg
        assert min_distance(c.frac, c.frac, c.lattice, same=True) >= MIN_DISTANCE_A - 1e-9, sg


def test_lattice_follows_the_crystal_system(all_crystals):
    for sg, c in all_crystals.items():
        a, b, cc = c.abc
        al, be, ga = c.angles
        system = crystal_system_of(sg)
        if system == "cubic":
            assert np.allclose([a, b], cc) and np.allclose(c.angles, 90)
        elif system == "tetragonal":
            assert np.isclose(a, b) and not np.isclose(a, cc) and np.allclose(c.angles, 90)
        elif system in ("trigonal", "hexagonal"):
            assert np.isclose(a, b) and np.allclose([al, be, ga], [90, 90, 120])
        elif system == "orthorhombic":
            assert np.allclose(c.angles, 90) and len({round(x, 6) for x in c.abc}) == 3
        elif system == "monoclinic":  # unique axis b
            assert np.isclose(al, 90) and np.isclose(ga, 90) and not np.isclose(be, 90)
        else:
            assert not np.any(np.isclose(c.angles, 90))


def test_same_seed_same_crystal_other_seed_other_crystal():
    a = random_crystal(62, np.random.default_rng(7))
    b = random_crystal(62, np.random.default_rng(7))
    c = random_crystal(62, np.random.default_rng(8))
    assert np.array_equal(a.lattice, b.lattice) and np.array_equal(a.frac, b.frac)
    assert np.array_equal(a.numbers, b.numbers)
    assert not np.array_equal(a.lattice, c.lattice)


def test_wyckoff_multiplicities_of_fm3m():
    rot, trans = symmetry_operations(225)
    assert len(rot) == 192  # 48 point operations x 4 centring translations
    assert len(orbit(np.array([0.0, 0.0, 0.0]), rot, trans)) == 4  # 4a
    assert len(orbit(np.array([0.25, 0.25, 0.25]), rot, trans)) == 8  # 8c
    assert len(orbit(np.array([0.0, 0.25, 0.25]), rot, trans)) == 24  # 24d
    assert len(orbit(np.array([0.1, 0.1, 0.1]), rot, trans)) == 32  # 32f
    assert len(orbit(np.array([0.11, 0.23, 0.37]), rot, trans)) == 192  # general


def test_rhombohedral_groups_use_hexagonal_axes():
    rot, trans = symmetry_operations(166)  # R-3m, hexagonal setting: 12 x 3 centring
    assert len(rot) == 36
    pts = orbit(np.array([0.0, 0.0, 0.0]), rot, trans)
    assert np.allclose(sorted(pts[:, 2]), [0, 1 / 3, 2 / 3])


def test_min_distance_known_answers():
    cube4 = np.eye(3) * 4.0
    bcc = np.array([[0, 0, 0], [0.5, 0.5, 0.5]])
    assert min_distance(bcc, bcc, cube4, same=True) == pytest.approx(2 * np.sqrt(3))
    one = np.zeros((1, 3))
    assert min_distance(one, one, np.eye(3) * 3.0, same=True) == pytest.approx(3.0)
    # An oblique cell: the shortest contact is a lattice vector sum the minimum image misses.
    lat = lattice_from_parameters([3.0, 3.0, 5.0], [90, 90, 150])
    assert min_distance(one, one, lat, same=True) == pytest.approx(2 * 3.0 * np.sin(np.radians(15)))


def test_cell_properties():
    lat = lattice_from_parameters([3.0, 4.0, 5.0], [80.0, 95.0, 110.0])
    c = Crystal(lattice=lat, frac=np.zeros((1, 3)), numbers=np.array([8]), space_group=1)
    assert np.allclose(c.abc, [3, 4, 5]) and np.allclose(c.angles, [80, 95, 110])
    assert np.allclose(c.lattice @ c.reciprocal.T, np.eye(3))
    assert c.volume == pytest.approx(np.linalg.det(lat))
    assert c.formula == "O1"


def test_formula_in_ornl_style():
    numbers = [26] * 8 + [8] * 14 + [9] * 2
    assert formula_of(numbers) == "Fe8 O14 F2"  # sorted by electronegativity
    assert formula_of([17, 11, 11, 17]) == "Na2 Cl2"
    assert formula_of([8, 14, 8]) == "Si1 O2"


def test_bad_requests_fail_clearly():
    with pytest.raises(ValueError, match="1..230"):
        random_crystal(231, np.random.default_rng(0))
    with pytest.raises(CrystalGenerationError, match="space group 225"):
        random_crystal(225, np.random.default_rng(0), max_attempts=0)


def test_element_pool_has_scattering_factors():
    from cbedfeat.simulate.elements import ELEMENTS
    from cbedfeat.simulate.scattering import supported_numbers

    assert set(ELEMENTS) <= set(supported_numbers().tolist())


def test_varied_style_gives_larger_looser_cells_of_the_same_group():
    compact, varied = [], []
    for sg in (2, 14, 62, 139, 194, 225):
        for seed in range(4):
            for style, out in (("compact", compact), ("varied", varied)):
                c = random_crystal(sg, np.random.default_rng(seed), style=style)
                assert detected_space_group(c.lattice, c.frac, c.numbers) == sg
                out.append((c.abc.max(), c.volume / len(c.numbers), len(c.numbers)))
    compact, varied = np.array(compact), np.array(varied)
    assert compact[:, 0].max() < 10.0 and varied[:, 0].max() <= 12.5
    assert varied[:, 0].max() > 10.0  # some edges beyond the compact bound
    assert varied[:, 1].mean() > 1.2 * compact[:, 1].mean()  # looser packing
    assert varied[:, 2].max() <= 2 * 64 + 4  # the fill bound of max_atoms


def test_the_default_style_is_compact_and_names_are_checked():
    a = random_crystal(62, np.random.default_rng(3))
    b = random_crystal(62, np.random.default_rng(3), style="compact")
    c = random_crystal(62, np.random.default_rng(3), style=CRYSTAL_STYLES["compact"])
    assert np.array_equal(a.frac, b.frac) and np.array_equal(a.lattice, c.lattice)
    with pytest.raises(ValueError, match="crystal style"):
        random_crystal(62, np.random.default_rng(3), style="fluffy")
