"""The named feature vector of CBED stacks, without scikit-learn.

:func:`pattern_features` computes the families of a batch of patterns that share one
geometry, sharing the expensive steps. Every map from pixels is linear (exact
one-pixel rings, the bilinear polar grid, binning), so it is applied to the raw
intensities, and only its ~10x smaller output is intensity-scaled. One pass
(:func:`linear.project`) gives rings, polar image and binned image together; one FFT
along phi and its power serve the angular spectra, symmetry scores, ring spread and
Zernike moments; one small 2-D FFT pair per pattern the autocorrelation.

:class:`StackFeaturizer` applies it to stacks ``(N, 3, H, W)``. It imports no
scikit-learn (about 1.5 s of start-up in every ``cbedfeat extract`` worker);
:class:`cbedfeat.features.FeatureExtractor` is its scikit-learn face.
"""

from __future__ import annotations

import functools

import numpy as np

from cbedfeat.data.table import check_no_leak
from cbedfeat.features import (
    autocorr,
    folz,
    geometry,
    linear,
    net,
    polar,
    radial,
    sites,
    stack,
    symmetry,
    zernike,
)
from cbedfeat.features.backend import (
    get_array_module,
    resolve_device,
    to_device,
    to_numpy,
    xp_for_device,
)
from cbedfeat.features.config import FAMILIES, FeatureConfig
from cbedfeat.features.names import N_PATTERNS, family_names, feature_names
from cbedfeat.features.preprocess import (
    positive_reference,
    reference_intensity,
    scale_intensity,
)

__all__ = ["StackFeaturizer", "pattern_features"]

_CPU_CHUNK = 16  # stacks per CPU batch, see StackFeaturizer._run
_POLAR_FAMILIES = {"radial", "angular", "rotation", "mirror", "zernike"}


@functools.lru_cache(maxsize=32)
def _acf_geometry(shape, center, r_max, factor, max_lag, n_bins):
    h, w = shape[0] // factor, shape[1] // factor
    # Binned pixel i covers original pixels factor*i .. factor*i + factor - 1.
    c = ((center[0] - (factor - 1) / 2) / factor, (center[1] - (factor - 1) / 2) / factor)
    rb = r_max / factor
    op, _ = geometry.ring_operator((h, w), c, rb)
    yy, xx = np.mgrid[:h, :w]
    ring = np.rint(np.hypot(yy - c[0], xx - c[1])).astype(np.int64).ravel()
    inside = ring <= int(np.floor(rb))
    ring[~inside] = op.shape[0]  # points at an appended zero "ring"
    size = 2 * max_lag + 1
    prof_op, _ = geometry.annulus_operator(
        (size, size), (max_lag, max_lag), np.linspace(0, max_lag, n_bins + 1)
    )
    return op, ring, inside.astype(np.float32), prof_op


