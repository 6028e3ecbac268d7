"""Pattern geometry: centre finding and the precomputed sparse maps of a geometry.

Every per-geometry operator (one-pixel rings, annuli, the bilinear polar map) is a
sparse matrix ``(n_out, H * W)`` built once per ``(shape, centre, parameters)`` and
cached, so a batch of patterns is transformed by one sparse matrix product. The
operators are built with SciPy and moved to CuPy (``cupyx.scipy.sparse``) on request.

Conventions: images are ``(..., H, W)``; a centre is ``(row, col)`` in pixels; the polar
angle ``phi = atan2(row - cy, col - cx)`` runs from the +col axis towards +row.
"""

from __future__ import annotations

import functools
from types import ModuleType

import numpy as np

from cbedfeat.features.backend import get_array_module, ndimage_module, sparse_module

__all__ = [
    "apply_operator",
    "apply_operator_pixel_major",
    "image_center",
    "center_of_mass",
    "fit_bright_disk",
    "inversion_center",
    "find_centers",
    "inscribed_radius",
    "annulus_operator",
    "ring_operator",
    "polar_grid",
    "polar_operator",
    "on_backend",
    "column_major",
]


def image_center(shape: tuple[int, int]) -> tuple[float, float]:
    """The zero-frequency pixel of an FFT-shifted pattern, ``(H // 2, W // 2)``.

    The ORNL patterns (like every pattern computed as the FFT of an exit wave and
    shifted) have their centre there, not at ``((H - 1) / 2, (W - 1) / 2)``.
    """
    return float(shape[-2] // 2), float(shape[-1] // 2)


def center_of_mass(images):
    """Intensity centre of mass of each image.

    Parameters
    ----------
    images : (B, H, W) ndarray
        Non-negative intensities (NumPy or CuPy).

    Returns
    -------
    (B, 2) ndarray
        ``(row, col)`` per image; the image centre where an image sums to zero.
    """
    xp = get_array_module(images)
    images = xp.asarray(images, dtype=xp.float64)
    h, w = images.shape[-2:]
    total = images.sum(axis=(-2, -1))
    rows = images.sum(axis=-1) @ xp.arange(h, dtype=xp.float64)
    cols = images.sum(axis=-2) @ xp.arange(w, dtype=xp.float64)
    ok = total > 0
    safe = xp.where(ok, total, 1.0)
    cy, cx = image_center((h, w))
    return xp.stack([xp.where(ok, rows / safe, cy), xp.where(ok, cols / safe, cx)], axis=-1)


def fit_bright_disk(image, threshold: float = 0.5) -> tuple[float, float, float]:
    """Fit a circle to the edge of the brightest disk (the bright-field disk).

    The image is smoothed, thresholded at ``threshold`` times its maximum, the
    connected region holding the maximum is kept, and a least-squares (Kasa) circle
    is fitted to its boundary pixels for the centre; the radius is that of a circle of
    the region's area. For experimental patterns whose centre is not
    the image centre.

    Parameters
    ----------
    image : (H, W) ndarray
    threshold : float
        Fraction of the (smoothed) maximum that separates disk from background.

    Returns
    -------
    (row, col, radius) : tuple of float
        Pixels; the centre of mass and 0 when no region is found.
    """
    xp = get_array_module(image)
    ndi = ndimage_module(xp)
    img = ndi.gaussian_filter(xp.asarray(image, dtype=xp.float32), 1.0)
    mask = img >= threshold * img.max()
    labels, _ = ndi.label(mask)
    peak = np.unravel_index(int(xp.argmax(img)), img.shape)
    region = labels == labels[peak]
    edge = region & ~ndi.binary_erosion(region)
    r, c = (xp.asarray(v, dtype=xp.float64) for v in xp.nonzero(edge))
    if r.size < 3:
        cy, cx = (float(v) for v in center_of_mass(img[None])[0])
        return cy, cx, 0.0
    # Kasa fit: r^2 + c^2 = 2 a r + 2 b c + k, linear in (a, b, k).
    design = xp.stack([2 * r, 2 * c, xp.ones_like(r)], axis=1)
    sol = xp.linalg.lstsq(design, r * r + c * c, rcond=None)[0]
    a, b = float(sol[0]), float(sol[1])
    # The radius from the area: the boundary pixels lie half a pixel inside the edge.
    return a, b, float(np.sqrt(float(region.sum()) / np.pi))


def inversion_center(images):
    """Centre of the pattern's 180-degree symmetry, to a fraction of a pixel.

    The disks of a zone-axis pattern sit at +g and -g about the centre in both
    physics, even where dynamical diffraction makes their intensities differ (Friedel's
    law fails) and the bright-field disk is not the brightest: the circular
    cross-correlation of the disk mask (log-scaled image above its local mean) with
    the same mask rotated by 180 degrees peaks at twice the centre's offset; the
    pattern's finite extent makes that lag win over lags shifted by lattice vectors.
    Measured on multislice patterns of two generators shifted by 0-3.3 px: within
    0.35 px of the true centre for 1,200 of 1,200 (``bench/bench_centring.py``). A weak
    spot: patterns with very few disks (one short systematic row beside the direct
    beam) can leave the symmetry centre undetermined across the row, and the found
    centre is then several pixels off. The peak is refined by a parabola
    through its neighbours along each axis.

    Parameters
    ----------
    images : (B, H, W) ndarray

    Returns
    -------
    (B, 2) ndarray
        ``(row, col)`` per image, float64, on the images' backend.
    """
    xp = get_array_module(images)
    ndi = ndimage_module(xp)
    img = xp.asarray(images, dtype=xp.float64)
    h, w = img.shape[-2:]
    scale = xp.maximum(img.mean(axis=(-2, -1), keepdims=True), 1e-30)
    z = xp.log1p(xp.maximum(img, 0.0) / scale)
    # Disks against their surroundings, as a 0/1 mask: where a disk is, not how bright
    # it is, so that unequal intensities at +g and -g do not pull the peak.
    size = 2 * (max(h, w) // 32) + 1  # a box filter: ten times cheaper than a Gaussian
    z = (z - ndi.uniform_filter(z, size=(1, size, size))) > 0
    z = z - z.mean(axis=(-2, -1), keepdims=True)
    spec = xp.fft.rfft2(z)
    flipped = xp.fft.rfft2(z[..., ::-1, ::-1])
    corr = xp.fft.irfft2(spec * xp.conj(flipped), s=(h, w))
    flat = xp.argmax(corr.reshape(corr.shape[0], -1), axis=1)
    rows, cols = flat // w, flat % w
    b = xp.arange(corr.shape[0])

    def refine(peak, minus, plus):
        # the vertex of the parabola through three samples (neighbours taken modulo n)
        den = minus - 2 * peak + plus
        safe = xp.where(xp.abs(den) > 1e-12, den, 1.0)
        return xp.where(xp.abs(den) > 1e-12, 0.5 * (minus - plus) / safe, 0.0)

    peak = corr[b, rows, cols]
    dr = refine(peak, corr[b, (rows - 1) % h, cols], corr[b, (rows + 1) % h, cols])
    dc = refine(peak, corr[b, rows, (cols - 1) % w], corr[b, rows, (cols + 1) % w])
    # lag d with z(i) = z_rot(i - d) and z_rot(i) = z(n - 1 - i): the centre is (d + n - 1) / 2,
    # the lag taken in (-n / 2, n / 2]
    lag_r = (rows + h // 2) % h - h // 2 + dr
    lag_c = (cols + w // 2) % w - w // 2 + dc
    return xp.stack([(lag_r + h - 1) / 2.0, (lag_c + w - 1) / 2.0], axis=-1)


def find_centers(images, method: str = "image"):
    """Pattern centre of each image by ``method``: ``"image"``, ``"com"``, ``"disk"``
    (:func:`fit_bright_disk`) or ``"inversion"`` (:func:`inversion_center`).

    Parameters
    ----------
    images : (B, H, W) ndarray

    Returns
    -------
    (B, 2) ndarray
        ``(row, col)`` per image, float64, on the images' backend.
    """
    xp = get_array_module(images)
    b = images.shape[0]
    if method == "image":
        return xp.tile(xp.asarray(image_center(images.shape), dtype=xp.float64), (b, 1))
    if method == "com":
        return center_of_mass(images)
    if method == "disk":
        return xp.asarray([fit_bright_disk(im)[:2] for im in images], dtype=xp.float64)
    if method == "inversion":
        return inversion_center(images)
    raise ValueError(f"unknown centre method {method!r}")


def inscribed_radius(shape: tuple[int, int], center: tuple[float, float]) -> float:
    """Largest radius around ``center`` whose circle stays inside the image (pixels)."""
    h, w = shape[-2:]
    cy, cx = center
    return float(max(min(cy, cx, h - 1 - cy, w - 1 - cx), 0.0))


def _key(shape, center) -> tuple:
    # Round so that centres equal to 1e-6 pixel share one cached operator.
    return (int(shape[-2]), int(shape[-1]), round(float(center[0]), 6), round(float(center[1]), 6))


@functools.lru_cache(maxsize=64)
def _annulus_cached(key: tuple, edges: tuple[float, ...]):
    import scipy.sparse

    h, w, cy, cx = key
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot(yy - cy, xx - cx).ravel()
    edges_a = np.asarray(edges)
    idx = np.searchsorted(edges_a, r, side="right") - 1
    inside = (idx >= 0) & (idx < len(edges_a) - 1)
    counts = np.bincount(idx[inside], minlength=len(edges_a) - 1)
    rows = idx[inside]
    weights = (1.0 / np.maximum(counts, 1))[rows].astype(np.float32)
    op = scipy.sparse.csr_matrix(
        (weights, (rows, np.flatnonzero(inside))), shape=(len(edges_a) - 1, h * w)
    )
    op.sum_duplicates()
    return op, counts


def annulus_operator(shape, center, edges) -> tuple:
    """Sparse mean over the pixels of each annulus ``edges[k] <= r < edges[k + 1]``.

    Parameters
    ----------
    shape : (H, W)
    center : (row, col)
    edges : (K + 1,) increasing radii in pixels

    Returns
    -------
    op : scipy.sparse.csr_matrix, (K, H * W) float32
        ``op @ image.ravel()`` is the mean of each annulus (0 for an empty one).
    counts : (K,) ndarray of int
        Pixels per annulus.
    """
    return _annulus_cached(_key(shape, center), tuple(float(e) for e in edges))


def ring_operator(shape, center, r_max: float | None = None) -> tuple:
    """Exact one-pixel rings: ring k holds the pixels with ``k - 1/2 <= r < k + 1/2``.

    Rings run from 0 to ``floor(r_max)`` (default: the inscribed radius), so only
    pixels inside the inscribed circle count. See :func:`annulus_operator` for the
    returned ``(op, counts)``.
    """
    if r_max is None:
        r_max = inscribed_radius(shape, center)
    n = int(np.floor(r_max)) + 1
    edges = np.concatenate([[0.0], np.arange(n) + 0.5])
    return annulus_operator(shape, center, edges)


def polar_grid(r_max: float, n_r: int, n_phi: int) -> tuple[np.ndarray, np.ndarray]:
    """Radii (mid-points of ``n_r`` equal steps up to ``r_max``) and angles ``2 pi j / n_phi``."""
    radii = (np.arange(n_r) + 0.5) * (r_max / n_r)
    phis = np.arange(n_phi) * (2 * np.pi / n_phi)
    return radii, phis


@functools.lru_cache(maxsize=64)
def _polar_cached(key: tuple, r_max: float, n_r: int, n_phi: int):
    import scipy.sparse

    h, w, cy, cx = key
    radii, phis = polar_grid(r_max, n_r, n_phi)
    y = (cy + radii[:, None] * np.sin(phis)[None, :]).ravel()
    x = (cx + radii[:, None] * np.cos(phis)[None, :]).ravel()
    y0 = np.floor(y).astype(np.int64)
    x0 = np.floor(x).astype(np.int64)
    fy, fx = y - y0, x - x0
    rows, cols, vals = [], [], []
    sample = np.arange(y.size)
    for dy, dx, wgt in (
        (0, 0, (1 - fy) * (1 - fx)),
        (0, 1, (1 - fy) * fx),
        (1, 0, fy * (1 - fx)),
        (1, 1, fy * fx),
    ):
        yy, xx = y0 + dy, x0 + dx
        ok = (wgt > 0) & (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        rows.append(sample[ok])
        cols.append((yy * w + xx)[ok])
        vals.append(wgt[ok])
    op = scipy.sparse.csr_matrix(
        (np.concatenate(vals).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))),
        shape=(y.size, h * w),
    )
    op.sum_duplicates()
    return op


def polar_operator(shape, center, r_max: float, n_r: int, n_phi: int):
    """Bilinear (r, phi) resampling as one sparse matrix.

    Parameters
    ----------
    shape : (H, W)
    center : (row, col)
    r_max : float
        Outer radius of the grid (pixels); keep it <= the inscribed radius.
    n_r, n_phi : int
        Grid size; see :func:`polar_grid` for the sample positions.

    Returns
    -------
    scipy.sparse.csr_matrix, (n_r * n_phi, H * W) float32
        ``(op @ image.ravel()).reshape(n_r, n_phi)`` is the polar image.
    """
    return _polar_cached(_key(shape, center), float(r_max), int(n_r), int(n_phi))


_DEVICE_CACHE: dict = {}
_CSC_CACHE: dict = {}


def column_major(op):
    """CSC copy of the SciPy sparse matrix ``op`` (cached while ``op`` lives)."""
    key = id(op)
    hit = _CSC_CACHE.get(key)
    if hit is None or hit[0] is not op:
        if len(_CSC_CACHE) > 128:  # centres found per image can churn operators
            _CSC_CACHE.clear()
        csc = op.tocsc()
        csc.sort_indices()
        hit = (op, csc)
        _CSC_CACHE[key] = hit
    return hit[1]


def on_backend(op, xp: ModuleType):
    """The SciPy sparse matrix ``op`` on backend ``xp`` (cached copy for CuPy)."""
    if xp is np:
        return op
    key = id(op)
    hit = _DEVICE_CACHE.get(key)
    if hit is None or hit[0] is not op:
        if len(_DEVICE_CACHE) > 128:  # centres found per image can churn operators
            _DEVICE_CACHE.clear()
        hit = (op, sparse_module(xp).csr_matrix(op))
        _DEVICE_CACHE[key] = hit
    return hit[1]


def apply_operator_pixel_major(op, pixels):
    """Sparse operator applied to pixel-major data.

    Parameters
    ----------
    op : sparse (K, P) matrix (SciPy or CuPy)
    pixels : (P, B) C-contiguous ndarray
        Pixel-major batch (one column per image).

    Returns
    -------
    (K, B) ndarray
    """
    xp = get_array_module(pixels)
    return on_backend(op, xp) @ pixels


def apply_operator(op, images):
    """``op`` applied to each image of a batch.

    On the CPU each image is one product with the column-major (CSC) copy of ``op``:
    it streams the image's pixels in memory order and scatters into the small output,
    which stays in cache, and needs no transposed copy of the batch (a pixel-major
    copy cost as much as the products themselves). On the GPU the batch is one
    sparse-dense product.

    Parameters
    ----------
    op : scipy.sparse matrix, (K, H * W)
    images : (B, H, W) or (B, H * W) ndarray (NumPy or CuPy)

    Returns
    -------
    (B, K) ndarray (float32 for float32 images)
    """
    xp = get_array_module(images)
    b = images.shape[0]
    flat = images.reshape(b, -1)
    if xp is not np:
        pix = xp.ascontiguousarray(flat.T, dtype=xp.float32)
        return xp.ascontiguousarray(apply_operator_pixel_major(op, pix).T)
    csc = column_major(op)
    out = np.empty((b, op.shape[0]), dtype=np.result_type(op.dtype, flat.dtype))
    for i in range(b):
        out[i] = csc @ flat[i]
    return out
