"""The multislice engine: physics against known answers, files, seeds and a missing abTEM.

Small detectors (a 25-50 A box) and thin crystals keep each pattern well under a second.
"""

import sys
from dataclasses import replace

import numpy as np
import pytest

from cbedfeat.simulate.crystals import Crystal
from cbedfeat.simulate.kinematic import RenderOptions, render_pattern

pytest.importorskip("abtem")

from cbedfeat.simulate import generate as gen  # noqa: E402
from cbedfeat.simulate.multislice import (  # noqa: E402
    INSTALL_HINT,
    MultisliceSettings,
    ZoneAxisPotential,
    crystal_period_atoms,
    import_abtem,
    render_pattern_multislice,
)
from cbedfeat.simulate.plan import SimulationConfig  # noqa: E402

FCC = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
A_GAAS = 5.65
# One lattice, two structures: zinc blende (F-43m, no inversion centre) and rock salt
# (Fm-3m, centrosymmetric), both with Ga and As.
ZINC_BLENDE = Crystal(
    np.eye(3) * A_GAAS, np.vstack([FCC, FCC + 0.25]), [31] * 4 + [33] * 4, 216, "GaAs-zb"
)
ROCK_SALT = Crystal(
    np.eye(3) * A_GAAS,
    np.vstack([FCC, (FCC + [0.5, 0, 0]) % 1]),
    [31] * 4 + [33] * 4,
    225,
    "GaAs-rs",
)
# Aluminium: light atoms scatter weakly, so a thin foil is nearly kinematic.
AL = Crystal(np.eye(3) * 4.05, FCC, [13] * 4, 225, "Al")
SMALL = RenderOptions(thickness_A=200.0, debye_waller_B=0.0, shape=(128, 128), pixel_size=0.04)


def rot180(image):
    """The detector image turned by 180 degrees about its centre pixel (H // 2, W // 2)."""
    return np.roll(np.roll(image[::-1, ::-1], 1, axis=0), 1, axis=1)


def friedel_asymmetry(image):
    """sum |I(g) - I(-g)| / sum I over the whole pattern: 0 where Friedel's law holds."""
    return float(np.abs(image - rot180(image)).sum() / image.sum())


def test_kinematic_patterns_obey_friedels_law_even_without_an_inversion_centre():
    pattern, _ = render_pattern(ZINC_BLENDE, [1, 1, 0], 100, options=SMALL)
    assert friedel_asymmetry(pattern) < 1e-6


def test_multislice_breaks_friedels_law_only_without_an_inversion_centre():
    # Along [110] the -43m point group leaves no two-fold axis along the beam: dynamical
    # scattering makes the 002 and 00-2 disks differ (the polarity of GaAs). The
    # centrosymmetric rock salt along the same axis keeps the 180-degree symmetry.
    polar, _ = render_pattern_multislice(ZINC_BLENDE, [1, 1, 0], 100, options=SMALL)
    centro, _ = render_pattern_multislice(ROCK_SALT, [1, 1, 0], 100, options=SMALL)
    assert friedel_asymmetry(polar) > 0.05
    assert friedel_asymmetry(centro) < 1e-4


def test_thin_weak_crystal_puts_disks_where_the_kinematic_engine_does():
    opts = RenderOptions(thickness_A=12.0, debye_waller_B=0.0, shape=(256, 256), pixel_size=0.02)
    for uvw in ([0, 0, 1], [1, 1, 0]):
        dyn, info = render_pattern_multislice(AL, uvw, 100, options=opts)
        kin, kinfo = render_pattern(AL, uvw, 100, options=opts)
        assert info["d_hkl"] == kinfo["d_hkl"] and info["semi_angle"] == kinfo["semi_angle"]
        # The bright-field disk holds most of the beam in both.
        cy = cx = 128
        r = info["disk_radius_px"]
        yy, xx = np.ogrid[:256, :256]
        bf = (yy - cy) ** 2 + (xx - cx) ** 2 <= (r - 1) ** 2
        assert 0.8 < dyn[bf].mean() <= 1.0
        # Scattered intensity lies inside the kinematic disks (one pixel of margin) ...
        disks = np.zeros((256, 256), dtype=bool)
        for row, col in kinfo["centres_px"]:
            disks |= (yy - row) ** 2 + (xx - col) ** 2 <= (r + 1.5) ** 2
        scattered = dyn.copy()
        scattered[(yy - cy) ** 2 + (xx - cx) ** 2 <= (r + 1.5) ** 2] = 0
        assert scattered[disks].sum() > 0.95 * scattered.sum()
        # ... with the kinematic strengths: the same disks are bright.
        assert np.corrcoef(dyn.ravel(), kin.ravel())[0, 1] > 0.9


def test_pattern_orientation_matches_the_kinematic_detector_frame():
    # A triclinic crystal has no symmetry that would hide a transposed or mirrored image.
    lattice = np.array([[5.1, 0, 0], [1.2, 6.0, 0], [0.8, 1.1, 7.2]])
    p1 = Crystal(lattice, [[0.1, 0.2, 0.3], [0.6, 0.75, 0.1]], [26, 8], 1, "P1")
    opts = RenderOptions(thickness_A=10.0, debye_waller_B=0.0, shape=(256, 256), pixel_size=0.02)
    dyn, _ = render_pattern_multislice(p1, [1, 0, 0], 100, options=opts)
    kin, _ = render_pattern(p1, [1, 0, 0], 100, options=opts)

    def corr(a):
        a, b = a.copy(), dyn.copy()
        a[118:139, 118:139] = b[118:139, 118:139] = 0  # leave the bright-field disk out
        return np.corrcoef(a.ravel(), b.ravel())[0, 1]

    same = corr(kin)
    assert same > 0.8
    assert corr(kin.T) < same - 0.3
    assert corr(np.roll(kin[::-1], 1, axis=0)) < same - 0.3


