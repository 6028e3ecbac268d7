"""Physics features and a CNN on the raw stacks together: the mean of their probabilities.

The two approaches fail on different rows. On bench-large the feature model's errors
are mostly systematic absences (a glide or screw axis it does not see), the CNN's
mostly the crystal system (``bench/results/cnn_equal_compute.md``), and the plain mean
of their class probabilities scores 62.4 % top-1 against 59.9 % and 58.1 % (the
intervals overlap). The CNN needs thousands of training materials: on bench-dynamical
(855) it reaches 24.3 % and the mean 38.7 %, below the features' 43.0 %, so use this
model only where the CNN alone comes close to the features. :class:`FeatureCNNClassifier`
trains a feature model of the registry and the CNN of :mod:`cbedfeat.models.cnn` on
the same rows and mixes them with a fixed share (nothing is tuned on held-out rows).

It reads a feature table whose ``file`` and ``group`` columns point to the stacks the
features came from (``cbedfeat extract`` writes both), so ``cbedfeat train --model
features-cnn TABLE.parquet`` trains it, ``cbedfeat evaluate`` scores it on a table, and
``cbedfeat predict`` on HDF5 files extracts the features and runs the CNN on the same
stacks.

Saved (no pickle) as a directory: ``features/`` (the feature model: XGBoost UBJSON or
:mod:`cbedfeat.models.persist` state), ``cnn/`` (the CNN's ``weights.npz``,
``label_map.json``, ``params.json``) and ``hybrid.json`` (parameters, classes, the
kind of the feature member).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from cbedfeat._util import to_json

BUNDLE_KIND = "features-cnn"  # the kind cbedfeat.models.bundle stores this model as
FORMAT_VERSION = 1
STATE_FILE, FEATURES_DIR, CNN_DIR = "hybrid.json", "features", "cnn"
_MEMBER_NATIVE, _MEMBER_STATE = "xgboost-ubj", "state"


def mix_probabilities(
    parts: Sequence[tuple[np.ndarray, np.ndarray, float]],
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted sum of several models' class probabilities, on the union of their classes.

    Parameters
    ----------
    parts : sequence of (proba, classes, weight)
        ``proba`` (n, K_i) with columns in the order of ``classes`` (K_i,) int; the
        weights should sum to 1.

    Returns
    -------
    proba : (n, K) float64 ndarray
        A class one model lacks counts as probability 0 from that model.
    classes : (K,) int ndarray
        Sorted union of the class lists.
    """
    if not parts:
        raise ValueError("nothing to mix")
    classes = np.unique(np.concatenate([np.asarray(c) for _, c, _ in parts]))
    n = len(parts[0][0])
    out = np.zeros((n, len(classes)))
    for proba, cls, weight in parts:
        proba = np.asarray(proba, dtype=float)
        if proba.shape != (n, len(cls)):
            raise ValueError(
                f"probabilities of shape {proba.shape} for {n} rows, {len(cls)} classes"
            )
        out[:, np.searchsorted(classes, cls)] += float(weight) * proba
    return out, classes


