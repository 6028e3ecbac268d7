import numpy as np
import pytest
from _synth import disk_lattice

from cbedfeat.features import geometry
from cbedfeat.features.backend import to_numpy


def test_image_center_is_the_fft_zero_frequency_pixel():
    assert geometry.image_center((512, 512)) == (256.0, 256.0)
    assert geometry.image_center((3, 127, 128)) == (63.0, 64.0)
    assert geometry.inscribed_radius((512, 512), (256.0, 256.0)) == 255.0


def test_center_of_mass_of_points(xp):
    img = np.zeros((2, 32, 40), np.float32)
    img[0, 10, 20] = 1
    img[1, 4, 4] = img[1, 8, 12] = 2
    com = to_numpy(geometry.center_of_mass(xp.asarray(img)))
    np.testing.assert_allclose(com, [[10, 20], [6, 8]])


@pytest.mark.parametrize("method", ["com", "disk", "inversion"])
def test_off_centre_pattern_centre_is_found(xp, method):
    img = disk_lattice((96, 96), center=(44, 51), radius=6, bright_center=5.0)
    found = to_numpy(geometry.find_centers(xp.asarray(img[None]), method))[0]
    np.testing.assert_allclose(found, [44, 51], atol=0.6 if method == "com" else 0.1)


def test_inversion_centre_of_shifted_patterns_and_friedel_breaking(xp):
    """Sub-pixel shifts are recovered; unequal intensities at +g and -g and a dim
    central disk (where the bright-disk fit fails) leave the centre where it is."""
    from scipy import ndimage

    base = disk_lattice((128, 128), radius=5, bright_center=3.0)
    _, xx = np.mgrid[:128, :128]
    # break Friedel's law: a ramp multiplies the intensities of one half
    lopsided = disk_lattice((128, 128), radius=5, bright_center=0.3) * (1 + 0.6 * (xx - 64) / 64)
    images, truth = [], []
    for img in (base, lopsided):
        for shift in ((0.0, 0.0), (1.0, 0.0), (-2.0, 3.0), (0.5, -0.25)):
            images.append(ndimage.shift(img, shift, order=1))
            truth.append((64 + shift[0], 64 + shift[1]))
    found = to_numpy(geometry.inversion_center(xp.asarray(np.stack(images))))
    np.testing.assert_allclose(found, truth, atol=0.15)
    disk = to_numpy(geometry.find_centers(xp.asarray(np.stack(images[4:])), "disk"))
    assert np.abs(disk - np.array(truth[4:])).max() > 1.0  # the disk fit is fooled


def test_inversion_centre_of_an_odd_image():
    img = disk_lattice((97, 95), center=(40, 50), radius=4)
    np.testing.assert_allclose(geometry.inversion_center(img[None])[0], [40, 50], atol=0.1)


def test_bright_disk_fit_recovers_radius():
    yy, xx = np.mgrid[:80, :80]
    img = (np.hypot(yy - 37.3, xx - 41.6) <= 9.0).astype(np.float32) * 10 + 0.1
    cy, cx, r = geometry.fit_bright_disk(img)
    assert abs(cy - 37.3) < 0.15 and abs(cx - 41.6) < 0.15
    assert abs(r - 9.0) < 0.3


def test_ring_operator_partitions_the_inscribed_circle():
    op, counts = geometry.ring_operator((64, 64), (32.0, 32.0))
    yy, xx = np.mgrid[:64, :64]
    r = np.hypot(yy - 32, xx - 32)
    assert counts.sum() == np.count_nonzero(r < 31.5)
    assert counts[0] == 1 and counts[1] == 8  # the centre pixel, then its 8 neighbours
    # Mean weights: every ring of a constant image averages to that constant.
    np.testing.assert_allclose(op @ np.full(64 * 64, 3.0, np.float32), 3.0, rtol=1e-5)
    assert op.shape == (32, 64 * 64)


def test_polar_operator_is_exact_for_linear_images():
    # Bilinear interpolation reproduces a linear function exactly.
    h, w = 48, 56
    cy, cx = 24.0, 27.0
    yy, xx = np.mgrid[:h, :w]
    img = (2.0 * yy - 3.0 * xx + 5).astype(np.float64)
    op = geometry.polar_operator((h, w), (cy, cx), 20.0, 10, 36)
    radii, phis = geometry.polar_grid(20.0, 10, 36)
    want = 2 * (cy + radii[:, None] * np.sin(phis)) - 3 * (cx + radii[:, None] * np.cos(phis)) + 5
    np.testing.assert_allclose((op @ img.ravel()).reshape(10, 36), want, atol=1e-4)
    # Each row's weights sum to 1.
    np.testing.assert_allclose(np.asarray(op.sum(axis=1)).ravel(), 1.0, rtol=1e-6)


def test_operators_are_cached_per_geometry():
    a = geometry.polar_operator((64, 64), (32, 32), 30, 16, 64)
    assert geometry.polar_operator((64, 64), (32.0, 32.0), 30.0, 16, 64) is a
    assert geometry.polar_operator((64, 64), (31, 32), 30, 16, 64) is not a
