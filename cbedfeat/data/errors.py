"""Errors of the data layer and the record of a skipped input.

Every error names the file and, when there is one, the sample group, so a user can go
straight to the bad input. In non-strict iteration each error becomes a
:class:`Problem` record instead of an exception, and the batch goes on.

Hierarchy::

    CBEDDataError
     +-- FileOpenError      the file does not open (not HDF5, truncated, empty, no access)
     +-- ReadError          an HDF5 read inside an open file failed (damaged chunk)
     +-- MissingDataError   cbed_stack is missing, or a member is no group
     |    +-- MissingAttributeError  a metadata attribute is missing
     +-- BadStackError      cbed_stack has the wrong rank, shape or dtype, or NaN/Inf
     +-- BadAttributeError  an attribute fails to decode, has the wrong shape, is out of
                            its plausible range, non-finite or a garbage (denormal) float

Two kinds of problem are kept apart. A *pattern* problem (every kind but the two
below) makes a sample unusable everywhere. A *metadata* problem
(:data:`METADATA_KINDS`: ``'missing_attribute'``, ``'bad_attribute'``) makes it
unusable for training and evaluation only: prediction and extraction still use the
pattern and leave the bad fields empty.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


class CBEDDataError(Exception):
    """Base class: a CBED input that cbedfeat refuses to use.

    Parameters
    ----------
    file : str
        The file the bad input came from.
    group : str or None
        The sample group (``sample_<i>_<j>``), or None for a whole-file problem.
    reason : str
        What is wrong, in words.
    """

    kind = "data"

    def __init__(self, file: str, group: str | None, reason: str) -> None:
        self.file = str(file)
        self.group = group
        self.reason = reason
        where = self.file if group is None else f"{self.file} [{group}]"
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):  # keep the exception picklable (process pools)
        return (type(self), (self.file, self.group, self.reason))

    def to_problem(self) -> Problem:
        """The record non-strict iteration keeps for this error."""
        return Problem(file=self.file, group=self.group, reason=self.reason, kind=self.kind)


class FileOpenError(CBEDDataError):
    """The file cannot be opened as HDF5 (truncated, not HDF5, empty, no access)."""

    kind = "file_open"


class ReadError(CBEDDataError):
    """Reading data of a sample failed inside a file that opened."""

    kind = "read"


class MissingDataError(CBEDDataError):
    """A dataset or attribute of the documented layout is missing."""

    kind = "missing"


class MissingAttributeError(MissingDataError):
    """A metadata attribute of the documented layout is missing (the pattern may be fine)."""

    kind = "missing_attribute"


class BadStackError(CBEDDataError):
    """``cbed_stack`` has the wrong rank, shape or dtype, or non-finite values."""

    kind = "bad_stack"


class BadAttributeError(CBEDDataError):
    """A sample attribute fails to decode or to pass its plausibility check."""

    kind = "bad_attribute"


ERROR_KINDS: dict[str, type[CBEDDataError]] = {
    cls.kind: cls
    for cls in (
        FileOpenError,
        ReadError,
        MissingDataError,
        MissingAttributeError,
        BadStackError,
        BadAttributeError,
    )
}
# Kinds of problem that concern the metadata only: the pattern is still usable.
METADATA_KINDS: frozenset[str] = frozenset({MissingAttributeError.kind, BadAttributeError.kind})


@dataclass(frozen=True)
class Problem:
    """One input that non-strict iteration skipped.

    Attributes
    ----------
    file : str
        The file.
    group : str or None
        The sample group, or None when the whole file was skipped.
    reason : str
        What is wrong.
    kind : str
        ``CBEDDataError.kind`` of the error: ``'file_open'``, ``'read'``,
        ``'missing'``, ``'bad_stack'`` (pattern problems), ``'missing_attribute'`` or
        ``'bad_attribute'`` (metadata problems, :data:`METADATA_KINDS`).
    """

    file: str
    group: str | None
    reason: str
    kind: str

    def __str__(self) -> str:
        where = self.file if self.group is None else f"{self.file} [{self.group}]"
        return f"{where}: {self.kind}: {self.reason}"

    @property
    def about_metadata(self) -> bool:
        """True for a metadata problem (the pattern is usable), False for a pattern problem."""
        return self.kind in METADATA_KINDS

    def to_dict(self) -> dict[str, str | None]:
        """JSON-ready dict."""
        return asdict(self)

    def to_error(self) -> CBEDDataError:
        """The exception strict mode raises for this problem."""
        return ERROR_KINDS.get(self.kind, CBEDDataError)(self.file, self.group, self.reason)
