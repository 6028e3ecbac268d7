"""Kinematic CBED renderer: structure factors, geometry and symmetry of the patterns."""

from types import SimpleNamespace

import numpy as np
import pytest
from scipy.ndimage import rotate

from cbedfeat.simulate.kinematic import (
    RenderOptions,
    reference_reflection,
    render_pattern,
    structure_factors,
)
from cbedfeat.simulate.scattering import (
    electron_scattering_factor,
    electron_wavelength,
    relativistic_gamma,
)
from cbedfeat.simulate.zone_geometry import reciprocal_basis, zone_basis

try:
    from cbedfeat.simulate.crystals import Crystal
except ImportError:  # the renderer only needs lattice, frac and numbers

    def Crystal(lattice, frac, numbers, space_group, material=""):  # noqa: N802
        return SimpleNamespace(
            lattice=np.asarray(lattice, float),
            frac=np.asarray(frac, float),
            numbers=np.asarray(numbers),
            space_group=space_group,
            material=material,
        )


FCC = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
CU = Crystal(np.eye(3) * 3.615, FCC, np.full(4, 29), 225, "Cu")
FE = Crystal(np.eye(3) * 2.866, [[0, 0, 0], [0.5, 0.5, 0.5]], [26, 26], 229, "Fe")
NACL = Crystal(
    np.eye(3) * 5.64, np.vstack([FCC, (FCC + [0.5, 0, 0]) % 1]), [11] * 4 + [17] * 4, 225, "NaCl"
)
SI = Crystal(np.eye(3) * 5.431, np.vstack([FCC, FCC + 0.25]), np.full(8, 14), 227, "Si")


def _monoclinic_p21():
    """P2_1 (b unique): (x, y, z) and (-x, y + 1/2, -z), two species."""
    beta = np.radians(104.0)
    lattice = np.array([[5.1, 0, 0], [0, 6.3, 0], [4.7 * np.cos(beta), 0, 4.7 * np.sin(beta)]])
    x = np.array([[0.13, 0.21, 0.37], [0.31, 0.07, 0.71]])
    frac = np.vstack([x, x * [-1, 1, -1] + [0, 0.5, 0]]) % 1
    return Crystal(lattice, frac, [26, 8, 26, 8], 4, "P21")


MONO = _monoclinic_p21()
SMALL = RenderOptions(shape=(257, 257), pixel_size=0.02)


def _hkl_box(m=3):
    ax = np.arange(-m, m + 1)
    hkl = np.stack(np.meshgrid(ax, ax, ax, indexing="ij"), -1).reshape(-1, 3)
    return hkl[np.any(hkl != 0, axis=1)]


def _f(z, hkl, a):
    """Scattering factor of element z at reflection hkl of a cubic cell of edge a."""
    return electron_scattering_factor(z, 0.5 * np.linalg.norm(hkl) / a)


# -- structure factors: systematic absences and known answers ----------------------------


def test_fcc_absences_and_known_amplitude():
    hkl = _hkl_box()
    amp = np.abs(structure_factors(CU, hkl))
    mixed = np.ptp(hkl % 2, axis=1) != 0
    assert amp[mixed].max() < 1e-9
    assert amp[~mixed].min() > 1.0
    f200 = structure_factors(CU, [[2, 0, 0]])[0]
    assert f200 == pytest.approx(4 * _f(29, [2, 0, 0], 3.615), rel=1e-12)


def test_bcc_absences_and_known_amplitude():
    hkl = _hkl_box()
    amp = np.abs(structure_factors(FE, hkl))
    odd = hkl.sum(axis=1) % 2 == 1
    assert amp[odd].max() < 1e-9
    assert amp[~odd].min() > 0.5
    assert abs(structure_factors(FE, [[1, 1, 0]])[0]) == pytest.approx(
        2 * _f(26, [1, 1, 0], 2.866), rel=1e-12
    )


