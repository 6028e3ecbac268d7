import mahotas
import numpy as np
import pytest
import scipy.ndimage

from cbedfeat.features import geometry, polar, zernike
from cbedfeat.features.backend import to_numpy


def _blobs(shape=(128, 128), sigma=8.0, seed=1, n=6):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    img = np.zeros(shape)
    for _ in range(n):
        cy, cx = rng.uniform(40, 88, 2)
        img += rng.uniform(0.5, 2) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
    return img


def _polar_zernike(img, xp, radius, degree=12, center=None, n_r=120, n_phi=512):
    center = center or geometry.image_center(img.shape)
    pol = polar.polar_transform(
        xp.asarray(img[None].astype(np.float32)), center, r_max=radius, n_r=n_r, n_phi=n_phi
    )
    radii, _ = geometry.polar_grid(radius, n_r, n_phi)
    return to_numpy(
        zernike.zernike_from_spectrum(polar.angular_spectrum(pol), radii, radius, degree)
    )[0]


def test_indices_follow_mahotas_order():
    idx = zernike.zernike_indices(12)
    assert len(idx) == 49
    assert idx[:6] == ((0, 0), (1, 1), (2, 0), (2, 2), (3, 1), (3, 3))


def test_radial_polynomials_known_forms():
    rho = np.linspace(0, 1, 11)
    np.testing.assert_allclose(zernike.zernike_radial(2, 0, rho), 2 * rho**2 - 1)
    np.testing.assert_allclose(zernike.zernike_radial(4, 2, rho), 4 * rho**4 - 3 * rho**2)
    np.testing.assert_allclose(
        zernike.zernike_radial(6, 0, rho), 20 * rho**6 - 30 * rho**4 + 12 * rho**2 - 1
    )
    assert np.allclose(zernike.zernike_radial(12, 4, np.ones(1)), 1.0)  # R_nm(1) = 1


@pytest.mark.parametrize(
    "degree,radius,center", [(12, 60, (64.0, 64.0)), (8, 40, (60.5, 70.0)), (14, 50, (63.0, 65.0))]
)
def test_pixel_sum_equals_mahotas(xp, degree, radius, center):
    img = _blobs(seed=degree)
    want = mahotas.features.zernike_moments(img, radius, degree, cm=center)
    got = to_numpy(zernike.zernike_moments(xp.asarray(img[None]), radius, degree, center))[0]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    assert abs(got[0] - 1 / np.pi) < 1e-12  # mahotas normalises by the total intensity


def test_polar_quadrature_equals_mahotas_on_a_smooth_disk(xp):
    # The polar path integrates the bilinear interpolant; on a smooth image it agrees
    # with mahotas's pixel sum to 1e-3 of the largest magnitude.
    img = _blobs(sigma=10.0)
    want = mahotas.features.zernike_moments(img, 60, 12, cm=(64.0, 64.0))
    got = _polar_zernike(img, xp, 60.0)
    assert np.max(np.abs(got - want)) / want.max() < 1e-3


def test_magnitudes_are_invariant_under_rotation(xp):
    img = _blobs(shape=(129, 129), sigma=6.0, seed=4)
    z0 = _polar_zernike(img, xp, 60.0)
    # A quarter turn of an odd-sized image about its centre pixel is exact on the grid.
    z90 = _polar_zernike(np.rot90(img).copy(), xp, 60.0)
    np.testing.assert_allclose(z90, z0, rtol=1e-4, atol=1e-6)
    z37 = _polar_zernike(scipy.ndimage.rotate(img, 37.0, reshape=False, order=3), xp, 60.0)
    assert np.max(np.abs(z37 - z0)) / z0.max() < 5e-3
    # ... while the moments themselves do change (the test would be empty otherwise).
    assert (
        np.max(np.abs(z0 - _polar_zernike(_blobs(shape=(129, 129), sigma=6.0, seed=5), xp, 60.0)))
        > 0.05
    )


def test_pixel_sum_magnitudes_are_invariant_under_rotation(xp):
    # The feature vector's Zernike family: mahotas's pixel sum (on binned patterns).
    img = _blobs(shape=(129, 129), sigma=6.0, seed=4)

    def z(im):
        return to_numpy(zernike.zernike_moments(xp.asarray(im[None]), 60.0, 12, (64.0, 64.0)))[0]

    z0 = z(img)
    np.testing.assert_allclose(z(np.rot90(img).copy()), z0, rtol=1e-6, atol=1e-9)
    z37 = z(scipy.ndimage.rotate(img, 37.0, reshape=False, order=3))
    assert np.max(np.abs(z37 - z0)) / z0.max() < 5e-3
    assert np.max(np.abs(z0 - z(_blobs(shape=(129, 129), sigma=6.0, seed=5)))) > 0.05


def test_spectrum_needs_enough_orders():
    with pytest.raises(ValueError, match="degree"):
        zernike.zernike_from_spectrum(np.zeros((1, 4, 5), np.complex64), np.arange(4.0), 4.0, 12)
