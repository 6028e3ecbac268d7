"""bench/bench_calibration.py end to end on a tiny synthetic table."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_bench_calibration_runs_on_a_synthetic_table(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location(
        "bench_calibration", BENCH / "bench_calibration.py"
    )
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    assert (
        module.main(
            [
                "--synthetic",
                "--quick",
                "--rounds",
                "5",
                "--resamples",
                "20",
                "--device",
                "cpu",
                "--out-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    doc = json.loads((tmp_path / "calibration_synthetic.json").read_text())
    for name in ("marginal", "mondrian"):
        sets = doc["sets"][name]
        lo, hi = sets["coverage_ci95"]
        assert 0 <= lo <= sets["coverage"] <= hi <= 1 and sets["mean_set_size"] > 0
    assert {"none", "temperature (cbedfeat)"} <= set(doc["calibrators"])
    assert doc["calibrators"]["temperature (cbedfeat)"]["ece"] is not None
    assert 0 <= doc["top1_accuracy"] <= doc["top5_accuracy"] <= 1
    assert doc["material_sets"]["n"] == doc["n_test_materials"]
    rng = doc["split_conformal_range"]
    assert rng["lo"] <= rng["expected"] <= rng["hi"] and rng["expected"] >= 0.9
    parts = doc["calibration_parts"]
    assert parts["conformal"]["materials"] == doc["calibration"]["conformal_materials"]
    assert parts["conformal"]["rows_of_classes_without_conformal_score"] == 0
    assert doc["dev"]["rows"] > 0 and "marginal" in doc["dev"]["sets"]
    floor = doc["calibrators"]["temperature (cbedfeat)"]["ece_if_calibrated"]
    assert 0 < floor["lo"] <= floor["median"] <= floor["hi"]
    md = (tmp_path / "calibration_synthetic.md").read_text()
    assert "Conformal sets at nominal 90.0 %" in md and "CalibratedClassifierCV" in md
    assert "Exact split conformal with" in md and "Dev rows" in md
