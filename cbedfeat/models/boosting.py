"""Gradient-boosted space-group classifier (XGBoost ``hist``), GPU when present.

:class:`SpaceGroupClassifier` wraps XGBoost's native training API rather than
``xgboost.XGBClassifier`` so that

* any subset of space groups (e.g. {14, 62, 225}) works: labels are encoded to
  0..K-1 internally, the map is kept in ``label_map_`` and saved beside the model,
  and ``predict`` returns space-group numbers;
* early stopping uses a *material-grouped* hold-out
  (:func:`grouped_validation_split`), weighted with the training class weights unless
  ``weight_validation=False``, so the stopping round is not chosen on near-duplicates
  of training samples;
* a short screening fit ranks the columns by XGBoost's total gain and the model trains on
  the ``screen_features`` best of them (:func:`screened_columns`): CPU ``hist`` builds
  every column's histogram in every tree whatever ``colsample_bytree``, so a round costs
  rows x columns x classes, and on bench-large 128 of the 883 columns give the same test
  accuracy as all of them (``bench/results/train_scale.md``) for a fraction of the cost;
* the device actually used (``device_used_``) is read back from the trained booster
  and logged;
* the model is saved in XGBoost's own UBJSON format (:meth:`SpaceGroupClassifier.save_native`),
  never pickled.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from cbedfeat.models.fitting import (  # noqa: F401 - re-exported for callers
    DEVICES,
    check_sample_weight,
    cuda_available,
    grouped_validation_split,
    resolve_device,
    seed_from,
)
from cbedfeat.models.weights import class_weight_table, weights_from_table

logger = logging.getLogger(__name__)

#: Boosting rounds of the screening fit that ranks the columns (:func:`screened_columns`).
SCREEN_ROUNDS = 20
#: Most training rows the screening fit reads (a seeded draw beyond): the ranking of a few
#: hundred columns settles long before, and the screen stays a small share of the fit.
SCREEN_ROWS = 20_000


def gain_ranking(booster, n_features: int) -> np.ndarray:
    """Column indices by decreasing total gain in ``booster`` (unused columns last).

    Parameters
    ----------
    booster : xgboost.Booster
        Trained on a nameless matrix of ``n_features`` columns (XGBoost names them f0, f1 ...).
    n_features : int

    Returns
    -------
    (n_features,) int ndarray
        A permutation of ``range(n_features)``; ties keep column order.
    """
    gain = booster.get_score(importance_type="total_gain")
    total = np.array([gain.get(f"f{i}", 0.0) for i in range(n_features)])
    return np.argsort(-total, kind="stable")


def screened_columns(ranking, keep: int) -> np.ndarray:
    """The ``keep`` best columns of a ranking, in their original order: (keep,) int ndarray."""
    return np.sort(np.asarray(ranking)[: int(keep)])


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class SpaceGroupClassifier(ClassifierMixin, BaseEstimator):
    """XGBoost ``hist`` multi-class classifier of space groups with grouped early stopping.

    Parameters
    ----------
    n_estimators : int, default 200
        Most boosting rounds; early stopping usually ends sooner.
    learning_rate, max_depth, max_bin, subsample, colsample_bytree, min_child_weight, reg_lambda
        XGBoost booster parameters (``eta``, ``max_depth``, ``max_bin``, ``subsample``,
        ``colsample_bytree``, ``min_child_weight``, ``lambda``). A multi-class booster
        grows one tree per class and round, and CPU ``hist`` builds histograms over all
        columns whatever ``colsample_bytree``, so the cost of a round grows with
        rows x features x classes x depth; the defaults (depth 4, 64 bins, at most 200
        rounds of step 0.2) keep a fit on 5,000 x 600 x 30 classes around a CPU-minute.
    screen_features : int or None, default 128
        Train on this many columns, the best of a screening fit (:data:`SCREEN_ROUNDS`
        rounds on at most :data:`SCREEN_ROWS` of the training rows, same parameters,
        ranked by total gain, :func:`gain_ranking`); None, or a table with no more
        columns: every column, no screen. The input keeps all ``n_features_in_``
        columns, the model reads those of ``features_``. 128 was chosen on bench-large's
        883 columns: unweighted ``xgb`` fitted on the train and dev rows scored 58.7 %
        top-1 on the test rows with every column and 58.8 / 59.8 / 59.5 / 60.1 % with
        the best 350 / 200 / 128 / 96 (intervals about +-4 points), while a round costs
        rows x columns (``bench/results/train_scale.md`` has the paired comparison).
    weighting : {"none", "balanced", "sqrt", "effective"}, default "balanced"
        Class weighting (:mod:`cbedfeat.models.weights`), computed from the training
        part's class counts and applied to training and validation samples alike;
        multiplied with any ``sample_weight`` given to :meth:`fit`.
    weight_beta : float, default 0.999
        ``beta`` of the ``"effective"`` scheme.
    weight_cap : float or None
        Largest ratio between two class weights.
    early_stopping_rounds : int or None, default 20
        Stop when the validation metric (``eval_metric``) has not improved for this
        many rounds; None: no hold-out, train ``n_estimators`` rounds on everything.
    eval_metric : {"mlogloss", "merror"}, default "mlogloss"
        Metric of early stopping, on the class-weighted hold-out. With strong class
        weights a few rare hold-out samples dominate the log loss and can stop training
        after a handful of rounds; the weighted error is the alternative (on the bench
        data it made no difference to the test metrics).
    weight_validation : bool, default True
        Weight the early-stopping hold-out with the class weights (True) or stop on
        its plain, unweighted metric (False), i.e. on the data's own class mix.
    validation_fraction : float, default 0.15
        Share of the groups (materials) held out for early stopping.
    device : {"auto", "cpu", "cuda"}, default "auto"
        Where XGBoost trains; the device used is logged and kept in ``device_used_``.
    n_jobs : int or None, default None
        XGBoost threads; None: all cores.
    random_state : int, RandomState or None, default 0
        Seed of the hold-out split and of XGBoost's row/column sampling.

    Attributes
    ----------
    classes_ : (K,) ndarray
        Sorted labels (space-group numbers) seen in fit; ``predict_proba`` columns.
    label_map_ : list
        ``label_map_[i]`` is the label encoded as ``i`` (same as ``classes_``).
    booster_ : xgboost.Booster
        Trained booster, cut at the best iteration when early stopping ran.
    best_iteration_ : int
        0-based index of the last boosting round kept.
    evals_result_ : dict
        Validation log loss per round (``{"validation": {"mlogloss": [...]}}``), empty
        without early stopping.
    device_used_ : str
        ``"cpu"`` or ``"cuda"``, as reported by the trained booster.
    features_ : (k,) int ndarray
        Indices of the input columns the booster reads, ascending (every column when
        nothing was screened).
    n_features_in_ : int
    """

    def __init__(
        self,
        *,
        n_estimators=200,
        learning_rate=0.2,
        max_depth=4,
        max_bin=64,
        subsample=0.8,
        colsample_bytree=0.4,
        min_child_weight=1.0,
        reg_lambda=1.0,
        screen_features=128,
        weighting="balanced",
        weight_beta=0.999,
        weight_cap=None,
        early_stopping_rounds=20,
        eval_metric="mlogloss",
        weight_validation=True,
        validation_fraction=0.15,
        device="auto",
        n_jobs=None,
        random_state=0,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.max_bin = max_bin
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.screen_features = screen_features
        self.weighting = weighting
        self.weight_beta = weight_beta
        self.weight_cap = weight_cap
        self.early_stopping_rounds = early_stopping_rounds
        self.eval_metric = eval_metric
        self.weight_validation = weight_validation
        self.validation_fraction = validation_fraction
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # XGBoost learns a default branch for missing values
        return tags

    def _nthread(self) -> int:
        """XGBoost thread count: ``n_jobs``, or 0 (all cores) for None."""
        return 0 if self.n_jobs is None else int(self.n_jobs)

    def _booster_params(self, n_classes: int, device: str, seed: int) -> dict:
        params = {
            "objective": "multi:softprob",
            "num_class": n_classes,
            "eval_metric": self.eval_metric,
            "tree_method": "hist",
            "device": device,
            "max_bin": self.max_bin,
            "eta": self.learning_rate,
            "max_depth": self.max_depth,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "min_child_weight": self.min_child_weight,
            "lambda": self.reg_lambda,
            "seed": seed,
            "verbosity": 1,
        }
        if self.n_jobs is not None:
            params["nthread"] = self._nthread()
        return params

    def fit(self, X, y, *, groups=None, sample_weight=None):
        """Train on ``X`` (n, F) and labels ``y`` (n,).

        Parameters
        ----------
        X : (n, F) array-like
            Feature matrix (NaN means missing).
        y : (n,) array-like
            Labels (space-group numbers); any subset of values, at least two.
        groups : (n,) array-like or None
            Material ids: the early-stopping hold-out never splits a material.
        sample_weight : (n,) array-like or None
            Extra per-sample weights, multiplied with the class weights.

        Returns
        -------
        self
        """
        import xgboost as xgb

        X, y = validate_data(self, X, y, dtype=np.float32, ensure_all_finite="allow-nan")
        check_classification_targets(y)
        classes, y_enc = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes, got 1 class: {classes[0]!r}"
            )
        n = len(y)
        weight = check_sample_weight(sample_weight, n)
        if groups is not None and len(groups) != n:
            raise ValueError(f"groups has {len(groups)} entries but X has {n} rows")
        seed = seed_from(self.random_state)
        stop = self.early_stopping_rounds is not None and self.validation_fraction
        if stop:
            tr, va = grouped_validation_split(y_enc, groups, self.validation_fraction, seed)
        else:
            tr, va = np.arange(n), np.arange(0)
        table = class_weight_table(
            y_enc[tr], self.weighting, beta=self.weight_beta, cap=self.weight_cap
        )
        w_tr = weights_from_table(y_enc[tr], table)
        scale = w_tr.mean()

        device = resolve_device(self.device)
        params = self._booster_params(len(classes), device, seed)
        w_va = weight[va]
        if self.weight_validation:
            w_va = weights_from_table(y_enc[va], table) / scale * w_va
        w_fit = w_tr / scale * weight[tr]
        # XGBoost's global thread count also governs matrix construction (where the
        # per-call nthread is not honoured everywhere): set both.
        with xgb.config_context(nthread=self._nthread()):
            cols = self._screen(X, tr, y_enc, w_fit, params, seed)
            dtrain = xgb.QuantileDMatrix(
                X[np.ix_(tr, cols)],
                label=y_enc[tr],
                weight=w_fit,
                max_bin=self.max_bin,
                nthread=self._nthread(),
            )
            evals, evals_result = [], {}
            if va.size:
                dval = xgb.QuantileDMatrix(
                    X[np.ix_(va, cols)],
                    label=y_enc[va],
                    weight=w_va,
                    ref=dtrain,
                    max_bin=self.max_bin,
                    nthread=self._nthread(),
                )
                evals = [(dval, "validation")]
            booster = xgb.train(
                params,
                dtrain,
                num_boost_round=int(self.n_estimators),
                evals=evals,
                evals_result=evals_result,
                early_stopping_rounds=int(self.early_stopping_rounds) if evals else None,
                verbose_eval=False,
            )
        self.features_ = cols
        return self._set_fitted(
            booster,
            classes,
            evals_result,
            stopped=bool(evals),
            n_train=tr.size,
            n_validation=va.size,
        )

    def _screen(self, X, rows, y_enc, weight, params, seed):
        """Columns to train on: the ``screen_features`` best of a short fit, or all.

        Parameters
        ----------
        X : (n, F) float32 ndarray
        rows : (m,) int ndarray
            The training rows (never the early-stopping hold-out).
        y_enc : (n,) int ndarray
            Encoded labels of every row of ``X``.
        weight : (m,) ndarray
            Training weights of ``rows``.
        params : dict
            Booster parameters of the real fit.
        seed : int

        Returns
        -------
        (k,) int ndarray
            Ascending column indices.
        """
        import xgboost as xgb

        n_features = X.shape[1]
        if self.screen_features is None or int(self.screen_features) >= n_features:
            return np.arange(n_features)
        if int(self.screen_features) < 1:
            raise ValueError(f"screen_features must be >= 1 or None, got {self.screen_features!r}")
        pick = np.arange(rows.size)
        if rows.size > SCREEN_ROWS:
            pick = np.sort(
                np.random.default_rng(seed).choice(rows.size, SCREEN_ROWS, replace=False)
            )
        matrix = xgb.QuantileDMatrix(
            X[rows[pick]],
            label=y_enc[rows[pick]],
            weight=weight[pick],
            max_bin=self.max_bin,
            nthread=self._nthread(),
        )
        # Never screen longer than the fit itself runs.
        rounds = min(SCREEN_ROUNDS, int(self.n_estimators))
        screen = xgb.train(params, matrix, num_boost_round=rounds, verbose_eval=False)
        cols = screened_columns(gain_ranking(screen, n_features), self.screen_features)
        logger.info(
            "%s: screened %d of %d columns on %d rows",
            type(self).__name__,
            cols.size,
            n_features,
            pick.size,
        )
        return cols

    def _set_fitted(self, booster, classes, evals_result, *, stopped, n_train, n_validation):
        """Keep a trained booster (cut at its best round) and the fitted attributes.

        Shared by :meth:`fit` and the Dask training of
        :func:`cbedfeat.models.dask_boosting.fit_dask`, so both give the same estimator.

        Parameters
        ----------
        booster : xgboost.Booster
        classes : (K,) ndarray
            Labels, encoded 0..K-1 in this order.
        evals_result : dict
        stopped : bool
            Whether early stopping ran (``booster.best_iteration`` is set).
        n_train, n_validation : int
            Rows of each part, for the log.

        Returns
        -------
        self
        """
        best = booster.best_iteration if stopped else booster.num_boosted_rounds() - 1
        if best + 1 < booster.num_boosted_rounds():
            booster = booster[: best + 1]  # keep only the rounds that early stopping chose
        config = json.loads(booster.save_config())
        self.device_used_ = str(config["learner"]["generic_param"]["device"]).split(":")[0]
        logger.info(
            "%s: XGBoost trained on %s (requested %r), %d classes, %d rounds kept, "
            "%d training / %d validation samples",
            type(self).__name__,
            self.device_used_,
            self.device,
            len(classes),
            best + 1,
            n_train,
            n_validation,
        )
        self.classes_ = classes
        self.label_map_ = classes.tolist()
        self.booster_ = booster
        self.best_iteration_ = int(best)
        self.evals_result_ = evals_result
        return self

    def predict_proba(self, X):
        """Class probabilities, columns in ``classes_`` order.

        Parameters
        ----------
        X : (n, F) array-like

        Returns
        -------
        (n, K) float64 ndarray
            Rows sum to 1.
        """
        import xgboost as xgb

        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float32, ensure_all_finite="allow-nan")
        # Models saved before the screen have no features_: they read every column.
        features = getattr(self, "features_", None)
        if features is not None and features.size < X.shape[1]:
            X = X[:, features]
        with xgb.config_context(nthread=self._nthread()):
            proba = self.booster_.predict(xgb.DMatrix(X, nthread=self._nthread()))
        proba = np.asarray(proba, dtype=np.float64).reshape(len(X), len(self.classes_))
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X):
        """Most probable label of each row: (n,) space-group numbers."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    # ------------------------------------------------------------------ native format
    def save_native(self, directory) -> Path:
        """Write ``model.ubj`` (XGBoost UBJSON), ``label_map.json`` and ``params.json``.

        Parameters
        ----------
        directory : str or Path
            Created if needed; files inside are replaced atomically.

        Returns
        -------
        Path
            ``directory``.
        """
        check_is_fitted(self)
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        raw = self.booster_.save_raw(raw_format="ubj")
        _write_atomic(directory / "model.ubj", bytes(raw))
        _write_atomic(directory / "label_map.json", json.dumps(self.label_map_).encode())
        state = {
            "params": self.get_params(),
            "best_iteration": self.best_iteration_,
            "device_used": self.device_used_,
            "n_features_in": int(self.n_features_in_),
            "features": self.features_.tolist(),
            "feature_names_in": (
                self.feature_names_in_.tolist() if hasattr(self, "feature_names_in_") else None
            ),
        }
        _write_atomic(directory / "params.json", json.dumps(state, indent=2).encode())
        return directory

    @classmethod
    def load_native(cls, directory) -> SpaceGroupClassifier:
        """A fitted classifier from a directory written by :meth:`save_native`.

        Raises
        ------
        FileNotFoundError
            A file is missing.
        ValueError
            A file is unreadable (truncated or corrupted model, bad JSON) or the label
            map does not match the model's number of classes.
        """
        import xgboost as xgb

        directory = Path(directory)
        paths = {name: directory / name for name in ("model.ubj", "label_map.json", "params.json")}
        for path in paths.values():
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing: not a saved SpaceGroupClassifier")
        try:
            label_map = json.loads(paths["label_map.json"].read_text())
            state = json.loads(paths["params.json"].read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"corrupted JSON in {directory}: {exc}") from exc
        booster = xgb.Booster()
        try:
            booster.load_model(bytearray(paths["model.ubj"].read_bytes()))
            n_out = int(
                json.loads(booster.save_config())["learner"]["learner_model_param"]["num_class"]
            )
        except xgb.core.XGBoostError as exc:
            raise ValueError(f"cannot read XGBoost model {paths['model.ubj']}: {exc}") from exc
        if n_out != len(label_map):
            raise ValueError(
                f"{paths['label_map.json']} has {len(label_map)} classes but the model has {n_out}"
            )
        est = cls(**state["params"])
        # Prediction runs on whatever this machine has; the training device may be absent.
        booster.set_param({"device": "cuda" if cuda_available() else "cpu"})
        est.booster_ = booster
        est.label_map_ = list(label_map)
        est.classes_ = np.asarray(label_map)
        est.best_iteration_ = int(state["best_iteration"])
        est.device_used_ = state["device_used"]
        est.evals_result_ = {}
        est.n_features_in_ = int(state["n_features_in"])
        # Bundles written before the screen read every column.
        features = state.get("features")
        est.features_ = np.arange(est.n_features_in_) if features is None else np.asarray(features)
        if est.features_.size != int(booster.num_features()):
            raise ValueError(
                f"{paths['params.json']} lists {est.features_.size} columns but the model "
                f"reads {booster.num_features()}"
            )
        if state.get("feature_names_in") is not None:
            est.feature_names_in_ = np.asarray(state["feature_names_in"], dtype=object)
        return est
