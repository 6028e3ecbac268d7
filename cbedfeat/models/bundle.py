"""Model bundles: one directory that holds a trained classifier and everything needed to use it.

Layout of a bundle directory::

    manifest.json     format version + sha256 and size of every other file
    bundle.json       model kind and class, classes (label map), feature names,
                      feature config, library versions, training metadata
    model/            SpaceGroupClassifier: XGBoost's own UBJSON model (model.ubj),
                      label_map.json, params.json (written by ``save_native``)
    model/            any other feature model (imbalanced-learn ensembles, hierarchical,
                      system-gated, logit-adjusted, blended and multi-task models):
                      state.json (parameters and fitted scalars), arrays/*.npy,
                      boosters/*.ubj (XGBoost UBJSON), members/*.skops (scikit-learn
                      members), see :mod:`cbedfeat.models.persist`
    model/            CNNSpaceGroupClassifier: weights.npz (the torch state_dict as NumPy
                      arrays, read with allow_pickle=False), label_map.json, params.json
                      (written by ``save``)
    model/            FeatureCNNClassifier: features/ (either layout above), cnn/ (the
                      CNN's), hybrid.json (written by ``save``)
    calibration.json  optional: temperature and conformal calibration scores
                      (:class:`cbedfeat.models.calibration.Calibration`, plain JSON)

No bundle holds a pickle, and loading one runs no code chosen by whoever wrote it: JSON
names only classes of a fixed list, skops files may ask only for a fixed list of types,
NumPy arrays are read with ``allow_pickle=False``. Bundles of the old ``joblib`` kind are
refused (retrain the model).

Loading checks the bundle before it touches the model: the format version
(:class:`IncompatibleBundleError` when newer than this cbedfeat reads), every file of
the manifest present and with the recorded sha256 (:class:`CorruptBundleError`);
:meth:`ModelBundle.check_features` raises :class:`MissingFeaturesError` when a table
lacks a feature the model was trained on. All derive from :class:`BundleError`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cbedfeat._util import to_json
from cbedfeat._version import __version__
from cbedfeat.models import SpaceGroupClassifier

logger = logging.getLogger(__name__)

BUNDLE_FORMAT_VERSION = 1
MANIFEST = "manifest.json"
METADATA = "bundle.json"
NATIVE_DIR = "model"
CALIBRATION_FILE = "calibration.json"
KIND_XGBOOST = "xgboost-ubj"
KIND_STATE = "state"  # model/: see cbedfeat.models.persist
KIND_JOBLIB = "joblib"  # old bundles holding a pickle; refused on load
KIND_CNN = "torch-cnn"  # model/: weights.npz (state_dict arrays), label_map.json, params.json
KIND_FEATURES_CNN = "features-cnn"  # model/: features/, cnn/, hybrid.json

__all__ = [
    "BUNDLE_FORMAT_VERSION",
    "BundleError",
    "CorruptBundleError",
    "IncompatibleBundleError",
    "MissingFeaturesError",
    "ModelBundle",
    "library_versions",
    "load_bundle",
    "save_bundle",
]


class BundleError(Exception):
    """A model bundle cannot be used."""


class CorruptBundleError(BundleError):
    """A bundle file is missing, truncated or altered (size or sha256 mismatch)."""


class IncompatibleBundleError(BundleError):
    """A sound bundle that this cbedfeat or this table cannot use."""


class MissingFeaturesError(IncompatibleBundleError):
    """The table lacks features the model was trained on.

    Attributes
    ----------
    missing : list of str
    """

    def __init__(self, missing: Sequence[str], source: str = "the table"):
        self.missing = list(missing)
        shown = ", ".join(self.missing[:10]) + (" ..." if len(self.missing) > 10 else "")
        super().__init__(
            f"{source} lacks {len(self.missing)} feature(s) the model was trained on: {shown}; "
            "extract the features with the model's feature config"
        )


def library_versions() -> dict[str, str]:
    """Versions of cbedfeat and the libraries a saved model depends on."""
    import imblearn
    import sklearn
    import skops
    import xgboost

    return {
        "cbedfeat": __version__,
        "xgboost": xgboost.__version__,
        "scikit-learn": sklearn.__version__,
        "imbalanced-learn": imblearn.__version__,
        "skops": skops.__version__,
        "numpy": np.__version__,
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)


@dataclass
class ModelBundle:
    """A fitted classifier with its feature contract and provenance.

    Attributes
    ----------
    model : estimator
        Fitted, with ``predict_proba`` and ``classes_``.
    feature_names : list of str
        Input columns, in the order the model expects them.
    feature_config : dict or None
        The :class:`cbedfeat.features.FeatureConfig` (as a dict) the features came from.
    training : dict
        Training metadata: model name, weighting, seed, split, data fingerprint,
        class counts, validation metrics.
    versions : dict
        Library versions at save time (see :func:`library_versions`).
    feature_version : str or None
        Version of the feature definitions of the training table.
    path : Path or None
        Where the bundle was loaded from.
    calibration : dict or None
        :meth:`cbedfeat.models.calibration.Calibration.to_dict` of the bundle's
        calibration, None when it has none.
    """

    model: Any
    feature_names: list[str]
    feature_config: dict[str, Any] | None = None
    training: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    feature_version: str | None = None
    path: Path | None = None
    calibration: dict[str, Any] | None = None

    @property
    def classes(self) -> np.ndarray:
        """(K,) ndarray of int: the space groups the model knows, in probability-column order."""
        return np.asarray(self.model.classes_)

    def check_features(self, columns: Iterable[str], *, source: str = "the table") -> None:
        """Raise :class:`MissingFeaturesError` unless every model feature is in ``columns``."""
        present = set(columns)
        missing = [name for name in self.feature_names if name not in present]
        if missing:
            raise MissingFeaturesError(missing, source)

    def check_table_metadata(self, metadata: Mapping[str, Any]) -> None:
        """Compare a feature table's metadata with the bundle's.

        Raises :class:`IncompatibleBundleError` when the feature definitions differ in
        version (same names, different numbers); warns when only the config differs.
        """
        version = metadata.get("feature_version")
        if self.feature_version and version and str(version) != str(self.feature_version):
            raise IncompatibleBundleError(
                f"the table's features are version {version}, the model was trained on version "
                f"{self.feature_version}; re-extract the features"
            )
        config = metadata.get("feature_config")
        if self.feature_config and config and dict(config) != dict(self.feature_config):
            warnings.warn(
                "the table's feature config differs from the model's", UserWarning, stacklevel=2
            )

    def feature_matrix(self, table: Any) -> np.ndarray:
        """(n, F) float32 ndarray of the model's features from a DataFrame, in model order."""
        self.check_features(table.columns)
        return table.loc[:, self.feature_names].to_numpy(dtype=np.float32)

    def _inputs(self, table: Any) -> Any:
        if isinstance(table, np.ndarray):
            return table
        if getattr(self.model, "reads_stacks", False):
            if getattr(self.model, "reads_features", False):
                self.check_features(table.columns)  # and the features of the same rows
            return table  # the CNN reads the stacks its file/group columns point to
        return self.feature_matrix(table)

    def predict_proba(self, table: Any) -> np.ndarray:
        """(n, K) probabilities over :attr:`classes`; ``table`` is a DataFrame or an (n, F) array."""
        return np.asarray(self.model.predict_proba(self._inputs(table)))

    def predict_targets(self, table: Any) -> Any:
        """Lattice predictions (DataFrame a, b, c, alpha, beta, gamma, volume) of multi-task models."""
        return self.model.predict_targets(self._inputs(table))

    def predict(self, table: Any) -> np.ndarray:
        """(n,) predicted space groups."""
        return self.classes[np.argmax(self.predict_proba(table), axis=1)]