def test_rock_salt_difference_and_sum_reflections():
    f111, f200 = structure_factors(NACL, [[1, 1, 1], [2, 0, 0]])
    assert abs(f111) == pytest.approx(
        4 * abs(_f(11, [1, 1, 1], 5.64) - _f(17, [1, 1, 1], 5.64)), rel=1e-12
    )
    assert abs(f200) == pytest.approx(
        4 * (_f(11, [2, 0, 0], 5.64) + _f(17, [2, 0, 0], 5.64)), rel=1e-12
    )


def test_screw_axis_2_1_along_b_removes_odd_0k0():
    k = np.arange(1, 9)
    amp = np.abs(structure_factors(MONO, np.stack([0 * k, k, 0 * k], 1)))
    assert amp[k % 2 == 1].max() < 1e-9
    assert amp[k % 2 == 0].min() > 0.05
    # only the axis row is extinct: general reflections off it are not
    assert np.abs(structure_factors(MONO, [[0, 1, 1], [1, 1, 0], [1, 0, 1]])).min() > 0.05


def test_debye_waller_damping():
    hkl = np.array([[2, 0, 0], [2, 2, 0], [4, 2, 0]])
    s = 0.5 * np.linalg.norm(hkl, axis=1) / 3.615
    ratio = np.abs(structure_factors(CU, hkl, debye_waller_B=0.8)) / np.abs(
        structure_factors(CU, hkl)
    )
    np.testing.assert_allclose(ratio, np.exp(-0.8 * s**2), rtol=1e-12)


# -- zone geometry --------------------------------------------------------------------------


@pytest.mark.parametrize("uvw", [[0, 0, 1], [1, 1, 1], [1, 2, 3], [2, 0, 1], [3, 1, 2]])
def test_zone_basis_spans_the_laue_zones(uvw):
    basis = zone_basis(reciprocal_basis(MONO.lattice), uvw)
    assert basis.p @ basis.uvw == 0 and basis.q @ basis.uvw == 0 and basis.r @ basis.uvw == 1
    # p x q = +-uvw: a primitive basis of the integer plane hkl . uvw = 0
    assert abs(np.cross(basis.p, basis.q) @ basis.uvw) == basis.uvw @ basis.uvw


@pytest.mark.parametrize(
    ("crystal", "uvw", "d_expected", "family"),
    [
        (CU, [0, 0, 1], 3.615 / 2, {2, 0}),
        (CU, [1, 1, 1], 3.615 / np.sqrt(8), {2, 0}),
        (FE, [0, 0, 1], 2.866 / np.sqrt(2), {1, 0}),
        (NACL, [0, 0, 1], 5.64 / 2, {2, 0}),
        (NACL, [1, 1, 0], 5.64 / np.sqrt(3), {1}),
    ],
)
def test_reference_reflection_is_shortest_allowed(crystal, uvw, d_expected, family):
    d, hkl = reference_reflection(crystal, uvw)
    assert d == pytest.approx(d_expected, rel=1e-9)
    assert hkl @ np.asarray(uvw) == 0
    assert set(np.abs(hkl).tolist()) == family
    assert abs(structure_factors(crystal, [hkl])[0]) > 1e-3


def test_reference_for_screw_row_is_the_disk_spacing():
    # along [100] the ZOLZ of P2_1 is 0kl: 010 is extinct, yet 001 and 011 (both allowed)
    # sit |b*| apart, so the reference spacing is |b*| even when 001 is shorter than 020
    lat = np.diag([5.0, 9.0, 6.0])
    frac = np.array([[0.1, 0.2, 0.3], [0.9, 0.7, 0.7]])
    crystal = Crystal(lat, frac, [26, 26], 4, "P21-long-b")
    d, hkl = reference_reflection(crystal, [1, 0, 0])
    assert d == pytest.approx(9.0)
    assert np.abs(hkl).tolist() == [0, 1, 0]


# -- rendered patterns -----------------------------------------------------------------------


