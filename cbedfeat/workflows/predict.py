"""Predict space groups of CBED stacks with a model bundle.

Inputs are ORNL-layout HDF5 files (directories searched for ``batch_*.h5``) and array
sources (a ``.npy`` file or ``FILE.h5:/dataset`` of ``(3, H, W)`` or ``(N, 3, H, W)``
stacks, rows named ``row_<i>``; see :mod:`cbedfeat.data.arrays`). Only the pattern is
needed: a sample without attributes, or with invalid ones, is predicted like any
other; its metadata problems are reported apart and its true label is left empty.
A pattern problem (stack missing, of the wrong shape or dtype, non-finite, unreadable;
a file that does not open) skips the sample, which is reported, and every other
sample is predicted.

Every row explains itself (:mod:`cbedfeat.workflows.explain`): symbol, crystal system,
Laue class and point group of each top-k group, the kinematic-equivalence class of the
top-1 group, and, for a bundle with a calibration (``cbedfeat train
--calibration-fraction``), calibrated probabilities and, at a requested coverage, the
conformal set of space groups with a flag when the set lies inside one equivalence
class. Rows of one material combine into one prediction with
:func:`combine_by_material`.

Features are computed from the patterns with the bundle's own feature config
(:class:`cbedfeat.features.FeatureExtractor`), so a model always sees the features it
was trained on; a model that reads the stacks itself (the CNN baseline) gets the
stacks, and one that reads both (``features-cnn``) the features and the stacks. No feature uses the beam energy or any other attribute (they all come from
the pixels, in the ORNL geometry of 0.01 1/A per pixel with the pattern centred), so
prediction assumes no metadata value and takes none.
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

from cbedfeat._util import write_atomic
from cbedfeat.features import FEATURE_VERSION, FeatureConfig, FeatureExtractor
from cbedfeat.features.centring import off_centre_record
from cbedfeat.metrics.classification import top_k_predictions
from cbedfeat.models.bundle import IncompatibleBundleError, ModelBundle
from cbedfeat.models.calibration import Calibration, bundle_calibration, log_probabilities
from cbedfeat.workflows.explain import (
    combine_log_probabilities,
    json_record,
    row_columns,
    row_fields,
)

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 16


@dataclass
class Predictions:
    """Predictions of :func:`predict_files`.

    Attributes
    ----------
    rows : list of dict
        One per predicted sample: ``file, group, material, true_space_group``, then the
        fields of :func:`cbedfeat.workflows.explain.row_fields` (``pred_1..k``,
        ``prob_1..k``, the facts of each group, the equivalence class of ``pred_1``, the
        set); ``material`` and ``true_space_group`` are None where the input stores no
        valid value (empty in the CSV).
    problems : list of dict
        One per skipped sample or file (a pattern problem): ``file, group, kind, reason``.
    metadata_problems : list of dict
        One per missing or invalid attribute of a predicted sample: ``file, group,
        kind, reason``.
    off_centre : list of dict
        One per file whose first stack is off the centre the features assume
        (:func:`cbedfeat.features.centring.off_centre_record`).
    top_k : int
    log_proba : (n, K) ndarray or None
        Log of the (calibrated, where the bundle has a calibration) probabilities of
        the rows, for :func:`combine_by_material`.
    classes : (K,) ndarray or None
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    metadata_problems: list[dict[str, Any]] = field(default_factory=list)
    off_centre: list[dict[str, Any]] = field(default_factory=list)
    top_k: int = 5
    log_proba: np.ndarray | None = None
    classes: np.ndarray | None = None

    @property
    def columns(self) -> list[str]:
        """CSV header."""

        extra = ["n_stacks"] if self.rows and "n_stacks" in self.rows[0] else []
        return ["file", "group", "material", "true_space_group", *extra, *row_columns(self.top_k)]

    @property
    def n_unlabelled(self) -> int:
        """Predicted samples whose true space group is not known."""
        return sum(r["true_space_group"] is None for r in self.rows)


