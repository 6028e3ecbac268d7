"""Small helpers every layer uses: atomic file writes, strict JSON and progress bars."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["progress_bar", "to_json", "write_atomic"]

#: Seconds between two redraws of a progress bar whose stream is not a terminal (a log
#: file): a few lines a minute instead of thousands of carriage-return updates.
LOG_REFRESH_SECONDS = 20.0


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory."""
    path = Path(path)
    # A plain open (not mkstemp) so the file gets the user's umask permissions.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def to_json(obj: Any) -> str:
    """Strict JSON (NaN and infinities become ``null``), indented, keys in insertion order."""

    def clean(o: Any) -> Any:
        if isinstance(o, Mapping):
            return {str(k): clean(v) for k, v in o.items()}
        if isinstance(o, list | tuple):
            return [clean(v) for v in o]
        if isinstance(o, np.generic):
            o = o.item()
        if isinstance(o, float) and not math.isfinite(o):
            return None
        return o

    return json.dumps(clean(obj), indent=2, allow_nan=False)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress_bar(
    iterable: Any = None, *, enabled: bool | None = True, file: Any = None, **kwargs: Any
) -> Any:
    """A tqdm progress bar that stays quiet in log files.

    On a terminal the bar redraws as tqdm's defaults say; when the stream is not a
    terminal (output redirected to a file or a pipe), it redraws at most every
    :data:`LOG_REFRESH_SECONDS` seconds, so a log gets a few lines a minute.

    Parameters
    ----------
    iterable : iterable, optional
        What the bar wraps, as for ``tqdm(iterable)``.
    enabled : bool or None, default True
        Show the bar (True), never (False), or only on a terminal (None).
    file : writable stream, optional
        Where the bar is drawn; default ``sys.stderr`` (read at call time).
    **kwargs
        Further ``tqdm`` arguments (``total``, ``desc``, ``unit`` ...); an explicit
        ``mininterval`` or ``maxinterval`` wins.

    Returns
    -------
    tqdm.tqdm
    """
    from tqdm.auto import tqdm

    stream = sys.stderr if file is None else file
    terminal = _is_terminal(stream)
    if not terminal:
        kwargs.setdefault("mininterval", LOG_REFRESH_SECONDS)
        # tqdm's monitor thread forces a redraw after maxinterval: keep it as slow.
        kwargs.setdefault("maxinterval", max(LOG_REFRESH_SECONDS, kwargs["mininterval"]))
    disable = (not terminal) if enabled is None else not enabled
    return tqdm(iterable, file=stream, disable=disable, **kwargs)
