"""Zero-copy stacks: read-only memory maps of raw float32 datasets.

The ORNL files store each ``cbed_stack`` uncompressed, as one extent of raw
little-endian float32 bytes (3.15 MB a stack). ``read_direct`` copies those bytes from
the page cache into an array, which the feature kernel then reads again: the copy
costs as much as reading the stack twice. :class:`StackMapper` maps the extent instead
and hands out a read-only array on the page cache itself, for a dataset that is one
raw extent: contiguous layout, or a single chunk without filters, of ``<f4`` values,
inside the file. Anything else (gzip chunks, big-endian data, a user block, an extent
beyond the end of the file) gets ``None``, and the caller reads it the usual way.

Each view owns its own small mapping: it is unmapped when the view is garbage
collected, so memory stays bounded by the stacks in use. A file truncated by another
process while one of its stacks is mapped makes the next access to the missing pages
fail with SIGBUS, which ends the worker (``cbedfeat extract`` then reports the dead
worker and keeps the parts written); data files are not rewritten while read.
"""

from __future__ import annotations

import mmap
import os

import h5py
import numpy as np

__all__ = ["StackMapper"]

_F32 = np.dtype("<f4")


class StackMapper:
    """Maps raw float32 datasets of one open HDF5 file as read-only arrays.

    Parameters
    ----------
    path : path
        The file (opened again read-only, for the maps).
    h5 : h5py.File
        The same file, open.
    """

    def __init__(self, path: str | os.PathLike, h5: h5py.File) -> None:
        self._fd = -1
        self._size = 0
        if h5.userblock_size:  # dataset addresses are relative to the user block
            return
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return
        self._fd = fd
        self._size = os.fstat(fd).st_size

    def view(self, ds: h5py.Dataset) -> np.ndarray | None:
        """Read-only array of ``ds`` on the page cache, or None when it is not one raw extent."""
        if self._fd < 0 or ds.dtype != _F32:
            return None
        nbytes = int(np.prod(ds.shape, dtype=np.int64)) * 4
        dsid = ds.id
        offset = dsid.get_offset()  # contiguous layout; None for chunked data
        if offset is None:
            if ds.chunks != ds.shape or dsid.get_create_plist().get_nfilters():
                return None
            if dsid.get_num_chunks() != 1:
                return None
            info = dsid.get_chunk_info(0)
            if info.filter_mask or info.size != nbytes:
                return None
            offset = info.byte_offset
        elif dsid.get_storage_size() != nbytes:
            return None
        if offset is None or nbytes == 0 or offset + nbytes > self._size:
            return None
        start = offset - offset % mmap.ALLOCATIONGRANULARITY
        try:
            m = mmap.mmap(self._fd, nbytes + offset - start, access=mmap.ACCESS_READ, offset=start)
        except (OSError, ValueError):
            return None
        arr = np.frombuffer(m, dtype=_F32, count=nbytes // 4, offset=offset - start)
        return arr.reshape(ds.shape)

    def close(self) -> None:
        """Close the file descriptor; views handed out stay valid (each has its own map)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> StackMapper:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
