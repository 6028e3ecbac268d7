"""The compiled one-pass kernel against the sparse-operator path it replaces on the CPU."""

import numpy as np
import pytest

from cbedfeat.features import geometry, linear
from cbedfeat.features.config import FeatureConfig
from cbedfeat.features.pipeline import FeatureExtractor

pytestmark = pytest.mark.skipif(not linear.have_kernel(), reason="Numba is not installed")

# (shape, centre): the ORNL geometry scaled down, an off-centre one, a fractional
# centre, and sizes that the block size does not divide.
GEOMETRIES = [
    ((64, 64), (32.0, 32.0)),
    ((70, 90), (30.0, 41.0)),
    ((65, 66), (31.25, 33.5)),
    ((51, 53), (25.0, 26.0)),
]


def _images(shape, n=3, seed=0):
    rng = np.random.default_rng(seed)
    # A bright centre on a noisy background: the dynamic range of a CBED pattern.
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    r = np.hypot(yy - shape[0] / 2, xx - shape[1] / 2)
    base = 100.0 * np.exp(-r / 5.0) + 1.0
    return (base * rng.lognormal(0.0, 0.5, (n,) + shape)).astype(np.float32)


def _both(images, center, **kw):
    r_max = geometry.inscribed_radius(images.shape, center)
    fast = linear._project_kernel(
        images,
        images.shape[-2:],
        center,
        r_max,
        kw.get("polar_shape"),
        kw.get("bin_factor"),
        kw.get("spread", False),
    )
    slow = linear._project_sparse(
        images,
        images.shape[-2:],
        center,
        r_max,
        kw.get("polar_shape"),
        kw.get("bin_factor"),
        kw.get("spread", False),
    )
    return fast, slow


@pytest.mark.parametrize("shape,center", GEOMETRIES)
@pytest.mark.parametrize("factor", [None, 3, 4])
@pytest.mark.parametrize("spread", [True, False])  # False: folded rings where symmetric
def test_kernel_equals_the_sparse_operators(shape, center, factor, spread):
    images = _images(shape)
    fast, slow = _both(images, center, polar_shape=(16, 32), bin_factor=factor, spread=spread)
    np.testing.assert_array_equal(fast.counts, slow.counts)
    np.testing.assert_allclose(fast.ring_mean, slow.ring_mean, rtol=2e-6)
    if spread:
        np.testing.assert_allclose(fast.ring_std, slow.ring_std, rtol=2e-5, atol=1e-6)
    else:
        assert fast.ring_std is None
    np.testing.assert_allclose(fast.polar, slow.polar, rtol=1e-6)
    if factor is None:
        assert fast.binned is None and slow.binned is None
    else:
        h2, w2 = shape[0] // factor, shape[1] // factor
        assert fast.binned.shape == (3, h2, w2)
        np.testing.assert_allclose(fast.binned, slow.binned, rtol=1e-6)


@pytest.mark.parametrize(
    "shape,center,folds",
    [
        ((512, 512), (256.0, 256.0), True),  # the ORNL geometry
        ((64, 64), (31.5, 31.5), True),  # half-integer centre: rows pair 0-63, 1-62, ...
        ((70, 90), (30.0, 41.0), True),  # off the image centre, mirrors still inside
        ((65, 66), (31.25, 33.5), False),  # no mirror row for a quarter-pixel centre
    ],
)
def test_rings_fold_only_where_the_geometry_is_mirror_symmetric(shape, center, folds):
    r_max = geometry.inscribed_radius(shape, center)
    ring_of, counts, quadrant, fold_y, fold_x = linear._pixel_tables(shape, center, r_max, 0, 0)[:5]
    assert (fold_y >= 0) == folds
    if not folds:
        return
    # Each quadrant pixel stands for its distinct mirror images, all in its ring.
    weight = np.zeros_like(counts)
    for y, c in zip(*np.nonzero(quadrant >= 0), strict=True):
        mirrors = {(y, c), (fold_y - y, c), (y, fold_x - c), (fold_y - y, fold_x - c)}
        assert all(ring_of[m] == quadrant[y, c] for m in mirrors)
        weight[quadrant[y, c]] += len(mirrors)
    np.testing.assert_array_equal(weight, counts)


def test_folded_rings_equal_the_unfolded_kernel():
    images = _images((96, 96), n=2, seed=7)
    center = (48.0, 48.0)
    r_max = geometry.inscribed_radius(images.shape, center)
    args = (images, images.shape[-2:], center, r_max, (24, 64), 4, False)
    folded = linear._project_kernel(*args)
    plain = linear._project_kernel(*args, fold=False)
    np.testing.assert_allclose(folded.ring_mean, plain.ring_mean, rtol=1e-6)
    np.testing.assert_array_equal(folded.polar, plain.polar)
    # Rows reach their block in another order: float32 rounding only.
    np.testing.assert_allclose(folded.binned, plain.binned, rtol=1e-6)


def test_binned_values_are_block_means():
    images = _images((12, 10), n=2)
    proj = linear.project(images, (6.0, 5.0), 4.0, bin_factor=3)
    want = images[:, :12, :9].reshape(2, 4, 3, 3, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(proj.binned, want, rtol=1e-6)


def test_ring_mean_and_std_by_hand():
    images = _images((21, 21), n=2, seed=3)
    proj = linear.project(images, (10.0, 10.0), 10.0, spread=True)
    yy, xx = np.mgrid[:21, :21]
    ring = np.floor(np.hypot(yy - 10, xx - 10) + 0.5).astype(int)
    for k in (0, 1, 5, 10):
        sel = images[:, ring == k].astype(np.float64)
        np.testing.assert_allclose(proj.ring_mean[:, k], sel.mean(axis=1), rtol=1e-6)
        np.testing.assert_allclose(proj.ring_std[:, k], sel.std(axis=1), rtol=1e-5)


def test_spread_keeps_small_variations_on_a_large_mean():
    # float64 sums of float32 squares: E[x^2] - E[x]^2 keeps a 1e-5 relative spread.
    yy, xx = np.mgrid[:64, :64]
    img = (1000.0 + 0.01 * np.where(xx >= 32, 1.0, -1.0)).astype(np.float32)[None]
    proj = linear.project(img, (32.0, 32.0), 31.0, spread=True)
    np.testing.assert_allclose(proj.ring_std[0, 10:], 0.01, rtol=0.05)


def test_feature_vector_is_the_same_with_and_without_the_kernel(monkeypatch):
    stacks = _images((96, 96), n=6, seed=5).reshape(2, 3, 96, 96)
    ext = FeatureExtractor(FeatureConfig(polar_n_r=24, polar_n_phi=64)).fit()
    fast = ext.transform(stacks)
    monkeypatch.setattr(linear, "numba_available", lambda: False)
    slow = ext.transform(stacks)
    np.testing.assert_allclose(fast, slow, rtol=1e-4, atol=1e-5)


def test_total_is_the_image_sum_where_blocks_tile_the_image():
    images = _images((64, 64), n=2)
    proj = linear.project(images, (32.0, 32.0), 31.0, bin_factor=4)
    np.testing.assert_allclose(proj.total, images.sum(axis=(1, 2), dtype=np.float64), rtol=1e-6)
    # 51 x 53 is not a multiple of 4: no total rather than a partial one.
    assert linear.project(_images((51, 53)), (25.0, 26.0), 24.0, bin_factor=4).total is None
