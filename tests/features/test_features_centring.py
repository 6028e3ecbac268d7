"""The one-stack-per-file check that patterns sit where the features assume."""

from __future__ import annotations

import numpy as np
import pytest
from _synth import disk_lattice

from cbedfeat.features.centring import OFF_CENTRE_PX, centre_offsets, off_centre_record


def _stack(shift=(0, 0)):
    img = disk_lattice((128, 128), radius=5, bright_center=3.0)
    return np.roll(np.stack([img, img * 0.5, img**1.5]), shift, axis=(-2, -1))


def test_a_centred_stack_passes():
    assert np.all(centre_offsets(_stack()) < 0.1)
    assert off_centre_record(_stack(), "a.h5", "sample_0_0") is None


def test_an_off_centre_stack_is_reported_with_file_and_sample():
    record = off_centre_record(_stack((2, -1)), "a.h5", "sample_3_0")
    assert record["file"] == "a.h5" and record["group"] == "sample_3_0"
    assert record["offset_px"] == pytest.approx(np.hypot(2, 1), abs=0.1)
    assert "center: inversion" in record["reason"]


def test_a_half_pixel_is_the_limit_and_found_centres_are_not_checked():
    from scipy import ndimage

    near = ndimage.shift(_stack(), (0, 0, 0.3), order=1)
    far = ndimage.shift(_stack(), (0, 0, 0.9), order=1)
    assert 0.2 < centre_offsets(near).max() < OFF_CENTRE_PX < centre_offsets(far).min()
    assert off_centre_record(near, "a.h5", "g") is None
    assert off_centre_record(far, "a.h5", "g") is not None
    # with center 'inversion' (or 'disk', 'com') the features find the centre themselves
    assert off_centre_record(_stack((3, 3)), "a.h5", "g", center="inversion") is None


def test_one_pattern_whose_centre_search_fails_does_not_flag_the_stack():
    stack = _stack()
    # A lone short row of disks off the centre line: no inversion centre near the middle.
    lone = np.zeros_like(stack[0])
    lone[20:30, 80:120] = 1.0
    stack[2] = lone
    assert centre_offsets(stack)[2] > 5 * OFF_CENTRE_PX
    assert off_centre_record(stack, "a.h5", "g") is None
    shifted = _stack((2, 0))
    shifted[2] = lone
    assert off_centre_record(shifted, "a.h5", "g")["offset_px"] == pytest.approx(2, abs=0.1)
