"""Cost-sensitive sample weights for heavily imbalanced space-group labels.

One parameter, ``scheme``, picks how a class's weight follows its frequency
:math:`n_c` (number of training samples of class :math:`c`):

``"none"``
    :math:`w_c = 1`.
``"balanced"``
    :math:`w_c \\propto 1 / n_c`, computed by scikit-learn
    (:func:`sklearn.utils.class_weight.compute_sample_weight`, ``n / (K n_c)``).
``"sqrt"``
    :math:`w_c \\propto 1 / \\sqrt{n_c}`: a softer re-weighting that keeps more of the
    frequent classes' influence.
``"effective"``
    :math:`w_c \\propto (1 - \\beta) / (1 - \\beta^{n_c})`, the inverse of the
    *effective number of samples* of Cui et al. (2019): with :math:`\\beta \\to 0`
    every class weighs the same as under ``"none"``, with :math:`\\beta \\to 1` it tends
    to ``"balanced"``.

``cap`` (optional) bounds the ratio between the largest and the smallest class
weight: every class weight is clipped to ``cap * min_c w_c`` so a class with two
samples cannot dominate the loss. Weights are finally divided by their mean over
the samples, so the returned vector has mean 1: the learning rate and
regularisation of a booster keep their meaning whatever the scheme.

References
----------
Y. Cui, M. Jia, T.-Y. Lin, Y. Song, S. Belongie, "Class-Balanced Loss Based on
Effective Number of Samples", CVPR 2019, eq. (3)-(4).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: NumPy is imported where it is used
    import numpy as np

#: The class weighting schemes (the command line reads them from here through the
#: model registry: this module imports NumPy only inside its functions).
WEIGHTING_SCHEMES: tuple[str, ...] = ("none", "balanced", "sqrt", "effective")


def _check_scheme(scheme: str, beta: float, cap: float | None) -> None:
    if scheme not in WEIGHTING_SCHEMES:
        raise ValueError(f"weighting scheme must be one of {WEIGHTING_SCHEMES}, got {scheme!r}")
    if scheme == "effective" and not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must be in [0, 1) for the 'effective' scheme, got {beta!r}")
    if cap is not None and not cap >= 1.0:
        raise ValueError(f"cap is a max/min weight ratio and must be >= 1, got {cap!r}")


def class_weight_table(
    y, scheme: str = "none", *, beta: float = 0.999, cap: float | None = None
) -> dict:
    """Relative weight of each class of ``y``, before normalisation.

    Parameters
    ----------
    y : (n,) array-like
        Class labels (space-group numbers, or any hashable labels).
    scheme : {"none", "balanced", "sqrt", "effective"}
        How the weight follows the class frequency (see the module docstring).
    beta : float, default 0.999
        Hyper-parameter of the ``"effective"`` scheme, in [0, 1).
    cap : float or None
        Largest allowed ratio between two class weights (>= 1); None: no cap.

    Returns
    -------
    dict
        label -> weight (float); the smallest weight of a capped table is its
        reference, so ``max / min <= cap``.
    """
    import numpy as np

    _check_scheme(scheme, beta, cap)
    classes, counts = np.unique(np.asarray(y), return_counts=True)
    counts = counts.astype(np.float64)
    if scheme == "none":
        w = np.ones_like(counts)
    elif scheme == "balanced":
        from sklearn.utils.class_weight import compute_class_weight

        w = compute_class_weight("balanced", classes=classes, y=np.asarray(y)).astype(np.float64)
    elif scheme == "sqrt":
        w = 1.0 / np.sqrt(counts)
    else:
        # 1 - beta**n computed as -expm1(n log beta) keeps its precision for beta
        # close to 1, where 1 - beta**n is a small difference of numbers near 1.
        w = (1.0 - beta) / -np.expm1(counts * np.log(beta)) if beta > 0 else np.ones_like(counts)
    if cap is not None:
        w = np.minimum(w, cap * w.min())
    return {
        c.item() if hasattr(c, "item") else c: float(v) for c, v in zip(classes, w, strict=True)
    }


def weights_from_table(y, table: dict) -> np.ndarray:
    """Per-sample weights ``table[y_i]``; labels missing from ``table`` get the mean weight.

    Used to weight a validation set with the class weights of the training set, so
    the early-stopping loss is measured the same way as the training loss.

    Parameters
    ----------
    y : (n,) array-like
    table : dict
        label -> weight, e.g. from :func:`class_weight_table`.

    Returns
    -------
    (n,) float64 ndarray
    """
    import numpy as np

    y = np.asarray(y)
    fallback = float(np.mean(list(table.values()))) if table else 1.0
    return np.array(
        [table.get(v.item() if hasattr(v, "item") else v, fallback) for v in y], dtype=np.float64
    )


def compute_sample_weights(
    y, scheme: str = "none", *, beta: float = 0.999, cap: float | None = None
) -> np.ndarray:
    """Per-sample weights that counter class imbalance, normalised to mean 1.

    Parameters
    ----------
    y : (n,) array-like
        Class labels (space-group numbers).
    scheme : {"none", "balanced", "sqrt", "effective"}, default "none"
        ``"balanced"`` is :func:`sklearn.utils.class_weight.compute_sample_weight`
        with ``"balanced"`` (``compute_class_weight`` when capped); the others are
        described in the module docstring.
    beta : float, default 0.999
        Effective-number hyper-parameter (Cui et al. 2019), only for ``"effective"``.
    cap : float or None, default None
        Largest allowed ratio between the weights of two classes.

    Returns
    -------
    (n,) float64 ndarray
        Sample weights with mean 1 (an empty ``y`` gives an empty array).

    Examples
    --------
    >>> compute_sample_weights([14, 14, 14, 225], "balanced").tolist()
    [0.6666666666666666, 0.6666666666666666, 0.6666666666666666, 2.0]
    """
    import numpy as np

    y = np.asarray(y)
    _check_scheme(scheme, beta, cap)
    if y.size == 0:
        return np.zeros(0, dtype=np.float64)
    if scheme == "balanced" and cap is None:
        from sklearn.utils.class_weight import compute_sample_weight

        w = compute_sample_weight("balanced", y).astype(np.float64)
    else:
        w = weights_from_table(y, class_weight_table(y, scheme, beta=beta, cap=cap))
    return w / w.mean()
