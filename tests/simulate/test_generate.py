"""Data-set generation: plan, attributes vs crystal and geometry, determinism, resume."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cbedfeat.cli import main as cli
from cbedfeat.data import iter_samples
from cbedfeat.simulate import generate as gen
from cbedfeat.simulate.kinematic import reference_reflection
from cbedfeat.simulate.plan import (
    PLAN_FILE,
    SimulationConfig,
    assign_splits,
    draw_space_groups,
    largest_remainder,
    make_plan,
    ornl_train_counts,
)

# Small patterns keep the tests fast; the geometry (0.01 1/A pixels) is the ORNL one.
TINY = SimulationConfig(
    materials=8,
    energies=2,
    seed=11,
    top_classes=2,
    min_per_class=4,
    split=(0.5, 0.25, 0.25),
    samples_per_file=4,
    shape=(64, 64),
    compression="gzip",
)


def wavelength_A(energy_keV: float) -> float:
    """Relativistic electron wavelength (Williams & Carter, Table 1.1 formula)."""
    v = energy_keV * 1e3
    return 12.2643 / np.sqrt(v * (1 + 0.97848e-6 * v))


def digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim1")
    gen.generate_dataset(out, config=TINY, workers=1, progress=False)
    return out


# ---------------------------------------------------------------- plan (no rendering)


def test_largest_remainder_known_answer():
    assert largest_remainder(np.array([5, 3, 2]), 7).tolist() == [4, 2, 1]
    assert largest_remainder(np.array([1, 1, 1]), 4).tolist() == [2, 1, 1]  # tie: lower index


def test_space_groups_follow_the_ornl_train_counts():
    counts = ornl_train_counts()
    assert sum(counts.values()) == 148006 and len(counts) == 200
    config = SimulationConfig(materials=1000, seed=0)
    drawn = Counter(draw_space_groups(config, np.random.default_rng(0)).tolist())
    assert sum(drawn.values()) == 1000
    for sg in (14, 2, 1, 62):  # the most common classes, within one material of exact
        assert abs(drawn[sg] - 1000 * counts[sg] / 148006) < 1.0
    assert set(drawn) <= set(counts)


def test_min_per_class_and_top_classes():
    counts = {14: 900, 2: 90, 225: 10}
    config = SimulationConfig(materials=20, min_per_class=3, top_classes=2)
    drawn = Counter(draw_space_groups(config, np.random.default_rng(0), counts).tolist())
    # 3 each for the two most common, the other 14 split 900:90 -> 13:1 (largest remainder)
    assert drawn == {14: 16, 2: 4}
    with pytest.raises(ValueError, match="min_per_class=11"):
        draw_space_groups(replace(config, min_per_class=11), np.random.default_rng(0), counts)


def test_splits_keep_classes_in_train_and_materials_apart():
    sgs = np.repeat([14, 2, 225, 1], [40, 10, 2, 1])
    splits = assign_splits(sgs, (0.8, 0.1, 0.1), np.random.default_rng(0))
    for split in ("dev", "test"):
        assert set(sgs[splits == split]) <= set(sgs[splits == "train"])
    assert splits[sgs == 1].tolist() == ["train"]  # a single material stays in train
    assert 2 <= (splits[sgs == 14] == "dev").sum() <= 6


def test_plan_files_are_bounded_and_disjoint():
    config = SimulationConfig.from_preset("demo")
    plan = make_plan(config)
    assert plan.space_groups.shape == (config.materials,)
    seen = [i for f in plan.files for i in f.materials]
    assert sorted(seen) == list(range(config.materials))  # every material once
    for f in plan.files:
        assert len(f.materials) * config.energies <= config.samples_per_file
        assert f.name.startswith(f"batch_{f.split}_") and set(plan.splits[list(f.materials)]) == {
            f.split
        }
    assert make_plan(config).to_json() == plan.to_json()


def test_presets_come_from_the_manifest():
    demo = SimulationConfig.from_preset("demo")
    bench = SimulationConfig.from_preset("bench")
    assert demo.shape == (512, 512) and bench.shape == (512, 512)
    assert bench.materials * bench.energies >= 3000 > demo.materials * demo.energies
    assert SimulationConfig.from_preset("demo", materials=5).materials == 5
    with pytest.raises(KeyError, match="unknown preset"):
        SimulationConfig.from_preset("nope")


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="energies"):
        SimulationConfig(energies=11)
    with pytest.raises(ValueError, match="samples_per_file"):
        SimulationConfig(energies=3, samples_per_file=2)
    for field, bad in (("zone_axes", "long"), ("crystals", "fluffy"), ("energy_draw", "all")):
        with pytest.raises(ValueError, match=field):
            SimulationConfig(**{field: bad})


def test_random_energies_are_drawn_per_material_without_moving_the_crystal():
    first = SimulationConfig(materials=40, energies=2, seed=5)
    drawn = replace(first, energy_draw="random")
    energies = [drawn.material_energies_keV(i) for i in range(40)]
    assert all(first.material_energies_keV(i) == [100, 110] for i in range(40))
    for e in energies:
        assert len(e) == 2 and e == sorted(e) and len(set(e)) == 2
        assert all(100 <= x <= 190 and x % 10 == 0 for x in e)
    assert len({tuple(e) for e in energies}) > 10  # really drawn, not one pair
    assert energies == [drawn.material_energies_keV(i) for i in range(40)]
    a, za, oa, _ = gen.material_crystal(first, 3, 62)
    b, zb, ob, _ = gen.material_crystal(drawn, 3, 62)
    assert np.array_equal(a.frac, b.frac) and np.array_equal(za, zb) and oa == ob


def test_varied_strong_random_preset_writes_what_it_draws(tmp_path):
    config = replace(
        TINY,
        materials=4,
        min_per_class=2,
        energies=1,
        samples_per_file=2,
        crystals="varied",
        zone_axes="strong",
        energy_draw="random",
    )
    gen.generate_dataset(tmp_path, config=config, workers=1, progress=False)
    plan = make_plan(config)
    seen = 0
    for _, meta in iter_samples(tmp_path, strict=True):
        i, _ = meta.ij
        crystal, z_dirs, _, _ = gen.material_crystal(config, i, plan.space_groups[i])
        assert meta.energy_keV == config.material_energies_keV(i)[0]
        assert np.array_equal(meta.z_dirs, z_dirs) and np.allclose(meta.abc_angstrom, crystal.abc)
        seen += 1
    assert seen == 4
    wide = SimulationConfig.from_preset("bench-dynamical")
    assert (wide.crystals, wide.zone_axes, wide.energy_draw) == ("varied", "strong", "random")
    assert SimulationConfig.from_preset("bench-dynamical-compact").crystals == "compact"


def test_a_material_depends_on_seed_and_index_only():
    a, za, oa, _ = gen.material_crystal(SimulationConfig(materials=3, seed=5), 2, 62)
    b, zb, ob, _ = gen.material_crystal(SimulationConfig(materials=99, seed=5), 2, 62)
    c, _, _, _ = gen.material_crystal(SimulationConfig(materials=3, seed=6), 2, 62)
    assert np.array_equal(a.frac, b.frac) and np.array_equal(za, zb) and oa == ob
    assert a.material == "syn-2" and not np.array_equal(a.lattice, c.lattice)


# ---------------------------------------------------------------- written data


def test_written_attributes_match_crystal_and_geometry(tiny_dir):
    plan = make_plan(TINY)
    samples = list(iter_samples(tiny_dir, strict=True))
    assert len(samples) == TINY.materials * TINY.energies
    crystals = {}
    for stack, meta in samples:
        i, j = meta.ij
        assert stack.shape == (3, 64, 64) and stack.dtype == np.float32
        assert meta.space_group == plan.space_groups[i] and meta.split == plan.splits[i]
        assert meta.energy_keV == 100 + 10 * j and meta.material == f"syn-{i}"
        if i not in crystals:
            crystals[i] = gen.material_crystal(TINY, i, plan.space_groups[i])
        crystal, z_dirs, _, _ = crystals[i]
        assert np.array_equal(meta.z_dirs, z_dirs)
        assert np.allclose(meta.abc_angstrom, crystal.abc)
        assert np.allclose(meta.angles_degree, crystal.angles)
        assert meta.formula == crystal.formula
        d_ref = [reference_reflection(crystal, uvw)[0] for uvw in z_dirs]
        assert np.allclose(meta.d_hkls_angstrom, d_ref)
        # semi-angle = lambda / (4 d) at the recorded energy (ORNL geometry)
        expected = wavelength_A(meta.energy_keV) / (4 * meta.d_hkls_angstrom)
        assert np.allclose(meta.semi_angles_rad, expected, rtol=1e-4)
        # y_dir: the reference reflection, in the zero-order Laue zone of the axis
        assert np.allclose(np.einsum("ij,ij->i", meta.y_dirs, meta.z_dirs), 0)


def test_splits_are_material_disjoint(tiny_dir):
    by_split: dict[str, set] = {}
    for _, meta in iter_samples(tiny_dir, load_stack=False):
        by_split.setdefault(meta.split, set()).add(meta.material)
    assert set(by_split) == {"train", "dev", "test"}
    assert not (by_split["train"] & by_split["dev"]) and not (by_split["train"] & by_split["test"])
    assert not (by_split["dev"] & by_split["test"])


def test_inspect_passes_on_generated_data(tiny_dir):
    result = CliRunner().invoke(cli, ["inspect", str(tiny_dir), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "problems: none" in result.output


def test_same_seed_same_bytes_with_one_or_two_workers(tiny_dir, tmp_path):
    gen.generate_dataset(tmp_path, config=TINY, workers=2, progress=False)
    assert digests(tmp_path) == digests(tiny_dir)
    other = tmp_path.parent / "other_seed"
    gen.generate_dataset(other, config=replace(TINY, seed=12), workers=1, progress=False)
    assert digests(other)[PLAN_FILE] != digests(tiny_dir)[PLAN_FILE]


def test_interrupted_run_leaves_whole_files_and_resume_finishes(tiny_dir, tmp_path, monkeypatch):
    real = gen.simulate_material

    def crash_on_material_5(config, index, *args):
        if index == 5:
            raise KeyboardInterrupt
        return real(config, index, *args)

    monkeypatch.setattr(gen, "simulate_material", crash_on_material_5)
    with pytest.raises(KeyboardInterrupt):
        gen.generate_dataset(tmp_path, config=TINY, workers=1, progress=False)
    names = {p.name for p in tmp_path.iterdir()}
    assert not any(n.endswith(".tmp") for n in names)
    complete = {n for n in names if n.endswith(".h5")}
    assert complete and complete < set(digests(tiny_dir))
    for n in complete:  # what is there is whole and final
        assert digests(tmp_path)[n] == digests(tiny_dir)[n]

    monkeypatch.setattr(gen, "simulate_material", real)
    (tmp_path / "batch_test_0.h5.tmp").write_bytes(b"half a file")  # a crash's leftover
    result = gen.generate_dataset(tmp_path, config=TINY, workers=1, progress=False, resume=True)
    assert set(result.skipped) == complete
    assert digests(tmp_path) == digests(tiny_dir)


def test_resume_accepts_a_plan_written_before_a_config_field_existed(tiny_dir, tmp_path):
    for p in tiny_dir.iterdir():
        (tmp_path / p.name).write_bytes(p.read_bytes())
    plan = json.loads((tmp_path / PLAN_FILE).read_text())
    for key in ("crystals", "zone_axes", "energy_draw"):  # fields added later
        del plan["config"][key]
    (tmp_path / PLAN_FILE).write_text(json.dumps(plan))
    result = gen.generate_dataset(tmp_path, config=TINY, progress=False)
    assert result.written == [] and len(result.skipped) == len(make_plan(TINY).files)
    with pytest.raises(ValueError, match="different simulation"):
        gen.generate_dataset(tmp_path, config=replace(TINY, crystals="varied"), progress=False)


def test_resume_refuses_a_different_simulation(tiny_dir, tmp_path):
    for p in tiny_dir.iterdir():
        (tmp_path / p.name).write_bytes(p.read_bytes())
    with pytest.raises(ValueError, match="different simulation"):
        gen.generate_dataset(tmp_path, config=replace(TINY, seed=99), progress=False)
    result = gen.generate_dataset(tmp_path, config=TINY, progress=False)
    assert result.written == [] and len(result.skipped) == len(make_plan(TINY).files)


def test_cli_simulate(tmp_path):
    out = tmp_path / "data"
    args = [
        "simulate",
        "--out",
        str(out),
        "--preset",
        "demo",
        "--materials",
        "2",
        "--energies",
        "1",
        "--top-classes",
        "1",
        "--min-per-class",
        "0",
        "--seed",
        "3",
        "--no-progress",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in out.glob("batch_*.h5"))
    assert f"wrote {len(files)} files (2 samples)" in result.output
    plan = json.loads((out / PLAN_FILE).read_text())
    assert plan["config"]["materials"] == 2 and plan["space_groups"] == [14, 14]
    assert sorted(f["name"] for f in plan["files"]) == files
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and f"kept {len(files)} complete files" in again.output
    bad = CliRunner().invoke(cli, ["simulate", "--out", str(out), "--preset", "nope"])
    assert bad.exit_code != 0 and "unknown preset" in bad.output
    wide = tmp_path / "wide"
    extra = ["--crystals", "varied", "--zone-axes", "strong", "--energy-draw", "random"]
    result = CliRunner().invoke(cli, [*args[:2], str(wide), *args[3:], *extra])
    assert result.exit_code == 0, result.output
    config = json.loads((wide / PLAN_FILE).read_text())["config"]
    assert (config["crystals"], config["zone_axes"], config["energy_draw"]) == (
        "varied",
        "strong",
        "random",
    )


def test_fit_min_per_class_lets_the_number_of_materials_win(caplog):
    from cbedfeat.simulate.plan import fit_min_per_class

    counts = {14: 50, 62: 30, 225: 20, 2: 10}
    config = SimulationConfig(materials=9, min_per_class=8, top_classes=3)
    with caplog.at_level("INFO", logger="cbedfeat.simulate.plan"):
        fitted = fit_min_per_class(config, counts)
    assert fitted.min_per_class == 3 and fitted.materials == 9
    assert "drops from 8 to 3" in caplog.text
    groups = draw_space_groups(fitted, np.random.default_rng(0), counts)
    assert sorted(groups.tolist()) == [14, 14, 14, 62, 62, 62, 225, 225, 225]
    # a minimum that fits is left alone; fewer materials than classes: no minimum
    assert fit_min_per_class(replace(config, materials=30), counts).min_per_class == 8
    assert fit_min_per_class(replace(config, materials=2), counts).min_per_class == 0


def test_cli_simulate_materials_wins_over_the_preset_minimum(tmp_path, monkeypatch):
    """`--materials 24` with the demo preset (8 per class over 24 groups) gives 24."""
    import cbedfeat.simulate.generate as generate

    seen = {}

    def plan_only(out, *, config, **kwargs):
        seen["plan"] = make_plan(config)
        return generate.GenerationResult(out_dir=Path(out))

    monkeypatch.setattr(generate, "generate_dataset", plan_only)
    result = CliRunner().invoke(
        cli, ["simulate", "--out", str(tmp_path / "d"), "--materials", "24", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    plan = seen["plan"]
    assert plan.config.materials == 24 and plan.config.min_per_class == 1
    assert len(set(plan.space_groups.tolist())) == 24  # one material of each demo class
    assert "leaves 1 per class" in result.output
    # an explicit minimum is the user's word: it still refuses what cannot be drawn
    bad = CliRunner().invoke(
        cli,
        [
            "simulate",
            "--out",
            str(tmp_path / "e"),
            "--materials",
            "24",
            "--min-per-class",
            "8",
            "--no-progress",
        ],
    )
    assert bad.exit_code != 0 and "needs 192 materials" in bad.output