def _extractor(bundle: ModelBundle, device: str, batch_size: int) -> Any:

    if bundle.feature_config is None:
        raise IncompatibleBundleError(
            f"{bundle.path}: the bundle has no feature config, so features cannot be computed from patterns"
        )
    if bundle.feature_version is not None and str(bundle.feature_version) != str(FEATURE_VERSION):
        raise IncompatibleBundleError(
            f"{bundle.path}: trained on feature version {bundle.feature_version}, this cbedfeat "
            f"computes version {FEATURE_VERSION}; use the matching cbedfeat release or retrain"
        )
    fx = FeatureExtractor(
        config=FeatureConfig.from_dict(bundle.feature_config), device=device, batch_size=batch_size
    ).fit()
    logger.info("computing features on %s", fx.device_)
    names = [str(n) for n in fx.get_feature_names_out()]
    bundle.check_features(names, source="the feature config's output")
    # Column positions of the model's features in the extractor's output.
    return fx, np.array([names.index(n) for n in bundle.feature_names])


def _feature_scorer(
    bundle: ModelBundle, device: str, batch_size: int, failures: list[dict[str, Any]]
):
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
                    failures.append(
                        {
                            "file": sample.meta.file,
                            "group": sample.meta.group,
                            "kind": "features",
                            "reason": f"{type(exc).__name__}: {exc}",
                        }
                    )
            if not kept:
                return [], None
            feats = np.concatenate(rows)
        if getattr(bundle.model, "reads_stacks", False):  # features and the CNN together
            stacks = [s.stack for s in kept]
            return kept, bundle.model.predict_proba_features_stacks(feats, stacks)
        return kept, bundle.predict_proba(feats.astype(np.float64))

    return score


def _stack_scorer(bundle: ModelBundle):
    """``batch -> (samples, probabilities)`` for a model that reads the stacks itself (the CNN)."""
    if not hasattr(bundle.model, "predict_proba_stacks"):
        raise IncompatibleBundleError(
            f"{bundle.path}: the model reads stacks but cannot score stacks in memory "
            "(no predict_proba_stacks)"
        )

    def score(batch: list[Any]) -> tuple[list[Any], np.ndarray]:
        return batch, np.asarray(bundle.model.predict_proba_stacks([s.stack for s in batch]))

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
    coverage: float | None = None,
    mondrian: bool = False,
) -> Predictions:
    """Top-k space groups of every readable sample of ``inputs``.

    Parameters
    ----------
    bundle : ModelBundle
    inputs : sequence of path or str
        ORNL-layout HDF5 files and directories (``batch_*.h5`` inside), ``.npy`` files
        and ``FILE.h5:/dataset`` array sources (:func:`cbedfeat.data.sources.resolve_inputs`).
    top_k : int
        Predictions per sample (capped at the model's number of classes).
    device : {"auto", "cpu", "cuda"}
        Where features are computed.
    batch_size : int
        Stacks per feature batch.
    coverage : float, optional
        Nominal coverage of the conformal set written for each sample (needs a bundle
        with a calibration).
    mondrian : bool
        Class-conditional sets (see :mod:`cbedfeat.models.conformal`).

    Returns
    -------
    Predictions

    Raises
    ------
    FileNotFoundError
        For an input that does not exist.
    IncompatibleBundleError
        When ``coverage`` is given and the bundle holds no conformal calibration.
    """
    from cbedfeat.data.sources import iter_inputs

    calibration = bundle_calibration(bundle)
    if coverage is not None and (calibration is None or calibration.conformal is None):
        raise IncompatibleBundleError(
            f"{bundle.path}: the bundle holds no conformal calibration, so it gives no sets; "
            "train it with --calibration-fraction"
        )
    k = min(int(top_k), bundle.classes.size)
    out = Predictions(top_k=k, classes=bundle.classes)
    logs: list[np.ndarray] = []
    problems: list[Any] = []
    reads_features = not getattr(bundle.model, "reads_stacks", False) or getattr(
        bundle.model, "reads_features", False
    )
    score = (
        _feature_scorer(bundle, device, batch_size, out.problems)
        if reads_features
        else _stack_scorer(bundle)
    )
    samples = iter_inputs(list(inputs), strict=False, problems=problems, require_metadata=False)
    center = (bundle.feature_config or {}).get("center", "image")
    checked: set[str] = set()
    for batch in _batches(samples, batch_size):
        if reads_features:
            _check_centres(batch, center, checked, out.off_centre)
        kept, proba = score(batch)
        if not kept:
            continue
        if calibration is not None:
            proba = calibration.calibrate(proba)
        logs.append(log_probabilities(proba))
        sets = (
            calibration.predict_set(proba, coverage, mondrian=mondrian)
            if coverage is not None
            else None
        )
        labels, probs = top_k_predictions(proba, bundle.classes, k)
        for i, (sample, lab, pro) in enumerate(zip(kept, labels, probs, strict=True)):
            meta = sample.meta
            out.metadata_problems.extend(_problem_record(p) for p in meta.problems)
            row = {
                "file": meta.file,
                "group": meta.group,
                "material": meta.material,
                "true_space_group": meta.space_group,
            }
            row.update(
                row_fields(
                    lab,
                    pro,
                    calibrated=calibration is not None,
                    coverage=coverage,
                    prediction_set=None if sets is None else bundle.classes[sets[i]],
                )
            )
            out.rows.append(row)
    out.log_proba = np.concatenate(logs) if logs else np.zeros((0, bundle.classes.size))
    out.problems.extend(_problem_record(p) for p in problems)
    for p in out.problems:
        logger.warning("skipped %s [%s]: %s", p["file"], p["group"], p["reason"])
    if out.metadata_problems:
        logger.info(
            "%d samples predicted without (valid) metadata; see the metadata report",
            out.n_unlabelled,
        )
    return out


