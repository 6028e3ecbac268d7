"""Space-group labels: crystal system, centring, point group, Laue class, symbol.

Everything is read from spglib's space-group database (one Hall setting per group,
the first, i.e. the standard setting) rather than typed by hand. The crystal system
follows from the space-group number ranges of the International Tables, Vol. A.
The Laue class is the point group of the centrosymmetric supergroup: the point group
of the pattern that kinematic diffraction (Friedel's law) can show.

References
----------
International Tables for Crystallography, Vol. A (2016), Table 2.1.2.1 (Laue classes).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

CRYSTAL_SYSTEMS: tuple[str, ...] = (
    "triclinic",
    "monoclinic",
    "orthorhombic",
    "tetragonal",
    "trigonal",
    "hexagonal",
    "cubic",
)

# Last space-group number of each crystal system (ITA numbering).
_SYSTEM_LAST_NUMBER = (2, 15, 74, 142, 167, 194, 230)

# Point group (Hermann-Mauguin, spglib spelling) -> Laue class (ITA Table 2.1.2.1).
_LAUE_CLASS = {
    "1": "-1",
    "-1": "-1",
    "2": "2/m",
    "m": "2/m",
    "2/m": "2/m",
    "222": "mmm",
    "mm2": "mmm",
    "mmm": "mmm",
    "4": "4/m",
    "-4": "4/m",
    "4/m": "4/m",
    "422": "4/mmm",
    "4mm": "4/mmm",
    "-42m": "4/mmm",
    "4/mmm": "4/mmm",
    "3": "-3",
    "-3": "-3",
    "32": "-3m",
    "3m": "-3m",
    "-3m": "-3m",
    "6": "6/m",
    "-6": "6/m",
    "6/m": "6/m",
    "622": "6/mmm",
    "6mm": "6/mmm",
    "-6m2": "6/mmm",
    "6/mmm": "6/mmm",
    "23": "m-3",
    "m-3": "m-3",
    "432": "m-3m",
    "-43m": "m-3m",
    "m-3m": "m-3m",
}

LAUE_CLASSES: tuple[str, ...] = tuple(dict.fromkeys(_LAUE_CLASS.values()))
POINT_GROUPS: tuple[str, ...] = tuple(_LAUE_CLASS)


@dataclass(frozen=True)
class SpaceGroupInfo:
    """Crystallographic facts of one space group.

    Attributes
    ----------
    number : int
        ITA number, 1..230.
    symbol : str
        Short Hermann-Mauguin symbol, e.g. ``'P2_1/c'``.
    crystal_system : str
        One of :data:`CRYSTAL_SYSTEMS`.
    centring : str
        Lattice centring letter: P, A, B, C, I, F or R.
    point_group : str
        Hermann-Mauguin point group, e.g. ``'2/m'``.
    laue_class : str
        Laue class, e.g. ``'2/m'``; one of :data:`LAUE_CLASSES`.
    hall_number : int
        spglib Hall number of the standard setting.
    """

    number: int
    symbol: str
    crystal_system: str
    centring: str
    point_group: str
    laue_class: str
    hall_number: int


def _check_number(number: int) -> int:
    n = int(number)
    if n != number or not 1 <= n <= 230:
        raise ValueError(f"space group number must be an integer in 1..230, got {number!r}")
    return n


def crystal_system_of(number: int) -> str:
    """Crystal system of space group ``number`` (1..230)."""
    n = _check_number(number)
    for system, last in zip(CRYSTAL_SYSTEMS, _SYSTEM_LAST_NUMBER, strict=True):
        if n <= last:
            return system
    raise AssertionError("unreachable")


@lru_cache(maxsize=1)
def _first_hall_numbers() -> dict[int, int]:
    """Space-group number -> first (standard-setting) Hall number, from spglib."""
    import spglib

    first: dict[int, int] = {}
    for hall in range(1, 531):
        sg = spglib.get_spacegroup_type(hall).number
        first.setdefault(sg, hall)
    return first


@cache
def space_group_info(number: int) -> SpaceGroupInfo:
    """All label facts of one space group, from spglib's database.

    Parameters
    ----------
    number : int
        ITA space-group number, 1..230.

    Returns
    -------
    SpaceGroupInfo
    """
    import spglib

    n = _check_number(number)
    hall = _first_hall_numbers()[n]
    sg = spglib.get_spacegroup_type(hall)
    point_group = sg.pointgroup_international
    return SpaceGroupInfo(
        number=n,
        symbol=sg.international_short,
        crystal_system=crystal_system_of(n),
        centring=sg.international_short[0],
        point_group=point_group,
        laue_class=_LAUE_CLASS[point_group],
        hall_number=hall,
    )


def all_space_groups() -> list[SpaceGroupInfo]:
    """:class:`SpaceGroupInfo` for every space group 1..230, in order."""
    return [space_group_info(n) for n in range(1, 231)]


def crystal_system_index(number: int) -> int:
    """Index of the crystal system of ``number`` in :data:`CRYSTAL_SYSTEMS` (0..6)."""
    return CRYSTAL_SYSTEMS.index(crystal_system_of(number))
