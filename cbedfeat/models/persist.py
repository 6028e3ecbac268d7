"""Fitted estimators as files without pickle: JSON, NumPy ``.npy``, XGBoost UBJSON, skops.

:func:`save_state` writes a fitted estimator into a directory and :func:`load_state`
rebuilds it; loading runs no code chosen by the file. The estimator is walked
attribute by attribute (its parameters and fitted state):

* an object of a class in :data:`OBJECT_CLASSES` (the cbedfeat wrappers and the few
  library containers that hold them) becomes a JSON node naming its class and holding
  its attributes; on load the class is looked up in that list (any other name is
  refused), created without calling ``__init__`` and given its attributes back;
* an XGBoost booster is written in XGBoost's own UBJSON format (``boosters/<i>.ubj``);
* any other scikit-learn estimator (extra trees, imbalanced-learn forests, AdaBoost) is
  written with skops (``members/<i>.skops``); the types a skops file asks for beyond
  skops' own defaults must all be in :data:`SKOPS_TRUSTED`, checked when saving and
  again when loading, and only those are passed to ``skops.io.load``;
* numeric NumPy arrays go to ``arrays/<i>.npy`` (read with ``allow_pickle=False``);
  numbers, strings, lists, tuples and dicts are JSON, tagged where JSON alone would lose
  the type.

Anything else (a function given as a parameter, a random generator) cannot be saved
and raises :class:`UnsupportedStateError` naming where it sits.
"""

from __future__ import annotations

import importlib
import json
import math
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

STATE_FILE = "state.json"
STATE_FORMAT = 1

#: Classes rebuilt from their attributes (``cls.__new__`` + ``__dict__``); a state file
#: naming any other class is refused.
OBJECT_CLASSES: frozenset[str] = frozenset(
    {
        "cbedfeat.models.blend.BlendedClassifier",
        "cbedfeat.models.boosting.SpaceGroupClassifier",
        "cbedfeat.models.ensembles.BalancedBaggingSpaceGroupClassifier",
        "cbedfeat.models.ensembles.BalancedRandomForestSpaceGroupClassifier",
        "cbedfeat.models.ensembles.CappedStrategy",
        "cbedfeat.models.ensembles.ClassWeightedClassifier",
        "cbedfeat.models.ensembles.EasyEnsembleSpaceGroupClassifier",
        "cbedfeat.models.ensembles.RUSBoostSpaceGroupClassifier",
        "cbedfeat.models.gated.SystemGatedClassifier",
        "cbedfeat.models.hierarchical.HierarchicalSpaceGroupClassifier",
        "cbedfeat.models.logit_adjust.LogitAdjustedClassifier",
        "cbedfeat.models.multitask.MultiTaskCBEDModel",
        # containers that hold cbedfeat objects (XGBoost bags, class-weighted AdaBoost,
        # capped samplers), so skops cannot take them whole
        "imblearn.ensemble._bagging.BalancedBaggingClassifier",
        "imblearn.ensemble._easy_ensemble.EasyEnsembleClassifier",
        "imblearn.pipeline.Pipeline",
        "imblearn.under_sampling._prototype_selection._random_under_sampler.RandomUnderSampler",
        "xgboost.sklearn.XGBRegressor",
    }
)

#: Types a bundle's skops file may hold beyond those skops trusts by default
#: (computed with ``skops.io.get_untrusted_types`` over every model of the registry; a
#: test keeps the list complete and the save refuses anything else).
SKOPS_TRUSTED: frozenset[str] = frozenset(
    {
        "imblearn.ensemble._forest.BalancedRandomForestClassifier",
        "imblearn.ensemble._weight_boosting.RUSBoostClassifier",
        "imblearn.pipeline.Pipeline",
        "imblearn.under_sampling._prototype_selection._random_under_sampler.RandomUnderSampler",
        "sklearn.tree._tree.Tree",
    }
)

#: zlib level of the skops members (1: fastest; a tree's mostly-zero class fractions
#: deflate well at any level, see bench/results/bundle_size.md).
SKOPS_COMPRESSLEVEL = 1

_TAG = "@"


