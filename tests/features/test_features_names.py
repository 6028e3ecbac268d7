import pytest

from cbedfeat.features import FAMILIES, FeatureConfig
from cbedfeat.features.names import N_PATTERNS, family_names, feature_names, regions
from cbedfeat.features.zernike import zernike_indices


def test_family_sizes_follow_the_config():
    cfg = FeatureConfig(
        n_radial_bins=8,
        bands=((0.0, 0.5), (0.5, 1.0)),
        angular_orders=6,
        rotation_orders=(2, 3, 4, 6),
        zernike_degree=8,
        autocorr_n_bins=5,
    )
    assert regions(cfg) == ["whole", "disk", "band0", "band1"]
    sizes = {f: len(family_names(f, cfg)) for f in FAMILIES}
    assert sizes == {
        "radial": 2 * 8 + 1,
        "angular": 2 * (6 + 1),
        "rotation": 4 * 4,
        "mirror": 4 * 2,
        "zernike": len(zernike_indices(8)) - 1,  # Z_00 = 1/pi always: left out
        "autocorr": 5 + 4,
        "net": 3 + 13 + 3,
        "sites": 32,
        "folz": 11,
        "stack": 16,
    }
    names = feature_names(cfg)
    per_pattern = sum(v for k, v in sizes.items() if k != "stack")
    assert len(names) == N_PATTERNS * per_pattern + sizes["stack"] == len(set(names))


def test_subset_of_families_keeps_order_and_prefixes():
    cfg = FeatureConfig(families=("radial", "zernike"), n_radial_bins=2, zernike_degree=2)
    assert feature_names(cfg)[:8] == [
        "p0_radial_r000",
        "p0_radial_r001",
        "p0_radstd_r000",
        "p0_radstd_r001",
        "p0_disk_radius",
        "p0_zern_n01_m01",
        "p0_zern_n02_m00",
        "p0_zern_n02_m02",
    ]
    assert feature_names(cfg, ["zernike"])[0] == "p0_zern_n01_m01"
    with pytest.raises(ValueError):
        family_names("colour", cfg)
