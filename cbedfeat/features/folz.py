"""The first-order Laue zone (FOLZ): its ring, and how its reflections sit on the ZOLZ net.

Along the zone axis the reciprocal lattice is stacked in layers a spacing ``H`` apart;
the Ewald sphere cuts the first layer above the zero-order one in a ring of radius
``G1 ~ sqrt(2 H / lambda)`` (``reference/cbed_physics.md``, last section). Where that
ring falls inside the detector it carries what the ZOLZ cannot: the layer spacing (so,
with the ZOLZ net area, the cell volume: ``area x H = 1 / V`` for a primitive lattice),
and the registry of the upper layer. A centred lattice or a glide plane normal to the
beam halves the ZOLZ net while the FOLZ layer keeps the full one, or shifts the FOLZ
reflections by half a net vector against the projected ZOLZ net (Morniroli & Steeds
1992).

For each pattern:

1. the ring: the ring-mean profile of the pixels away from every site of the refined
   ZOLZ net (more than 0.3 of the shorter net vector from the nearest site), so the
   ZOLZ disks do not count; its largest positive excess in log units over a straight
   line fitted to it (robustly; from a quarter of the signal radius, or twice the
   longer net vector if that is further out, to the edge of the signal), smoothed over
   half the shorter net vector; a ring must stand :data:`MIN_STRENGTH` above the line;
2. the azimuthal coverage of the ring band: the share of angle bins where the band is
   brighter than its own median (a FOLZ ring is bright all round, a ZOLZ shell only at
   a few net sites);
3. the registry: every pixel of the band, weighted by its intensity above the band's
   median, is written in fractional coordinates ``(a, b)`` of the refined ZOLZ net
   (``position = a v1 + b v2``); the weighted circular means of ``exp(2 pi i a)`` and
   ``exp(2 pi i b)`` give the offset of the FOLZ reflections from the projected net
   (folded to [0, 0.5], as the signs of v1 and v2 are arbitrary) and how well one
   offset fits (the resultant length, 1 for reflections on a shifted copy of the net);
   the same at twice the frequency shows a FOLZ net finer than the ZOLZ one (a centred
   or glide-halved ZOLZ).

A pattern without a ring or without a refined net gets zeros (``folz_found`` 0).
"""

from __future__ import annotations

import functools

import numpy as np

from cbedfeat.features.sites import signal_radii

__all__ = ["FOLZ_FEATURES", "folz_feature_names", "folz_features", "ring_in_profile"]

FOLZ_FEATURES: tuple[str, ...] = (
    "folz_found",  # 1 where a ring and a refined net were found
    "folz_radius",  # ring radius, detector pixels
    "folz_radius_rel",  # ring radius over |v1| of the refined ZOLZ net
    "folz_strength",  # peak excess of the ring over the profile's trend, log units
    "folz_coverage",  # share of angle bins of the band brighter than its median
    "folz_reg1",  # registry along v1: folded circular mean of a, in [0, 0.5]
    "folz_reg2",  # the same along v2
    "folz_fit1",  # resultant length of exp(2 pi i a) (1: one offset fits every pixel)
    "folz_fit2",  # the same for b
    "folz_half1",  # resultant length of exp(4 pi i a) minus folz_fit1
    "folz_half2",  # the same for b
)
#: the ring must stand this far (log units, a factor of 90) above the trend
MIN_STRENGTH = 4.5
#: the search starts at this share of the signal radius (G1 > 0.6 1/A: |t| < 140 A)
INNER_SHARE = 0.25
N_ANGLE_BINS = 90
#: the family reads every SUBSAMPLE-th pixel of every SUBSAMPLE-th row
SUBSAMPLE = 3


def folz_feature_names() -> list[str]:
    """Names of the family for one pattern (without the ``p{i}_`` prefix)."""
    return list(FOLZ_FEATURES)


