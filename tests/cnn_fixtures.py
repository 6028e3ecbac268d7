"""Tiny ORNL-layout files whose two classes a small CNN can tell apart.

Class 225 (cubic) shows a bright central disk, class 14 (monoclinic) a ring; noise and
a random intensity scale vary per sample. Written with :class:`cbedfeat.data.ORNLWriter`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# space group -> (a, b, c, alpha, beta, gamma) of every material of that class
LATTICES = {225: (4.0, 4.0, 4.0, 90.0, 90.0, 90.0), 14: (5.0, 6.0, 7.0, 90.0, 100.0, 90.0)}


def tiny_stack(space_group: int, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """(3, size, size) float32 pattern of one class."""
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    r = np.hypot(yy, xx) / size
    shape = (r < 0.15) if space_group == 225 else (np.abs(r - 0.3) < 0.06)
    base = 1e-3 + shape * 10.0 * rng.uniform(0.5, 2.0)
    noise = rng.uniform(0.0, 0.5, size=(3, size, size))
    return (base[None] * (1.0 + noise)).astype(np.float32)


def _meta(group: str, material: str, sg: int, energy: int):
    from ornl_samples import build_meta

    abc, ang = LATTICES[sg][:3], LATTICES[sg][3:]
    return build_meta(
        group=group,
        material=material,
        space_group=sg,
        energy_keV=energy,
        abc_angstrom=abc,
        angles_degree=ang,
    )


def write_tiny_dir(
    root: Path,
    *,
    n_train_materials: int = 8,
    n_dev_materials: int = 4,
    n_test_materials: int = 0,
    energies: int = 2,
    size: int = 32,
    seed: int = 0,
) -> Path:
    """``batch_train_0.h5``, ``batch_dev_0.h5`` (and ``batch_test_0.h5`` when
    ``n_test_materials``) of alternating classes 225 / 14."""
    from cbedfeat.data import ORNLWriter

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    start = 0
    for split, n_mat in (
        ("train", n_train_materials),
        ("dev", n_dev_materials),
        ("test", n_test_materials),
    ):
        if n_mat == 0:
            continue
        with ORNLWriter(root / f"batch_{split}_0.h5") as w:
            for i in range(start, start + n_mat):
                sg = 225 if i % 2 == 0 else 14
                for j in range(energies):
                    w.write(
                        tiny_stack(sg, rng, size),
                        _meta(f"sample_{i}_{j}", f"mp-{i}", sg, 100 + 10 * j),
                    )
        start += n_mat
    return root


def stacks_with_features(tmp_path, seed=0):
    """A tiny HDF5 directory's index with three feature columns (one informative)."""
    from cbedfeat.models.cnn_data import index_h5

    table = index_h5(write_tiny_dir(tmp_path / "stacks", size=16, seed=seed))
    rng = np.random.default_rng(seed)
    table["f_sym"] = (table["space_group"] == 225) + rng.normal(0, 0.3, len(table))
    table["f_noise"] = rng.normal(size=len(table))
    table["noise_2"] = rng.normal(size=len(table))
    return table, ["f_sym", "f_noise", "noise_2"]
