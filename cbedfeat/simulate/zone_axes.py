"""Three symmetry-inequivalent, low-index zone axes per crystal.

Candidate beam directions [uvw] (integers, gcd 1, |u|, |v|, |w| <= ``max_index``) are
grouped into families under the point group of the space group (its rotation parts
W act on direction indices as W [uvw]) together with the inversion, since kinematic
patterns obey Friedel's law and [uvw] and [-u -v -w] give the same information.
Families are ranked by the real-space length of the direction |u a1 + v a2 + w a3|: a
short direction has the densest zero-order Laue zone (its 2-D reciprocal cell has area
|t| / V), i.e. the "low-index" axes microscopists use. Axes whose reference reflection
(the shortest non-extinct ZOLZ vector) has a d-spacing outside ``d_range`` are passed
over: below 1 A the disks (radius 1 / (4 d)) are so large and far apart that only a
handful fit on the 2.56 1/A detector (the ORNL set chose its axes from reflections with
1 < d < 5 A).

:func:`choose_zone_axes` ranks directions by length (``short``);
:func:`choose_strong_zone_axes` takes, as the ORNL set did, the axes that hold pairs of
the strongest reflections (``strong``): a zone axis [uvw] contains reflections h1 and
h2 when h1 . uvw = h2 . uvw = 0 (Weiss zone law).

References
----------
D. B. Williams & C. B. Carter (2009), Transmission Electron Microscopy, 2nd ed.,
Springer, ch. 18 (zone axes, Laue zones) and ch. 20 (CBED).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from math import gcd

import numpy as np

from cbedfeat.simulate.crystals import Crystal, point_group_rotations

D_RANGE_A = (1.0, 10.0)
STRONG_D_RANGE_A = (1.0, 5.0)  # the ORNL set ranked reflections with 1 < d < 5 A
ZONE_AXIS_MODES = ("short", "strong")


@lru_cache(maxsize=8)
def candidate_directions(max_index: int = 3) -> np.ndarray:
    """(M, 3) int: every [uvw] with entries in [-max_index, max_index] and gcd 1."""
    r = range(-max_index, max_index + 1)
    out = [
        (u, v, w)
        for u in r
        for v in r
        for w in r
        if (u, v, w) != (0, 0, 0) and gcd(gcd(abs(u), abs(v)), abs(w)) == 1
    ]
    arr = np.array(out, dtype=int)
    arr.setflags(write=False)
    return arr


def representative(members: np.ndarray) -> np.ndarray:
    """Conventional name of a family: fewest negative, then fewest non-zero entries,
    then the largest tuple.

    Gives [100], [110], [111], [210] for the cubic families, [100] (not [110]) for the
    hexagonal a-axis family.
    """
    keys = [(int((m < 0).sum()), int((m != 0).sum()), tuple(-int(x) for x in m)) for m in members]
    return members[min(range(len(members)), key=keys.__getitem__)].copy()


@lru_cache(maxsize=512)
def direction_families(space_group: int, max_index: int = 3) -> list[np.ndarray]:
    """Candidate directions grouped by symmetry equivalence (point group + inversion).

    Returns
    -------
    list of (k, 3) ndarray of int
        One array per family, its members; every candidate appears in exactly one.
    """
    cands = candidate_directions(max_index)
    rots = point_group_rotations(space_group)
    rots = np.concatenate([rots, -rots])
    index = {tuple(c): i for i, c in enumerate(cands)}
    family = np.full(len(cands), -1)
    groups: list[np.ndarray] = []
    for i, c in enumerate(cands):
        if family[i] >= 0:
            continue
        images = np.unique(rots @ c, axis=0)
        # Images of a candidate are candidates too (rotations of a lattice preserve
        # gcd 1), except when a hexagonal rotation pushes an entry past max_index.
        ids = [index[t] for t in map(tuple, images) if t in index]
        family[ids] = len(groups)
        members = cands[ids]
        members.setflags(write=False)
        groups.append(members)
    return groups


def rank_families(crystal: Crystal, max_index: int = 3) -> list[tuple[np.ndarray, float]]:
    """Families as ``(representative [uvw], length in A)``, shortest direction first."""
    out = []
    for members in direction_families(crystal.space_group, max_index):
        rep = representative(members)
        out.append((rep, float(np.linalg.norm(rep @ crystal.lattice))))
    out.sort(key=lambda t: (round(t[1], 6), int(np.abs(t[0]).sum()), tuple(-t[0])))
    return out


def choose_zone_axes(
    crystal: Crystal,
    rng: np.random.Generator | None = None,
    *,
    n: int = 3,
    pool: int = 5,
    max_index: int = 3,
    d_range: tuple[float, float] = D_RANGE_A,
    reference: Callable | None = None,
) -> np.ndarray:
    """Pick ``n`` symmetry-inequivalent low-index zone axes of a crystal.

    Parameters
    ----------
    crystal : Crystal
    rng : numpy.random.Generator or None
        None: the ``n`` shortest acceptable families, in order. Otherwise ``n`` drawn
        without replacement from the ``pool`` shortest acceptable families, with weight
        1 / length^2 (low-index axes most often), returned shortest first.
    n, pool, max_index : int
    d_range : (2,) float
        Accepted d-spacings (A) of the reference reflection of the axis; when fewer than
        ``pool`` families qualify, the others follow in order of their distance to the
        range, so that there are always ``n`` axes.
    reference : callable or None
        ``reference(crystal, uvw) -> (d_ref, hkl)``; default
        :func:`cbedfeat.simulate.kinematic.reference_reflection`.

    Returns
    -------
    (n, 3) ndarray of int
        Zone axes [uvw], one per row, in distinct families.
    """
    if reference is None:
        from cbedfeat.simulate.kinematic import reference_reflection as reference
    lo, hi = d_range
    ranked = rank_families(crystal, max_index)
    if len(ranked) < n:
        raise ValueError(f"only {len(ranked)} direction families with max_index={max_index}")
    good: list[tuple[np.ndarray, float]] = []
    others: list[tuple[float, int, np.ndarray, float]] = []
    for k, (uvw, length) in enumerate(ranked):
        d_ref = float(reference(crystal, uvw)[0])
        if lo <= d_ref <= hi:
            good.append((uvw, length))
            if len(good) >= max(pool, n):
                break
        else:
            others.append((max(lo - d_ref, d_ref - hi), k, uvw, length))
    if len(good) < n:
        good += [(u, ln) for _, _, u, ln in sorted(others, key=lambda t: t[:2])][: n - len(good)]
    if rng is None:
        chosen = good[:n]
    else:
        cands = good[: max(pool, n)]
        w = np.array([1.0 / ln**2 for _, ln in cands])
        picks = np.sort(rng.choice(len(cands), size=n, replace=False, p=w / w.sum()))
        chosen = [cands[i] for i in picks]
    return np.array([u for u, _ in chosen], dtype=int)


def strong_reflection_families(
    crystal: Crystal,
    *,
    max_hkl: int = 3,
    d_range: tuple[float, float] = STRONG_D_RANGE_A,
) -> tuple[np.ndarray, np.ndarray]:
    """Reflections ranked by kinematic intensity, equal ones sharing a rank.

    Reflections of equal d and |F|^2 (within 1e-4, relative) form a family, which
    holds every symmetry-equivalent reflection and its Friedel mate. Extinct
    reflections (|F| <= 1e-3 sum_j f_j) are left out.

    Parameters
    ----------
    crystal : Crystal
    max_hkl : int
        Largest |h|, |k|, |l|.
    d_range : (2,) float
        Accepted d-spacings (A), open interval.

    Returns
    -------
    hkl : (M, 3) ndarray of int
        The reflections, strongest family first.
    rank : (M,) ndarray of int
        Family rank of each (0: the strongest family).
    """
    from cbedfeat.simulate.scattering import max_amplitude, structure_factors

    r = np.arange(-max_hkl, max_hkl + 1)
    hkl = np.stack(np.meshgrid(r, r, r, indexing="ij"), axis=-1).reshape(-1, 3)
    hkl = hkl[np.any(hkl != 0, axis=1)]
    g = hkl @ crystal.reciprocal
    d = 1.0 / np.sqrt(np.einsum("ij,ij->i", g, g))
    hkl, d = hkl[(d > d_range[0]) & (d < d_range[1])], d[(d > d_range[0]) & (d < d_range[1])]
    amp = np.abs(structure_factors(crystal, hkl))
    keep = amp > 1e-3 * max_amplitude(crystal, hkl)
    hkl, d, intensity = hkl[keep], d[keep], amp[keep] ** 2
    if len(hkl) == 0:
        return hkl.reshape(0, 3).astype(int), np.zeros(0, dtype=int)
    key_i = np.round(np.log(intensity / intensity.max()), 4)
    key_d = np.round(d, 4)
    order = np.lexsort((-hkl[:, 2], -hkl[:, 1], -hkl[:, 0], -key_d, -key_i))
    hkl, key_i, key_d = hkl[order], key_i[order], key_d[order]
    new_family = np.r_[True, (np.diff(key_i) != 0) | (np.diff(key_d) != 0)]
    return hkl.astype(int), np.cumsum(new_family) - 1


def _pair_rank(in_zone: np.ndarray, ranks: np.ndarray) -> int | None:
    """Lowest rank r such that the reflections of rank <= r hold two non-parallel ones."""
    if len(in_zone) < 2:
        return None
    first = in_zone[0]
    for h, rank in zip(in_zone[1:], ranks[1:], strict=True):
        if np.any(np.cross(first, h) != 0):
            return int(rank)
    return None


def strong_axis_candidates(
    crystal: Crystal, *, max_index: int = 3, n_families: int = 6
) -> list[tuple[np.ndarray, int, float]]:
    """Zone-axis families holding a pair of the ``n_families`` strongest reflection families.

    Returns
    -------
    list of (uvw, pair rank, length in A)
        Representative [uvw] of each direction family (point group + inversion), the
        rank of the weaker reflection of its strongest non-parallel pair, and its length;
        sorted by pair rank, then length (low index first).
    """
    hkl, rank = strong_reflection_families(crystal)
    top = rank < n_families
    hkl, rank = hkl[top], rank[top]
    out = []
    for uvw, length in rank_families(crystal, max_index):
        in_zone = hkl @ uvw == 0
        pair = _pair_rank(hkl[in_zone], rank[in_zone])
        if pair is not None:
            out.append((uvw, pair, length))
    out.sort(key=lambda t: (t[1], round(t[2], 6)))
    return out


def choose_strong_zone_axes(
    crystal: Crystal,
    rng: np.random.Generator | None = None,
    *,
    n: int = 3,
    pool: int = 5,
    max_index: int = 3,
    n_families: int = 6,
) -> np.ndarray:
    """Pick ``n`` symmetry-inequivalent zone axes that hold pairs of strong reflections.

    The ORNL set took its zone axes from the strongest X-ray reflections with
    1 < d < 5 A; here the intensities are the electron ones of
    :func:`strong_reflection_families`, and an axis qualifies by the weaker reflection
    of its strongest non-parallel pair (:func:`strong_axis_candidates`). Where fewer
    than ``n`` axes qualify, the shortest remaining directions fill in.

    Parameters
    ----------
    crystal : Crystal
    rng : numpy.random.Generator or None
        None: the ``n`` best candidates. Otherwise ``n`` drawn without replacement from
        the ``pool`` best, with weight 1 / (position + 1), returned best first.
    n, pool, max_index, n_families : int

    Returns
    -------
    (n, 3) ndarray of int
        Zone axes [uvw], one per row, in distinct direction families.
    """
    cands = [
        uvw
        for uvw, _, _ in strong_axis_candidates(crystal, max_index=max_index, n_families=n_families)
    ]
    if len(cands) < max(pool, n):
        taken = {tuple(u) for u in cands}
        cands += [u for u, _ in rank_families(crystal, max_index) if tuple(u) not in taken]
    if rng is None:
        chosen = cands[:n]
    else:
        k = max(pool, n)
        w = 1.0 / np.arange(1, k + 1)
        picks = np.sort(rng.choice(k, size=n, replace=False, p=w / w.sum()))
        chosen = [cands[i] for i in picks]
    return np.array(chosen, dtype=int)


def pick_zone_axes(
    crystal: Crystal, rng: np.random.Generator | None, *, mode: str = "short", pool: int = 5
) -> np.ndarray:
    """(3, 3) zone axes by ``mode``: ``short`` (:func:`choose_zone_axes`) or ``strong``
    (:func:`choose_strong_zone_axes`)."""
    if mode == "short":
        return choose_zone_axes(crystal, rng, pool=pool)
    if mode == "strong":
        return choose_strong_zone_axes(crystal, rng, pool=pool)
    raise ValueError(f"zone-axis mode must be one of {ZONE_AXIS_MODES}, got {mode!r}")
