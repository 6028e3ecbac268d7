"""The absence-bound bench: oracle absence shares and the three-row table on a tiny set."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _bench_module import load as _load
from _bench_module import tiny_kinematic_set


def _values(bench, space_group, uvw, net, abc=(4.0, 4.0, 4.0), angles=(90.0, 90.0, 90.0)):
    oracle = bench.AbsenceOracle()
    values = oracle.sample(space_group, abc, angles, [uvw] * 3, net)
    names = [n.split("_p0_")[1] for n in bench.oracle_names(net) if "_p0_" in n]
    return dict(zip(names, values[: len(names)], strict=True))


def test_body_centring_shows_only_on_the_conventional_net(monkeypatch):
    bench = _load("bench_absence_bound", monkeypatch)
    # Im-3m (229) along [001]: hk0 with h + k odd absent. The conventional net (a*, b*)
    # has its odd sites of v1 and v2 absent; the observed net is the rotated square net
    # of h + k even, with nothing absent on it.
    conventional = _values(bench, 229, [0, 0, 1], "conventional")
    observed = _values(bench, 229, [0, 0, 1], "observed")
    assert conventional["v1_odd"] == conventional["v2_odd"] == 1.0
    assert conventional["plus_odd"] == 0.0  # (1, 1, 0): h + k even
    assert all(observed[f"{row}_{kind}"] == 0.0 for row in ("v1", "v2") for kind in ("odd", "two"))
    # Pm-3m (221): nothing absent on either net.
    primitive = _values(bench, 221, [0, 0, 1], "conventional")
    assert all(v == 0.0 for v in primitive.values())


def test_a_screw_row_shows_on_the_observed_net(monkeypatch):
    bench = _load("bench_absence_bound", monkeypatch)
    # P2_1/c (14), b unique, along [100]: 0k0 (k odd) and 00l (l odd) absent on the
    # central rows of the 0kl net, which keeps its full lattice: both nets agree.
    abc, angles = (5.0, 6.0, 7.0), (90.0, 104.0, 90.0)
    observed = _values(bench, 14, [1, 0, 0], "observed", abc, angles)
    conventional = _values(bench, 14, [1, 0, 0], "conventional", abc, angles)
    assert observed == pytest.approx(conventional, nan_ok=True)
    assert observed["v1_odd"] == observed["v2_odd"] == 1.0
    assert observed["v1_two"] == observed["v2_two"] == 0.0
    assert observed["v1_off_odd"] == observed["v2_off_odd"] == 0.0  # only the central rows


def test_bench_absence_bound_on_a_tiny_set(tmp_path, monkeypatch):
    data, table = tiny_kinematic_set(tmp_path)
    bench = _load("bench_absence_bound", monkeypatch)
    args = ["--table", str(table), "--data", str(data), "--param", "n_estimators=3"]
    assert bench.main([*args, "--quick", "--out-dir", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "absence_bound.json").read_text())
    rows = {r["row"]: r for r in doc["rows"]}
    assert list(rows) == ["features", "+ observed oracle", "+ conventional oracle"]
    n = rows["features"]["n_features"]
    assert rows["+ observed oracle"]["n_features"] == n + 48
    for r in rows.values():
        bins = sum(
            r[f"errors_{b}"]
            for b in (
                "wrong_crystal_system",
                "wrong_laue_class",
                "wrong_absences",
                "indistinguishable",
            )
        )
        assert bins + r["top1_accuracy"] == pytest.approx(1.0)
        assert r["n_rows"] > 0 and "top1_accuracy" in r["ci95"]
    assert "computed from the labels" in (tmp_path / "absence_bound.md").read_text()
    assert np.isfinite(rows["+ conventional oracle"]["fit_seconds"])
