"""FFT autocorrelation: its radial profile and the in-plane disk lattice.

The disks of the zero-order Laue zone sit on the 2-D reciprocal lattice of the zone
axis; the autocorrelation of the pattern (Wiener-Khinchin: inverse FFT of the power
spectrum) peaks at every lattice vector, whatever the intensities of the disks. The
two shortest independent peak vectors, Lagrange-Gauss reduced, give the lattice
(lengths, angle); see Spence & Zuo, *Electron Microdiffraction* (1992), ch. 4, and
the pattern-lattice notes in ``reference/cbed_physics.md``.
"""

from __future__ import annotations

import functools

import numpy as np

from cbedfeat.features._jit import jit
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
    x = images[:, : h2 * factor, : w2 * factor].reshape(b * h2, factor, w2 * factor)
    # Sums of strided views (whole rows, then every factor-th column): 4x faster than
    # NumPy's reduction over a short inner axis.
    rows = x[:, 0] + x[:, 1]
    for k in range(2, factor):
        rows += x[:, k]
    cols = rows.reshape(b * h2, w2, factor)
    out = cols[..., 0] + cols[..., 1]
    for k in range(2, factor):
        out += cols[..., k]
    return out.reshape(b, h2, w2)


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
    a0, a1, b0, b1 = _reduce_pair(*(float(v) for v in (*v1, *v2)))
    return np.array([a0, a1]), np.array([b0, b1])


@jit
def _reduce_pair(a0, a1, b0, b1):
    for _ in range(100):
        if b0 * b0 + b1 * b1 < a0 * a0 + a1 * a1:
            a0, a1, b0, b1 = b0, b1, a0, a1
        mu = np.rint((a0 * b0 + a1 * b1) / (a0 * a0 + a1 * a1))
        if mu == 0:
            break
        b0, b1 = b0 - mu * a0, b1 - mu * a1
    return a0, a1, b0, b1


@jit
def _vertex(lo, mid, hi):
    # Parabola through a peak and its two neighbours: offset of the vertex.
    den = lo - 2.0 * mid + hi
    if den >= 0:
        return 0.0
    return min(max(0.5 * (lo - hi) / den, -0.5), 0.5)


@jit
def _local_maxima(acf, out):
    # out[k, i, j]: acf[k, i, j] is the largest of its 3 x 3 neighbourhood (ties
    # included; outside the array counts as -inf), as maximum_filter(...) == acf.
    b, n, m = acf.shape
    for k in range(b):
        a = acf[k]
        for i in range(n):
            for j in range(m):
                v = a[i, j]
                top = True
                for di in range(-1, 2):
                    ii = i + di
                    if ii < 0 or ii >= n:
                        continue
                    for dj in range(-1, 2):
                        jj = j + dj
                        if jj >= 0 and jj < m and a[ii, jj] > v:
                            top = False
                out[k, i, j] = top


def local_maxima(acf):
    """Where each image is the largest of its 3 x 3 neighbourhood (ties included).

    Equal to ``scipy.ndimage.maximum_filter(acf, size=(1, 3, 3), mode="constant",
    cval=-inf) == acf``, compiled on the CPU (the filter's two passes and comparison
    cost ~10x more at these sizes).

    Parameters
    ----------
    acf : (B, N, M) ndarray (NumPy or CuPy)

    Returns
    -------
    (B, N, M) bool ndarray (NumPy)
    """
    xp = get_array_module(acf)
    if xp is not np:
        ndi = ndimage_module(xp)
        return to_numpy(
            ndi.maximum_filter(acf, size=(1, 3, 3), mode="constant", cval=-np.inf) == acf
        )
    acf = np.ascontiguousarray(acf)
    out = np.empty(acf.shape, dtype=np.bool_)
    _local_maxima(acf, out)
    return out


@jit
def _pick_lattices(acf, is_max, half, dist_key, rel_threshold, min_sin, vectors, summary):
    # acf, is_max: (B, n, n); half, dist_key: (n, n); writes vectors (B, 2, 2) and
    # summary (B, 4) for images with two independent peaks (left zero otherwise).
    b, n, _ = acf.shape
    lag = n // 2
    for k in range(b):
        a = acf[k]
        flat = np.flatnonzero((is_max[k] & half).ravel())
        if flat.size < 2:
            continue
        vals = a.ravel()[flat]
        top = vals.max()
        if top <= 0:
            continue
        keep = vals >= rel_threshold * top
        flat, vals = flat[keep], vals[keep]
        # Shortest first, the strongest among equally long: lexsort((-vals, dist)).
        by_val = np.argsort(-vals, kind="mergesort")
        order = by_val[np.argsort(dist_key.ravel()[flat[by_val]], kind="mergesort")]
        flat = flat[order]
        i0, j0 = flat[0] // n - lag, flat[0] % n - lag
        second = -1
        for m in range(1, flat.size):
            i, j = flat[m] // n - lag, flat[m] % n - lag
            cross = abs(i0 * j - j0 * i)
            if cross > min_sin * np.hypot(i0, j0) * np.hypot(i, j):
                second = m
                break
        if second < 0:
            continue
        # Integer lags decided independence; only the two chosen peaks are refined.
        v = np.zeros(4)
        for slot, m in ((0, 0), (1, second)):
            r, c = flat[m] // n, flat[m] % n
            v[2 * slot] = r + _vertex(a[r - 1, c], a[r, c], a[r + 1, c]) - lag
            v[2 * slot + 1] = c + _vertex(a[r, c - 1], a[r, c], a[r, c + 1]) - lag
        a0, a1, b0, b1 = _reduce_pair(v[0], v[1], v[2], v[3])
        l1, l2 = np.hypot(a0, a1), np.hypot(b0, b1)
        cosang = min(max(abs(a0 * b0 + a1 * b1) / (l1 * l2), 0.0), 1.0)
        vectors[k, 0, 0], vectors[k, 0, 1], vectors[k, 1, 0], vectors[k, 1, 1] = a0, a1, b0, b1
        summary[k, 0], summary[k, 1] = l1, l2
        summary[k, 2] = np.degrees(np.arccos(cosang))
        summary[k, 3] = a[i0 + lag, j0 + lag]


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
    is_max = np.ascontiguousarray(local_maxima(acf))
    acf_np = np.ascontiguousarray(to_numpy(acf), dtype=np.float64)
    b, n, _ = acf_np.shape
    half, dist_key = _peak_region(n, float(min_lag))
    vectors = np.zeros((b, 2, 2))
    summary = np.zeros((b, 4))
    min_sin = float(np.sin(np.deg2rad(min_angle_deg)))
    _pick_lattices(acf_np, is_max, half, dist_key, float(rel_threshold), min_sin, vectors, summary)
    return vectors, summary


@functools.lru_cache(maxsize=16)
def _peak_region(n: int, min_lag: float):
    lag = n // 2
    yy, xx = np.mgrid[-lag : lag + 1, -lag : lag + 1]
    dist = np.hypot(yy, xx)
    # Half plane: the autocorrelation is centrosymmetric.
    half = ((yy > 0) | ((yy == 0) & (xx > 0))) & (dist > min_lag)
    half[[0, -1], :] = False
    half[:, [0, -1]] = False
    # Distances rounded so that lattice-equivalent lags compare equal.
    return half, np.round(dist, 6)
