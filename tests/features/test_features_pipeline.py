import pickle
import warnings

import mahotas.features
import numpy as np
import pytest
from _synth import disk_lattice, nfold_image
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from cbedfeat.data.table import NON_FEATURE_COLUMNS
from cbedfeat.features import (
    FAMILIES,
    FeatureConfig,
    FeatureExtractor,
    geometry,
    polar,
    radial,
    zernike,
)
from cbedfeat.features.backend import gpu_available
from cbedfeat.features.names import family_names, feature_names
from cbedfeat.features.preprocess import reference_intensity, scale_intensity

HEX = dict(v1=(0.0, 20.0), v2=(17.320508, 10.0), radius=4)
RECT = dict(v1=(0.0, 18.0), v2=(24.0, 0.0), radius=4)


def _stacks(n=2, shape=(128, 128)):
    base = np.stack(
        [
            disk_lattice(shape, **HEX),
            nfold_image(4, shape, mirror=True) * 50,
            disk_lattice(shape, **RECT),
        ]
    )
    scales = np.array([1.0, 3.0, 0.2, 7.0])[:n, None, None, None]
    return (base[None] * scales).astype(np.float32)


@pytest.fixture(scope="module")
def fitted():
    return FeatureExtractor().fit()


@pytest.fixture(scope="module")
def default_features(fitted):
    return fitted.transform(_stacks())


def test_names_are_unique_stable_and_never_labels(fitted):
    names = list(fitted.get_feature_names_out())
    assert len(names) == len(set(names)) == fitted.n_features_out_ == 883
    assert not set(names) & NON_FEATURE_COLUMNS
    for example in (
        "p0_radial_r012",
        "p2_rot4_band1",
        "p1_zern_n08_m04",
        "p0_acf_len1",
        "p1_mirror_naxes_disk",
    ):
        assert example in names
    assert names[:3] == ["p0_radial_r000", "p0_radial_r001", "p0_radial_r002"]
    assert names[-2:] == ["stack_folz_count", "stack_folz_volume"]
    assert "p1_sites_diag2_quarter" in names
    assert "p2_sites_spread" in names
    assert "p2_acf_peak1" in names
    assert names == feature_names(FeatureConfig())
    assert all(n.startswith(("p0_", "p1_", "p2_", "stack_")) for n in names)
    # Per pattern: 65 radial + 52 angular + 30 rotation + 12 mirror + 90 Zernike... see names.py
    assert (
        sum(n.startswith("p0_") for n in names) == 227 + 19 + 32 + 11
    )  # + the net, sites and folz families


def test_transform_shape_dtype_and_determinism(fitted, default_features):
    x = _stacks()
    assert default_features.shape == (2, 883) and default_features.dtype == np.float32
    assert np.isfinite(default_features).all()
    again = FeatureExtractor().fit().transform(x)
    assert again.tobytes() == default_features.tobytes()


def test_global_intensity_scale_changes_no_feature(fitted, default_features):
    scaled = fitted.transform(_stacks() * 1000.0)
    np.testing.assert_allclose(scaled, default_features, rtol=1e-3, atol=1e-4)


def test_known_answers_through_the_pipeline(fitted, default_features):
    f = dict(zip(fitted.get_feature_names_out(), default_features[0], strict=True))
    # p0: hexagonal lattice, 20 px.
    assert f["p0_rot6_whole"] > 0.95 and f["p0_rot4_whole"] < 0.5
    assert abs(f["p0_acf_len1"] - 20) < 0.6 and abs(f["p0_acf_len2"] - 20) < 0.6
    assert abs(f["p0_acf_angle"] - 60) < 2
    assert abs(f["p0_disk_radius"] - 4) < 0.6
    # p1: exact 4-fold with mirrors.
    assert f["p1_rot4_whole"] > 0.99 and f["p1_rot3_whole"] < 0.35
    # n = 5 against 4-fold harmonics m = 4k: cos(2 pi 4k / 5) = 0.31, 0.31, -0.81, ...
    assert f["p1_rot5_whole"] < 0.6
    assert f["p1_mirror_best_whole"] > 0.99 and f["p1_mirror_naxes_whole"] == 4
    # p2: rectangular 18 x 24 lattice: 2-fold (2mm), not 4-fold.
    assert f["p2_rot2_whole"] > 0.95 and f["p2_rot4_whole"] < 0.5
    assert abs(f["p2_acf_len1"] - 18) < 0.6 and abs(f["p2_acf_len2"] - 24) < 0.6
    assert abs(f["p2_acf_angle"] - 90) < 2