@pytest.mark.parametrize("energy", [100, 190])
def test_semi_angle_and_info(energy):
    _, info = render_pattern(CU, [1, 1, 0], energy, options=SMALL)
    d, hkl = reference_reflection(CU, [1, 1, 0])
    lam = electron_wavelength(energy)
    assert info["d_hkl"] == pytest.approx(d)
    assert info["semi_angle"] == pytest.approx(lam / (4 * d), rel=1e-12)
    assert info["disk_radius_px"] == pytest.approx(info["semi_angle"] / lam / 0.02)
    np.testing.assert_array_equal(info["hkl_ref"], hkl)
    np.testing.assert_allclose(info["y_dir"], hkl)
    assert info["n_reflections"] == len(info["hkl"]) > 10


def test_detector_orientation_follows_the_reference_reflection():
    # Cu [001]: y_dir = 200 points up (rows run along -y); x = y cross beam = -[010],
    # so 020 lies to the left of the centre and 220 up-left
    _, info = render_pattern(CU, [0, 0, 1], 100, options=SMALL)
    step = int(round(2 / 3.615 / 0.02))
    where = {
        tuple(h): tuple(c) for h, c in zip(info["hkl"].tolist(), info["centres_px"], strict=True)
    }
    assert info["hkl_ref"].tolist() == [2, 0, 0]
    assert where[(2, 0, 0)] == (128 - step, 128)
    assert where[(0, 2, 0)] == (128, 128 - step)
    assert where[(2, 2, 0)] == (128 - step, 128 - step)
    assert where[(-2, 0, 0)] == (128 + step, 128)


def test_pattern_finite_non_negative_and_confined():
    opts = RenderOptions(shape=(128, 160), pixel_size=0.03, dose=1e4, blur_px=1.0, mistilt_mrad=2.0)
    p, _ = render_pattern(MONO, [1, 0, 1], 120, options=opts, rng=3)
    assert p.shape == (128, 160) and p.dtype == np.float32
    assert np.isfinite(p).all() and p.min() >= 0
    yy, xx = np.mgrid[:128, :160]
    outside = (yy - 64) ** 2 + (xx - 80) ** 2 > 64**2
    assert p[outside].max() == 0 and p[~outside].max() > 0


def _corr(a, b):
    m = (a > 0) | (b > 0)
    a, b = a[m] - a[m].mean(), b[m] - b[m].mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def _rot_corr(pattern, angle):
    q = pattern**0.25  # the ORNL notebook's display scaling: outer disks count too
    return _corr(q, rotate(q, angle, reshape=False, order=1))


def test_cubic_001_has_exact_fourfold_symmetry():
    p, _ = render_pattern(CU, [0, 0, 1], 100, options=SMALL)
    # odd size: the centre pixel (128, 128) is the array centre, so rot90 is exact
    np.testing.assert_allclose(p, np.rot90(p), rtol=1e-5, atol=1e-7 * p.max())
    assert _rot_corr(p, 60) < 0.8  # but not sixfold


def test_cubic_111_is_threefold_and_holz_breaks_sixfold():
    opts = RenderOptions(shape=(257, 257), pixel_size=0.02, blur_px=1.0)
    p, info = render_pattern(SI, [1, 1, 1], 100, options=opts)
    assert info["n_holz"] > 0
    c120, c60, c90 = _rot_corr(p, 120), _rot_corr(p, 60), _rot_corr(p, 90)
    assert c120 > 0.97
    assert c90 < 0.7
    # the ZOLZ alone looks sixfold (Friedel); the HOLZ ring reveals 3m
    assert c60 < c120 - 0.05


def test_monoclinic_general_axis_has_no_rotation_symmetry():
    opts = RenderOptions(shape=(257, 257), pixel_size=0.02, blur_px=1.0)
    p, _ = render_pattern(MONO, [1, 2, 3], 100, options=opts)
    for angle in (60, 90, 120):
        assert _rot_corr(p, angle) < 0.7


def test_mistilt_breaks_the_zone_axis_symmetry():
    tilted = RenderOptions(shape=(257, 257), pixel_size=0.02, mistilt_mrad=4.0)
    p, info = render_pattern(CU, [0, 0, 1], 100, options=tilted, rng=1)
    assert info["mistilt_azimuth"] != 0
    assert np.abs(p - np.rot90(p)).max() > 0.05 * p.max()


