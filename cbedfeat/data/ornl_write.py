"""Write the ORNL CBED layout, atomically and deterministically.

Every attribute is encoded in the HDF5 type the real files use, taken from the data
manifest (``ornl.attributes[*].stored``): fixed-length byte strings for
``space_group`` and ``material`` (``numpy.bytes_``; a plain Python ``bytes`` would be
stored by h5py 3 as a variable-length string and read back as ``str``), 64-bit ints
for ``energy_keV`` and ``z_dirs``, 64-bit floats for the float arrays, a
variable-length UTF-8 string for ``formula``. Before writing, each encoded value is
decoded again with the reader's own checks, so the writer never writes what the
reader would refuse.

The file is written to ``<name>.tmp`` and renamed over ``<name>`` only when it is
complete (:func:`os.replace` is atomic on POSIX): an interrupted run never leaves a
half file under the real name. h5py does not record object modification times by
default, so the same samples in the same order give the same bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from cbedfeat.data import schema as manifest
from cbedfeat.data.errors import BadAttributeError, BadStackError
from cbedfeat.data.ornl import SampleMeta
from cbedfeat.data.validate import check_stack_layout, check_stack_values, decode_attribute

COMPRESSIONS = (None, "gzip", "lzf")


def encode_attribute(value: object, spec: manifest.AttributeSpec) -> object:
    """Encode one SampleMeta value in the stored HDF5 type of ``spec``.

    Returns
    -------
    numpy.bytes_, str, numpy.int64 or ndarray
        What to assign to ``group.attrs[spec.name]``.
    """
    if spec.stored == "bytes":
        return np.bytes_(str(value).encode("utf-8"))
    if spec.stored == "str":
        return str(value)
    if spec.stored == "int":
        arr = np.asarray(value)
        if arr.dtype.kind == "f":
            if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
                raise ValueError(f"{arr!r:.60} is not integer-valued")
        elif arr.dtype.kind not in "iu":
            raise ValueError(f"expected integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64)
        return np.int64(arr.item()) if spec.shape == () else arr.reshape(spec.shape)
    if spec.stored == "float":
        arr = np.asarray(value, dtype=np.float64)
        return arr[()] if spec.shape == () else arr.reshape(spec.shape)
    raise AssertionError(f"unknown stored type {spec.stored!r}")


class ORNLWriter:
    """Write samples into one ORNL-layout HDF5 file, atomically.

    Parameters
    ----------
    path : path
        Final file name, e.g. ``out/batch_train_0.h5``; the parent is created.
    compression : {None, 'gzip', 'lzf'}
        HDF5 filter for ``cbed_stack``. None (default) matches the real files; gzip
        is smaller and portable, lzf faster but h5py-only.
    compression_opts : int, optional
        gzip level 0..9 (default 4).

    Notes
    -----
    ``cbed_stack`` is chunked as one whole ``(3, H, W)`` sample per chunk: every
    reader reads all three orientations of a sample together, so one chunk is one
    read and one decompression, and reading one sample never touches another.

    Examples
    --------
    >>> with ORNLWriter("out/batch_train_0.h5") as w:     # doctest: +SKIP
    ...     w.write(stack, meta)
    """

    def __init__(
        self,
        path: str | os.PathLike,
        compression: str | None = None,
        compression_opts: int | None = None,
    ) -> None:
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
        if compression_opts is not None and compression != "gzip":
            raise ValueError("compression_opts applies to gzip only")
        self.path = Path(path)
        self.tmp_path = self.path.with_name(self.path.name + ".tmp")
        self.compression = compression
        self.compression_opts = (
            (compression_opts if compression_opts is not None else 4)
            if compression == "gzip"
            else None
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f: h5py.File | None = h5py.File(self.tmp_path, "w")
        self._groups: set[str] = set()

    @property
    def n_written(self) -> int:
        """Samples written so far."""
        return len(self._groups)

    def write(self, stack: np.ndarray, meta: SampleMeta) -> None:
        """Write one sample as group ``meta.group``.

        Parameters
        ----------
        stack : (3, H, W) float ndarray
            Stored as float32.
        meta : SampleMeta
            Its ``file`` and ``split`` are ignored (the split is the file name's).

        Raises
        ------
        BadStackError, BadAttributeError
            If the sample would not pass the reader's validation; nothing is written.
        """
        if self._f is None:
            raise ValueError(f"{self.path}: writer is closed")
        file, group = str(self.path), meta.group
        if not manifest.group_regex().match(group):
            raise BadAttributeError(file, group, "group name must look like sample_<i>_<j>")
        if group in self._groups:
            raise BadAttributeError(file, group, "group already written to this file")
        stack_spec = manifest.stack_schema()
        stack = np.asarray(stack)
        try:
            check_stack_layout(stack.shape, stack.dtype, stack_spec)
            stack = stack.astype(np.float32, copy=False)
            check_stack_values(stack)
        except ValueError as exc:
            raise BadStackError(file, group, f"{stack_spec.name} {exc}") from None
        attrs = {}
        for name, spec in manifest.attribute_schema().items():
            if getattr(meta, name) is None:
                raise BadAttributeError(
                    file,
                    group,
                    f"attribute {name!r} is None: the writer writes complete records only",
                )
            try:
                encoded = encode_attribute(getattr(meta, name), spec)
                decode_attribute(encoded, spec)
            except ValueError as exc:
                raise BadAttributeError(file, group, f"attribute {name!r} {exc}") from None
            attrs[name] = encoded

        g = self._f.create_group(group)
        for name, value in attrs.items():
            g.attrs[name] = value
        g.create_dataset(
            stack_spec.name,
            data=stack,
            chunks=stack.shape,
            compression=self.compression,
            compression_opts=self.compression_opts,
        )
        self._groups.add(group)

    def close(self) -> None:
        """Finish the file: flush, sync and rename ``<name>.tmp`` to ``<name>``."""
        if self._f is None:
            return
        self._f.close()
        self._f = None
        with open(self.tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(self.tmp_path, self.path)

    def abort(self) -> None:
        """Drop the unfinished file: nothing appears under the real name."""
        if self._f is not None:
            try:
                self._f.close()
            finally:
                self._f = None
        self.tmp_path.unlink(missing_ok=True)

    def __enter__(self) -> ORNLWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:
        # A writer dropped without close() must not publish a half file.
        if getattr(self, "_f", None) is not None:
            try:
                self.abort()
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass


__all__ = ["COMPRESSIONS", "ORNLWriter", "encode_attribute"]
