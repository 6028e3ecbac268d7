"""Stacks outside the ORNL layout: a NumPy ``.npy`` file or one HDF5 dataset.

An *array source* holds one stack ``(3, H, W)`` or many ``(N, 3, H, W)``, in the ORNL
geometry (0.01 1/A per pixel, the pattern centred), and nothing else: no label, no
metadata. It is named either by the path of a ``.npy`` file or, for a dataset inside
an HDF5 file, by ``FILE.h5:/path/to/dataset``. Row ``i`` becomes a sample with
``file`` = the source's name as given and ``group`` = ``row_<i>`` (a single
``(3, H, W)`` stack is ``row_0``); every metadata field is None, so such a sample is
unlabelled (it can be predicted and featurised, never trained on).

Rows are read one at a time (``.npy`` files are memory-mapped), so an array larger
than memory is fine. A row with non-finite intensities is skipped and recorded as a
:class:`~cbedfeat.data.errors.Problem` naming the source and the row; a source whose
shape or dtype is wrong, or that does not open, is one problem for the whole source.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from cbedfeat.data import schema as manifest
from cbedfeat.data.errors import (
    BadStackError,
    CBEDDataError,
    FileOpenError,
    MissingDataError,
    Problem,
    ReadError,
)
from cbedfeat.data.ornl import _record, open_h5
from cbedfeat.data.sample import Sample, SampleMeta
from cbedfeat.data.validate import check_stack_layout, check_stack_values

__all__ = [
    "ROW_PREFIX",
    "ArraySource",
    "count_rows",
    "iter_array",
    "parse_array_source",
    "row_name",
]

ROW_PREFIX = "row_"
NPY_SUFFIX = ".npy"


def row_name(i: int) -> str:
    """The group name of row ``i`` of an array source: ``row_<i>``."""
    return f"{ROW_PREFIX}{int(i)}"


@dataclass(frozen=True)
class ArraySource:
    """Where an array of stacks is.

    Attributes
    ----------
    name : str
        The source as the user wrote it (``stacks.npy``, ``f.h5:/data/stacks``): the
        ``file`` of its samples and problems.
    path : Path
        The file on disk.
    dataset : str or None
        Path of the dataset inside an HDF5 file; None for a ``.npy`` file.
    """

    name: str
    path: Path
    dataset: str | None = None


def parse_array_source(text: str | os.PathLike) -> ArraySource | None:
    """An :class:`ArraySource` for ``*.npy`` or ``FILE:/dataset`` text, else None.

    ``FILE:/dataset`` is recognised when ``text`` is no existing path and the part
    before one of its colons is an existing file; the dataset path must start with
    ``/``.

    Raises
    ------
    FileNotFoundError
        For a ``.npy`` path that does not exist.
    """
    text = os.fspath(text)
    path = Path(text)
    if path.suffix.lower() == NPY_SUFFIX:
        if not path.exists():
            raise FileNotFoundError(f"no such file: {text}")
        return ArraySource(text, path)
    if path.exists():
        return None
    for i, char in enumerate(text):
        if char == ":" and text[i + 1 : i + 2] == "/" and os.path.isfile(text[:i]):
            return ArraySource(text, Path(text[:i]), text[i + 1 :])
    return None


def _layout(shape: tuple[int, ...], dtype: np.dtype, name: str) -> int:
    """Number of stacks in an array of ``shape``; raises BadStackError for another layout."""
    spec = manifest.stack_schema()
    if len(shape) == len(spec.shape) + 1:
        n, stack_shape = shape[0], tuple(shape[1:])
    else:
        n, stack_shape = 1, tuple(shape)
    try:
        check_stack_layout(stack_shape, dtype, spec)
    except ValueError as exc:
        raise BadStackError(
            name,
            None,
            f"array of shape {tuple(shape)}: a stack {exc}; expected (3, H, W) or (N, 3, H, W)",
        ) from None
    return int(n) if len(shape) == len(spec.shape) + 1 else -1


@contextlib.contextmanager
def _open(source: ArraySource):
    """``(array-like, n)``: n rows of ``(N, 3, H, W)``, or -1 for one ``(3, H, W)`` stack."""
    if source.dataset is None:
        try:
            arr = np.load(source.path, mmap_mode="r", allow_pickle=False)
        except Exception as exc:  # noqa: BLE001 - ValueError, OSError, pickled objects, ...
            raise FileOpenError(source.name, None, f"cannot load as a .npy array: {exc}") from None
        if not isinstance(arr, np.ndarray):
            raise FileOpenError(source.name, None, "not a single .npy array")
        yield arr, _layout(arr.shape, arr.dtype, source.name)
        return
    try:
        f = open_h5(source.path)
    except FileOpenError as err:
        raise FileOpenError(source.name, None, err.reason) from None
    with f:
        try:
            ds = f.get(source.dataset)
        except Exception as exc:  # noqa: BLE001 - damaged object headers
            raise ReadError(source.name, None, f"cannot read the dataset: {exc}") from None
        if not isinstance(ds, h5py.Dataset):
            what = "no such dataset" if ds is None else f"is a {type(ds).__name__}, not a dataset"
            raise MissingDataError(source.name, None, what)
        yield ds, _layout(ds.shape or (), ds.dtype, source.name)


def _row(arr, i: int, n: int, out: np.ndarray | None) -> np.ndarray:
    """Row ``i`` as float32 (in ``out`` where it fits); a float64 beyond float32 becomes Inf."""
    with np.errstate(over="ignore"):
        raw = np.asarray(arr[()] if n < 0 else arr[i])
        if out is not None and out.shape == raw.shape and out.dtype == np.float32:
            out[...] = raw
            return out
        return np.array(raw, dtype=np.float32)


def iter_array(
    source: ArraySource | str | os.PathLike,
    *,
    strict: bool = False,
    problems: list[Problem] | None = None,
    into: Callable[[tuple[int, ...]], np.ndarray | None] | None = None,
) -> Iterator[Sample]:
    """Samples of an array source, one per row, in row order.

    Parameters
    ----------
    source : ArraySource or str
        The source, or its text (see :func:`parse_array_source`).
    strict : bool
        Raise the first :class:`~cbedfeat.data.errors.CBEDDataError` instead of
        recording it.
    problems : list of Problem, optional
        Where skipped rows and sources are appended in non-strict mode (logged when
        None).
    into : callable, optional
        ``into(shape)`` returns the float32 array to read the next stack into, or None.

    Yields
    ------
    Sample
        ``stack`` : (3, H, W) float32 ndarray; ``meta`` with ``file`` = the source's
        name, ``group`` = ``row_<i>``, ``split`` 'unknown' and no metadata.
    """
    if not isinstance(source, ArraySource):
        parsed = parse_array_source(source)
        if parsed is None:
            raise ValueError(f"{source}: not a .npy file or FILE.h5:/dataset")
        source = parsed
    try:
        with _open(source) as (arr, n):
            for i in range(1 if n < 0 else n):
                group = row_name(i)
                try:
                    stack = _row(arr, i, n, into(_shape(arr, n)) if into is not None else None)
                except Exception as exc:  # noqa: BLE001 - damaged chunks, short files
                    _record(
                        ReadError(source.name, group, f"cannot read the row: {exc}"),
                        strict,
                        problems,
                    )
                    continue
                try:
                    check_stack_values(stack)
                except ValueError as exc:
                    _record(BadStackError(source.name, group, f"stack {exc}"), strict, problems)
                    continue
                yield Sample(stack, SampleMeta(file=source.name, group=group, split="unknown"))
    except CBEDDataError as err:
        _record(err, strict, problems)


def _shape(arr, n: int) -> tuple[int, ...]:
    return tuple(arr.shape[1:]) if n >= 0 else tuple(arr.shape)


def count_rows(source: ArraySource | str | os.PathLike) -> int:
    """Number of stacks in an array source (0 when it cannot be read)."""
    if not isinstance(source, ArraySource):
        source = parse_array_source(source)
    try:
        with _open(source) as (_, n):
            return 1 if n < 0 else n
    except (CBEDDataError, TypeError):
        return 0
