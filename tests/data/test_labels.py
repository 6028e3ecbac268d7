"""Space-group labels against the International Tables (known answers)."""

from collections import Counter

import pytest

from cbedfeat.data.labels import (
    CRYSTAL_SYSTEMS,
    LAUE_CLASSES,
    POINT_GROUPS,
    all_space_groups,
    crystal_system_index,
    crystal_system_of,
    space_group_info,
)


@pytest.mark.parametrize(
    ("number", "symbol", "system", "centring", "point_group", "laue"),
    [
        (1, "P1", "triclinic", "P", "1", "-1"),
        (2, "P-1", "triclinic", "P", "-1", "-1"),
        (14, "P2_1/c", "monoclinic", "P", "2/m", "2/m"),
        (15, "C2/c", "monoclinic", "C", "2/m", "2/m"),
        (62, "Pnma", "orthorhombic", "P", "mmm", "mmm"),
        (139, "I4/mmm", "tetragonal", "I", "4/mmm", "4/mmm"),
        (166, "R-3m", "trigonal", "R", "-3m", "-3m"),
        (194, "P6_3/mmc", "hexagonal", "P", "6/mmm", "6/mmm"),
        (216, "F-43m", "cubic", "F", "-43m", "m-3m"),
        (225, "Fm-3m", "cubic", "F", "m-3m", "m-3m"),
        (227, "Fd-3m", "cubic", "F", "m-3m", "m-3m"),
        (205, "Pa-3", "cubic", "P", "m-3", "m-3"),
    ],
)
def test_well_known_groups(number, symbol, system, centring, point_group, laue):
    info = space_group_info(number)
    assert (info.number, info.symbol, info.crystal_system) == (number, symbol, system)
    assert (info.centring, info.point_group, info.laue_class) == (centring, point_group, laue)


def test_counts_of_the_international_tables():
    groups = all_space_groups()
    assert [g.number for g in groups] == list(range(1, 231))
    assert len(CRYSTAL_SYSTEMS) == 7
    assert len({g.point_group for g in groups}) == 32 == len(POINT_GROUPS)
    assert len({g.laue_class for g in groups}) == 11 == len(LAUE_CLASSES)
    assert Counter(g.crystal_system for g in groups) == {
        "triclinic": 2,
        "monoclinic": 13,
        "orthorhombic": 59,
        "tetragonal": 68,
        "trigonal": 25,
        "hexagonal": 27,
        "cubic": 36,
    }
    # Bravais centring of the standard settings: A only for 38-41, R the 7 rhombohedral.
    assert Counter(g.centring for g in groups) == {
        "P": 149,
        "I": 38,
        "C": 16,
        "F": 16,
        "R": 7,
        "A": 4,
    }
    assert [g.number for g in groups if g.centring == "R"] == [146, 148, 155, 160, 161, 166, 167]


@pytest.mark.parametrize(
    ("number", "point_group"),
    [
        (10, "2/m"),
        (16, "222"),
        (25, "mm2"),
        (47, "mmm"),
        (75, "4"),
        (81, "-4"),
        (99, "4mm"),
        (111, "-42m"),
        (143, "3"),
        (147, "-3"),
        (149, "32"),
        (156, "3m"),
        (168, "6"),
        (174, "-6"),
        (187, "-6m2"),
        (195, "23"),
        (221, "m-3m"),
    ],
)
def test_first_group_of_each_point_group(number, point_group):
    assert space_group_info(number).point_group == point_group


def test_laue_class_is_centrosymmetric_and_within_system():
    systems_of_laue: dict[str, set[str]] = {}
    for g in all_space_groups():
        systems_of_laue.setdefault(g.laue_class, set()).add(g.crystal_system)
    # Every Laue class belongs to exactly one crystal system.
    assert all(len(s) == 1 for s in systems_of_laue.values())
    # A centrosymmetric point group is its own Laue class.
    for g in all_space_groups():
        if g.point_group in LAUE_CLASSES:
            assert g.laue_class == g.point_group


def test_crystal_system_index_and_bounds():
    assert crystal_system_of(2) == "triclinic" and crystal_system_of(3) == "monoclinic"
    assert crystal_system_of(167) == "trigonal" and crystal_system_of(168) == "hexagonal"
    assert crystal_system_index(1) == 0 and crystal_system_index(230) == 6
    for bad in (0, 231, -1, 14.5):
        with pytest.raises(ValueError):
            crystal_system_of(bad)
