"""Inputs of ``predict`` and ``extract``: ORNL HDF5 files and array sources, one way.

A *source* is a string: the path of an ORNL-layout HDF5 file (directories are searched
for ``batch_*.h5``, see :func:`cbedfeat.data.ornl.find_h5_files`), or an array source
(a ``.npy`` file or ``FILE.h5:/dataset``, see :mod:`cbedfeat.data.arrays`).
:func:`iter_source` reads either kind as :class:`~cbedfeat.data.sample.Sample` records.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from cbedfeat.data.arrays import count_rows, iter_array, parse_array_source
from cbedfeat.data.errors import Problem
from cbedfeat.data.ornl import find_h5_files, iter_file, list_groups
from cbedfeat.data.sample import Sample

__all__ = ["count_samples", "iter_inputs", "iter_source", "resolve_inputs", "source_file"]


def resolve_inputs(inputs: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    """The sources of some inputs, without duplicates.

    ORNL files come first, in the natural order of :func:`find_h5_files` (exactly its
    list when no array source is given), then the array sources in the order given.

    Raises
    ------
    FileNotFoundError
        For an input that is neither an existing path nor an array source.
    """
    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    arrays, paths = [], []
    for item in inputs:
        src = parse_array_source(item)
        if src is None:
            paths.append(item)
        else:
            arrays.append(src.name)
    files = [str(p) for p in find_h5_files(paths)] if paths else []
    return list(dict.fromkeys([*files, *arrays]))


def source_file(source: str) -> Path:
    """The file on disk that holds a source."""
    src = parse_array_source(source)
    return Path(source) if src is None else src.path


def iter_source(
    source: str,
    *,
    strict: bool = False,
    problems: list[Problem] | None = None,
    require_metadata: bool = True,
    load_stack: bool = True,
    into: Callable[[tuple[int, ...]], np.ndarray | None] | None = None,
    mapped: bool = False,
) -> Iterator[Sample]:
    """Validated samples of one source (an ORNL file or an array source).

    The keywords are those of :func:`cbedfeat.data.ornl.iter_file`; an array source
    holds no metadata (``require_metadata`` does not apply; its samples are
    unlabelled) and its stacks are always read.
    """
    src = parse_array_source(source)
    if src is not None:
        yield from iter_array(src, strict=strict, problems=problems, into=into)
    else:
        yield from iter_file(
            source,
            strict=strict,
            problems=problems,
            load_stack=load_stack,
            into=into,
            mapped=mapped,
            require_metadata=require_metadata,
        )


def iter_inputs(
    inputs: str | os.PathLike | Iterable[str | os.PathLike], **kwargs
) -> Iterator[Sample]:
    """Samples of every source of ``inputs`` (:func:`resolve_inputs`, :func:`iter_source`)."""
    for source in resolve_inputs(inputs):
        yield from iter_source(source, **kwargs)


def count_samples(source: str) -> int:
    """Groups of an ORNL file or rows of an array source (0 when it cannot be read)."""
    if parse_array_source(source) is not None:
        return count_rows(source)
    try:
        return len(list_groups(source))
    except Exception:  # noqa: BLE001 - an unreadable file is reported by its reader
        return 0
