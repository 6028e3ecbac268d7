"""The sample record: a validated CBED stack and its decoded attributes.

A sample read for prediction or extraction (``require_metadata=False``) may lack some
attributes, or hold invalid ones: those fields are None and each reason is a
:class:`~cbedfeat.data.errors.Problem` in ``SampleMeta.problems``. Such a sample is
*unlabelled* (:attr:`SampleMeta.labelled` is False): its pattern can be classified,
but it is never trained or evaluated on.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import NamedTuple

import numpy as np

from cbedfeat.data import schema as manifest
from cbedfeat.data.errors import Problem

_ARRAY_FIELDS = {
    "z_dirs": (np.int64, (3, 3)),
    "y_dirs": (np.float64, (3, 3)),
    "semi_angles_rad": (np.float64, (3,)),
    "d_hkls_angstrom": (np.float64, (3,)),
    "abc_angstrom": (np.float64, (3,)),
    "angles_degree": (np.float64, (3,)),
}


_METADATA_FIELDS = (
    "material",
    "space_group",
    "energy_keV",
    *_ARRAY_FIELDS,
    "formula",
)


def _arrays_equal(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return np.array_equal(a, b)


@dataclass(frozen=True, eq=False)
class SampleMeta:
    """Decoded attributes of one sample, plus where it came from.

    Arrays are converted to the dtypes and shapes below and made read-only. Every
    field after ``split`` may be None: missing or invalid in the input (the reason is
    in ``problems``), or not stored at all (a bare stack, a row of an array).

    Attributes
    ----------
    file : str
        The file it was read from ('' for a sample not yet written).
    group : str
        Group name ``sample_<i>_<j>`` (``row_<i>`` for row i of an array).
    split : str
        'train', 'dev', 'test' from the file name, else 'unknown'.
    material : str or None
        Materials Project id (the grouping key of every split).
    space_group : int or None
        ITA number 1..230 (the label).
    energy_keV : int or None
        Beam energy.
    z_dirs : (3, 3) int64 ndarray or None
        Zone axis [uvw] of each pattern (stored (1, 3, 3)).
    y_dirs : (3, 3) float64 ndarray or None
        In-plane reference direction of each pattern (stored (1, 3, 3)).
    semi_angles_rad : (3,) float64 ndarray or None
        Convergence semi-angle of each pattern.
    d_hkls_angstrom : (3,) float64 ndarray or None
        d-spacing of the reference reflection of each pattern.
    abc_angstrom : (3,) float64 ndarray or None
        Lattice constants a, b, c.
    angles_degree : (3,) float64 ndarray or None
        Lattice angles alpha, beta, gamma.
    formula : str or None
        Chemical formula.
    problems : tuple of Problem
        The metadata problems found on reading (kinds in
        :data:`~cbedfeat.data.errors.METADATA_KINDS`); empty for a complete record.
    """

    file: str
    group: str
    split: str
    material: str | None = None
    space_group: int | None = None
    energy_keV: int | None = None
    z_dirs: np.ndarray | None = None
    y_dirs: np.ndarray | None = None
    semi_angles_rad: np.ndarray | None = None
    d_hkls_angstrom: np.ndarray | None = None
    abc_angstrom: np.ndarray | None = None
    angles_degree: np.ndarray | None = None
    formula: str | None = None
    problems: tuple[Problem, ...] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "file", str(self.file))
        set_(self, "group", str(self.group))
        set_(self, "split", str(self.split))
        set_(self, "problems", tuple(self.problems))
        for name, (dtype, shape) in _ARRAY_FIELDS.items():
            value = getattr(self, name)
            if value is None:
                continue
            arr = np.array(value, dtype=dtype).reshape(shape)
            arr.setflags(write=False)
            set_(self, name, arr)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SampleMeta):
            return NotImplemented
        return all(
            _arrays_equal(getattr(self, f.name), getattr(other, f.name))
            if f.name in _ARRAY_FIELDS
            else getattr(self, f.name) == getattr(other, f.name)
            for f in fields(self)
        )

    def __hash__(self) -> int:
        # Equal records have equal identity fields, so this agrees with __eq__.
        return hash((self.file, self.group, self.material, self.space_group, self.energy_keV))

    @property
    def labelled(self) -> bool:
        """True when every attribute was stored and valid: usable for training and evaluation."""
        return not self.problems and all(
            getattr(self, name) is not None for name in _METADATA_FIELDS
        )

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
