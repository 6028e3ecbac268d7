"""Kinematic-equivalence classes of the 230 space groups.

Kinematic (single-scattering) patterns obey Friedel's law, so they show a space group
only through its Laue class and its systematically absent reflections. Two space groups
that agree on both give identical kinematic intensities for suitable structures and
cannot be told apart from such patterns: they form one *kinematic-equivalence class*.

The absences are computed from spglib's symmetry operations of each group's standard
setting (the Hall number of :func:`cbedfeat.data.labels.space_group_info`: unique axis
b for monoclinic groups, hexagonal axes for rhombohedral ones, origin choice 1 where
there are two; the absence set does not depend on the origin). An operation (R, t)
acts on fractional coordinates as ``x -> R x + t``; the structure factor
``F(h) = sum_j f_j exp(2 pi i h . x_j)`` then obeys ``F(h) = exp(2 pi i h . t) F(h R)``
(h a row vector). When ``h R = h`` and ``h . t`` is not an integer, ``F(h) = 0`` for
every structure of the group: h is systematically absent. Lattice-centring
translations are operations with ``R = 1`` and give the centring absences.

Reflections with ``|h|, |k|, |l| <= 6`` (:data:`HKL_MAX`) are enough to tell every
pattern of absences apart: the 230 groups fall into 131 classes.

The Laue class here is one of the 11 classes of :mod:`cbedfeat.data.labels`, without its
orientation on the lattice. Trigonal -3m comes in two orientations on the hexagonal
lattice (-3m1 and -31m), which a pattern indexed on the lattice could tell apart;
keying on the oriented Laue group would split {149, 150, 156, 157, 162, 164} into
{149, 157, 162} and {150, 156, 164}, and {151, 152, 153, 154} into {151, 153} and
{152, 154}: 133 classes. The classes below do not split them.

References
----------
International Tables for Crystallography, Vol. A (2016), Section 1.6.3 (systematic
absences) and Table 1.6.4.1 (reflection conditions).
"""

from __future__ import annotations

from functools import cache

import numpy as np

from cbedfeat.data.labels import space_group_info

HKL_MAX = 6
# h . t farther than this from an integer is not an integer (spglib stores the
# translations as fractions with small denominators, rounded to double precision).
_TOLERANCE = 1e-6

__all__ = [
    "HKL_MAX",
    "absence_mask",
    "absent_reflections",
    "equivalence_class_of",
    "equivalence_classes",
    "equivalence_index",
    "equivalence_index_table",
    "reflection_grid",
]


@cache
def reflection_grid(hkl_max: int = HKL_MAX) -> np.ndarray:
    """Every reflection (h, k, l) with ``|h|, |k|, |l| <= hkl_max``.

    Parameters
    ----------
    hkl_max : int

    Returns
    -------
    (m, 3) ndarray of int
        ``m = (2 hkl_max + 1) ** 3`` rows in lexicographic order (read-only).
    """
    r = np.arange(-hkl_max, hkl_max + 1)
    grid = np.stack(np.meshgrid(r, r, r, indexing="ij"), axis=-1).reshape(-1, 3)
    grid.flags.writeable = False
    return grid


def absence_mask(number: int, hkl_max: int = HKL_MAX) -> np.ndarray:
    """Which reflections of :func:`reflection_grid` space group ``number`` forbids.

    Parameters
    ----------
    number : int
        ITA space-group number, 1..230.
    hkl_max : int

    Returns
    -------
    (m,) ndarray of bool
        True where the reflection is systematically absent, rows as in
        :func:`reflection_grid`.
    """
    import spglib

    ops = spglib.get_symmetry_from_database(space_group_info(number).hall_number)
    rotations = np.asarray(ops["rotations"], dtype=float)  # (n_ops, 3, 3)
    translations = np.asarray(ops["translations"], dtype=float)  # (n_ops, 3)
    h = reflection_grid(hkl_max).astype(float)  # (m, 3)
    n_ops = rotations.shape[0]
    # h R for every op at once: (m, 3) @ (3, 3 n_ops) -> (m, n_ops, 3); exact in float.
    h_r = (h @ rotations.transpose(1, 0, 2).reshape(3, 3 * n_ops)).reshape(-1, n_ops, 3)
    fixed = np.all(h_r == h[:, None, :], axis=2)  # (m, n_ops)
    phase = h @ translations.T  # (m, n_ops)
    shifted = np.abs(phase - np.round(phase)) > _TOLERANCE
    return np.any(fixed & shifted, axis=1)


def absent_reflections(number: int, hkl_max: int = HKL_MAX) -> np.ndarray:
    """The systematically absent reflections of space group ``number``.

    Parameters
    ----------
    number : int
        ITA space-group number, 1..230.
    hkl_max : int

    Returns
    -------
    (a, 3) ndarray of int
        The absent (h, k, l) with ``|h|, |k|, |l| <= hkl_max``, lexicographic order.
    """
    return reflection_grid(hkl_max)[absence_mask(number, hkl_max)]


@cache
def equivalence_classes(hkl_max: int = HKL_MAX) -> tuple[tuple[int, ...], ...]:
    """The kinematic-equivalence classes of the 230 space groups.

    Two groups are equivalent when they share the Laue class
    (:attr:`~cbedfeat.data.labels.SpaceGroupInfo.laue_class`) and the set of absent
    reflections of :func:`absence_mask`. Computed once per process.

    Parameters
    ----------
    hkl_max : int

    Returns
    -------
    tuple of tuple of int
        Each class as its sorted space-group numbers; classes ordered by their smallest
        member (131 classes for the default ``hkl_max``).
    """
    members: dict[tuple[str, bytes], list[int]] = {}
    for number in range(1, 231):
        key = (
            space_group_info(number).laue_class,
            np.packbits(absence_mask(number, hkl_max)).tobytes(),
        )
        members.setdefault(key, []).append(number)
    return tuple(sorted(tuple(m) for m in members.values()))


@cache
def equivalence_index_table(hkl_max: int = HKL_MAX) -> np.ndarray:
    """Space-group number -> index of its class in :func:`equivalence_classes`.

    Parameters
    ----------
    hkl_max : int

    Returns
    -------
    (231,) ndarray of int
        Entry ``n`` is the class index of space group ``n``; entry 0 (no group) is -1.
        Read-only; index it with an array of numbers to map many rows at once.
    """
    table = np.full(231, -1, dtype=np.int64)
    for index, members in enumerate(equivalence_classes(hkl_max)):
        table[list(members)] = index
    table.flags.writeable = False
    return table


def equivalence_index(number: int) -> int:
    """Index of the class of space group ``number`` in :func:`equivalence_classes`."""
    return int(equivalence_index_table()[space_group_info(number).number])


def equivalence_class_of(number: int) -> tuple[int, ...]:
    """The space groups kinematically equivalent to ``number`` (itself included), sorted."""
    return equivalence_classes()[equivalence_index(number)]
