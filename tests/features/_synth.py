"""Synthetic images with known answers for the feature tests (no randomness unless seeded)."""

from __future__ import annotations

import numpy as np


def disk_lattice(
    shape=(128, 128),
    v1=(0.0, 20.0),
    v2=(17.320508, 10.0),
    radius=5.0,
    center=None,
    decay=60.0,
    bright_center=3.0,
    rotate_deg=0.0,
    keep=None,
):
    """CBED-like pattern: soft disks at ``i v1 + j v2`` around the centre.

    Intensity falls off as ``exp(-|g| / decay)``; the central disk is ``bright_center``
    times brighter; signal is confined to the inscribed circle. ``v1``, ``v2`` are
    ``(row, col)`` vectors in pixels, rotated by ``rotate_deg`` about the centre.
    ``keep(i, j)``, when given, says which sites get a disk (systematic absences).
    """
    h, w = shape
    cy, cx = (h // 2, w // 2) if center is None else center
    t = np.deg2rad(rotate_deg)
    rot = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    a, b = rot @ np.asarray(v1, float), rot @ np.asarray(v2, float)
    yy, xx = np.mgrid[:h, :w].astype(float)
    img = np.zeros(shape)
    r_in = min(cy, cx, h - 1 - cy, w - 1 - cx)
    n = int(np.ceil(2 * r_in / min(np.hypot(*a), np.hypot(*b)))) + 2
    for i in range(-n, n + 1):
        for j in range(-n, n + 1):
            g = i * a + j * b
            if np.hypot(*g) > r_in + radius or (keep is not None and not keep(i, j)):
                continue
            amp = np.exp(-np.hypot(*g) / decay) * (bright_center if i == j == 0 else 1.0)
            d = np.hypot(yy - cy - g[0], xx - cx - g[1])
            img += amp / (1 + np.exp(np.clip((d - radius) / 0.7, -50, 50)))  # soft edge
    img[np.hypot(yy - cy, xx - cx) > r_in] = 0
    return img.astype(np.float32)


def nfold_image(n: int, shape=(128, 128), center=None, mirror: bool = False, axis_deg: float = 0.0):
    """Smooth polar pattern with exact n-fold rotation symmetry about the centre.

    ``f = exp(-r / 30) * (2 + cos(n (phi - axis)) + 0.5 cos(2 n phi' ...))``: without
    ``mirror`` a chiral term (sin of 2n phi, radius dependent) removes every mirror;
    with ``mirror`` the pattern is symmetric about the axis at ``axis_deg`` (and the
    n - 1 others 180/n degrees apart).
    """
    h, w = shape
    cy, cx = (h // 2, w // 2) if center is None else center
    yy, xx = np.mgrid[:h, :w].astype(float)
    r = np.hypot(yy - cy, xx - cx)
    phi = np.arctan2(yy - cy, xx - cx) - np.deg2rad(axis_deg)
    ang = (
        2
        + np.cos(n * phi) * np.exp(-((r - 25) ** 2) / 200)
        + 0.6 * np.cos(2 * n * phi) * np.exp(-((r - 45) ** 2) / 100)
    )
    if not mirror:
        ang = ang + 0.8 * np.sin(n * phi + r / 6.0) * np.exp(-((r - 35) ** 2) / 300)
    img = np.exp(-r / 30) * ang
    img[r > min(cy, cx, h - 1 - cy, w - 1 - cx)] = 0
    return img.astype(np.float32)
