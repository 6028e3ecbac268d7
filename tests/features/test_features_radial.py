import numpy as np
import pytest

from cbedfeat.features import geometry, radial
from cbedfeat.features.backend import to_numpy


def _ring_image(radius, shape=(128, 128), width=1.0):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    r = np.hypot(yy - shape[0] // 2, xx - shape[1] // 2)
    return np.exp(-0.5 * ((r - radius) / width) ** 2).astype(np.float32)


@pytest.mark.parametrize("radius", [7, 23, 50])
def test_ring_profile_peaks_at_the_ring_radius(xp, radius):
    prof = to_numpy(radial.radial_profile(xp.asarray(_ring_image(radius)[None])))[0]
    assert prof.shape == (64,)  # rings 0..63 inside the inscribed circle (radius 63)
    assert int(np.argmax(prof)) == radius
    np.testing.assert_allclose(prof[radius], 1.0, atol=0.05)


def test_spread_is_zero_for_radial_images_and_known_for_halves(xp):
    img = _ring_image(20, width=5)[None]
    mean, std = radial.radial_profile(xp.asarray(img), spread=True)
    # Only the radial slope across a one-pixel ring (<= 0.12 per pixel here) is left.
    assert float(to_numpy(std).max()) < 0.05
    yy, xx = np.mgrid[:64, :64]
    halves = np.where(xx >= 32, 1.0, -1.0).astype(np.float32)[None]
    mean, std = radial.radial_profile(xp.asarray(halves), spread=True)
    # Rings away from the centre are split almost evenly: mean ~0, std ~1.
    np.testing.assert_allclose(to_numpy(std)[0, 10:], 1.0, atol=0.02)
    np.testing.assert_allclose(to_numpy(mean)[0, 10:], 0.0, atol=0.1)


def test_coarse_bins_are_pixel_weighted_means():
    counts = np.array([1, 8, 16, 24])
    prof = np.array([[1.0, 2.0, 3.0, 4.0]], np.float32)
    got = radial.coarse_bins(prof, counts, 2)
    np.testing.assert_allclose(got, [[(1 + 16) / 9, (48 + 96) / 40]], rtol=1e-6)
    m = radial.coarse_bin_matrix(np.arange(1, 101), 7)
    np.testing.assert_allclose(m.sum(axis=0), 1.0, rtol=1e-6)  # every bin is a mean
    assert (np.count_nonzero(m, axis=1) == 1).all()  # every ring in exactly one bin


@pytest.mark.parametrize("r_disk", [4.0, 9.0, 15.5])
def test_disk_radius_of_a_bright_disk(xp, r_disk):
    yy, xx = np.mgrid[:128, :128]
    r = np.hypot(yy - 64, xx - 64)
    img = np.where(r <= r_disk, 10.0, 0.0) + np.exp(-r / 20)
    prof = radial.radial_profile(xp.asarray(img[None].astype(np.float32)))
    got = float(to_numpy(radial.disk_radius(prof, 30))[0])
    assert abs(got - r_disk) < 0.6


def test_apply_operator_matches_dense_product():
    rng = np.random.default_rng(0)
    import scipy.sparse

    op = scipy.sparse.random(5, 36, density=0.3, random_state=1, dtype=np.float32, format="csr")
    imgs = rng.random((3, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(
        geometry.apply_operator(op, imgs), imgs.reshape(3, -1) @ op.toarray().T, rtol=1e-5
    )


def test_spread_is_accurate_on_a_large_offset(xp):
    # A small spread on a large mean: E[x^2] - E[x]^2 would lose it in float32.
    yy, xx = np.mgrid[:64, :64]
    img = (1000.0 + 0.01 * np.where(xx >= 32, 1.0, -1.0)).astype(np.float32)[None]
    _, std = radial.radial_profile(xp.asarray(img), spread=True)
    np.testing.assert_allclose(to_numpy(std)[0, 10:], 0.01, rtol=0.05)


def test_polar_spread_from_the_angular_power_equals_the_direct_one(xp):
    from cbedfeat.features import polar

    rng = np.random.default_rng(7)
    pol = xp.asarray(rng.lognormal(0.0, 0.7, (2, 24, 64)).astype(np.float32))
    radii = (np.arange(24) + 0.5) * (30.0 / 24)
    direct = radial.polar_spread(pol, radii, 31, 8)
    power = polar.angular_power(polar.angular_spectrum(pol))
    parseval = radial.polar_spread(None, radii, 31, 8, power=power)
    np.testing.assert_allclose(to_numpy(parseval), to_numpy(direct), rtol=1e-5)
    assert float(to_numpy(direct).min()) > 0.1  # a real spread, not zeros on both sides
