"""Fixtures of the feature tests: the array backend, parametrised over NumPy and CuPy.

CuPy cases skip where CuPy or a CUDA device is not usable; on a GPU machine the same
tests run on both and the CuPy results are compared against NumPy.
"""

from __future__ import annotations

import numpy as np
import pytest

from cbedfeat.features.backend import cupy_or_none


@pytest.fixture(params=["numpy", pytest.param("cupy", marks=pytest.mark.gpu)])
def xp(request):
    """The array module under test (``numpy`` or ``cupy``)."""
    if request.param == "numpy":
        return np
    cp = cupy_or_none()
    if cp is None:
        pytest.skip("CuPy or a CUDA device is not available")
    return cp
