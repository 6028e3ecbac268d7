import numpy as np
import pytest
from _synth import nfold_image

from cbedfeat.features import geometry, polar, symmetry
from cbedfeat.features.backend import to_numpy

ORDERS = (2, 3, 4, 5, 6)


def _scores(img, xp, n_phi=256):
    imgs = xp.asarray(np.asarray(img, np.float32)[None])
    r_max = geometry.inscribed_radius(img.shape, geometry.image_center(img.shape))
    pol = polar.polar_transform(imgs, n_r=64, n_phi=n_phi)
    spec = polar.angular_spectrum(pol)
    radii, _ = geometry.polar_grid(r_max, 64, n_phi)
    w = polar.band_weights(radii, [(0, r_max + 1)])
    rot = to_numpy(symmetry.rotation_scores(polar.band_power(spec, w), n_phi, ORDERS))[0, 0]
    best, angle, n_axes = (
        to_numpy(a)[0, 0] for a in symmetry.mirror_summary(symmetry.mirror_scores(spec, w))
    )
    return dict(zip(ORDERS, rot, strict=True)), float(best), float(np.degrees(angle)), int(n_axes)


# n -> the orders it implies (score ~1) and incompatible orders (score low).
CASES = {
    2: ((2,), (3, 4, 5, 6)),
    3: ((3,), (2, 4, 5, 6)),
    4: ((2, 4), (3, 5, 6)),
    6: ((2, 3, 6), (4, 5)),
}


@pytest.mark.parametrize("n", sorted(CASES))
def test_exact_n_fold_image_scores_one_for_n_only(xp, n):
    rot, *_ = _scores(nfold_image(n), xp)
    implied, incompatible = CASES[n]
    for k in implied:
        assert rot[k] > 0.99, (k, rot)
    for k in incompatible:
        assert rot[k] < 0.35, (k, rot)
    assert rot[5] < 0.35  # the control: no crystal pattern is 5-fold


@pytest.mark.parametrize("n,axis_deg", [(2, 20.0), (3, 0.0), (4, 33.0), (6, 10.0)])
def test_mirror_image_is_found_with_its_axes(xp, n, axis_deg):
    _, best, angle, n_axes = _scores(nfold_image(n, mirror=True, axis_deg=axis_deg), xp)
    assert best > 0.99
    # n-fold + mirror: n axes, 180/n degrees apart; the best is one of them.
    period = 180.0 / n
    off = (angle - axis_deg) % period
    assert min(off, period - off) < 1.0
    assert n_axes == n


@pytest.mark.parametrize("n", [2, 4])
def test_chiral_image_has_no_mirror(xp, n):
    _, best, _, n_axes = _scores(nfold_image(n, mirror=False), xp)
    assert best < 0.7
    assert n_axes == 0


def test_scores_ignore_intensity_scale_and_offset(xp):
    img = nfold_image(4, mirror=True, axis_deg=5.0)
    rot_a, best_a, _, _ = _scores(img, xp)
    rot_b, best_b, _, _ = _scores(img * 37.0 + 0.0, xp)
    np.testing.assert_allclose(list(rot_a.values()), list(rot_b.values()), atol=1e-5)
    assert abs(best_a - best_b) < 1e-5


def test_rotation_score_equals_direct_roll_correlation():
    # Wiener-Khinchin: the spectral score is the correlation with the rolled image.
    rng = np.random.default_rng(7)
    pol = rng.random((1, 8, 120)).astype(np.float32)
    spec = polar.angular_spectrum(pol)
    w = np.ones((1, 8), np.float32)
    got = symmetry.rotation_scores(polar.band_power(spec, w), 120, (2, 3, 4, 5, 6), eps=0)[0, 0]
    g = pol[0] - pol[0].mean(axis=1, keepdims=True)
    for k, n in enumerate((2, 3, 4, 5, 6)):
        want = (g * np.roll(g, 120 // n, axis=1)).sum() / (g * g).sum()
        assert abs(got[k] - want) < 1e-4


def test_mirror_score_equals_direct_flip_correlation():
    rng = np.random.default_rng(8)
    n_phi = 64
    pol = rng.random((1, 5, n_phi)).astype(np.float32)
    spec = polar.angular_spectrum(pol)
    got = symmetry.mirror_scores(spec, np.ones((1, 5), np.float32), eps=0)[0, 0]
    g = pol[0] - pol[0].mean(axis=1, keepdims=True)
    j = np.arange(n_phi)
    for s in (0, 5, 17, 40):
        want = (g * g[:, (s - j) % n_phi]).sum() / (g * g).sum()
        assert abs(got[s] - want) < 1e-4


def test_featureless_region_scores_one():
    pol = np.ones((1, 4, 64), np.float32)
    pol += 1e-5 * np.cos(4 * np.arange(64) * 2 * np.pi / 64)
    spec = polar.angular_spectrum(pol)
    w = np.ones((1, 4), np.float32)
    rot = symmetry.rotation_scores(polar.band_power(spec, w), 64)
    np.testing.assert_allclose(rot, 1.0, atol=1e-3)
    best, _, n_axes = symmetry.mirror_summary(symmetry.mirror_scores(spec, w))
    assert best[0, 0] > 0.999 and n_axes[0, 0] == 0
