"""Predict space groups of HDF5 samples with a model bundle.

Features are computed from the patterns with the bundle's own feature config
(:class:`cbedfeat.features.FeatureExtractor`), so a model always sees the features it
was trained on; a model that reads the stacks itself (the CNN baseline) gets the
samples' (file, group) references instead. Samples are read non-strictly (:func:`cbedfeat.data.iter_samples`):
a bad sample or file is skipped and reported, and every other sample is predicted.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cbedfeat.evaluate import top_k_predictions
from cbedfeat.models.bundle import IncompatibleBundleError, ModelBundle

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 16


@dataclass
class Predictions:
    """Predictions of :func:`predict_files`.

    Attributes
    ----------
    rows : list of dict
        One per predicted sample: ``file, group, material, pred_1..k, prob_1..k``.
    problems : list of dict
        One per skipped sample or file: ``file, group, kind, reason``.
    top_k : int
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    top_k: int = 5

    @property
    def columns(self) -> list[str]:
        """CSV header."""
        k = range(1, self.top_k + 1)
        return ["file", "group", "material", *[f"pred_{i}" for i in k], *[f"prob_{i}" for i in k]]


def _extractor(bundle: ModelBundle, device: str, batch_size: int) -> Any:
    from cbedfeat.features import FEATURE_VERSION, FeatureConfig, FeatureExtractor

    if bundle.feature_config is None:
        raise IncompatibleBundleError(
            f"{bundle.path}: the bundle has no feature config, so features cannot be computed from patterns"
        )
    if bundle.feature_version is not None and str(bundle.feature_version) != str(FEATURE_VERSION):
        raise IncompatibleBundleError(
            f"{bundle.path}: trained on feature version {bundle.feature_version}, this cbedfeat "
            f"computes version {FEATURE_VERSION}; use the matching cbedfeat release or retrain"
        )
    fx = FeatureExtractor(config=FeatureConfig.from_dict(bundle.feature_config), device=device,
                          batch_size=batch_size).fit()
    logger.info("computing features on %s", fx.device_)
    names = [str(n) for n in fx.get_feature_names_out()]
    bundle.check_features(names, source="the feature config's output")
    # Column positions of the model's features in the extractor's output.
    return fx, np.array([names.index(n) for n in bundle.feature_names])


def _feature_scorer(bundle: ModelBundle, device: str, batch_size: int, failures: list[dict[str, Any]]):
    """``batch -> (kept samples, (n, K) probabilities)`` through the bundle's features."""
    fx, columns = _extractor(bundle, device, batch_size)

    def transform(stacks: np.ndarray) -> np.ndarray:
        # float32 like the feature table, so training and prediction see the same numbers.
        return np.asarray(fx.transform(stacks), dtype=np.float32)[:, columns]

    def score(batch: list[Any]) -> tuple[list[Any], np.ndarray | None]:
        try:
            feats, kept = transform(np.stack([s.stack for s in batch])), batch
        except Exception:
            # Redo one by one so only the failing samples are lost.
            rows, kept = [], []
            for sample in batch:
                try:
                    rows.append(transform(sample.stack[None]))
                    kept.append(sample)
                except Exception as exc:
                    failures.append({"file": sample.meta.file, "group": sample.meta.group,
                                     "kind": "features", "reason": f"{type(exc).__name__}: {exc}"})
            if not kept:
                return [], None
            feats = np.concatenate(rows)
        return kept, bundle.predict_proba(feats.astype(np.float64))

    return score


def _stack_scorer(bundle: ModelBundle):
    """``batch -> (samples, probabilities)`` for a model that reads the stacks itself (the CNN)."""

    def score(batch: list[Any]) -> tuple[list[Any], np.ndarray]:
        refs = [(s.meta.file, s.meta.group) for s in batch]
        return batch, np.asarray(bundle.model.predict_proba(refs))

    return score


def _batches(samples: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for sample in samples:
        batch.append(sample)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def predict_files(
    bundle: ModelBundle,
    inputs: Sequence[str | os.PathLike[str]],
    *,
    top_k: int = 5,
    device: str = "auto",
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Predictions:
    """Top-k space groups of every readable sample of ``inputs``.

    Parameters
    ----------
    bundle : ModelBundle
    inputs : sequence of path
        HDF5 files and directories (``batch_*.h5`` inside).
    top_k : int
        Predictions per sample (capped at the model's number of classes).
    device : {"auto", "cpu", "cuda"}
        Where features are computed.
    batch_size : int
        Stacks per feature batch.

    Returns
    -------
    Predictions
    """
    from cbedfeat.data import iter_samples

    k = min(int(top_k), bundle.classes.size)
    out = Predictions(top_k=k)
    problems: list[Any] = []
    score = _stack_scorer(bundle) if getattr(bundle.model, "reads_stacks", False) else \
        _feature_scorer(bundle, device, batch_size, out.problems)
    for batch in _batches(iter_samples(list(inputs), strict=False, problems=problems), batch_size):
        kept, proba = score(batch)
        if not kept:
            continue
        labels, probs = top_k_predictions(proba, bundle.classes, k)
        for sample, lab, pro in zip(kept, labels, probs, strict=True):
            row = {"file": sample.meta.file, "group": sample.meta.group, "material": sample.meta.material}
            row.update({f"pred_{i + 1}": int(v) for i, v in enumerate(lab)})
            row.update({f"prob_{i + 1}": float(v) for i, v in enumerate(pro)})
            out.rows.append(row)
    for p in problems:
        out.problems.append({"file": p.file, "group": p.group or "", "kind": p.kind, "reason": p.reason})
    for p in out.problems:
        logger.warning("skipped %s [%s]: %s", p["file"], p["group"], p["reason"])
    return out


def _write_csv(path: Path, header: list[str], rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=header)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_predictions(predictions: Predictions, path: str | os.PathLike[str]) -> tuple[Path, Path | None]:
    """Write the predictions CSV (atomically) and, when samples were skipped, ``<stem>.skipped.csv``.

    Returns
    -------
    predictions_csv : Path
    skipped_csv : Path or None
    """
    out = Path(path)
    _write_csv(out, predictions.columns, predictions.rows)
    skipped = out.with_name(f"{out.stem}.skipped.csv")
    if predictions.problems:
        _write_csv(skipped, ["file", "group", "kind", "reason"], predictions.problems)
        return out, skipped
    skipped.unlink(missing_ok=True)
    return out, None


__all__ = ["Predictions", "predict_files", "write_predictions"]
