"""cbedfeat.models.registry: the one list of models and what reads it."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from cbedfeat.models.registry import (
    DEFAULT_MODEL,
    DEFAULT_REASON,
    DEFAULT_WEIGHTING,
    INPUTS,
    MODEL_NAMES,
    MODELS,
    WEIGHTING_SCHEMES,
    get_spec,
    make_model,
    markdown_table,
    parameters,
)

ROOT = Path(__file__).resolve().parents[2]
HAS_TORCH = importlib.util.find_spec("torch") is not None


def _buildable():
    return [n for n, s in MODELS.items() if s.extra is None or HAS_TORCH]


def test_every_model_declared_once_with_its_facts():
    assert MODEL_NAMES == tuple(MODELS) and len(set(MODEL_NAMES)) == len(MODEL_NAMES)
    assert {"xgb", "gated-blend-logit", "multitask", "cnn"} <= set(MODELS)
    for name, spec in MODELS.items():
        assert spec.name == name and spec.description and "\n" not in spec.description
        assert spec.inputs in INPUTS
    assert DEFAULT_MODEL in MODELS and DEFAULT_WEIGHTING in WEIGHTING_SCHEMES
    # The reason quotes the bench-large numbers that chose the default.
    assert DEFAULT_MODEL == "gated-blend-logit"
    assert "62.6" in DEFAULT_REASON and "94.2" in DEFAULT_REASON and "86.7" in DEFAULT_REASON


@pytest.mark.parametrize("name", _buildable())
def test_make_model_builds_the_declared_class(name):
    est = make_model(name, device="cpu", weighting="sqrt", random_state=4)
    assert type(est) is get_spec(name).estimator_class
    assert est.get_params()["weighting"] == "sqrt"
    assert parameters(name) >= {"weighting", "device", "random_state"}


def test_make_model_defaults_and_errors():
    assert make_model("xgb").weighting == DEFAULT_WEIGHTING == "none"
    multitask = make_model("multitask", n_estimators=7, n_jobs=1)
    assert multitask.classifier_params == {"n_estimators": 7} and multitask.n_jobs == 1
    with pytest.raises(ValueError, match="unknown model 'svm'"):
        make_model("svm")
    with pytest.raises(TypeError, match="does not take"):
        make_model("brf", learning_rate=0.1)


@pytest.mark.parametrize("name", [n for n, s in MODELS.items() if s.standing is not None])
def test_standing_is_a_row_of_its_bench_table(name):
    """The registry's numbers are the bench's: a row of the result file holds both."""
    standing = MODELS[name].standing
    text = (ROOT / "bench" / "results" / standing.source).read_text()
    top1, f1 = f"{standing.top1:.1f}", f"{standing.macro_f1:.1f}"
    assert (top1, f1) in _table_cells(text, "top-1", "macro-F1"), (name, standing)


def _table_cells(markdown: str, *headers: str) -> set[tuple[str, ...]]:
    """The leading numbers of the ``headers`` columns of every row of every table that
    has them all (a cell "58.1 (54.0-61.7)" gives "58.1")."""
    found, columns = set(), None
    for line in markdown.splitlines():
        if not line.startswith("|"):
            columns = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if columns is None:  # a table's header row
            columns = [cells.index(h) for h in headers] if set(headers) <= set(cells) else []
            continue
        if columns and len(cells) > max(columns):
            numbers = [re.match(r"-?\d+\.\d", cells[i]) for i in columns]
            if all(numbers):
                found.add(tuple(m.group(0) for m in numbers))
    return found


def test_table_cells_reads_columns_by_header():
    text = "| a | top-1 | x | macro-F1 |\n|---|---:|---:|---:|\n| m | 58.1 (54.0-61.7) | 1.0 | 23.4 |\n"
    assert _table_cells(text, "top-1", "macro-F1") == {("58.1", "23.4")}
    assert _table_cells(text, "top-1", "system") == set()


def test_unmeasured_models_say_so():
    from cbedfeat.models.registry import ModelSpec

    spec = ModelSpec("x", "cbedfeat.models.boosting:SpaceGroupClassifier", "a model")
    assert spec.standing_text == "not measured"


def test_readme_model_table_is_the_registry():
    readme = (ROOT / "README.md").read_text()
    assert markdown_table() in readme
    assert f"`{DEFAULT_MODEL}`" in readme and DEFAULT_REASON in " ".join(readme.split())
