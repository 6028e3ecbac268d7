"""Read the ORNL CBED layout: find files, list sample groups, read validated samples.

One sample is one HDF5 group ``sample_<i>_<j>`` holding a ``cbed_stack`` dataset
(float32, ``(3, H, W)``: three CBED patterns of one material at three zone axes) and
the material's properties as attributes (see ``ornl`` in the data manifest and
``reference/ornl_layout.md``). Files are named ``batch_<split>_<n>.h5``.

Reading is lazy: :func:`iter_samples` opens one file at a time and reads one stack at
a time, in a stable natural order (files, then ``(i, j)``). Files open read-only in
SWMR mode, as the official challenge notebook does, so a file that another process is
still writing can be read. Every sample is validated; see :mod:`cbedfeat.data.validate`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from pathlib import Path

import h5py
import numpy as np

from cbedfeat.data import schema as manifest
from cbedfeat.data.attrs import AttributeReader
from cbedfeat.data.errors import (
    BadAttributeError,
    BadStackError,
    CBEDDataError,
    FileOpenError,
    MissingAttributeError,
    MissingDataError,
    Problem,
    ReadError,
)
from cbedfeat.data.mapped import StackMapper
from cbedfeat.data.sample import Sample, SampleMeta
from cbedfeat.data.validate import check_stack_layout, check_stack_values, decode_attribute

log = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "dev", "test")
__all__ = [
    "SPLITS",
    "ORNLFile",
    "Sample",
    "SampleMeta",
    "find_h5_files",
    "iter_file",
    "iter_samples",
    "list_groups",
    "open_h5",
    "read_group",
    "read_sample",
    "split_of",
]


def split_of(path: str | os.PathLike) -> str:
    """Split of a file from its name: ``batch_<split>_<n>.h5`` -> split, else 'unknown'."""
    return _split_of_name(os.path.basename(os.fspath(path)))


@lru_cache(maxsize=4096)
def _split_of_name(name: str) -> str:
    m = manifest.file_regex().match(name)
    return m.group(1) if m else "unknown"


def _natural_key(text: str) -> tuple:
    # Digits compare as numbers (batch_train_2 before batch_train_10); str and int
    # alternate at fixed positions, so keys always compare.
    return tuple(int(t) if i % 2 else t for i, t in enumerate(re.split(r"(\d+)", text)))


def find_h5_files(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """Files to read: given files as they are, directories searched for ``batch_*.h5``.

    Parameters
    ----------
    paths : path or iterable of paths
        Files and directories. Directories are searched recursively with the
        manifest's glob (``batch_*.h5``); ``<name>.h5.tmp`` files of an unfinished
        write never match.

    Returns
    -------
    list of Path
        Without duplicates, in natural order of the path text.

    Raises
    ------
    FileNotFoundError
        If a given path does not exist.
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    glob = manifest.load_manifest()["ornl"]["files"]["glob"]
    found: dict[Path, Path] = {}
    for p in map(Path, paths):
        if p.is_dir():
            candidates = [c for c in p.rglob(glob) if not c.is_dir()]
        elif p.exists() or p.is_symlink():
            candidates = [p]
        else:
            raise FileNotFoundError(f"no such file or directory: {p}")
        for c in candidates:
            found.setdefault(c.resolve(), c)
    return sorted(found.values(), key=lambda c: _natural_key(str(c)))