def pattern_features(images, config: FeatureConfig, families=None, center=None) -> dict:
    """Feature families of a batch of patterns that share one centre.

    Parameters
    ----------
    images : (B, H, W) ndarray, or a list of (k, H, W) NumPy arrays
        Raw intensities (NumPy or CuPy; float32 is fastest). A list is one batch in
        blocks (rows in list order), read by the CPU kernel without a copy.
    config : FeatureConfig
    families : sequence of str, optional
        Default: ``config.families``.
    center : (row, col), optional
        Default: :func:`geometry.image_center`.

    Returns
    -------
    dict of str to (B, F_family) float32 ndarray
        Columns in the order of :func:`names.family_names`.
    """
    c = config
    fams = list(c.families if families is None else families)
    blocks = list(images) if isinstance(images, list | tuple) else [images]
    xp = get_array_module(blocks[0])
    h, w = blocks[0].shape[-2:]
    b = sum(blk.shape[0] for blk in blocks)
    shape = (h, w)
    if center is None:
        center = geometry.image_center(shape)
    center = (float(center[0]), float(center[1]))
    r_max = geometry.inscribed_radius(shape, center)
    out: dict = {}

    def scale(values):
        return scale_intensity(
            values,
            scaling=c.scaling,
            log_floor=c.log_floor,
            power=c.power,
            reference=ref,
            out=values,
        )

    zernike_binned = "zernike" in fams and c.zernike_source == "binned"
    polar_wanted = bool(_POLAR_FAMILIES & set(fams) - ({"zernike"} if zernike_binned else set()))
    lattice_wanted = bool({"autocorr", "net", "sites", "folz"} & set(fams))
    binned_wanted = lattice_wanted or zernike_binned
    proj = linear.project(
        images,
        center,
        r_max,
        polar_shape=(c.polar_n_r, c.polar_n_phi) if polar_wanted else None,
        bin_factor=int(c.autocorr_bin) if binned_wanted else None,
    )
    # Every map from pixels (rings, polar grid, binning) is linear: they were applied to
    # raw intensities, and only their outputs (~10x fewer values) are scaled.
    if c.normalize == "mean" and proj.total is not None:
        ref = positive_reference((proj.total / (h * w)).astype(np.float32))
    else:
        ref = reference_intensity(
            blocks[0] if len(blocks) == 1 else xp.concatenate(blocks), c.normalize
        )
    disk_r = None
    if polar_wanted or {"net", "sites", "folz"} & set(fams):
        # The disk edge from linear intensities (see radial.disk_radius).
        disk_r = radial.disk_radius(proj.ring_mean, int(c.disk_max_radius * r_max))
    if polar_wanted:
        counts = proj.counts
        ring_mean = proj.ring_mean
        n_rings = ring_mean.shape[1]
        pol = proj.polar
        pol = scale(pol)
        spec = polar.angular_spectrum(pol)
        radii, _ = geometry.polar_grid(r_max, c.polar_n_r, c.polar_n_phi)
        bands = polar.band_weights(radii, [(lo * r_max, hi * r_max) for lo, hi in c.bands])
        radii_x = xp.asarray(radii, dtype=xp.float32)
        whole = radii_x[None, :]
        disk = radii_x[None, :] * (radii_x[None, :] < disk_r[:, None])
        weights = xp.concatenate(
            [
                xp.broadcast_to(whole, (b, 1, radii.size)),
                disk[:, None, :],
                xp.broadcast_to(xp.asarray(bands), (b,) + bands.shape),
            ],
            axis=1,
        )
        ring_power = polar.angular_power(spec)  # shared by four families
        power = polar.band_power(spec, weights, power=ring_power)
        if "angular" in fams:
            amps, aniso = polar.angular_features(power[:, 2:], c.polar_n_phi, c.angular_orders)
            out["angular"] = xp.concatenate([amps, aniso[..., None]], axis=2).reshape(b, -1)
        if "rotation" in fams:
            out["rotation"] = symmetry.rotation_scores(
                power, c.polar_n_phi, c.rotation_orders
            ).reshape(b, -1)
        if "mirror" in fams:
            best, _, n_axes = symmetry.mirror_summary(
                symmetry.mirror_scores(spec, weights, power=ring_power), c.mirror_threshold
            )
            out["mirror"] = xp.stack([best, n_axes], axis=2).reshape(b, -1)
        if "radial" in fams:
            # A copy: sites and folz read the raw ring means after this.
            ring_mean = scale(ring_mean.copy())
            coarse = xp.asarray(radial.coarse_bin_matrix(counts, c.n_radial_bins))
            # The spread of the *scaled* intensities comes from the scaled polar rings
            # (the one-pixel rings hold raw intensities, and log is not linear).
            spread = radial.polar_spread(None, radii, n_rings, c.n_radial_bins, power=ring_power)
            out["radial"] = xp.concatenate([ring_mean @ coarse, spread, disk_r[:, None]], axis=1)
        if "zernike" in fams and not zernike_binned:
            out["zernike"] = zernike.zernike_from_spectrum(spec, radii, r_max, c.zernike_degree)[
                :, 1:
            ]
    if binned_wanted:
        f = int(c.autocorr_bin)
        binned = proj.binned
        binned = scale(binned.reshape(b, -1)).reshape(binned.shape)
        if zernike_binned:
            # Block i covers pixels f*i .. f*i + f - 1: the centre and radius in blocks.
            cb = ((center[0] - (f - 1) / 2) / f, (center[1] - (f - 1) / 2) / f)
            out["zernike"] = zernike.zernike_moments(binned, r_max / f, c.zernike_degree, cb)[:, 1:]
        if lattice_wanted:
            profile, summary, acf, vectors = _autocorrelation_lattice(binned, c, center, r_max, xp)
            if "autocorr" in fams:
                out["autocorr"] = xp.concatenate(
                    [profile, xp.asarray(summary, dtype=xp.float32)], axis=1
                )
            if "net" in fams:
                out["net"] = xp.asarray(net.net_features(acf, vectors, disk_r, f))
            if "sites" in fams or "folz" in fams:
                patterns = [img for blk in blocks for img in to_numpy(blk)]
                rings = to_numpy(proj.ring_mean)
                site_values, nets = sites.site_features(
                    patterns, center, vectors, f, to_numpy(disk_r), rings, return_nets=True
                )
                if "sites" in fams:
                    out["sites"] = xp.asarray(site_values)
                if "folz" in fams:
                    out["folz"] = xp.asarray(folz.folz_features(patterns, center, nets, rings))
    return {k: xp.asarray(v, dtype=xp.float32) for k, v in out.items()}


