import pytest

from cbedfeat.features import FEATURE_VERSION, FeatureConfig


def test_round_trip_through_dict_and_yaml(tmp_path):
    cfg = FeatureConfig(
        scaling="power", power=0.3, bands=((0.0, 0.5), (0.5, 1.0)), zernike_degree=14
    )
    d = cfg.to_dict()
    assert d["version"] == FEATURE_VERSION
    assert FeatureConfig.from_dict(d) == cfg
    import yaml

    path = tmp_path / "features.yaml"
    path.write_text(yaml.safe_dump({"features": d}))
    assert FeatureConfig.from_yaml(path) == cfg
    path.write_text("scaling: log\nn_radial_bins: 16\n")
    assert FeatureConfig.from_yaml(path) == FeatureConfig(n_radial_bins=16)


def test_fingerprint_is_stable_and_tracks_every_field():
    # Pinned: changing a default or the version must be a deliberate, visible change.
    assert (
        FeatureConfig().fingerprint()
        == FeatureConfig.from_dict(FeatureConfig().to_dict()).fingerprint()
    )
    assert FeatureConfig().fingerprint() == PINNED_DEFAULT_FINGERPRINT
    assert FeatureConfig(log_floor=2e-3).fingerprint() != FeatureConfig().fingerprint()
    assert FeatureConfig(families=("radial",)).fingerprint() != FeatureConfig().fingerprint()
    assert len({FeatureConfig(zernike_degree=d).fingerprint() for d in (10, 12, 14)}) == 3
    assert FeatureConfig(zernike_source="binned").fingerprint() != FeatureConfig().fingerprint()


# FeatureConfig(), version 3 (central-row absences along the diagonals, periods 4 and 3; FOLZ)
PINNED_DEFAULT_FINGERPRINT = "ce2aac47dc422452"


def test_lists_become_tuples_and_config_is_hashable():
    cfg = FeatureConfig(
        bands=[[0, 0.5], [0.5, 1]], rotation_orders=[2, 4], families=["radial", "zernike"]
    )
    assert cfg.bands == ((0.0, 0.5), (0.5, 1.0))
    assert cfg.rotation_orders == (2, 4)
    assert hash(cfg) == hash(FeatureConfig.from_dict(cfg.to_dict()))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scaling": "sqrt"},
        {"normalize": "median"},
        {"center": "middle"},
        {"log_floor": 0},
        {"bands": ((0.5, 0.2),)},
        {"families": ("radial", "colour")},
        {"families": ("zernike", "radial")},
        {"polar_n_phi": 16},
        {"n_radial_bins": 0},
    ],
)
def test_invalid_values_are_refused(kwargs):
    with pytest.raises(ValueError):
        FeatureConfig(**kwargs)


def test_unknown_keys_and_other_versions_are_refused():
    d = FeatureConfig().to_dict()
    with pytest.raises(ValueError, match="unknown"):
        FeatureConfig.from_dict({**d, "colour": 1})
    with pytest.raises(ValueError, match="version"):
        FeatureConfig.from_dict({**d, "version": "0"})