class FeatureCNNClassifier(ClassifierMixin, BaseEstimator):
    """A feature model and the CNN, trained on the same rows, probabilities mixed.

    ``X`` is a feature table (DataFrame) with the ``feature_names`` columns and the
    ``file`` and ``group`` columns of the stacks the features came from.

    Parameters
    ----------
    feature_model : str
        Name of a feature model of :mod:`cbedfeat.models.registry` (``xgb``,
        ``gated-blend-logit`` ...).
    cnn_share : float in [0, 1]
        Weight of the CNN's probabilities; the feature model gets ``1 - cnn_share``.
        0.5 (the plain mean) is what the bench measured; nothing tunes it.
    feature_params : dict, optional
        Constructor parameters of the feature model (``n_estimators`` ...).
    cnn_params : dict, optional
        Constructor parameters of :class:`~cbedfeat.models.cnn.CNNSpaceGroupClassifier`
        (``width``, ``epochs`` ...; its defaults otherwise).
    weighting : {"none", "balanced", "sqrt", "effective"}
        Class weighting of both members.
    device : {"auto", "cpu", "cuda"}
        Where both members train.
    random_state : int
    data_root : str or None
        Directory the table's bare ``file`` names are resolved against (the CNN reads
        the stacks there).
    feature_names : list of str or None
        The feature columns; ``cbedfeat train`` sets them from the table.
    """

    BUNDLE_KIND = BUNDLE_KIND
    #: ``X`` is a table: the CNN reads the stacks its file/group columns point to ...
    reads_stacks = True
    #: ... and the feature model its feature columns.
    reads_features = True

    def __init__(
        self,
        feature_model: str = "xgb",
        cnn_share: float = 0.5,
        feature_params: dict | None = None,
        cnn_params: dict | None = None,
        weighting: str = "none",
        device: str = "auto",
        random_state: int = 0,
        data_root: str | None = None,
        feature_names: list[str] | None = None,
    ):
        self.feature_model, self.cnn_share = feature_model, cnn_share
        self.feature_params, self.cnn_params = feature_params, cnn_params
        self.weighting, self.device, self.random_state = weighting, device, random_state
        self.data_root, self.feature_names = data_root, feature_names

    # -- members -------------------------------------------------------------------
    def _check_params(self) -> None:
        from cbedfeat.models.registry import get_spec

        if not 0.0 <= float(self.cnn_share) <= 1.0:
            raise ValueError(f"cnn_share must be in [0, 1], got {self.cnn_share!r}")
        if get_spec(self.feature_model).inputs != "features":
            raise ValueError(f"feature_model must read features only, got {self.feature_model!r}")
        if not self.feature_names:
            raise ValueError("feature_names is not set: which columns are the features?")

    def _feature_member(self):
        from cbedfeat.models.registry import make_model

        return make_model(
            self.feature_model,
            weighting=self.weighting,
            device=self.device,
            random_state=self.random_state,
            **dict(self.feature_params or {}),
        )

    def _cnn_member(self):
        from cbedfeat.models.cnn import CNNSpaceGroupClassifier

        params = {
            "weighting": self.weighting,
            "device": self.device,
            "random_state": self.random_state,
            "data_root": self.data_root,
            **dict(self.cnn_params or {}),
        }
        return CNNSpaceGroupClassifier(**params)

    def _features(self, X) -> np.ndarray:
        """(n, F) float32 feature matrix of a table; KeyError naming missing columns."""
        missing = [c for c in self.feature_names if c not in X.columns]
        if missing:
            raise KeyError(
                f"the table lacks {len(missing)} feature column(s) the model reads, "
                f"e.g. {missing[:5]}"
            )
        # float32: what the feature table stores and the feature models fit on
        return X.loc[:, list(self.feature_names)].to_numpy(dtype=np.float32)

    # -- training ------------------------------------------------------------------
    def fit(self, X, y, *, groups=None, eval_set=None):
        """Train both members on the rows of ``X``.

        Parameters
        ----------
        X : DataFrame
            Feature columns and ``file`` / ``group``.
        y : (n,) int array_like
            Space groups.
        groups : (n,) array_like, optional
            Materials, for the feature model's grouped hold-outs.
        eval_set : tuple (X_dev, y_dev), optional
            Passed to the CNN (its epoch of lowest dev loss is kept).

        Returns
        -------
        self
        """
        import inspect

        self._check_params()
        y = np.asarray(y).astype(np.int64)
        features = self._feature_member()
        kwargs = {}
        if groups is not None and "groups" in inspect.signature(features.fit).parameters:
            kwargs["groups"] = groups
        self.features_ = features.fit(self._features(X), y, **kwargs)
        cnn = self._cnn_member()
        cnn_kwargs = {}
        if eval_set is not None:
            cnn_kwargs["eval_set"] = (eval_set[0], eval_set[1])
        self.cnn_ = cnn.fit(X, y, **cnn_kwargs)
        self._set_classes()
        return self

    def _set_classes(self) -> None:
        self.classes_ = np.union1d(self.features_.classes_, self.cnn_.classes_)
        self.device_used_ = str(self.cnn_.device_.type)
        self.best_epoch_ = int(self.cnn_.best_epoch_)

    # -- prediction ----------------------------------------------------------------
    def _mix(self, p_features: np.ndarray, p_cnn: np.ndarray) -> np.ndarray:
        share = float(self.cnn_share)
        proba, classes = mix_probabilities(
            [
                (p_features, self.features_.classes_, 1.0 - share),
                (p_cnn, self.cnn_.classes_, share),
            ]
        )
        assert np.array_equal(classes, self.classes_)
        return proba

    def predict_proba(self, X) -> np.ndarray:
        """(n, K) mixed probabilities of the rows of a table, columns in ``classes_`` order."""
        check_is_fitted(self, "classes_")
        feats = self._features(X)
        return self._mix(self.features_.predict_proba(feats), self.cnn_.predict_proba(X))

    def predict_proba_features_stacks(self, features: np.ndarray, stacks) -> np.ndarray:
        """Mixed probabilities from features and stacks already in memory.

        Parameters
        ----------
        features : (n, F) float ndarray
            The ``feature_names`` columns, in order.
        stacks : sequence of n (3, H, W) float ndarrays
            The stacks the features came from.

        Returns
        -------
        (n, K) float64 ndarray
        """
        check_is_fitted(self, "classes_")
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2 or features.shape[1] != len(self.feature_names):
            raise ValueError(
                f"expected (n, {len(self.feature_names)}) features, got {features.shape}"
            )
        if len(stacks) != len(features):
            raise ValueError(f"{len(features)} feature rows but {len(stacks)} stacks")
        return self._mix(
            self.features_.predict_proba(features), self.cnn_.predict_proba_stacks(stacks)
        )

    def predict(self, X) -> np.ndarray:
        """(n,) most probable space groups."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    # -- persistence ---------------------------------------------------------------
    def save(self, directory) -> Path:
        """Write ``features/``, ``cnn/`` and ``hybrid.json`` into ``directory`` (no pickle)."""
        from cbedfeat.models.boosting import SpaceGroupClassifier
        from cbedfeat.models.persist import save_state

        check_is_fitted(self, "classes_")
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        if type(self.features_) is SpaceGroupClassifier:
            self.features_.save_native(d / FEATURES_DIR)
            member = _MEMBER_NATIVE
        else:
            save_state(self.features_, d / FEATURES_DIR)
            member = _MEMBER_STATE
        self.cnn_.save(d / CNN_DIR)
        state = {
            "kind": BUNDLE_KIND,
            "format_version": FORMAT_VERSION,
            "params": self.get_params(),
            "classes": [int(c) for c in self.classes_],
            "feature_member": member,
        }
        tmp = d / (STATE_FILE + ".tmp")
        tmp.write_text(to_json(state))
        os.replace(tmp, d / STATE_FILE)
        return d

    @classmethod
    def load(cls, directory, *, device: str = "auto") -> FeatureCNNClassifier:
        """Read a directory written by :meth:`save`; ``device`` is where the CNN runs."""
        from cbedfeat.models.boosting import SpaceGroupClassifier
        from cbedfeat.models.cnn import CNNSpaceGroupClassifier
        from cbedfeat.models.persist import load_state

        d = Path(directory)
        try:
            state = json.loads((d / STATE_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{d} is not a readable features-CNN model: {exc}") from exc
        if state.get("kind") != BUNDLE_KIND or state.get("format_version", 99) > FORMAT_VERSION:
            raise ValueError(f"{d}: not a features-CNN model of format <= {FORMAT_VERSION}")
        est = cls(**state["params"])
        member = state.get("feature_member")
        if member == _MEMBER_NATIVE:
            est.features_ = SpaceGroupClassifier.load_native(d / FEATURES_DIR)
        elif member == _MEMBER_STATE:
            est.features_ = load_state(d / FEATURES_DIR)
        else:
            raise ValueError(f"{d}: unknown feature member kind {member!r}")
        est.cnn_ = CNNSpaceGroupClassifier.load(d / CNN_DIR, device=device)
        est._set_classes()
        if [int(c) for c in est.classes_] != state["classes"]:
            raise ValueError(f"{d}: the members' classes differ from {STATE_FILE}")
        return est

    @property
    def predicts_lattice(self) -> bool:
        """False: neither member has a lattice head here."""
        return False
