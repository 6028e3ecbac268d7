"""Radial profiles: azimuthal mean and spread in exact one-pixel rings.

The rings of a geometry are one sparse operator (:func:`geometry.ring_operator`), so a
batch of patterns is profiled by one sparse matrix product. Coarse bins for the
feature vector are area-weighted means of the exact rings.
"""

from __future__ import annotations

import numpy as np

from cbedfeat.features.backend import get_array_module
from cbedfeat.features.geometry import image_center, inscribed_radius
from cbedfeat.features.linear import project

__all__ = [
    "radial_profile",
    "coarse_bin_matrix",
    "coarse_bins",
    "disk_radius",
    "polar_spread",
]


def radial_profile(images, center=None, *, r_max: float | None = None, spread: bool = False):
    """Azimuthal mean (and standard deviation) in exact one-pixel rings.

    Ring ``k`` holds the pixels at distance ``k - 1/2 <= r < k + 1/2`` from the centre,
    for ``k = 0 .. floor(r_max)``.

    Parameters
    ----------
    images : (B, H, W) ndarray
    center : (row, col), optional
        Default: :func:`geometry.image_center`.
    r_max : float, optional
        Default: the inscribed radius.
    spread : bool
        Also return the standard deviation in each ring.

    Returns
    -------
    mean : (B, n_rings) ndarray
    std : (B, n_rings) ndarray
        Only with ``spread=True``.
    """

    if center is None:
        center = image_center(images.shape)
    if r_max is None:
        r_max = inscribed_radius(images.shape, center)
    proj = project(images, center, r_max, spread=spread)
    return (proj.ring_mean, proj.ring_std) if spread else proj.ring_mean


def coarse_bin_matrix(counts, n_bins: int) -> np.ndarray:
    """Weights that average one-pixel rings into ``n_bins`` equal-width radial bins.

    Parameters
    ----------
    counts : (n_rings,) array of int
        Pixels per ring (the weights: a coarse bin is the mean over its pixels).
    n_bins : int

    Returns
    -------
    (n_rings, n_bins) float32 ndarray
        ``profile @ matrix`` gives the coarse profile.
    """
    counts = np.asarray(counts, dtype=np.float64)
    n = counts.size
    which = np.minimum((np.arange(n) * n_bins) // n, n_bins - 1)
    m = np.zeros((n, n_bins))
    m[np.arange(n), which] = counts
    m /= np.maximum(m.sum(axis=0, keepdims=True), 1e-300)
    return m.astype(np.float32)


def coarse_bins(profile, counts, n_bins: int):
    """Area-weighted coarse bins of one-pixel ring values.

    Parameters
    ----------
    profile : (B, n_rings) ndarray
    counts : (n_rings,) array of int
    n_bins : int

    Returns
    -------
    (B, n_bins) ndarray
    """
    xp = get_array_module(profile)
    return profile @ xp.asarray(coarse_bin_matrix(counts, n_bins))


def disk_radius(profile, max_ring: int):
    """Radius of the bright central disk from a one-pixel ring profile.

    The edge is the steepest drop of the profile between rings 1 and ``max_ring``,
    refined to a fraction of a pixel as the centroid of the drops within two rings of
    it (a drop from ring k to k + 1 sits at radius k + 1/2). Use a profile of *linear*
    intensities: a log scale stretches the soft tail of the edge. The bright-field disk
    of a CBED pattern has radius alpha / lambda (convergence semi-angle over
    wavelength); see Williams & Carter, *Transmission Electron Microscopy* (2009), ch. 20.

    Parameters
    ----------
    profile : (B, n_rings) ndarray
    max_ring : int

    Returns
    -------
    (B,) float32 ndarray
        Radius in pixels.
    """
    xp = get_array_module(profile)
    hi = int(min(max(max_ring, 3), profile.shape[1] - 1))
    drop = (profile[:, 0:hi] - profile[:, 1 : hi + 1]).astype(xp.float64)  # ring k -> k + 1
    drop[:, 0] = -xp.inf  # ring 0 is a single pixel
    k = xp.argmax(drop, axis=1)
    pos = xp.arange(hi, dtype=xp.float64)[None, :]
    near = xp.abs(pos - k[:, None]) <= 2
    wgt = xp.where(near & (drop > 0), drop, 0.0)
    total = wgt.sum(axis=1)
    centroid = ((pos + 0.5) * wgt).sum(axis=1) / xp.where(total > 0, total, 1.0)
    return xp.where(total > 0, centroid, k + 0.5).astype(xp.float32)


def polar_spread(polar_images, radii, n_rings: int, n_bins: int, *, power=None):
    """Azimuthal spread of polar rings in the coarse bins of :func:`coarse_bin_matrix`.

    Parameters
    ----------
    polar_images : (B, n_r, n_phi) ndarray or None
        Polar resampling (:func:`polar.polar_transform`); may be None with ``power``.
    radii : (n_r,) ndarray
        Radii of the polar rings (pixels).
    n_rings : int
        Number of one-pixel rings that the coarse bins divide (``floor(r_max) + 1``).
    n_bins : int
    power : (B, n_r, n_phi // 2 + 1) ndarray, optional
        The rings' angular power ``|F_m|^2`` (:func:`polar.angular_power`, ``n_phi``
        even). By Parseval, a ring's variance is ``sum_{m >= 1} c_m |F_m|^2 / n_phi^2``
        (``c_m`` counts +m and -m): no pass over the polar image.

    Returns
    -------
    (B, n_bins) float32 ndarray
        Root of the area-weighted mean azimuthal variance of the polar rings whose
        one-pixel ring (``round(r)``) falls in each bin; 0 for a bin without polar rings.
    """
    if power is not None:
        from cbedfeat.features.polar import _order_weights

        xp = get_array_module(power)
        n_phi = 2 * (power.shape[-1] - 1)
        c = _order_weights(n_phi, power.shape[-1], xp) / xp.float32(n_phi * n_phi)
        var = power[..., 1:] @ c[1:]
    else:
        xp = get_array_module(polar_images)
        centred = polar_images - polar_images.mean(axis=-1, keepdims=True)
        var = (centred * centred).mean(axis=-1)  # centred first: no float32 cancellation
    radii = np.asarray(radii, dtype=np.float64)
    ring = np.minimum(np.rint(radii).astype(np.int64), n_rings - 1)
    which = np.minimum((ring * n_bins) // n_rings, n_bins - 1)
    m = np.zeros((radii.size, n_bins))
    m[np.arange(radii.size), which] = radii
    m /= np.maximum(m.sum(axis=0, keepdims=True), 1e-300)
    return xp.sqrt(xp.maximum(var, 0) @ xp.asarray(m, dtype=xp.float32)).astype(xp.float32)
