"""The FOLZ family: the first-order Laue ring, and where its reflections sit on the net."""

import numpy as np
import pytest

from cbedfeat.features import FeatureConfig, StackFeaturizer
from cbedfeat.features.folz import FOLZ_FEATURES, folz_feature_names, ring_in_profile
from cbedfeat.features.names import family_names
from cbedfeat.simulate.crystals import Crystal
from cbedfeat.simulate.kinematic import RenderOptions, render_pattern
from cbedfeat.simulate.scattering import electron_wavelength

FOLZ = FeatureConfig(families=("sites", "folz"))
# One iron atom in a tetragonal cell with a long c, as P4/mmm and body-centred (I4/mmm):
# along [001] both show a ring at the same radius (the repeat along c is c in both),
# and the body centre moves the l = 1 layer's reflections to h + k odd, the centres of
# the ZOLZ net's cells (the ZOLZ keeps h + k even).
CELL = np.diag([4.0, 4.0, 20.0])
PRIMITIVE = Crystal(CELL, np.array([[0.0, 0.0, 0.0]]), [26], 123, "P4/mmm")
BODY_CENTRED = Crystal(CELL, np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]]), [26, 26], 139, "I4/mmm")
OPTS = RenderOptions(thickness_A=200.0, shape=(256, 256), pixel_size=0.02)
ENERGY_KEV = 100


def _folz(image):
    values = StackFeaturizer(FOLZ).transform(np.stack([image] * 3)[None].astype(np.float32))
    names = StackFeaturizer(FOLZ).names
    return {n: float(values[0, names.index(f"p0_{n}")]) for n in FOLZ_FEATURES}


def _expected_radius_px(c_A: float) -> float:
    """Radius where the Ewald sphere cuts the layer H = 1 / c above the ZOLZ."""
    k, h = 1.0 / electron_wavelength(ENERGY_KEV), 1.0 / c_A
    return float(np.sqrt(2 * k * h - h * h)) / OPTS.pixel_size


def test_names_match_the_columns():
    assert family_names("folz", FeatureConfig()) == folz_feature_names()
    assert "p2_folz_radius" in StackFeaturizer().names


@pytest.fixture(scope="module")
def patterns():
    return {
        c.space_group: render_pattern(c, [0, 0, 1], ENERGY_KEV, options=OPTS)[0]
        for c in (PRIMITIVE, BODY_CENTRED)
    }


def test_ring_radius_gives_the_layer_spacing_of_the_cell(patterns):
    expected = _expected_radius_px(20.0)  # 82.1 px
    for image in patterns.values():
        f = _folz(image)
        assert f["folz_found"] == 1
        assert f["folz_radius"] == pytest.approx(expected, abs=1.5)
        assert f["folz_strength"] > 4.5


def test_a_body_centred_cell_shifts_the_folz_by_half_a_net_vector(patterns):
    p, i = _folz(patterns[123]), _folz(patterns[139])
    # primitive: the l = 1 reflections project onto the ZOLZ net sites
    assert p["folz_reg1"] < 0.1 and p["folz_reg2"] < 0.1
    # body-centred: onto the centres of its cells, and that one offset fits well
    assert i["folz_reg1"] > 0.4 and i["folz_reg2"] > 0.4
    assert i["folz_fit1"] > 0.5 and i["folz_fit2"] > 0.5


def test_no_ring_without_one():
    # A profile falling in a straight line (log) with noise has no ring ...
    rng = np.random.default_rng(0)
    falling = np.exp(-np.arange(128) / 20.0) * np.exp(rng.normal(0, 0.1, 128))
    assert ring_in_profile(falling, 120, 30) == (0, pytest.approx(0.0, abs=4.5))
    # ... and a bump a hundred times above the trend is one, at its radius.
    bumped = falling.copy()
    bumped[79:82] *= 300.0
    radius, strength = ring_in_profile(bumped, 120, 30)
    assert radius == 80 and strength > 4.5


def test_a_pattern_without_a_net_gives_zeros():
    flat = np.ones((128, 128), dtype=np.float32)
    assert all(v == 0 for v in _folz(flat).values())


def test_lattice_families_read_raw_ring_means_whatever_else_is_computed(patterns):
    # The radial family log-scales the ring means; sites and folz must see raw ones,
    # so their columns do not depend on whether radial is in the vector.
    stack = np.stack([patterns[123], patterns[139], patterns[123]])[None].astype(np.float32)
    alone = StackFeaturizer(FOLZ)
    both = StackFeaturizer(FeatureConfig(families=("radial", "sites", "folz")))
    a, b = alone.transform(stack), both.transform(stack)
    cols = [both.names.index(n) for n in alone.names]
    np.testing.assert_array_equal(a, b[:, cols])


def test_the_net_is_refined_on_the_disks_not_on_their_bright_side(patterns):
    # a* = 1 / 4 A = 12.5 px at 0.02 1/A. The rocking curve brightens every disk on the
    # side of the direct beam; an intensity centroid put the net at 11.45 px (8 % short).
    stack = np.stack([patterns[123]] * 3)[None].astype(np.float32)
    fz = StackFeaturizer(FOLZ)
    values = dict(zip(fz.names, fz.transform(stack)[0], strict=True))
    assert values["p0_sites_len1"] == pytest.approx(12.5, abs=0.6)
    assert values["p0_sites_len2"] == pytest.approx(12.5, abs=0.6)
