"""Decoding and plausibility checks of ORNL sample attributes and stacks.

Nothing in an input file is trusted. Every check takes its types, shapes and bounds
from the data manifest (:func:`cbedfeat.data.schema.attribute_schema`), so the document
and the behaviour cannot drift apart. The functions here raise plain ``ValueError``
with the reason in words; the reader wraps it into a :class:`~cbedfeat.data.errors.CBEDDataError`
that also names the file and the group.
"""

from __future__ import annotations

import re

import numpy as np

from cbedfeat.data.schema import AttributeSpec, StackSpec

# The real files hold float values like 2.5e-314: denormal doubles that are no
# physical quantity. Any non-zero magnitude below this is taken as garbage.
GARBAGE_ABS = 1e-300
_INT_TEXT = re.compile(r"^[+-]?[0-9]+$")


def _text(value: object, name: str) -> str:
    """bytes / numpy.bytes_ / str (or a 0-d array of one) -> str, strictly UTF-8."""
    if isinstance(value, np.ndarray):
        if value.shape != ():
            raise ValueError(f"expected a scalar string, got an array of shape {value.shape}")
        value = value[()]
    if isinstance(value, bytes | np.bytes_):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    if isinstance(value, str | np.str_):
        return str(value)
    raise ValueError(f"expected a string, got {type(value).__name__} {value!r:.40}")


def _int_scalar(value: object, spec: AttributeSpec) -> int:
    """An int-like scalar: an integer, an integral float, or digits as bytes/str."""
    if isinstance(value, np.ndarray):
        if value.shape != ():
            raise ValueError(f"expected a scalar, got an array of shape {value.shape}")
        value = value[()]
    if isinstance(value, bytes | np.bytes_ | str | np.str_):
        text = _text(value, spec.name).strip()
        if not _INT_TEXT.match(text):
            raise ValueError(f"{text!r:.40} is not an integer")
        return int(text)
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"expected an integer, got a boolean {value!r}")
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        if not np.isfinite(value) or value != np.round(value):
            raise ValueError(f"{value!r} is not an integer")
        return int(value)
    raise ValueError(f"expected an integer, got {type(value).__name__} {value!r:.40}")


def _numeric_array(value: object, spec: AttributeSpec) -> np.ndarray:
    """Any numeric scalar/array -> ndarray of the documented shape (not yet cast)."""
    if isinstance(value, bytes | np.bytes_ | str | np.str_):
        raise ValueError(f"expected numbers, got a string {value!r:.40}")
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"expected numbers, got dtype {arr.dtype}")
    if arr.shape != spec.shape:
        raise ValueError(f"has shape {arr.shape}, expected {spec.shape}")
    return arr


def _check_floats(arr: np.ndarray, spec: AttributeSpec) -> None:
    """Non-finite and garbage (denormal-like) values, in the stored precision."""
    if arr.dtype.kind != "f":
        return
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"holds non-finite values {_show(arr)}")
    if spec.garbage:
        tiny = (arr != 0) & (np.abs(arr) < GARBAGE_ABS)
        if np.any(tiny):
            bad = arr[tiny].flat[0]
            raise ValueError(
                f"holds garbage value {float(bad):.3g} (|x| < {GARBAGE_ABS:g}) in {_show(arr)}"
            )


def _check_bounds(arr: np.ndarray, spec: AttributeSpec) -> None:
    ok = np.ones(arr.shape, dtype=bool)
    if spec.gt is not None:
        ok &= arr > spec.gt
    if spec.ge is not None:
        ok &= arr >= spec.ge
    if spec.lt is not None:
        ok &= arr < spec.lt
    if spec.le is not None:
        ok &= arr <= spec.le
    if not np.all(ok):
        raise ValueError(f"{_show(arr)} is out of range (must be {spec.bounds_text()})")


def _show(arr: np.ndarray) -> str:
    """Short text of a value for messages."""
    if arr.shape == ():
        return repr(arr.item())
    return np.array2string(
        np.asarray(arr, dtype=np.float64) if arr.dtype.kind == "f" else arr,
        precision=4,
        separator=", ",
        threshold=12,
    ).replace("\n", "")


def decode_attribute(value: object, spec: AttributeSpec) -> int | str | np.ndarray:
    """Decode and check one raw attribute value as read by h5py.

    Parameters
    ----------
    value : object
        What ``group.attrs[name]`` returned: ``bytes``/``numpy.bytes_``, ``str``,
        a NumPy scalar (any int or float width, ``float128`` included) or an array.
    spec : AttributeSpec
        Its schema from the manifest.

    Returns
    -------
    int, str or ndarray
        ``int`` or ``str`` for scalars; for arrays an ndarray of ``spec.shape`` with
        dtype int64 (``value: int``) or float64 (``value: float``).

    Raises
    ------
    ValueError
        With the reason in words, when the value fails to decode or any check.
    """
    if spec.value == "str":
        text = _text(value, spec.name)
        if spec.nonempty and not text.strip():
            raise ValueError("is empty")
        return text
    if spec.value == "int" and spec.shape == ():
        n = _int_scalar(value, spec)
        _check_bounds(np.asarray(n), spec)
        return n
    arr = _numeric_array(value, spec)
    _check_floats(arr, spec)
    if spec.value == "int":
        if arr.dtype.kind == "f":
            if np.any(arr != np.round(arr)):
                raise ValueError(f"{_show(arr)} is not integer-valued")
        out = arr.astype(np.int64)
        if spec.nonzero_rows and out.ndim >= 1 and np.any(np.all(out == 0, axis=-1)):
            raise ValueError(f"has an all-zero row (no direction) in {_show(out)}")
    else:
        out = arr.astype(np.float64)
    _check_bounds(out, spec)
    return out if spec.shape != () else out[()]


def check_stack_layout(shape: tuple[int, ...], dtype: np.dtype, spec: StackSpec) -> None:
    """Check a stack's rank, fixed axes and dtype from its metadata alone (no read).

    Parameters
    ----------
    shape : tuple of int
        Dataset shape; must be ``(3, H, W)`` with H, W >= 1.
    dtype : numpy.dtype
        Must be a float type (the writer uses float32; others are cast on read).
    spec : StackSpec

    Raises
    ------
    ValueError
    """
    rank = len(spec.shape)
    if len(shape) != rank:
        raise ValueError(f"is {len(shape)}-D with shape {shape}, expected {rank}-D (3, H, W)")
    for axis, size in spec.fixed_axes.items():
        if shape[axis] != size:
            raise ValueError(f"has shape {shape}: axis {axis} must have {size} orientations")
    if min(shape) < 1:
        raise ValueError(f"has an empty axis, shape {shape}")
    if np.dtype(dtype).kind != "f":
        raise ValueError(f"has dtype {np.dtype(dtype)}, expected a float type ({spec.dtype})")


def check_stack_values(stack: np.ndarray) -> None:
    """Check that every intensity is finite.

    ``min`` and ``max`` propagate NaN and hit +/-Inf, so two reductions with no
    temporary array decide finiteness (a float32 ``sum`` could overflow on valid data).

    Parameters
    ----------
    stack : (3, H, W) ndarray

    Raises
    ------
    ValueError
    """
    lo, hi = np.min(stack), np.max(stack)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        n_nan = int(np.count_nonzero(np.isnan(stack)))
        n_inf = int(np.count_nonzero(np.isinf(stack)))
        raise ValueError(f"has non-finite intensities ({n_nan} NaN, {n_inf} Inf)")