def open_h5(path: str | os.PathLike) -> h5py.File:
    """Open an HDF5 file read-only, SWMR first (as the official notebook), plain second.

    Raises
    ------
    FileOpenError
        If the file does not open (not HDF5, truncated, empty, no permission, ...).
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise FileOpenError(path, None, "file is empty (0 bytes)")
    except OSError as exc:
        raise FileOpenError(path, None, f"cannot stat file: {exc}") from None
    try:
        return h5py.File(path, "r", swmr=True)
    except Exception:  # noqa: BLE001 - retried without SWMR; the second error is reported
        pass
    try:
        return h5py.File(path, "r")
    except Exception as exc:  # noqa: BLE001 - h5py raises OSError, but also others on junk
        raise FileOpenError(path, None, f"cannot open as HDF5: {exc}") from None


def _group_sort_key(name: str) -> tuple:
    m = manifest.group_regex().match(name)
    return (0, int(m.group(1)), int(m.group(2)), name) if m else (1, 0, 0, name)


def list_groups(path: str | os.PathLike | h5py.Group) -> list[str]:
    """Top-level member names of a file, ``sample_<i>_<j>`` first in ``(i, j)`` order.

    Members that do not follow the pattern come last (by name); reading them reports
    what is wrong with them rather than hiding them.
    """
    if isinstance(path, h5py.Group):
        return sorted(path.keys(), key=_group_sort_key)
    with open_h5(path) as f:
        return sorted(f.keys(), key=_group_sort_key)


def read_group(
    f: h5py.File,
    file: str,
    group: str,
    *,
    load_stack: bool = True,
    into: Callable[[tuple[int, ...]], np.ndarray | None] | None = None,
    attributes: AttributeReader | None = None,
    mapper: StackMapper | None = None,
    require_metadata: bool = True,
) -> Sample:
    """Read and validate one sample group of an open file.

    Parameters
    ----------
    f : h5py.File
        Open file.
    file : str
        Its path, for the record and for messages.
    group : str
        Group name.
    load_stack : bool
        Read the stack (True) or check its shape and dtype only (False; ``stack`` is None).
    into : callable, optional
        ``into(shape)`` returns the float32 array to read the stack into (``Sample.stack``
        is then that array), or None for a new array.
    attributes : AttributeReader, optional
        Reads the attributes; pass one reader for all the groups of a file, which
        then share its type conversions (about 3x faster than ``attrs[name]``).
    mapper : StackMapper, optional
        Where the stack is one raw float32 extent, ``Sample.stack`` is a read-only
        view of the page cache instead of a copy (``into`` is then not used).
    require_metadata : bool
        True (training, evaluation): a missing or invalid attribute raises. False
        (prediction, extraction): only the pattern must be usable; a missing or
        invalid attribute leaves its field None and is recorded in
        ``SampleMeta.problems``.

    Returns
    -------
    Sample

    Raises
    ------
    MissingDataError, BadStackError, ReadError
        The pattern is unusable (whatever ``require_metadata``).
    MissingAttributeError, BadAttributeError
        An attribute is missing or invalid, with ``require_metadata``.
    """
    try:
        g = f.get(group)
    except Exception as exc:  # noqa: BLE001 - damaged object headers raise various errors
        raise ReadError(file, group, f"cannot read group: {exc}") from None
    if g is None:
        raise MissingDataError(file, group, "no such group")
    if not isinstance(g, h5py.Group):
        raise MissingDataError(file, group, f"is a {type(g).__name__}, not a sample group")
    stack_spec = manifest.stack_schema()
    ds = g.get(stack_spec.name)
    if ds is None:
        raise MissingDataError(file, group, f"dataset {stack_spec.name!r} is missing")
    if not isinstance(ds, h5py.Dataset):
        raise MissingDataError(file, group, f"{stack_spec.name!r} is not a dataset")
    try:
        check_stack_layout(ds.shape or (), ds.dtype, stack_spec)
    except ValueError as exc:
        raise BadStackError(file, group, f"{stack_spec.name} {exc}") from None

    reader = attributes if attributes is not None else AttributeReader()
    values, problems = _read_attributes(g, file, group, reader, require_metadata)
    meta = SampleMeta(
        file=str(file), group=group, split=split_of(file), problems=problems, **values
    )

    stack = None
    if load_stack:
        try:
            stack = mapper.view(ds) if mapper is not None else None
            if stack is None:
                stack = _read_stack(ds, into(tuple(ds.shape)) if into is not None else None)
        except Exception as exc:  # noqa: BLE001 - damaged chunks raise OSError and others
            raise ReadError(file, group, f"cannot read {stack_spec.name}: {exc}") from None
        try:
            check_stack_values(stack)
        except ValueError as exc:
            raise BadStackError(file, group, f"{stack_spec.name} {exc}") from None
    return Sample(stack, meta)


def _read_attributes(
    g: h5py.Group, file: str, group: str, reader: AttributeReader, require_metadata: bool
) -> tuple[dict[str, object], tuple[Problem, ...]]:
    """Decoded attributes of a group and the metadata problems (see :func:`read_group`).

    Every attribute is decoded on its own, so one bad value empties one field only.
    A group with no attribute at all (a bare stack) gives one problem, not one per
    attribute.
    """
    values: dict[str, object] = {}
    problems: list[Problem] = []
    schema = manifest.attribute_schema()
    for name, spec in schema.items():
        try:
            raw = reader.read(g, name)
        except KeyError:
            err: CBEDDataError = MissingAttributeError(
                file, group, f"attribute {name!r} is missing"
            )
        except Exception as exc:  # noqa: BLE001 - undecodable strings, odd HDF5 types
            err = BadAttributeError(file, group, f"attribute {name!r} cannot be read: {exc}")
        else:
            try:
                values[name] = decode_attribute(raw, spec)
                continue
            except ValueError as exc:
                err = BadAttributeError(file, group, f"attribute {name!r} {exc}")
        if require_metadata:
            raise err from None
        problems.append(err.to_problem())
    if (
        not values
        and len(problems) == len(schema)
        and all(p.kind == MissingAttributeError.kind for p in problems)
    ):
        problems = [
            MissingAttributeError(
                file, group, "no metadata attributes (an unlabelled sample)"
            ).to_problem()
        ]
    return values, tuple(problems)


def _read_stack(ds: h5py.Dataset, out: np.ndarray | None = None) -> np.ndarray:
    """The whole dataset as float32, in ``out`` where it fits.

    float32 data goes straight into the array with ``read_direct``: 3-4x faster than
    ``ds[()]`` for a (3, 512, 512) stack. Other types are read as stored and cast by
    NumPy, so that a float64 value beyond the float32 range becomes Inf (and fails the
    finiteness check) instead of whatever HDF5's conversion makes of it.
    """
    fits = (
        out is not None
        and out.shape == ds.shape
        and out.dtype == np.float32
        and out.flags.c_contiguous
    )
    if not fits:
        out = np.empty(ds.shape, dtype=np.float32)
    if ds.dtype == np.float32 and ds.shape:
        ds.read_direct(out)
    else:
        out[...] = np.asarray(ds[()], dtype=np.float32)
    return out


def read_sample(
    path: str | os.PathLike, group: str, *, load_stack: bool = True, require_metadata: bool = True
) -> Sample:
    """Random access: read and validate one sample by (file, group) (see :func:`read_group`).

    Raises
    ------
    CBEDDataError
        A subclass naming file, group and what is wrong.
    """
    with open_h5(path) as f:
        return read_group(
            f, str(path), group, load_stack=load_stack, require_metadata=require_metadata
        )


class ORNLFile:
    """An open ORNL file for repeated random access (e.g. a training data loader).

    Examples
    --------
    >>> with ORNLFile(path) as f:                                  # doctest: +SKIP
    ...     sample = f.read(f.groups[0])
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(path)
        self._f = open_h5(path)
        self._attributes = AttributeReader()
        self.groups: list[str] = list_groups(self._f)

    def read(self, group: str, *, load_stack: bool = True, require_metadata: bool = True) -> Sample:
        """Read and validate one sample (see :func:`read_group`)."""
        return read_group(
            self._f,
            self.path,
            group,
            load_stack=load_stack,
            attributes=self._attributes,
            require_metadata=require_metadata,
        )

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> ORNLFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _record(err: CBEDDataError, strict: bool, problems: list[Problem] | None) -> None:
    if strict:
        raise err
    problem = err.to_problem()
    if problems is None:
        log.warning("skipped: %s", problem)
    else:
        problems.append(problem)