def test_period_atoms_fill_the_box_once():
    # Rock salt along [001]: one period is one cell edge, 8 atoms per a^2 of area.
    box = 20.0
    frame = np.eye(3)
    numbers, pos = crystal_period_atoms(ROCK_SALT, frame, A_GAAS, box)
    assert pos[:, :2].min() >= 0 and pos[:, :2].max() < box
    assert pos[:, 2].min() >= 0 and pos[:, 2].max() < A_GAAS
    key = np.round(pos, 6)
    assert len(np.unique(key, axis=0)) == len(key)  # no atom twice
    expected = 8 * box**2 / A_GAAS**2
    assert abs(len(numbers) - expected) <= 0.1 * expected
    assert set(numbers) == {31, 33}


def test_thickness_is_whole_periods_and_energies_share_the_potential():
    zap = ZoneAxisPotential(ROCK_SALT, [0, 0, 1], shape=(64, 64), pixel_size=0.04)
    _, info100 = zap.render(100, replace(SMALL, shape=(64, 64), thickness_A=30.0))
    _, info150 = zap.render(150, replace(SMALL, shape=(64, 64), thickness_A=30.0))
    assert info100["thickness_A"] == pytest.approx(5 * A_GAAS)  # 30 / 5.65 = 5.3 periods
    assert info100["n_slices"] == 5 * zap.n_slices and zap.n_slices == 3  # slices <= 2 A
    assert info150["wavelength_A"] < info100["wavelength_A"]
    assert info150["semi_angle"] < info100["semi_angle"]


def test_probe_grid_averages_positions_inside_one_projected_cell():
    settings = MultisliceSettings(probe_grid=3)
    zap = ZoneAxisPotential(ROCK_SALT, [0, 0, 1], settings, shape=(64, 64), pixel_size=0.04)
    pos = zap.positions
    assert pos.shape == (9, 2)
    # Along [001] the conventional cell projects onto an a x a square, centred in the
    # 25 A box; a 3 x 3 grid sits at 1/6, 1/2 and 5/6 of it.
    assert np.allclose(pos.mean(axis=0), 12.5)
    assert np.ptp(pos[:, 0]) == pytest.approx(A_GAAS * 2 / 3)
    assert np.ptp(pos[:, 1]) == pytest.approx(A_GAAS * 2 / 3)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="probe_grid"):
        MultisliceSettings(probe_grid=0)
    with pytest.raises(ValueError, match="oversampling"):
        MultisliceSettings(oversampling=0.5)
    with pytest.raises(ValueError, match="square"):
        ZoneAxisPotential(ROCK_SALT, [0, 0, 1], shape=(64, 96))
    with pytest.raises(ValueError, match="engine"):
        SimulationConfig(engine="bloch")


def test_missing_abtem_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "abtem", None)  # import abtem -> ImportError
    with pytest.raises(ImportError, match=r"cbedfeat\[dynamical\]"):
        import_abtem()
    assert "cbedfeat[dynamical]" in INSTALL_HINT


TINY = SimulationConfig(
    materials=4,
    energies=2,
    seed=5,
    samples_per_file=4,
    shape=(64, 64),
    thickness_A=(20.0, 40.0),
    blur_px=0.0,
    compression=None,
    engine="multislice",
    split=(0.5, 0.0, 0.5),
)


def _read_all(directory):
    from cbedfeat.data import iter_samples

    return {(s.meta.split, s.meta.group): s for s in iter_samples(directory, strict=True)}


@pytest.fixture(scope="module")
def multislice_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("multislice")
    gen.generate_dataset(out, config=TINY, workers=1, progress=False)
    return out


def test_multislice_files_follow_the_ornl_layout_with_the_kinematic_attributes(
    multislice_dir, tmp_path
):
    dyn = _read_all(multislice_dir)
    assert len(dyn) == TINY.materials * TINY.energies
    gen.generate_dataset(
        tmp_path, config=replace(TINY, engine="kinematic"), workers=1, progress=False
    )
    kin = _read_all(tmp_path)
    assert dyn.keys() == kin.keys()  # same materials, files, splits and groups
    for key, sample in dyn.items():
        assert sample.stack.dtype == np.float32 and sample.stack.shape == (3, 64, 64)
        assert np.all(sample.stack >= 0) and sample.stack.max() > 0
        other = kin[key].meta
        # Paired data: every attribute equal under both engines, the file name aside.
        assert sample.meta.replace(file="") == other.replace(file="")
        assert not np.array_equal(sample.stack, kin[key].stack)


def test_multislice_is_reproducible_with_one_or_two_workers(multislice_dir, tmp_path):
    gen.generate_dataset(tmp_path, config=TINY, workers=2, progress=False)
    first, second = _read_all(multislice_dir), _read_all(tmp_path)
    assert first.keys() == second.keys()
    for key, sample in first.items():
        # FFTW's measured plans may round differently from run to run (documented).
        scale = float(sample.stack.max())
        np.testing.assert_allclose(second[key].stack, sample.stack, rtol=0, atol=1e-5 * scale)
