"""Zone axes: families under the point group, low index first, inequivalent picks."""

from __future__ import annotations

import numpy as np
import pytest

from cbedfeat.simulate.crystals import (
    Crystal,
    lattice_from_parameters,
    point_group_rotations,
    random_crystal,
)
from cbedfeat.simulate.zone_axes import (
    candidate_directions,
    choose_strong_zone_axes,
    choose_zone_axes,
    direction_families,
    pick_zone_axes,
    rank_families,
    strong_axis_candidates,
    strong_reflection_families,
)


def _constant_reference(d):
    return lambda crystal, uvw: (d, np.zeros(3, dtype=int))


def _cubic(sg=221, a=4.0):
    return Crystal(
        lattice=np.eye(3) * a, frac=np.zeros((1, 3)), numbers=np.array([29]), space_group=sg
    )


def test_candidates_are_primitive_directions():
    c = candidate_directions(1)
    assert len(c) == 26  # 3^3 - 1, all with gcd 1
    assert len(candidate_directions(2)) == 98  # 124 minus the 26 of the form 2 x [uvw]
    assert not any(np.gcd.reduce(np.abs(v)) > 1 for v in candidate_directions(3))


def test_cubic_families_are_100_110_111():
    fams = direction_families(221, max_index=1)
    sizes = sorted(len(f) for f in fams)
    assert sizes == [6, 8, 12]  # <100>, <111>, <110> with their inverses
    ranked = [tuple(int(x) for x in u) for u, _ in rank_families(_cubic(), max_index=1)]
    assert ranked == [(1, 0, 0), (1, 1, 0), (1, 1, 1)]


def test_triclinic_families_are_friedel_pairs():
    fams = direction_families(1, max_index=1)
    assert len(fams) == 13 and all(len(f) == 2 for f in fams)


def test_hexagonal_a_axis_family():
    lat = lattice_from_parameters([3.0, 3.0, 5.0], [90, 90, 120])
    c = Crystal(lattice=lat, frac=np.zeros((1, 3)), numbers=np.array([12]), space_group=191)
    ranked = [tuple(int(x) for x in u) for u, _ in rank_families(c, max_index=1)]
    # [100], [010] and [110] are one family under the 6-fold axis.
    assert ranked[0] == (1, 0, 0)
    assert (0, 1, 0) not in ranked and (1, 1, 0) not in ranked
    assert ranked[1] == (0, 0, 1) or ranked[1] == (1, -1, 0)


def test_choose_shortest_without_rng():
    axes = choose_zone_axes(_cubic(), None, reference=_constant_reference(2.0))
    assert axes.tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]


def test_axes_with_a_reference_outside_the_range_are_passed_over():
    def ref(crystal, uvw):  # [100] would give tiny, crowded disks
        return (8.0 if np.count_nonzero(uvw) == 1 else 2.0), np.zeros(3, dtype=int)

    axes = choose_zone_axes(_cubic(), None, reference=ref, d_range=(1.0, 6.0))
    assert axes.tolist() == [[1, 1, 0], [1, 1, 1], [2, 1, 0]]


def test_too_few_acceptable_axes_fall_back_to_the_nearest():
    axes = choose_zone_axes(_cubic(), None, reference=_constant_reference(50.0), max_index=1)
    assert axes.tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]


@pytest.mark.parametrize("sg", [1, 2, 14, 62, 123, 166, 194, 225, 230])
def test_random_picks_are_inequivalent_and_repeatable(sg):
    crystal = random_crystal(sg, np.random.default_rng(sg))
    ref = _constant_reference(2.0)
    a = choose_zone_axes(crystal, np.random.default_rng(3), reference=ref)
    b = choose_zone_axes(crystal, np.random.default_rng(3), reference=ref)
    assert np.array_equal(a, b) and a.shape == (3, 3) and a.dtype.kind == "i"
    rots = point_group_rotations(sg)
    rots = np.concatenate([rots, -rots])
    for i in range(3):
        for j in range(i + 1, 3):
            images = {tuple(v) for v in rots @ a[i]}
            assert tuple(a[j]) not in images, (sg, a)