def iter_file(
    path: str | os.PathLike,
    *,
    strict: bool = False,
    problems: list[Problem] | None = None,
    load_stack: bool = True,
    into: Callable[[tuple[int, ...]], np.ndarray | None] | None = None,
    mapped: bool = False,
    require_metadata: bool = True,
) -> Iterator[Sample]:
    """Validated samples of one file, in natural group order (see :func:`iter_samples`).

    ``into(shape)``, when given, returns the float32 array to read the next stack into
    (or None for a new one): batch readers fill their batch in place. With ``mapped``,
    stacks stored as one raw float32 extent come as read-only views of the page
    cache (:class:`~cbedfeat.data.mapped.StackMapper`), the others as arrays.
    """
    file = str(path)
    try:
        f = open_h5(path)
    except FileOpenError as err:
        _record(err, strict, problems)
        return
    with f, StackMapper(path, f) if mapped and load_stack else contextlib.nullcontext() as mapper:
        try:
            groups = list_groups(f)
        except Exception as exc:  # noqa: BLE001 - a damaged root group
            _record(ReadError(file, None, f"cannot list groups: {exc}"), strict, problems)
            return
        attributes = AttributeReader()  # the groups of a file share attribute types
        for group in groups:
            try:
                sample = read_group(
                    f,
                    file,
                    group,
                    load_stack=load_stack,
                    into=into,
                    attributes=attributes,
                    mapper=mapper,
                    require_metadata=require_metadata,
                )
            except CBEDDataError as err:
                _record(err, strict, problems)
                continue
            yield sample


def iter_samples(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    strict: bool = False,
    problems: list[Problem] | None = None,
    load_stack: bool = True,
    require_metadata: bool = True,
) -> Iterator[Sample]:
    """Iterate validated samples of files and directories lazily, in a stable order.

    Parameters
    ----------
    paths : path or iterable of paths
        Files and directories (see :func:`find_h5_files`).
    strict : bool
        Raise the first :class:`CBEDDataError` (True) or skip bad samples and files,
        recording each as a :class:`Problem` (False).
    problems : list of Problem, optional
        Where skipped inputs are appended in non-strict mode; when None they are logged
        as warnings instead.
    load_stack : bool
        Read the stacks (True) or metadata only (False: ``stack`` is None, the stack's
        shape and dtype are still checked, its values are not).
    require_metadata : bool
        True: a sample with a missing or invalid attribute is skipped (or raises,
        with ``strict``), as training needs. False: every sample with a usable pattern
        is yielded; bad attributes are None and listed in ``meta.problems``.

    Yields
    ------
    Sample
        ``stack`` : (3, H, W) float32 ndarray (or None), ``meta`` : SampleMeta.
    """
    for path in find_h5_files(paths):
        yield from iter_file(
            path,
            strict=strict,
            problems=problems,
            load_stack=load_stack,
            require_metadata=require_metadata,
        )