def test_families_are_column_blocks_of_the_vector(fitted, default_features):
    names = list(fitted.get_feature_names_out())
    x = _stacks()
    for fam in FAMILIES:
        cols = [names.index(n) for n in feature_names(fitted.config_, [fam])]
        got = fitted.family_transform(fam, x)
        assert got.shape == (2, len(cols))
        np.testing.assert_allclose(got, default_features[:, cols], rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="family"):
        fitted.family_transform("colour", x)


def test_binned_zernike_equals_mahotas_on_the_scaled_block_means():
    cfg = FeatureConfig(zernike_source="binned")
    img = _stacks()[0]
    ref = reference_intensity(img, cfg.normalize)
    binned = scale_intensity(
        img.reshape(3, 32, 4, 32, 4).mean(axis=(2, 4)), log_floor=cfg.log_floor, reference=ref
    )
    # Block i covers pixels 4 i .. 4 i + 3: centre (64 - 1.5) / 4, radius 63 / 4.
    want = np.stack(
        [
            mahotas.features.zernike_moments(b, 63.0 / 4, cfg.zernike_degree, cm=(15.625, 15.625))
            for b in binned
        ]
    )[:, 1:]
    got = FeatureExtractor(cfg).fit().family_transform("zernike", _stacks()[:1])
    np.testing.assert_allclose(got[0], want.ravel(), rtol=1e-4, atol=1e-6)


def test_batch_size_does_not_change_results(default_features):
    one = FeatureExtractor(batch_size=1).fit().transform(_stacks())
    np.testing.assert_allclose(one, default_features, rtol=1e-5, atol=1e-6)


def test_pipeline_agrees_with_the_public_functions(fitted, default_features):
    # The pipeline scales the outputs of its linear maps (rings, polar grid).
    cfg = fitted.config_
    img = _stacks()[0]
    ref = reference_intensity(img, cfg.normalize)

    def scale(v):
        return scale_intensity(v, log_floor=cfg.log_floor, reference=ref)

    names = list(fitted.get_feature_names_out())
    prof = scale(radial.radial_profile(img))
    _, counts = geometry.ring_operator(img.shape[-2:], geometry.image_center(img.shape))
    want = radial.coarse_bins(prof, counts, cfg.n_radial_bins)
    cols = [
        names.index(f"p{i}_radial_r{k:03d}") for i in range(3) for k in range(cfg.n_radial_bins)
    ]
    np.testing.assert_allclose(default_features[0, cols], want.ravel(), rtol=1e-5, atol=1e-6)
    pol = scale(polar.polar_transform(img, n_r=cfg.polar_n_r, n_phi=cfg.polar_n_phi))
    radii, _ = geometry.polar_grid(63.0, cfg.polar_n_r, cfg.polar_n_phi)
    spec = polar.angular_spectrum(pol)
    zern = zernike.zernike_from_spectrum(spec, radii, 63.0, cfg.zernike_degree)[:, 1:]
    cols = [names.index(f"p{i}_{n}") for i in range(3) for n in family_names("zernike", cfg)]
    np.testing.assert_allclose(default_features[0, cols], zern.ravel(), rtol=1e-5, atol=1e-6)
    spread = radial.polar_spread(pol, radii, 64, cfg.n_radial_bins)
    cols = [
        names.index(f"p{i}_radstd_r{k:03d}") for i in range(3) for k in range(cfg.n_radial_bins)
    ]
    np.testing.assert_allclose(default_features[0, cols], spread.ravel(), rtol=1e-5, atol=1e-6)


