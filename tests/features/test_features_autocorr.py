import numpy as np
import pytest
from _synth import disk_lattice

from cbedfeat.features import autocorr, radial
from cbedfeat.features.backend import to_numpy

# (v1, v2) as (row, col) pixels: hexagonal, rectangular, oblique.
LATTICES = [
    ((0.0, 20.0), (17.320508, 10.0)),
    ((0.0, 18.0), (24.0, 0.0)),
    ((0.0, 16.0), (21.0, 7.0)),
]


def _truth(v1, v2):
    a, b = autocorr.reduce_lattice(np.array(v1), np.array(v2))
    la, lb = np.hypot(*a), np.hypot(*b)
    return la, lb, np.degrees(np.arccos(abs(a @ b) / (la * lb)))


def _found(img, xp, factor=1):
    imgs = xp.asarray(img[None])
    imgs = autocorr.bin_images(imgs, factor) / factor**2
    # Remove the azimuthal mean, as the pipeline does.
    h = imgs.shape[-1]
    mean = radial.radial_profile(imgs, r_max=h / 2 - 1)
    yy, xx = np.mgrid[:h, :h]
    ring = np.rint(np.hypot(yy - h // 2, xx - h // 2)).astype(int)
    inside = ring < mean.shape[1]
    bg = to_numpy(mean)[0][np.minimum(ring, mean.shape[1] - 1)] * inside
    acf = autocorr.autocorrelation(
        (imgs - xp.asarray(bg[None].astype(np.float32))) * xp.asarray(inside), max_lag=h // 4
    )
    vecs, summary = autocorr.lattice_vectors(acf)
    return summary[0], vecs[0]


@pytest.mark.parametrize("v1,v2", LATTICES)
@pytest.mark.parametrize("rotate_deg", [0.0, 33.0])
def test_lattice_vectors_match_the_disk_lattice(xp, v1, v2, rotate_deg):
    img = disk_lattice((128, 128), v1=v1, v2=v2, radius=4, rotate_deg=rotate_deg)
    (l1, l2, angle, peak), vecs = _found(img, xp)
    t1, t2, tang = _truth(v1, v2)
    assert abs(l1 - t1) < 0.5 and abs(l2 - t2) < 0.5
    assert abs(angle - tang) < 1.5
    assert peak > 0.3
    # Both found vectors are lattice vectors: integer coordinates in the true basis.
    t = np.deg2rad(rotate_deg)
    rot = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    basis = np.stack([rot @ np.array(v1), rot @ np.array(v2)], axis=1)
    coords = np.linalg.solve(basis, vecs.T)
    np.testing.assert_allclose(coords, np.round(coords), atol=0.05)


def test_binned_autocorrelation_still_finds_the_lattice(xp):
    img = disk_lattice((128, 128), v1=(0.0, 20.0), v2=(17.320508, 10.0), radius=4)
    (l1, l2, angle, _), _ = _found(img, xp, factor=2)
    assert abs(2 * l1 - 20) < 0.6 and abs(2 * l2 - 20) < 0.6 and abs(angle - 60) < 2


def test_autocorrelation_is_normalised_and_centrosymmetric(xp):
    rng = np.random.default_rng(2)
    img = rng.random((2, 32, 32)).astype(np.float32)
    acf = to_numpy(autocorr.autocorrelation(xp.asarray(img), max_lag=8))
    assert acf.shape == (2, 17, 17)
    np.testing.assert_allclose(acf[:, 8, 8], 1.0, rtol=1e-6)
    np.testing.assert_allclose(acf, acf[:, ::-1, ::-1], rtol=1e-4, atol=1e-5)
    want = (img[0] * np.roll(img[0], (-3, 2), axis=(0, 1))).sum() / (img[0] ** 2).sum()
    assert abs(acf[0, 8 + 3, 8 - 2] - want) < 1e-5


def test_no_lattice_gives_zeros():
    acf = np.zeros((1, 21, 21), np.float32)
    acf[0, 10, 10] = 1
    _, summary = autocorr.lattice_vectors(acf)
    np.testing.assert_array_equal(summary, 0)


def test_bin_images_sums_blocks(xp):
    img = np.arange(2 * 6 * 6, dtype=np.float32).reshape(2, 6, 6)
    got = to_numpy(autocorr.bin_images(xp.asarray(img), 3))
    np.testing.assert_array_equal(got, img.reshape(2, 2, 3, 2, 3).sum(axis=(2, 4)))


def test_gauss_reduction():
    a, b = autocorr.reduce_lattice(np.array([0.0, 20.0]), np.array([25.0, 70.0]))
    np.testing.assert_allclose(a, [0.0, 20.0])
    assert abs(b[0]) == 25.0 and abs(b[1]) == 10.0  # (25, 70) - 3 or 4 times (0, 20)
    assert abs(a @ b) <= a @ a / 2  # reduced
    a, b = autocorr.reduce_lattice(np.array([25.0, 70.0]), np.array([25.0, 50.0]))
    assert sorted([np.hypot(*a), np.hypot(*b)]) == pytest.approx([20.0, np.hypot(25, 10)])


def test_compiled_peak_picking_equals_the_plain_python():
    pick = autocorr._pick_lattices
    if not hasattr(pick, "py_func"):
        pytest.skip("Numba is not installed: there is only the plain function")
    from scipy import ndimage

    rng = np.random.default_rng(4)
    acf = ndimage.gaussian_filter(rng.random((40, 25, 25)), (0, 1.2, 1.2))
    acf -= acf.mean(axis=(1, 2), keepdims=True)
    acf[:, 12, 12] = 1.0
    acf[3] = 0.0  # no peaks at all
    is_max = ndimage.maximum_filter(acf, size=(1, 3, 3), mode="constant", cval=-np.inf) == acf
    half, dist_key = autocorr._peak_region(25, 2.0)
    out = []
    for fn in (pick, pick.py_func):
        vectors, summary = np.zeros((40, 2, 2)), np.zeros((40, 4))
        fn(acf, is_max, half, dist_key, 0.3, np.sin(np.deg2rad(15.0)), vectors, summary)
        out.append((vectors, summary))
    assert (out[0][1][:, 0] > 0).sum() >= 30  # most random fields give two peaks
    np.testing.assert_array_equal(out[0][0], out[1][0])
    # The angle column goes through arccos, which the compiled code may round one unit
    # in the last place differently (seen on some CPUs); the rest is exact.
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-13, atol=0)


def test_local_maxima_equal_scipy_maximum_filter():
    from scipy import ndimage

    rng = np.random.default_rng(7)
    # Integers: plateaus and ties, where "largest of the neighbourhood" needs care.
    acf = rng.integers(0, 4, (6, 17, 23)).astype(np.float64)
    acf[2] = 1.0  # one flat image: every point is a maximum
    want = ndimage.maximum_filter(acf, size=(1, 3, 3), mode="constant", cval=-np.inf) == acf
    np.testing.assert_array_equal(autocorr.local_maxima(acf), want)
    assert autocorr.local_maxima(acf)[2].all() and not want[0].all()