def _model_kind(model: Any) -> str:

    kind = getattr(type(model), "BUNDLE_KIND", None)
    if kind in (KIND_CNN, KIND_FEATURES_CNN):
        return kind  # models that save themselves (save / load)
    # Exact type: a subclass may hold more state than save_native writes.
    return KIND_XGBOOST if type(model) is SpaceGroupClassifier else KIND_STATE


def save_bundle(
    directory: str | os.PathLike[str],
    model: Any,
    *,
    feature_names: Sequence[str],
    feature_config: Mapping[str, Any] | None = None,
    feature_version: str | None = None,
    training: Mapping[str, Any] | None = None,
    calibration: Mapping[str, Any] | None = None,
) -> Path:
    """Write a fitted model as a bundle directory, atomically.

    The bundle is assembled in a temporary sibling directory and renamed into place, so
    a crash never leaves half a bundle. An existing bundle at ``directory`` is replaced;
    any other existing, non-empty directory is refused.

    Parameters
    ----------
    directory : path
    model : fitted estimator
        :class:`~cbedfeat.models.SpaceGroupClassifier` is stored natively (UBJSON), the
        CNN as NumPy arrays of its weights, any other estimator with
        :func:`cbedfeat.models.persist.save_state` (no pickle).
    feature_names : sequence of str
        The model's input columns, in order.
    feature_config : mapping, optional
        Feature configuration of the training table.
    feature_version : str, optional
    training : mapping, optional
        Training metadata (JSON-serialisable).
    calibration : mapping, optional
        :meth:`cbedfeat.models.calibration.Calibration.to_dict`, written as
        ``calibration.json``.

    Returns
    -------
    Path
    """

    target = Path(directory)
    if target.exists() and not (target / MANIFEST).exists() and any(target.iterdir()):
        raise BundleError(f"{target} exists and is not a model bundle; refusing to overwrite it")
    if not hasattr(model, "classes_"):
        raise BundleError("the model is not fitted (no classes_)")
    target.parent.mkdir(parents=True, exist_ok=True)
    # mkdir (not mkdtemp) so the bundle gets the user's umask permissions.
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        kind = _model_kind(model)
        if kind == KIND_XGBOOST:
            model.save_native(tmp / NATIVE_DIR)
        elif kind in (KIND_CNN, KIND_FEATURES_CNN):
            model.save(tmp / NATIVE_DIR)
        else:
            from cbedfeat.models.persist import UnsupportedStateError, save_state

            try:
                save_state(model, tmp / NATIVE_DIR)
            except UnsupportedStateError as exc:
                raise BundleError(f"cannot save the model without pickle: {exc}") from exc
        meta = {
            "format_version": BUNDLE_FORMAT_VERSION,
            "kind": kind,
            "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
            "classes": [int(c) for c in np.asarray(model.classes_)],
            "feature_names": list(feature_names),
            "feature_config": dict(feature_config) if feature_config is not None else None,
            "feature_version": feature_version,
            "versions": library_versions(),
            "training": dict(training or {}),
        }
        (tmp / METADATA).write_text(to_json(meta) + "\n")
        if calibration is not None:
            (tmp / CALIBRATION_FILE).write_text(to_json(dict(calibration)) + "\n")
        manifest = {
            "format_version": BUNDLE_FORMAT_VERSION,
            "files": {
                p.relative_to(tmp).as_posix(): {"sha256": _sha256(p), "size": p.stat().st_size}
                for p in _files(tmp)
            },
        }
        (tmp / MANIFEST).write_text(to_json(manifest) + "\n")
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("saved %s bundle to %s", kind, target)
    return target


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CorruptBundleError(f"{path}: missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptBundleError(f"{path}: not valid JSON ({exc})") from exc


def verify_bundle(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Check format version and every file's size and sha256; return the manifest.

    Raises
    ------
    BundleError
        ``directory`` is not a bundle.
    IncompatibleBundleError
        The bundle format is newer than this cbedfeat reads.
    CorruptBundleError
        A file is missing, or its size or sha256 differs from the manifest.
    """
    root = Path(directory)
    if not root.is_dir():
        raise BundleError(f"{root}: no such model bundle directory")
    if not (root / MANIFEST).exists():
        raise CorruptBundleError(
            f"{root}: no {MANIFEST}; not a cbedfeat model bundle or incomplete"
        )
    manifest = _read_json(root / MANIFEST)
    version = manifest.get("format_version")
    if not isinstance(version, int):
        raise CorruptBundleError(f"{root / MANIFEST}: no integer format_version")
    if version > BUNDLE_FORMAT_VERSION:
        raise IncompatibleBundleError(
            f"{root}: bundle format {version} is newer than this cbedfeat reads "
            f"({BUNDLE_FORMAT_VERSION}); upgrade cbedfeat"
        )
    for name, entry in manifest.get("files", {}).items():
        path = root / name
        if not path.is_file():
            raise CorruptBundleError(f"{root}: file {name} listed in the manifest is missing")
        size = path.stat().st_size
        if size != entry["size"]:
            raise CorruptBundleError(
                f"{path}: {size} bytes, the manifest says {entry['size']} (truncated or altered)"
            )
        if _sha256(path) != entry["sha256"]:
            raise CorruptBundleError(
                f"{path}: sha256 differs from the manifest (corrupted or altered)"
            )
    if METADATA not in manifest.get("files", {}):
        raise CorruptBundleError(f"{root}: the manifest does not list {METADATA}")
    return manifest


def load_bundle(directory: str | os.PathLike[str]) -> ModelBundle:
    """Verify and load a bundle written by :func:`save_bundle`.

    Loading runs no code from the bundle (see :mod:`cbedfeat.models.persist`).

    Raises
    ------
    BundleError, CorruptBundleError, IncompatibleBundleError
        See :func:`verify_bundle`; also when the model file cannot be read.
    """
    root = Path(directory)
    manifest = verify_bundle(root)
    meta = _read_json(root / METADATA)
    if meta.get("format_version", 0) > BUNDLE_FORMAT_VERSION:
        raise IncompatibleBundleError(f"{root}: bundle format {meta['format_version']} is too new")
    saved = meta.get("versions", {})
    current = library_versions()
    for lib in ("xgboost", "scikit-learn", "imbalanced-learn"):
        if saved.get(lib) and saved[lib] != current[lib]:
            logger.warning("%s: saved with %s %s, running %s", root, lib, saved[lib], current[lib])
    kind = meta.get("kind")
    try:
        if kind == KIND_XGBOOST:
            from cbedfeat.models import SpaceGroupClassifier

            model = SpaceGroupClassifier.load_native(root / NATIVE_DIR)
        elif kind == KIND_CNN:
            from cbedfeat.models.cnn import CNNSpaceGroupClassifier

            model = CNNSpaceGroupClassifier.load(root / NATIVE_DIR)
        elif kind == KIND_FEATURES_CNN:
            from cbedfeat.models.hybrid import FeatureCNNClassifier

            model = FeatureCNNClassifier.load(root / NATIVE_DIR)
        elif kind == KIND_STATE:
            from cbedfeat.models.persist import load_state

            model = load_state(root / NATIVE_DIR)
        elif kind == KIND_JOBLIB:
            raise IncompatibleBundleError(
                f"{root}: this bundle holds a pickle (model.joblib), which cbedfeat no longer "
                "loads (a pickle can run code on load); retrain the model with this cbedfeat"
            )
        else:
            raise IncompatibleBundleError(f"{root}: unknown model kind {kind!r}")
    except BundleError:
        raise
    except Exception as exc:  # the libraries raise many types on unreadable models
        raise CorruptBundleError(f"{root}: cannot load the {kind} model: {exc}") from exc
    if [int(c) for c in np.asarray(model.classes_)] != meta["classes"]:
        raise CorruptBundleError(f"{root}: the model's classes differ from {METADATA}")
    # Only a calibration the manifest lists (and so verify_bundle checked) is read.
    calibration = (
        _read_json(root / CALIBRATION_FILE)
        if CALIBRATION_FILE in manifest.get("files", {})
        else None
    )
    return ModelBundle(
        model=model,
        feature_names=list(meta["feature_names"]),
        feature_config=meta.get("feature_config"),
        training=meta.get("training", {}),
        versions=saved,
        feature_version=meta.get("feature_version"),
        path=root,
        calibration=calibration,
    )
