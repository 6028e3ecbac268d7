"""Reciprocal-lattice geometry of a zone axis: Laue zones and the detector frame.

Conventions (crystallographic, no 2 pi; e.g. Williams & Carter, *Transmission Electron
Microscopy*, 2nd ed., Springer 2009, chapters "Thinking in reciprocal space" and
"Convergent-beam techniques"; De Graef, *Introduction to Conventional Transmission
Electron Microscopy*, CUP 2003):

* real-space lattice vectors a1, a2, a3 are the rows of ``lattice``; reciprocal vectors
  b_i are the rows of ``inv(lattice).T`` so that a_i . b_j = delta_ij;
* a reflection is g = h b1 + k b2 + l b3, d_hkl = 1 / |g|;
* the zone axis [uvw] is the real-space direction t = u a1 + v a2 + w a3 (the beam
  direction); g lies in Laue zone N = h u + k v + l w, at height N / |t| along t above
  the zero-order Laue zone (ZOLZ, N = 0).

The integer lattice of a Laue zone is spanned by two integer vectors p, q with
p . uvw = q . uvw = 0 and p x q = +-uvw (a primitive basis of the kernel of
hkl -> hkl . uvw), shifted by N r for any integer r with r . uvw = 1.
"""

from __future__ import annotations

from math import gcd

import numpy as np

__all__ = [
    "ZoneBasis",
    "detector_frame",
    "laue_zone",
    "primitive_uvw",
    "reciprocal_basis",
    "zone_basis",
]


def reciprocal_basis(lattice: np.ndarray) -> np.ndarray:
    """Reciprocal lattice vectors (rows b_i, a_i . b_j = delta_ij, in 1/A).

    Parameters
    ----------
    lattice : (3, 3) ndarray
        Rows a1, a2, a3 in Angstrom.

    Returns
    -------
    (3, 3) ndarray
    """
    return np.linalg.inv(np.asarray(lattice, dtype=float)).T


def primitive_uvw(uvw) -> np.ndarray:
    """The zone axis divided by the gcd of its indices.

    Parameters
    ----------
    uvw : (3,) array_like of int

    Returns
    -------
    (3,) ndarray of int
    """
    arr = np.asarray(uvw)
    if arr.shape != (3,) or not np.all(np.equal(np.mod(arr, 1), 0)):
        raise ValueError(f"zone axis must be three integers, got {uvw!r}")
    arr = arr.astype(int)
    div = gcd(gcd(int(arr[0]), int(arr[1])), int(arr[2]))
    if div == 0:
        raise ValueError("zone axis [000] is not a direction")
    return arr // div


class ZoneBasis:
    """Integer basis of the Laue zones of a zone axis, reduced in the crystal metric.

    Attributes
    ----------
    uvw : (3,) ndarray of int
        Primitive zone axis.
    p, q : (3,) ndarray of int
        Lagrange-Gauss-reduced basis of the ZOLZ (|g_p| <= |g_q|).
    r : (3,) ndarray of int
        r . uvw = 1, with its in-plane part reduced against p, q.
    """

    def __init__(self, uvw: np.ndarray, p: np.ndarray, q: np.ndarray, r: np.ndarray):
        self.uvw, self.p, self.q, self.r = uvw, p, q, r


def _box(m: int) -> np.ndarray:
    ax = np.arange(-m, m + 1)
    return np.stack(np.meshgrid(ax, ax, ax, indexing="ij"), -1).reshape(-1, 3)


def zone_basis(recip: np.ndarray, uvw) -> ZoneBasis:
    """Reduced integer basis of the Laue-zone lattices of [uvw].

    Parameters
    ----------
    recip : (3, 3) ndarray
        Reciprocal basis (rows b_i).
    uvw : (3,) array_like of int

    Returns
    -------
    ZoneBasis
    """
    uvw = primitive_uvw(uvw)
    metric = recip @ recip.T
    m = int(np.abs(uvw).max())
    while True:
        # the vectors (v,-u,0), (w,0,-u), (0,w,-v) span the kernel, so a basis and an
        # N = 1 vector exist with indices <= max|uvw|; grow the box only as a safeguard
        cand = _box(m)
        dot = cand @ uvw
        ker = cand[(dot == 0) & np.any(cand != 0, axis=1)]
        one = cand[dot == 1]
        lengths = np.einsum("ij,jk,ik->i", ker, metric, ker)
        ker = ker[np.argsort(lengths, kind="stable")]
        p = ker[0]
        cross = np.cross(p, ker)
        ok = np.all(cross == uvw, axis=1) | np.all(cross == -uvw, axis=1)
        if ok.any() and len(one):
            q = ker[np.argmax(ok)]
            r = one[0]
            break
        m += 1
    p, q = _gauss_reduce(p, q, metric)
    # reduce r modulo the ZOLZ lattice so that the zones' points stay near the axis
    gram = np.array([[p @ metric @ p, p @ metric @ q], [q @ metric @ p, q @ metric @ q]])
    coef = np.linalg.solve(gram, [p @ metric @ r, q @ metric @ r])
    r = r - int(np.rint(coef[0])) * p - int(np.rint(coef[1])) * q
    return ZoneBasis(uvw, p, q, r)


