"""Intensity scaling of CBED patterns.

CBED intensities span many orders of magnitude from the central disk outwards; the
ORNL challenge notebook shows ``I ** 0.25`` and published models use ``log``. Each
pattern is first divided by a reference intensity (its mean or maximum) so that every
feature computed afterwards is unchanged by a global intensity scale.
"""

from __future__ import annotations

from cbedfeat.features.backend import get_array_module

__all__ = ["positive_reference", "reference_intensity", "scale_intensity"]


def reference_intensity(images, normalize: str = "mean"):
    """Per-image reference intensity.

    Parameters
    ----------
    images : (B, H, W) ndarray
    normalize : {"mean", "max", "none"}

    Returns
    -------
    (B,) float32 ndarray
        Mean or maximum of each image (1 for ``"none"``; 1 where the reference is <= 0).
    """
    xp = get_array_module(images)
    b = images.shape[0]
    flat = images.reshape(b, -1)
    if normalize == "mean":
        # float32 pairwise summation: accurate to ~1e-7 here, and no float64 copy.
        ref = flat.sum(axis=1, dtype=xp.float32) / xp.float32(flat.shape[1])
    elif normalize == "max":
        ref = flat.max(axis=1)
    elif normalize == "none":
        ref = xp.ones(b, dtype=xp.float32)
    else:
        raise ValueError(f"normalize must be 'mean', 'max' or 'none', not {normalize!r}")
    return positive_reference(ref)


def positive_reference(ref):
    """Reference intensities as float32, 1 where they are <= 0 (a blank pattern).

    Parameters
    ----------
    ref : (B,) ndarray

    Returns
    -------
    (B,) float32 ndarray
    """
    xp = get_array_module(ref)
    return xp.where(ref > 0, ref, 1.0).astype(xp.float32)


def scale_intensity(
    images,
    *,
    scaling: str = "log",
    normalize: str = "mean",
    log_floor: float = 1e-3,
    power: float = 0.25,
    reference=None,
    out=None,
):
    """Normalise and scale intensities.

    ``log``: ``log(1 + max(I, 0) / (ref * log_floor))``, linear below ``log_floor``
    relative intensity and logarithmic above, >= 0 everywhere (zero where there is no
    signal, which the Zernike normalisation needs). ``power``:
    ``(max(I, 0) / ref) ** power``. ``none``: ``I / ref``.

    The feature pipeline applies its linear maps (ring means, polar resampling,
    binning) to raw intensities and scales their much smaller outputs, passing the
    images' ``reference``: about ten times fewer logarithms than scaling every pixel.

    Parameters
    ----------
    images : (B, ...) ndarray
        Raw intensities (NumPy or CuPy), e.g. ``(B, H, W)`` images or values derived
        from them linearly; left unchanged unless passed as ``out``.
    scaling : {"log", "power", "none"}
    normalize : {"mean", "max", "none"}
        Reference intensity, see :func:`reference_intensity`.
    log_floor, power : float
    reference : (B,) ndarray, optional
        Reference intensities to use instead of computing them from ``images``.
    out : float32 ndarray like ``images``, optional
        Destination (may be ``images`` itself when it is float32).

    Returns
    -------
    float32 ndarray, the shape of ``images``
    """
    xp = get_array_module(images)
    ref = reference_intensity(images, normalize) if reference is None else xp.asarray(reference)
    if scaling == "log":
        factor = (1.0 / (ref * xp.float32(log_floor))).astype(xp.float32)
    elif scaling in ("power", "none"):
        factor = (1.0 / ref).astype(xp.float32)
    else:
        raise ValueError(f"scaling must be 'log', 'power' or 'none', not {scaling!r}")
    factor = factor.reshape((-1,) + (1,) * (images.ndim - 1))
    if out is None:
        out = xp.empty(images.shape, dtype=xp.float32)
    # In place, one pass per operation: these images are large (1 MB each at 512 x 512).
    xp.multiply(images, factor, out=out, casting="unsafe")
    xp.maximum(out, 0, out=out)
    if scaling == "log":
        # log(1 + x) as log of (x + 1): float32 log1p has no SIMD path in NumPy and is
        # about 4x slower; rounding 1 + x costs < 1e-7 absolute, far below any feature.
        out += xp.float32(1.0)
        xp.log(out, out=out)
    elif scaling == "power":
        xp.power(out, xp.float32(power), out=out)
    return out