@pytest.mark.parametrize("sg", [2, 14, 62, 139, 166, 194, 225])
def test_axes_have_a_reasonable_reference_spacing(sg):
    """With the renderer's reference reflection: 1 A <= d_ref <= 10 A (disks fit)."""
    from cbedfeat.simulate.kinematic import reference_reflection

    crystal = random_crystal(sg, np.random.default_rng(100 + sg))
    axes = choose_zone_axes(crystal, np.random.default_rng(0))
    for uvw in axes:
        d_ref, hkl = reference_reflection(crystal, uvw)
        assert 1.0 <= d_ref <= 10.0 and int(hkl @ uvw) == 0


# ---------------------------------------------------------------- strong reflections


def _rocksalt(a=5.64):
    """NaCl (Fm-3m): 200 and 220 strong (Na and Cl in phase), 111 weak (out of phase)."""
    na = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    return Crystal(
        lattice=np.eye(3) * a,
        frac=np.vstack([na, (na + 0.5) % 1.0]),
        numbers=np.array([11] * 4 + [17] * 4),
        space_group=225,
    )


def test_strong_reflection_families_of_rocksalt():
    hkl, rank = strong_reflection_families(_rocksalt())
    assert np.all(np.diff(rank) >= 0) and rank[0] == 0
    fam0 = {tuple(sorted(np.abs(h))) for h in hkl[rank == 0]}
    assert fam0 == {(0, 0, 2)} and np.sum(rank == 0) == 6  # the six {200}
    assert {tuple(sorted(np.abs(h))) for h in hkl[rank == 1]} == {(0, 2, 2)}
    # F(100), F(110) vanish by face centring: never ranked
    assert not any(sorted(np.abs(h)) in ([0, 0, 1], [0, 1, 1]) for h in hkl.tolist())
    # equal d and intensity share a rank: 111 and its Friedel mate
    r111 = rank[[i for i, h in enumerate(hkl.tolist()) if sorted(np.abs(h)) == [1, 1, 1]]]
    assert len(set(r111.tolist())) == 1 and len(r111) == 8


def test_strong_zone_axes_of_rocksalt_are_the_three_classic_ones():
    axes = choose_strong_zone_axes(_rocksalt())
    assert [sorted(np.abs(u).tolist()) for u in axes] == [[0, 0, 1], [0, 1, 1], [1, 1, 1]]
    cands = strong_axis_candidates(_rocksalt())
    ranks = {tuple(sorted(np.abs(u))): r for u, r, _ in cands}
    # [001] holds 200 and 020 (both rank 0); [110] and [111] need a {220}
    assert ranks[(0, 0, 1)] == 0 and ranks[(0, 1, 1)] == 1 and ranks[(1, 1, 1)] == 1


@pytest.mark.parametrize("sg", [2, 14, 62, 166, 194])
def test_strong_axes_hold_two_strong_reflections_and_are_inequivalent(sg):
    crystal = random_crystal(sg, np.random.default_rng(sg), style="varied")
    hkl, rank = strong_reflection_families(crystal)
    strong = hkl[rank < 6]
    a = choose_strong_zone_axes(crystal, np.random.default_rng(1))
    b = choose_strong_zone_axes(crystal, np.random.default_rng(1))
    assert np.array_equal(a, b) and a.shape == (3, 3)
    families = direction_families(sg)
    owner = {tuple(m): k for k, members in enumerate(families) for m in members}
    assert len({owner[tuple(u)] for u in a}) == 3
    for uvw in a:
        in_zone = strong[strong @ uvw == 0]
        assert len(in_zone) >= 2 and np.any(np.cross(in_zone[0], in_zone) != 0)


def test_pick_zone_axes_modes():
    crystal = _rocksalt()
    assert np.array_equal(pick_zone_axes(crystal, None, mode="short"), choose_zone_axes(crystal))
    assert np.array_equal(
        pick_zone_axes(crystal, None, mode="strong"), choose_strong_zone_axes(crystal)
    )
    with pytest.raises(ValueError, match="zone-axis mode"):
        pick_zone_axes(crystal, None, mode="longest")
