"""The indexed ZOLZ net: disk intensities at every net site, and their parities.

Systematic absences act on indexed reflections: a glide plane parallel to the beam or a
2_1 screw axis normal to it empties every other site of particular ZOLZ rows (``0k0``,
``k`` odd, say), and a centred net leaves the sites of one parity class. Dynamical
scattering refills such sites by double diffraction, more weakly than allowed ones (and
with Gjonnes-Moodie dark lines through them), so their intensity relative to their
neighbours still tells (``reference/cbed_physics.md``, last section).

For each pattern:

1. the net vectors from the autocorrelation (:func:`cbedfeat.features.autocorr.lattice_vectors`,
   binned pixels) are refined on the full-resolution pattern: the intensity centroid
   around each predicted site near the centre, then a weighted least-squares fit of
   ``i v1 + j v2`` to the centroids (empty sites carry no weight);
2. every site inside the signal is sampled as the mean over a small disk around it;
3. the log intensity of each site relative to the fitted radial trend of all sites
   (``excess``) removes the falloff from the centre, the dominance of the bright-field
   disk and any global scale, so the same numbers describe kinematic and dynamical
   patterns;
4. parities of the excess: odd against even sites along each net axis, on the row
   through the centre and on the other rows; ``i + j`` odd against even; both odd
   against the rest; sites far below their radial trend ("empty"); the Friedel
   asymmetry ``|excess(g) - excess(-g)|`` (zero kinematically, non-zero dynamically
   without an inversion centre);
5. the same row contrasts along the two diagonals ``v1 +- v2`` (a row of absences need
   not lie along a reduced net vector: the ``00l`` row of a monoclinic ``h0l`` net is
   a diagonal of the reduced net when beta is far from 90 degrees), and finer periods
   on every central row: ``n = 2`` against ``n = 0 (mod 4)`` for d-glides and 4_1
   screws, ``n != 0`` against ``n = 0 (mod 3)`` for 3_1 and 6_2 screws, and the share
   of empty odd sites against even ones.

A pattern without a net gets zeros (``sites_found`` 0).
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["SITE_FEATURES", "signal_radii", "site_feature_names", "site_features"]

#: the central rows of the net read for absences, in feature order
ROWS: tuple[str, ...] = ("row1", "row2", "diag1", "diag2")
#: the most sites whose centroids the second refinement of the net fits
MAX_REFINE_SITES = 96
#: an "empty" site: more than 10x below its radial trend (log units)
EMPTY_EXCESS = -float(np.log(10.0))

SITE_FEATURES: tuple[str, ...] = (
    "sites_found",  # 1 where a net was found and refined
    "sites_count",  # log(1 + number of sites sampled)
    "sites_fit_rms",  # rms centroid misfit of the refined net, in units of |v1|
    "sites_ratio",  # |v2| / |v1| of the refined net
    "sites_angle",  # angle between v1 and v2, degrees
    "sites_empty",  # share of sites more than 10x below their radial trend
    "sites_row1_odd",  # excess: odd - even i on the row j = 0
    "sites_row2_odd",  # excess: odd - even j on the row i = 0
    "sites_off1_odd",  # excess: odd - even i on the rows j != 0
    "sites_off2_odd",  # excess: odd - even j on the rows i != 0
    "sites_sum_odd",  # excess: i + j odd - even
    "sites_both_odd",  # excess: i and j odd - the rest
    "sites_friedel",  # mean |excess(g) - excess(-g)|
    "sites_spread",  # standard deviation of the excess
    "sites_len1",  # |v1| of the refined net, detector pixels (the shorter vector)
    "sites_len2",  # |v2| of the refined net, detector pixels
    # The same along the net's diagonals, and finer periods, for every central row:
    # row1 (along v1), row2 (v2), diag1 (the shorter of v1 +- v2), diag2 (the longer).
    "sites_diag1_odd",  # excess: odd - even n on the central row along diag1
    "sites_diag2_odd",  # the same along diag2
    "sites_offd1_odd",  # excess: odd - even n on the rows parallel to diag1, off centre
    "sites_offd2_odd",  # the same parallel to diag2
    *(f"sites_{row}_quarter" for row in ROWS),  # excess: n = 2 - n = 0 (mod 4), n even
    *(f"sites_{row}_third" for row in ROWS),  # excess: n != 0 - n = 0 (mod 3)
    *(f"sites_{row}_gap" for row in ROWS),  # empty share: odd n - even n
)


def site_feature_names() -> list[str]:
    """Names of the family for one pattern (without the ``p{i}_`` prefix)."""
    return list(SITE_FEATURES)


@functools.lru_cache(maxsize=32)
def _disk_offsets(radius: float) -> tuple[np.ndarray, np.ndarray]:
    n = int(np.floor(radius))
    ax = np.arange(-n, n + 1)
    dr, dc = np.meshgrid(ax, ax, indexing="ij")
    inside = dr**2 + dc**2 <= radius**2 + 1e-9
    return dr[inside], dc[inside]


@functools.lru_cache(maxsize=32)
def _window(half: int) -> tuple[np.ndarray, np.ndarray]:
    ax = np.arange(-half, half + 1)
    dr, dc = np.meshgrid(ax, ax, indexing="ij")
    return dr.ravel(), dc.ravel()


def _gather(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``image[rows, cols]`` with zeros outside the image."""
    h, w = image.shape
    ok = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    # Clipped indices and a mask: cheaper than scattering into the valid positions.
    flat = np.clip(rows, 0, h - 1) * w + np.clip(cols, 0, w - 1)
    return np.where(ok, image.reshape(-1).take(flat), 0.0).astype(np.float64, copy=False)


