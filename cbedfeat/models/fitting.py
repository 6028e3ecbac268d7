"""Shared fitting helpers of the estimators: XGBoost device choice, the material-grouped
early-stopping hold-out, sample-weight validation and seeds."""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import warnings
from functools import lru_cache
from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets

DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")


@lru_cache(maxsize=1)
def cuda_available() -> bool:
    """Whether XGBoost can train on a CUDA device here (tried once, then cached).

    A tiny booster is trained with ``device="cuda"`` and the device it reports is
    read back: XGBoost silently falls back to the CPU when it sees no GPU. Any
    exception (CPU-only build, broken driver) means no.
    """
    try:
        import xgboost as xgb

        if not xgb.build_info().get("USE_CUDA", False):
            return False
        x = np.arange(8, dtype=np.float32).reshape(4, 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            booster = xgb.train(
                {"device": "cuda", "tree_method": "hist", "verbosity": 0},
                xgb.DMatrix(x, label=np.arange(4.0)),
                num_boost_round=1,
            )
        device = json.loads(booster.save_config())["learner"]["generic_param"]["device"]
        return str(device).startswith("cuda")
    except Exception:  # noqa: BLE001 - a broken CUDA stack must never break CPU users
        return False


def resolve_device(device: str) -> str:
    """``"cpu"`` or ``"cuda"`` for a requested ``"auto"`` / ``"cpu"`` / ``"cuda"``.

    ``"auto"`` picks CUDA when XGBoost can use it; an explicit ``"cuda"`` without a
    usable GPU raises :class:`RuntimeError` instead of falling back silently.
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "cpu":
        return "cpu"
    if cuda_available():
        return "cuda"
    if device == "cuda":
        raise RuntimeError("device='cuda' was requested but XGBoost cannot use a CUDA GPU here")
    return "cpu"


def seed_from(random_state) -> int:
    """An int seed from an sklearn-style ``random_state`` (int, None or RandomState)."""
    if isinstance(random_state, Integral):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


#: Most rows a hold-out takes, whatever its fraction: a hold-out only chooses a stopping
#: round, a blend weight or a tau, which 10,000 rows (thousands of materials) pin down as
#: well as more, and every row held out is a row the model does not train on. Below
#: 66,667 rows the 15 % default is smaller, so the bench's fits are unchanged.
MAX_HOLDOUT_ROWS = 10_000
# Recent splits by a digest of their inputs: a wrapper and its stages ask for the same
# split of the same rows several times in one fit, and a stratified grouped split of
# 150,000 rows takes many seconds.
_SPLITS: dict[str, tuple[np.ndarray, np.ndarray]] = {}
_SPLITS_KEPT = 8


#: Training rows above which a wrapper that tuned a parameter on a hold-out keeps the
#: models it fitted for the tuning (on every row but the hold-out's) instead of fitting
#: them again on every row (``refit="auto"``). With hold-outs capped at
#: :data:`MAX_HOLDOUT_ROWS`, the kept models miss at most 20 % of the rows here and a
#: smaller share beyond, while a refit doubles the fit.
REFIT_MAX_ROWS = 50_000


def refits(refit, n_rows: int) -> bool:
    """Whether a wrapper with ``refit`` (True, False or "auto") refits on ``n_rows`` rows.

    Raises
    ------
    ValueError
        ``refit`` is none of True, False, "auto".
    """
    if isinstance(refit, str):
        if refit != "auto":
            raise ValueError(f"refit must be True, False or 'auto', got {refit!r}")
        return n_rows <= REFIT_MAX_ROWS
    if not isinstance(refit, (bool, np.bool_)):
        raise ValueError(f"refit must be True, False or 'auto', got {refit!r}")
    return bool(refit)


def grouped_validation_split(y, groups=None, validation_fraction=0.15, random_state=0):
    """Hold out about ``validation_fraction`` of the groups (materials) for early stopping.

    At most :data:`MAX_HOLDOUT_ROWS` rows are held out (the fraction shrinks for larger
    data), and a repeated call with the same inputs returns the earlier split.

    The fold is the first of :class:`sklearn.model_selection.StratifiedGroupKFold`
    with ``round(1 / validation_fraction)`` splits (shuffled with ``random_state``),
    so every material lies on exactly one side and class proportions are kept as far
    as the groups allow (:class:`~sklearn.model_selection.StratifiedKFold` without
    groups); when every class is smaller than the number of folds,
    :class:`~sklearn.model_selection.GroupShuffleSplit` draws the groups instead.
    A class whose every sample fell into the hold-out is moved back to training (whole
    groups at a time): a space group seen in one material only is more use to the
    model than to the stopping rule.

    Parameters
    ----------
    y : (n,) array-like
        Labels.
    groups : (n,) array-like or None
        Group of each sample (material id); None: every sample is its own group.
    validation_fraction : float in (0, 1)
    random_state : int, RandomState or None

    Returns
    -------
    train_idx, val_idx : (n_train,), (n_val,) int ndarrays
        Sorted indices; ``val_idx`` is empty when the data are too small to split
        (fewer than two groups).
    """
    y = np.asarray(y)
    n = len(y)
    if groups is not None and len(groups) != n:
        raise ValueError(f"groups has {len(groups)} entries but y has {n}")
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction!r}")
    if not isinstance(random_state, (Integral, type(None))):
        # A RandomState advances with each call: never answer it from the store.
        return _split(y, groups, min(validation_fraction, MAX_HOLDOUT_ROWS / n), random_state)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{validation_fraction!r};{random_state!r};".encode())
    for part in (y, groups):
        arr = np.ascontiguousarray(np.asarray(part if part is not None else []))
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(repr(arr.tolist()).encode() if arr.dtype == object else arr.view(np.uint8))
    key = h.hexdigest()
    if key not in _SPLITS:
        while len(_SPLITS) >= _SPLITS_KEPT:
            _SPLITS.pop(next(iter(_SPLITS)))
        fraction = min(validation_fraction, MAX_HOLDOUT_ROWS / max(n, 1))
        _SPLITS[key] = _split(y, groups, fraction, random_state)
    return tuple(part.copy() for part in _SPLITS[key])


def _split(y, groups, validation_fraction, random_state):
    """:func:`grouped_validation_split` itself (no cap, no store)."""
    from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold, StratifiedKFold

    n = len(y)
    ungrouped = groups is None
    groups = np.arange(n) if ungrouped else np.asarray(groups)
    everything = np.arange(n)
    n_groups = len(np.unique(groups))
    n_splits = min(max(2, round(1.0 / validation_fraction)), n_groups)
    if n_groups < 2:
        return everything, everything[:0]
    # Without groups, StratifiedKFold does the job of one-sample groups, much faster.
    cv = (StratifiedKFold if ungrouped else StratifiedGroupKFold)(
        n_splits=n_splits, shuffle=True, random_state=random_state
    )
    try:
        with warnings.catch_warnings():
            # Rare classes with fewer members than folds are the normal case here.
            warnings.simplefilter("ignore", UserWarning)
            _, val_idx = next(cv.split(np.zeros((n, 1)), y, None if ungrouped else groups))
    except ValueError:
        # Every class is smaller than the number of folds: stratifying is meaningless.
        cv = GroupShuffleSplit(n_splits=1, test_size=validation_fraction, random_state=random_state)
        _, val_idx = next(cv.split(np.zeros((n, 1)), y, groups))
    in_val = np.zeros(n, dtype=bool)
    in_val[val_idx] = True
    lost = np.setdiff1d(np.unique(y[in_val]), np.unique(y[~in_val]))
    if lost.size:
        back = np.unique(groups[in_val & np.isin(y, lost)])
        in_val &= ~np.isin(groups, back)
    return everything[~in_val], everything[in_val]


def check_sample_weight(sample_weight, n: int) -> np.ndarray:
    """(n,) float64 weights from None, a scalar or an array; finite, >= 0, not all 0."""
    if sample_weight is None:
        return np.ones(n, dtype=np.float64)
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim == 0:
        return np.full(n, float(w))
    if w.shape != (n,):
        raise ValueError(f"sample_weight.shape == {w.shape}, expected {(n,)}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("sample_weight must be finite and non-negative")
    if n and not w.sum() > 0:
        raise ValueError("sample_weight sums to zero: nothing to learn from")
    return w


def validate_fit_inputs(estimator, X, y, groups=None, sample_weight=None):
    """The input checks of a wrapper's ``fit``, shared by the wrapper estimators.

    X is checked and converted by scikit-learn's ``validate_data`` (NaN allowed when the
    estimator's tags say so), ``y`` must hold at least two classes, ``groups`` and
    ``sample_weight`` must have one entry per row.

    Returns
    -------
    X : (n, F) float32 ndarray
    y : (n,) ndarray
    classes : (K,) ndarray
        Sorted distinct labels.
    groups : (n,) ndarray or None
    sample_weight : (n,) float64 ndarray or None
    """
    from sklearn.utils.validation import validate_data

    X, y = validate_data(estimator, X, y, dtype=np.float32, ensure_all_finite=_finite(estimator))
    check_classification_targets(y)
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(
            f"{type(estimator).__name__} needs at least 2 classes, got 1 class: {classes[0]!r}"
        )
    n = len(y)
    if groups is not None:
        groups = np.asarray(groups)
        if len(groups) != n:
            raise ValueError(f"groups has {len(groups)} entries but X has {n} rows")
    if sample_weight is not None:
        sample_weight = check_sample_weight(sample_weight, n)
    return X, y, classes, groups, sample_weight


def validate_predict_input(estimator, X):
    """``validate_data`` for ``predict``/``predict_proba`` of a fitted wrapper: (n, F) float32."""
    from sklearn.utils.validation import validate_data

    return validate_data(
        estimator, X, reset=False, dtype=np.float32, ensure_all_finite=_finite(estimator)
    )


def _finite(estimator):
    # NaN passes where the estimator's tags allow it (XGBoost treats it as missing).
    return "allow-nan" if estimator.__sklearn_tags__().input_tags.allow_nan else True


def configured_clone(estimator, **params):
    """A clone of ``estimator`` with those of ``params`` that it takes set.

    Wrappers (hierarchical, gated, logit-adjusted) pass their own ``weighting``,
    ``device``, ``n_jobs`` and ``random_state`` down to the estimators they fit this
    way; a parameter the inner estimator lacks is skipped rather than an error.
    """
    from sklearn.base import clone

    est = clone(estimator)
    accepted = est.get_params(deep=False)
    est.set_params(**{k: v for k, v in params.items() if k in accepted})
    return est


# Fitted estimators of the innermost ``reuse_identical_fits`` block, by fingerprint.
_REUSE: contextvars.ContextVar[dict | None] = contextvars.ContextVar("reuse_fits", default=None)


@contextlib.contextmanager
def reuse_identical_fits():
    """Within the block, :func:`fit_with_groups` fits each (estimator, data) once.

    A wrapper that tunes on a hold-out and then refits on everything can fit the same
    inner model on the same rows twice: ``gated-blend-logit`` fits its flat blend on the
    logit hold-out's fit rows to choose ``tau``, and the final blend fits the same
    members on the same rows to choose its weight. A second fit of an estimator of the
    same class and parameters on byte-identical ``X``, ``y``, ``groups`` and
    ``sample_weight`` returns the first fitted object (fits are deterministic for a
    seed, so the result is the same; nothing mutates a fitted member afterwards).
    Nested blocks share the outermost block's store, which is dropped when it ends.
    """
    token = _REUSE.set({}) if _REUSE.get() is None else None
    try:
        yield
    finally:
        if token is not None:
            _REUSE.reset(token)


def _fit_key(estimator, X, y, groups, sample_weight) -> str:
    """Fingerprint of a fit: class, every (deep) parameter, and the bytes of the data."""
    h = hashlib.blake2b(digest_size=20)
    h.update(f"{type(estimator).__module__}.{type(estimator).__qualname__}".encode())
    for name, value in sorted(estimator.get_params(deep=True).items()):
        # Nested estimators are spelled out by their own ``name__param`` entries.
        shown = type(value).__qualname__ if hasattr(value, "get_params") else repr(value)
        h.update(f"{name}={shown};".encode())
    for part in (X, y, groups, sample_weight):
        if part is None:
            h.update(b"<none>")
            continue
        arr = np.ascontiguousarray(np.asarray(part))
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(repr(arr.tolist()).encode() if arr.dtype == object else arr.view(np.uint8))
    return h.hexdigest()


def fit_with_groups(estimator, X, y, groups=None, sample_weight=None):
    """``estimator.fit``, passing ``groups`` only to estimators whose fit takes them.

    Inside :func:`reuse_identical_fits`, a repeat of an earlier fit returns the earlier
    fitted estimator instead of fitting again.
    """
    import inspect

    store = _REUSE.get()
    key = None
    if store is not None:
        key = _fit_key(estimator, X, y, groups, sample_weight)
        if key in store:
            return store[key]
    kwargs = {}
    if groups is not None and "groups" in inspect.signature(estimator.fit).parameters:
        kwargs["groups"] = groups
    if sample_weight is not None:
        kwargs["sample_weight"] = sample_weight
    fitted = estimator.fit(X, y, **kwargs)
    if key is not None:
        store[key] = fitted
    return fitted
