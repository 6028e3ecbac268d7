"""Is a pattern centred where the features assume? A cheap check of one stack per file.

The features take the pattern centre at the image centre ``(H // 2, W // 2)`` by default
(``FeatureConfig(center="image")``), as in the ORNL data and every FFT-shifted simulated
pattern. Patterns from another source may put the direct beam elsewhere, and one pixel
off is enough to ruin the features (``bench/bench_centring.py``). Checking every pattern
would cost more than the features; the first stack of each file is checked instead
(:func:`geometry.inversion_center`, about 25 ms a pattern), and an offset beyond
:data:`OFF_CENTRE_PX` is reported with the file and sample, so the user can extract with
``center: inversion``.
"""

from __future__ import annotations

import numpy as np

from cbedfeat.features import geometry

OFF_CENTRE_PX = 0.5  # the found centre is good to about 0.1-0.3 px on CBED patterns
ADVICE = "the features assume the image centre; extract with `center: inversion` in --config"


def centre_offsets(stack: np.ndarray) -> np.ndarray:
    """(3,) distance in pixels of each pattern's symmetry centre from the image centre.

    Parameters
    ----------
    stack : (3, H, W) array_like
    """
    stack = np.asarray(stack, dtype=np.float32)
    found = np.asarray(geometry.inversion_center(stack))
    expected = np.asarray(geometry.image_center(stack.shape[-2:]))
    return np.hypot(*(found - expected).T)


def off_centre_record(
    stack: np.ndarray, file: str, group: str, center: str = "image"
) -> dict | None:
    """A record ``{file, group, offset_px, reason}`` when the stack is off the centre the
    features assume; None when it is centred, or when the features find the centre
    themselves (``center`` other than ``"image"``). The offset of the stack is the median
    of its three patterns'."""
    if center != "image":
        return None
    # The three patterns of a stack share one detector, so a real offset moves all of
    # them; the median ignores one pattern whose centre search failed (a pattern with a
    # single short row of disks has no well-defined inversion centre).
    offset = float(np.median(centre_offsets(stack)))
    if offset <= OFF_CENTRE_PX:
        return None
    return {
        "file": str(file),
        "group": str(group),
        "offset_px": round(offset, 2),
        "reason": f"pattern centre {offset:.1f} px from the image centre; {ADVICE}",
    }
