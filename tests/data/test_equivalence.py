"""Kinematic-equivalence classes against the International Tables (known answers)."""

from __future__ import annotations

import numpy as np
import pytest

from cbedfeat.data.equivalence import (
    HKL_MAX,
    absence_mask,
    absent_reflections,
    equivalence_class_of,
    equivalence_classes,
    equivalence_index,
    equivalence_index_table,
    reflection_grid,
)
from cbedfeat.data.labels import space_group_info

KNOWN_CLASSES = [
    (1, 2),  # P1, P-1: no absences, Laue class -1
    (4, 11),  # P2_1, P2_1/m: 0k0 k = 2n
    (5, 8, 12),  # C2, Cm, C2/m: hkl h + k = 2n
    (9, 15),  # Cc, C2/c
    (209, 216, 225),  # F432, F-43m, Fm-3m
    (186, 190, 194),  # P6_3mc, P-62c, P6_3/mmc: hh-2hl l = 2n
    (97, 107, 119, 121, 139),  # I422, I4mm, I-4m2, I-42m, I4/mmm
]


def _absent(number: int, hkl: tuple[int, int, int]) -> bool:
    row = np.flatnonzero(np.all(reflection_grid() == hkl, axis=1))
    return bool(absence_mask(number)[row[0]])


def test_the_230_groups_fall_into_131_classes():
    classes = equivalence_classes()
    assert len(classes) == 131
    members = [n for c in classes for n in c]
    assert sorted(members) == list(range(1, 231))  # a partition of the 230 groups
    assert [c[0] for c in classes] == sorted(c[0] for c in classes)
    assert all(list(c) == sorted(c) for c in classes)
    # Every class lies in one Laue class.
    assert all(len({space_group_info(n).laue_class for n in c}) == 1 for c in classes)


@pytest.mark.parametrize("known", KNOWN_CLASSES)
def test_known_classes(known):
    for number in known:
        assert equivalence_class_of(number) == known
    assert len({equivalence_index(n) for n in known}) == 1


def test_groups_told_apart_by_their_absences():
    # Same Laue class, different absences: P2/m against P2_1/c, Pmmm against Pnma,
    # I4/mmm against P4/mmm, Fm-3m against Fd-3m and Im-3m.
    for a, b in [(10, 14), (47, 62), (123, 139), (225, 227), (225, 229)]:
        assert space_group_info(a).laue_class == space_group_info(b).laue_class
        assert equivalence_index(a) != equivalence_index(b)
    # Same (empty) absences, different Laue class: P1 against P2.
    assert equivalence_index(1) != equivalence_index(3)


def test_absences_of_well_known_groups():
    # P2_1/c (14), unique axis b: h0l l = 2n; 0k0 k = 2n.
    assert _absent(14, (1, 0, 1)) and _absent(14, (0, 3, 0)) and _absent(14, (2, 0, -3))
    assert not _absent(14, (1, 0, 2)) and not _absent(14, (0, 2, 0)) and not _absent(14, (1, 1, 1))
    # Pnma (62): 0kl k + l = 2n; hk0 h = 2n; h00, 0k0, 00l even only.
    assert _absent(62, (0, 1, 2)) and _absent(62, (1, 2, 0)) and _absent(62, (0, 0, 1))
    assert not _absent(62, (0, 1, 1)) and not _absent(62, (2, 1, 0)) and not _absent(62, (1, 0, 1))
    # I-centring: h + k + l = 2n; F-centring: h, k, l all even or all odd.
    grid = reflection_grid()
    assert np.array_equal(absence_mask(139), grid.sum(axis=1) % 2 == 1)
    parity = grid % 2
    assert np.array_equal(absence_mask(225), ~np.all(parity == parity[:, :1], axis=1))
    assert absent_reflections(1).shape == (0, 3) and absent_reflections(225).shape[1] == 3


def test_row_vector_convention_in_hexagonal_axes():
    # h is a row vector acting on the rotation (h R = h). Hexagonal rotation matrices are
    # not symmetric, and the column convention (R h = h) puts the glide absences of
    # P6_3cm and P6_3mc on the wrong rows of the reciprocal lattice.
    # P6_3cm (185): h-h0l l = 2n, i.e. (h, -h, l), (h, 0, l), (0, k, l) with l odd absent.
    # P6_3mc (186): hh-2hl l = 2n, i.e. (h, h, l), (h, -2h, l), (-2h, h, l) with l odd absent.
    points = [
        (1, 0, 1),
        (0, 1, 1),
        (1, -1, 1),
        (1, 1, 1),
        (1, -2, 1),
        (2, -1, 1),
        (1, 2, 1),
        (2, 1, 1),
    ]
    assert [_absent(185, p) for p in points] == [
        True,
        True,
        True,
        False,
        False,
        False,
        False,
        False,
    ]
    assert [_absent(186, p) for p in points] == [
        False,
        False,
        False,
        True,
        True,
        True,
        False,
        False,
    ]
    assert equivalence_index(185) != equivalence_index(186)


def test_index_table_and_grid():
    table = equivalence_index_table()
    assert table.shape == (231,) and table[0] == -1
    assert all(equivalence_classes()[table[n]] == equivalence_class_of(n) for n in range(1, 231))
    grid = reflection_grid()
    assert grid.shape == ((2 * HKL_MAX + 1) ** 3, 3) and np.abs(grid).max() == HKL_MAX
    with pytest.raises(ValueError):
        equivalence_index(231)
