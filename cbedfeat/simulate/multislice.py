"""Dynamical CBED patterns by multislice (abTEM), in the geometry of the ORNL data.

The real ORNL patterns were computed by multislice: the bright-field disk dominates,
intensity moves between beams, Friedel's law fails without an inversion centre, and
kinematically forbidden reflections come back by double diffraction. This engine
renders the project's own random crystals and zone axes that way, with abTEM
(Madsen & Susi, *Open Research Europe* 1, 24 (2021); PyPI ``abtem``, GPL-3, installed
with the ``dynamical`` extra and imported only here).

Geometry, as :mod:`cbedfeat.simulate.kinematic`: a box of ``1 / pixel_size`` A
(100 A) sampled on ``shape`` points, so the diffraction pattern has the ORNL pixel size
(0.01 1/A); the beam along the zone axis [uvw], the reference reflection along the
detector's +y (rows run along -y), the convergence semi-angle lambda / (4 d_ref).

Cost. Along the beam a crystal repeats after the lattice vector T = u a1 + v a2 + w a3,
which points exactly along the beam, so the atoms of one period P = |T| have the same
(x, y) in every period. The potential is built for one period only (sliced into
ceil(P / max_slice_A) slices, each <= 2 A) and the wave is propagated through it
round(t / P) times: the thickness is a whole number of periods (recorded as
``thickness_A`` in the info). The potential of a zone axis is built once and serves
every energy and probe position.

Physics left out: no frozen phonons (so no Debye-Waller damping and no thermal diffuse
background), no absorption, no partial coherence beyond the incoherent mean over the
probe positions, and no aberrations (the probe is focused on the entrance surface).

abTEM's anti-aliasing aperture keeps spatial frequencies below 2/3 of the Nyquist
frequency: at ``oversampling=1`` (512 points over 100 A) the pattern reaches 1.71 1/A
(a radius of 171 pixels), at ``oversampling=1.5`` (768 points) it fills the detector's
inscribed circle (2.56 1/A) at about twice the cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from cbedfeat.simulate.kinematic import (
    RenderOptions,
    finish_pattern,
    reference_reflection,
)
from cbedfeat.simulate.scattering import electron_wavelength
from cbedfeat.simulate.zone_geometry import (
    detector_frame,
    primitive_uvw,
    reciprocal_basis,
    zone_basis,
)

__all__ = [
    "MultisliceSettings",
    "ZoneAxisPotential",
    "crystal_period_atoms",
    "import_abtem",
    "render_pattern_multislice",
]

#: what to install when abTEM is missing
INSTALL_HINT = "pip install 'cbedfeat[dynamical]' (abTEM, GPL-3)"


def import_abtem():
    """Import abTEM, configured for quiet, eager, reproducible CPU or GPU runs.

    Returns
    -------
    module
        ``abtem``.

    Raises
    ------
    ImportError
        Naming the extra to install, when abTEM is missing or broken.
    """
    try:
        import abtem
    except Exception as exc:  # a broken install must say what to do, whatever it raises
        raise ImportError(
            f"the multislice engine needs abTEM, which is not importable ({exc}); "
            f"install it with: {INSTALL_HINT}"
        ) from exc
    _configure(abtem)
    return abtem


@lru_cache(maxsize=1)
def _configure_once(abtem) -> None:
    fft = "fftw"
    try:
        import pyfftw  # noqa: F401 - abTEM's default FFT backend
    except Exception:
        fft = "numpy"
    abtem.config.set(
        {
            "diagnostics.progress_bar": False,
            "dask.lazy": False,
            "precision": "float32",
            "fft": fft,
            # Measured plans are 7x faster here than estimated ones, but the plan FFTW picks
            # can change between runs, and with it the float32 rounding (~1e-6 relative):
            # the same seed gives the same patterns to that tolerance, not the same bytes.
            "fftw.planning_effort": "FFTW_MEASURE",
            "fftw.threads": 1,
        }
    )


def _configure(abtem) -> None:
    _configure_once(abtem)


@dataclass(frozen=True)
class MultisliceSettings:
    """Numerical settings of the multislice engine (the experiment is in RenderOptions).

    Attributes
    ----------
    probe_grid : int
        The stored pattern is the mean over ``probe_grid`` x ``probe_grid`` probe
        positions spread evenly over one projected unit cell (the ORNL data used 8 x 8;
        the cost grows with the square).
    oversampling : float
        Real-space grid points per detector pixel along each axis (>= 1): 1 gives the
        detector's pixel count (signal out to 2/3 of the Nyquist frequency), 1.5 fills
        the inscribed circle.
    max_slice_A : float
        Largest slice thickness in A.
    device : {'cpu', 'cuda'}
        Where abTEM computes (CuPy on a GPU for 'cuda').
    parametrization : {'lobato', 'kirkland'}
        abTEM's parametrisation of the atomic potentials.
    """

    probe_grid: int = 1
    oversampling: float = 1.0
    max_slice_A: float = 2.0
    device: str = "cpu"
    parametrization: str = "lobato"

    def __post_init__(self) -> None:
        if int(self.probe_grid) != self.probe_grid or self.probe_grid < 1:
            raise ValueError(f"probe_grid must be an integer >= 1, got {self.probe_grid}")
        if not self.oversampling >= 1.0:
            raise ValueError(f"oversampling must be >= 1, got {self.oversampling}")
        if not 0 < self.max_slice_A <= 5.0:
            raise ValueError(f"max_slice_A must be in (0, 5], got {self.max_slice_A}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {self.device!r}")
        if self.parametrization not in ("lobato", "kirkland"):
            raise ValueError(f"unknown parametrization {self.parametrization!r}")


def crystal_period_atoms(crystal, frame: np.ndarray, period_A: float, box_A: float):
    """Atoms of one period along the beam filling a ``box_A`` x ``box_A`` column.

    Parameters
    ----------
    crystal : Crystal
        ``lattice`` (3, 3) rows in A, ``frac`` (N, 3), ``numbers`` (N,).
    frame : (3, 3) ndarray
        Detector frame, rows e_x, e_y, e_z (:func:`~cbedfeat.simulate.zone_geometry.detector_frame`).
    period_A : float
        Length of the lattice vector along the beam, |u a1 + v a2 + w a3|.
    box_A : float
        Lateral size of the (periodic) simulation box.

    Returns
    -------
    numbers : (M,) ndarray of int
    positions : (M, 3) ndarray
        x, y in [0, box_A) with the crystal's origin at the box centre, z in
        [0, period_A): each atom of the infinite column once.
    """
    lat = np.asarray(crystal.lattice, dtype=float)
    cart = np.asarray(crystal.frac, dtype=float) @ lat
    centre = np.array([box_A / 2, box_A / 2, 0.0])
    corners = (
        np.array([[x, y, z] for x in (0.0, box_A) for y in (0.0, box_A) for z in (0.0, period_A)])
        - centre
    )
    frac = corners @ frame @ np.linalg.inv(lat)  # detector frame -> cartesian -> fractional
    lo = np.floor(frac.min(axis=0)) - 1
    hi = np.ceil(frac.max(axis=0)) + 1
    axes = [np.arange(lo[i], hi[i] + 1) for i in range(3)]
    shifts = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3) @ lat
    pos = (shifts[:, None, :] + cart[None, :, :]).reshape(-1, 3) @ frame.T + centre
    numbers = np.tile(np.asarray(crystal.numbers, dtype=int), len(shifts))
    # Half-open in z with a tolerance: an atom and its copy one period up are the same
    # atom, and exactly one of the two lies in [-eps, P - eps).
    eps = 1e-6 * max(period_A, 1.0)
    keep = (
        (pos[:, 0] >= 0)
        & (pos[:, 0] < box_A)
        & (pos[:, 1] >= 0)
        & (pos[:, 1] < box_A)
        & (pos[:, 2] >= -eps)
        & (pos[:, 2] < period_A - eps)
    )
    pos = pos[keep]
    pos[:, 2] = np.clip(pos[:, 2], 0.0, None)
    return numbers[keep], pos


def probe_positions(
    recip: np.ndarray, uvw: np.ndarray, frame: np.ndarray, grid: int, box_A: float
) -> np.ndarray:
    """(grid**2, 2) probe positions (A) evenly over one projected cell at the box centre.

    The projected cell is spanned by the real-space duals of the two ZOLZ basis
    vectors: the 2-D lattice the crystal's projection along the beam repeats on.
    """
    basis = zone_basis(recip, uvw)
    gp = (basis.p @ recip) @ frame.T
    gq = (basis.q @ recip) @ frame.T
    cell = np.linalg.inv(np.array([gp[:2], gq[:2]])).T  # rows A, B with A . gp = 1, A . gq = 0
    f = (np.arange(grid) + 0.5) / grid - 0.5
    fa, fb = np.meshgrid(f, f, indexing="ij")
    xy = fa.reshape(-1, 1) * cell[0] + fb.reshape(-1, 1) * cell[1]
    return xy + box_A / 2


class ZoneAxisPotential:
    """The sliced potential of a crystal along one zone axis, built once for all energies.

    Parameters
    ----------
    crystal : Crystal
    uvw : (3,) array_like of int
        Zone axis.
    settings : MultisliceSettings, optional
    shape : (int, int)
        Detector shape (H, W), square.
    pixel_size : float
        Reciprocal pixel size in 1/A; the box is ``1 / pixel_size`` A wide.

    Attributes
    ----------
    period_A : float
        |u a1 + v a2 + w a3|, the repeat of the crystal along the beam.
    d_ref : float
    hkl_ref : (3,) ndarray of int
        The reference reflection (:func:`~cbedfeat.simulate.kinematic.reference_reflection`).
    n_atoms : int
        Atoms in one period of the box.
    """

    def __init__(
        self,
        crystal,
        uvw,
        settings: MultisliceSettings | None = None,
        *,
        shape: tuple[int, int] = (512, 512),
        pixel_size: float = 0.01,
    ) -> None:
        abtem = import_abtem()
        import ase

        self.settings = MultisliceSettings() if settings is None else settings
        if shape[0] != shape[1]:
            raise ValueError(f"the multislice engine needs a square detector, got {shape}")
        self.shape = (int(shape[0]), int(shape[1]))
        self.pixel_size = float(pixel_size)
        self.box_A = 1.0 / self.pixel_size
        self.uvw = primitive_uvw(uvw)
        self.d_ref, self.hkl_ref = reference_reflection(crystal, self.uvw)
        recip = reciprocal_basis(crystal.lattice)
        self.frame = detector_frame(crystal.lattice, self.uvw, self.hkl_ref @ recip)
        lat = np.asarray(crystal.lattice, dtype=float)
        self.period_A = float(np.linalg.norm(self.uvw @ lat))
        numbers, positions = crystal_period_atoms(crystal, self.frame, self.period_A, self.box_A)
        self.n_atoms = len(numbers)
        atoms = ase.Atoms(
            numbers=numbers,
            positions=positions,
            cell=[self.box_A, self.box_A, self.period_A],
            pbc=True,
        )
        self.n_slices = int(np.ceil(self.period_A / self.settings.max_slice_A - 1e-9))
        self.gpts = int(round(self.shape[0] * self.settings.oversampling))
        device = "gpu" if self.settings.device == "cuda" else "cpu"
        potential = abtem.Potential(
            atoms,
            gpts=self.gpts,
            slice_thickness=self.period_A / self.n_slices,
            parametrization=self.settings.parametrization,
            projection="infinite",
            device=device,
        )
        self.potential = potential.build(lazy=False)
        self.positions = probe_positions(
            recip, self.uvw, self.frame, self.settings.probe_grid, self.box_A
        )

    def render(
        self, energy_keV: float, options: RenderOptions | None = None, rng=None
    ) -> tuple[np.ndarray, dict]:
        """Render the pattern at one energy (see :func:`render_pattern_multislice`)."""
        abtem = import_abtem()
        opts = RenderOptions() if options is None else options
        if tuple(opts.shape) != self.shape or opts.pixel_size != self.pixel_size:
            raise ValueError("options.shape and pixel_size must match the potential's")
        if not isinstance(rng, np.random.Generator):
            rng = np.random.default_rng(0 if rng is None else rng)
        lam = electron_wavelength(energy_keV)
        alpha = lam / (4.0 * self.d_ref)
        azimuth, tilt = 0.0, (0.0, 0.0)
        if opts.mistilt_mrad > 0:  # drawn first, as the kinematic engine does
            azimuth = float(rng.uniform(0.0, 2.0 * np.pi))
            tilt = (opts.mistilt_mrad * np.cos(azimuth), opts.mistilt_mrad * np.sin(azimuth))
        reps = max(1, int(round(opts.thickness_A / self.period_A)))
        device = "gpu" if self.settings.device == "cuda" else "cpu"
        probe = abtem.Probe(
            semiangle_cutoff=alpha * 1e3, energy=float(energy_keV) * 1e3, tilt=tilt, device=device
        )
        probe.grid.match(self.potential)
        waves = probe.build(scan=self.positions, lazy=False)
        vacuum = _to_numpy(waves.diffraction_patterns(max_angle="full").array)
        # The period's slices repeated: one multislice call, so abTEM plans its FFTs once.
        potential = self.potential.tile((1, 1, reps)) if reps > 1 else self.potential
        waves = waves.multislice(potential)
        del potential
        dp = _to_numpy(waves.diffraction_patterns(max_angle="full").array)
        # Incoherent mean over probe positions, in units of the incident beam per pixel:
        # the vacuum probe is 1 inside its aperture.
        dp = dp.reshape(-1, *dp.shape[-2:]).mean(axis=0)
        scale = 1.0 / float(vacuum.reshape(-1, *vacuum.shape[-2:])[0].max())
        image = _to_detector(dp * scale, self.shape[0])
        pattern = finish_pattern(image, opts, rng)
        info = {
            "d_hkl": float(self.d_ref),
            "semi_angle": float(alpha),
            "y_dir": self.hkl_ref.astype(float),
            "hkl_ref": self.hkl_ref,
            "wavelength_A": lam,
            "disk_radius_px": 1.0 / (4.0 * self.d_ref) / self.pixel_size,
            "thickness_A": reps * self.period_A,
            "period_A": self.period_A,
            "n_slices": reps * self.n_slices,
            "n_atoms": self.n_atoms,
            "probe_positions": self.positions.copy(),
            "beam_dir": self.frame[2],
            "mistilt_azimuth": azimuth,
        }
        return pattern, info


def _to_numpy(array) -> np.ndarray:
    get = getattr(array, "get", None)  # CuPy -> NumPy
    return np.asarray(get() if callable(get) else array)


def _to_detector(dp: np.ndarray, size: int) -> np.ndarray:
    """abTEM's (kx, ky) pattern, zero frequency at n // 2 -> the detector's (row, col).

    The central ``size`` x ``size`` frequencies are kept (zero at ``size // 2``), then
    transposed so columns run along +x and flipped so rows run along -y:
    ``image[r, c] = dp[c, size - r]`` (row 0 takes the Nyquist row, ky = -size/2).
    """
    n = dp.shape[-1]
    lo = n // 2 - size // 2
    crop = dp[lo : lo + size, lo : lo + size]
    return np.roll(np.flip(crop.T, axis=0), 1, axis=0)


def render_pattern_multislice(
    crystal,
    uvw,
    energy_keV: float,
    *,
    options: RenderOptions | None = None,
    settings: MultisliceSettings | None = None,
    rng=None,
) -> tuple[np.ndarray, dict]:
    """Render one dynamical CBED pattern of a crystal along zone axis [uvw] by multislice.

    Parameters
    ----------
    crystal : Crystal
    uvw : (3,) array_like of int
    energy_keV : float
    options : RenderOptions, optional
        Thickness (rounded to whole periods along the beam), dose, blur, mistilt,
        shape and pixel size as for the kinematic engine; ``debye_waller_B`` is not
        used (no frozen phonons).
    settings : MultisliceSettings, optional
    rng : numpy.random.Generator, int or None
        Mistilt azimuth and Poisson noise, drawn as the kinematic engine draws them.

    Returns
    -------
    pattern : (H, W) ndarray of float32
        Non-negative intensities in units of the incident beam per pixel, zero outside
        the inscribed circle; rows along -y, columns along +x.
    info : dict
        ``d_hkl``, ``semi_angle``, ``y_dir``, ``hkl_ref``, ``wavelength_A``,
        ``disk_radius_px`` as the kinematic engine, and ``thickness_A`` (whole periods),
        ``period_A``, ``n_slices``, ``n_atoms``, ``probe_positions`` ((P, 2) A).
    """
    opts = RenderOptions() if options is None else options
    potential = ZoneAxisPotential(
        crystal, uvw, settings, shape=opts.shape, pixel_size=opts.pixel_size
    )
    return potential.render(energy_keV, opts, rng)
