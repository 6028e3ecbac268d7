"""Smoke test of bench/bench_imbalance.py on its synthetic development table."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "bench_imbalance.py"


@pytest.mark.slow
def test_bench_imbalance_writes_results(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_imbalance", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, bench)  # dataclasses look their module up
    monkeypatch.syspath_prepend(str(SCRIPT.parent))  # as when run as a script: bench/_tables.py
    spec.loader.exec_module(bench)
    assert (
        bench.main(
            [
                "--synthetic",
                "--quick",
                "--rounds",
                "2",
                "--only",
                "brf",
                "--device",
                "cpu",
                "--out-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
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
    assert "## Protocol" in md and "| Balanced random forest | " in md  # the dev-split table


@pytest.mark.slow
def test_bench_imbalance_cross_validation(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_imbalance", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, bench)
    spec.loader.exec_module(bench)
    args = [
        "--synthetic",
        "--quick",
        "--rounds",
        "2",
        "--only",
        "gated",
        "--device",
        "cpu",
        "--cv",
        "2",
        "--out-dir",
        str(tmp_path),
    ]
    assert bench.main(args) == 0
    doc = json.loads((tmp_path / "imbalance_synthetic_cv.json").read_text())
    base, gated = doc["rows"]
    assert [base["strategy"], gated["strategy"]] == ["xgb-none", "gated"]
    assert len(gated["per_fold"]["macro_f1"]) == 2
    own, ref = gated["per_fold"]["macro_f1"], base["per_fold"]["macro_f1"]
    paired = [g - b for g, b in zip(own, ref, strict=True)]
    assert gated["delta_macro_f1"] == pytest.approx(sum(paired) / 2)
    assert base["delta_top1_accuracy"] == 0.0
    assert not (tmp_path / "imbalance_synthetic.json").exists()  # --cv writes only the _cv files


@pytest.mark.slow
def test_bench_imbalance_records_the_blend_weights(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_imbalance", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, bench)
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    spec.loader.exec_module(bench)
    assert (
        bench.main(
            [
                "--synthetic",
                "--quick",
                "--rounds",
                "2",
                "--only",
                "gated-blend-logit",
                "--device",
                "cpu",
                "--out-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    doc = json.loads((tmp_path / "imbalance_synthetic.json").read_text())
    base, row = doc["rows"]
    assert "blend_weight" not in base
    # The flat and the crystal-system stage each chose their weight on their own hold-out.
    assert set(row["blend_weight"]) == {"flat", "system"}
    assert all(w in row["blend_grid"] for w in row["blend_weight"].values())
    assert row["blend_n_trees"] == bench.QUICK_PARAMS["gated-blend-logit"]["n_trees"]
    assert len(row["blend_tuning"]["flat"]["log_loss"]) == len(row["blend_grid"])
    assert row["tau"] is not None and row["tau_tuning"] is not None
    md = (tmp_path / "imbalance_synthetic.md").read_text()
    assert "Chosen XGBoost share: XGBoost (fixed rounds) + ExtraTrees, system-gated" in md
