"""FFT autocorrelation: its radial profile and the in-plane disk lattice.

The disks of the zero-order Laue zone sit on the 2-D reciprocal lattice of the zone
axis; the autocorrelation of the pattern (Wiener-Khinchin: inverse FFT of the power
spectrum) peaks at every lattice vector, whatever the intensities of the disks. The
two shortest independent peak vectors, Lagrange-Gauss reduced, give the lattice
(lengths, angle); see Spence & Zuo, *Electron Microdiffraction* (1992), ch. 4, and
the pattern-lattice notes in ``reference/cbed_physics.md``.
"""

from __future__ import annotations

import numpy as np

from cbedfeat.features.backend import fft_module, get_array_module, ndimage_module, to_numpy

__all__ = ["bin_images", "autocorrelation", "lattice_vectors", "reduce_lattice"]


def bin_images(images, factor: int):
    """Sum ``factor x factor`` blocks (crops H and W to multiples of ``factor``).

    Parameters
    ----------
    images : (B, H, W) ndarray

    Returns
    -------
    (B, H // factor, W // factor) ndarray
    """
    if factor == 1:
        return images
    b, h, w = images.shape
    h2, w2 = h // factor, w // factor
    x = images[:, : h2 * factor, : w2 * factor]
    # Rows first (contiguous adds), then columns: far faster than one 5-D mean.
    x = x.reshape(b, h2, factor, w2 * factor).sum(axis=2)
    return x.reshape(b, h2, w2, factor).sum(axis=3)


def autocorrelation(images, max_lag: int | None = None):
    """Circular autocorrelation of each image, normalised to 1 at zero lag.

    Subtract a background first (e.g. the azimuthal mean) so that the lattice
    dominates; wrap-around is harmless when the signal leaves a margin of ``max_lag``
    (CBED signal fills only the inscribed circle).

    Parameters
    ----------
    images : (B, H, W) ndarray
    max_lag : int, optional
        Crop the result to lags ``-max_lag..max_lag`` on both axes.

    Returns
    -------
    (B, 2 L + 1, 2 L + 1) float32 ndarray
        Zero lag at the centre ``[L, L]`` (``L = max_lag``, default ``min(H, W) // 2 - 1``).
    """
    xp = get_array_module(images)
    fft = fft_module(xp)
    b, h, w = images.shape
    spec = fft.rfft2(images.astype(xp.float32, copy=False))
    power = (spec.real**2 + spec.imag**2).astype(xp.float32)
    acf = fft.irfft2(power, s=(h, w))
    if max_lag is None:
        max_lag = min(h, w) // 2 - 1
    lag = int(max_lag)
    rows = xp.arange(-lag, lag + 1) % h
    cols = xp.arange(-lag, lag + 1) % w
    out = acf[:, rows][:, :, cols]
    zero = out[:, lag, lag]
    return (out / xp.where(zero > 0, zero, 1)[:, None, None]).astype(xp.float32)


def reduce_lattice(v1: np.ndarray, v2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lagrange-Gauss reduction of a 2-D basis: shortest ``v1``, then shortest ``v2``."""
    v1, v2 = np.asarray(v1, float), np.asarray(v2, float)
    for _ in range(100):
        if v2 @ v2 < v1 @ v1:
            v1, v2 = v2, v1
        mu = np.round((v1 @ v2) / (v1 @ v1))
        if mu == 0:
            break
        v2 = v2 - mu * v1
    return v1, v2


def _refine(a: np.ndarray, i: int, j: int) -> tuple[float, float]:
    # Parabola through the peak and its two neighbours along each axis.
    def vertex(lo, mid, hi):
        den = lo - 2 * mid + hi
        return 0.0 if den >= 0 else float(np.clip(0.5 * (lo - hi) / den, -0.5, 0.5))

    return i + vertex(a[i - 1, j], a[i, j], a[i + 1, j]), j + vertex(
        a[i, j - 1], a[i, j], a[i, j + 1]
    )


def lattice_vectors(
    acf, min_lag: float = 2.0, rel_threshold: float = 0.3, min_angle_deg: float = 15.0
):
    """Two shortest independent lattice vectors from autocorrelation peaks.

    Peaks are local maxima (3 x 3) farther than ``min_lag`` from zero lag and at least
    ``rel_threshold`` times the strongest such peak. The first vector is the shortest
    peak; the second the shortest peak at least ``min_angle_deg`` away from its line;
    the pair is Lagrange-Gauss reduced.

    Parameters
    ----------
    acf : (B, 2 L + 1, 2 L + 1) ndarray
        From :func:`autocorrelation` (zero lag at the centre).

    Returns
    -------
    vectors : (B, 2, 2) float64 ndarray
        ``(row, col)`` lags of the two vectors (0 where not found).
    summary : (B, 4) float64 ndarray
        ``|v1|, |v2|, angle (degrees, in [60, 90] after reduction), acf at v1``; zeros
        where fewer than two independent peaks exist.
    """
    xp = get_array_module(acf)
    ndi = ndimage_module(xp)
    is_max = ndi.maximum_filter(acf, size=(1, 3, 3), mode="constant", cval=-np.inf) == acf
    is_max, acf_np = to_numpy(is_max), to_numpy(acf).astype(np.float64)
    b, n, _ = acf_np.shape
    lag = n // 2
    yy, xx = np.mgrid[-lag : lag + 1, -lag : lag + 1]
    dist = np.hypot(yy, xx)
    # Half plane: the autocorrelation is centrosymmetric.
    half = ((yy > 0) | ((yy == 0) & (xx > 0))) & (dist > min_lag)
    half[[0, -1], :] = False
    half[:, [0, -1]] = False
    vectors = np.zeros((b, 2, 2))
    summary = np.zeros((b, 4))
    for k in range(b):
        a = acf_np[k]
        cand = np.flatnonzero((is_max[k] & half).ravel())
        if cand.size < 2:
            continue
        vals = a.ravel()[cand]
        top = vals.max()
        if top <= 0:
            continue
        cand = cand[vals >= rel_threshold * top]
        order = np.lexsort((-a.ravel()[cand], np.round(dist.ravel()[cand], 6)))
        cand = cand[order]
        # Integer lags decide independence; only the two chosen peaks are refined.
        ij = np.stack(np.unravel_index(cand, a.shape), axis=1) - lag
        cross = np.abs(ij[0, 0] * ij[1:, 1] - ij[0, 1] * ij[1:, 0])
        ok = cross > np.sin(np.deg2rad(min_angle_deg)) * np.hypot(*ij[0]) * np.hypot(
            ij[1:, 0], ij[1:, 1]
        )
        if not ok.any():
            continue
        second = 1 + int(np.argmax(ok))
        v1 = np.array(_refine(a, *(ij[0] + lag))) - lag
        v2 = np.array(_refine(a, *(ij[second] + lag))) - lag
        r1, r2 = reduce_lattice(v1, v2)
        l1, l2 = np.hypot(*r1), np.hypot(*r2)
        cosang = abs(r1 @ r2) / (l1 * l2)
        vectors[k] = r1, r2
        i, j = np.unravel_index(cand[0], a.shape)
        summary[k] = l1, l2, np.degrees(np.arccos(np.clip(cosang, 0, 1))), a[i, j]
    return vectors, summary
