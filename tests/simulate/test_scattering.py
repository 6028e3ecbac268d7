"""Electron wavelength and electron scattering factors against known physics."""

import numpy as np
import pytest

from cbedfeat.simulate.scattering import (
    MAX_Z,
    SYMBOLS,
    electron_scattering_factor,
    electron_wavelength,
    peng_coefficients,
    relativistic_gamma,
    supported_numbers,
)

BOHR_A = 0.529177210903  # CODATA 2018


@pytest.mark.parametrize(
    ("kv", "expected"),
    # textbook values (e.g. Williams & Carter 2009, ch. 1); 100 kV -> 0.03701 A as in ORNL
    [(100, 0.03701), (120, 0.03349), (200, 0.02508), (300, 0.01969), (190, 0.02584)],
)
def test_relativistic_wavelength_known_values(kv, expected):
    assert electron_wavelength(kv) == pytest.approx(expected, abs=6e-6)


def test_wavelength_matches_textbook_formula_over_range():
    for kv in np.linspace(60, 400, 35):
        v = kv * 1e3
        textbook = 12.2643 / np.sqrt(v * (1 + 0.97848e-6 * v))
        assert electron_wavelength(kv) == pytest.approx(textbook, rel=2e-5)


def test_wavelength_rejects_non_positive_energy():
    with pytest.raises(ValueError):
        electron_wavelength(0)


def test_relativistic_gamma():
    assert relativistic_gamma(100) == pytest.approx(1.195695, abs=1e-6)
    assert relativistic_gamma(0) == 1.0


def test_table_covers_h_to_cf_in_order():
    assert MAX_Z == 98
    assert supported_numbers()[[0, -1]].tolist() == [1, 98]
    # a shifted row would misplace every element after it
    assert (SYMBOLS[0], SYMBOLS[5], SYMBOLS[25], SYMBOLS[28], SYMBOLS[78], SYMBOLS[97]) == (
        "H",
        "C",
        "Fe",
        "Cu",
        "Au",
        "Cf",
    )


@pytest.mark.parametrize(
    ("z", "f0"),
    # f(0) = sum a_i of Peng et al. (1996) / ITC Vol. C Table 4.3.2.2
    [(1, 0.5288), (6, 2.5088), (29, 5.5991), (79, 10.5714)],
)
def test_forward_scattering_factor_from_published_coefficients(z, f0):
    assert electron_scattering_factor(z, 0.0) == pytest.approx(f0, abs=1e-4)
    a, _ = peng_coefficients(z)
    assert a.sum() == pytest.approx(f0, abs=1e-4)


def test_carbon_at_s_half_by_hand():
    # sum a_i exp(-b_i s^2) evaluated by hand from the C row at s = 0.5 1/A
    assert electron_scattering_factor(6, 0.5) == pytest.approx(0.41358, abs=2e-5)


def test_hydrogen_matches_exact_born_amplitude():
    # 1s hydrogen, first Born approximation: f(q) = 2 a0 (8 + q^2 a0^2) / (4 + q^2 a0^2)^2,
    # q = 4 pi s; f(0) = a0
    s = np.linspace(0, 2, 81)
    x2 = (4 * np.pi * s * BOHR_A) ** 2
    exact = 2 * BOHR_A * (8 + x2) / (4 + x2) ** 2
    fit = electron_scattering_factor(1, s)
    assert fit[0] == pytest.approx(BOHR_A, rel=1e-3)
    low = s <= 1.5
    np.testing.assert_allclose(fit[low], exact[low], rtol=0.025)  # fit quality, Peng 1996
    np.testing.assert_allclose(fit, exact, atol=0.0025)


def test_mott_bethe_tail_for_light_atoms():
    # at large s the X-ray form factor of a light atom is nearly 0, so
    # f_e ~ 0.023934 (Z - f_x) / s^2 -> 0.023934 Z / s^2 from below
    s = 1.5
    for z in (1, 2, 3, 4, 5, 6):
        implied_fx = z - electron_scattering_factor(z, s) * s**2 / 0.023934
        assert -0.05 * z < implied_fx < 0.25 * z


def test_physical_trends():
    s = np.linspace(0, 2, 101)
    f = electron_scattering_factor(supported_numbers(), s)
    assert f.shape == (98, 101)
    assert np.all(f > 0)
    # neutral atoms: f decreases monotonically with s
    assert np.all(np.diff(f, axis=1) < 0)
    # f(0) grows down the noble gases (same closed-shell structure, more electrons)
    nobles = np.array([2, 10, 18, 36, 54, 86])
    assert np.all(np.diff(f[nobles - 1, 0]) > 0)
    # at large s (core electrons, Mott-Bethe ~ Z / s^2) f grows with Z almost everywhere
    hi = f[:, -1]
    assert np.mean(np.diff(hi) > 0) > 0.85
    assert hi[-1] > 20 * hi[0]


def test_shapes_and_validation():
    assert np.ndim(electron_scattering_factor(6, 0.3)) == 0
    assert electron_scattering_factor([6, 8], 0.3).shape == (2,)
    assert electron_scattering_factor(6, [0.1, 0.3, 0.5]).shape == (3,)
    for bad in (0, 99, [6, 120]):
        with pytest.raises(ValueError):
            electron_scattering_factor(bad, 0.1)
    with pytest.raises(ValueError):
        peng_coefficients(0)
