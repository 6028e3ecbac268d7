"""The linear maps from pixels, in one pass: exact rings, the polar grid, binning.

Every feature family starts from a linear map of the raw pixels: the one-pixel ring
means (radial profile, disk edge), the bilinear polar image (angular spectra,
symmetry, Zernike) and block means (autocorrelation). :func:`project` computes all
three for a batch of patterns that share one geometry.

On the CPU a compiled kernel (Numba) reads each image once, in memory order: every
pixel adds itself to its ring and its block, then the polar samples gather their four
neighbours while the image is still in cache. Where the ring geometry is mirror
symmetric about the centre row and column (the image centre of the ORNL data), the
four mirror images of a pixel are added first and scattered to their ring once: a
quarter of the scattered additions, the kernel's slowest step. Ring sums and sums of
squares accumulate in float64, so the ring spread needs no second pass and does not
cancel.
Without Numba, and on the GPU, the same maps are sparse matrix products
(:func:`geometry.apply_operator`) and the spread takes a second pass over the residuals.
Both paths are tested against each other.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from cbedfeat.features import autocorr, geometry
from cbedfeat.features._jit import jit, numba_available
from cbedfeat.features.backend import get_array_module

__all__ = ["Projections", "have_kernel", "project"]


@dataclass
class Projections:
    """Outputs of :func:`project` for a batch of ``B`` patterns.

    Attributes
    ----------
    ring_mean : (B, n_rings) float32 ndarray or None
        Mean of each exact one-pixel ring (``k - 1/2 <= r < k + 1/2``).
    ring_std : (B, n_rings) float32 ndarray or None
        Standard deviation in each ring (only when asked for).
    polar : (B, n_r, n_phi) float32 ndarray or None
        Bilinear polar samples (:func:`geometry.polar_operator`).
    binned : (B, H // f, W // f) float32 ndarray or None
        Means of ``f x f`` blocks.
    counts : (n_rings,) ndarray of int or None
        Pixels per ring.
    total : (B,) float64 ndarray or None
        Sum of all pixels of each image, where the blocks tile the whole image (the
        kernel has it for free; the sparse path leaves it None).
    """

    ring_mean: object = None
    ring_std: object = None
    polar: object = None
    binned: object = None
    counts: object = None
    total: object = None


def have_kernel() -> bool:
    """Whether the compiled one-pass CPU kernel is available (else: sparse products)."""
    return numba_available()


def _kernel(
    images, ring_of, squares, fold_y, fold_x, factor, p_idx, p_val, p_dest, sums, sq, blocks, polar
):
    # images (B, H, W) float32; ring_of (H, W) int32, -1 outside the rings. With
    # fold_y, fold_x >= 0 the ring geometry is mirror-symmetric about rows
    # y <-> fold_y - y and columns c <-> fold_x - c (2 x the centre), and ring_of holds
    # the rings of one quadrant only; else every pixel is scattered on its own. Polar
    # samples (p_idx, p_val: (n_polar, 4) pixel indices and bilinear weights, padded
    # with weight 0), sorted by first pixel so that the gathers walk the image in
    # memory order, go to element p_dest of the polar image. sums and sq
    # (B, n_rings) float64 are zeroed by the caller; blocks (B, H // f, W // f)
    # float32 and polar (B, n_r * n_phi) are overwritten.
    b, h, w = images.shape
    n_polar = p_dest.size
    h2 = h // factor if factor > 0 else 0
    w2 = w // factor if factor > 0 else 0
    # Column sums of each block row: every image row is added to its block row while
    # it is read for the rings (vectorised), and reduced across columns at the end.
    colsum = np.zeros((h2, w), dtype=np.float32)
    pair = np.empty(w, dtype=np.float32)
    for i in range(b):
        x = images[i]
        colsum[:] = 0.0
        if fold_y >= 0:
            # Rows y and fold_y - y (and columns c and fold_x - c) share their rings:
            # the four pixels are added first and scattered once.
            for y in range(fold_y // 2 + 1):
                ra = x[y]
                if y < h2 * factor:
                    dst = colsum[y // factor]
                    for c in range(w):
                        dst[c] += ra[c]
                yp = fold_y - y
                if yp >= h:
                    continue  # (no ring reaches a row without a mirror row)
                rb = x[yp]
                if yp != y and yp < h2 * factor:
                    dst = colsum[yp // factor]
                    for c in range(w):
                        dst[c] += rb[c]
                if yp != y:
                    for c in range(w):
                        pair[c] = ra[c] + rb[c]
                else:
                    for c in range(w):
                        pair[c] = ra[c]
                rings = ring_of[y]
                for c in range(min(fold_x // 2 + 1, w)):
                    r = rings[c]
                    if r >= 0:
                        v = np.float64(pair[c])
                        cp = fold_x - c
                        if cp != c:
                            v += np.float64(pair[cp])
                        sums[i, r] += v
            for y in range(fold_y + 1, h2 * factor):  # rows below every mirror pair
                dst = colsum[y // factor]
                row = x[y]
                for c in range(w):
                    dst[c] += row[c]
        else:
            for y in range(h):
                row = x[y]
                rings = ring_of[y]
                for c in range(w):
                    r = rings[c]
                    if r >= 0:
                        v = np.float64(row[c])
                        sums[i, r] += v
                        if squares:
                            sq[i, r] += v * v
                if y < h2 * factor:
                    dst = colsum[y // factor]
                    for c in range(w):
                        dst[c] += row[c]
        for yb in range(h2):
            src = colsum[yb]
            out = blocks[i, yb]
            for cb in range(w2):
                s = np.float32(0.0)
                for t in range(factor):
                    s += src[cb * factor + t]
                out[cb] = s
        flat = x.ravel()
        out = polar[i]
        for k in range(n_polar):
            out[p_dest[k]] = (
                (p_val[k, 0] * flat[p_idx[k, 0]] + p_val[k, 1] * flat[p_idx[k, 1]])
                + p_val[k, 2] * flat[p_idx[k, 2]]
            ) + p_val[k, 3] * flat[p_idx[k, 3]]


_compiled = jit(_kernel)


def _fold(ring_of: np.ndarray, center) -> tuple[np.ndarray, int, int]:
    """The quadrant ring table and ``(fold_y, fold_x)``, or ``(ring_of, -1, -1)``.

    Where ``2 * center`` is integral and every pixel of a ring has its mirror images
    about the centre row and column inside the image, in the same ring, the four
    pixels of a mirror quartet are added first and scattered once: a quarter of the
    scattered additions. Any other geometry (a centre found per image, say) keeps the
    full table.
    """
    h, w = ring_of.shape
    fy, fx = 2.0 * center[0], 2.0 * center[1]
    if fy != round(fy) or fx != round(fx):
        return ring_of, -1, -1
    fy, fx = int(round(fy)), int(round(fx))
    rows, cols = np.arange(h), np.arange(w)
    ok_y, ok_x = (fy - rows >= 0) & (fy - rows < h), (fx - cols >= 0) & (fx - cols < w)
    inside = ring_of >= 0
    if inside[~ok_y].any() or inside[:, ~ok_x].any():
        return ring_of, -1, -1
    ys, xs = rows[ok_y], cols[ok_x]
    sub = ring_of[np.ix_(ys, xs)]
    if not (
        np.array_equal(sub, ring_of[np.ix_(fy - ys, xs)])
        and np.array_equal(sub, ring_of[np.ix_(ys, fx - xs)])
    ):
        return ring_of, -1, -1
    quadrant = np.full_like(ring_of, -1)
    keep_y, keep_x = rows <= fy - rows, cols <= fx - cols
    quadrant[np.ix_(keep_y, keep_x)] = ring_of[np.ix_(keep_y, keep_x)]
    return quadrant, fy, fx


def _polar_taps(pol) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR polar operator -> fixed-width taps ``(idx, val, dest)`` sorted by first pixel.

    Rows with fewer taps than the widest (samples at the image edge) are padded with
    their own first pixel at weight 0; the taps keep the CSR order, so each sample
    sums the same products in the same order as the sparse product.
    """
    n = pol.shape[0]
    per_row = np.diff(pol.indptr)
    taps = 4  # bilinear; the kernel is unrolled for four
    if n and per_row.max() > taps:
        raise ValueError(f"a polar sample has {per_row.max()} taps, the kernel takes {taps}")
    idx = np.zeros((n, taps), dtype=np.int32)
    val = np.zeros((n, taps), dtype=np.float32)
    first = pol.indices[np.minimum(pol.indptr[:-1], max(pol.nnz - 1, 0))]
    for t in range(taps):
        has = per_row > t
        at = pol.indptr[:-1][has] + t
        idx[:, t] = first
        idx[has, t] = pol.indices[at]
        val[has, t] = pol.data[at]
    dest = np.argsort(first, kind="stable").astype(np.int32)
    return np.ascontiguousarray(idx[dest]), np.ascontiguousarray(val[dest]), dest


@functools.lru_cache(maxsize=32)
def _pixel_tables(shape, center, r_max, n_r, n_phi):
    """Ring tables (full and folded) and the polar taps of one geometry (cached).

    Returns ``(ring_of, counts, quadrant, fold_y, fold_x, p_idx, p_val, p_dest)``.
    """
    h, w = shape
    ring_op, counts = geometry.ring_operator(shape, center, r_max)
    ring_of = np.full(h * w, -1, dtype=np.int32)
    ring_of[ring_op.indices] = np.repeat(np.arange(ring_op.shape[0]), np.diff(ring_op.indptr))
    ring_of = ring_of.reshape(h, w)
    quadrant, fold_y, fold_x = _fold(ring_of, center)
    if n_r:
        p_idx, p_val, p_dest = _polar_taps(
            geometry.polar_operator(shape, center, r_max, n_r, n_phi)
        )
    else:
        p_idx, p_val = np.zeros((0, 4), np.int32), np.zeros((0, 4), np.float32)
        p_dest = np.zeros(0, np.int32)
    return ring_of, np.asarray(counts), quadrant, fold_y, fold_x, p_idx, p_val, p_dest


def project(
    images,
    center,
    r_max: float,
    *,
    polar_shape: tuple[int, int] | None = None,
    bin_factor: int | None = None,
    spread: bool = False,
) -> Projections:
    """Ring means (and spread), polar samples and block means of a batch.

    Parameters
    ----------
    images : (B, H, W) ndarray (NumPy or CuPy), or a list of (k, H, W) NumPy arrays
        Raw intensities; float32 is the kernel's type. A list is a batch given in
        blocks (stacks read without a copy, for instance: see
        :class:`cbedfeat.data.mapped.StackMapper`); its rows follow the list order.
    center : (row, col)
    r_max : float
        Rings ``0..floor(r_max)``; outer radius of the polar grid.
    polar_shape : (n_r, n_phi), optional
        Compute the polar image on this grid.
    bin_factor : int, optional
        Compute ``f x f`` block means.
    spread : bool
        Also the standard deviation in each ring.

    Returns
    -------
    Projections
    """
    blocks = list(images) if isinstance(images, list | tuple) else None
    xp = get_array_module(blocks[0] if blocks else images)
    shape = tuple(int(s) for s in (blocks[0] if blocks else images).shape[-2:])
    center = (float(center[0]), float(center[1]))
    if xp is np and numba_available():
        return _project_kernel(
            blocks or [images], shape, center, float(r_max), polar_shape, bin_factor, spread
        )
    if blocks:
        images = xp.concatenate(blocks)
    return _project_sparse(images, shape, center, float(r_max), polar_shape, bin_factor, spread)


def _project_kernel(
    images, shape, center, r_max, polar_shape, factor, spread, fold: bool = True
) -> Projections:
    """The kernel over a batch given as a list of (k, H, W) blocks (or one array)."""
    if not isinstance(images, list | tuple):
        images = [images]
    images = [np.ascontiguousarray(blk, dtype=np.float32) for blk in images]
    if any(blk.shape[1:] != shape for blk in images):
        raise ValueError(f"every block of the batch must be (k, {shape[0]}, {shape[1]})")
    b = sum(blk.shape[0] for blk in images)
    n_r, n_phi = polar_shape or (0, 0)
    ring_of, counts, quadrant, fold_y, fold_x, p_idx, p_val, p_dest = _pixel_tables(
        shape, center, r_max, int(n_r), int(n_phi)
    )
    if spread or not fold:  # sums of squares need every pixel on its own
        fold_y = fold_x = -1
    else:
        ring_of = quadrant
    n_rings = counts.size
    sums = np.zeros((b, n_rings))
    sq = np.zeros((b, n_rings) if spread else (b, 0))
    h2, w2 = (shape[0] // factor, shape[1] // factor) if factor else (0, 0)
    blocks = np.empty((b, h2, w2), dtype=np.float32)
    polar = np.empty((b, n_r * n_phi), dtype=np.float32)
    f = int(factor or 0)
    start = 0
    for blk in images:
        stop = start + blk.shape[0]
        _compiled(
            blk,
            ring_of,
            spread,
            fold_y,
            fold_x,
            f,
            p_idx,
            p_val,
            p_dest,
            sums[start:stop],
            sq[start:stop],
            blocks[start:stop],
            polar[start:stop],
        )
        start = stop
    n = np.maximum(counts, 1).astype(np.float64)
    out = Projections(counts=counts)
    mean = sums / n
    out.ring_mean = mean.astype(np.float32)
    if spread:
        out.ring_std = np.sqrt(np.maximum(sq / n - mean * mean, 0.0)).astype(np.float32)
    if polar_shape:
        out.polar = polar.reshape(b, n_r, n_phi)
    if factor:
        if h2 * factor == shape[0] and w2 * factor == shape[1]:
            out.total = blocks.sum(axis=(1, 2), dtype=np.float64)
        blocks *= np.float32(1.0 / (factor * factor))
        out.binned = blocks
    return out


def _project_sparse(images, shape, center, r_max, polar_shape, factor, spread) -> Projections:

    xp = get_array_module(images)
    b = images.shape[0]
    ring_op, counts = geometry.ring_operator(shape, center, r_max)
    n_rings = ring_op.shape[0]
    out = Projections(counts=np.asarray(counts))
    if polar_shape:
        # Rings and polar map stacked: one pass over the pixels serves both.
        combined = _combined_operator(shape, center, r_max, *polar_shape)
        projected = geometry.apply_operator(combined, images)
        out.ring_mean = xp.ascontiguousarray(projected[:, :n_rings])
        out.polar = xp.ascontiguousarray(projected[:, n_rings:]).reshape((b,) + tuple(polar_shape))
    else:
        out.ring_mean = geometry.apply_operator(ring_op, images)
    if spread:
        # Variance from residuals: E[x^2] - E[x]^2 cancels in float32 where a ring's
        # spread is small against its mean.
        ring_of = _pixel_tables(shape, center, r_max, 0, 0)[0].ravel().astype(np.intp)
        ring_of[ring_of < 0] = n_rings  # outside: an appended zero ring
        padded = xp.concatenate([out.ring_mean, xp.zeros((b, 1), dtype=out.ring_mean.dtype)], 1)
        resid = images.reshape(b, -1) - padded[:, xp.asarray(ring_of)]
        var = geometry.apply_operator(ring_op, resid * resid)
        out.ring_std = xp.sqrt(var)
    if factor:
        out.binned = autocorr.bin_images(images, factor) * xp.float32(1.0 / (factor * factor))
    return out


@functools.lru_cache(maxsize=32)
def _combined_operator(shape, center, r_max, n_r, n_phi):
    import scipy.sparse

    ring_op, _ = geometry.ring_operator(shape, center, r_max)
    polar_op = geometry.polar_operator(shape, center, r_max, n_r, n_phi)
    return scipy.sparse.vstack([ring_op, polar_op], format="csr")
