"""Tests of cbedfeat.metrics.classification (metrics) and cbedfeat.reports.evaluation (report directory)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from imblearn.metrics import geometric_mean_score
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    recall_score,
    top_k_accuracy_score,
)

from cbedfeat._util import to_json
from cbedfeat.data.labels import space_group_info
from cbedfeat.metrics.classification import (
    class_training_counts,
    evaluate_predictions,
    summary_metrics,
    top_k_accuracy,
    top_k_predictions,
)
from cbedfeat.reports.evaluation import PLOT_FILES, write_report
from cbedfeat.workflows.evaluate import evaluate_bundle

# Space groups of several crystal systems: 2 triclinic, 14 monoclinic, 62 orthorhombic,
# 139 tetragonal, 166 trigonal, 194 hexagonal, 225 cubic.
CLASSES = np.array([2, 14, 62, 139, 166, 194, 225])


def _random_case(seed=0, n=60):
    rng = np.random.default_rng(seed)
    y = rng.choice(CLASSES, size=n)
    proba = rng.dirichlet(np.ones(CLASSES.size), size=n)
    # Make the model right about half the time so no metric sits at 0 or 1.
    hit = rng.random(n) < 0.5
    proba[hit, np.searchsorted(CLASSES, y[hit])] += 1.0
    return y, proba / proba.sum(axis=1, keepdims=True)


def test_metrics_equal_scikit_learn_functions():
    y, proba = _random_case()
    pred = CLASSES[np.argmax(proba, axis=1)]
    m = evaluate_predictions(y, proba, CLASSES, top_k=3)
    assert m["top1_accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert m["top3_accuracy"] == pytest.approx(top_k_accuracy_score(y, proba, k=3, labels=CLASSES))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert m["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro", labels=np.unique(y)))
    assert m["weighted_f1"] == pytest.approx(f1_score(y, pred, average="weighted"))
    assert m["geometric_mean"] == pytest.approx(geometric_mean_score(y, pred))
    curve = m["top_k_curve"]
    assert curve["k"] == list(range(1, CLASSES.size + 1))
    for k, acc in zip(curve["k"], curve["accuracy"], strict=True):
        expected = 1.0 if k >= CLASSES.size else top_k_accuracy_score(y, proba, k=k, labels=CLASSES)
        assert acc == pytest.approx(expected)
    # One space group per crystal system here, so every level equals top-1.
    assert m["crystal_system_accuracy"] == pytest.approx(m["top1_accuracy"])
    per_class = {r["space_group"]: r for r in m["per_class"]}
    recalls = recall_score(y, pred, labels=CLASSES, average=None)
    for c, r in zip(CLASSES, recalls, strict=True):
        assert per_class[int(c)]["recall"] == pytest.approx(r)
        assert per_class[int(c)]["support"] == int(np.sum(y == c))


def test_hierarchy_levels_known_answer():
    # 14 -> 15 (both monoclinic, Laue 2/m, point group 2/m): system, Laue, point group right.
    # 225 (m-3m) -> 221 (m-3m): cubic, same Laue class and point group.
    # 62 (mmm) -> 33 (mm2): orthorhombic, Laue mmm, wrong point group.
    # 194 -> 166: hexagonal vs trigonal: all levels wrong.
    classes = np.array([14, 15, 33, 62, 166, 194, 221, 225])
    y = np.array([14, 225, 62, 194])
    pred = np.array([15, 221, 33, 166])
    proba = np.zeros((4, classes.size))
    proba[np.arange(4), np.searchsorted(classes, pred)] = 1.0
    m = evaluate_predictions(y, proba, classes)
    assert m["top1_accuracy"] == 0.0
    assert m["crystal_system_accuracy"] == pytest.approx(3 / 4)
    assert m["laue_class_accuracy"] == pytest.approx(3 / 4)
    assert m["point_group_accuracy"] == pytest.approx(2 / 4)
    systems = m["crystal_system_confusion"]["labels"]
    matrix = np.array(m["crystal_system_confusion"]["matrix"])
    assert matrix[systems.index("hexagonal"), systems.index("trigonal")] == 1
    assert matrix.trace() == 3
    assert space_group_info(33).point_group == "mm2"  # the premise of the case above


def test_unseen_classes_count_as_errors_and_are_reported():
    classes = np.array([14, 62, 225])
    # 194 was never seen in training: two rows that no prediction can get right.
    y = np.array([14, 62, 225, 194, 194, 14])
    proba = np.array(
        [
            [0.8, 0.1, 0.1],
            [0.1, 0.8, 0.1],
            [0.1, 0.1, 0.8],
            [0.4, 0.3, 0.3],
            [0.3, 0.4, 0.3],
            [0.1, 0.6, 0.3],
        ]
    )
    pred = classes[np.argmax(proba, axis=1)]
    m = evaluate_predictions(y, proba, classes, top_k=2)
    assert m["unseen"] == {"classes": [194], "n_samples": 2}
    assert m["top1_accuracy"] == pytest.approx(3 / 6)
    # Top-2 of the four seen rows: the last has 14 third, a miss -> 3 hits of 6 rows.
    assert m["top2_accuracy"] == pytest.approx(3 / 6)
    # Even k = K cannot reach an unseen class.
    assert top_k_accuracy(y, proba, classes, 3) == pytest.approx(4 / 6)
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    # Macro-F1 over the evaluated classes 14, 62, 194, 225 (the unseen 194 scores 0).
    assert m["macro_f1"] == pytest.approx(
        f1_score(y, pred, average="macro", labels=[14, 62, 194, 225])
    )
    # F1 by hand: 14 (P 1/2, R 1/2) 0.5; 62 (P 1/3, R 1) 0.5; 194: 0; 225: 1.
    assert m["macro_f1"] == pytest.approx((0.5 + 0.5 + 0 + 1) / 4)
    row = next(r for r in m["per_class"] if r["space_group"] == 194)
    assert row["recall"] == 0.0 and row["seen"] is False and row["support"] == 2


def test_rare_and_frequent_recall():
    classes = np.array([14, 62, 225])
    counts = {
        14: {"samples": 500, "materials": 50},
        62: {"samples": 20, "materials": 2},
        225: {"samples": 10, "materials": 1},
    }
    y = np.array([14, 14, 14, 14, 62, 62, 225, 194])
    pred = np.array([14, 14, 14, 62, 62, 14, 14, 14])
    proba = np.eye(3)[np.searchsorted(classes, pred)]
    m = evaluate_predictions(y, proba, classes, train_counts=counts, rare_threshold=5)
    # Rare: 62 (recall 1/2), 225 (0/1) and the unseen 194 (0 training materials, 0/1).
    assert m["rare"]["n_classes"] == 3
    assert m["rare"]["recall_macro"] == pytest.approx((0.5 + 0 + 0) / 3)
    assert m["rare"]["recall_micro"] == pytest.approx(1 / 4)
    assert m["frequent"] == {
        "n_classes": 1,
        "n_samples": 4,
        "recall_macro": 0.75,
        "recall_micro": 0.75,
    }
    flat = summary_metrics(m)
    assert flat["rare_recall_macro"] == pytest.approx(1 / 6)


def test_class_training_counts():
    y = [14, 14, 14, 225, 225]
    groups = ["a", "a", "b", "c", "c"]
    assert class_training_counts(y, groups) == {
        14: {"samples": 3, "materials": 2},
        225: {"samples": 2, "materials": 1},
    }


def test_top_k_predictions_order_and_ties():
    classes = np.array([3, 5, 7, 9])
    proba = np.array([[0.1, 0.4, 0.1, 0.4], [0.7, 0.1, 0.1, 0.1]])
    labels, probs = top_k_predictions(proba, classes, 3)
    assert labels.tolist() == [[5, 9, 3], [3, 5, 7]]  # ties keep the lower class first
    assert probs.tolist() == [[0.4, 0.4, 0.1], [0.7, 0.1, 0.1]]
    assert top_k_predictions(proba, classes, 10)[0].shape == (2, 4)


def test_shape_errors():
    with pytest.raises(ValueError, match="shape"):
        evaluate_predictions([14, 14], np.ones((2, 3)) / 3, [14, 15])
    with pytest.raises(ValueError, match="sorted"):
        evaluate_predictions([14, 15], np.ones((2, 2)) / 2, [15, 14])


def test_report_directory(tmp_path):
    y, proba = _random_case(seed=1)
    y[:3] = 1  # an unseen class
    counts = class_training_counts(CLASSES.repeat(3), np.arange(CLASSES.size * 3).astype(str))
    m = evaluate_predictions(y, proba, CLASSES, train_counts=counts, rare_threshold=5)
    page = write_report(
        m, tmp_path / "report", model_info={"model": "xgb", "weighting": "balanced"}
    )
    out = tmp_path / "report"
    assert page == out / "report.html"

    def refuse(value):
        raise ValueError(value)

    saved = json.loads((out / "metrics.json").read_text(), parse_constant=refuse)  # strict JSON
    assert saved["top1_accuracy"] == pytest.approx(m["top1_accuracy"])
    assert saved["model"]["model"] == "xgb"
    assert saved["unseen"]["classes"] == [1]
    for name in PLOT_FILES.values():
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert text.count("data:image/png;base64,") == len(PLOT_FILES)  # self-contained
    assert "Friedel" in text and "never saw" in text
    assert f"{m['macro_f1']:.4f}" in text
    lines = (out / "per_class.csv").read_text().splitlines()
    assert len(lines) == 1 + len(m["per_class"])


def _one_hot_case():
    """The hand-computed rows of tests/test_physics_metrics.py as one-hot predictions."""
    y = np.array([11, 4, 5, 8, 12, 9, 15, 14, 225, 216, 225, 200, 1, 2, 225])
    pred = np.array([11, 11, 5, 12, 14, 15, 9, 2, 229, 216, 221, 225, 2, 194, 229])
    classes = np.unique(pred)
    counts = {
        n: {"samples": s, "materials": 1}
        for n, s in {14: 5, 4: 2, 11: 7, 5: 3, 8: 3, 12: 1, 2: 4, 225: 10, 216: 10}.items()
    }
    return y, np.eye(classes.size)[np.searchsorted(classes, pred)], classes, counts


def test_kinematic_metrics_in_evaluate_predictions():
    y, proba, classes, counts = _one_hot_case()
    m = evaluate_predictions(y, proba, classes, train_counts=counts)
    assert m["top1_accuracy"] == pytest.approx(3 / 15)
    assert m["kinematic_ceiling"] == pytest.approx(6 / 15)
    assert m["kinematic_ceiling_counts"] == "training rows"
    assert m["top1_over_ceiling"] == pytest.approx(0.5)
    assert m["equivalence_accuracy"] == pytest.approx(8 / 15)
    assert m["laue_class_accuracy"] == pytest.approx(12 / 15)  # 14->2, 200->225, 2->194 wrong
    assert m["crystal_system_accuracy"] == pytest.approx(13 / 15)  # 14->2, 2->194 wrong
    assert {k: b["n"] for k, b in m["error_bins"].items()} == {
        "wrong_crystal_system": 2,
        "wrong_laue_class": 1,
        "wrong_absences": 4,
        "indistinguishable": 5,
    }
    assert (m["confused_pairs"][0]["true"], m["confused_pairs"][0]["predicted"]) == (225, 229)
    flat = summary_metrics(m)
    assert flat["kinematic_ceiling"] == pytest.approx(6 / 15)
    assert flat["errors_wrong_absences"] == pytest.approx(4 / 15)
    assert flat["errors_indistinguishable"] == pytest.approx(5 / 15)
    # Without training counts the ceiling falls back to the evaluated rows' own counts.
    own = evaluate_predictions(y, proba, classes)
    assert own["kinematic_ceiling_counts"] == "evaluated rows"
    assert own["kinematic_ceiling"] == pytest.approx(9 / 15)


def test_report_shows_the_ceiling_and_the_error_bins(tmp_path):
    y, proba, classes, counts = _one_hot_case()
    m = evaluate_predictions(y, proba, classes, train_counts=counts)
    page = write_report(m, tmp_path / "report")
    text = page.read_text()
    assert "What kinematic diffraction allows" in text
    assert "<td>kinematic ceiling</td><td>40.0 %</td>" in text
    assert "<td>top-1 / ceiling</td><td>50.0 %</td>" in text
    assert "<td>accuracy up to equivalence</td><td>53.3 %</td>" in text
    for label, n, share in [
        ("wrong crystal system", 2, "13.3"),
        ("right system, wrong Laue class", 1, "6.7"),
        ("right Laue class, wrong absences", 4, "26.7"),
        ("indistinguishable (same Laue class and absences)", 5, "33.3"),
    ]:
        assert f"<td>{label}</td><td>{n}</td><td>{share} %</td>" in text
    # The most confused pair, labelled with its bin.
    assert (
        "<td>225 Fm-3m</td><td>229 Im-3m</td><td>2</td><td>13.3 %</td>"
        "<td>right Laue class, wrong absences</td>"
    ) in text
    saved = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert saved["error_bins"]["wrong_absences"]["n"] == 4
    assert saved["confused_pairs"][0]["bin"] == "wrong_absences"


def test_to_json_replaces_nan():
    assert json.loads(to_json({"a": float("nan"), "b": [np.float32(1.5)]})) == {
        "a": None,
        "b": [1.5],
    }


def test_evaluate_bundle_equals_sklearn_on_tiny_table():
    from cbedfeat.models import make_model
    from cbedfeat.models.bundle import ModelBundle
    from cbedfeat.testing import make_feature_table

    table = make_feature_table(n_classes=5, max_materials=6, seed=3)
    names = [c for c in table.columns if c.startswith(("f_", "noise_"))]
    train = table[table["split"] == "train"]
    model = make_model("xgb", n_estimators=5, early_stopping_rounds=None, n_jobs=1).fit(
        train[names].to_numpy(), train["space_group"].to_numpy()
    )
    bundle = ModelBundle(
        model=model,
        feature_names=names,
        training={
            "class_counts": {
                str(k): v
                for k, v in class_training_counts(train["space_group"], train["material"]).items()
            }
        },
    )
    m = evaluate_bundle(bundle, table, split="test")
    test = table[table["split"] == "test"]
    pred = model.predict(test[names].to_numpy())
    assert m["split"] == "test" and m["n_samples"] == len(test)
    assert m["top1_accuracy"] == pytest.approx(accuracy_score(test["space_group"], pred))
    assert m["macro_f1"] == pytest.approx(
        f1_score(test["space_group"], pred, average="macro", labels=np.unique(test["space_group"]))
    )
    assert "rare" in m
    # The ceiling uses the bundle's training label counts.
    from cbedfeat.metrics.physics import kinematic_ceiling

    train_rows = dict(zip(*np.unique(train["space_group"], return_counts=True), strict=True))
    assert m["kinematic_ceiling_counts"] == "training rows"
    assert m["kinematic_ceiling"] == pytest.approx(
        kinematic_ceiling(test["space_group"], train_rows)
    )
    bare = ModelBundle(model=model, feature_names=names, training={})
    assert (
        evaluate_bundle(bare, table, split="test")["kinematic_ceiling_counts"] == "evaluated rows"
    )
    with pytest.raises(ValueError, match="no rows of split 'nope'"):
        evaluate_bundle(bundle, table, split="nope")