class UnsupportedStateError(TypeError):
    """An estimator holds a value that cannot be saved without pickle."""


def _qualname(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def untrusted_skops_types(path: str | Path) -> list[str]:
    """Types of a skops file that skops does not trust by default."""
    import skops.io

    return sorted(skops.io.get_untrusted_types(file=path))


def _check_skops(path: Path) -> list[str]:
    types = untrusted_skops_types(path)
    unknown = sorted(set(types) - SKOPS_TRUSTED)
    if unknown:
        raise UnsupportedStateError(f"{path}: skops types outside SKOPS_TRUSTED: {unknown}")
    return types


class _Writer:
    def __init__(self, root: Path):
        self.root = root
        self.counts = {"arrays": 0, "boosters": 0, "members": 0}
        self.stack: list[int] = []

    def _file(self, folder: str, suffix: str) -> tuple[Path, str]:
        (self.root / folder).mkdir(exist_ok=True)
        name = f"{folder}/{self.counts[folder]}{suffix}"
        self.counts[folder] += 1
        return self.root / name, name

    def encode(self, value: Any, where: str) -> Any:
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, int) and not isinstance(value, np.generic):
            return int(value)
        if isinstance(value, float) and not isinstance(value, np.generic):
            return value if math.isfinite(value) else {_TAG: "float", "v": repr(value)}
        if isinstance(value, np.generic):
            if value.dtype.kind not in "biufcUS":
                raise UnsupportedStateError(f"{where}: NumPy scalar of dtype {value.dtype}")
            item = value.item()
            if isinstance(item, complex):
                item = [item.real, item.imag]
            return {_TAG: "scalar", "dtype": value.dtype.str, "v": self.encode(item, where)}
        if isinstance(value, np.ndarray):
            return self._array(value, where)
        if isinstance(value, list | tuple | dict):
            if id(value) in self.stack:
                raise UnsupportedStateError(f"{where}: a container that holds itself")
            self.stack.append(id(value))
            try:
                if isinstance(value, list):
                    return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
                if isinstance(value, tuple):
                    return {
                        _TAG: "tuple",
                        "items": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)],
                    }
                return {
                    _TAG: "dict",
                    "ordered": isinstance(value, OrderedDict),
                    "items": [
                        [self.encode(k, f"{where} key"), self.encode(v, f"{where}[{k!r}]")]
                        for k, v in value.items()
                    ],
                }
            finally:
                self.stack.pop()
        return self._object(value, where)

    def _array(self, value: np.ndarray, where: str) -> Any:
        if value.dtype.kind == "O":
            return {
                _TAG: "objects",
                "shape": list(value.shape),
                "items": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value.ravel())],
            }
        if value.dtype.kind not in "biufcUS" or value.dtype.names is not None:
            raise UnsupportedStateError(f"{where}: array of dtype {value.dtype}")
        path, name = self._file("arrays", ".npy")
        np.save(path, np.ascontiguousarray(value), allow_pickle=False)
        return {_TAG: "ndarray", "file": name}

    def _object(self, value: Any, where: str) -> Any:
        import xgboost as xgb
        from sklearn.base import BaseEstimator

        if isinstance(value, xgb.Booster):
            path, name = self._file("boosters", ".ubj")
            path.write_bytes(bytes(value.save_raw(raw_format="ubj")))
            return {_TAG: "booster", "file": name}
        qualname = _qualname(value)
        if qualname in OBJECT_CLASSES:
            if id(value) in self.stack:
                raise UnsupportedStateError(f"{where}: an object that holds itself")
            self.stack.append(id(value))
            try:
                state = {k: self.encode(v, f"{where}.{k}") for k, v in vars(value).items()}
            finally:
                self.stack.pop()
            return {_TAG: "object", "class": qualname, "state": state}
        if isinstance(value, BaseEstimator):
            import skops.io

            path, name = self._file("members", ".skops")
            # Deflated: a tree's leaves store all K class fractions, mostly zeros.
            skops.io.dump(
                value, path, compression=zipfile.ZIP_DEFLATED, compresslevel=SKOPS_COMPRESSLEVEL
            )
            _check_skops(path)
            return {_TAG: "skops", "file": name}
        raise UnsupportedStateError(
            f"{where}: cannot save a {qualname} without pickle (supported: numbers, strings, "
            "NumPy arrays, lists, tuples, dicts, XGBoost boosters, scikit-learn estimators)"
        )


