"""Training with xgboost.dask on a LocalCluster: the same bundle, the same predictions."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from cbedfeat.models.bundle import load_bundle
from cbedfeat.testing import make_feature_table, write_feature_table
from cbedfeat.workflows.train import train_model

distributed = pytest.importorskip("distributed")
pytest.importorskip("dask.dataframe")

PARAMS = {"n_estimators": 40, "n_jobs": 1}


@pytest.fixture(scope="module")
def parts_dir(tmp_path_factory):
    """A tiny feature table as one Parquet part per file, as extract writes them."""
    root = tmp_path_factory.mktemp("dask_parts")
    table = make_feature_table(
        n_classes=8, max_materials=24, samples_per_material=3, class_separation=0.6, seed=4
    )
    parts = root / "features.parquet.parts"
    for i, (_, rows) in enumerate(table.groupby("file", sort=True)):
        write_feature_table(rows.reset_index(drop=True), parts / f"{i:05d}-part.parquet")
    write_feature_table(table, root / "features.parquet")
    return root


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def _test_rows(root):
    from cbedfeat.data.table import read_table

    table, _ = read_table(root / "features.parquet")
    return table[table["split"] == "test"]


def test_dask_training_predicts_like_local_training(parts_dir, client, tmp_path):
    from cbedfeat.workflows.train_dask import train_model_dask

    dask_result = train_model_dask(
        parts_dir / "features.parquet.parts",
        tmp_path / "dask",
        scheduler=client,
        device="cpu",
        seed=1,
        params=PARAMS,
    )
    local = train_model(
        parts_dir / "features.parquet",
        tmp_path / "local",
        model="xgb",  # the Dask path trains xgb; the local default is another model
        device="cpu",
        seed=1,
        params=PARAMS,
    )
    assert dask_result.training["trained_on"] == "dask"
    assert dask_result.training["n_train_samples"] == local.training["n_train_samples"]
    assert dask_result.training["data_fingerprint"] == local.training["data_fingerprint"]
    assert dask_result.validation["source"] == "dev"
    d_bundle, l_bundle = load_bundle(tmp_path / "dask"), load_bundle(tmp_path / "local")
    assert type(d_bundle.model) is type(l_bundle.model)
    assert (tmp_path / "dask" / "model" / "model.ubj").is_file()
    test = _test_rows(parts_dir)
    truth = test["space_group"].to_numpy()
    acc_dask = np.mean(d_bundle.predict(test) == truth)
    acc_local = np.mean(l_bundle.predict(test) == truth)
    assert 0.3 < acc_local  # the table is learnable but not trivial
    # Within the noise of a test set of this size (binomial sd ~ 0.05).
    assert abs(acc_dask - acc_local) <= 0.1, (acc_dask, acc_local)
    assert np.array_equal(d_bundle.classes, l_bundle.classes)


def test_dask_training_without_dev_rows_holds_out_materials(parts_dir, client, tmp_path):
    import pandas as pd

    from cbedfeat.data.table import read_table
    from cbedfeat.workflows.train_dask import train_model_dask

    table, _ = read_table(parts_dir / "features.parquet")
    table = table[table["split"] != "dev"].reset_index(drop=True)
    write_feature_table(table, tmp_path / "nodev.parquet")
    result = train_model_dask(
        tmp_path / "nodev.parquet",
        tmp_path / "model",
        scheduler=client,
        device="cpu",
        params={"n_estimators": 5, "n_jobs": 1},
    )
    assert result.validation["source"] == "holdout" and result.validation["n_samples"] > 0
    n_train = int((table["split"] == "train").sum())
    assert 0 < result.training["n_train_samples"] < n_train
    assert isinstance(load_bundle(tmp_path / "model").predict(pd.DataFrame(table)), np.ndarray)


def test_train_command_scheduler(parts_dir, tmp_path, monkeypatch, client):
    from cbedfeat.cli import main
    from cbedfeat.workflows import train_dask

    monkeypatch.setattr(
        train_dask, "dask_client", lambda scheduler, workers=None: _passthrough(client)
    )
    result = CliRunner().invoke(
        main,
        [
            "train",
            str(parts_dir / "features.parquet.parts"),
            "--out",
            str(tmp_path / "m"),
            "--scheduler",
            "local",
            "--n-estimators",
            "5",
            "--param",
            "n_jobs=1",
            "--device",
            "cpu",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "model bundle:" in result.output
    # no --model with --scheduler: the Dask-trainable xgb, not the local default
    assert "trained xgb" in result.output
    bad = CliRunner().invoke(
        main,
        [
            "train",
            str(parts_dir / "features.parquet"),
            "--out",
            str(tmp_path / "g"),
            "--scheduler",
            "local",
            "--model",
            "blend",
        ],
    )
    assert bad.exit_code != 0 and "--scheduler trains" in bad.output


def _passthrough(client):
    import contextlib

    @contextlib.contextmanager
    def ctx():
        yield client

    return ctx()


def _train_both_ways(parts_dir, client, tmp_path, model, params):
    """(Dask-trained model, locally trained model), both loaded back from their bundles."""
    from cbedfeat.workflows.train_dask import train_model_dask

    train_model_dask(
        parts_dir / "features.parquet.parts",
        tmp_path / "dask",
        scheduler=client,
        model=model,
        device="cpu",
        seed=1,
        params=params,
    )
    train_model(
        parts_dir / "features.parquet",
        tmp_path / "local",
        model=model,
        device="cpu",
        seed=1,
        params=params,
    )
    return load_bundle(tmp_path / "dask").model, load_bundle(tmp_path / "local").model


def test_dask_screen_keeps_columns_like_the_local_screen(parts_dir, client, tmp_path):
    """With a screen narrower than the table, both paths train on the kept columns only,
    pick mostly the same ones, and still predict alike."""

    d_model, l_model = _train_both_ways(
        parts_dir, client, tmp_path, "xgb", {**PARAMS, "screen_features": 6}
    )
    assert d_model.features_.size == l_model.features_.size == 6
    assert d_model.booster_.num_features() == 6
    assert len(np.intersect1d(d_model.features_, l_model.features_)) >= 3
    test = _test_rows(parts_dir)
    truth = test["space_group"].to_numpy()
    acc_dask = np.mean(load_bundle(tmp_path / "dask").predict(test) == truth)
    acc_local = np.mean(load_bundle(tmp_path / "local").predict(test) == truth)
    assert abs(acc_dask - acc_local) <= 0.15, (acc_dask, acc_local)


@pytest.mark.parametrize("model", ["gated", "logit", "gated-logit"])
def test_dask_trains_the_xgboost_wrappers_like_local_training(parts_dir, client, tmp_path, model):
    """The wrappers made of XGBoost stages train on Dask into the same class with the same
    fitted attributes, and predict within the noise of the local fit."""
    params = {"n_estimators": 30, "n_jobs": 1}
    if "logit" in model:
        params["taus"] = [0.0, 0.5, 1.0]
    d_model, l_model = _train_both_ways(parts_dir, client, tmp_path, model, params)
    assert type(d_model) is type(l_model)
    np.testing.assert_array_equal(d_model.classes_, l_model.classes_)
    gated = [m for m in (d_model, getattr(d_model, "estimator_", None)) if hasattr(m, "systems_")]
    for g in gated:
        assert g.system_estimator_ is not None
        np.testing.assert_array_equal(
            g.system_estimator_.classes_, np.unique(g.system_of(d_model.classes_))
        )
    if "logit" in model:
        # The same hold-out and the same candidates: tau comes out the same or close.
        assert d_model.tuning_ is not None and d_model.tau_ in (0.0, 0.5, 1.0)
        np.testing.assert_allclose(d_model.prior_.sum(), 1.0)
    test = _test_rows(parts_dir)
    truth = test["space_group"].to_numpy()
    acc_dask = np.mean(load_bundle(tmp_path / "dask").predict(test) == truth)
    acc_local = np.mean(load_bundle(tmp_path / "local").predict(test) == truth)
    assert 0.3 < acc_local
    assert abs(acc_dask - acc_local) <= 0.12, (acc_dask, acc_local)


def test_dask_refuses_the_blends(parts_dir, client, tmp_path):
    from cbedfeat.models.dask_models import fit_dask_model
    from cbedfeat.models.registry import make_model
    from cbedfeat.workflows.train_dask import train_model_dask

    with pytest.raises(ValueError, match="does not train on Dask"):
        train_model_dask(
            parts_dir / "features.parquet.parts",
            tmp_path / "m",
            scheduler=client,
            model="gated-blend-logit",
        )
    with pytest.raises(TypeError, match="BlendedClassifier"):
        fit_dask_model(make_model("blend"), client, None, [])
