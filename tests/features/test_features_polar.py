import numpy as np
import pytest
import scipy.ndimage
from _synth import nfold_image

from cbedfeat.features import geometry, polar
from cbedfeat.features.backend import to_numpy


def _power(img, xp, center=None, n_r=60, n_phi=256):
    imgs = xp.asarray(np.asarray(img, np.float32)[None])
    center = center or geometry.image_center(img.shape)
    r_max = geometry.inscribed_radius(img.shape, center)
    pol = polar.polar_transform(imgs, center, r_max=r_max, n_r=n_r, n_phi=n_phi)
    radii, _ = geometry.polar_grid(r_max, n_r, n_phi)
    w = polar.band_weights(radii, [(0, r_max / 2), (r_max / 2, r_max + 1)])
    return to_numpy(polar.band_power(polar.angular_spectrum(pol), w))[0]


def test_polar_transform_of_a_radial_image_is_constant_along_phi(xp):
    yy, xx = np.mgrid[:65, :65]
    img = np.hypot(yy - 32, xx - 32).astype(np.float32)
    pol = to_numpy(polar.polar_transform(xp.asarray(img[None]), n_r=16, n_phi=64))[0]
    radii, _ = geometry.polar_grid(32.0, 16, 64)
    # Bilinear interpolation of a cone is exact along rows and columns only; away
    # from the apex it is close everywhere.
    np.testing.assert_allclose(pol[2:], np.broadcast_to(radii[2:, None], pol[2:].shape), atol=0.05)
    np.testing.assert_allclose(pol[:, ::16], np.broadcast_to(radii[:, None], (16, 4)), atol=1e-4)


def test_band_power_is_invariant_under_rotation(xp):
    img = nfold_image(3, shape=(129, 129), axis_deg=11)
    p0 = _power(img, xp)
    # A 90 degree rotation is exact on the pixel grid.
    np.testing.assert_allclose(_power(np.rot90(img), xp), p0, rtol=1e-4, atol=1e-6 * p0.max())
    # Any other angle: interpolated, so only close.
    rot = scipy.ndimage.rotate(img, 37.0, reshape=False, order=3)
    np.testing.assert_allclose(_power(rot, xp)[:, :13], p0[:, :13], rtol=0.03, atol=1e-3 * p0.max())


def test_angular_features_of_a_pure_harmonic(xp):
    yy, xx = np.mgrid[:128, :128]
    phi = np.arctan2(yy - 64, xx - 64)
    img = 2 + np.cos(5 * phi + 0.3)
    p = _power(img, xp)
    amps, aniso = polar.angular_features(xp.asarray(p[None]), 256, 8)
    amps, aniso = to_numpy(amps)[0], to_numpy(aniso)[0]
    # All angular variation at m = 5; |cos| amplitude 1 on mean 2.
    np.testing.assert_allclose(amps[:, 4], 1.0, atol=2e-3)
    assert amps[:, [0, 1, 2, 3, 5, 6, 7]].max() < 0.05
    np.testing.assert_allclose(aniso, np.sqrt(0.5) / 2, rtol=0.02)


def test_band_weights_select_rings():
    w = polar.band_weights(np.array([1.0, 2.0, 3.0, 4.0]), [(0, 2.5), (2.5, 10)])
    np.testing.assert_array_equal(w, [[1, 2, 0, 0], [0, 0, 3, 4]])


@pytest.mark.parametrize("n_phi", [64, 100])
def test_spectrum_orders(n_phi):
    pol = np.cos(3 * np.arange(n_phi) * 2 * np.pi / n_phi)[None, None, :].astype(np.float32)
    spec = polar.angular_spectrum(pol)
    assert spec.shape == (1, 1, n_phi // 2 + 1)
    assert int(np.argmax(np.abs(spec[0, 0]))) == 3
