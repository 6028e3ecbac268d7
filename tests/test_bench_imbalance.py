"""Smoke test of bench/bench_imbalance.py on its synthetic development table."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "bench_imbalance.py"


@pytest.mark.slow
def test_bench_imbalance_writes_results(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_imbalance", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, bench)  # dataclasses look their module up
    spec.loader.exec_module(bench)
    assert bench.main(["--synthetic", "--quick", "--rounds", "2", "--only", "brf", "--device", "cpu",
                       "--out-dir", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "imbalance_synthetic.json").read_text())
    assert [r["strategy"] for r in doc["rows"]] == ["xgb-none", "brf"]
    assert doc["best"] == "brf"  # the only strategy besides the baseline
    base, brf = doc["rows"]
    assert brf["delta_macro_f1"] == pytest.approx(brf["macro_f1"] - base["macro_f1"])
    assert base["fit_time_vs_baseline"] == 1.0
    assert doc["target"]["macro_f1_gain_ok"] == (brf["delta_macro_f1"] >= 0.05)
    md = (tmp_path / "imbalance_synthetic.md").read_text()
    assert "| Balanced random forest **(best)** |" in md
    assert (tmp_path / "imbalance_synthetic_recall.png").read_bytes()[:4] == b"\x89PNG"
