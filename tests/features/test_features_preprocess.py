import numpy as np
import pytest

from cbedfeat.features.backend import to_numpy
from cbedfeat.features.preprocess import reference_intensity, scale_intensity


def _images():
    rng = np.random.default_rng(3)
    return (rng.random((2, 16, 16)) ** 4 * 1e4).astype(np.float32)


def test_log_scaling_formula(xp):
    img = _images()
    got = to_numpy(scale_intensity(xp.asarray(img), scaling="log", log_floor=1e-2))
    ref = img.reshape(2, -1).mean(axis=1)[:, None, None]
    np.testing.assert_allclose(got, np.log1p(img / (ref * 1e-2)), rtol=2e-6, atol=1e-6)
    assert got.dtype == np.float32 and got.min() >= 0


def test_power_scaling_formula_with_max_reference(xp):
    img = _images()
    got = to_numpy(scale_intensity(xp.asarray(img), scaling="power", normalize="max", power=0.25))
    ref = img.reshape(2, -1).max(axis=1)[:, None, None]
    np.testing.assert_allclose(got, (img / ref) ** 0.25, rtol=1e-5)


@pytest.mark.parametrize("scaling", ["log", "power", "none"])
def test_global_intensity_scale_changes_nothing(xp, scaling):
    img = _images()
    a = to_numpy(scale_intensity(xp.asarray(img), scaling=scaling))
    b = to_numpy(scale_intensity(xp.asarray(img * 1234.5), scaling=scaling))
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_input_is_left_alone_and_negatives_are_clipped():
    img = _images()
    img[0, 0, 0] = -50.0
    keep = img.copy()
    out = scale_intensity(img)
    np.testing.assert_array_equal(img, keep)
    assert out[0, 0, 0] == 0.0


def test_reference_of_an_empty_image_is_one():
    np.testing.assert_array_equal(reference_intensity(np.zeros((1, 4, 4), np.float32)), [1.0])
    with pytest.raises(ValueError):
        scale_intensity(_images(), scaling="sqrt")
