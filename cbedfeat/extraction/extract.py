"""Many HDF5 files (or arrays of stacks) -> one feature table (Parquet), resumable, in parallel.

Layout of the output of ``extract(inputs, out)``::

    FEATURES.parquet           the combined table (unless parts_only)
    FEATURES.parquet.parts/    one part per input file, 00000-<file stem>.parquet ...
    FEATURES.skipped.csv       skipped samples (pattern problems): file, group, kind, reason
    FEATURES.metadata.csv      missing or invalid attributes of rows written (same columns)

Inputs are ORNL-layout files and directories and array sources (``.npy`` files and
``FILE.h5:/dataset``, rows named ``row_<i>``; see :mod:`cbedfeat.data.sources`). Every
sample with a usable pattern gets a row; an unlabelled one (no attributes, or invalid
ones) has nulls in its bad fields and is listed in the metadata report.

With ``parts_only=True`` the directory ``out`` itself holds the parts and no combined
file is written; ``pandas.read_parquet(out)`` and ``pyarrow.dataset.dataset(out)``
read it as one table in the same row order (part names sort in input order; hidden
temporary files start with a dot, which dataset readers ignore).

Rows come in input-file order (:func:`cbedfeat.data.find_h5_files`), then natural
group order inside a file. Columns: :data:`cbedfeat.data.table.ID_COLUMNS`,
:data:`cbedfeat.data.table.TARGET_COLUMNS`, then the float32 features. The same inputs and
config (and batch size) give the same bytes whatever the runner (processes, Dask) or
the number of workers, and a killed run resumed gives the same table as an uninterrupted one: parts
are written atomically and a part is reused only when its stored fingerprint (resolved
path, size, ``mtime_ns``, feature-config fingerprint, feature version) still matches.

The combined file is written while the run goes on: each finished part is appended
(in input order) as soon as the parts before it are in, so only the last parts are left
to combine at the end; a failed run leaves no combined file (its parts stay, to resume).

Runners: ``device='cuda'`` computes in this process with a reader thread that keeps
the next batches ready while the GPU works; on the CPU, one worker runs in this
process and several run as spawned processes, each limited to one BLAS thread; a Dask
``scheduler`` (``'local'`` or an address) sends one task per file, and workers open the
files themselves (so the files and the parts directory must be on a shared file
system). The runners live in :mod:`cbedfeat.extraction.runners`.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cbedfeat._util import progress_bar
from cbedfeat._version import __version__
from cbedfeat.data.arrays import parse_array_source
from cbedfeat.data.sources import count_samples, resolve_inputs
from cbedfeat.data.table import (
    ID_COLUMNS,
    META_CBEDFEAT_VERSION,
    META_FEATURE_CONFIG,
    META_FEATURE_NAMES,
    META_FEATURE_VERSION,
    TARGET_COLUMNS,
    check_no_leak,
)
from cbedfeat.extraction.parts import (
    PARQUET_OPTIONS,
    PART_SUFFIX,
    ExtractError,
    FileJob,
    FileResult,
    file_fingerprint,
    part_stem,
    read_part_info,
    result_from_part,
    table_schema,
)
from cbedfeat.extraction.runners import run_jobs
from cbedfeat.features import FEATURE_VERSION, FeatureConfig, backend, feature_names
from cbedfeat.features.centring import ADVICE

__all__ = ["ExtractError", "ExtractResult", "extract", "output_paths", "resolve_device"]

log = logging.getLogger(__name__)

# Rows per row group of the combined table: about this many bytes of features, so
# the footer stays small for a million rows and memory stays bounded while combining.
ROW_GROUP_BYTES = 64 * 2**20
# Stacks read and featurised together by a CPU worker. Small batches are featurised
# while they are still in the last-level cache after the read (4 stacks = 12 MB a
# worker): 4 instead of 32 gave ~1.2x end to end with 2 workers in bench_extract's
# setting. The GPU wants large batches.
CPU_BATCH_SIZE = 4
GPU_BATCH_SIZE = 32
SKIPPED_FIELDS = ("file", "group", "kind", "reason")


@dataclass
class ExtractResult:
    """What :func:`extract` did.

    Attributes
    ----------
    table : Path or None
        The combined table (None with ``parts_only``).
    parts_dir : Path
        Directory of the per-file parts.
    skipped_report : Path
        CSV of skipped samples (header only when none).
    metadata_report : Path or None
        CSV of the metadata problems of rows written (header only when none).
    files : list of FileResult
        One per input file, in input order (``resumed`` for parts kept from before).
    device, runner : str
        The device and the runner actually used; ``workers`` how many workers.
    seconds : float
        Wall time of the whole run.
    """

    table: Path | None
    parts_dir: Path
    skipped_report: Path
    metadata_report: Path | None = None
    files: list[FileResult] = field(default_factory=list)
    device: str = "cpu"
    runner: str = "inline"
    workers: int = 1
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def skipped(self) -> list[dict]:
        return [s for f in self.files for s in f.skipped]

    @property
    def metadata_problems(self) -> list[dict]:
        return [s for f in self.files for s in f.metadata_problems]

    @property
    def unlabelled(self) -> int:
        """Rows written for samples with missing or invalid metadata."""
        return len({(s["file"], s["group"]) for s in self.metadata_problems})

    @property
    def resumed(self) -> int:
        return sum(f.resumed for f in self.files)

    @property
    def off_centre(self) -> list[dict]:
        """Files whose first stack is off the centre the features assume (one record each)."""
        return [s for f in self.files for s in f.off_centre]

    def summary(self) -> str:
        """One line for the user: rows, files, rate, skipped samples, outputs."""
        computed = sum(f.rows for f in self.files if not f.resumed)
        rate = computed / self.seconds if self.seconds > 0 else 0.0
        target = self.table if self.table is not None else self.parts_dir
        return (
            f"{self.rows} stacks from {len(self.files)} files ({self.resumed} resumed) "
            f"-> {target}; {computed} computed in {self.seconds:.1f} s ({rate:.1f} stacks/s, "
            f"{self.device}, {self.runner} x {self.workers}); {len(self.skipped)} skipped "
            f"(see {self.skipped_report})"
            + (
                f"; {self.unlabelled} rows unlabelled, with null fields (see {self.metadata_report})"
                if self.unlabelled
                else ""
            )
            + (
                f"; WARNING: {len(self.off_centre)} files with patterns off the image centre, "
                f"e.g. {self.off_centre[0]['file']} [{self.off_centre[0]['group']}] by "
                f"{self.off_centre[0]['offset_px']} px: {ADVICE}"
                if self.off_centre
                else ""
            )
        )


def output_paths(
    out: str | os.PathLike, parts_only: bool = False
) -> tuple[Path | None, Path, Path]:
    """Where a run writes: ``(table, parts_dir, skipped_report)``.

    ``FEATURES.parquet`` -> ``(FEATURES.parquet, FEATURES.parquet.parts,
    FEATURES.skipped.csv)``; with ``parts_only``, ``DIR`` -> ``(None, DIR,
    DIR.skipped.csv)``.
    """
    out = Path(out)
    stem = out.with_suffix("") if out.suffix == ".parquet" else out
    skipped = stem.with_name(stem.name + ".skipped.csv")
    if parts_only:
        return None, out, skipped
    return out, out.with_name(out.name + ".parts"), skipped


def metadata_report_path(skipped_report: Path) -> Path:
    """``FEATURES.metadata.csv`` beside ``FEATURES.skipped.csv``."""
    return skipped_report.with_name(
        skipped_report.name.removesuffix(".skipped.csv") + ".metadata.csv"
    )


def resolve_device(device: str) -> str:
    """``'auto'`` -> ``'cuda'`` when CuPy sees a GPU, else ``'cpu'``.

    Raises
    ------
    ValueError
        For an unknown name.
    ExtractError
        For ``'cuda'`` without a usable GPU.
    """

    try:
        return backend.resolve_device(device)
    except RuntimeError as exc:
        raise ExtractError(str(exc)) from None


def _load_config(config):

    if config is None:
        return FeatureConfig()
    if isinstance(config, FeatureConfig):
        return config
    if isinstance(config, dict):
        return FeatureConfig.from_dict(config)
    return FeatureConfig.from_yaml(config)


def table_metadata(feature_names: Sequence[str], config, feature_version) -> dict[bytes, bytes]:
    """Schema metadata of a feature table (JSON values; keys from cbedfeat.data.table)."""
    return {
        META_FEATURE_NAMES: json.dumps(list(feature_names)).encode(),
        META_FEATURE_CONFIG: json.dumps(config.to_dict(), sort_keys=True).encode(),
        META_FEATURE_VERSION: json.dumps(feature_version).encode(),
        META_CBEDFEAT_VERSION: json.dumps(__version__).encode(),
    }


def _clean_parts_dir(parts_dir: Path) -> None:
    # Temporary files of a killed run: never valid parts, always safe to drop.
    for tmp in parts_dir.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def _plan(files: list[str], parts_dir: Path, make_job, resume: bool):
    """Jobs to run and parts to keep, moving reusable parts to their new names.

    Returns ``(jobs, kept, stale)``: ``jobs`` to compute, ``kept`` maps input index to
    the FileResult of a reusable part, ``stale`` lists cbedfeat parts nobody needs.
    """
    all_jobs = [make_job(i, f) for i, f in enumerate(files)]
    existing = {}
    for p in sorted(parts_dir.glob("*" + PART_SUFFIX)):
        info = read_part_info(p)
        if info is not None:
            existing[p] = info
    by_key = {json.dumps(info["fingerprint"], sort_keys=True): p for p, info in existing.items()}
    kept, moves = {}, []
    if resume:
        for i, job in enumerate(all_jobs):
            p = by_key.get(json.dumps(job.fingerprint, sort_keys=True))
            if p is not None:
                kept[i] = p
                if p != Path(job.part):
                    moves.append((p, Path(job.part)))
    # Two-phase rename: a reused part may need the name of another reused part.
    staged = []
    for k, (src, dst) in enumerate(moves):
        tmp = parts_dir / f".move-{k}.tmp"
        os.replace(src, tmp)
        staged.append((tmp, dst))
    for tmp, dst in staged:
        os.replace(tmp, dst)
    kept = {i: result_from_part(all_jobs[i].part, existing[p]) for i, p in kept.items()}
    for i, res in kept.items():
        res.source = all_jobs[i].source
    targets = {Path(j.part) for j in all_jobs}
    stale = [p for p in existing if p not in targets and p.exists()]
    jobs = [(i, j) for i, j in enumerate(all_jobs) if i not in kept]
    return jobs, kept, stale


class PartCombiner:
    """Streams parts, in order, into one Parquet file written atomically.

    Parts may arrive in any order (``add``); each is appended as soon as every part
    before it is in, so a parallel run combines while its workers compute and only the
    last parts are left for the end. Row groups hold about :data:`ROW_GROUP_BYTES` of
    features, so memory stays bounded by one row group whatever the number of parts.

    Parameters
    ----------
    out : Path
        The combined file; written to a hidden temporary next to it, then renamed by
        ``close``.
    schema : pyarrow.Schema
        Schema and metadata of the table.
    n_parts : int
        Number of parts to expect (indices ``0 .. n_parts - 1``).
    """

    def __init__(self, out: Path, schema: pa.Schema, n_parts: int) -> None:
        n_features = max(1, len(schema) - len(ID_COLUMNS) - len(TARGET_COLUMNS))
        self.out = Path(out)
        self.schema = schema
        self.n_parts = int(n_parts)
        self._group_rows = max(1, ROW_GROUP_BYTES // (4 * n_features))
        self._tmp = self.out.with_name(f".{self.out.name}.tmp")
        self._writer = pq.ParquetWriter(self._tmp, schema, **PARQUET_OPTIONS)
        self._waiting: dict[int, str] = {}
        self._next = 0
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._rows_written = 0

    def add(self, index: int, part: str | os.PathLike) -> None:
        """Part ``index`` is complete; append it and any waiting parts that follow it."""
        if not 0 <= index < self.n_parts or index < self._next or index in self._waiting:
            raise ValueError(f"part index {index} is out of range or was added twice")
        self._waiting[index] = str(part)
        while self._next in self._waiting:
            self._append(self._waiting.pop(self._next))
            self._next += 1

    def _append(self, part: str) -> None:
        # ParquetFile.read skips the dataset layer of read_table: ~20 instead of ~33 ms
        # for a part of 700 columns, on the process that is also a worker.
        with pq.ParquetFile(part) as pf:
            table = pf.read(use_threads=False).replace_schema_metadata(self.schema.metadata)
        if table.num_rows:
            self._buffer.append(table)
            self._buffered += table.num_rows
        if self._buffered >= self._group_rows:
            self._flush()

    def _flush(self) -> None:
        self._writer.write_table(pa.concat_tables(self._buffer), row_group_size=self._buffered)
        self._rows_written += self._buffered
        self._buffer, self._buffered = [], 0

    def close(self) -> None:
        """Write what is buffered, sync and rename; every part must have been added."""
        if self._next != self.n_parts:
            missing = sorted(set(range(self._next, self.n_parts)) - set(self._waiting))
            raise ValueError(f"parts {missing[:5]} were never added")
        if self._buffered:
            self._flush()
        if not self._rows_written:  # a table with no rows still gets its schema
            self._writer.write_table(self.schema.empty_table(), row_group_size=1)
        self._writer.close()
        with open(self._tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(self._tmp, self.out)

    def abort(self) -> None:
        """Drop the temporary file (the run failed; the parts stay for a resume)."""
        try:
            self._writer.close()
        finally:
            self._tmp.unlink(missing_ok=True)


def combine_parts(parts: Sequence[str | os.PathLike], out: Path, schema: pa.Schema) -> None:
    """Stream parts, in order, into one Parquet file written atomically (see PartCombiner)."""
    combiner = PartCombiner(out, schema, len(parts))
    try:
        for i, part in enumerate(parts):
            combiner.add(i, part)
        combiner.close()
    except BaseException:
        combiner.abort()
        raise


def write_skipped_report(records: Sequence[dict], path: Path) -> None:
    """CSV of problem records (file, group, kind, reason), written atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SKIPPED_FIELDS, lineterminator="\n")
    writer.writeheader()
    for rec in records:
        writer.writerow({k: rec.get(k, "") for k in SKIPPED_FIELDS})
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    os.replace(tmp, path)