def _sites(v: np.ndarray, radius: float, exclude_origin: bool = True) -> np.ndarray:
    """(K, 2) integer (i, j) with ``|i v1 + j v2| <= radius``."""
    gram = v @ v.T
    # |i v1 + j v2| <= R bounds |i| <= R |v2| / sqrt(det), likewise j.
    det = max(float(np.linalg.det(gram)), 1e-12)
    ni = int(np.ceil(radius * np.sqrt(gram[1, 1] / det))) + 1
    nj = int(np.ceil(radius * np.sqrt(gram[0, 0] / det))) + 1
    ii, jj = np.meshgrid(np.arange(-ni, ni + 1), np.arange(-nj, nj + 1), indexing="ij")
    ij = np.stack([ii.ravel(), jj.ravel()], axis=1)
    pos = ij @ v
    keep = np.hypot(pos[:, 0], pos[:, 1]) <= radius
    if exclude_origin:
        keep &= np.any(ij != 0, axis=1)
    return ij[keep]


def _refine(
    image, center, v, radius, reach: float = 0.4, max_sites: int | None = None
) -> tuple[np.ndarray, float]:
    """Net vectors fitted to the disk centres around the sites within ``radius``.

    ``reach``: half-width of the window around each predicted site, as a share of the
    shorter net vector. ``max_sites``: use every k-th site (in a fixed order) so that at
    most this many are fitted.
    """
    ij = _sites(v, radius)
    if max_sites is not None and len(ij) > max_sites:
        ij = ij[:: -(-len(ij) // max_sites)]
    if len(ij) < 3:
        return v, np.inf
    # The window reaches past the disk edge (disk radius <= a quarter of the spacing)
    # but not into the neighbours' disks.
    half = max(1, int(reach * min(np.hypot(*v[0]), np.hypot(*v[1]))))
    dr, dc = _window(half)
    pred = center + ij @ v
    rows = np.rint(pred[:, 0]).astype(np.int64)[:, None] + dr[None, :]
    cols = np.rint(pred[:, 1]).astype(np.int64)[:, None] + dc[None, :]
    vals = _gather(image, rows, cols)
    vmax = vals.max(axis=1, keepdims=True)
    vmin = np.maximum(vals.min(axis=1, keepdims=True), 1e-6 * vmax)
    # The centroid of the disk's support, not of its intensity: the rocking curve makes
    # every disk brighter on the side of the direct beam, and an intensity centroid
    # shrinks the fitted net (8 % on a 200 A kinematic pattern). The support is what
    # lies above the geometric mean of the window's maximum and its floor.
    wgt = (vals > np.sqrt(vmax * vmin)).astype(np.float64) * (vmax > 0)
    total = wgt.sum(axis=1)
    ok = total > 0
    if ok.sum() < 3:
        return v, np.inf
    cent = np.stack([(wgt * rows).sum(1), (wgt * cols).sum(1)], axis=1)[ok] / total[ok, None]
    a = ij[ok].astype(np.float64)
    bright = vals.sum(axis=1)[ok]
    s = np.sqrt(bright / bright.max())[:, None]  # weight bright sites more
    fitted, *_ = np.linalg.lstsq(a * s, (cent - center) * s, rcond=None)
    if not np.all(np.isfinite(fitted)) or abs(np.linalg.det(fitted)) < 1e-6:
        return v, np.inf
    resid = cent - center - a @ fitted
    rms = float(np.sqrt(np.average((resid**2).sum(1), weights=bright)))
    return fitted, rms


def _line(x: np.ndarray, y: np.ndarray, use: np.ndarray) -> np.ndarray:
    """Least-squares straight line through ``(x[use], y[use])``, evaluated at every x."""
    xm, ym = x[use].mean(), y[use].mean()
    var = float(((x[use] - xm) ** 2).sum())
    slope = float(((x[use] - xm) * (y[use] - ym)).sum()) / var if var > 0 else 0.0
    return ym + slope * (x - xm)


def _parity(excess: np.ndarray, select: np.ndarray, odd: np.ndarray) -> float:
    """mean excess over ``select & odd`` minus over ``select & ~odd`` (0 if either is empty)."""
    a, b = select & odd, select & ~odd
    if not a.any() or not b.any():
        return 0.0
    return float(excess[a].mean() - excess[b].mean())


def _row_coordinates(ij: np.ndarray, direction: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Sites ``(i, j)`` as ``n d + m e`` for the row direction ``d`` and a partner ``e``.

    ``(d, e)`` is a unimodular basis of the net, so ``(n, m)`` are integers; ``m == 0``
    is the row through the centre, ``n`` the position along it.

    Parameters
    ----------
    ij : (K, 2) ndarray of int
    direction : {(1, 0), (0, 1), (1, 1), (1, -1)}

    Returns
    -------
    n, m : (K,) ndarray of int
    """
    i, j = ij[:, 0], ij[:, 1]
    if direction == (1, 0):
        return i, j
    if direction == (0, 1):
        return j, i
    if direction == (1, 1):  # (i, j) = n (1, 1) + m (1, 0)
        return j, i - j
    if direction == (1, -1):  # (i, j) = n (1, -1) + m (1, 0)
        return -j, i + j
    raise ValueError(f"unknown row direction {direction}")


def _contrast(values: np.ndarray, select: np.ndarray, cond: np.ndarray) -> np.ndarray:
    """Per row r of (R, K) masks: mean of ``values`` over ``select & cond`` minus over
    ``select & ~cond`` (0 where either is empty), as :func:`_parity` for R rows at once."""
    a, b = select & cond, select & ~cond
    na, nb = a.sum(axis=1), b.sum(axis=1)
    diff = a @ values / np.maximum(na, 1) - b @ values / np.maximum(nb, 1)
    return np.where((na > 0) & (nb > 0), diff, 0.0)


def _row_parities(excess: np.ndarray, n: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Absence contrasts of R central rows (``m == 0``) and their parallels.

    Parameters
    ----------
    excess : (K,) ndarray
    n, m : (R, K) ndarray of int
        Site coordinates along each row direction (:func:`_row_coordinates`).

    Returns
    -------
    (5, R) ndarray
        odd, off_odd, quarter, third, gap: excess of odd ``n`` minus even ``n`` on the
        central row and on the other rows; ``n = 2`` minus ``n = 0 (mod 4)`` among the
        even sites of the central row (a d-glide or 4_1 screw leaves only ``n = 4k``);
        ``n != 0`` minus ``n = 0 (mod 3)`` on the central row (3_1, 6_2 screws leave
        ``n = 3k``); the share of empty odd sites minus that of empty even sites on the
        central row.
    """
    central = m == 0
    odd = (n % 2) == 1
    return np.stack(
        [
            _contrast(excess, central, odd),
            _contrast(excess, ~central, odd),
            _contrast(excess, central & ~odd, (n % 4) == 2),
            _contrast(excess, central, (n % 3) != 0),
            _contrast((excess < EMPTY_EXCESS).astype(np.float64), central, odd),
        ]
    )


def _one_pattern(
    image: np.ndarray, center, v_binned: np.ndarray, factor: int, disk_r: float, signal_r: float
) -> tuple[np.ndarray, np.ndarray]:
    """The family's (len(SITE_FEATURES),) values of one pattern and its refined (2, 2)
    net vectors in detector pixels (zeros where no net was refined)."""
    out = np.zeros(len(SITE_FEATURES))
    none = np.zeros((2, 2))
    v = np.asarray(v_binned, dtype=np.float64) * factor
    if not (np.hypot(*v[0]) > 0 and np.hypot(*v[1]) > 0):
        return out, none
    c = np.asarray(center, dtype=np.float64)
    spacing = min(np.hypot(*v[0]), np.hypot(*v[1]))
    # Near sites first (robust to a rough start), then out to 60 % of the signal, where
    # an error of the first fit has grown to less than a disk radius.
    v, rms = _refine(image, c, v, min(3.5 * spacing, 0.6 * signal_r))
    # Sites are now predicted to a pixel or so: a narrower window (the disk radius is at
    # most a quarter of the spacing) over a longer lever arm, on at most MAX_REFINE_SITES
    # sites (a few hundred centroids add cost, not accuracy).
    v, rms = _refine(image, c, v, 0.6 * signal_r, reach=0.3, max_sites=MAX_REFINE_SITES)
    if not np.isfinite(rms):
        return out, none
    len1, len2 = np.hypot(*v[0]), np.hypot(*v[1])
    rho = max(1.0, 0.5 * min(disk_r, 0.25 * min(len1, len2)))
    ij = _sites(v, max(signal_r - rho, 0.0))
    if len(ij) < 4:
        return out, none
    pos = c + ij @ v
    dr, dc = _disk_offsets(rho)
    rows = np.rint(pos[:, 0]).astype(np.int64)[:, None] + dr[None, :]
    cols = np.rint(pos[:, 1]).astype(np.int64)[:, None] + dc[None, :]
    inten = _gather(image, rows, cols).mean(axis=1)
    floor = 1e-6 * max(float(inten.max()), 1e-30)
    log_i = np.log(inten + floor)
    g = np.hypot(*(ij @ v).T)
    # The radial trend: a straight line of log intensity against |g|, robust to outliers
    # by one re-fit without the sites more than 2 sigma below.
    trend = _line(g, log_i, np.ones(len(g), dtype=bool))
    keep = log_i - trend > -2 * max(np.std(log_i - trend), 1e-9)
    if keep.sum() >= 3:
        trend = _line(g, log_i, keep)
    # Clipped: an empty site of a kinematic pattern is at the floor, 14 orders down.
    excess = np.clip(log_i - trend, -7.0, 7.0)
    i, j = ij[:, 0], ij[:, 1]
    odd_i, odd_j = (i % 2) == 1, (j % 2) == 1
    everywhere = np.ones(len(ij), dtype=bool)
    # Friedel pairs: each site against the opposite one, where that was sampled too.
    n = int(np.abs(ij).max())
    lookup = np.full((2 * n + 1, 2 * n + 1), -1, dtype=np.int64)
    lookup[i + n, j + n] = np.arange(len(ij))
    opposite = lookup[n - i, n - j]
    paired = opposite >= 0
    friedel = (
        float(np.abs(excess[paired] - excess[opposite[paired]]).mean()) if paired.any() else 0.0
    )
    cosang = np.clip(v[0] @ v[1] / (len1 * len2), -1.0, 1.0)
    # diag1 is the shorter diagonal: the order must not depend on the sign of v2.
    plus, minus = np.hypot(*(v[0] + v[1])), np.hypot(*(v[0] - v[1]))
    diagonals = ((1, 1), (1, -1)) if plus <= minus else ((1, -1), (1, 1))
    coords = [_row_coordinates(ij, d) for d in ((1, 0), (0, 1), *diagonals)]
    rows = _row_parities(excess, *(np.stack(c) for c in zip(*coords, strict=True)))
    out[:] = (
        1.0,
        np.log1p(len(ij)),
        rms / len1,
        max(len1, len2) / min(len1, len2),
        np.degrees(np.arccos(abs(cosang))),
        float(np.mean(excess < EMPTY_EXCESS)),
        rows[0, 0],  # the net-axis rows: row1, row2 and their parallels
        rows[0, 1],
        rows[1, 0],
        rows[1, 1],
        _parity(excess, everywhere, ((i + j) % 2) == 1),
        _parity(excess, everywhere, odd_i & odd_j),
        friedel,
        float(np.std(excess)),
        min(len1, len2),
        max(len1, len2),
        rows[0, 2],
        rows[0, 3],
        rows[1, 2],
        rows[1, 3],
        *rows[2],
        *rows[3],
        *rows[4],
    )
    return out, v


def site_features(
    images, center, vectors, factor: int, disk_radius_px, ring_mean, return_nets: bool = False
):
    """The family's values for a batch of patterns (CPU).

    Parameters
    ----------
    images : sequence of (H, W) ndarray
        Raw intensities of the B patterns (NumPy; views are fine).
    center : (float, float)
        Pattern centre (row, col).
    vectors : (B, 2, 2) ndarray
        Net vectors ``(row, col)`` in binned pixels (zeros where none was found).
    factor : int
        Original pixels per binned pixel.
    disk_radius_px : (B,) ndarray
        Bright-field disk radius in pixels.
    ring_mean : (B, n_rings) ndarray
        One-pixel ring means of the raw intensities: the signal radius is the last ring
        above 1e-4 of the mean ring.

    return_nets : bool
        Also return the refined net vectors (for the ``folz`` family).

    Returns
    -------
    features : (B, len(SITE_FEATURES)) float32 ndarray
    nets : (B, 2, 2) float64 ndarray, only with ``return_nets``
        Refined net vectors ``(row, col)`` in detector pixels (zeros where none).
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    disk = np.asarray(disk_radius_px, dtype=np.float64).reshape(-1)
    last = signal_radii(ring_mean)
    out = np.zeros((len(disk), len(SITE_FEATURES)), dtype=np.float64)
    nets = np.zeros((len(disk), 2, 2))
    for b, image in enumerate(images):
        out[b], nets[b] = _one_pattern(
            np.asarray(image), center, vectors[b], factor, float(disk[b]), float(last[b])
        )
    return (out.astype(np.float32), nets) if return_nets else out.astype(np.float32)


def signal_radii(ring_mean) -> np.ndarray:
    """(B,) last one-pixel ring above 1e-4 of the mean ring of each profile (0: none).

    Parameters
    ----------
    ring_mean : (B, n_rings) array_like
        One-pixel ring means of the raw intensities.
    """
    rings = np.asarray(ring_mean, dtype=np.float64)
    above = rings > 1e-4 * rings.mean(axis=1, keepdims=True)
    return np.where(above.any(axis=1), rings.shape[1] - 1 - np.argmax(above[:, ::-1], axis=1), 0)