def _robust_line(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A straight line through ``(x, y)``, refitted without the points far above it."""
    use = np.ones(len(x), dtype=bool)
    fit = np.zeros(len(x))
    for _ in range(3):
        xu, yu = x[use], y[use]
        xm, ym = xu.mean(), yu.mean()
        var = float(((xu - xm) ** 2).sum())
        slope = float(((xu - xm) * (yu - ym)).sum()) / var if var > 0 else 0.0
        fit = ym + slope * (x - xm)
        resid = y - fit
        # A ring is a narrow bump above the trend: drop what lies above 1 sigma.
        use = resid <= max(float(resid[use].std()), 1e-9)
        if use.sum() < 5:
            break
    return fit


def ring_in_profile(
    profile: np.ndarray, signal_r: int, min_r: int, smooth_px: int = 3
) -> tuple[int, float]:
    """The FOLZ ring in a one-pixel ring-mean profile.

    Parameters
    ----------
    profile : (R,) ndarray
        Mean raw intensity of each one-pixel ring around the centre.
    signal_r : int
        Last ring with signal.
    min_r : int
        First ring searched (outside the bright-field disk and the strong inner ZOLZ).
    smooth_px : int
        Width of the running mean over the log profile (odd; at least 3).

    Returns
    -------
    radius : int
        Ring radius in pixels (0: no ring).
    strength : float
        Smoothed excess of the ring over the profile's trend, log units.
    """
    lo, hi = int(min_r), int(min(signal_r, len(profile) - 1))
    width = max(3, int(smooth_px) | 1)
    if hi - lo < 4 * width:
        return 0, 0.0
    prof = np.asarray(profile[lo : hi + 1], dtype=np.float64)
    # The floor keeps empty rings (between masked disks) from dominating the line fit.
    y = np.log(np.maximum(prof, 1e-4 * max(float(prof.max()), 1e-30)))
    x = np.arange(lo, hi + 1, dtype=np.float64)
    resid = y - _robust_line(x, y)
    smooth = np.convolve(resid, np.ones(width) / width, mode="same")
    edge = width // 2  # the ends are only partly smoothed
    k = int(np.argmax(smooth[edge:-edge])) + edge
    if smooth[k] < MIN_STRENGTH:
        return 0, float(max(smooth[k], 0.0))
    return int(x[k]), float(smooth[k])


def _circular(phase_cycles: np.ndarray, weight: np.ndarray) -> tuple[float, float, float]:
    """Weighted circular mean (in cycles, [0, 1)) and resultant lengths at frequencies
    1 and 2 of ``phase_cycles``."""
    unit = np.exp(2j * np.pi * phase_cycles)
    total = max(float(weight.sum()), 1e-30)
    z1 = np.dot(weight, unit) / total
    z2 = np.dot(weight, unit * unit) / total
    return float((np.angle(z1) / (2 * np.pi)) % 1.0), float(np.abs(z1)), float(np.abs(z2))


@functools.lru_cache(maxsize=8)
def _pixel_grid(shape: tuple[int, int], center: tuple[float, float]):
    """Every third pixel of every third row, sorted by ring: indices, positions, rings.

    A ninth of the pixels still puts about ``2 pi r / 9`` samples on the ring of radius
    ``r`` (70 at 100 px, 170 at 250 px), enough for ring means and circular means, at a
    ninth of the cost; sorted by ring, any annulus is one slice.

    Returns
    -------
    flat : (M,) ndarray of int
        Indices into the raveled image.
    pos : (M, 2) float32 ndarray
        ``(row, col)`` relative to the centre.
    ring : (M,) ndarray of int
        Rounded radius in pixels, ascending.
    starts : (R + 1,) ndarray of int
        ``ring[starts[r]:starts[r + 1]] == r``.
    """
    h, w = shape
    rows, cols = np.mgrid[0:h:SUBSAMPLE, 0:w:SUBSAMPLE]
    flat = (rows * w + cols).ravel()
    pos = np.stack([rows.ravel() - center[0], cols.ravel() - center[1]], axis=1)
    ring = np.rint(np.hypot(pos[:, 0], pos[:, 1])).astype(np.int64)
    order = np.argsort(ring, kind="stable")
    flat, pos, ring = flat[order], pos[order].astype(np.float32), ring[order]
    starts = np.searchsorted(ring, np.arange(int(ring.max()) + 2))
    for a in (flat, pos, ring, starts):
        a.flags.writeable = False  # shared by every call through the cache
    return flat, pos, ring, starts


def _annulus(starts: np.ndarray, lo: int, hi: int) -> slice:
    """The slice of the sorted grid with rings ``lo..hi``."""
    lo, hi = max(int(lo), 0), min(int(hi), len(starts) - 2)
    return slice(int(starts[lo]), int(starts[max(hi + 1, lo)]))


def _off_net_profile(values, pos, ring, v, n_rings: int) -> np.ndarray:
    """(n_rings,) ring means of the pixels away from every ZOLZ net site (NaN: none).

    The ZOLZ disks sit on the net ``i v1 + j v2``; what lies between them at large radii
    is the FOLZ (and HOLZ lines), so its ring profile shows the FOLZ ring without the
    ZOLZ shells, which are as bright at small radii.
    """
    frac = pos @ np.linalg.inv(v).astype(np.float32)
    off = (frac - np.round(frac)) @ v.astype(np.float32)
    rho = 0.3 * min(float(np.hypot(*v[0])), float(np.hypot(*v[1])))
    use = (off[:, 0] ** 2 + off[:, 1] ** 2 > rho**2) & (ring < n_rings)
    sums = np.bincount(ring[use], weights=values[use], minlength=n_rings)[:n_rings]
    counts = np.bincount(ring[use], minlength=n_rings)[:n_rings]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _one_pattern(image, center, v, n_rings: int, signal_r: int) -> np.ndarray:
    out = np.zeros(len(FOLZ_FEATURES))
    v = np.asarray(v, dtype=np.float64)
    det = float(np.linalg.det(v)) if v.shape == (2, 2) else 0.0
    if abs(det) < 1e-6:
        return out
    flat, pos, ring, starts = _pixel_grid(image.shape, (float(center[0]), float(center[1])))
    lengths = (float(np.hypot(*v[0])), float(np.hypot(*v[1])))
    # Beyond the first two ZOLZ shells, whose disk edges leak past the mask.
    start = int(max(INNER_SHARE * signal_r, 2.0 * max(lengths)))
    part = _annulus(starts, start, signal_r)
    values = np.asarray(image).reshape(-1)[flat[part]].astype(np.float64)
    profile = _off_net_profile(values, pos[part], ring[part], v, n_rings)
    profile = np.where(np.isfinite(profile), profile, 0.0)
    radius, strength = ring_in_profile(profile, signal_r, start, int(0.5 * min(lengths)))
    if radius == 0:
        return out
    half = max(2, int(round(0.125 * min(lengths))))
    band = _annulus(starts, radius - half, radius + half)
    if band.stop - band.start < 20:
        return out
    vals = np.asarray(image).reshape(-1)[flat[band]].astype(np.float64)
    where = pos[band].astype(np.float64)
    weight = np.maximum(vals - np.median(vals), 0.0)
    if weight.sum() <= 0:
        return out
    angle = np.arctan2(where[:, 0], where[:, 1])
    angle_bin = np.minimum(
        ((angle + np.pi) / (2 * np.pi) * N_ANGLE_BINS).astype(int), N_ANGLE_BINS - 1
    )
    sums = np.bincount(angle_bin, weights=vals, minlength=N_ANGLE_BINS)
    counts = np.bincount(angle_bin, minlength=N_ANGLE_BINS)
    seen = counts > 0
    coverage = float(np.mean(sums[seen] / counts[seen] > np.median(vals)))
    # position = a v1 + b v2 (rows of v): (a, b) = position @ inv(v)
    frac = where @ np.linalg.inv(v)
    mean_a, fit_a, fit_a2 = _circular(frac[:, 0], weight)
    mean_b, fit_b, fit_b2 = _circular(frac[:, 1], weight)
    out[:] = (
        1.0,
        float(radius),
        radius / lengths[0],
        strength,
        coverage,
        min(mean_a, 1.0 - mean_a),
        min(mean_b, 1.0 - mean_b),
        fit_a,
        fit_b,
        fit_a2 - fit_a,
        fit_b2 - fit_b,
    )
    return out


def folz_features(images, center, vectors, ring_mean) -> np.ndarray:
    """The family's values for a batch of patterns (CPU).

    Parameters
    ----------
    images : sequence of (H, W) ndarray
        Raw intensities of the B patterns.
    center : (float, float)
        Pattern centre (row, col).
    vectors : (B, 2, 2) ndarray
        Refined ZOLZ net vectors ``(row, col)`` in detector pixels (zeros where none).
    ring_mean : (B, n_rings) ndarray
        One-pixel ring means of the raw intensities: the signal radius is the last ring
        above 1e-4 of the mean ring.

    Returns
    -------
    (B, len(FOLZ_FEATURES)) float32 ndarray
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    rings = np.asarray(ring_mean, dtype=np.float64)
    last = signal_radii(rings)
    out = np.zeros((len(rings), len(FOLZ_FEATURES)), dtype=np.float64)
    for b, image in enumerate(images):
        out[b] = _one_pattern(np.asarray(image), center, vectors[b], rings.shape[1], int(last[b]))
    return out.astype(np.float32)
