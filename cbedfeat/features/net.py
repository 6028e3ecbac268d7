"""The ZOLZ disk net read as ratios and parities: features that hold up in both physics.

Disk positions are geometry: kinematic and dynamical (multislice) patterns of one
crystal put their disks on the same 2-D net, while the intensities differ. This family
keeps to what the net says and what survives a change of intensity model:

* the shape of the net, scale-free: ``|v2| / |v1|`` of the reduced net vectors and the
  bright-field disk radius over ``|v1|`` (the convergence semi-angle is lambda / (4 d)
  of the shortest disk spacing, so 1/4 for a primitive net; about 1/8 where a screw or
  glide empties every other site of the shortest row);
* the autocorrelation at the net's lattice lags ``i v1 + j v2`` (normalised to 1 at
  zero lag, after the azimuthal mean is removed): it is high at a lag where the disks
  of the net repeat, lower where extinctions (every other site of a row, ``h + k`` odd
  of a centred net) leave only every second disk; dynamical patterns refill such
  disks, more weakly, so the contrast shrinks but keeps its sign;
* parity contrasts: the lag ``2 v`` against ``v`` along each axis and the two diagonals
  ``v1 + v2`` against ``v1 - v2`` (equal on a rectangular centred net).

Everything comes from the autocorrelation that :mod:`cbedfeat.features.autocorr`
computes and its two reduced lattice vectors; no other pass over the pixels. See
``reference/cbed_physics.md``, "Where the lattice and the absences show".
"""

from __future__ import annotations

import numpy as np

from cbedfeat.features.backend import to_numpy

__all__ = ["NET_LAGS", "net_features", "net_feature_names"]

#: lattice lags (i, j) of ``i v1 + j v2`` sampled in the autocorrelation
NET_LAGS: tuple[tuple[int, int], ...] = (
    (1, 0),
    (0, 1),
    (1, 1),
    (1, -1),
    (2, 0),
    (0, 2),
    (2, 1),
    (1, 2),
    (2, -1),
    (1, -2),
    (2, 2),
    (3, 0),
    (0, 3),
)


def _lag_name(i: int, j: int) -> str:
    return f"{i}{j}".replace("-", "m")


def net_feature_names() -> list[str]:
    """Names of the family for one pattern (without the ``p{i}_`` prefix)."""
    return (
        ["net_found", "net_ratio", "net_disk_ratio"]
        + [f"net_acf_{_lag_name(i, j)}" for i, j in NET_LAGS]
        + ["net_parity1", "net_parity2", "net_centring"]
    )


def net_features(acf, vectors, disk_radius_px, bin_factor: int) -> np.ndarray:
    """The family's values for a batch of patterns.

    Parameters
    ----------
    acf : (B, 2 L + 1, 2 L + 1) ndarray
        Autocorrelations with zero lag at ``[L, L]`` (:func:`autocorr.autocorrelation`),
        in binned pixels.
    vectors : (B, 2, 2) ndarray
        Reduced net vectors ``(row, col)`` in binned pixels, zeros where none was found
        (:func:`autocorr.lattice_vectors`).
    disk_radius_px : (B,) ndarray
        Bright-field disk radius in original pixels.
    bin_factor : int
        Original pixels per binned pixel.

    Returns
    -------
    (B, F) float32 ndarray
        Columns of :func:`net_feature_names`; a pattern without a net gets zeros
        (``net_found`` 0).
    """
    acf = to_numpy(acf)
    vec = np.asarray(to_numpy(vectors), dtype=np.float64)
    disk = np.asarray(to_numpy(disk_radius_px), dtype=np.float64).reshape(-1)
    b, n, _ = acf.shape
    lag0 = n // 2
    len1 = np.hypot(vec[:, 0, 0], vec[:, 0, 1])
    len2 = np.hypot(vec[:, 1, 0], vec[:, 1, 1])
    found = (len1 > 0) & (len2 > 0)
    safe1 = np.where(found, len1, 1.0)
    out = np.zeros((b, len(net_feature_names())), dtype=np.float64)
    out[:, 0] = found
    out[:, 1] = np.where(found, len2 / safe1, 0.0)
    out[:, 2] = np.where(found, disk / (safe1 * bin_factor), 0.0)
    ij = np.asarray(NET_LAGS, dtype=np.float64)  # (K, 2)
    # Lags of every (i, j) for every pattern: (B, K, 2), rounded to the binned grid.
    lags = ij[None, :, 0, None] * vec[:, None, 0, :] + ij[None, :, 1, None] * vec[:, None, 1, :]
    rows = np.rint(lags[..., 0]).astype(np.int64) + lag0
    cols = np.rint(lags[..., 1]).astype(np.int64) + lag0
    inside = (rows >= 0) & (rows < n) & (cols >= 0) & (cols < n) & found[:, None]
    batch = np.broadcast_to(np.arange(b)[:, None], rows.shape)
    values = np.zeros(rows.shape)
    values[inside] = acf[batch[inside], rows[inside], cols[inside]]
    out[:, 3 : 3 + len(NET_LAGS)] = values
    at = {lag: values[:, k] for k, lag in enumerate(NET_LAGS)}
    out[:, -3] = at[(2, 0)] - at[(1, 0)]
    out[:, -2] = at[(0, 2)] - at[(0, 1)]
    out[:, -1] = at[(1, 1)] - at[(1, -1)]
    return out.astype(np.float32)