def _check_centres(batch: list[Any], center: str, checked: set[str], out: list[dict]) -> None:
    """Check the first stack of every file not seen yet; warn about those off centre."""
    for sample in batch:
        if sample.meta.file in checked:
            continue
        checked.add(sample.meta.file)
        try:
            record = off_centre_record(sample.stack, sample.meta.file, sample.meta.group, center)
        except Exception:  # a bad stack is reported by the features
            continue
        if record is not None:
            out.append(record)
            logger.warning("%s [%s]: %s", record["file"], record["group"], record["reason"])


def combine_by_material(
    predictions: Predictions,
    *,
    calibration: Calibration | None = None,
    coverage: float | None = None,
    mondrian: bool = False,
) -> Predictions:
    """One prediction per material: the sum of its stacks' calibrated log-probabilities.

    Rows without a material are left out (and counted in the log). A combined row
    has ``file`` (the files, ``;``-joined), ``group`` (the groups, ``;``-joined),
    ``material``, ``true_space_group`` (when all its rows agree), ``n_stacks`` and the
    fields of :func:`cbedfeat.workflows.explain.row_fields`. The stack sets' coverage
    holds per stack, not for a combination: a combined row's set comes from the
    calibration's material-level scores
    (:meth:`cbedfeat.models.calibration.Calibration.predict_material_set`), and a row
    has none when the calibration holds no such scores.

    Parameters
    ----------
    predictions : Predictions
        From :func:`predict_files`.
    calibration : Calibration, optional
        The bundle's calibration (:func:`cbedfeat.models.calibration.bundle_calibration`).
    coverage : float, optional
        Nominal coverage of the material sets (needs ``calibration``).
    mondrian : bool
        Class-conditional sets.

    Returns
    -------
    Predictions
        The same problems, one row per material.
    """
    from scipy.special import softmax

    material_sets = (
        coverage is not None
        and calibration is not None
        and calibration.material_conformal is not None
    )
    if coverage is not None and not material_sets:
        logger.warning(
            "the bundle's calibration holds no material-level conformal scores: "
            "combined rows get no set (retrain with --calibration-fraction)"
        )

    keep = [i for i, r in enumerate(predictions.rows) if r["material"] is not None]
    if len(keep) < len(predictions.rows):
        logger.info(
            "%d rows without a material are not combined", len(predictions.rows) - len(keep)
        )
    out = Predictions(
        problems=predictions.problems,
        metadata_problems=predictions.metadata_problems,
        top_k=predictions.top_k,
        classes=predictions.classes,
    )
    if not keep or predictions.log_proba is None:
        return out
    rows = [predictions.rows[i] for i in keep]
    materials, combined = combine_log_probabilities(
        predictions.log_proba[keep], [str(r["material"]) for r in rows]
    )
    proba = softmax(combined, axis=1)
    labels, probs = top_k_predictions(proba, predictions.classes, predictions.top_k)
    calibrated = bool(rows[0]["calibrated"])
    by_material: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_material.setdefault(str(r["material"]), []).append(r)
    sets = None
    if material_sets:
        n_stacks = np.array([len(by_material[str(m)]) for m in materials])
        sets = calibration.predict_material_set(proba, n_stacks, coverage, mondrian=mondrian)
    for i, (material, lab, pro) in enumerate(zip(materials, labels, probs, strict=True)):
        own = by_material[str(material)]
        truth = {r["true_space_group"] for r in own}
        row = {
            "file": ";".join(dict.fromkeys(r["file"] for r in own)),
            "group": ";".join(r["group"] for r in own),
            "material": str(material),
            "true_space_group": truth.pop() if len(truth) == 1 else None,
            "n_stacks": len(own),
        }
        row.update(
            row_fields(
                lab,
                pro,
                calibrated=calibrated,
                coverage=coverage,
                prediction_set=None if sets is None else predictions.classes[sets[i]],
            )
        )
        out.rows.append(row)
    out.log_proba = combined - np.logaddexp.reduce(combined, axis=1, keepdims=True)
    return out


