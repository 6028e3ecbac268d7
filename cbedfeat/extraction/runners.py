"""Where the per-file jobs of :mod:`cbedfeat.extraction.extract` run.

Three runners, one result: each computes every :class:`cbedfeat.extraction.parts.FileJob` with
:func:`cbedfeat.extraction.parts.extract_file` semantics (same batches, same part), so they
give the same table.

- ``inline``: this process, one file after the other. On the GPU a reader thread
  fills a bounded queue with the next batches while the device computes (HDF5 reading
  overlaps compute, memory bounded by the queue depth).
- ``processes``: this process and ``workers - 1`` workers of a spawn-context
  ``ProcessPoolExecutor``; each limits BLAS to one thread (threadpoolctl) and builds
  its feature extractor once; the spawned ones report stacks done through a queue, so
  the progress bar moves per batch.
- ``dask``: one task per file on a ``distributed`` cluster (``'local'`` starts a
  ``LocalCluster`` of single-threaded worker processes); tasks receive paths only.
"""

from __future__ import annotations

import logging
import os
import queue as queue_mod
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from cbedfeat.data import CBEDDataError
from cbedfeat.extraction.parts import (
    ExtractError,
    FileJob,
    FileResult,
    PartBuilder,
    extract_file,
    read_batches,
)

log = logging.getLogger(__name__)

# Batches the GPU reader thread may hold ahead of compute.
PREFETCH_BATCHES = 4
# Per-process state of a worker: progress queue and extractor cache.
_WORKER: dict = {}


def _limit_threads() -> None:
    # One BLAS/OpenMP thread per worker: the workers are the parallelism.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    if "limits" not in _WORKER:
        from threadpoolctl import threadpool_limits

        _WORKER["limits"] = threadpool_limits(limits=1)


def _init_worker(progress_queue) -> None:
    _limit_threads()
    _WORKER["queue"] = progress_queue


def get_extractor(config: dict, device: str, batch_size: int):
    """The feature extractor of this process for a config (built once, then cached).

    Returns
    -------
    extractor : StackFeaturizer
    n_features : int
    """
    import json

    key = (json.dumps(config, sort_keys=True), device, batch_size)
    cache = _WORKER.setdefault("extractors", {})
    if key not in cache:
        # Not the scikit-learn transformer: importing scikit-learn would add ~1.5 s to
        # every worker's start-up.
        from cbedfeat.features import FeatureConfig, StackFeaturizer

        fx = StackFeaturizer(FeatureConfig.from_dict(config), device, batch_size)
        cache[key] = (fx, fx.n_features)
    return cache[key]


def _process_task(job: FileJob, config: dict, device: str) -> FileResult:
    fx, n_features = get_extractor(config, device, job.batch_size)
    q = _WORKER.get("queue")
    return extract_file(job, fx, n_features, None if q is None else q.put)


def _dask_task(job: FileJob, config: dict, device: str) -> FileResult:
    _limit_threads()
    fx, n_features = get_extractor(config, device, job.batch_size)
    return extract_file(job, fx, n_features)


def _drain(progress_queue, bar) -> None:
    while True:
        try:
            bar.update(progress_queue.get_nowait())
        except queue_mod.Empty:
            return


def _notify(on_result, i: int, res: FileResult) -> None:
    if on_result is not None:
        on_result(i, res)


def run_processes(
    jobs: Sequence[FileJob], config: dict, device: str, workers: int, bar, on_result=None
) -> list[FileResult]:
    """Run the jobs on this process and ``workers - 1`` spawned ones; results in job order.

    This process is one of the workers. It has its imports already and computes from
    the start, while each spawned worker spends about 1.5 s starting (Python, NumPy,
    SciPy's sparse module, Numba's cache), and on a 2-core machine no core is left to a
    coordinator that mostly waits. Files go out one at a time to whoever is free: a
    spawned worker gets its next file as soon as it finishes one (this process looks
    between its own batches, every few tens of milliseconds), this process takes the
    next between its own files. ``on_result(i, result)`` is called here as each job
    ends (any order).
    """
    import multiprocessing

    from threadpoolctl import threadpool_limits

    ctx = multiprocessing.get_context("spawn")
    progress_queue = ctx.Queue()
    results: dict[int, FileResult] = {}
    order = iter(range(len(jobs)))
    pending: dict = {}  # future -> job index
    pool = ProcessPoolExecutor(
        max_workers=workers - 1,
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(progress_queue,),
    )

    def collect(timeout: float = 0.0) -> None:
        # Finished files of the spawned workers, then a new file for each free one.
        _drain(progress_queue, bar)
        if pending:
            done, _ = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
            for fut in done:
                i = pending.pop(fut)
                results[i] = fut.result()
                _notify(on_result, i, results[i])
        while len(pending) < workers - 1:
            i = next(order, None)
            if i is None:
                break
            pending[pool.submit(_process_task, jobs[i], config, device)] = i

    def progress(n: int) -> None:
        bar.update(n)
        collect()

    try:
        collect()
        # This process on one BLAS thread, as each spawned worker (restored afterwards).
        with threadpool_limits(limits=1):
            fx, n_features = get_extractor(config, device, jobs[0].batch_size)
            for i in order:
                results[i] = extract_file(jobs[i], fx, n_features, progress)
                _notify(on_result, i, results[i])
                collect()
        while pending:
            collect(timeout=0.2)
    except BrokenProcessPool as exc:
        raise ExtractError(
            f"a worker process died ({exc}); parts written so far are kept, run again to resume"
        ) from exc
    finally:
        # On an error (strict mode) drop the queued files; running ones finish their part.
        pool.shutdown(wait=True, cancel_futures=True)
        _drain(progress_queue, bar)
        progress_queue.close()
    return [results[i] for i in range(len(jobs))]


