"""The net family: scale-free net shape and autocorrelation parities, on known nets."""

import numpy as np
import pytest
from _synth import disk_lattice

from cbedfeat.features import FeatureConfig, StackFeaturizer
from cbedfeat.features.names import family_names
from cbedfeat.features.net import NET_LAGS, net_feature_names, net_features

NET_ONLY = FeatureConfig(families=("net",))


def _net(images):
    """Net features of three patterns in one stack: (3, F) with names."""
    fz = StackFeaturizer(NET_ONLY)
    values = fz.transform(np.stack(images)[None].astype(np.float32))[0]
    names = family_names("net", NET_ONLY)
    return [dict(zip(names, row, strict=True)) for row in values.reshape(3, -1)]


def test_names_match_the_columns():
    assert family_names("net", FeatureConfig()) == net_feature_names()
    assert len(net_feature_names()) == 3 + len(NET_LAGS) + 3
    assert "p2_net_acf_1m1" in StackFeaturizer().names


def test_net_shape_is_scale_free_and_gives_the_disk_over_spacing_ratio():
    # A rectangular net 16 x 24 px with disks of radius 4 (spacing / 4, as the ORNL
    # semi-angle makes it), and the same net twice as large: the ratios agree.
    small = disk_lattice((256, 256), v1=(0.0, 16.0), v2=(24.0, 0.0), radius=4.0, decay=200)
    large = disk_lattice((256, 256), v1=(0.0, 32.0), v2=(48.0, 0.0), radius=8.0, decay=200)
    hexa = disk_lattice((256, 256), v1=(0.0, 24.0), v2=(20.78461, 12.0), radius=6.0, decay=200)
    a, b, h = _net([small, large, hexa])
    for f in (a, b, h):
        assert f["net_found"] == 1
    assert a["net_ratio"] == pytest.approx(1.5, abs=0.15)
    assert b["net_ratio"] == pytest.approx(1.5, abs=0.1)
    assert h["net_ratio"] == pytest.approx(1.0, abs=0.1)
    # The bright-field radius found at the disk edge, over |v1|: about 1/4.
    assert a["net_disk_ratio"] == pytest.approx(0.25, abs=0.07)
    assert b["net_disk_ratio"] == pytest.approx(0.25, abs=0.05)


def test_missing_odd_sites_lower_the_autocorrelation_at_v_against_2v():
    # Along one row through the centre every other disk is missing, as a 2_1 screw or a
    # glide leaves it kinematically: the parity contrast of that axis grows.
    full = disk_lattice((256, 256), v1=(0.0, 20.0), v2=(28.0, 0.0), radius=4.0, decay=200)
    odd_gone = full.copy()
    row = disk_lattice(
        (256, 256), v1=(0.0, 40.0), v2=(1000.0, 0.0), radius=4.0, decay=200, bright_center=1.0
    )
    single = disk_lattice(
        (256, 256), v1=(0.0, 20.0), v2=(1000.0, 0.0), radius=4.0, decay=200, bright_center=1.0
    )
    odd_gone -= single - row  # the central row keeps only its even sites
    plain, extinct, _ = _net([full, odd_gone, full])
    along = "net_parity1" if abs(plain["net_ratio"] - 1.4) < 0.2 else "net_parity2"
    assert extinct[along] > plain[along] + 0.01


def test_no_net_gives_zeros():
    rng = np.random.default_rng(0)
    acf = np.zeros((2, 21, 21), dtype=np.float32)
    acf[:, 10, 10] = 1
    vectors = np.zeros((2, 2, 2))
    out = net_features(acf, vectors, np.array([3.0, 3.0]), 4)
    assert out.shape == (2, len(net_feature_names()))
    assert np.all(out == 0)
    vectors[1] = [[0, 3], [4, 0]]
    acf[1] = rng.random((21, 21))
    out = net_features(acf, vectors, np.array([3.0, 3.0]), 4)
    names = net_feature_names()
    assert out[1, names.index("net_found")] == 1
    assert out[1, names.index("net_acf_10")] == pytest.approx(acf[1, 10, 13])
    assert out[1, names.index("net_acf_1m1")] == pytest.approx(acf[1, 6, 13])
    assert out[1, names.index("net_parity1")] == pytest.approx(acf[1, 10, 16] - acf[1, 10, 13])
