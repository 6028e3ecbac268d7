"""What the three patterns of a stack say together: one lattice seen along three axes.

The three zone axes of a stack look at one reciprocal lattice. Two ZOLZ nets share the
reciprocal row where their planes cross, so their short vectors come in simple length
ratios (1, sqrt 2, sqrt 3 in cubic lattices); a glide or a centring that halves a net
along one axis shows that row at twice the length in another pattern (P2_1/c against
P2_1/m: the c-glide halves the h0l net seen along b, while the 00l row keeps its full
length along a, with every other disk gone). Single-pattern features cannot see such
relations, and the pattern order of a stack is arbitrary, so this family is computed
from the other families' values of all three patterns and does not depend on their
order:

* pairs of net vectors (the two reduced vectors and the two diagonals of each pattern's
  net, refined on the disks by the ``sites`` family to a fraction of a pixel) whose
  lengths across two patterns agree, or stand in the ratio 2, sqrt 2 or sqrt 3 (within
  2 %; the autocorrelation's lags are whole binned pixels, too coarse for this);
* the three net areas, sorted, as ratios to the smallest;
* the central-row parities of the ``sites`` family: the most negative of the three
  patterns, how many patterns have a central row with every other disk missing, how
  many have two such rows, and the share of empty sites summed over the patterns;
* over the twelve central rows of the stack (two net axes and two diagonals of each
  pattern): how many have every other site missing, every ``n = 2 (mod 4)`` site
  missing, every ``n != 0 (mod 3)`` site missing, and the largest excess of empty odd
  sites over empty even ones;
* the FOLZ rings (``folz`` family): how many patterns show one, and the largest ratio
  between two patterns of ZOLZ net area times ring radius squared. With one energy
  per stack the ring radius squared is proportional to the layer spacing H, and net
  area times H is the reciprocal cell volume for every zone axis of a primitive
  lattice: the ratio is 1 there, and 2 or more where a centring or a glide changes
  the net or the layer spacing of one axis (0 with fewer than two rings).

Needs the ``sites`` and ``folz`` families (see :class:`FeatureConfig`).
"""

from __future__ import annotations

import numpy as np

from cbedfeat.features.sites import ROWS as CENTRAL_ROWS

__all__ = ["STACK_FEATURES", "REQUIRED_FAMILIES", "stack_feature_names", "stack_features"]

REQUIRED_FAMILIES: tuple[str, ...] = ("sites", "folz")
#: length ratios across patterns that count as a match, and the tolerance (relative)
RATIOS: tuple[tuple[str, float], ...] = (
    ("eq", 1.0),
    ("x2", 2.0),
    ("sqrt2", float(np.sqrt(2.0))),
    ("sqrt3", float(np.sqrt(3.0))),
)
TOLERANCE = 0.02
#: a central row "empty at odd sites" below this excess parity (log units)
PARITY_THRESHOLD = -2.0

STACK_FEATURES: tuple[str, ...] = (
    *(f"stack_len_{name}" for name, _ in RATIOS),
    "stack_area_mid",
    "stack_area_max",
    "stack_parity_min",
    "stack_parity_rows1",
    "stack_parity_rows2",
    "stack_empty",
    "stack_rows_odd",
    "stack_rows_quarter",
    "stack_rows_third",
    "stack_gap_max",
    "stack_folz_count",
    "stack_folz_volume",
)


def stack_feature_names() -> list[str]:
    """Names of the family (one set per stack, no ``p{i}_`` prefix)."""
    return list(STACK_FEATURES)


def _net_lengths(len1, len2, angle_deg) -> np.ndarray:
    """(N, 3, 4) lengths of v1, v2, v1 + v2, v1 - v2 from (N, 3) lengths and angles."""
    c = np.cos(np.radians(angle_deg))
    plus = np.sqrt(np.maximum(len1**2 + len2**2 + 2 * len1 * len2 * c, 0.0))
    minus = np.sqrt(np.maximum(len1**2 + len2**2 - 2 * len1 * len2 * c, 0.0))
    return np.stack([len1, len2, plus, minus], axis=2)