def _count_stacks(sources: Sequence[str]) -> int | None:
    """Number of samples to do (for the progress bar)."""

    return sum(count_samples(src) for src in sources)


def extract(
    inputs: Sequence[str | os.PathLike] | str | os.PathLike,
    out: str | os.PathLike,
    *,
    workers: int | None = None,
    device: str = "auto",
    config=None,
    scheduler: str | None = None,
    strict: bool = False,
    resume: bool = True,
    batch_size: int | None = None,
    parts_only: bool = False,
    progress: bool = True,
) -> ExtractResult:
    """Featurise every sample of the input HDF5 files into one Parquet table.

    Parameters
    ----------
    inputs : path or sequence of paths
        HDF5 files and directories (``batch_*.h5`` inside), see
        :func:`cbedfeat.data.find_h5_files`, and array sources (``.npy`` files,
        ``FILE.h5:/dataset``), see :func:`cbedfeat.data.sources.resolve_inputs`.
    out : path
        The combined table (``FEATURES.parquet``), or with ``parts_only`` the
        directory of parts.
    workers : int, optional
        Worker processes (or Dask workers with ``scheduler='local'``); default all
        cores available to this process.
    device : {'auto', 'cpu', 'cuda'}
        Where features are computed; ``'cuda'`` runs in this process.
    config : FeatureConfig, dict or path of a YAML file, optional
        The feature configuration; default ``FeatureConfig()``.
    scheduler : str, optional
        ``'local'`` (a ``distributed.LocalCluster``) or a Dask scheduler address.
    strict : bool
        Fail on the first bad sample, of its pattern or of its attributes
        (:class:`ExtractError` naming file and group), instead of skipping it (a
        pattern problem) or writing it with null fields (a metadata problem).
    resume : bool
        Reuse parts whose fingerprint matches (default); False recomputes all.
    batch_size : int, optional
        Stacks per feature batch; default :data:`CPU_BATCH_SIZE` (4) on the CPU and
        :data:`GPU_BATCH_SIZE` (32) on the GPU. Another batch size changes features
        only by float32 rounding (batched BLAS products sum in a shape-dependent order).
    parts_only : bool
        Keep the parts directory as the output, write no combined file.
    progress : bool
        Show a tqdm progress bar (stacks, stacks/s).

    Returns
    -------
    ExtractResult
    """

    t_start = time.perf_counter()
    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, not {batch_size}")
    files = list(
        dict.fromkeys(
            s if parse_array_source(s) is not None else str(Path(s).resolve())
            for s in resolve_inputs(list(inputs))
        )
    )
    if not files:
        raise ExtractError(f"no HDF5 files found in {', '.join(map(str, inputs))}")
    cfg = _load_config(config)
    device = resolve_device(device)
    if batch_size is None:
        batch_size = GPU_BATCH_SIZE if device == "cuda" else CPU_BATCH_SIZE
    names = [str(n) for n in feature_names(cfg)]
    check_no_leak(names)
    metadata = table_metadata(names, cfg, FEATURE_VERSION)
    schema = table_schema(names, metadata)
    table_path, parts_dir, skipped_path = output_paths(out, parts_only)
    if table_path is not None and table_path.is_dir():
        raise ExtractError(f"{table_path} is a directory; use parts_only to write parts there")
    parts_dir.mkdir(parents=True, exist_ok=True)
    _clean_parts_dir(parts_dir)

    cfg_fp = cfg.fingerprint()
    str_meta = {k.decode(): v.decode() for k, v in metadata.items()}

    def make_job(i: int, source: str) -> FileJob:
        part = parts_dir / f"{i:05d}-{part_stem(source)}{PART_SUFFIX}"
        fp = file_fingerprint(source, cfg_fp, FEATURE_VERSION)
        return FileJob(source, str(part), fp, str_meta, strict, batch_size)

    todo, kept, stale = _plan(files, parts_dir, make_job, resume)
    if strict:  # a part kept from a lenient run may hide a skipped sample
        for i in sorted(kept):
            if kept[i].skipped or kept[i].metadata_problems:
                s = (kept[i].skipped or kept[i].metadata_problems)[0]
                where = s["file"] + (f" [{s['group']}]" if s["group"] else "")
                raise ExtractError(
                    f"{where}: {s['kind']}: {s['reason']} (skipped by an earlier run)"
                )
    if workers is None:
        workers = (
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        )
    workers = max(1, int(workers or 1))
    if kept:
        log.info("resuming: %d of %d files already done", len(kept), len(files))

    total = _count_stacks([job.source for _, job in todo]) if progress and todo else None
    # Parts are appended to the combined table as they finish (in input order), while
    # the workers go on: only the last few are left to combine at the end.
    combiner = None if table_path is None else PartCombiner(table_path, schema, len(files))
    try:
        if combiner is not None:
            for i in sorted(kept):
                combiner.add(i, kept[i].part)

        def on_result(k: int, res: FileResult) -> None:
            if combiner is not None:
                combiner.add(todo[k][0], res.part)

        with progress_bar(
            total=total, unit="stack", desc="extract", enabled=progress, smoothing=0.1
        ) as bar:
            done, runner, n_workers = run_jobs(
                [job for _, job in todo],
                config=cfg.to_dict(),
                device=device,
                workers=workers,
                scheduler=scheduler,
                batch_size=batch_size,
                bar=bar,
                on_result=on_result,
            )
        if combiner is not None:
            combiner.close()
    except BaseException:
        if combiner is not None:
            combiner.abort()
        raise
    results: dict[int, FileResult] = dict(kept)
    for (i, _), res in zip(todo, done, strict=True):
        results[i] = res
    ordered = [results[i] for i in range(len(files))]
    for p in stale:
        p.unlink(missing_ok=True)
    result = ExtractResult(
        table_path,
        parts_dir,
        skipped_path,
        metadata_report_path(skipped_path),
        ordered,
        device,
        runner,
        n_workers,
    )
    write_skipped_report(result.skipped, skipped_path)
    write_skipped_report(result.metadata_problems, result.metadata_report)
    result.seconds = time.perf_counter() - t_start
    log.info("device used: %s (%s runner, %d workers)", device, runner, n_workers)
    return result
