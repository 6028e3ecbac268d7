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
