"""One source (an ORNL HDF5 file or an array of stacks) -> one Parquet part of the feature table.

:func:`extract_file` is the unit of work of :mod:`cbedfeat.extraction.extract`: a worker process,
a Dask task or the in-process GPU pipeline receives a :class:`FileJob` (a file path,
never arrays), opens the file itself, reads its samples in batches, featurises each
batch and writes the rows of that file as one Parquet part, atomically (a hidden
temporary file renamed into place), so a killed run never leaves a half-written part.

Each part carries, in its schema metadata, the table metadata (feature names, config,
versions; keys in :mod:`cbedfeat.data.table`) and a part record under :data:`PART_INFO_KEY`:
the resume fingerprint of its source file (resolved path, size, ``mtime_ns``, feature
config fingerprint, feature version) and the samples it skipped. A resumed run trusts
a part only when that fingerprint matches the file as it is now.

Every sample with a usable pattern gets a row. A sample whose attributes are missing
or invalid is unlabelled: its bad fields are null in the row (the columns are
nullable; labelled rows are unchanged) and each reason is kept in the part record's
``metadata`` list. Training and evaluation use only the labelled rows
(:func:`cbedfeat.data.table.labelled_mask`).

Rows follow the file's natural group order (the order of
:func:`cbedfeat.data.iter_samples`); batches always start at the first sample of a
file, so the feature values of a file do not depend on which runner computed them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cbedfeat.data import CBEDDataError
from cbedfeat.data.arrays import parse_array_source
from cbedfeat.data.labels import crystal_system_of
from cbedfeat.data.sources import iter_source, source_file
from cbedfeat.data.table import ID_COLUMNS, META_FEATURE_NAMES, TARGET_COLUMNS
from cbedfeat.features.centring import off_centre_record

PART_INFO_KEY = b"cbedfeat.part"
# Version of what a part holds, in its fingerprint: 2 = a row for every usable pattern
# (parts of version 1 skipped samples with bad attributes, so they are recomputed).
ROWS_VERSION = 2
PART_SUFFIX = ".parquet"
_STRING_COLUMNS = ["file", "group", "material", "split", "crystal_system"]
# Parquet writer options of parts and of the combined table. Dictionary encoding and
# min/max statistics pay off for the id and target columns (filters, repeated strings)
# but cost 3x the write time on hundreds of float feature columns; snappy is cheap
# and readable everywhere.
PARQUET_OPTIONS = {
    "compression": "snappy",
    "use_dictionary": _STRING_COLUMNS,
    "write_statistics": list(ID_COLUMNS + TARGET_COLUMNS),
}

# Arrow types of the identity and target columns (features are float32).
_FIXED_TYPES: dict[str, pa.DataType] = {
    "file": pa.string(),
    "group": pa.string(),
    "material": pa.string(),
    "split": pa.string(),
    "energy_keV": pa.int32(),
    "space_group": pa.int32(),
    "crystal_system": pa.string(),
    "a": pa.float64(),
    "b": pa.float64(),
    "c": pa.float64(),
    "alpha": pa.float64(),
    "beta": pa.float64(),
    "gamma": pa.float64(),
}
assert tuple(_FIXED_TYPES) == ID_COLUMNS + TARGET_COLUMNS


class ExtractError(RuntimeError):
    """Extraction refused or failed; the message names the file (and sample group)."""


@dataclass(frozen=True)
class FileJob:
    """What a worker needs to turn one file into one part (small and picklable).

    Attributes
    ----------
    source : str
        Path of the HDF5 file.
    part : str
        Path of the Parquet part to write.
    fingerprint : dict
        Resume key of ``source`` (see :func:`file_fingerprint`), stored in the part.
    metadata : dict of str to str
        Table schema metadata (feature names, config, versions).
    strict : bool
        Raise :class:`ExtractError` on the first bad sample instead of skipping it.
    batch_size : int
        Stacks per feature batch.
    """

    source: str
    part: str
    fingerprint: dict
    metadata: dict
    strict: bool = False
    batch_size: int = 32


@dataclass
class FileResult:
    """What one file gave: rows written, samples skipped, where the time went.

    ``skipped`` holds dicts with keys ``file``, ``group``, ``kind``, ``reason``;
    ``metadata_problems`` the same for the missing or invalid attributes of rows written.
    ``peak_rss`` is the peak resident memory (bytes) of the process that did the work.
    """

    source: str
    part: str
    rows: int
    skipped: list[dict] = field(default_factory=list)
    metadata_problems: list[dict] = field(default_factory=list)
    off_centre: list[dict] = field(default_factory=list)
    read_s: float = 0.0
    compute_s: float = 0.0
    write_s: float = 0.0
    peak_rss: int = 0
    pid: int = 0
    resumed: bool = False


def file_fingerprint(path: str | os.PathLike, config_fingerprint: str, feature_version) -> dict:
    """The resume key of one input file.

    Parameters
    ----------
    path : path-like or str
        The HDF5 file, or an array source (``stacks.npy``, ``FILE.h5:/dataset``).
    config_fingerprint : str
        ``FeatureConfig.fingerprint()`` of the run.
    feature_version : str or int
        ``cbedfeat.features.FEATURE_VERSION``.

    Returns
    -------
    dict
        ``source`` (resolved path, plus ``:/dataset`` for a dataset), ``size``,
        ``mtime_ns`` (of the file), ``config``, ``feature_version``, ``rows``
        (:data:`ROWS_VERSION`): any change means the part must be recomputed.
    """
    path = os.fspath(path)
    src = parse_array_source(path)
    file = source_file(path)
    st = os.stat(file)
    resolved = str(Path(file).resolve())
    if src is not None and src.dataset is not None:
        resolved += ":" + src.dataset
    return {
        "source": resolved,
        "size": int(st.st_size),
        "mtime_ns": int(st.st_mtime_ns),
        "config": str(config_fingerprint),
        "feature_version": str(feature_version),
        "rows": ROWS_VERSION,
    }


def source_id(source: str) -> str:
    """The ``file`` column of a source's rows: the file name (``name.h5:/dataset`` for a dataset)."""
    src = parse_array_source(source)
    if src is not None and src.dataset is not None:
        return f"{src.path.name}:{src.dataset}"
    return Path(source).name


