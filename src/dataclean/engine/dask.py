"""The Dask engine: the per-file inspection as tasks on a Dask distributed cluster.

The client sends each task a few hundred file locations (never bytes); the worker reads the files
itself (through fsspec for a remote dataset, from the disk for a local root its machine can see),
inspects them and returns columnar results (one list per record field, in one pickle). A remote
dataset's Source, storage options and secrets included, is not a task argument: it is registered
once as a worker plugin (dataclean.engine.dask_plugin), which the scheduler also hands to workers
that join later, and unregistered when the audit ends. The scheduler is ``--scheduler``, else
``DASK_SCHEDULER_ADDRESS``, else a LocalCluster of ``--workers`` processes started for this audit.

Each file has the local pool's time limit, with the same record when it runs out
(dataclean.pool.decode_guarded; a Dask task runs in a worker thread, so the limit is a watchdog
thread's rather than SIGALRM). A worker that dies mid-task costs a retry of its tasks on another
worker (the scheduler reschedules them); a task that keeps killing workers is split into one task
per file, and a file that still kills its worker is recorded as a decoder crash, as the local pool
does.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields
from typing import Any

from dataclean.errors import DatacleanError, first_line
from dataclean.inspect import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, Record, complete, quiet_decoders
from dataclean.pool import DEFAULT_TIMEOUT, ThreadAlarm, chunk_ranges, decode_guarded
from dataclean.storage import Source

#: Most files per task: enough that task overhead (~1 ms on the scheduler) is small against ~100 ms of
#: work. The last tasks are a quarter of that (dataclean.pool.chunk_ranges), so the workers finish together.
TASK_FILES = 256
CONNECT_TIMEOUT = "5s"
_FIELDS = [f.name for f in fields(Record)]


def inspect_columns(locations: Sequence[str], source: str | None, max_pixels: int = DEFAULT_MAX_PIXELS,
                    max_bytes: int = DEFAULT_MAX_BYTES, timeout: int = DEFAULT_TIMEOUT) -> bytes:
    """Read and inspect ``locations`` (runs on a worker): local paths, or locations in the remote Source
    registered on the worker under the name ``source``. The records as one list per field, pickled:
    one message frame (Dask sends every ``bytes`` in a result as a frame of its own, and the thumbnails
    made one per file: ~0.1 ms per file to write and read)."""
    if source is not None:
        from dataclean.engine.dask_plugin import worker_source

        remote: Source | None = worker_source(source)
    else:
        remote = None
    with quiet_decoders(), ThreadAlarm() as alarm:
        records = complete([decode_guarded(loc, max_pixels, timeout, max_bytes, remote, alarm) for loc in locations])
    return pickle.dumps({name: [getattr(r, name) for r in records] for name in _FIELDS}, protocol=pickle.HIGHEST_PROTOCOL)


class DaskInspection:
    """Inspection of ``locations`` submitted to a Dask cluster on construction (see the module doc)."""

    def __init__(self, locations: Sequence[str], source: Source, workers: int, max_pixels: int,
                 scheduler: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
                 timeout: int = DEFAULT_TIMEOUT) -> None:
        self.locations, self.source, self.max_pixels, self.max_bytes = list(locations), source, max_pixels, max_bytes
        self.timeout = timeout
        self._cluster: Any = None
        self._plugin: str | None = None  # the name the Source is registered under on the workers
        self._futures: dict[Any, range] = {}
        self._address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
        self._client: Any = None
        try:
            self._client = self._connect(self._address, workers)
            if source.remote:
                from dataclean.engine.dask_plugin import SourcePlugin

                name = f"dataclean-source-{uuid.uuid4().hex}"
                self._client.register_plugin(SourcePlugin(name, source))
                self._plugin = name
            n_workers = max(1, workers)
            if self._address:  # a cluster of its own size (a LocalCluster has ``workers``)
                n_workers = len(self._client.scheduler_info().get("workers", {})) or n_workers
            self._futures = {self._submit(rows): rows for rows in chunk_ranges(len(self.locations), n_workers, TASK_FILES)}
        except BaseException:
            self.close()
            raise

    def _connect(self, address: str | None, workers: int) -> Any:
        try:
            from distributed import Client, LocalCluster
        except ModuleNotFoundError:
            raise DatacleanError("--engine dask needs Dask: pip install 'dataclean[scale]'") from None
        if address:
            try:
                return Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
            except Exception as exc:  # noqa: BLE001 - OSError/TimeoutError for no answer, ValueError for a bad address
                raise DatacleanError(f"cannot reach the Dask scheduler at {address}: {first_line(exc)}") from None
        import multiprocessing

        import dask

        # Worker processes forked from this one start in ~0.3 s with Pillow, NumPy and dataclean already
        # imported; spawned ones re-import everything (~3 s each on 2 busy cores, and as long to stop).
        # The workers' statistical profiler (a stack sample every 10 ms) costs ~5% of their time: off.
        # So do the event loops' diagnostics on the cores that decode: a tick every 20 ms (it only
        # times the loop, for "event loop unresponsive" warnings) and psutil's readings every 0.5 s
        # (for a dashboard this cluster does not have): every 1 s and 10 s instead (~2% of the audit).
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        if method == "fork":
            # The versions every worker reports when it registers (``uname -p`` run in a subprocess,
            # package metadata read: ~11 ms) are cached once here, for the forked workers to inherit.
            from distributed.versions import get_versions

            get_versions()
        with dask.config.set({"distributed.worker.multiprocessing-method": method,
                              "distributed.worker.profile.enabled": False,
                              "distributed.admin.tick.interval": "1s",
                              "distributed.admin.system-monitor.interval": "10s"}), _prompt_worker_start():
            # logs at CRITICAL: what matters comes back as task results or errors; a worker's heartbeat
            # that meets the closing scheduler would print a traceback. No dashboard; the scheduler's
            # HTTP server (health routes) on a free loopback port rather than 8787 on every interface,
            # which another cluster or a notebook's dashboard may hold (Dask then warns on stderr).
            self._cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                                         host="127.0.0.1", dashboard_address=None, silence_logs=logging.CRITICAL,
                                         scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
        return Client(self._cluster, set_as_default=False)

    def _submit(self, rows: range) -> Any:
        return self._client.submit(inspect_columns, self.locations[rows.start : rows.stop], self._plugin,
                                   self.max_pixels, self.max_bytes, self.timeout, pure=False)

    def results(self, on_progress: Callable[[int], None] | None = None) -> list[Record]:
        """The records in the order of the locations, as tasks complete."""
        try:
            return self._collect(on_progress)
        finally:
            self.close()

    def _collect(self, on_progress: Callable[[int], None] | None) -> list[Record]:
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        out: list[Record | None] = [None] * len(self.locations)
        pending = dict(self._futures)
        while pending:
            retry: list[range] = []
            with self._client.as_current():  # as_completed finds the client as the current one
                done = as_completed(list(pending))
            for fut in done:
                rows = pending.pop(fut)
                try:
                    packed = fut.result()
                except KilledWorker:
                    retry.append(rows)
                    continue
                for i, rec in zip(rows, _records(packed)):
                    out[i] = rec
                if on_progress:
                    on_progress(len(rows))
            for rows in retry:
                if len(rows) == 1:  # this one file kills every worker that reads it
                    out[rows.start] = Record(error="decode_error", error_detail="the decoder crashed on this file")
                    if on_progress:
                        on_progress(1)
                else:
                    pending.update({self._submit(range(i, i + 1)): range(i, i + 1) for i in rows})
        return [r if r is not None else Record(error="decode_error") for r in out]

    def close(self) -> None:
        """Forget the Source on the workers, close the client (and a LocalCluster started for this
        audit); pending work is cancelled. Safe to call twice."""
        client, name, self._client, self._plugin, self._futures = self._client, self._plugin, None, None, {}
        if client is not None:
            if name is not None and self._address:  # a LocalCluster goes anyway
                try:
                    client.unregister_worker_plugin(name)
                except Exception:  # noqa: BLE001, S110 - a scheduler already gone forgot it too
                    pass
            client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


_POLL_LOCK = threading.Lock()


class _Poll:
    starting = 0  # LocalClusters starting now in this process
    dask_value: float | None = None  # Dask's own interval, kept while any are


@contextlib.contextmanager
def _prompt_worker_start() -> Iterator[None]:
    """A nanny polls for its new worker process's first message every 50 ms (``WorkerProcess``'s
    ``_init_msg_interval``): half of that, on average, is lost before the first task can run. Polled
    every 5 ms while this audit's LocalCluster starts (Dask's value back once no audit in this process
    is starting one; left alone if Dask renames it)."""
    from distributed.nanny import WorkerProcess

    with _POLL_LOCK:
        if not _Poll.starting:
            before = getattr(WorkerProcess, "_init_msg_interval", None)
            _Poll.dask_value = float(before) if isinstance(before, (int, float)) else None
        if _Poll.dask_value is not None:
            WorkerProcess._init_msg_interval = min(_Poll.dask_value, 0.005)
        _Poll.starting += 1
    try:
        yield
    finally:
        with _POLL_LOCK:
            _Poll.starting -= 1
            if not _Poll.starting and _Poll.dask_value is not None:
                WorkerProcess._init_msg_interval = _Poll.dask_value


def _records(packed: bytes) -> list[Record]:
    cols = pickle.loads(packed)  # noqa: S301 - from this audit's own tasks, as Dask's own results are
    return [Record(*values) for values in zip(*(cols[name] for name in _FIELDS))]
