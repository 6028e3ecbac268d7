"""Polar transform and rotation-invariant angular spectra.

In polar coordinates (r, phi) a rotation of the pattern about its centre is a roll
along phi, so the magnitudes of the angular Fourier spectrum of every ring, and any
sum of them over a radial band, do not change under rotation. One bilinear sparse
map (:func:`geometry.polar_operator`) resamples a whole batch; one real FFT along phi
gives every angular order at once.
"""

from __future__ import annotations

import numpy as np

from cbedfeat.features.backend import fft_module, get_array_module
from cbedfeat.features.geometry import (
    apply_operator,
    image_center,
    inscribed_radius,
    polar_operator,
)

__all__ = [
    "polar_transform",
    "angular_spectrum",
    "band_weights",
    "angular_power",
    "band_power",
    "angular_features",
]


def polar_transform(
    images, center=None, *, r_max: float | None = None, n_r: int = 128, n_phi: int = 256
):
    """Bilinear resampling of each image on an (r, phi) grid.

    Parameters
    ----------
    images : (B, H, W) ndarray
    center : (row, col), optional
        Default: :func:`geometry.image_center`.
    r_max : float, optional
        Default: the inscribed radius.
    n_r, n_phi : int
        Grid size (:func:`geometry.polar_grid`).

    Returns
    -------
    (B, n_r, n_phi) float32 ndarray
    """
    if center is None:
        center = image_center(images.shape)
    if r_max is None:
        r_max = inscribed_radius(images.shape, center)
    op = polar_operator(images.shape[-2:], center, r_max, n_r, n_phi)
    return apply_operator(op, images).reshape(images.shape[0], n_r, n_phi)


def angular_spectrum(polar):
    """Angular Fourier spectrum of every ring, ``F_m(r) = sum_j f(r, phi_j) exp(-i m phi_j)``.

    Parameters
    ----------
    polar : (B, n_r, n_phi) ndarray

    Returns
    -------
    (B, n_r, n_phi // 2 + 1) complex64 ndarray
        Orders m = 0 .. n_phi // 2.
    """
    xp = get_array_module(polar)
    return fft_module(xp).rfft(polar, axis=-1)


def band_weights(radii, bands):
    """Area weights ``r`` of the polar rings inside each radial band.

    Parameters
    ----------
    radii : (n_r,) ndarray
        Ring radii (:func:`geometry.polar_grid`).
    bands : sequence of (lo, hi)
        Radii bounds in pixels, ``lo <= r < hi``.

    Returns
    -------
    (n_bands, n_r) float32 ndarray
    """
    radii = np.asarray(radii, dtype=np.float64)
    w = np.stack([np.where((radii >= lo) & (radii < hi), radii, 0.0) for lo, hi in bands])
    return w.astype(np.float32)


def _order_weights(n_phi: int, n_m: int, xp):
    # Each rfft order m stands for +m and -m, except m = 0 and the Nyquist order.
    c = np.full(n_m, 2.0, dtype=np.float32)
    c[0] = 1.0
    if n_phi % 2 == 0:
        c[-1] = 1.0
    return xp.asarray(c)


def angular_power(spectrum):
    """``|F_m(r)|^2`` as float32: (B, n_r, n_m) from the complex spectrum."""
    xp = get_array_module(spectrum)
    return (spectrum.real**2 + spectrum.imag**2).astype(xp.float32)


def band_power(spectrum, weights, *, power=None):
    """Angular power per order summed over the rings of each region.

    ``P_m = sum_r w_r |F_m(r)|^2``; rotation invariant.

    Parameters
    ----------
    spectrum : (B, n_r, n_m) complex ndarray
        From :func:`angular_spectrum`.
    weights : (R, n_r) or (B, R, n_r) ndarray
        Ring weights of R regions (shared or per image).
    power : (B, n_r, n_m) ndarray, optional
        :func:`angular_power` of ``spectrum``, when already computed.

    Returns
    -------
    (B, R, n_m) float32 ndarray
    """
    xp = get_array_module(spectrum)
    if power is None:
        power = angular_power(spectrum)
    weights = xp.asarray(weights, dtype=xp.float32)
    if weights.ndim == 2:
        return xp.einsum("qr,brm->bqm", weights, power)
    return xp.matmul(weights, power)


def angular_features(power, n_phi: int, orders: int):
    """Relative angular amplitudes and anisotropy per region.

    Parameters
    ----------
    power : (B, R, n_m) ndarray
        From :func:`band_power`.
    n_phi : int
        Angular samples of the polar grid.
    orders : int
        Orders m = 1..orders are returned.

    Returns
    -------
    amplitudes : (B, R, orders) ndarray
        ``sqrt(c_m P_m / sum_{m >= 1} c_m P_m)`` (``c_m`` counts +m and -m): the share of
        the angular variation at order m; 0 for a region without angular variation.
    anisotropy : (B, R) ndarray
        ``sqrt(sum_{m >= 1} c_m P_m / P_0)``: angular variation relative to the mean.
    """
    xp = get_array_module(power)
    c = _order_weights(n_phi, power.shape[-1], xp)
    weighted = power * c
    varsum = weighted[..., 1:].sum(axis=-1)
    tiny = xp.float32(1e-30)
    amps = xp.sqrt(weighted[..., 1 : orders + 1] / xp.maximum(varsum, tiny)[..., None])
    aniso = xp.sqrt(varsum / xp.maximum(power[..., 0], tiny))
    return amps.astype(xp.float32), aniso.astype(xp.float32)