def write_predictions_json(predictions: Predictions, path: str | os.PathLike[str]) -> Path:
    """Write the predictions as JSON lines, one record per row (atomically).

    Each record is :func:`cbedfeat.workflows.explain.json_record` of a row.

    Returns
    -------
    Path
    """
    import json

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(json_record(row, predictions.top_k)) for row in predictions.rows]
    write_atomic(out, ("\n".join(lines) + ("\n" if lines else "")).encode())
    return out


def _problem_record(p: Any) -> dict[str, Any]:
    return {"file": p.file, "group": p.group or "", "kind": p.kind, "reason": p.reason}


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


PROBLEM_FIELDS = ["file", "group", "kind", "reason"]


def report_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(<stem>.skipped.csv, <stem>.metadata.csv)`` beside a predictions CSV."""
    out = Path(path)
    return out.with_name(f"{out.stem}.skipped.csv"), out.with_name(f"{out.stem}.metadata.csv")


def _write_report(path: Path, records: list[dict[str, Any]]) -> Path | None:
    if records:
        _write_csv(path, PROBLEM_FIELDS, records)
        return path
    path.unlink(missing_ok=True)
    return None


def write_predictions(
    predictions: Predictions, path: str | os.PathLike[str], *, as_json: bool = False
) -> tuple[Path, Path | None, Path | None]:
    """Write the predictions CSV (or JSON lines, ``as_json``; atomically) and its problem reports.

    ``<stem>.skipped.csv`` lists the skipped samples and files (pattern problems),
    ``<stem>.metadata.csv`` the metadata problems of predicted samples; each is
    written only when it has rows (a stale one is removed).

    Returns
    -------
    predictions_csv : Path
    skipped_csv : Path or None
    metadata_csv : Path or None
    """
    out = Path(path)
    if as_json:
        write_predictions_json(predictions, out)
    else:
        _write_csv(out, predictions.columns, predictions.rows)
    skipped, metadata = report_paths(out)
    return (
        out,
        _write_report(skipped, predictions.problems),
        _write_report(metadata, predictions.metadata_problems),
    )


__all__ = [
    "Predictions",
    "combine_by_material",
    "predict_files",
    "report_paths",
    "write_predictions",
    "write_predictions_json",
]
