"""The sites family: the indexed ZOLZ net and the parities that absences leave on it."""

import numpy as np
import pytest
from _synth import disk_lattice

from cbedfeat.features import FeatureConfig, StackFeaturizer
from cbedfeat.features.names import family_names
from cbedfeat.features.sites import SITE_FEATURES, site_feature_names
from cbedfeat.simulate.crystals import Crystal
from cbedfeat.simulate.kinematic import RenderOptions, render_pattern

SITES = FeatureConfig(families=("sites",))
BETA = np.radians(104.0)
MONO = np.array([[5.1, 0, 0], [0, 6.3, 0], [4.7 * np.cos(BETA), 0, 4.7 * np.sin(BETA)]])
SEED = np.array([[0.13, 0.21, 0.37], [0.31, 0.07, 0.71]])
# One cell and one atom pair, as P2 ((x, y, z), (-x, y, -z)) and as P2_1 (the copy moved
# by b/2): the 2_1 screw along b empties 0k0, k odd, which lies in the ZOLZ along [100].
P2 = Crystal(MONO, np.vstack([SEED, SEED * [-1, 1, -1]]) % 1, [26, 8, 26, 8], 3, "P2")
P21 = Crystal(
    MONO, np.vstack([SEED, SEED * [-1, 1, -1] + [0, 0.5, 0]]) % 1, [26, 8, 26, 8], 4, "P21"
)
OPTS = RenderOptions(thickness_A=200.0, shape=(256, 256), pixel_size=0.02)


def _sites(image):
    """The family's values of one pattern (the stack repeats it three times)."""
    values = StackFeaturizer(SITES).transform(np.stack([image] * 3)[None].astype(np.float32))
    return dict(zip(site_feature_names(), values[0, : len(SITE_FEATURES)], strict=True))


def _row_parity(f):
    return min(f["sites_row1_odd"], f["sites_row2_odd"])


def test_names_match_the_columns():
    assert family_names("sites", FeatureConfig()) == site_feature_names()
    assert "p1_sites_friedel" in StackFeaturizer().names


def test_refined_net_matches_a_known_net():
    image = disk_lattice((256, 256), v1=(0.0, 17.0), v2=(23.0, 5.0), radius=4.0, decay=200)
    f = _sites(image)
    v1, v2 = np.array([0.0, 17.0]), np.array([23.0, 5.0])
    ratio = np.hypot(*v2) / np.hypot(*v1)
    angle = np.degrees(np.arccos(abs(v1 @ v2) / np.hypot(*v1) / np.hypot(*v2)))
    assert f["sites_found"] == 1
    assert f["sites_ratio"] == pytest.approx(ratio, rel=0.01)
    assert f["sites_angle"] == pytest.approx(angle, abs=0.5)
    # Refined to a fraction of a pixel (the autocorrelation alone gives whole binned pixels).
    assert f["sites_len1"] == pytest.approx(17.0, abs=0.2)
    assert f["sites_len2"] == pytest.approx(np.hypot(23.0, 5.0), abs=0.2)
    assert f["sites_fit_rms"] < 0.05
    assert f["sites_empty"] == 0
    assert abs(_row_parity(f)) < 0.3


def test_screw_axis_absences_show_on_the_central_row_kinematically():
    p2, _ = render_pattern(P2, [1, 0, 0], 100, options=OPTS)
    p21, _ = render_pattern(P21, [1, 0, 0], 100, options=OPTS)
    f2, f21 = _sites(p2), _sites(p21)
    assert f2["sites_found"] == f21["sites_found"] == 1
    assert f2["sites_ratio"] == pytest.approx(f21["sites_ratio"], rel=0.05)  # same net
    assert _row_parity(f21) < -3.0  # the odd 0k0 disks are gone
    assert _row_parity(f2) > -2.0
    # Kinematic patterns obey Friedel's law.
    assert f2["sites_friedel"] < 0.05 and f21["sites_friedel"] < 0.05