def _autocorrelation_lattice(binned, c: FeatureConfig, center, r_max: float, xp):
    """Autocorrelation of scaled block means ``binned`` (B, H // f, W // f) and its net.

    Returns
    -------
    profile : (B, autocorr_n_bins) ndarray
    summary : (B, 4) ndarray
        ``|v1|, |v2|`` (original pixels), angle, autocorrelation at v1.
    acf : (B, 2 L + 1, 2 L + 1) ndarray
    vectors : (B, 2, 2) ndarray
        Reduced net vectors in binned pixels.
    """
    f = int(c.autocorr_bin)
    b, h, w = binned.shape
    shape = (h * f, w * f)
    max_lag = max(int(c.autocorr_max_lag * r_max / f), 2)
    op, ring, inside, prof_op = _acf_geometry(shape, center, r_max, f, max_lag, c.autocorr_n_bins)
    binned = binned.reshape(b, h * w)
    # Remove the azimuthal mean: what is left is the disk lattice and its contrast.
    means = geometry.apply_operator(op, binned.reshape(b, h, w))
    means = xp.concatenate([means, xp.zeros((b, 1), dtype=means.dtype)], axis=1)
    resid = (binned - means[:, xp.asarray(ring)]) * xp.asarray(inside)
    acf = autocorr.autocorrelation(resid.reshape(b, h, w), max_lag)
    profile = geometry.apply_operator(prof_op, acf)
    vectors, summary = autocorr.lattice_vectors(acf)
    summary[:, :2] *= f  # lengths in original pixels
    return profile, summary, acf, vectors