def test_absent_reflections_are_not_drawn():
    _, info = render_pattern(FE, [0, 0, 1], 100, options=SMALL)
    assert np.all(info["hkl"].sum(axis=1) % 2 == 0)
    _, info = render_pattern(CU, [1, 1, 0], 100, options=SMALL)
    assert np.all(np.ptp(info["hkl"] % 2, axis=1) == 0)
    # the 100 position of Cu [001] (between the 000 and 200 disks) is dark
    p, info = render_pattern(CU, [0, 0, 1], 100, options=SMALL)
    g100 = 1 / 3.615 / 0.02
    assert p[128, 128 + int(round(g100))] == 0 and p[128 - int(round(g100)), 128] == 0


@pytest.mark.parametrize(
    ("crystal", "uvw"),
    [
        (CU, [0, 0, 1]),
        (CU, [1, 1, 2]),
        (FE, [1, 1, 1]),
        (NACL, [1, 1, 0]),
        (MONO, [1, 0, 1]),
        (MONO, [1, 0, 0]),
    ],
)
def test_disks_do_not_overlap(crystal, uvw):
    _, info = render_pattern(crystal, uvw, 100, options=SMALL)
    zolz = info["centres_px"][info["laue_zone"] == 0]
    centres = np.vstack([[128.0, 128.0], zolz])
    dist = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
    dist[np.diag_indices(len(dist))] = np.inf
    # radius = |g_ref| / 4: neighbours at least |g_ref| apart (disk centres rounded to pixels)
    assert dist.min() >= 2 * info["disk_radius_px"] - 1.0
    assert dist.min() <= 4 * info["disk_radius_px"] + 1.0  # the reference pair is there


