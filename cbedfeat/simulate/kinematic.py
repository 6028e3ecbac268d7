"""Kinematic (two-beam per reflection) convergent beam electron diffraction patterns.

A pattern is rendered in the geometry of the ORNL data set (see
``reference/ornl_layout.md``): a square detector of ``shape`` pixels of ``pixel_size``
1/A, the direct beam at the image centre (row H // 2, column W // 2), signal inside the
inscribed circle, convergence semi-angle alpha = lambda / (4 d_ref) so that the disks
(radius alpha / lambda = 1 / (4 d_ref) in 1/A) of the reference reflection touch
half-way and never overlap.

Physics (Williams & Carter, *Transmission Electron Microscopy*, 2nd ed., Springer 2009,
chapters "Diffracted beams" and "Convergent-beam techniques"; Spence & Zuo, *Electron
Microdiffraction*, Plenum 1992; Hirsch, Howie, Nicholson, Pashley & Whelan, *Electron
Microscopy of Thin Crystals*, Butterworths 1965, kinematical and two-beam theory):

* reflections g = h b1 + k b2 + l b3 of the zero-order Laue zone (ZOLZ) whose disks
  reach the detector, and of the higher-order zones (HOLZ, N = h u + k v + l w != 0)
  that come within a few rocking-curve widths of the Ewald sphere somewhere in the
  disk of incident directions;
* structure factors F_g = sum_j f_j(s) exp(-B s^2) exp(2 pi i g . r_j) over every atom
  of the cell (s = |g| / 2), so systematic absences arise by themselves; f_j are the
  electron scattering factors of :mod:`cbedfeat.simulate.scattering`;
* extinction distance xi_g = pi V cos(theta_B) / (lambda gamma |F_g|);
* every pixel of a disk is one incident wave vector k = t + k_z e_z (tilt t with
  |t| <= alpha / lambda, plus an optional mistilt), with excitation error
  s_g = (|k|^2 - |k + g|^2) / (2 |k|) = -(2 k . g + |g|^2) / (2 |k|);
* the two-beam rocking curve I_g = sin^2(pi t s_eff) / (xi_g s_eff)^2 with
  s_eff = sqrt(s_g^2 + xi_g^-2) (Howie-Whelan; it reduces to the kinematic
  (lambda gamma |F_g| / V)^2 sin^2(pi t s) / (pi s)^2 for weak beams and stays below 1
  for strong ones);
* flux conservation, as a heuristic in place of many-beam dynamical theory: the beams
  are renormalised per incident direction, so that the
  bright-field disk is 1 / (1 + S(t)) and a diffracted disk I_g(t) / (1 + S(t)),
  S(t) = sum_g I_g(t). HOLZ reflections (also those whose own disks fall outside the
  detector) take intensity out of the bright-field disk along thin deficit lines.

This is not dynamical theory: Friedel's law holds, so patterns show the Laue class and
the systematic absences, not the full point group (``reference/cbed_physics.md``).
Disk centres are rounded to the nearest pixel (at most 0.005 1/A at the ORNL pixel
size); the excitation errors use the exact tilts.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from cbedfeat.simulate.scattering import (
    electron_wavelength,
    max_amplitude,
    relativistic_gamma,
    structure_factors,
)
from cbedfeat.simulate.zone_geometry import (
    detector_frame,
    laue_zone,
    primitive_uvw,
    reciprocal_basis,
    zone_basis,
)

__all__ = [
    "RenderOptions",
    "detector_mask",
    "finish_pattern",
    "reference_reflection",
    "render_pattern",
    "structure_factors",
]

#: largest in-plane |g| (1/A) of HOLZ reflections that may cut the bright-field disk with a
#: deficit line although their own disks lie outside the ORNL detector (radius 2.56 1/A)
HOLZ_G_MAX = 3.5
#: relative |F_g| / sum_j f_j(s) below which a reflection counts as extinct
EXTINCTION_REL = 1e-3
# 1/A: HOLZ reflections further than this (or 3.5 / thickness) from the Ewald sphere
# everywhere in the disk are not even enumerated; the finer cut below uses xi_g
_S_PREFILTER = 0.02
_CACHE_SIZE = 256


@dataclass(frozen=True)
class RenderOptions:
    """Experimental conditions of one rendered pattern.

    Attributes
    ----------
    thickness_A : float
        Specimen thickness in Angstrom.
    debye_waller_B : float
        Isotropic Debye-Waller factor B in A^2 (amplitudes damped by exp(-B s^2)).
    dose : float or None
        Incident electrons per pixel for Poisson noise (the unscattered bright field is
        1 per pixel); None renders the noiseless expectation.
    blur_px : float
        Standard deviation of a Gaussian detector blur in pixels (0: none).
    mistilt_mrad : float
        Beam tilt away from the exact zone axis in mrad (azimuth drawn from ``rng``);
        it shifts the Laue circle and breaks the pattern's symmetry as on a microscope.
    shape : (int, int)
        Pattern size (H, W) in pixels.
    pixel_size : float
        Reciprocal-space size of a pixel in 1/A (0.01 in the ORNL data).
    """

    thickness_A: float = 500.0
    debye_waller_B: float = 0.5
    dose: float | None = None
    blur_px: float = 0.0
    mistilt_mrad: float = 0.0
    shape: tuple[int, int] = (512, 512)
    pixel_size: float = 0.01

    def __post_init__(self) -> None:
        if not self.thickness_A > 0:
            raise ValueError(f"thickness_A must be > 0, got {self.thickness_A}")
        if self.debye_waller_B < 0:
            raise ValueError(f"debye_waller_B must be >= 0, got {self.debye_waller_B}")
        if self.dose is not None and not self.dose > 0:
            raise ValueError(f"dose must be > 0 or None, got {self.dose}")
        if self.blur_px < 0 or self.mistilt_mrad < 0:
            raise ValueError("blur_px and mistilt_mrad must be >= 0")
        if len(self.shape) != 2 or min(self.shape) < 8:
            raise ValueError(f"shape must be (H, W) with H, W >= 8, got {self.shape}")
        if not self.pixel_size > 0:
            raise ValueError(f"pixel_size must be > 0, got {self.pixel_size}")


def _crystal_key(crystal) -> tuple:
    return (
        np.ascontiguousarray(crystal.lattice, dtype=float).tobytes(),
        np.ascontiguousarray(crystal.frac, dtype=float).tobytes(),
        np.ascontiguousarray(crystal.numbers, dtype=np.int64).tobytes(),
    )


class _LRU(OrderedDict):
    def get_or(self, key, make):
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = self[key] = make()
        if len(self) > _CACHE_SIZE:
            self.popitem(last=False)
        return value


_REFERENCE_CACHE = _LRU()


def reference_reflection(crystal, uvw) -> tuple[float, np.ndarray]:
    """The reference reflection of a zone axis: the shortest disk spacing of its ZOLZ.

    Normally the shortest non-extinct ZOLZ reflection (|F_g| > 1e-3 sum_j f_j(s), no
    Debye-Waller factor). Where a screw axis or a glide leaves a row of the ZOLZ with
    absences (e.g. 00l, l != 3n, of P3_1 seen along [100]) two allowed disks can sit
    closer together than the shortest allowed reflection; the reference is then that
    shorter lattice vector (itself extinct), so that alpha = lambda / (4 d_ref) keeps
    every pair of disks apart, as in the ORNL data. Among vectors of equal length
    (within 1e-6) the lexicographically largest hkl is taken, so the choice is
    deterministic and independent of the beam energy.

    Parameters
    ----------
    crystal : Crystal
    uvw : (3,) array_like of int
        Zone axis.

    Returns
    -------
    d_ref : float
        d-spacing 1 / |g| in Angstrom.
    hkl : (3,) ndarray of int
    """
    uvw = primitive_uvw(uvw)
    key = (*_crystal_key(crystal), tuple(int(x) for x in uvw))
    d, hkl = _REFERENCE_CACHE.get_or(key, lambda: _find_reference(crystal, uvw))
    return d, hkl.copy()


def _find_reference(crystal, uvw: np.ndarray) -> tuple[float, np.ndarray]:
    recip = reciprocal_basis(crystal.lattice)
    basis = zone_basis(recip, uvw)
    # any in-plane reference gives the same lengths: use the first ZOLZ basis vector
    frame = detector_frame(crystal.lattice, uvw, basis.p @ recip)
    g_max = 4.0 * np.linalg.norm(basis.q @ recip)
    for _ in range(6):
        hkl, g = laue_zone(recip, basis, frame, 0, g_max)
        amp = np.abs(structure_factors(crystal, hkl))
        ok = amp > EXTINCTION_REL * max_amplitude(crystal, hkl)
        if ok.sum() >= 2:
            break
        g_max *= 2.0  # a whole shell extinct (e.g. long screw axes): look further out
    else:
        raise ValueError(f"no allowed ZOLZ reflection found for zone axis {uvw.tolist()}")
    glen = np.linalg.norm(g, axis=1)
    allowed = {tuple(h) for h in hkl[ok]}
    g_allowed = glen[ok].min()
    # lattice vectors no longer than the shortest allowed reflection, shortest first:
    # the first one joining two allowed disks (or the direct beam) is the spacing
    order = np.lexsort((-hkl[:, 2], -hkl[:, 1], -hkl[:, 0], np.round(glen / g_allowed, 6)))
    for i in order:
        if glen[i] > g_allowed * (1 + 1e-6):
            break
        v = hkl[i]
        if ok[i] or any((a + v[0], b + v[1], c + v[2]) in allowed for a, b, c in allowed):
            return 1.0 / float(glen[i]), v.astype(int)
    raise AssertionError("unreachable: the shortest allowed reflection qualifies")


@lru_cache(maxsize=8)
def detector_mask(height: int, width: int) -> np.ndarray:
    """(H, W) bool: the inscribed circle of the detector around (H // 2, W // 2)."""
    yy, xx = np.ogrid[:height, :width]
    mask = (yy - height // 2) ** 2 + (xx - width // 2) ** 2 <= (min(height, width) / 2.0) ** 2
    mask.setflags(write=False)
    return mask


def finish_pattern(image: np.ndarray, opts: RenderOptions, rng: np.random.Generator) -> np.ndarray:
    """Detector effects shared by the engines: blur, the inscribed circle, Poisson noise.

    Parameters
    ----------
    image : (H, W) ndarray
        Noiseless intensities in units of the incident beam per pixel (overwritten).
    opts : RenderOptions
        ``blur_px`` and ``dose`` are applied.
    rng : numpy.random.Generator
        Source of the Poisson noise (drawn only when ``dose`` is set).

    Returns
    -------
    (H, W) ndarray of float32
        Non-negative, zero outside the inscribed circle.
    """
    inside_circle = detector_mask(*image.shape)
    if opts.blur_px > 0:
        from scipy.ndimage import gaussian_filter

        image = gaussian_filter(
            image.astype(np.float32), opts.blur_px, mode="constant", truncate=3.0
        )
    image[~inside_circle] = 0.0
    if opts.dose is not None:
        counts = rng.poisson(np.maximum(image[inside_circle], 0.0) * opts.dose)
        image[inside_circle] = counts / opts.dose
    return np.maximum(image, 0.0).astype(np.float32)


def _disk_offsets(radius_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Integer pixel offsets (drow, dcol) inside a disk of radius ``radius_px``."""
    n = int(np.floor(radius_px))
    ax = np.arange(-n, n + 1)
    dr, dc = np.meshgrid(ax, ax, indexing="ij")
    inside = dr**2 + dc**2 <= radius_px**2
    return dr[inside], dc[inside]


def _reflections(recip, basis, frame, wavenumber, disk_r, tilt0, g_det, s_pre):
    """ZOLZ reflections up to the detector edge and HOLZ ones near the Ewald sphere."""
    hkl = [np.zeros((0, 3), dtype=int)]
    gs = [np.zeros((0, 3))]
    h0, g0 = laue_zone(recip, basis, frame, 0, g_det + disk_r)
    hkl.append(h0)
    gs.append(g0)
    g_holz = max(g_det + disk_r, HOLZ_G_MAX)
    t_len = np.linalg.norm(basis.uvw @ np.linalg.inv(recip).T)  # |u a1 + v a2 + w a3|
    tilt_max = disk_r + np.linalg.norm(tilt0)
    band = 2.0 * wavenumber * s_pre + 2.0 * tilt_max * g_holz
    n_max = int(t_len * (g_holz**2 / (2 * wavenumber) + band / (2 * wavenumber))) + 1
    for n in range(-n_max, n_max + 1):
        if n == 0:
            continue
        gz = n / t_len
        ring2 = -2.0 * wavenumber * gz - gz**2  # |g_perp|^2 on the Ewald sphere at t = 0
        hi2 = ring2 + band
        if hi2 <= 0:
            continue
        lo = np.sqrt(max(ring2 - band, 0.0))
        h, g = laue_zone(recip, basis, frame, n, min(np.sqrt(hi2), g_holz), lo)
        hkl.append(h)
        gs.append(g)
    return np.concatenate(hkl), np.concatenate(gs), len(h0)


def _excitation_error(g: np.ndarray, kx, ky, kz, wavenumber) -> np.ndarray:
    """s_g = -(2 k . g + |g|^2) / (2 |k|) for reflections (M,) x incident vectors (P,)."""
    g2 = np.einsum("ij,ij->i", g, g)
    kg = np.outer(g[:, 0], kx) + np.outer(g[:, 1], ky) + np.outer(g[:, 2], kz)
    return -(kg + 0.5 * g2[:, None]) / wavenumber


def render_pattern(
    crystal, uvw, energy_keV: float, *, options: RenderOptions | None = None, rng=None
) -> tuple[np.ndarray, dict]:
    """Render one CBED pattern of a crystal along zone axis [uvw].

    Parameters
    ----------
    crystal : Crystal
        ``lattice`` (3, 3) rows in A, ``frac`` (N, 3) of all atoms, ``numbers`` (N,).
    uvw : (3,) array_like of int
        Zone axis (beam direction u a1 + v a2 + w a3).
    energy_keV : float
        Beam energy.
    options : RenderOptions, optional
    rng : numpy.random.Generator, int or None
        Source of the mistilt azimuth and the Poisson noise (drawn in that order, only
        when used); an int or None seeds a new generator (None: seed 0), so the same
        seed always gives the same bytes.

    Returns
    -------
    pattern : (H, W) ndarray of float32
        Non-negative intensities in units of the incident beam per pixel, zero outside
        the inscribed circle. Rows run along -y (the reference reflection lies above the
        centre), columns along +x.
    info : dict
        ``d_hkl`` (reference d-spacing, A), ``semi_angle`` (alpha = lambda / (4 d_hkl),
        rad), ``y_dir`` ((3,) float, hkl of the reference reflection: the detector's
        +y axis), ``hkl_ref`` ((3,) int), ``wavelength_A``, ``disk_radius_px``,
        ``n_reflections`` (disks drawn besides the direct beam), ``n_holz`` (HOLZ
        reflections in the calculation), ``hkl`` ((M, 3) int, drawn reflections),
        ``laue_zone`` ((M,) int), ``centres_px`` ((M, 2) float, row and column of the
        drawn disk centres), ``beam_dir`` ((3,) cartesian unit vector),
        ``mistilt_azimuth`` (rad).
    """
    opts = RenderOptions() if options is None else options
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(0 if rng is None else rng)
    uvw = primitive_uvw(uvw)
    lam = electron_wavelength(energy_keV)
    wavenumber = 1.0 / lam
    gamma = relativistic_gamma(energy_keV)
    d_ref, hkl_ref = reference_reflection(crystal, uvw)
    recip = reciprocal_basis(crystal.lattice)
    basis = zone_basis(recip, uvw)
    frame = detector_frame(crystal.lattice, uvw, hkl_ref @ recip)
    volume = abs(float(np.linalg.det(np.asarray(crystal.lattice, dtype=float))))

    height, width = opts.shape
    px = opts.pixel_size
    cy, cx = height // 2, width // 2
    r_det_px = min(height, width) / 2.0
    g_det = r_det_px * px
    disk_r = 1.0 / (4.0 * d_ref)  # alpha / lambda
    dr, dc = _disk_offsets(disk_r / px)
    azimuth = 0.0
    tilt0 = np.zeros(2)
    if opts.mistilt_mrad > 0:
        azimuth = float(rng.uniform(0.0, 2.0 * np.pi))
        tilt0 = opts.mistilt_mrad * 1e-3 * wavenumber * np.array([np.cos(azimuth), np.sin(azimuth)])
    kx = tilt0[0] + dc * px
    ky = tilt0[1] - dr * px  # rows run along -y
    kz = np.sqrt(wavenumber**2 - kx**2 - ky**2)

    hkl, g, n_zolz = _reflections(
        recip,
        basis,
        frame,
        wavenumber,
        disk_r,
        tilt0,
        g_det,
        max(_S_PREFILTER, 3.5 / opts.thickness_A),
    )
    amp = np.abs(structure_factors(crystal, hkl, debye_waller_B=opts.debye_waller_B))
    glen = np.linalg.norm(g, axis=1)
    cos_theta = np.sqrt(1.0 - np.minimum((0.5 * lam * glen) ** 2, 1.0))
    inv_xi = lam * gamma * amp / (np.pi * volume * cos_theta)  # 1 / xi_g
    gperp = np.hypot(g[:, 0], g[:, 1])
    keep = amp > 1e-6  # systematic absences: |F| ~ 1e-15 A
    is_holz = np.arange(len(hkl)) >= n_zolz
    if is_holz.any():
        # HOLZ: keep where the Ewald sphere passes within 3 rocking-curve widths
        s0 = _excitation_error(
            g[is_holz], tilt0[:1], tilt0[1:], np.sqrt([wavenumber**2 - tilt0 @ tilt0]), wavenumber
        )[:, 0]
        s_min = np.abs(s0) - gperp[is_holz] * disk_r / wavenumber * 1.05
        width_s = 3.0 * np.maximum(1.0 / opts.thickness_A, inv_xi[is_holz])
        keep[is_holz] &= s_min <= width_s
    hkl, g, inv_xi, gperp, is_holz = hkl[keep], g[keep], inv_xi[keep], gperp[keep], is_holz[keep]

    s = _excitation_error(g, kx, ky, kz, wavenumber)  # (M, P)
    s_eff2 = s * s + (inv_xi * inv_xi)[:, None]
    inten = np.sin(np.pi * opts.thickness_A * np.sqrt(s_eff2)) ** 2
    inten *= (inv_xi * inv_xi)[:, None] / s_eff2
    norm = 1.0 / (1.0 + inten.sum(axis=0))  # (P,)

    drawn = gperp <= g_det + disk_r
    crow = cy - np.rint(g[drawn, 1] / px).astype(int)
    ccol = cx + np.rint(g[drawn, 0] / px).astype(int)
    rows = np.concatenate([cy + dr, (crow[:, None] + dr[None, :]).ravel()])
    cols = np.concatenate([cx + dc, (ccol[:, None] + dc[None, :]).ravel()])
    vals = np.concatenate([norm, (inten[drawn] * norm[None, :]).ravel()])
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    image = np.bincount(
        rows[inside] * width + cols[inside], weights=vals[inside], minlength=height * width
    ).reshape(height, width)

    pattern = finish_pattern(image, opts, rng)

    zone_index = hkl[drawn] @ uvw
    info = {
        "d_hkl": float(d_ref),
        "semi_angle": float(lam / (4.0 * d_ref)),
        "y_dir": hkl_ref.astype(float),
        "hkl_ref": hkl_ref,
        "wavelength_A": lam,
        "disk_radius_px": disk_r / px,
        "n_reflections": int(drawn.sum()),
        "n_holz": int(is_holz.sum()),
        "hkl": hkl[drawn],
        "laue_zone": zone_index,
        "centres_px": np.stack([crow, ccol], axis=1).astype(float),
        "beam_dir": frame[2],
        "mistilt_azimuth": azimuth,
    }
    return pattern, info