def _matches(lengths: np.ndarray, ratio: float) -> np.ndarray:
    """(N,) count of ordered vector pairs from two different patterns in ``ratio``."""
    out = np.zeros(lengths.shape[0])
    valid = lengths > 0
    for i in range(3):
        for j in range(3):
            if i == j:
                continue
            a, b = lengths[:, i, :, None], lengths[:, j, None, :]
            ok = valid[:, i, :, None] & valid[:, j, None, :]
            r = a / np.where(b > 0, b, 1.0)
            out += (ok & (np.abs(r - ratio) < TOLERANCE * ratio)).sum(axis=(1, 2))
    # Equal lengths are counted once per unordered pair.
    return out / 2 if ratio == 1.0 else out


def stack_features(per_pattern: np.ndarray, names: list[str]) -> np.ndarray:
    """The family's values of N stacks from their per-pattern features.

    Parameters
    ----------
    per_pattern : (N, 3, F) ndarray
        Per-pattern feature values of each stack.
    names : list of str
        The F per-pattern names (without ``p{i}_``); must include ``sites_found``,
        ``sites_len1``, ``sites_len2``, ``sites_angle``, ``sites_row1_odd``,
        ``sites_row2_odd``, ``sites_empty``, the ``odd``, ``quarter``, ``third``
        and ``gap`` values of the central rows ``row1``, ``row2``, ``diag1``, ``diag2``,
        ``folz_found`` and ``folz_radius``.

    Returns
    -------
    (N, len(STACK_FEATURES)) float32 ndarray
        Unchanged by any reordering of the three patterns.
    """
    x = np.asarray(per_pattern, dtype=np.float64)

    def central(kind: str) -> np.ndarray:
        """(N, 12) values of ``sites_{row}_{kind}`` over the patterns and rows."""
        return np.concatenate([x[:, :, names.index(f"sites_{r}_{kind}")] for r in CENTRAL_ROWS], 1)

    at = {
        n: x[:, :, names.index(n)]
        for n in (
            "sites_found",
            "sites_len1",
            "sites_len2",
            "sites_angle",
            "sites_row1_odd",
            "sites_row2_odd",
            "sites_empty",
        )
    }
    # A pattern without a refined net has zero lengths: it matches nothing.
    found = at["sites_found"] > 0
    len1, len2 = at["sites_len1"] * found, at["sites_len2"] * found
    lengths = _net_lengths(len1, len2, at["sites_angle"])
    out = [_matches(lengths, ratio) for _, ratio in RATIOS]
    area_by_pattern = len1 * len2 * np.sin(np.radians(at["sites_angle"]))
    area = np.sort(area_by_pattern, axis=1)
    smallest = np.where(area[:, 0] > 0, area[:, 0], np.nan)
    out += [np.nan_to_num(area[:, 1] / smallest), np.nan_to_num(area[:, 2] / smallest)]
    low = np.minimum(at["sites_row1_odd"], at["sites_row2_odd"])
    high = np.maximum(at["sites_row1_odd"], at["sites_row2_odd"])
    out += [
        low.min(axis=1),
        (low < PARITY_THRESHOLD).sum(axis=1),
        ((low < PARITY_THRESHOLD) & (high < PARITY_THRESHOLD)).sum(axis=1),
        at["sites_empty"].sum(axis=1),
        (central("odd") < PARITY_THRESHOLD).sum(axis=1),
        (central("quarter") < PARITY_THRESHOLD).sum(axis=1),
        (central("third") < PARITY_THRESHOLD).sum(axis=1),
        central("gap").max(axis=1),
        *_folz_volume(x[:, :, names.index("folz_found")] > 0, area_by_pattern, x, names),
    ]
    return np.stack(out, axis=1).astype(np.float32)


def _folz_volume(ring: np.ndarray, area: np.ndarray, x: np.ndarray, names: list[str]):
    """(N,) patterns with a FOLZ ring and (N,) max / min of net area x radius^2 among them."""
    product = area * x[:, :, names.index("folz_radius")] ** 2
    valid = ring & (product > 0)
    high = np.where(valid, product, -np.inf).max(axis=1)
    low = np.where(valid, product, np.inf).min(axis=1)
    ratio = np.where(valid.sum(axis=1) >= 2, high / np.where(np.isfinite(low), low, 1.0), 0.0)
    return ring.sum(axis=1), ratio