def save_state(model: Any, directory: str | Path) -> Path:
    """Write ``model`` (fitted) into ``directory`` (created; must be empty or absent).

    Returns
    -------
    Path
        ``directory``.

    Raises
    ------
    UnsupportedStateError
        The model holds a value that cannot be stored without pickle.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    tree = _Writer(root).encode(model, "model")
    doc = {"format": STATE_FORMAT, "root": tree}
    (root / STATE_FILE).write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
    return root


class _Reader:
    def __init__(self, root: Path):
        self.root = root
        self._device: str | None = None

    def _path(self, name: str) -> Path:
        path = (self.root / name).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"{name!r} points outside the model directory")
        return path

    def decode(self, node: Any) -> Any:
        if node is None or isinstance(node, bool | str | int | float):
            return node
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict) or _TAG not in node:
            raise ValueError(f"not a state node: {str(node)[:80]}")
        tag = node[_TAG]
        if tag == "float":
            if node["v"] not in ("nan", "inf", "-inf"):
                raise ValueError(f"bad float {node['v']!r}")
            return float(node["v"])
        if tag == "scalar":
            dtype = np.dtype(node["dtype"])
            if dtype.kind not in "biufcUS":
                raise ValueError(f"bad scalar dtype {dtype}")
            v = self.decode(node["v"])
            return dtype.type(complex(*v) if dtype.kind == "c" else v)
        if tag == "tuple":
            return tuple(self.decode(v) for v in node["items"])
        if tag == "dict":
            pairs = [(self.decode(k), self.decode(v)) for k, v in node["items"]]
            return OrderedDict(pairs) if node.get("ordered") else dict(pairs)
        if tag == "ndarray":
            return np.load(self._path(node["file"]), allow_pickle=False)
        if tag == "objects":
            out = np.empty(len(node["items"]), dtype=object)
            out[:] = [self.decode(v) for v in node["items"]]
            return out.reshape(node["shape"])
        if tag == "booster":
            return self._booster(node["file"])
        if tag == "skops":
            import skops.io

            path = self._path(node["file"])
            return skops.io.load(path, trusted=_check_skops(path))
        if tag == "object":
            return self._object(node["class"], node["state"])
        raise ValueError(f"unknown state node {tag!r}")

    def _booster(self, name: str) -> Any:
        import xgboost as xgb

        from cbedfeat.models.fitting import cuda_available

        if self._device is None:
            self._device = "cuda" if cuda_available() else "cpu"
        booster = xgb.Booster()
        booster.load_model(bytearray(self._path(name).read_bytes()))
        # Prediction runs on whatever this machine has; the training device may be absent.
        booster.set_param({"device": self._device})
        return booster

    def _object(self, qualname: str, state: dict) -> Any:
        if qualname not in OBJECT_CLASSES:
            raise ValueError(f"class {qualname!r} is not one cbedfeat rebuilds from a state file")
        module, _, name = qualname.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        obj = cls.__new__(cls)
        obj.__dict__.update({k: self.decode(v) for k, v in state.items()})
        return obj


def load_state(directory: str | Path) -> Any:
    """The estimator :func:`save_state` wrote into ``directory``.

    Raises
    ------
    ValueError
        The state file is malformed, newer than this cbedfeat reads, names a class
        outside :data:`OBJECT_CLASSES`, or a skops file asks for a type outside
        :data:`SKOPS_TRUSTED`.
    """
    root = Path(directory)
    doc = json.loads((root / STATE_FILE).read_text())
    if not isinstance(doc, dict) or doc.get("format", STATE_FORMAT + 1) > STATE_FORMAT:
        raise ValueError(f"{root / STATE_FILE}: not a state file of format <= {STATE_FORMAT}")
    try:
        return _Reader(root).decode(doc["root"])
    except UnsupportedStateError as exc:
        raise ValueError(str(exc)) from exc
