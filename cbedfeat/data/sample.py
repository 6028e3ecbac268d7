"""The sample record: a validated CBED stack and its decoded attributes."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import NamedTuple

import numpy as np

from cbedfeat import manifest

_ARRAY_FIELDS = {
    "z_dirs": (np.int64, (3, 3)),
    "y_dirs": (np.float64, (3, 3)),
    "semi_angles_rad": (np.float64, (3,)),
    "d_hkls_angstrom": (np.float64, (3,)),
    "abc_angstrom": (np.float64, (3,)),
    "angles_degree": (np.float64, (3,)),
}


@dataclass(frozen=True, eq=False)
class SampleMeta:
    """Decoded attributes of one sample, plus where it came from.

    Arrays are converted to the dtypes and shapes below and made read-only.

    Attributes
    ----------
    file : str
        The file it was read from ('' for a sample not yet written).
    group : str
        Group name ``sample_<i>_<j>``.
    split : str
        'train', 'dev', 'test' from the file name, else 'unknown'.
    material : str
        Materials Project id (the grouping key of every split).
    space_group : int
        ITA number 1..230 (the label).
    energy_keV : int
        Beam energy.
    z_dirs : (3, 3) int64 ndarray
        Zone axis [uvw] of each pattern (stored (1, 3, 3)).
    y_dirs : (3, 3) float64 ndarray
        In-plane reference direction of each pattern (stored (1, 3, 3)).
    semi_angles_rad : (3,) float64 ndarray
        Convergence semi-angle of each pattern.
    d_hkls_angstrom : (3,) float64 ndarray
        d-spacing of the reference reflection of each pattern.
    abc_angstrom : (3,) float64 ndarray
        Lattice constants a, b, c.
    angles_degree : (3,) float64 ndarray
        Lattice angles alpha, beta, gamma.
    formula : str
        Chemical formula.
    """

    file: str
    group: str
    split: str
    material: str
    space_group: int
    energy_keV: int
    z_dirs: np.ndarray
    y_dirs: np.ndarray
    semi_angles_rad: np.ndarray
    d_hkls_angstrom: np.ndarray
    abc_angstrom: np.ndarray
    angles_degree: np.ndarray
    formula: str

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "file", str(self.file))
        set_(self, "group", str(self.group))
        set_(self, "split", str(self.split))
        for name, (dtype, shape) in _ARRAY_FIELDS.items():
            arr = np.array(getattr(self, name), dtype=dtype).reshape(shape)
            arr.setflags(write=False)
            set_(self, name, arr)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SampleMeta):
            return NotImplemented
        return all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name))
            if f.name in _ARRAY_FIELDS
            else getattr(self, f.name) == getattr(other, f.name)
            for f in fields(self)
        )

    def __hash__(self) -> int:
        # Equal records have equal identity fields, so this agrees with __eq__.
        return hash((self.file, self.group, self.material, self.space_group, self.energy_keV))

    def replace(self, **changes) -> SampleMeta:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return replace(self, **changes)

    @property
    def ij(self) -> tuple[int, int]:
        """``(i, j)`` of the group name (material index, energy index); (-1, -1) if none."""
        m = manifest.group_regex().match(self.group)
        return (int(m.group(1)), int(m.group(2))) if m else (-1, -1)


class Sample(NamedTuple):
    """One validated sample.

    Attributes
    ----------
    stack : (3, H, W) float32 ndarray, or None
        The three patterns; None when read with ``load_stack=False``.
    meta : SampleMeta
    """

    stack: np.ndarray | None
    meta: SampleMeta
