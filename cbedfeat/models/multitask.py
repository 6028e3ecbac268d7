"""Multi-task prediction: the lattice and crystal system feed the space-group classifier.

Stage 1 predicts, from the pattern features, the lattice targets of
:mod:`cbedfeat.models.targets` (log a, b, c, cosines of alpha, beta, gamma, log cell
volume; one multi-output XGBoost regressor) and the crystal system (a
:class:`~cbedfeat.models.boosting.SpaceGroupClassifier` on the seven systems). Stage 2,
a :class:`~cbedfeat.models.boosting.SpaceGroupClassifier`, sees the features together
with the stage-1 predictions (stacking, Wolpert 1992).

Stage 2 must be trained on stage-1 predictions of the same quality as at prediction
time. A stage-1 model predicting its own training rows has seen their targets (it
memorises near-duplicates: the same material at ten beam energies), so stage 2 would
learn to trust predictions that are far better than any it will get later. Hence stage
2 is trained on **out-of-fold** stage-1 predictions over material-grouped folds
(:class:`sklearn.model_selection.GroupKFold`): no row's stage-1 prediction comes from a
model that saw any sample of its material. At prediction time stage 1 is refit on all
training rows.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import GroupKFold
from sklearn.utils.validation import check_is_fitted

from cbedfeat.data.labels import CRYSTAL_SYSTEMS, crystal_system_index
from cbedfeat.data.table import check_no_leak, feature_columns
from cbedfeat.models.boosting import SpaceGroupClassifier, resolve_device
from cbedfeat.models.targets import LATTICE_COLUMNS, TARGET_NAMES, from_targets, to_targets

log = logging.getLogger(__name__)

N_SYSTEMS = len(CRYSTAL_SYSTEMS)
STAGE1_NAMES: tuple[str, ...] = (
    *(f"pred_{t}" for t in TARGET_NAMES),
    *(f"p_{s}" for s in CRYSTAL_SYSTEMS),
)


class MultiTaskCBEDModel(ClassifierMixin, BaseEstimator):
    """Space group from features plus out-of-fold lattice and crystal-system predictions.

    Parameters
    ----------
    n_splits : int, default 5
        Material-grouped folds for the out-of-fold stage-1 predictions.
    regressor_estimators, regressor_max_depth, regressor_learning_rate
        Stage-1 XGBoost regressor (``hist``, multi-output, fixed number of rounds).
    system_params : dict or None
        Extra parameters of the stage-1 crystal-system ``SpaceGroupClassifier``.
    classifier_params : dict or None
        Extra parameters of the stage-2 ``SpaceGroupClassifier``.
    passthrough : bool, default True
        Stage 2 sees the features as well as the stage-1 predictions (False: only those).
    weighting, weight_beta, weight_cap
        Class weighting of both classifiers (:mod:`cbedfeat.models.weights`).
    device : {"auto", "cpu", "cuda"}
    n_jobs : int or None
    random_state : int

    Attributes
    ----------
    classes_ : (K,) ndarray of int
    regressor_ : xgboost.XGBRegressor
        Stage-1 regressor refit on all rows.
    system_classifier_ : SpaceGroupClassifier
        Stage-1 crystal-system classifier (labels 0..6) refit on all rows.
    classifier_ : SpaceGroupClassifier
        Stage 2.
    oof_stage1_ : (n, 14) ndarray
        The out-of-fold stage-1 predictions stage 2 was trained on (columns
        :data:`STAGE1_NAMES`).
    device_used_ : str
    """

    #: ``fit`` needs ``targets``; ``predict_targets`` gives the lattice (read by the
    #: training and evaluation code).
    needs_targets = True
    predicts_lattice = True

    def __init__(
        self,
        *,
        n_splits=5,
        regressor_estimators=300,
        regressor_max_depth=6,
        regressor_learning_rate=0.1,
        system_params=None,
        classifier_params=None,
        passthrough=True,
        weighting="balanced",
        weight_beta=0.999,
        weight_cap=None,
        device="auto",
        n_jobs=None,
        random_state=0,
    ):
        self.n_splits = n_splits
        self.regressor_estimators = regressor_estimators
        self.regressor_max_depth = regressor_max_depth
        self.regressor_learning_rate = regressor_learning_rate
        self.system_params = system_params
        self.classifier_params = classifier_params
        self.passthrough = passthrough
        self.weighting = weighting
        self.weight_beta = weight_beta
        self.weight_cap = weight_cap
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state

    # -- building blocks -------------------------------------------------------------
    def _classifier(self, extra) -> SpaceGroupClassifier:
        params = {
            "weighting": self.weighting,
            "weight_beta": self.weight_beta,
            "weight_cap": self.weight_cap,
            "device": self.device,
            "n_jobs": self.n_jobs,
            "random_state": self.random_state,
        }
        return SpaceGroupClassifier(**{**params, **dict(extra or {})})

    def _regressor(self, device: str):
        from xgboost import XGBRegressor

        return XGBRegressor(
            n_estimators=self.regressor_estimators,
            max_depth=self.regressor_max_depth,
            learning_rate=self.regressor_learning_rate,
            tree_method="hist",
            subsample=0.8,
            colsample_bytree=0.5,
            multi_strategy="one_output_per_tree",
            device=device,
            n_jobs=self.n_jobs,
            random_state=self.random_state,
        )

    def _X(self, X) -> np.ndarray:
        if isinstance(X, pd.DataFrame):
            names = getattr(self, "feature_names_in_", None)
            if names is not None:
                X = X.loc[:, list(names)]
            return X.to_numpy(dtype=np.float64)
        return np.asarray(X, dtype=np.float64)

    @staticmethod
    def _fit_stage1(reg, sys_clf, X, Z, systems, groups, sample_weight):
        ok = np.isfinite(Z).all(axis=1)  # cells whose angles close (volume defined)
        if not ok.any():
            raise ValueError("no row has finite lattice targets")
        reg.fit(X[ok], Z[ok])
        sys_clf.fit(X, systems, groups=groups, sample_weight=sample_weight)
        return reg, sys_clf

    @staticmethod
    def _stage1(reg, sys_clf, X) -> np.ndarray:
        proba = np.zeros((len(X), N_SYSTEMS))
        proba[:, np.asarray(sys_clf.classes_, dtype=int)] = sys_clf.predict_proba(X)
        return np.hstack([reg.predict(X).reshape(len(X), -1), proba])

    def _stage2_input(self, X, stage1) -> np.ndarray:
        return np.hstack([X, stage1]) if self.passthrough else stage1

    # -- scikit-learn API -------------------------------------------------------------
    def fit(self, X, y, *, targets, groups=None, sample_weight=None):
        """Fit stage 1 out of fold, stage 2 on its predictions, then stage 1 on all rows.

        Parameters
        ----------
        X : (n, F) array_like or DataFrame of feature columns
        y : (n,) int array_like
            Space-group numbers.
        targets : DataFrame with columns a, b, c, alpha, beta, gamma, or (n, 6) array_like
            The lattice (angstrom, degrees) of each row.
        groups : (n,) array_like, optional
            Material of each row; folds never split a material. Without it every row
            is its own group (then near-duplicates leak between folds: pass it).
        sample_weight : (n,) array_like, optional

        Returns
        -------
        self
        """
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        X = self._X(X)
        y = np.asarray(y).astype(np.int64)
        n = len(y)
        if X.ndim != 2 or X.shape[0] != n:
            raise ValueError(f"X has shape {X.shape} for {n} labels")
        Z = to_targets(targets)
        if Z.shape[0] != n:
            raise ValueError(f"targets has {Z.shape[0]} rows for {n} labels")
        if groups is None:
            warnings.warn(
                "no groups given: out-of-fold predictions are grouped per row, so "
                "samples of one material leak between folds",
                UserWarning,
                stacklevel=2,
            )
            groups = np.arange(n)
        groups = np.asarray(groups)
        systems = np.array([crystal_system_index(v) for v in y])
        device = resolve_device(self.device)
        n_groups = np.unique(groups).size
        if n_groups < 2:
            raise ValueError("out-of-fold stacking needs at least two groups (materials)")
        folds = GroupKFold(
            n_splits=min(self.n_splits, n_groups), shuffle=True, random_state=self.random_state
        )
        oof = np.full((n, len(STAGE1_NAMES)), np.nan)
        sw = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        for k, (tr, te) in enumerate(folds.split(X, y, groups)):
            reg, sys_clf = self._fit_stage1(
                self._regressor(device),
                self._classifier(self.system_params),
                X[tr],
                Z[tr],
                systems[tr],
                groups[tr],
                None if sw is None else sw[tr],
            )
            oof[te] = self._stage1(reg, sys_clf, X[te])
            log.info("multi-task fold %d: stage 1 fitted on %d rows", k, len(tr))
        self.oof_stage1_ = oof
        self.classifier_ = self._classifier(self.classifier_params).fit(
            self._stage2_input(X, oof), y, groups=groups, sample_weight=sw
        )
        self.regressor_, self.system_classifier_ = self._fit_stage1(
            self._regressor(device), self._classifier(self.system_params), X, Z, systems, groups, sw
        )
        self.classes_ = self.classifier_.classes_
        self.n_features_in_ = X.shape[1]
        self.device_used_ = getattr(self.classifier_, "device_used_", device)
        return self

    def stage1(self, X) -> np.ndarray:
        """(n, 14) stage-1 predictions of the refit models (columns :data:`STAGE1_NAMES`)."""
        check_is_fitted(self, "classifier_")
        return self._stage1(self.regressor_, self.system_classifier_, self._X(X))

    def predict_proba(self, X) -> np.ndarray:
        """(n, K) space-group probabilities over ``classes_``."""
        check_is_fitted(self, "classifier_")
        X = self._X(X)
        return self.classifier_.predict_proba(self._stage2_input(X, self.stage1(X)))

    def predict(self, X) -> np.ndarray:
        """(n,) space-group numbers."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def predict_targets(self, X) -> pd.DataFrame:
        """Lattice predictions in physical units: a, b, c (A), alpha, beta, gamma (deg),
        volume (A^3)."""
        check_is_fitted(self, "regressor_")
        X = self._X(X)
        return from_targets(self.regressor_.predict(X).reshape(len(X), -1))

    def predict_crystal_system(self, X) -> np.ndarray:
        """(n,) crystal-system names from the stage-1 classifier."""
        check_is_fitted(self, "system_classifier_")
        idx = self.system_classifier_.predict(self._X(X))
        return np.asarray(CRYSTAL_SYSTEMS, dtype=object)[np.asarray(idx, dtype=int)]

    def fit_table(self, table: pd.DataFrame, feature_names=None):
        """Fit on a feature table: features, ``space_group``, the lattice, ``material`` groups."""

        names = list(feature_names) if feature_names is not None else feature_columns(table.columns)
        check_no_leak(names)
        return self.fit(
            table.loc[:, names],
            table["space_group"].to_numpy(),
            targets=table.loc[:, list(LATTICE_COLUMNS)],
            groups=table["material"].astype(str).to_numpy(),
        )


def clone_single_task(model: MultiTaskCBEDModel) -> SpaceGroupClassifier:
    """The single-task peer of ``model``: its stage-2 classifier with the same settings,
    trained on the features alone (for like-for-like comparisons)."""
    return clone(model._classifier(model.classifier_params))