def _gauss_reduce(p: np.ndarray, q: np.ndarray, metric: np.ndarray):
    """Lagrange-Gauss reduction of a 2-D integer basis in the given metric."""

    def n2(v):
        return float(v @ metric @ v)

    if n2(p) > n2(q):
        p, q = q, p
    for _ in range(100):
        mu = int(np.rint((p @ metric @ q) / n2(p)))
        q = q - mu * p
        if n2(q) >= n2(p):
            break
        p, q = q, p
    return p, q


def detector_frame(lattice: np.ndarray, uvw, g_ref: np.ndarray) -> np.ndarray:
    """Orthonormal frame of the detector: rows e_x, e_y, e_z (cartesian).

    e_z is the beam direction u a1 + v a2 + w a3, e_y the in-plane reference reflection
    g_ref (perpendicular to e_z since it lies in the ZOLZ), e_x = e_y x e_z, so that
    (e_x, e_y, e_z) is right-handed.

    Parameters
    ----------
    lattice : (3, 3) ndarray
    uvw : (3,) array_like of int
    g_ref : (3,) ndarray
        Cartesian reference reflection (1/A).

    Returns
    -------
    (3, 3) ndarray
    """
    ez = np.asarray(uvw, dtype=float) @ np.asarray(lattice, dtype=float)
    ez = ez / np.linalg.norm(ez)
    ey = np.asarray(g_ref, dtype=float) - (g_ref @ ez) * ez
    ey = ey / np.linalg.norm(ey)
    ex = np.cross(ey, ez)
    return np.stack([ex, ey, ez])


def laue_zone(
    recip: np.ndarray, basis: ZoneBasis, frame: np.ndarray, n: int, g_max: float, g_min: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Reflections of Laue zone ``n`` whose in-plane part lies in an annulus.

    Parameters
    ----------
    recip : (3, 3) ndarray
        Reciprocal basis (rows b_i).
    basis : ZoneBasis
    frame : (3, 3) ndarray
        Detector frame (rows e_x, e_y, e_z), see :func:`detector_frame`.
    n : int
        Laue zone index N = h u + k v + l w.
    g_max, g_min : float
        Keep g_min <= |g_perp| <= g_max (1/A); the origin is never returned.

    Returns
    -------
    hkl : (M, 3) ndarray of int
    g : (M, 3) ndarray
        Components (g_x, g_y, g_z) in the detector frame (1/A).
    """
    gp = recip.T @ basis.p @ frame.T  # in-plane (g_z = 0)
    gq = recip.T @ basis.q @ frame.T
    c = n * (recip.T @ basis.r) @ frame.T
    # dual basis of (gp, gq) in the plane bounds the integer coefficients of the disk
    mat = np.array([gp[:2], gq[:2]])  # rows
    dual = np.linalg.inv(mat).T  # rows: dual vectors, dual_i . g_j = delta_ij
    ci = -dual @ c[:2]
    half = g_max * np.linalg.norm(dual, axis=1)
    ir = np.arange(int(np.floor(ci[0] - half[0])), int(np.ceil(ci[0] + half[0])) + 1)
    jr = np.arange(int(np.floor(ci[1] - half[1])), int(np.ceil(ci[1] + half[1])) + 1)
    ii, jj = np.meshgrid(ir, jr, indexing="ij")
    ii, jj = ii.ravel(), jj.ravel()
    g = ii[:, None] * gp + jj[:, None] * gq + c
    gperp = np.hypot(g[:, 0], g[:, 1])
    keep = (gperp <= g_max) & (gperp >= g_min)
    if n == 0:
        keep &= (ii != 0) | (jj != 0)
    hkl = ii[keep, None] * basis.p + jj[keep, None] * basis.q + n * basis.r
    return hkl.astype(int), g[keep]
