"""Train the CNN baseline from a feature table or HDF5 files (needs the ``cnn`` extra).

The CNN reads the raw stacks, but the feature table is the natural index of them: its
``file`` and ``group`` columns point to every validated sample, and its ``split``,
``material`` and target columns say what to train on. So :func:`train_cnn` takes either
a table (DataFrame or Parquet path), and then one ``cbedfeat evaluate`` path serves CNN
and feature models alike, or HDF5 files/directories, whose metadata it indexes first
(without reading a stack).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pandas as pd

from cbedfeat.models.targets import LATTICE_COLUMNS

log = logging.getLogger(__name__)

INDEX_COLUMNS = ("file", "group", "material", "split", "energy_keV", "space_group",
                 *LATTICE_COLUMNS)


def index_h5(paths, *, problems: list | None = None) -> pd.DataFrame:
    """One row per valid sample of HDF5 files/directories, metadata only.

    Parameters
    ----------
    paths : path or iterable of paths
        Files and directories (see :func:`cbedfeat.data.ornl.find_h5_files`).
    problems : list, optional
        Receives a :class:`~cbedfeat.data.errors.Problem` per skipped sample or file.

    Returns
    -------
    DataFrame
        Columns :data:`INDEX_COLUMNS` (lattice in angstrom and degrees).
    """
    from cbedfeat.data.ornl import iter_samples

    rows = []
    for s in iter_samples(paths, problems=problems, load_stack=False):
        m = s.meta
        rows.append((str(Path(m.file).resolve()), m.group, m.material, m.split, m.energy_keV, m.space_group,
                     *m.abc_angstrom.tolist(), *m.angles_degree.tolist()))
    return pd.DataFrame(rows, columns=list(INDEX_COLUMNS))


def load_index(table_or_paths) -> tuple[pd.DataFrame, Path | None]:
    """A table of samples and the directory relative ``file`` entries are resolved against.

    ``table_or_paths`` is a DataFrame, a ``.parquet`` path (directory: the table's own), or
    HDF5 files/directories (directory: the files' common parent, when they share one).
    """
    if isinstance(table_or_paths, pd.DataFrame):
        return table_or_paths, None
    paths = [table_or_paths] if isinstance(table_or_paths, (str, os.PathLike)) else list(table_or_paths)
    if len(paths) == 1 and str(paths[0]).endswith(".parquet"):
        return pd.read_parquet(paths[0]), Path(paths[0]).resolve().parent
    table = index_h5(paths)
    parents = {str(Path(f).parent) for f in table["file"].unique()}
    return table, Path(parents.pop()) if len(parents) == 1 else None


def train_dev_split(table: pd.DataFrame, *, seed: int = 0, validation_fraction: float = 0.15):
    """Rows of split ``train`` and ``dev``; a material-grouped hold-out of train without dev.

    Returns
    -------
    train, dev : DataFrame, DataFrame
    """
    from cbedfeat.models.boosting import grouped_validation_split

    train = table[table["split"] == "train"]
    dev = table[table["split"] == "dev"]
    if train.empty:
        raise ValueError("the table has no rows of split 'train'")
    if dev.empty:
        tr, va = grouped_validation_split(train["space_group"].to_numpy(), train["material"].to_numpy(),
                                          validation_fraction, random_state=seed)
        train, dev = train.iloc[tr], train.iloc[va]
        log.info("no dev rows: held out %d materials of train", dev["material"].nunique())
    return train.reset_index(drop=True), dev.reset_index(drop=True)


def train_cnn(table_or_paths, out_dir, *, epochs: int | None = None, batch_size: int = 32,
              weighting: str = "none", seed: int = 0, device: str = "auto",
              multitask: bool = False, image_size: int = 128, num_workers: int = 0,
              data_root=None, **params):
    """Train :class:`~cbedfeat.models.cnn.CNNSpaceGroupClassifier` on split train, select
    the epoch on dev, and save it as a model bundle in ``out_dir``.

    Parameters
    ----------
    table_or_paths : DataFrame, Parquet path, or HDF5 files/directories
        Rows need file, group, material, split, space_group (and the lattice columns
        for ``multitask``).
    out_dir : path
        Bundle directory (see :mod:`cbedfeat.models.bundle`).
    epochs, batch_size, weighting, seed, device, multitask, image_size, num_workers, **params
        Passed to the classifier (``seed`` as ``random_state``; ``epochs`` None: the
        classifier's default). ``arch="small"`` trains the earlier small CNN.
    data_root : path, optional
        Where the HDF5 files of a table's bare ``file`` names are (default: the table's
        directory, or the directory of the HDF5 inputs). Saved with the model, so
        ``cbedfeat evaluate`` finds the stacks of a feature table's rows.

    Returns
    -------
    CNNSpaceGroupClassifier
        Fitted; ``training_info_`` holds the dev metrics and timings.
    """
    from cbedfeat.data.table import data_fingerprint, labelled_rows
    from cbedfeat.metrics.classification import (
        DEFAULT_RARE_THRESHOLD,
        class_training_counts,
        evaluate_predictions,
        summary_metrics,
    )
    from cbedfeat.models.bundle import save_bundle
    from cbedfeat.models.cnn import CNNSpaceGroupClassifier
    from cbedfeat.models.cnn_data import refs_from_table

    table, base = load_index(table_or_paths)
    table, _ = labelled_rows(table, "CNN training")  # HDF5 inputs are indexed labelled already
    root = Path(data_root).resolve() if data_root is not None else base
    train, dev = train_dev_split(table, seed=seed)
    if epochs is not None:
        params["epochs"] = epochs
    model = CNNSpaceGroupClassifier(batch_size=batch_size, weighting=weighting,
                                    random_state=seed, device=device, multitask=multitask,
                                    image_size=image_size, num_workers=num_workers,
                                    data_root=None if root is None else str(root), **params)
    tr_refs, dev_refs = refs_from_table(train, root), refs_from_table(dev, root)
    lattice = list(LATTICE_COLUMNS)
    eval_set = None
    if len(dev):
        eval_set = (dev_refs, dev["space_group"].to_numpy(), dev[lattice] if multitask else None)
    t0 = time.perf_counter()
    model.fit(tr_refs, train["space_group"].to_numpy(),
              targets=train[lattice] if multitask else None, eval_set=eval_set)
    fit_s = time.perf_counter() - t0
    counts = class_training_counts(train["space_group"].to_numpy(), train["material"].to_numpy())
    info = {"model": "cnn", "weighting": weighting, "seed": seed, "epochs": model.epochs,
            "params": {"batch_size": batch_size, "image_size": image_size,
                       "multitask": multitask, **params},
            "device_requested": device, "device_used": str(model.device_.type),
            "best_epoch": model.best_epoch_, "fit_seconds": fit_s, "split": "train",
            "data_fingerprint": data_fingerprint(train), "n_train": len(train), "n_dev": len(dev),
            "n_train_samples": len(train), "class_counts": {str(k): v for k, v in counts.items()},
            "rare_threshold_materials": DEFAULT_RARE_THRESHOLD}
    validation: dict = {"source": "dev" if (table["split"] == "dev").any() else "holdout",
                        "n_samples": len(dev)}
    if len(dev):
        metrics = evaluate_predictions(dev["space_group"].to_numpy(), model.predict_proba(dev_refs),
                                       model.classes_, train_counts=counts)
        validation.update(summary_metrics(metrics))
        if multitask:
            from cbedfeat.models.targets import table_regression_errors

            validation["regression"] = table_regression_errors(dev, model.predict_targets(dev_refs))
    info["validation"] = validation
    model.training_info_ = info
    save_bundle(out_dir, model, feature_names=[], training=info)
    log.info("CNN trained in %.1f s on %s; bundle at %s", fit_s, model.device_, out_dir)
    return model