def test_screw_axis_absences_survive_dynamical_scattering():
    pytest.importorskip("abtem")
    from cbedfeat.simulate.multislice import render_pattern_multislice

    p2, _ = render_pattern_multislice(P2, [1, 0, 0], 100, options=OPTS)
    p21, _ = render_pattern_multislice(P21, [1, 0, 0], 100, options=OPTS)
    f2, f21 = _sites(p2), _sites(p21)
    # Double diffraction refills the odd 0k0 disks only weakly (they lie on a
    # Gjonnes-Moodie dark line), so the central-row parity keeps its sign.
    assert _row_parity(f21) < -3.0
    assert _row_parity(f2) > -2.0
    # No inversion centre (P2_1 and P2 of one atom pair are both polar along b).
    assert f21["sites_friedel"] > 0.3


def test_a_pattern_without_a_net_gives_zeros():
    from cbedfeat.features.sites import site_features

    image = disk_lattice((128, 128), v1=(0.0, 17.0), v2=(23.0, 5.0), radius=4.0)
    rings = np.ones((2, 65))
    vectors = np.zeros((2, 2, 2))
    vectors[1] = [[0.0, 17.0 / 4], [23.0 / 4, 5.0 / 4]]  # binned pixels, factor 4
    out = site_features([image, image], (64.0, 64.0), vectors, 4, np.array([4.0, 4.0]), rings)
    assert out.shape == (2, len(SITE_FEATURES))
    assert np.all(out[0] == 0)  # no net vectors: nothing to index
    assert out[1, 0] == 1 and out[1, 3] == pytest.approx(np.hypot(23, 5) / 17, rel=0.02)


# An oblique net: |v1| = 16 < |v2| = 19.0 < |v1 - v2| = 20.6 < |v1 + v2| = 28.4, so the
# shorter diagonal (diag1) runs along v1 - v2, the sites (n, -n).
OBLIQUE = {"v1": (0.0, 16.0), "v2": (18.0, 6.0), "radius": 3.5, "decay": 300.0}


def _absent_on_row(direction, absent):
    """keep(i, j) that empties the sites n d of the central row where absent(n)."""
    di, dj = direction

    def keep(i, j):
        for n in range(-20, 21):
            if n != 0 and (i, j) == (n * di, n * dj):
                return not absent(n)
        return True

    return keep


def _oblique(keep=None):
    return _sites(disk_lattice((256, 256), **OBLIQUE, keep=keep))


def test_a_full_net_has_no_row_contrasts():
    f = _oblique()
    rows = ("row1", "row2", "diag1", "diag2")
    assert all(abs(f[f"sites_{r}_{k}"]) < 0.5 for r in rows for k in ("odd", "quarter", "third"))
    assert all(f[f"sites_{r}_gap"] == 0 for r in rows)


def test_every_other_site_missing_along_the_shorter_diagonal():
    f = _oblique(_absent_on_row((1, -1), lambda n: n % 2 == 1))
    assert f["sites_diag1_odd"] < -3.0 and f["sites_diag1_gap"] > 0.9
    # the other central rows and the diagonal's parallels keep every site
    assert abs(f["sites_row1_odd"]) < 0.5 and abs(f["sites_row2_odd"]) < 0.5
    assert abs(f["sites_diag2_odd"]) < 0.5 and abs(f["sites_offd1_odd"]) < 0.5


def test_only_every_fourth_site_left_on_a_net_axis_row():
    # a d-glide or 4_1 screw: 00l with l = 4n only
    f = _oblique(_absent_on_row((1, 0), lambda n: n % 4 != 0))
    assert f["sites_row1_quarter"] < -3.0
    # odd against even is diluted (half the even sites are empty too), not gone
    assert f["sites_row1_odd"] < -2.0
    # every other site missing (a 2_1 screw) leaves n = 2 and n = 4 alike
    g = _oblique(_absent_on_row((1, 0), lambda n: n % 2 == 1))
    assert g["sites_row1_odd"] < -3.0 and abs(g["sites_row1_quarter"]) < 0.5


def test_only_every_third_site_left_on_a_net_axis_row():
    # a 3_1 screw seen side on: 00l with l = 3n only
    f = _oblique(_absent_on_row((0, 1), lambda n: n % 3 != 0))
    assert f["sites_row2_third"] < -3.0
    assert abs(f["sites_row1_third"]) < 0.5 and abs(f["sites_diag1_third"]) < 0.5
