"""The feature configuration: one frozen object describes the whole feature vector.

The configuration and :data:`FEATURE_VERSION` together fix the feature names and
values; :meth:`FeatureConfig.fingerprint` hashes both, so a feature table can say
exactly which vector it holds (extraction resumes only on an equal fingerprint).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Bump whenever a change of the code changes feature names or values for a given config.
FEATURE_VERSION = "3"

FAMILIES: tuple[str, ...] = (
    "radial",
    "angular",
    "rotation",
    "mirror",
    "zernike",
    "autocorr",
    "net",
    "sites",
    "folz",
    "stack",
)

_TUPLE_FIELDS = ("bands", "rotation_orders", "families")
CENTER_METHODS = ("image", "com", "disk", "inversion")


@dataclass(frozen=True)
class FeatureConfig:
    """Parameters of the per-pattern feature vector (defaults: the default feature set).

    Parameters
    ----------
    scaling : {"log", "power", "none"}
        Intensity scaling after normalisation: ``log(1 + I / (ref * log_floor))``
        (``log_floor`` is the relative intensity where the log takes over from the
        linear part, and keeps the result >= 0), or ``(I / ref) ** power``. The
        extractor scales the outputs of its linear maps (one-pixel ring means,
        bilinear polar samples, binned pixels), not every pixel.
    normalize : {"mean", "max", "none"}
        ``ref``: the pattern's mean or maximum intensity (``"none"``: 1). With ``"mean"``
        or ``"max"`` every feature is unchanged by a global intensity scale.
    log_floor, power : float
        See ``scaling``.
    center : {"image", "com", "disk", "inversion"}
        Pattern centre: the image centre ``(H // 2, W // 2)`` (zero frequency of an
        FFT-shifted pattern, as in the ORNL data), the intensity centre of mass, a
        circle fit to the bright central disk, or the centre of the pattern's
        180-degree symmetry (disk positions; for patterns not centred on a pixel).
    n_radial_bins : int
        Coarse radial bins of the one-pixel ring profile in the vector.
    polar_n_r, polar_n_phi : int
        Size of the (r, phi) polar grid that covers the inscribed circle.
    bands : tuple of (float, float)
        Radial bands as fractions of the inscribed radius, for the angular spectrum,
        rotation and mirror scores (which also use the whole pattern and central disk).
    angular_orders : int
        Angular Fourier orders m = 1..angular_orders kept per band.
    rotation_orders : tuple of int
        n of the n-fold rotation scores (5 is a control: crystals have no 5-fold axis).
    mirror_threshold : float
        A mirror axis "scores high" at a normalised mirror correlation >= this.
    zernike_degree : int
        Highest Zernike degree n (magnitudes |Z_nm|, 0 <= m <= n, n - m even).
    zernike_source : {"polar", "binned"}
        ``"polar"`` (default): the quadrature of the Zernike integral on the scaled
        polar grid, from the angular spectrum (no extra matrix product; on CBED
        patterns about 3 % of the largest magnitude away from mahotas's pixel sum over
        the full-resolution scaled pixels). ``"binned"``: mahotas's pixel sum over the
        scaled ``autocorr_bin`` block means (equal to
        ``mahotas.features.zernike_moments`` of that image, to float32 rounding); it
        classified about 2 points worse in ``bench/bench_imbalance.py``
        (``bench/results/imbalance_zernike_binned.md``), so it is not the default.
    disk_max_radius : float
        The central disk edge is searched for within this fraction of the inscribed radius.
    autocorr_bin : int
        Binning of the pattern before the FFT autocorrelation (and the Zernike pixel
        sum, see ``zernike_source``).
    autocorr_max_lag : float
        Largest lag kept (fraction of the inscribed radius) for the profile and peaks.
    autocorr_n_bins : int
        Coarse radial bins of the autocorrelation.
    families : tuple of str
        Families in the vector, a subset of :data:`FAMILIES`, always in that order.
        ``stack`` is one set per stack (no ``p{i}_`` prefix), computed from the
        ``autocorr`` and ``sites`` values of the three patterns (computed for it when
        they are not in the vector themselves).
        ``stack`` is one set per stack (no ``p{i}_`` prefix), computed from the
        ``autocorr`` and ``sites`` values of the three patterns (computed for it when
        they are not in the vector themselves).
    """

    scaling: str = "log"
    normalize: str = "mean"
    log_floor: float = 1e-3
    power: float = 0.25
    center: str = "image"
    n_radial_bins: int = 32
    polar_n_r: int = 128
    polar_n_phi: int = 256
    bands: tuple[tuple[float, float], ...] = ((0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0))
    angular_orders: int = 12
    rotation_orders: tuple[int, ...] = (2, 3, 4, 5, 6)
    mirror_threshold: float = 0.5
    zernike_degree: int = 12
    zernike_source: str = "polar"
    disk_max_radius: float = 0.25
    autocorr_bin: int = 4
    autocorr_max_lag: float = 0.5
    autocorr_n_bins: int = 16
    families: tuple[str, ...] = field(default=FAMILIES)

    def __post_init__(self) -> None:
        # Accept lists (from YAML/JSON) and store tuples, so the object stays hashable.
        for name in _TUPLE_FIELDS:
            value = getattr(self, name)
            if name == "bands":
                value = tuple((float(a), float(b)) for a, b in value)
            else:
                value = tuple(value)
            object.__setattr__(self, name, value)
        self._validate()

    def _validate(self) -> None:
        if self.scaling not in ("log", "power", "none"):
            raise ValueError(f"scaling must be 'log', 'power' or 'none', not {self.scaling!r}")
        if self.normalize not in ("mean", "max", "none"):
            raise ValueError(f"normalize must be 'mean', 'max' or 'none', not {self.normalize!r}")
        if self.zernike_source not in ("polar", "binned"):
            raise ValueError(
                f"zernike_source must be 'polar' or 'binned', not {self.zernike_source!r}"
            )
        if self.center not in CENTER_METHODS:
            raise ValueError(f"center must be one of {CENTER_METHODS}, not {self.center!r}")
        if not self.log_floor > 0 or not self.power > 0:
            raise ValueError("log_floor and power must be > 0")
        for name in (
            "n_radial_bins",
            "polar_n_r",
            "polar_n_phi",
            "autocorr_n_bins",
            "autocorr_bin",
        ):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.polar_n_phi < 2 * self.angular_orders + 2:
            raise ValueError("polar_n_phi must exceed 2 * angular_orders + 1")
        if not 0 <= self.zernike_degree <= 40:
            raise ValueError("zernike_degree must be within 0..40")
        for lo, hi in self.bands:
            if not 0.0 <= lo < hi <= 1.0:
                raise ValueError(f"band ({lo}, {hi}) is not within 0 <= lo < hi <= 1")
        if any(n < 1 for n in self.rotation_orders):
            raise ValueError("rotation orders must be >= 1")
        unknown = set(self.families) - set(FAMILIES)
        if unknown or not self.families:
            raise ValueError(
                f"families must be a non-empty subset of {FAMILIES}, got {self.families}"
            )
        if tuple(f for f in FAMILIES if f in self.families) != self.families:
            raise ValueError(f"families must be listed in the order {FAMILIES}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field plus ``"version"`` (= :data:`FEATURE_VERSION`)."""
        d = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "bands":
                v = [list(b) for b in v]
            elif isinstance(v, tuple):
                v = list(v)
            d[f.name] = v
        d["version"] = FEATURE_VERSION
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureConfig:
        """Inverse of :meth:`to_dict`; missing fields take their defaults.

        Raises
        ------
        ValueError
            For an unknown key or a ``version`` other than :data:`FEATURE_VERSION`.
        """
        d = dict(d)
        version = str(d.pop("version", FEATURE_VERSION))
        if version != FEATURE_VERSION:
            raise ValueError(
                f"feature config version {version} does not match this cbedfeat's {FEATURE_VERSION}"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown feature config keys: {unknown}")
        return cls(**d)

    @classmethod
    def from_yaml(cls, path: str | Path) -> FeatureConfig:
        """Read a YAML mapping of fields (optionally nested under a ``features`` key)."""
        import yaml

        with open(path) as fh:
            d = yaml.safe_load(fh) or {}
        if not isinstance(d, dict):
            raise ValueError(f"{path}: a feature config must be a YAML mapping")
        if set(d) == {"features"}:
            d = d["features"]
        return cls.from_dict(d)

    def to_json(self) -> str:
        """Canonical JSON of :meth:`to_dict` (sorted keys)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def fingerprint(self) -> str:
        """Stable 16-hex-digit hash of :meth:`to_json` (includes the version)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]
