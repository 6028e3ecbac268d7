"""Smoke test of bench/bench_simulate.py's multislice rows on a tiny detector."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "bench_simulate.py"


@pytest.mark.slow
def test_bench_simulate_multislice_rows(tmp_path, monkeypatch):
    pytest.importorskip("abtem")
    monkeypatch.syspath_prepend(str(SCRIPT.parent))  # the spawned workers import the script
    spec = importlib.util.spec_from_file_location("bench_simulate", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, bench)
    spec.loader.exec_module(bench)
    assert (
        bench.main(
            ["--engine", "multislice", "--quick", "--shape", "32", "--out-dir", str(tmp_path)]
        )
        == 0
    )
    doc = json.loads((tmp_path / "simulate_multislice.json").read_text())
    rows = doc["multislice"]["rows"]
    assert [(r["engine"], r["workers"]) for r in rows] == [
        ("cbedfeat multislice", 1),
        ("cbedfeat multislice", 2),
        ("abTEM directly", 1),
    ]
    assert all(
        r["patterns"] == 3 and r["patterns_per_s"] > 0 and r["peak_worker_rss_mb"] > 0 for r in rows
    )
    assert "kinematic" not in doc
    md = (tmp_path / "simulate_multislice.md").read_text()
    assert "| abTEM directly | 1 | 1 | 3 |" in md
