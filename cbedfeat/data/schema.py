"""The data manifest: the ORNL layout schema and the synthetic presets, read from YAML.

The manifest (``cbedfeat/resources/data_manifest.yaml``, linked as
``data_manifest.yaml`` at the repository root) is the one place where the file layout
is written down. The reader's validation and the writer's encoding take every type,
shape and bound from it, so the document and the behaviour cannot drift apart.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

MANIFEST_RESOURCE = "data_manifest.yaml"
_STORED = {"bytes", "str", "int", "float"}
_VALUE = {"int", "str", "float"}


@dataclass(frozen=True)
class AttributeSpec:
    """Schema of one sample-group attribute.

    Attributes
    ----------
    name : str
        Attribute name in the file.
    stored : str
        HDF5 type as the real files hold it: ``'bytes'``, ``'str'``, ``'int'``, ``'float'``.
    value : str
        Python/NumPy type the reader gives: ``'int'``, ``'str'`` or ``'float'``.
    shape : tuple of int
        Stored shape; ``()`` for a scalar.
    gt, ge, lt, le : float or None
        Bounds every element must satisfy.
    garbage : bool
        Flag non-finite values and non-zero floats with ``|x| < 1e-300``.
    nonempty : bool
        Strings must not be empty.
    nonzero_rows : bool
        No row of the last axis may be all zero (a zone axis [000] is no direction).
    unit, role, meaning : str or None
        Documentation.
    """

    name: str
    stored: str
    value: str
    shape: tuple[int, ...]
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    garbage: bool = False
    nonempty: bool = False
    nonzero_rows: bool = False
    unit: str | None = None
    role: str | None = None
    meaning: str | None = None

    def bounds_text(self) -> str:
        """The bounds in words, e.g. ``'> 0.5 and < 100.0'``."""
        parts = [
            f"{op} {v}"
            for op, v in ((">", self.gt), (">=", self.ge), ("<", self.lt), ("<=", self.le))
            if v is not None
        ]
        return " and ".join(parts)


@dataclass(frozen=True)
class StackSpec:
    """Schema of the ``cbed_stack`` dataset (see the manifest's ``ornl.stack``)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    fixed_axes: dict[int, int]


def manifest_path() -> Path:
    """Path of the packaged manifest file."""
    return Path(str(resources.files("cbedfeat").joinpath("resources", MANIFEST_RESOURCE)))


@lru_cache(maxsize=1)
def _load_cached() -> dict[str, Any]:
    import yaml

    text = resources.files("cbedfeat").joinpath("resources", MANIFEST_RESOURCE).read_text("utf-8")
    data = yaml.safe_load(text)
    _check_manifest(data)
    return data


def load_manifest() -> dict[str, Any]:
    """The whole manifest as a dict (a fresh copy; editing it changes nothing)."""
    return copy.deepcopy(_load_cached())


def _check_manifest(data: Any) -> None:
    """Refuse a manifest the code cannot rely on (a typo must not silently disable a check)."""
    if not isinstance(data, dict) or "ornl" not in data or "presets" not in data:
        raise ValueError("data manifest needs top-level 'ornl' and 'presets' sections")
    attrs = data["ornl"].get("attributes")
    if not isinstance(attrs, dict) or not attrs:
        raise ValueError("data manifest: ornl.attributes is missing")
    known = set(AttributeSpec.__dataclass_fields__) - {"name"}
    for name, spec in attrs.items():
        unknown = set(spec) - known
        if unknown:
            raise ValueError(
                f"data manifest: attribute {name!r} has unknown keys {sorted(unknown)}"
            )
        if spec.get("stored") not in _STORED or spec.get("value") not in _VALUE:
            raise ValueError(f"data manifest: attribute {name!r} has a bad stored/value type")
    re.compile(data["ornl"]["files"]["regex"])
    re.compile(data["ornl"]["groups"]["regex"])


@lru_cache(maxsize=1)
def attribute_schema() -> dict[str, AttributeSpec]:
    """Attribute name -> :class:`AttributeSpec`, in manifest order."""
    attrs = _load_cached()["ornl"]["attributes"]
    out = {}
    for name, spec in attrs.items():
        fields = dict(spec)
        fields["shape"] = tuple(int(n) for n in fields.get("shape") or ())
        out[name] = AttributeSpec(name=name, **fields)
    return out


@lru_cache(maxsize=1)
def stack_schema() -> StackSpec:
    """The ``cbed_stack`` dataset schema."""
    s = _load_cached()["ornl"]["stack"]
    return StackSpec(
        name=s["name"],
        dtype=s["dtype"],
        shape=tuple(int(n) for n in s["shape"]),
        fixed_axes={int(k): int(v) for k, v in (s.get("fixed_axes") or {}).items()},
    )


def file_regex() -> re.Pattern[str]:
    """Compiled regex of ORNL file names; group 1 is the split."""
    return re.compile(_load_cached()["ornl"]["files"]["regex"])


def group_regex() -> re.Pattern[str]:
    """Compiled regex of sample group names; groups 1, 2 are ``i`` and ``j``."""
    return re.compile(_load_cached()["ornl"]["groups"]["regex"])


def expected_split_counts() -> dict[str, int]:
    """Samples per split in the real data set (train/dev/test)."""
    return {k: int(v) for k, v in _load_cached()["ornl"]["split_counts"].items()}


def preset_names() -> list[str]:
    """Names of the synthetic presets."""
    return list(_load_cached()["presets"])


def preset(name: str) -> dict[str, Any]:
    """Parameters of one synthetic preset (a fresh copy).

    Raises
    ------
    KeyError
        If there is no such preset; the message lists the known ones.
    """
    presets = _load_cached()["presets"]
    if name not in presets:
        raise KeyError(f"unknown preset {name!r}; known: {', '.join(presets)}")
    return copy.deepcopy(presets[name])
