"""The data layer: read, validate and write the ORNL CBED HDF5 layout; space-group labels.

Public names (imported lazily, so ``import cbedfeat.data.labels`` stays cheap)::

    from cbedfeat.data import (SampleMeta, Sample, ORNLWriter, iter_samples, read_sample,
        list_groups, find_h5_files, split_of, Problem, CBEDDataError)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS: dict[str, str] = {
    # reading
    "SampleMeta": "cbedfeat.data.sample",
    "Sample": "cbedfeat.data.sample",
    "ORNLFile": "cbedfeat.data.ornl",
    "SPLITS": "cbedfeat.data.ornl",
    "iter_samples": "cbedfeat.data.ornl",
    "iter_file": "cbedfeat.data.ornl",
    "read_sample": "cbedfeat.data.ornl",
    "read_group": "cbedfeat.data.ornl",
    "list_groups": "cbedfeat.data.ornl",
    "find_h5_files": "cbedfeat.data.ornl",
    "split_of": "cbedfeat.data.ornl",
    "open_h5": "cbedfeat.data.ornl",
    # writing
    "ORNLWriter": "cbedfeat.data.ornl_write",
    # errors
    "Problem": "cbedfeat.data.errors",
    "CBEDDataError": "cbedfeat.data.errors",
    "FileOpenError": "cbedfeat.data.errors",
    "ReadError": "cbedfeat.data.errors",
    "MissingDataError": "cbedfeat.data.errors",
    "MissingAttributeError": "cbedfeat.data.errors",
    "METADATA_KINDS": "cbedfeat.data.errors",
    "BadStackError": "cbedfeat.data.errors",
    "BadAttributeError": "cbedfeat.data.errors",
    # summaries and reference tables
    "summarize": "cbedfeat.data.summary",
    "DataSummary": "cbedfeat.data.summary",
    "load_ornl_counts": "cbedfeat.data.reference",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from cbedfeat.data.errors import (  # noqa: F401
        METADATA_KINDS,
        BadAttributeError,
        BadStackError,
        CBEDDataError,
        FileOpenError,
        MissingAttributeError,
        MissingDataError,
        Problem,
        ReadError,
    )
    from cbedfeat.data.ornl import (  # noqa: F401
        SPLITS,
        ORNLFile,
        Sample,
        SampleMeta,
        find_h5_files,
        iter_file,
        iter_samples,
        list_groups,
        open_h5,
        read_group,
        read_sample,
        split_of,
    )
    from cbedfeat.data.ornl_write import ORNLWriter  # noqa: F401
    from cbedfeat.data.reference import load_ornl_counts  # noqa: F401
    from cbedfeat.data.summary import DataSummary, summarize  # noqa: F401


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cbedfeat.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
