"""bench/bench_train_scale.py end to end on tiny tables."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location(
        "bench_train_scale", BENCH / "bench_train_scale.py"
    )
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_quick_run_on_a_synthetic_table(tmp_path, monkeypatch):
    bench = _bench(monkeypatch)
    assert bench.main(["--quick", "--out-dir", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "train_scale.json").read_text())
    from cbedfeat.models.registry import recommended_model

    assert doc["models"] == ["xgb", recommended_model()]
    assert {(r["model"], r["n"]) for r in doc["rows"]} == {
        (m, n) for m in doc["models"] for n in bench.QUICK_SIZES
    }
    for row in doc["rows"]:
        assert row["fit_s"] > 0 and row["peak_rss_bytes"] > row["table_bytes"] > 0
        assert row["bundle_bytes"] > 0 and row["predict_rows_per_s"] > 0
        assert row["top1"] is None  # a synthetic table gives no accuracy
    big = [r for r in doc["rows"] if r["n"] == max(bench.QUICK_SIZES)]
    assert all(not r["real"] and r["n_real"] < r["n"] for r in big)
    assert all(doc["trends"][m]["exponent"] is not None for m in doc["models"])
    md = (tmp_path / "train_scale.md").read_text()
    assert "for timing, not accuracy" in md and "power law" in md


def test_real_table_gives_accuracy_and_stacks_per_second(small_ornl_dir, tmp_path, monkeypatch):
    pytest.importorskip("cbedfeat.features.pipeline")
    from cbedfeat.extraction.extract import extract

    extract(small_ornl_dir, tmp_path / "features.parquet", workers=1, device="cpu", progress=False)
    bench = _bench(monkeypatch)
    assert (
        bench.main(
            [
                "--table",
                str(tmp_path / "features.parquet"),
                "--h5",
                str(small_ornl_dir),
                "--models",
                "xgb",
                "--sizes",
                "6",
                "40",
                "--max-rounds",
                "3",
                "--out-dir",
                str(tmp_path),
                "--name",
                "real",
                "--compare-unscreened",
            ]
        )
        == 0
    )
    doc = json.loads((tmp_path / "real.json").read_text())
    assert not (tmp_path / "real.partial.json").exists()  # the finished run removes it
    # The screen's paired comparison: an every-column fit at the real size only.
    unscreened = [r for r in doc["rows"] if r["variant"] == "every column"]
    assert [(r["n"], r["params"]["screen_features"]) for r in unscreened] == [(6, None)]
    rows = [r for r in doc["rows"] if r["variant"] == "defaults"]
    real, resampled = sorted(rows, key=lambda r: r["n"])
    assert real["real"] and real["top1"] is not None and 0 <= real["top1"] <= 1
    assert not resampled["real"] and resampled["top1"] is None
    assert real["n_stacks"] == 12 and real["stacks_per_s"] > 0
    assert "resampled" in (tmp_path / "real.md").read_text()