class StackFeaturizer:
    """Stacks ``(N, 3, H, W)`` to the named feature vector ``(N, F)``.

    Parameters
    ----------
    config : FeatureConfig or dict, optional
        Default: ``FeatureConfig()``.
    device : {"cpu", "cuda", "auto"}
        Where to compute; resolved (and logged) on construction.
    batch_size : int
        Stacks computed together (on the CPU at most 16 at a time, which keeps the
        working set in cache; on the GPU larger batches are faster).

    Attributes
    ----------
    config : FeatureConfig
    device : str
        The device used, ``"cpu"`` or ``"cuda"``.
    names : list of str
        Feature names in column order.
    n_features : int
    """

    def __init__(self, config=None, device: str = "cpu", batch_size: int = 32):
        if config is None:
            config = FeatureConfig()
        elif isinstance(config, dict):
            config = FeatureConfig.from_dict(config)
        elif not isinstance(config, FeatureConfig):
            raise TypeError(
                f"config must be a FeatureConfig, a dict or None, not {type(config).__name__}"
            )
        if int(batch_size) < 1:
            raise ValueError("batch_size must be >= 1")
        names = feature_names(config)

        check_no_leak(names)
        self.config = config
        self.device = resolve_device(device)
        self.batch_size = int(batch_size)
        self.names = list(names)
        self.n_features = len(names)

    def get_feature_names_out(self, input_features=None):
        """Feature names as an object array, like the scikit-learn transformer's."""
        return np.asarray(self.names, dtype=object)

    def transform(self, X) -> np.ndarray:
        """Feature vectors of stacks.

        Parameters
        ----------
        X : (N, 3, H, W) array, or a list of N (3, H, W) arrays
            Raw intensities (NumPy or CuPy), float32 preferred. A list of NumPy
            stacks (read-only views of the page cache, say) is featurised on the CPU
            without being copied into one array, where the centre is the image centre.

        Returns
        -------
        (N, F) float32 ndarray (NumPy)
        """
        return self._run(X, list(self.config.families))

    def family_transform(self, name: str, X) -> np.ndarray:
        """One family's columns for stacks ``X`` (for timing); shared steps included.

        Returns
        -------
        (N, F_family) float32 ndarray, the columns of ``feature_names(config, [name])``.
        """
        if name not in FAMILIES:
            raise ValueError(f"unknown feature family {name!r}; choose from {FAMILIES}")
        return self._run(X, [name])

    def _run(self, X, fams) -> np.ndarray:
        """Pattern families of ``fams``, then the stack family when asked for."""
        pattern_fams = [f for f in fams if f != "stack"]
        if "stack" not in fams:
            return self._run_patterns(X, pattern_fams)
        need, names, keep = self._stack_layout(tuple(pattern_fams))
        flat = self._run_patterns(X, list(need))
        per = flat.reshape(flat.shape[0], N_PATTERNS, -1)
        own = per[:, :, keep].reshape(per.shape[0], -1)
        return np.concatenate([own, stack.stack_features(per, names)], axis=1)

    @functools.lru_cache(maxsize=8)  # noqa: B019 - a handful of family sets per featurizer
    def _stack_layout(self, pattern_fams: tuple) -> tuple:
        """Families computed for ``stack``, their per-pattern names, and the kept columns."""
        cfg = self.config
        need = tuple(f for f in FAMILIES if f in set(pattern_fams) | set(stack.REQUIRED_FAMILIES))
        names = [name for f in need for name in family_names(f, cfg)]
        position = {name: i for i, name in enumerate(names)}
        keep = np.array(
            [position[n] for f in pattern_fams for n in family_names(f, cfg)], dtype=int
        )
        return need, names, keep

    def _run_patterns(self, X, fams) -> np.ndarray:
        cfg = self.config
        xp = xp_for_device(self.device)
        if isinstance(X, list | tuple) and X:
            shapes = {tuple(getattr(s, "shape", ())) for s in X}
            if len(shapes) != 1:
                raise ValueError(f"stacks must share one shape, got {sorted(shapes)}")
            if xp is np and cfg.center == "image" and all(isinstance(s, np.ndarray) for s in X):
                return self._run_blocks(list(X), fams, (len(X),) + shapes.pop())
        if not hasattr(X, "shape"):
            X = np.asarray(X, dtype=np.float32)
        shape = tuple(X.shape)
        if len(shape) != 4 or shape[1] != N_PATTERNS:
            raise ValueError(f"stacks must be (N, {N_PATTERNS}, H, W), got {shape}")
        n = shape[0]
        widths = [len(family_names(f, cfg)) for f in fams]
        result = np.empty((n, N_PATTERNS, sum(widths)), dtype=np.float32)
        step = int(self.batch_size)
        if xp is np:
            # Larger CPU batches fall out of the last-level cache (a 512 x 512 stack
            # is 3 MB): chunks of 16 stacks were fastest on a 32 MB L3.
            step = min(step, _CPU_CHUNK)
        for start in range(0, n, step):
            chunk = to_device(X[start : start + step], xp)
            chunk = xp.asarray(chunk, dtype=xp.float32)
            m = chunk.shape[0]
            images = chunk.reshape((m * N_PATTERNS,) + shape[2:])
            feats = self._batch(images, fams, xp)
            result[start : start + m] = to_numpy(feats).reshape(m, N_PATTERNS, -1)
        return result.reshape(n, -1)

    def _run_blocks(self, stacks: list, fams, shape: tuple) -> np.ndarray:
        """CPU features of a list of (3, H, W) stacks, centred on the image centre."""
        if len(shape) != 4 or shape[1] != N_PATTERNS:
            raise ValueError(f"stacks must be (N, {N_PATTERNS}, H, W), got {shape}")
        n = shape[0]
        center = geometry.image_center(shape[2:])
        width = N_PATTERNS * sum(len(family_names(f, self.config)) for f in fams)
        out = np.empty((n, width), dtype=np.float32)
        step = min(int(self.batch_size), _CPU_CHUNK)
        for start in range(0, n, step):
            chunk = stacks[start : start + step]
            res = pattern_features(chunk, self.config, fams, center)
            block = np.concatenate([res[f] for f in fams], axis=1)
            out[start : start + len(chunk)] = block.reshape(len(chunk), -1)
        return out

    def _batch(self, images, fams, xp):
        cfg = self.config
        centers = to_numpy(geometry.find_centers(images, cfg.center))
        # Centres found per image are rounded to 1/4 pixel so that operators are reused.
        centers = np.round(centers * 4) / 4
        uniq, inverse = np.unique(centers, axis=0, return_inverse=True)
        out = None
        for k, cen in enumerate(uniq):
            sel = np.flatnonzero(inverse.ravel() == k)
            part = images if len(uniq) == 1 else images[xp.asarray(sel)]
            res = pattern_features(part, cfg, fams, tuple(cen))
            block = xp.concatenate([res[f] for f in fams], axis=1)
            if len(uniq) == 1:
                return block
            if out is None:
                out = xp.empty((images.shape[0], block.shape[1]), dtype=xp.float32)
            out[xp.asarray(sel)] = block
        return out
