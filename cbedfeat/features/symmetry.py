"""Rotational and mirror symmetry scores from the angular spectrum of a polar image.

With ``g(r, phi)`` the polar image minus its ring means and ``w_r`` ring weights:

* n-fold rotation: the normalised correlation of ``g`` with itself rolled by
  ``2 pi / n``, ``S_n = sum_r w_r sum_phi g(phi) g(phi + 2 pi / n) / sum_r w_r sum_phi g^2``.
  By the Wiener-Khinchin theorem this is ``sum_m c_m P_m cos(2 pi m / n) / sum_m c_m P_m``
  with ``P_m`` the band power of order m: every n at once, exact for any n, and
  rotation invariant. ``S_n = 1`` for exact n-fold symmetry.
* mirror about the axis at angle alpha: ``phi -> 2 alpha - phi``; the correlation
  ``sum_phi g(phi) g(2 alpha - phi)`` is a circular *convolution* of ``g`` with itself,
  so one inverse FFT of ``sum_r w_r F_m(r)^2`` gives it for every axis at once.

A crystal's point group allows n = 1, 2, 3, 4, 6 (5 is a control); the symmetry of a
zone-axis CBED pattern (whole pattern, bright-field disk, HOLZ ring) gives its
diffraction group: Buxton, Eades, Steeds & Rackham (1976), Phil. Trans. R. Soc. A 281, 171.

A region with (almost) no angular variation is symmetric under everything: a small
regulariser ``eps * P_0`` (``P_0`` the mean power, ``eps = 1e-3``) pulls its scores to
1 instead of leaving them to rounding noise and to the 4-fold pixel-grid artefacts of
a featureless disk (relative angular power ~1e-4).
"""

from __future__ import annotations

import numpy as np

from cbedfeat.features.backend import fft_module, get_array_module
from cbedfeat.features.polar import _order_weights, angular_power

__all__ = ["rotation_scores", "mirror_scores", "mirror_summary"]


def rotation_scores(power, n_phi: int, orders=(2, 3, 4, 5, 6), eps: float = 1e-3):
    """n-fold rotation scores of each region.

    Parameters
    ----------
    power : (B, R, n_m) ndarray
        Band power from :func:`polar.band_power`.
    n_phi : int
        Angular samples of the polar grid (``n_m = n_phi // 2 + 1``).
    orders : sequence of int
        The n to score.
    eps : float
        Regulariser relative to the mean power (see module docstring).

    Returns
    -------
    (B, R, len(orders)) float32 ndarray
        Scores in [-1, 1]; 1 for exact n-fold symmetry.
    """
    xp = get_array_module(power)
    n_m = power.shape[-1]
    c = _order_weights(n_phi, n_m, xp)
    m = np.arange(n_m)
    cos = np.cos(2 * np.pi * np.outer(m, 1.0 / np.asarray(orders, dtype=np.float64)))
    cos[0] = 0.0  # the mean (m = 0) is not part of g
    weighted = (power * c).astype(xp.float32)
    num = weighted @ xp.asarray(cos, dtype=xp.float32)
    den = weighted[..., 1:].sum(axis=-1, keepdims=True)
    lam = xp.float32(eps) * power[..., :1]
    return ((num + lam) / xp.maximum(den + lam, xp.float32(1e-30))).astype(xp.float32)


def mirror_scores(spectrum, weights, eps: float = 1e-3, *, power=None):
    """Normalised mirror correlation for every axis angle.

    Parameters
    ----------
    spectrum : (B, n_r, n_m) complex ndarray
        From :func:`polar.angular_spectrum` of a polar image with ``n_phi`` angles.
    weights : (R, n_r) or (B, R, n_r) ndarray
        Ring weights of R regions.
    eps : float
        Regulariser relative to the mean power.
    power : (B, n_r, n_m) ndarray, optional
        :func:`polar.angular_power` of ``spectrum``, when already computed.

    Returns
    -------
    (B, R, n_phi) float32 ndarray
        Entry ``s`` is the score of the mirror axis at angle ``alpha = pi * s / n_phi``
        (from the +col axis towards +row); 1 for an exact mirror.
    """
    xp = get_array_module(spectrum)
    n_m = spectrum.shape[-1]
    n_phi = 2 * (n_m - 1)  # even n_phi, as the defaults use
    weights = xp.asarray(weights, dtype=xp.float32)
    g = spectrum.copy()
    g[..., 0] = 0  # remove the ring means
    sq = g * g
    if power is None:
        power = angular_power(spectrum)
    if weights.ndim == 2:
        q = xp.einsum("qr,brm->bqm", weights.astype(sq.dtype), sq)
        p = xp.einsum("qr,brm->bqm", weights, power)
    else:
        q = xp.matmul(weights.astype(sq.dtype), sq)
        p = xp.matmul(weights, power)
    corr = fft_module(xp).irfft(q, n=n_phi, axis=-1)
    c = _order_weights(n_phi, n_m, xp)
    norm = (p[..., 1:] * c[1:]).sum(axis=-1, keepdims=True) / n_phi
    lam = xp.float32(eps) * p[..., :1] / n_phi
    return ((corr + lam) / xp.maximum(norm + lam, xp.float32(1e-30))).astype(xp.float32)


def mirror_summary(scores, threshold: float = 0.5, window: int | None = None):
    """Best mirror score, its axis, and the number of distinct high-scoring axes.

    Parameters
    ----------
    scores : (..., n_phi) ndarray
        From :func:`mirror_scores` (circular over axis angles in [0, pi)).
    threshold : float
        An axis counts when its score is a local maximum >= ``threshold``.
    window : int, optional
        Half-width (samples) within which a counted axis must be the maximum, so that
        ripples of one broad peak count once. Default ``n_phi // 64`` (at least 1).

    Returns
    -------
    best : (...) ndarray
        Highest score over all axes.
    angle : (...) ndarray
        Its axis angle in radians, in [0, pi).
    n_axes : (...) ndarray
        Number of distinct axes (local maxima >= threshold); 0 for a flat score curve
        (a region without angular variation).
    """
    xp = get_array_module(scores)
    n = scores.shape[-1]
    if window is None:
        window = max(n // 64, 1)
    best = scores.max(axis=-1)
    angle = xp.argmax(scores, axis=-1).astype(xp.float32) * xp.float32(np.pi / n)
    is_peak = scores >= threshold
    for k in range(1, window + 1):
        # Strict on one side so a flat top of two equal samples counts once.
        is_peak &= scores > xp.roll(scores, k, axis=-1)
        is_peak &= scores >= xp.roll(scores, -k, axis=-1)
    flat = (best - scores.min(axis=-1)) < 1e-3
    n_axes = xp.where(flat, 0, is_peak.sum(axis=-1))
    return best.astype(xp.float32), angle, n_axes.astype(xp.float32)
