"""Stable feature names of the vector described by a :class:`FeatureConfig`.

Per pattern ``i`` of a stack the names start ``p{i}_``; the order is fixed by the
config: patterns, then families in :data:`config.FAMILIES` order, then the loops
below (the pipeline flattens its arrays in the same order). The ``stack`` family,
one set per stack, comes last and starts ``stack_``.
"""

from __future__ import annotations

from cbedfeat.features.config import FeatureConfig
from cbedfeat.features.folz import folz_feature_names
from cbedfeat.features.net import net_feature_names
from cbedfeat.features.sites import site_feature_names
from cbedfeat.features.stack import stack_feature_names
from cbedfeat.features.zernike import zernike_indices

__all__ = ["N_PATTERNS", "regions", "family_names", "feature_names"]

N_PATTERNS = 3  # three zone axes per ORNL stack


def regions(config: FeatureConfig) -> list[str]:
    """Regions of the symmetry scores: whole pattern, central disk, radial bands."""
    return ["whole", "disk"] + [f"band{b}" for b in range(len(config.bands))]


def family_names(family: str, config: FeatureConfig) -> list[str]:
    """Names of one family for one pattern, without the ``p{i}_`` prefix."""
    c = config
    if family == "radial":
        return (
            [f"radial_r{k:03d}" for k in range(c.n_radial_bins)]
            + [f"radstd_r{k:03d}" for k in range(c.n_radial_bins)]
            + ["disk_radius"]
        )
    if family == "angular":
        out = []
        for b in range(len(c.bands)):
            out += [f"ang_band{b}_m{m:02d}" for m in range(1, c.angular_orders + 1)]
            out.append(f"ang_band{b}_aniso")
        return out
    if family == "rotation":
        return [f"rot{n}_{r}" for r in regions(c) for n in c.rotation_orders]
    if family == "mirror":
        return [f"mirror_{kind}_{r}" for r in regions(c) for kind in ("best", "naxes")]
    if family == "zernike":
        return [f"zern_n{n:02d}_m{m:02d}" for n, m in zernike_indices(c.zernike_degree) if n > 0]
    if family == "autocorr":
        return [f"acf_r{k:02d}" for k in range(c.autocorr_n_bins)] + [
            "acf_len1",
            "acf_len2",
            "acf_angle",
            "acf_peak1",
        ]
    if family == "net":
        return net_feature_names()
    if family == "sites":
        return site_feature_names()
    if family == "folz":
        return folz_feature_names()
    if family == "stack":
        return stack_feature_names()
    raise ValueError(f"unknown feature family {family!r}")


def feature_names(config: FeatureConfig, families=None) -> list[str]:
    """All feature names, in vector order (``families`` default: the config's)."""
    fams = config.families if families is None else families
    names = [
        f"p{i}_{name}"
        for i in range(N_PATTERNS)
        for fam in fams
        if fam != "stack"
        for name in family_names(fam, config)
    ]
    # One set per stack, after the patterns' columns.
    return names + (stack_feature_names() if "stack" in fams else [])
