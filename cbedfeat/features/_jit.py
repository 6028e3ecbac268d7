"""Optional compilation with Numba.

:func:`jit` compiles a function written in Numba's subset of Python and NumPy when
Numba imports, and returns the plain function otherwise: the same code runs either
way (slowly without Numba), and tests compare the two through ``.py_func``.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

try:
    import numba
except Exception as exc:  # pragma: no cover - exercised only without Numba
    log.debug("Numba unavailable (%s): kernels run as plain Python", exc)
    numba = None

__all__ = ["jit", "numba_available"]


def numba_available() -> bool:
    """Whether kernels are compiled."""
    return numba is not None


def jit(func):
    """``numba.njit(cache=True, nogil=True)(func)``, or ``func`` without Numba.

    ``nogil`` lets a reader thread fill the next batch while a kernel runs; ``cache``
    keeps the compiled code on disk, so worker processes do not compile again.
    """
    if numba is None:
        return func
    return numba.njit(cache=True, nogil=True)(func)
