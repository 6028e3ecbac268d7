"""The cbedfeat feature families computed the way a user would with peer libraries.

The reference point of ``bench/bench_extract.py``: the same families, on the same
scaled patterns, with the usual tools, one pattern at a time:

- radial profile (mean and spread in one-pixel rings): pyFAI ``integrate1d``;
- polar image and angular spectra per band: pyFAI ``integrate2d`` + ``numpy.fft``;
- n-fold rotation scores: ``scipy.ndimage.rotate`` by 360/n and a correlation over
  the whole pattern, the central disk and each band;
- mirror scores: ``scipy.ndimage.rotate`` to each candidate axis, flip, correlate;
- Zernike magnitudes: ``mahotas.features.zernike_moments`` at the same degree;
- FFT autocorrelation: ``numpy.fft`` (Wiener-Khinchin), its radial profile, and the
  two shortest lattice vectors from its local maxima (``scipy.ndimage.maximum_filter``).

The values are not meant to equal cbedfeat's (other conventions: interpolation,
centre of rotation, axis sampling) except the Zernike magnitudes (mahotas is the
reference) and the radial mean (same rings); the work done per pattern is the same.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage as ndi

# Candidate mirror axes of the peer path: every 5 degrees over half a turn.
MIRROR_STEP_DEG = 5.0
# pyFAI CPU methods tried for the radial profile (split, algorithm, implementation).
PYFAI_CPU_METHODS = (
    ("no", "histogram", "cython"),
    ("no", "csr", "cython"),
    ("bbox", "csr", "cython"),
    ("no", "lut", "cython"),
    ("no", "csc", "cython"),
)


def scale_pattern(im: np.ndarray, config) -> np.ndarray:
    """The intensity scaling of ``config`` in plain NumPy (see FeatureConfig)."""
    im = im.astype(np.float64)
    ref = {"mean": im.mean(), "max": im.max(), "none": 1.0}[config.normalize]
    x = im / max(ref, 1e-30)
    if config.scaling == "log":
        return np.log1p(x / config.log_floor)
    if config.scaling == "power":
        return np.maximum(x, 0) ** config.power
    return x


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else 0.0


class PeerFeatures:
    """Peer-library version of the cbedfeat feature families for one pattern shape.

    Parameters
    ----------
    config : cbedfeat.features.FeatureConfig
        Same families, bins, bands, orders and Zernike degree as cbedfeat.
    shape : (H, W)
        Pattern shape.
    radial_method : tuple of str
        pyFAI method of ``integrate1d`` (the bench picks the fastest CPU one).
    """

    def __init__(self, config, shape, radial_method=("no", "csr", "cython")) -> None:
        import pyFAI.detectors
        from pyFAI.integrator.azimuthal import AzimuthalIntegrator

        self.config = config
        self.shape = tuple(shape)
        h, w = self.shape
        # The pattern centre of the ORNL data (zero frequency of an FFT-shifted image).
        self.cy, self.cx = h // 2, w // 2
        self.radius = float(min(self.cy, self.cx, h - 1 - self.cy, w - 1 - self.cx))
        self.n_rings = int(np.floor(self.radius)) + 1
        # 1 mm pixels at 1 m: pyFAI's r_mm is then the radius in pixels; pixel centres
        # sit at (i + 0.5) pixel sizes, so the PONI is the centre pixel's centre.
        det = pyFAI.detectors.Detector(pixel1=1e-3, pixel2=1e-3, max_shape=self.shape)
        self.ai = AzimuthalIntegrator(
            dist=1.0, poni1=(self.cy + 0.5) * 1e-3, poni2=(self.cx + 0.5) * 1e-3, detector=det
        )
        self.radial_method = tuple(radial_method)
        yy, xx = np.mgrid[:h, :w]
        self.r = np.hypot(yy - self.cy, xx - self.cx)
        self.inside = self.r <= self.radius
        self.band_masks = [
            (self.r >= lo * self.radius) & (self.r < hi * self.radius) for lo, hi in config.bands
        ]

    # -- families ---------------------------------------------------------------
    def radial_profile(self, im: np.ndarray, method=None) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation in one-pixel rings ``k - 1/2 <= r < k + 1/2``."""
        res = self.ai.integrate1d(
            im,
            self.n_rings,
            radial_range=(-0.5, self.n_rings - 0.5),
            unit="r_mm",
            method=method or self.radial_method,
            correctSolidAngle=False,
            error_model="azimuthal",
        )
        return np.asarray(res.intensity), np.asarray(res.std)

    def disk_radius(self, profile: np.ndarray) -> float:
        hi = max(2, int(self.config.disk_max_radius * self.radius))
        drop = profile[1:hi] - profile[2 : hi + 1]
        return float(np.argmax(drop) + 1.5)

    def radial(self, im: np.ndarray) -> np.ndarray:
        mean, std = self.radial_profile(im)
        n_bins = self.config.n_radial_bins
        which = np.minimum(np.arange(self.n_rings) * n_bins // self.n_rings, n_bins - 1)
        counts = np.bincount(
            np.rint(self.r[self.r < self.n_rings - 0.5]).astype(int), minlength=self.n_rings
        )
        w = np.bincount(which, weights=counts, minlength=n_bins)
        coarse_mean = np.bincount(which, weights=mean * counts, minlength=n_bins) / np.maximum(w, 1)
        coarse_std = np.bincount(which, weights=std * counts, minlength=n_bins) / np.maximum(w, 1)
        return np.concatenate([coarse_mean, coarse_std, [self.disk_radius(mean)]])

    def polar(self, im: np.ndarray) -> np.ndarray:
        """(n_phi, n_r) polar image from pyFAI ``integrate2d``."""
        res = self.ai.integrate2d(
            im,
            self.config.polar_n_r,
            self.config.polar_n_phi,
            radial_range=(0.0, self.radius),
            unit="r_mm",
            method=("no", "csr", "cython"),
            correctSolidAngle=False,
        )
        return np.asarray(res.intensity)

    def angular(self, im: np.ndarray) -> np.ndarray:
        pol = self.polar(im)
        power = np.abs(np.fft.rfft(pol, axis=0)) ** 2  # (n_phi // 2 + 1, n_r)
        r = np.linspace(0, 1, pol.shape[1], endpoint=False)
        out = []
        for lo, hi in self.config.bands:
            p = power[:, (r >= lo) & (r < hi)].sum(axis=1)
            out.append(p[1 : self.config.angular_orders + 1] / max(p[0], 1e-30))
        return np.sqrt(np.concatenate(out))

    def _regions(self, im: np.ndarray):
        mean, _ = self.radial_profile(im)
        disk = self.r < self.disk_radius(mean)
        return [self.inside, disk, *self.band_masks]

    def rotation(self, im: np.ndarray) -> np.ndarray:
        regions = self._regions(im)
        out = []
        for n in self.config.rotation_orders:
            rot = ndi.rotate(im, 360.0 / n, reshape=False, order=1)
            out += [_pearson(im[m], rot[m]) for m in regions]
        return np.array(out)

    def mirror(self, im: np.ndarray) -> np.ndarray:
        scores = []
        m = self.inside
        for theta in np.arange(0.0, 180.0, MIRROR_STEP_DEG):
            rot = ndi.rotate(im, theta, reshape=False, order=1)
            scores.append(_pearson(rot[m], np.flipud(rot)[m]))
        scores = np.array(scores)
        best = int(np.argmax(scores))
        n_high = int((scores >= self.config.mirror_threshold).sum())
        return np.array([scores[best], best * MIRROR_STEP_DEG, n_high])

    def zernike(self, im: np.ndarray) -> np.ndarray:
        import mahotas.features

        return mahotas.features.zernike_moments(
            im, self.radius, degree=self.config.zernike_degree, cm=(self.cy, self.cx)
        )

    def autocorr(self, im: np.ndarray) -> np.ndarray:
        b = self.config.autocorr_bin
        h, w = (self.shape[0] // b) * b, (self.shape[1] // b) * b
        x = im[:h, :w].reshape(h // b, b, w // b, b).mean(axis=(1, 3))
        x = x - x.mean()
        f = np.fft.rfft2(x)
        ac = np.fft.fftshift(np.fft.irfft2(np.abs(f) ** 2, s=x.shape))
        ac /= max(ac.max(), 1e-30)
        cy, cx = ac.shape[0] // 2, ac.shape[1] // 2
        yy, xx = np.mgrid[: ac.shape[0], : ac.shape[1]]
        rr = np.hypot(yy - cy, xx - cx)
        max_lag = self.config.autocorr_max_lag * self.radius / b
        keep = rr <= max_lag
        ring = np.rint(rr[keep]).astype(int)
        prof = np.bincount(ring, weights=ac[keep]) / np.maximum(np.bincount(ring), 1)
        n_bins = self.config.autocorr_n_bins
        which = np.minimum(np.arange(prof.size) * n_bins // prof.size, n_bins - 1)
        coarse = np.bincount(which, weights=prof, minlength=n_bins) / np.maximum(
            np.bincount(which, minlength=n_bins), 1
        )
        peaks = (ndi.maximum_filter(ac, size=5) == ac) & keep & (rr > 1.5) & (ac > 0.05)
        vy, vx = np.nonzero(peaks)
        vec = np.stack([vy - cy, vx - cx], axis=1).astype(float)
        vec = vec[np.argsort(np.hypot(vec[:, 0], vec[:, 1]), kind="stable")]
        lat = np.zeros(3)
        if len(vec):
            v1 = vec[0]
            for v2 in vec[1:]:
                cross = abs(v1[0] * v2[1] - v1[1] * v2[0])
                if cross > 1e-3 * np.hypot(*v1) * np.hypot(*v2) + 1e-9:
                    cosang = np.dot(v1, v2) / (np.hypot(*v1) * np.hypot(*v2))
                    lat = np.array(
                        [np.hypot(*v1) * b, np.hypot(*v2) * b, np.degrees(np.arccos(cosang))]
                    )
                    break
        return np.concatenate([coarse, lat])

    # -- batches -----------------------------------------------------------------
    def family(self, name: str, stacks: np.ndarray) -> np.ndarray:
        """One family for every pattern of ``stacks`` (N, 3, H, W) -> (N, F_family)."""
        fn = getattr(self, name)
        return np.stack(
            [np.concatenate([fn(scale_pattern(p, self.config)) for p in stack]) for stack in stacks]
        )

    def transform(self, stacks: np.ndarray) -> np.ndarray:
        """All families of the config, pattern by pattern: (N, 3, H, W) -> (N, F)."""
        rows = []
        for stack in stacks:
            row = []
            for p in stack:
                im = scale_pattern(p, self.config)
                row += [getattr(self, name)(im) for name in self.config.families]
            rows.append(np.concatenate(row))
        return np.stack(rows)