def run_dask(
    jobs: Sequence[FileJob],
    config: dict,
    device: str,
    workers: int,
    scheduler: str,
    bar,
    on_result=None,
):
    """Run the jobs as Dask tasks; returns ``(results in job order, n_workers)``."""
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        n_workers = len(client.scheduler_info().get("workers", {})) or workers
        run_id = uuid.uuid4().hex[:12]  # fresh keys: a shared cluster may remember old ones
        futures = [
            client.submit(
                _dask_task, job, config, device, pure=False, key=f"cbedfeat-extract-{run_id}-{i}"
            )
            for i, job in enumerate(jobs)
        ]
        index = {fut.key: i for i, fut in enumerate(futures)}
        results: dict[int, FileResult] = {}
        for fut in as_completed(futures):
            res = fut.result()
            results[index[fut.key]] = res
            bar.update(res.rows + len(res.skipped))
            _notify(on_result, index[fut.key], res)
        return [results[i] for i in range(len(jobs))], n_workers
    finally:
        # Every part is written by now: a slow teardown (workers of a loaded machine
        # killed after a timeout) must not fail a finished run.
        for closeable in (client, cluster):
            if closeable is None:
                continue
            try:
                closeable.close()
            except Exception as exc:  # noqa: BLE001
                log.warning("closing the Dask %s failed: %s", type(closeable).__name__, exc)


def _reader(jobs: Sequence[FileJob], out: queue_mod.Queue, stop: threading.Event) -> None:
    """Reader thread of the GPU pipeline: batches of each file, then its end marker."""

    def put(item) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue_mod.Full:
                continue
        return False

    try:
        for k, job in enumerate(jobs):
            problems: list = []
            for stacks, metas, read_s in read_batches(
                job.source, job.batch_size, strict=job.strict, problems=problems
            ):
                if not put(("batch", k, stacks, metas, read_s)):
                    return
            if not put(("end", k, problems)):
                return
    except BaseException as exc:  # handed to the consumer, which raises it
        put(("error", exc))
        return
    put(("done",))


def run_pipelined(
    jobs: Sequence[FileJob], extractor, n_features: int, bar, on_result=None
) -> list[FileResult]:
    """Compute in this process while a reader thread reads ahead (GPU path)."""

    batches: queue_mod.Queue = queue_mod.Queue(maxsize=PREFETCH_BATCHES)
    stop = threading.Event()
    thread = threading.Thread(target=_reader, args=(jobs, batches, stop), daemon=True)
    thread.start()
    results: list[FileResult] = []
    builder = None
    try:
        while True:
            item = batches.get()
            if item[0] == "batch":
                _, k, stacks, metas, read_s = item
                if builder is None:
                    builder = PartBuilder(jobs[k], extractor, n_features)
                builder.add(stacks, metas, read_s)
                bar.update(len(metas))
            elif item[0] == "end":
                _, k, problems = item
                builder = builder or PartBuilder(jobs[k], extractor, n_features)
                builder.add_problems(problems)
                results.append(builder.finish())
                _notify(on_result, k, results[-1])
                builder = None
            elif item[0] == "error":
                exc = item[1]
                if isinstance(exc, CBEDDataError):
                    raise ExtractError(str(exc)) from None
                raise exc
            else:
                return results
    finally:
        stop.set()
        thread.join()


def run_jobs(
    jobs,
    *,
    config: dict,
    device: str,
    workers: int,
    scheduler: str | None,
    batch_size: int,
    bar,
    on_result=None,
):
    """Pick a runner and run; returns ``(results in job order, runner name, workers)``.

    ``on_result(i, result)``, if given, is called in this process as job ``i`` ends, in
    any order (``extract`` combines finished parts while the others run).
    """
    if not jobs:
        return [], "none", 0
    if scheduler:
        results, n = run_dask(jobs, config, device, workers, scheduler, bar, on_result)
        return results, "dask", n
    if device == "cuda":
        fx, n_features = get_extractor(config, device, batch_size)
        return run_pipelined(jobs, fx, n_features, bar, on_result), "inline-gpu", 1
    n = min(workers, len(jobs))
    if n == 1:
        from threadpoolctl import threadpool_limits

        # One worker = this process on one BLAS thread, as each pool worker is
        # (restored afterwards: the caller may be a notebook).
        with threadpool_limits(limits=1):
            fx, n_features = get_extractor(config, device, batch_size)
            results = []
            for i, job in enumerate(jobs):
                results.append(extract_file(job, fx, n_features, bar.update))
                _notify(on_result, i, results[-1])
        return results, "inline", 1
    return run_processes(jobs, config, device, n, bar, on_result), "processes", n
