"""Chemical elements used by the crystal generator and the ORNL-style formula.

Symbols and Pauling electronegativities (CRC Handbook of Chemistry and Physics, 97th
ed., Table 9-77). Formulas are written in the Materials Project (pymatgen) order:
elements sorted by electronegativity, then by symbol, as in ``'Fe8 O14 F2'``.
"""

from __future__ import annotations

from collections.abc import Iterable

# Z -> (symbol, Pauling electronegativity). The pool of species drawn for synthetic
# crystals: common elements of inorganic compounds, light to heavy, so that the
# scattering power varies across materials as in the Materials Project.
ELEMENTS: dict[int, tuple[str, float]] = {
    3: ("Li", 0.98),
    4: ("Be", 1.57),
    5: ("B", 2.04),
    6: ("C", 2.55),
    7: ("N", 3.04),
    8: ("O", 3.44),
    9: ("F", 3.98),
    11: ("Na", 0.93),
    12: ("Mg", 1.31),
    13: ("Al", 1.61),
    14: ("Si", 1.90),
    15: ("P", 2.19),
    16: ("S", 2.58),
    17: ("Cl", 3.16),
    19: ("K", 0.82),
    20: ("Ca", 1.00),
    21: ("Sc", 1.36),
    22: ("Ti", 1.54),
    23: ("V", 1.63),
    24: ("Cr", 1.66),
    25: ("Mn", 1.55),
    26: ("Fe", 1.83),
    27: ("Co", 1.88),
    28: ("Ni", 1.91),
    29: ("Cu", 1.90),
    30: ("Zn", 1.65),
    31: ("Ga", 1.81),
    32: ("Ge", 2.01),
    33: ("As", 2.18),
    34: ("Se", 2.55),
    35: ("Br", 2.96),
    37: ("Rb", 0.82),
    38: ("Sr", 0.95),
    39: ("Y", 1.22),
    40: ("Zr", 1.33),
    41: ("Nb", 1.60),
    42: ("Mo", 2.16),
    47: ("Ag", 1.93),
    48: ("Cd", 1.69),
    49: ("In", 1.78),
    50: ("Sn", 1.96),
    51: ("Sb", 2.05),
    52: ("Te", 2.10),
    53: ("I", 2.66),
    55: ("Cs", 0.79),
    56: ("Ba", 0.89),
    57: ("La", 1.10),
    74: ("W", 2.36),
    78: ("Pt", 2.28),
    79: ("Au", 2.54),
    82: ("Pb", 2.33),
    83: ("Bi", 2.02),
}

# Anions are drawn more often for multi-species crystals, as most inorganic compounds
# in the Materials Project are oxides, halides, chalcogenides or pnictides.
ANIONS: tuple[int, ...] = (8, 9, 16, 17, 7, 34)


def symbol(z: int) -> str:
    """Element symbol of atomic number ``z`` (from the pool :data:`ELEMENTS`)."""
    try:
        return ELEMENTS[int(z)][0]
    except KeyError:
        raise ValueError(f"atomic number {z} is not in the element pool") from None


def formula_of(numbers: Iterable[int]) -> str:
    """ORNL / Materials Project style formula of a cell, e.g. ``'Fe8 O14 F2'``.

    Parameters
    ----------
    numbers : (N,) array_like of int
        Atomic numbers of every atom of the cell.

    Returns
    -------
    str
        ``'<symbol><count>'`` terms joined by spaces, sorted by electronegativity, then
        symbol; a count of 1 is written (``'Na4 Cl4'``, ``'Si1 O2'``), as in the data set.
    """
    counts: dict[int, int] = {}
    for z in numbers:
        counts[int(z)] = counts.get(int(z), 0) + 1
    order = sorted(
        counts, key=lambda z: (ELEMENTS[z][1], ELEMENTS[z][0]) if z in ELEMENTS else (99.0, str(z))
    )
    return " ".join(f"{symbol(z)}{counts[z]}" for z in order)
