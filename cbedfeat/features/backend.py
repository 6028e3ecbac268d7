"""The one private array backend of :mod:`cbedfeat.features`: NumPy/SciPy or CuPy.

Feature functions never take a ``device`` argument: they take arrays and compute with
the module that owns them (``xp = get_array_module(x)``), as in cuCIM and
scikit-image. Only :class:`cbedfeat.features.FeatureExtractor` (and the command line)
choose a device, through :func:`resolve_device`, which logs the device actually used.

CuPy is imported lazily, and *any* exception during that import (missing package,
broken CUDA driver, no device) means "no GPU": a broken CUDA install never breaks
CPU users.
"""

from __future__ import annotations

import functools
import logging
from types import ModuleType
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

__all__ = [
    "cupy_or_none",
    "gpu_available",
    "get_array_module",
    "sparse_module",
    "fft_module",
    "ndimage_module",
    "resolve_device",
    "to_device",
    "to_numpy",
]


@functools.cache
def cupy_or_none() -> ModuleType | None:
    """CuPy if it imports and sees at least one CUDA device, else ``None``."""
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
        return cupy
    except Exception as exc:  # broken CUDA installs raise many kinds of errors
        log.debug("CuPy unavailable: %s", exc)
        return None


def gpu_available() -> bool:
    """Whether CuPy imports and a CUDA device is visible."""
    return cupy_or_none() is not None


def _is_cupy(x: Any) -> bool:
    # Looking at the type's module avoids importing CuPy for NumPy inputs.
    return type(x).__module__.split(".")[0] in ("cupy", "cupyx")


def get_array_module(*arrays: Any) -> ModuleType:
    """``cupy`` if any argument is a CuPy array (or sparse matrix), else ``numpy``."""
    for a in arrays:
        if _is_cupy(a):
            cp = cupy_or_none()
            if cp is None:  # pragma: no cover - a CuPy array without CuPy
                raise RuntimeError("a CuPy array was given but CuPy is not usable")
            return cp
    return np


def sparse_module(xp: ModuleType) -> ModuleType:
    """``scipy.sparse`` or ``cupyx.scipy.sparse`` for the array module ``xp``."""
    if xp is np:
        import scipy.sparse

        return scipy.sparse
    import cupyx.scipy.sparse

    return cupyx.scipy.sparse


def fft_module(xp: ModuleType) -> ModuleType:
    """``scipy.fft`` (faster than ``numpy.fft`` on float32) or ``cupy.fft``."""
    if xp is np:
        import scipy.fft

        return scipy.fft
    return xp.fft


def ndimage_module(xp: ModuleType) -> ModuleType:
    """``scipy.ndimage`` or ``cupyx.scipy.ndimage``."""
    if xp is np:
        import scipy.ndimage

        return scipy.ndimage
    import cupyx.scipy.ndimage

    return cupyx.scipy.ndimage


def resolve_device(device: str = "auto") -> str:
    """Turn ``"auto" | "cpu" | "cuda"`` into the device to use, and log it.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}
        ``"auto"`` picks ``"cuda"`` when CuPy and a CUDA device are usable.

    Returns
    -------
    str
        ``"cpu"`` or ``"cuda"``.

    Raises
    ------
    ValueError
        For an unknown device name.
    RuntimeError
        For ``"cuda"`` when CuPy or a CUDA device is not usable.
    """
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', not {device!r}")
    if device == "auto":
        device = "cuda" if gpu_available() else "cpu"
    elif device == "cuda" and not gpu_available():
        raise RuntimeError("device='cuda' asked for, but CuPy or a CUDA device is not usable")
    log.info("cbedfeat.features: computing on %s", device)
    return device


def xp_for_device(device: str) -> ModuleType:
    """The array module for a resolved device (``"cpu"`` or ``"cuda"``)."""
    if device == "cuda":
        cp = cupy_or_none()
        if cp is None:
            raise RuntimeError("CuPy is not usable")
        return cp
    return np


def to_device(x: Any, xp: ModuleType) -> Any:
    """``x`` as an array of module ``xp`` (copied to the GPU for CuPy)."""
    if xp is np:
        return to_numpy(x)
    return xp.asarray(x)


def to_numpy(x: Any) -> np.ndarray:
    """``x`` as a NumPy array (copied from the GPU for CuPy arrays)."""
    if _is_cupy(x):
        return x.get()
    return np.asarray(x)
