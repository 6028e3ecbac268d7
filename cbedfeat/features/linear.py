"""The linear maps from pixels, in one pass: exact rings, the polar grid, binning.

Every feature family starts from a linear map of the raw pixels: the one-pixel ring
means (radial profile, disk edge), the bilinear polar image (angular spectra,
symmetry, Zernike) and block means (autocorrelation). :func:`project` computes all
three for a batch of patterns that share one geometry.

On the CPU a compiled kernel (Numba) reads each image once, in memory order: every
pixel adds itself to its ring and its block, then the polar samples gather their four
neighbours while the image is still in cache. Ring sums and sums of squares
accumulate in float64, so the ring spread needs no second pass and does not cancel.
Without Numba, and on the GPU, the same maps are sparse matrix products
(:func:`radial.apply_operator`) and the spread takes a second pass over the residuals.
Both paths are tested against each other.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from cbedfeat.features import geometry
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


def _kernel(images, ring_of, squares, factor, p_ptr, p_idx, p_val, p_dest, sums, sq, blocks, polar):
    # images (B, H, W) float32; ring_of (H, W) int32, -1 outside the rings; polar
    # samples in CSR (p_ptr, p_idx, p_val over flat pixels), sorted by pixel so that the
    # gathers walk the image in memory order, stored at row p_dest of the polar image.
    # sums and sq (B, n_rings) float64 are zeroed by the caller; blocks
    # (B, H // f, W // f) float32 and polar (B, n_r * n_phi) are overwritten.
    b, h, w = images.shape
    n_polar = p_dest.size
    h2 = h // factor if factor > 0 else 0
    w2 = w // factor if factor > 0 else 0
    acc = np.zeros(w, dtype=np.float32)
    for i in range(b):
        x = images[i]
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
                # Block sums: whole rows first (contiguous, vectorised), then columns.
                for c in range(w2 * factor):
                    acc[c] += row[c]
                if (y + 1) % factor == 0:
                    for cb in range(w2):
                        s = np.float32(0.0)
                        for t in range(factor):
                            s += acc[cb * factor + t]
                        blocks[i, y // factor, cb] = s
                    acc[:] = 0.0
        flat = x.ravel()
        for k in range(n_polar):
            total = np.float32(0.0)
            for j in range(p_ptr[k], p_ptr[k + 1]):
                total += p_val[j] * flat[p_idx[j]]
            polar[i, p_dest[k]] = total


_compiled = jit(_kernel)


@functools.lru_cache(maxsize=32)
def _pixel_tables(shape, center, r_max, n_r, n_phi):
    """Ring index of every pixel and the polar map in CSR arrays (cached)."""
    h, w = shape
    ring_op, counts = geometry.ring_operator(shape, center, r_max)
    ring_of = np.full(h * w, -1, dtype=np.int32)
    ring_of[ring_op.indices] = np.repeat(np.arange(ring_op.shape[0]), np.diff(ring_op.indptr))
    if n_r:
        pol = geometry.polar_operator(shape, center, r_max, n_r, n_phi)
        # First pixel of each sample (every sample has one: it lies inside the image).
        first = pol.indices[np.minimum(pol.indptr[:-1], max(pol.nnz - 1, 0))]
        p_dest = np.argsort(first, kind="stable").astype(np.int32)
        pol = pol[p_dest]
        p_ptr, p_idx = pol.indptr.astype(np.int64), pol.indices.astype(np.int32)
        p_val = pol.data.astype(np.float32)
    else:
        p_ptr, p_idx, p_val = np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32)
        p_dest = np.zeros(0, np.int32)
    return ring_of.reshape(h, w), np.asarray(counts), p_ptr, p_idx, p_val, p_dest


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
    images : (B, H, W) ndarray (NumPy or CuPy)
        Raw intensities; float32 is the kernel's type.
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
    xp = get_array_module(images)
    shape = tuple(int(s) for s in images.shape[-2:])
    center = (float(center[0]), float(center[1]))
    if xp is np and numba_available():
        return _project_kernel(images, shape, center, float(r_max), polar_shape, bin_factor, spread)
    return _project_sparse(images, shape, center, float(r_max), polar_shape, bin_factor, spread)


def _project_kernel(images, shape, center, r_max, polar_shape, factor, spread) -> Projections:
    b = images.shape[0]
    n_r, n_phi = polar_shape or (0, 0)
    ring_of, counts, p_ptr, p_idx, p_val, p_dest = _pixel_tables(
        shape, center, r_max, int(n_r), int(n_phi)
    )
    n_rings = counts.size
    images = np.ascontiguousarray(images, dtype=np.float32)
    sums = np.zeros((b, n_rings))
    sq = np.zeros((b, n_rings) if spread else (b, 0))
    h2, w2 = (shape[0] // factor, shape[1] // factor) if factor else (0, 0)
    blocks = np.empty((b, h2, w2), dtype=np.float32)
    polar = np.empty((b, n_r * n_phi), dtype=np.float32)
    f = int(factor or 0)
    _compiled(images, ring_of, spread, f, p_ptr, p_idx, p_val, p_dest, sums, sq, blocks, polar)
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
    from cbedfeat.features import autocorr, radial

    xp = get_array_module(images)
    b = images.shape[0]
    ring_op, counts = geometry.ring_operator(shape, center, r_max)
    n_rings = ring_op.shape[0]
    out = Projections(counts=np.asarray(counts))
    if polar_shape:
        # Rings and polar map stacked: one pass over the pixels serves both.
        combined = _combined_operator(shape, center, r_max, *polar_shape)
        projected = radial.apply_operator(combined, images)
        out.ring_mean = xp.ascontiguousarray(projected[:, :n_rings])
        out.polar = xp.ascontiguousarray(projected[:, n_rings:]).reshape((b,) + tuple(polar_shape))
    else:
        out.ring_mean = radial.apply_operator(ring_op, images)
    if spread:
        # Variance from residuals: E[x^2] - E[x]^2 cancels in float32 where a ring's
        # spread is small against its mean.
        ring_of = _pixel_tables(shape, center, r_max, 0, 0)[0].ravel().astype(np.intp)
        ring_of[ring_of < 0] = n_rings  # outside: an appended zero ring
        padded = xp.concatenate([out.ring_mean, xp.zeros((b, 1), dtype=out.ring_mean.dtype)], 1)
        resid = images.reshape(b, -1) - padded[:, xp.asarray(ring_of)]
        var = radial.apply_operator(ring_op, resid * resid)
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
