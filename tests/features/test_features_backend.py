import logging
import sys

import numpy as np
import pytest

from cbedfeat.features import backend


def test_numpy_arrays_use_numpy_and_scipy():
    x = np.zeros(3)
    assert backend.get_array_module(x, [1, 2]) is np
    import scipy.fft
    import scipy.sparse

    assert backend.sparse_module(np) is scipy.sparse
    assert backend.fft_module(np) is scipy.fft


def test_resolve_device_logs_the_device_used(caplog):
    with caplog.at_level(logging.INFO, logger="cbedfeat.features.backend"):
        assert backend.resolve_device("cpu") == "cpu"
    assert "cpu" in caplog.text
    assert backend.resolve_device("auto") == ("cuda" if backend.gpu_available() else "cpu")


def test_resolve_device_rejects_unknown_names():
    with pytest.raises(ValueError, match="device"):
        backend.resolve_device("tpu")


@pytest.mark.skipif(backend.gpu_available(), reason="a GPU is present")
def test_cuda_without_gpu_is_a_clear_error():
    with pytest.raises(RuntimeError, match="CuPy"):
        backend.resolve_device("cuda")


def test_broken_cupy_install_means_cpu(monkeypatch):
    class Broken:
        def __getattr__(self, name):
            raise OSError("libcudart.so: cannot open shared object file")

    backend.cupy_or_none.cache_clear()
    monkeypatch.setitem(sys.modules, "cupy", Broken())
    try:
        assert backend.cupy_or_none() is None
        assert backend.resolve_device("auto") == "cpu"
    finally:
        backend.cupy_or_none.cache_clear()


def test_to_numpy_and_back(xp):
    a = xp.arange(6, dtype=xp.float32).reshape(2, 3)
    out = backend.to_numpy(a)
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, np.arange(6).reshape(2, 3))
    assert backend.get_array_module(backend.to_device(out, xp)) is xp
