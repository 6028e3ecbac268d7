"""bench/bench_calibration_share.py end to end on a tiny synthetic table."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_bench_calibration_share_runs_on_a_synthetic_table(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location(
        "bench_calibration_share", BENCH / "bench_calibration_share.py"
    )
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    args = ["--synthetic", "--quick", "--rounds", "5", "--draws", "2", "--device", "cpu"]
    args += ["--fractions", "0.3", "--shares", "0.5", "0.75", "--out-dir", str(tmp_path)]
    assert module.main(args) == 0
    doc = json.loads((tmp_path / "calibration_share_synthetic.json").read_text())
    (entry,) = doc["fractions"]
    assert [s["share"] for s in entry["shares"]] == [0.5, 0.75]
    half, most = entry["shares"]
    assert half["conformal_scores"] < most["conformal_scores"] < entry["held_materials"]
    assert most["temperature_materials"] == entry["held_materials"] - most["conformal_scores"]
    assert len(half["draws"]) == 2 and 0 <= half["coverage"]["mean"] <= 1
    assert "dev coverage" in (tmp_path / "calibration_share_synthetic.md").read_text()