def test_off_centre_patterns_need_a_found_centre():
    img = nfold_image(4, (128, 128), center=(58, 69), mirror=True) * 10
    img[img == 0] = 0
    x = np.stack([img, img, img])[None]
    rot4 = {}
    for centre in ("image", "com"):
        fx = FeatureExtractor(config=FeatureConfig(center=centre, families=("rotation",))).fit()
        f = dict(zip(fx.get_feature_names_out(), fx.transform(x)[0], strict=True))
        rot4[centre] = f["p0_rot4_whole"]
    assert rot4["com"] > 0.99 > rot4["image"] + 0.1


def test_sklearn_conventions():
    fx = FeatureExtractor(config={"families": ["radial"], "n_radial_bins": 8}, batch_size=4)
    with pytest.raises(NotFittedError):
        fx.transform(_stacks(1))
    assert fx.get_params()["batch_size"] == 4
    c = clone(fx)
    assert c.get_params()["config"] == {"families": ["radial"], "n_radial_bins": 8}
    out = c.fit_transform(_stacks(1))
    assert out.shape == (1, 3 * (2 * 8 + 1))
    assert list(c.get_feature_names_out()[:2]) == ["p0_radial_r000", "p0_radial_r001"]
    with pytest.raises(ValueError, match="stacks"):
        c.transform(np.zeros((2, 128, 128), np.float32))
    with pytest.raises(TypeError):
        FeatureExtractor(config=3).fit()
    # Picklable (process pools, Dask) and usable after the round trip.
    again = pickle.loads(pickle.dumps(c))
    np.testing.assert_array_equal(again.transform(_stacks(1)), out)
    assert FeatureExtractor(device="auto").fit().device_ in ("cpu", "cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="CuPy or a CUDA device is not available")
def test_cuda_equals_cpu(default_features):
    gpu = FeatureExtractor(device="cuda").fit().transform(_stacks())
    scale = np.abs(default_features).max(axis=0) + 1e-6
    assert np.max(np.abs(gpu - default_features) / scale) <= 1e-4


def test_empty_and_flat_patterns_give_finite_features(fitted):
    x = np.zeros((2, 3, 64, 64), np.float32)
    x[1] = 5.0  # flat: no structure at all
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero or invalid-value warnings
        out = fitted.transform(x)
    assert np.isfinite(out).all()


def test_hexagonal_lattice_has_six_mirrors(fitted):
    hexagonal = disk_lattice((256, 256), **HEX)
    f = dict(
        zip(
            fitted.get_feature_names_out(),
            fitted.transform(np.stack([hexagonal] * 3)[None])[0],
            strict=True,
        )
    )
    assert f["p0_mirror_best_whole"] > 0.99 and f["p0_mirror_naxes_whole"] == 6  # 6mm
    assert f["p0_rot3_whole"] > 0.99 and f["p0_rot6_whole"] > 0.99


def test_stack_featurizer_is_the_transformer_without_scikit_learn():
    from cbedfeat.features import StackFeaturizer

    x = _stacks(3)
    cfg = FeatureConfig(zernike_degree=6)
    light = StackFeaturizer(cfg, "cpu", batch_size=2)
    full = FeatureExtractor(config=cfg, device="cpu", batch_size=2).fit()
    np.testing.assert_array_equal(light.transform(x), full.transform(x))
    assert light.names == list(full.get_feature_names_out())
    assert light.n_features == full.n_features_out_
    np.testing.assert_array_equal(
        light.family_transform("mirror", x), full.family_transform("mirror", x)
    )
    with pytest.raises(TypeError, match="config must be"):
        StackFeaturizer(config=3)
    with pytest.raises(ValueError, match="batch_size"):
        StackFeaturizer(batch_size=0)


def test_extract_workers_import_no_scikit_learn():
    # scikit-learn costs ~1.5 s of start-up in every worker process.
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from cbedfeat.extraction.runners import get_extractor\n"
        "from cbedfeat.features import FeatureConfig\n"
        "fx, n = get_extractor(FeatureConfig(zernike_degree=4).to_dict(), 'cpu', 2)\n"
        "x = np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32)\n"
        "assert fx.transform(x).shape == (1, n)\n"
        "print(sorted(m for m in ('sklearn', 'pandas') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
