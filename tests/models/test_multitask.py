"""Multi-task stacking: out-of-fold only, grouped by material; lattice predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from cbedfeat.models.multitask import STAGE1_NAMES, MultiTaskCBEDModel
from cbedfeat.models.targets import to_targets

FAST = dict(
    n_splits=4,
    regressor_estimators=60,
    regressor_max_depth=6,
    system_params={"n_estimators": 30},
    classifier_params={"n_estimators": 40},
    weighting="none",
    device="cpu",
    n_jobs=1,
    random_state=0,
)
CLASSES = np.array([14, 62, 194, 225])


def leaky_data(n_materials=48, per_material=4, seed=0):
    """Features that identify a material but say nothing general about its label, and a
    lattice target column equal to the label (``a`` = space-group number).

    Samples of one material are near-duplicates (as the ten beam energies of the ORNL
    data): a model that saw a sibling memorises the target; a model that saw no sample
    of the material can only guess.
    """
    rng = np.random.default_rng(seed)
    mat_x = rng.normal(size=(n_materials, 8))
    mat_y = rng.choice(CLASSES, size=n_materials)
    groups = np.repeat([f"mp-{i}" for i in range(n_materials)], per_material)
    X = np.repeat(mat_x, per_material, axis=0) + 0.01 * rng.normal(size=(len(groups), 8))
    y = np.repeat(mat_y, per_material)
    targets = pd.DataFrame(
        {"a": y.astype(float), "b": 5.0, "c": 6.0, "alpha": 90.0, "beta": 90.0, "gamma": 90.0}
    )
    return X, y, targets, groups


def decoded_label(log_a_pred):
    """The class whose ``a`` (= label) is nearest to the predicted ``a``."""
    a = np.exp(log_a_pred)
    return CLASSES[np.abs(a[:, None] - CLASSES[None, :]).argmin(axis=1)]


def test_stacking_sees_out_of_fold_predictions_only():
    X, y, targets, groups = leaky_data()
    model = MultiTaskCBEDModel(**FAST).fit(X, y, targets=targets, groups=groups)
    assert model.oof_stage1_.shape == (len(y), len(STAGE1_NAMES))
    assert np.isfinite(model.oof_stage1_).all()  # every row predicted out of fold

    oof_acc = (decoded_label(model.oof_stage1_[:, 0]) == y).mean()
    # Naive in-fold stacking: stage 1 predicts its own training rows.
    naive = model._regressor("cpu").fit(X, to_targets(targets))
    naive_acc = (decoded_label(naive.predict(X)[:, 0]) == y).mean()
    assert naive_acc > 0.95  # the leak is real: in-fold predictions give the label away
    assert oof_acc < 0.6  # out of fold (grouped) they do not (chance is ~0.25-0.35)

    # Ungrouped folds leak through the near-duplicate siblings of each material.
    with pytest.warns(UserWarning, match="no groups"):
        ungrouped = MultiTaskCBEDModel(**FAST).fit(X, y, targets=targets)
    assert (decoded_label(ungrouped.oof_stage1_[:, 0]) == y).mean() > 0.75


def test_held_out_materials_are_not_perfect_through_the_leaky_target():
    X, y, targets, groups = leaky_data(n_materials=64)
    held = np.isin(groups, np.unique(groups)[::4])
    fit_groups = groups[~held]
    # Stage 2 on the stage-1 predictions alone, so the leaky column is all it could use.
    model = MultiTaskCBEDModel(**{**FAST, "passthrough": False}).fit(
        X[~held], y[~held], targets=targets[~held], groups=fit_groups
    )
    assert model.classes_.tolist() == CLASSES.tolist()
    assert (model.predict(X[held]) == y[held]).mean() < 0.6
    # The stage-1 columns stage 2 learnt from were out of fold: they do not hold the
    # label (test above). Naive in-fold stacking (stage 1 predicting its own training
    # rows) would hand stage 2 the label: it fits its training rows perfectly.
    in_fold = model.stage1(X[~held])
    naive = clone(model.classifier_).fit(in_fold, y[~held], groups=fit_groups)
    assert (naive.predict(in_fold) == y[~held]).mean() > 0.95


def test_predicts_lattice_and_space_group_from_informative_features():
    rng = np.random.default_rng(1)
    n_mat, per = 40, 3
    sg = rng.choice([225, 14], size=n_mat)
    a = np.where(sg == 225, rng.uniform(3.5, 4.5, n_mat), rng.uniform(5.0, 7.0, n_mat))
    beta = np.where(sg == 225, 90.0, rng.uniform(95.0, 110.0, n_mat))
    X = np.column_stack([np.repeat(a, per), np.repeat(beta, per)]) + 0.01 * rng.normal(
        size=(n_mat * per, 2)
    )
    y = np.repeat(sg, per)
    targets = pd.DataFrame(
        {
            "a": np.repeat(a, per),
            "b": np.repeat(a, per),
            "c": np.repeat(a, per),
            "alpha": 90.0,
            "beta": np.repeat(beta, per),
            "gamma": 90.0,
        }
    )
    groups = np.repeat(np.arange(n_mat), per)
    model = MultiTaskCBEDModel(**FAST).fit(X, y, targets=targets, groups=groups)
    assert (model.predict(X) == y).mean() > 0.95
    pred = model.predict_targets(X)
    assert list(pred.columns) == ["a", "b", "c", "alpha", "beta", "gamma", "volume"]
    assert np.abs(pred["a"] - targets["a"]).mean() < 0.3
    assert np.abs(pred["beta"] - targets["beta"]).mean() < 3.0
    systems = model.predict_crystal_system(X)
    assert set(systems) <= {"cubic", "monoclinic"}
    assert (systems == np.where(y == 225, "cubic", "monoclinic")).mean() > 0.95
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def test_fit_table_seeded_and_bundle_round_trip(tmp_path):
    from cbedfeat.models.bundle import load_bundle, save_bundle

    X, y, targets, groups = leaky_data(n_materials=24, per_material=2)
    table = pd.concat(
        [
            pd.DataFrame(
                {
                    "file": "f.h5",
                    "group": [f"sample_{i}" for i in range(len(y))],
                    "material": groups,
                    "split": "train",
                    "energy_keV": 100,
                    "space_group": y,
                    "crystal_system": "x",
                }
            ),
            targets,
            pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])]),
        ],
        axis=1,
    )
    m1 = MultiTaskCBEDModel(**FAST).fit_table(table)
    m2 = clone(m1).fit_table(table)
    assert list(m1.feature_names_in_) == [f"f{i}" for i in range(8)]
    np.testing.assert_array_equal(m1.predict_proba(table), m2.predict_proba(table))
    save_bundle(tmp_path / "b", m1, feature_names=list(m1.feature_names_in_))
    back = load_bundle(tmp_path / "b")
    np.testing.assert_array_equal(back.predict_proba(table), m1.predict_proba(table))


def test_input_errors():
    X, y, targets, groups = leaky_data(n_materials=8, per_material=2)
    with pytest.raises(ValueError, match="rows"):
        MultiTaskCBEDModel(**FAST).fit(X, y, targets=targets.iloc[:-1], groups=groups)
    with pytest.raises(ValueError, match="two groups"):
        MultiTaskCBEDModel(**FAST).fit(X, y, targets=targets, groups=np.zeros(len(y)))


@pytest.mark.slow
def test_train_and_evaluate_multitask_cli(tmp_path):
    import json

    from click.testing import CliRunner

    from cbedfeat.cli import main

    rng = np.random.default_rng(2)
    n_mat, per = 30, 2
    sg = rng.choice([225, 14, 62], size=n_mat)
    a = np.where(sg == 225, 4.0, np.where(sg == 14, 6.0, 8.0)) + rng.uniform(-0.3, 0.3, n_mat)
    rows = np.repeat(np.arange(n_mat), per)
    table = pd.DataFrame(
        {
            "file": "x.h5",
            "group": [f"sample_{i}_{j}" for i in range(n_mat) for j in range(per)],
            "material": [f"mp-{i}" for i in rows],
            "split": np.where(rows < 22, "train", "test"),
            "energy_keV": 100,
            "space_group": sg[rows],
            "a": a[rows],
            "b": a[rows],
            "c": a[rows],
            "alpha": 90.0,
            "beta": np.where(sg[rows] == 14, 100.0, 90.0),
            "gamma": 90.0,
            "f_a": a[rows] + 0.01 * rng.normal(size=rows.size),
            "f_noise": rng.normal(size=rows.size),
        }
    )
    table.to_parquet(tmp_path / "t.parquet")
    runner = CliRunner()
    res = runner.invoke(
        main,
        [
            "train",
            str(tmp_path / "t.parquet"),
            "--model",
            "multitask",
            "--out",
            str(tmp_path / "m"),
            "--device",
            "cpu",
            "--n-estimators",
            "30",
            "--param",
            "regressor_estimators=30",
            "--param",
            "n_splits=3",
            "--param",
            'system_params={"n_estimators": 20}',
        ],
    )
    assert res.exit_code == 0, res.output
    assert "validation lattice MAE: a " in res.output
    res = runner.invoke(
        main,
        [
            "evaluate",
            str(tmp_path / "m"),
            str(tmp_path / "t.parquet"),
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "lattice MAE: a " in res.output
    assert "Lattice regression" in (tmp_path / "r" / "report.html").read_text()
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    reg = metrics["regression"]
    assert reg["n"] == 16 and reg["mae"]["a"] < 1.0
    assert set(reg["mae_by_crystal_system"]) <= {"cubic", "monoclinic", "orthorhombic"}
    assert metrics["top1_accuracy"] > 0.8