def part_stem(source: str) -> str:
    """A file-name-safe stem of a source for its part (``name`` or ``name-dataset-path``)."""
    src = parse_array_source(source)
    if src is None or src.dataset is None:
        return Path(source).stem
    return f"{src.path.stem}-{src.dataset.strip('/').replace('/', '-')}"


def table_schema(feature_names, metadata: dict | None = None) -> pa.Schema:
    """Schema of the feature table: id columns, targets, then float32 features."""
    fields = [pa.field(name, typ) for name, typ in _FIXED_TYPES.items()]
    fields += [pa.field(str(name), pa.float32()) for name in feature_names]
    return pa.schema(fields, metadata=metadata)


def read_part_info(path: str | os.PathLike) -> dict | None:
    """The part record of a Parquet part, or None if it is not a readable cbedfeat part."""
    try:
        meta = pq.read_schema(path).metadata or {}
        return json.loads(meta[PART_INFO_KEY])
    except (OSError, KeyError, ValueError, pa.ArrowException):
        return None


def write_atomic_table(table: pa.Table, path: str | os.PathLike) -> None:
    """Write ``table`` to ``path`` through a hidden temporary file and a rename.

    The temporary name starts with a dot, so Parquet dataset readers ignore it.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, **PARQUET_OPTIONS)
    _fsync(tmp)
    os.replace(tmp, path)


def _fsync(path: Path) -> None:
    # A rename is only atomic across a power cut when the data reached the disk first.
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def peak_rss_bytes() -> int:
    """Peak resident memory of this process in bytes (0 where unknown)."""
    try:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    except (ImportError, OSError, AttributeError):
        return 0


def read_batches(
    source: str,
    batch_size: int,
    *,
    strict: bool,
    problems: list,
    reuse: bool = False,
    mapped: bool = False,
) -> Iterator[tuple[np.ndarray | list, list, float]]:
    """Samples of one file in batches, read straight into the batch array.

    Parameters
    ----------
    source : str
        The HDF5 file or array source (see :mod:`cbedfeat.data.sources`).
    batch_size : int
        Largest number of stacks per batch.
    strict : bool
        Raise on the first bad sample (``CBEDDataError``), of its pattern or of its
        attributes, instead of recording it. Non-strict, a sample with a usable pattern
        is always read; its bad attributes are None and listed in ``meta.problems``.
    problems : list
        Receives a ``cbedfeat.data.Problem`` per skipped sample or file.
    reuse : bool
        Fill one batch array again and again: each yielded batch is overwritten by the
        next, so the consumer must be done with it first (a loop that computes each
        batch before asking for the next). Fresh pages cost ~0.1 ms per MB on first
        touch; a reused array pays that once. False (default): an array per batch.
    mapped : bool
        Stacks stored as one raw float32 extent (uncompressed, as in the ORNL files)
        are not copied: they come as read-only views of the page cache
        (:class:`cbedfeat.data.mapped.StackMapper`), and a batch holding any of them
        is a list of ``(3, H, W)`` arrays instead of one array. The copy costs about
        as much as the feature kernel's own pass over the stack.

    Yields
    ------
    stacks : (n, 3, H, W) float32 ndarray, or (with ``mapped``) a list of n (3, H, W)
        float32 arrays
    metas : list of SampleMeta
        One per stack.
    read_s : float
        Seconds spent reading and validating these samples.
    """
    buf: np.ndarray | None = None
    n = 0
    handed: list = [None]  # the row last handed to the reader
    views: list = []  # per stack of the batch: its mapped view, or None (a row of buf)

    def slot(shape):
        # The next free row of the batch, when the stack has the batch's shape.
        handed[0] = None if buf is None or buf.shape[1:] != shape else buf[n]
        return handed[0]

    def batch():
        # One array unless some stack is a view of its own.
        if any(v is not None for v in views):
            return [buf[k] if v is None else v for k, v in enumerate(views)]
        return buf[:n]

    samples = iter_source(
        source, strict=strict, problems=problems, into=slot, mapped=mapped, require_metadata=strict
    )
    metas, read_s = [], 0.0
    while True:
        t0 = time.perf_counter()
        sample = next(samples, None)
        read_s += time.perf_counter() - t0
        if sample is None:
            break
        if buf is None or sample.stack.shape != buf.shape[1:]:
            # A batch holds stacks of one shape only: a new shape starts a new batch.
            if n:
                yield batch(), metas, read_s
                n, metas, read_s, views = 0, [], 0.0, []
            buf = np.empty((batch_size,) + sample.stack.shape, dtype=np.float32)
        view = None
        if sample.stack is not handed[0]:  # a mapped view, or read into its own array
            if mapped and not sample.stack.flags.writeable:
                view = sample.stack
            else:
                buf[n] = sample.stack
        views.append(view)
        n += 1
        metas.append(sample.meta)
        if n == batch_size:
            yield batch(), metas, read_s
            n, metas, read_s, views = 0, [], 0.0, []
            if not reuse:
                buf = np.empty_like(buf)
    if n:
        yield batch(), metas, read_s


def _skip_record(file: str, group: str | None, kind: str, reason: str) -> dict:
    return {"file": str(file), "group": group or "", "kind": kind, "reason": reason}


class PartBuilder:
    """Collects the featurised rows of one file, then writes its part.

    Parameters
    ----------
    job : FileJob
        The file and where its part goes.
    extractor : StackFeaturizer or FeatureExtractor
        Turns ``(n, 3, H, W)`` stacks into ``(n, F)`` features.
    n_features : int
        ``F``, the length of ``extractor.get_feature_names_out()``.
    """

    def __init__(self, job: FileJob, extractor, n_features: int) -> None:
        self.job = job
        self.extractor = extractor
        self.n_features = n_features
        self.features: list[np.ndarray] = []
        self.metas: list = []
        self.skipped: list[dict] = []
        self.metadata_problems: list[dict] = []
        self.off_centre: list[dict] = []
        self._centre_checked = False
        self.read_s = 0.0
        self.compute_s = 0.0

    def _transform(self, stacks: np.ndarray) -> np.ndarray:
        out = np.asarray(self.extractor.transform(stacks), dtype=np.float32)
        if out.shape != (len(stacks), self.n_features):
            raise ValueError(
                f"features of shape {out.shape}, expected {(len(stacks), self.n_features)}"
            )
        return out

    def add(self, stacks: np.ndarray, metas: list, read_s: float = 0.0) -> int:
        """Featurise one batch; return the number of rows kept.

        A batch that fails is redone one stack at a time so that only the bad
        samples are lost (or, in strict mode, the error names the bad sample).
        """
        self.read_s += read_s
        t0 = time.perf_counter()
        if not self._centre_checked and len(stacks):
            self._check_centre(stacks[0], metas[0])
        try:
            feats, kept = self._transform(stacks), list(metas)
        except Exception:
            rows, kept = [], []
            for stack, meta in zip(stacks, metas, strict=True):
                try:
                    rows.append(self._transform(stack[None]))
                    kept.append(meta)
                except Exception as exc:
                    reason = f"feature extraction failed: {type(exc).__name__}: {exc}"
                    if self.job.strict:
                        raise ExtractError(f"{self.job.source} [{meta.group}]: {reason}") from exc
                    self.skipped.append(
                        _skip_record(self.job.source, meta.group, "features", reason)
                    )
            feats = np.concatenate(rows) if rows else np.empty((0, self.n_features), np.float32)
        self.compute_s += time.perf_counter() - t0
        self.features.append(feats)
        self.metas.extend(kept)
        for meta in kept:
            for p in meta.problems:  # the rows of unlabelled samples: say why
                self.metadata_problems.append(_skip_record(p.file, p.group, p.kind, p.reason))
        return len(kept)

    def _check_centre(self, stack: np.ndarray, meta) -> None:
        """Check the file's first stack against the centre the features assume."""
        self._centre_checked = True
        config = getattr(self.extractor, "config", None)
        try:
            record = off_centre_record(
                stack, self.job.source, meta.group, getattr(config, "center", "image")
            )
        except Exception:  # a bad stack fails (and is reported) in the features
            record = None
        if record is not None:
            self.off_centre.append(record)

    def add_problems(self, problems: list) -> None:
        """Record the data layer's skipped samples (``Problem`` records)."""
        for p in problems:
            self.skipped.append(_skip_record(p.file, p.group, p.kind, p.reason))

    def to_table(self) -> pa.Table:
        """The rows of this file as a table with the part's schema metadata.

        A field that is None (missing or invalid in the input) is a null.
        """
        metas = self.metas
        file_id = source_id(self.job.source)
        columns = {
            "file": [file_id] * len(metas),
            "group": [m.group for m in metas],
            "material": [m.material for m in metas],
            "split": [m.split for m in metas],
            "energy_keV": [m.energy_keV for m in metas],
            "space_group": [m.space_group for m in metas],
            "crystal_system": [
                None if m.space_group is None else crystal_system_of(m.space_group) for m in metas
            ],
        }
        for i, name in enumerate(("a", "b", "c")):
            columns[name] = [
                None if m.abc_angstrom is None else float(m.abc_angstrom[i]) for m in metas
            ]
        for i, name in enumerate(("alpha", "beta", "gamma")):
            columns[name] = [
                None if m.angles_degree is None else float(m.angles_degree[i]) for m in metas
            ]

        feats = (
            np.concatenate(self.features)
            if self.features
            else np.empty((0, self.n_features), np.float32)
        )
        meta = {k.encode() if isinstance(k, str) else k: v for k, v in self.job.metadata.items()}
        info = {
            "fingerprint": self.job.fingerprint,
            "rows": len(metas),
            "skipped": self.skipped,
            "metadata": self.metadata_problems,
            "off_centre": self.off_centre,
        }
        meta[PART_INFO_KEY] = json.dumps(info, sort_keys=True).encode()
        feature_names = json.loads(meta[META_FEATURE_NAMES])
        schema = table_schema(feature_names, meta)
        arrays = [pa.array(columns[n], type=_FIXED_TYPES[n]) for n in _FIXED_TYPES]
        columns_major = np.ascontiguousarray(feats.T)  # one contiguous copy, zero-copy columns
        arrays += [pa.array(col) for col in columns_major]
        return pa.Table.from_arrays(arrays, schema=schema)

    def finish(self) -> FileResult:
        """Write the part atomically and report."""
        t0 = time.perf_counter()
        write_atomic_table(self.to_table(), self.job.part)
        return FileResult(
            source=self.job.source,
            part=self.job.part,
            rows=len(self.metas),
            skipped=list(self.skipped),
            metadata_problems=list(self.metadata_problems),
            off_centre=list(self.off_centre),
            read_s=self.read_s,
            compute_s=self.compute_s,
            write_s=time.perf_counter() - t0,
            peak_rss=peak_rss_bytes(),
            pid=os.getpid(),
        )


