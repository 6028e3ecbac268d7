"""bench/independent_multislice.py on a tiny grid, and bench/bench_independent.py end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _bench_module import load as _load

TINY = {"gpts": 64, "thickness_A": 10.0}
SEED = 3


@pytest.fixture(scope="module")
def gen():
    pytest.importorskip("pyxtal")
    pytest.importorskip("pymatgen")
    pytest.importorskip("spglib")
    with pytest.MonkeyPatch.context() as mp:
        yield _load("independent_multislice", mp)


@pytest.fixture(scope="module")
def tiny_set(gen, tmp_path_factory):
    """Two materials, one per file, on a 64 x 64 grid through a 10 A crystal."""
    pytest.importorskip("abtem")
    out = tmp_path_factory.mktemp("independent")
    settings = gen.Settings(**TINY)
    paths = gen.generate(out, 2, seed=SEED, settings=settings, per_file=1, progress=False)
    return out, paths, settings


def _rocksalt(gen):
    """NaCl, Fm-3m, a = 5.64 A, with the rotations of its point group (spglib)."""
    import spglib

    lattice = 5.64 * np.eye(3)
    fcc = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    frac = np.concatenate([fcc, fcc + [0.5, 0, 0]]) % 1.0
    symbols = ("Na",) * 4 + ("Cl",) * 4
    data = spglib.get_symmetry_dataset((lattice, frac, [11] * 4 + [17] * 4), symprec=1e-3)
    return gen.Material(lattice, frac, symbols, int(data.number), np.asarray(data.rotations))


def test_wavelength_is_the_relativistic_one(gen):
    assert gen.wavelength_A(100) == pytest.approx(0.03701, abs=2e-5)
    assert gen.wavelength_A(190) == pytest.approx(0.02584, abs=2e-5)


def test_rocksalt_strongest_reflections_and_zone_axes(gen):
    nacl = _rocksalt(gen)
    assert nacl.space_group == 225
    hkl, intensity, family = gen.strong_reflections(nacl)
    # Face-centred: h, k, l all even or all odd; {200} is the strongest family of NaCl.
    assert np.all((hkl % 2 == hkl[:, :1] % 2).all(axis=1))
    assert sorted(np.abs(hkl[family == 0]).sum(axis=1)) == [2] * 6
    assert np.all(np.diff(intensity) <= 1e-9 * intensity.max())
    zones = gen.choose_zone_axes(nacl, gen.Settings())
    assert [z.uvw for z in zones] == [(1, 0, 0), (1, 1, 0), (1, 1, 1)]
    for z in zones:
        assert all(np.dot(h, z.uvw) == 0 for h in z.pair)
        assert np.dot(z.hkl_ref, z.uvw) == 0
    # [100]: the shortest allowed ZOLZ reflection is 200-type (020/002), d = a / 2.
    assert zones[0].d_ref == pytest.approx(5.64 / 2)


def test_tiny_set_reads_back_in_the_ornl_layout(gen, tiny_set):
    from cbedfeat.data.labels import space_group_info
    from cbedfeat.data.ornl import iter_samples

    out, paths, settings = tiny_set
    assert [p.name for p in paths] == ["batch_test_0.h5", "batch_test_1.h5"]
    samples = list(iter_samples(out, strict=True))
    assert len(samples) == 2
    infos = [
        m for p in paths for m in json.loads(p.with_suffix(".info.json").read_text())["materials"]
    ]
    for sample, info in zip(samples, infos, strict=True):
        meta = sample.meta
        assert sample.stack.shape == (3, settings.gpts, settings.gpts)
        assert np.isfinite(sample.stack).all() and (sample.stack >= 0).all()
        assert sample.stack.sum(axis=(1, 2)).min() > 0.5  # most of the beam on the detector
        assert meta.split == "test" and meta.material == info["material"]
        assert space_group_info(meta.space_group).number == info["space_group"]
        assert meta.energy_keV in gen.ORNL_ENERGIES_KEV
        assert (
            meta.group == f"sample_{info['index']}_{gen.ORNL_ENERGIES_KEV.index(meta.energy_keV)}"
        )
        z = meta.z_dirs
        # three distinct, pairwise non-parallel zone axes
        assert all(np.cross(z[i], z[j]).any() for i in range(3) for j in range(i + 1, 3)), z
        assert np.allclose(
            meta.semi_angles_rad, gen.wavelength_A(meta.energy_keV) / (4 * meta.d_hkls_angstrom)
        )
        for k, zone in enumerate(info["zones"]):
            assert tuple(zone["uvw"]) == tuple(z[k])
            # the axis contains both strong reflections it came from, and the reference
            for h in [*zone["pair"], zone["hkl_ref"]]:
                assert np.dot(h, zone["uvw"]) == 0
            assert zone["thickness_A"] == pytest.approx(
                zone["period_A"] * max(1, round(settings.thickness_A / zone["period_A"]))
            )
            assert zone["n_slices"] * settings.max_slice_A >= zone["thickness_A"] - 1e-6


def test_the_label_is_the_crystals_space_group(gen):
    import spglib

    settings = gen.Settings(**TINY)
    for index in range(2):
        material, _, _ = gen.draw_material(SEED, index, settings)
        abc, _ = material.cellpar()
        assert settings.min_cell_A <= abc.min() and abc.max() <= settings.max_cell_A
        cell = (material.lattice, material.frac, material.numbers)
        assert spglib.get_symmetry_dataset(cell, symprec=1e-3).number == material.space_group


def test_same_seed_same_set_whatever_the_file_layout(gen, tiny_set, tmp_path):
    from cbedfeat.data.ornl import iter_samples

    out, _, settings = tiny_set
    # Material 1 alone, in a layout of two per file: the same draws and patterns.
    again = gen.make_material(SEED, 1, settings)
    first = [s for s in iter_samples(out, strict=True) if s.meta.group.startswith("sample_1_")][0]
    assert again[1].space_group == first.meta.space_group
    assert again[1].formula == first.meta.formula
    assert np.array_equal(again[1].z_dirs, first.meta.z_dirs)
    # FFTW plans may differ between runs: equal to float32 rounding, not to the byte
    np.testing.assert_allclose(again[0], first.stack, rtol=1e-4, atol=1e-7)
    other = gen.draw_material(SEED + 1, 1, settings)[0]
    assert other.formula != first.meta.formula or other.space_group != first.meta.space_group


def test_existing_files_are_kept(gen, tiny_set):
    out, paths, settings = tiny_set
    stamps = [p.stat().st_mtime_ns for p in paths]
    gen.generate(out, 2, seed=SEED, settings=settings, per_file=1, progress=False)
    assert [p.stat().st_mtime_ns for p in paths] == stamps
    assert not list(out.glob("*.tmp"))


def test_bench_independent_writes_every_row(tmp_path, monkeypatch):
    bench = _load("bench_independent", monkeypatch)
    args = ["--synthetic", "--quick", "--rounds", "3", "--resamples", "50", "--device", "cpu"]
    assert bench.main([*args, "--out-dir", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "independent_synthetic.json").read_text())
    assert [(r["train"], r["test"]) for r in doc["rows"]] == [
        ("dynamical", "independent"),
        ("dynamical", "dynamical test"),
        ("kinematic", "independent"),
        ("both", "independent"),
    ]
    assert doc["baselines"][0]["train"] == "majority of dynamical train"
    n = doc["independent_set"]["materials"]
    for r in doc["rows"] + doc["baselines"]:
        if r["test"] == "independent":
            assert r["n_materials"] == n
        lo, hi = r["ci95"]["top1_accuracy"]
        assert lo <= r["top1_accuracy"] + 1e-12 <= hi + 2e-12
        bins = [r[f"errors_{k}"] for k in ("wrong_crystal_system", "wrong_laue_class")]
        bins += [r[f"errors_{k}"] for k in ("wrong_absences", "indistinguishable")]
        assert sum(bins) == pytest.approx(1 - r["top1_accuracy"])
    target = doc["targets"]
    assert set(target) == {"top1_accuracy", "crystal_system_accuracy"}
    assert target["top1_accuracy"]["value"] == doc["rows"][0]["top1_accuracy"]
    parts = doc["breakdown"]["dynamical"]
    assert parts[0]["n_rows"] + parts[1]["n_rows"] == doc["independent_set"]["rows"]
    md = (tmp_path / "independent_synthetic.md").read_text()
    assert "| dynamical -> independent |" in md and "Target (issue 13" in md
    assert "## Protocol" in md

    # Without the kinematic table: the dynamical rows only.
    assert bench.main([*args, "--no-kinematic", "--out-dir", str(tmp_path / "k")]) == 0
    doc = json.loads((tmp_path / "k" / "independent_synthetic.json").read_text())
    assert [r["train"] for r in doc["rows"]] == ["dynamical", "dynamical"]


def test_generation_summary_reads_the_info_files(tiny_set, monkeypatch):
    bench = _load("bench_independent", monkeypatch)
    out, _, settings = tiny_set
    summary = bench.generation_summary(out)
    assert summary["seeds"] == [SEED] and summary["n_patterns"] == 6
    assert summary["settings"]["gpts"] == settings.gpts
    assert summary["cpu_seconds_per_pattern"]["median"] > 0
    assert bench.generation_summary(out / "nothing") is None


def test_bench_independent_trains_on_an_extra_table_too(tmp_path, monkeypatch):
    bench = _load("bench_independent", monkeypatch)
    dyn, kin, ind = bench._synthetic_tables(tmp_path, 0)
    args = ["--dynamical", str(dyn), "--independent", str(ind), "--no-kinematic"]
    args += [
        "--extra",
        "more",
        str(kin),
        "--stem",
        "with_more",
        "--independent-data",
        str(tmp_path),
    ]
    args += ["--quick", "--rounds", "3", "--resamples", "50", "--device", "cpu"]
    assert bench.main([*args, "--out-dir", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "with_more.json").read_text())
    pairs = [(r["train"], r["test"]) for r in doc["rows"]]
    assert pairs == [
        ("dynamical", "independent"),
        ("dynamical", "dynamical test"),
        ("dynamical + more", "independent"),
        ("dynamical + more", "dynamical test"),
    ]
    one, two = doc["rows"][0], doc["rows"][2]
    # the extra table's materials are counted apart from the dynamical table's
    assert two["n_train_rows"] > one["n_train_rows"]
    assert two["n_train_materials"] == 2 * one["n_train_materials"]
    assert doc["extras"] == {"more": str(kin)}
    assert "| dynamical + more -> independent |" in (tmp_path / "with_more.md").read_text()