def test_flux_is_conserved_per_incident_direction():
    # Cu [001] at 100 keV has no HOLZ within reach: every beam is drawn, so for each
    # incident tilt the bright field plus all diffracted disks add up to the incident 1
    p, info = render_pattern(CU, [0, 0, 1], 100, options=SMALL)
    assert info["n_holz"] == 0
    r = info["disk_radius_px"]
    n = int(r)
    centres = np.vstack([[128, 128], info["centres_px"]]).astype(int)
    for dr, dc in [(0, 0), (n // 2, 1), (-n + 1, 2), (3, -n // 2)]:
        if dr * dr + dc * dc > r * r:
            continue
        rows, cols = centres[:, 0] + dr, centres[:, 1] + dc
        ok = (rows >= 0) & (rows < 257) & (cols >= 0) & (cols < 257)
        total = p[rows[ok], cols[ok]].sum()
        assert total == pytest.approx(1.0, abs=2e-3)


def test_two_beam_rocking_curve_ratio():
    # at zero tilt both reflections share the normalisation, so the ratio of the 200 and
    # 220 disk centres is that of sin^2(pi t s_eff) / (xi s_eff)^2 with s = -g^2 / (2K)
    t, energy = 500.0, 100
    opts = RenderOptions(shape=(257, 257), pixel_size=0.02, thickness_A=t, debye_waller_B=0.5)
    p, _ = render_pattern(CU, [0, 0, 1], energy, options=opts)
    lam, gamma = electron_wavelength(energy), relativistic_gamma(energy)

    def two_beam(hkl):
        g = np.linalg.norm(hkl) / 3.615
        amp = abs(structure_factors(CU, [hkl], debye_waller_B=0.5)[0])
        inv_xi = lam * gamma * amp / (np.pi * 3.615**3 * np.sqrt(1 - (lam * g / 2) ** 2))
        s = -g * g * lam / 2
        s_eff = np.hypot(s, inv_xi)
        return np.sin(np.pi * t * s_eff) ** 2 * (inv_xi / s_eff) ** 2

    step = 1 / 3.615 / 0.02  # 2 g_100 in pixels is the 200 spacing; rows run along -y
    i200 = p[128 - int(round(2 * step)), 128]
    i220 = p[128 - int(round(2 * step)), 128 + int(round(2 * step))]
    assert i200 / i220 == pytest.approx(two_beam([2, 0, 0]) / two_beam([2, 2, 0]), rel=1e-6)


def test_holz_reflections_lie_on_the_laue_ring():
    t = 500.0
    opts = RenderOptions(shape=(257, 257), pixel_size=0.02, thickness_A=t)
    beam = np.array([1.0, 1.0, 1.0]) / np.sqrt(3)
    for energy, inside in ((100, True), (190, False)):
        _, info = render_pattern(SI, [1, 1, 1], energy, options=opts)
        holz = info["laue_zone"] != 0
        assert holz.any()
        # the beam runs along +[111]: the Ewald sphere curves into the N = -1 zone
        assert np.all(info["laue_zone"][holz] == -1)
        g = info["hkl"][holz] / 5.431
        gz = g @ beam
        gperp = np.sqrt(np.einsum("ij,ij->i", g, g) - gz**2)
        k = 1 / electron_wavelength(energy)
        # excitation error at the disk centre, and its variation across the disk
        s0 = -(2 * k * gz + np.einsum("ij,ij->i", g, g)) / (2 * k)
        radius = info["disk_radius_px"] * 0.02
        assert np.all(np.abs(s0) - gperp * radius / k < 3.5 / t)
        # first-order Laue ring: height H = 1 / |[111]|, radius sqrt(2 K H - H^2)
        h = 1 / (5.431 * np.sqrt(3))
        ring = np.sqrt(2 * k * h - h * h)
        assert (ring < 128 * 0.02) == inside
        if inside:
            rad = np.linalg.norm(info["centres_px"][holz] - 128, axis=1) * 0.02
            # within the disk radius plus the rocking-curve band (s < 3.5 / t) of the ring
            assert np.all(np.abs(rad - ring) < radius + k * 3.5 / t / ring + 0.02)
            assert np.abs(rad - ring).min() < 0.03


def test_dynamic_range_from_centre_to_edge():
    p, _ = render_pattern(NACL, [0, 0, 1], 100)  # the ORNL geometry: 512 x 512, 0.01 1/A
    yy, xx = np.mgrid[:512, :512]
    r = np.hypot(yy - 256, xx - 256)
    centre = p[r < 5].mean()
    edge = p[(r > 200) & (p > 0)].mean()
    assert centre > 1e3 * edge


def test_noise_is_deterministic_per_seed_and_unbiased():
    opts = RenderOptions(shape=(129, 129), pixel_size=0.04, dose=2e3, mistilt_mrad=1.0)
    a, _ = render_pattern(CU, [1, 1, 0], 150, options=opts, rng=7)
    b, _ = render_pattern(CU, [1, 1, 0], 150, options=opts, rng=np.random.default_rng(7))
    c, _ = render_pattern(CU, [1, 1, 0], 150, options=opts, rng=8)
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()
    # counts / dose: integer multiples of 1 / dose, mean equal to the noiseless pattern
    np.testing.assert_allclose(a * 2e3, np.rint(a * 2e3), atol=1e-3)
    clean = RenderOptions(shape=(129, 129), pixel_size=0.04, mistilt_mrad=1.0)
    expect, _ = render_pattern(CU, [1, 1, 0], 150, options=clean, rng=7)
    counts = float(expect.sum()) * 2e3
    assert float(a.sum()) == pytest.approx(float(expect.sum()), rel=5 / np.sqrt(counts))


def test_blur_keeps_flux_inside_the_detector():
    sharp, _ = render_pattern(CU, [0, 0, 1], 100, options=SMALL)
    blurred, _ = render_pattern(
        CU, [0, 0, 1], 100, options=RenderOptions(shape=(257, 257), pixel_size=0.02, blur_px=1.5)
    )
    assert blurred.max() < sharp.max()
    assert blurred.sum() == pytest.approx(sharp.sum(), rel=1e-3)


def test_options_are_validated():
    for bad in [
        dict(thickness_A=0),
        dict(dose=0),
        dict(blur_px=-1),
        dict(shape=(4, 4)),
        dict(pixel_size=0),
        dict(debye_waller_B=-0.1),
    ]:
        with pytest.raises(ValueError):
            RenderOptions(**bad)
    with pytest.raises(ValueError):
        reference_reflection(CU, [0, 0, 0])