def extract_file(
    job: FileJob, extractor, n_features: int, on_progress: Callable[[int], None] | None = None
) -> FileResult:
    """Turn one source (an HDF5 file or an array of stacks) into one Parquet part.

    Parameters
    ----------
    job : FileJob
        The file, its part path, fingerprint and options.
    extractor : StackFeaturizer or FeatureExtractor
        The feature extractor (built once per process by the caller).
    n_features : int
        Number of feature columns.
    on_progress : callable, optional
        Called with the number of stacks done after each batch.

    Returns
    -------
    FileResult

    Raises
    ------
    ExtractError
        In strict mode, on the first bad sample or file (message names both).
    """
    builder = PartBuilder(job, extractor, n_features)
    problems: list = []
    try:
        # The batch is computed before the next is read: one reused batch array.
        for stacks, metas, read_s in read_batches(
            job.source,
            job.batch_size,
            strict=job.strict,
            problems=problems,
            reuse=True,
            mapped=True,
        ):
            builder.add(stacks, metas, read_s)
            if on_progress is not None:
                on_progress(len(metas))
    except CBEDDataError as exc:  # only raised in strict mode
        raise ExtractError(str(exc)) from None
    builder.add_problems(problems)
    return builder.finish()


def result_from_part(path: str | os.PathLike, info: dict) -> FileResult:
    """The :class:`FileResult` of a part kept from an earlier run."""
    return FileResult(
        source=info["fingerprint"]["source"],
        part=str(path),
        rows=int(info["rows"]),
        skipped=list(info["skipped"]),
        metadata_problems=list(info.get("metadata", [])),
        off_centre=list(info.get("off_centre", [])),
        resumed=True,
    )


def result_to_dict(result: FileResult) -> dict:
    """JSON-ready dict of a :class:`FileResult`."""
    return asdict(result)
