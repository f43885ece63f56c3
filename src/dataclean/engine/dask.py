"""The Dask engine: the per-file inspection as tasks on a Dask distributed cluster.

The client sends each task a few hundred file locations (never bytes); the worker reads the files
itself (through fsspec for a remote dataset, from the disk for a local root its machine can see),
inspects them and returns columnar results (one list per record field). A remote dataset's Source,
storage options and secrets included, is not a task argument: it is registered once as a worker
plugin (dataclean.engine.dask_plugin), which the scheduler also hands to workers that join later,
and unregistered when the audit ends. The scheduler is ``--scheduler``, else
``DASK_SCHEDULER_ADDRESS``, else a LocalCluster of ``--workers`` processes started for this audit.

Each file has the local pool's time limit, with the same record when it runs out
(dataclean.pool.decode_guarded; a Dask task runs in a worker thread, so the limit is a watchdog
thread's rather than SIGALRM). A worker that dies mid-task costs a retry of its tasks on another
worker (the scheduler reschedules them); a task that keeps killing workers is split into one task
per file, and a file that still kills its worker is recorded as a decoder crash, as the local pool
does.

The client connects (importing distributed, starting a LocalCluster) and submits in background
threads: an audit lists its dataset and imports the rest of dataclean meanwhile.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
import uuid
from collections.abc import Callable, Sequence
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
                    max_bytes: int = DEFAULT_MAX_BYTES, timeout: int = DEFAULT_TIMEOUT) -> dict[str, list[Any]]:
    """Read and inspect ``locations`` (runs on a worker): local paths, or locations in the remote Source
    registered on the worker under the name ``source``. The records as one list per field."""
    if source is not None:
        from dataclean.engine.dask_plugin import worker_source

        remote: Source | None = worker_source(source)
    else:
        remote = None
    with quiet_decoders(), ThreadAlarm() as alarm:
        records = complete([decode_guarded(loc, max_pixels, timeout, max_bytes, remote, alarm) for loc in locations])
    return {name: [getattr(r, name) for r in records] for name in _FIELDS}


class Connection:
    """A client of the cluster an audit runs on, connected in a background thread from construction:
    ``scheduler`` (else ``$DASK_SCHEDULER_ADDRESS``), or a LocalCluster of ``workers`` processes."""

    def __init__(self, scheduler: str | None, workers: int) -> None:
        if importlib.util.find_spec("distributed") is None:
            raise DatacleanError("--engine dask needs Dask: pip install 'dataclean[scale]'")
        self.address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
        self.workers = max(1, workers)
        self._client: Any = None
        self._cluster: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="dask-connect", daemon=True)
        self._thread.start()

    def client(self) -> Any:
        """The connected client (waits for it); the connection's error if there was one."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._client

    def close(self) -> None:
        """Close the client, and the LocalCluster if this started one; safe to call twice."""
        self._thread.join()
        client, cluster, self._client, self._cluster = self._client, self._cluster, None, None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    def _run(self) -> None:
        try:
            self._client = self._connect()
        except BaseException as exc:  # noqa: BLE001 - raised where the client is asked for
            self._error = exc

    def _connect(self) -> Any:
        from distributed import Client, LocalCluster

        if self.address:
            try:
                return Client(self.address, timeout=CONNECT_TIMEOUT, set_as_default=False)
            except Exception as exc:  # noqa: BLE001 - OSError/TimeoutError for no answer, ValueError for a bad address
                raise DatacleanError(f"cannot reach the Dask scheduler at {self.address}: {first_line(exc)}") from None
        import multiprocessing

        import dask

        # Worker processes forked from this one start in ~0.3 s with Pillow, NumPy and dataclean already
        # imported; spawned ones re-import everything (~3 s each on 2 busy cores, and as long to stop).
        # The workers' statistical profiler (a stack sample every 10 ms) costs ~5% of their time: off.
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        with dask.config.set({"distributed.worker.multiprocessing-method": method,
                              "distributed.worker.profile.enabled": False}):
            # logs at CRITICAL: what matters comes back as task results or errors; a worker's heartbeat
            # that meets the closing scheduler would print a traceback
            self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                         dashboard_address=None, silence_logs=logging.CRITICAL)
        return Client(self._cluster, set_as_default=False)


class DaskInspection:
    """Inspection of ``locations`` on a Dask cluster, submitted on construction (see the module doc).

    ``connection`` is one already connecting (dataclean.launch starts it before listing the dataset);
    by default one is made here. With a scheduler address the connection is waited for here, so that
    a scheduler that does not answer is an error before the audit writes anything.
    """

    def __init__(self, locations: Sequence[str], source: Source, workers: int, max_pixels: int,
                 scheduler: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES, timeout: int = DEFAULT_TIMEOUT,
                 connection: Connection | None = None) -> None:
        self.locations, self.source, self.max_pixels, self.max_bytes = list(locations), source, max_pixels, max_bytes
        self.timeout = timeout
        self._connection = connection or Connection(scheduler, workers)
        self._client: Any = None
        self._plugin: str | None = None  # the name the Source is registered under on the workers
        self._futures: dict[Any, range] = {}
        self._error: BaseException | None = None
        try:
            if self._connection.address:
                self._connection.client()
        except BaseException:
            self._connection.close()
            raise
        self._submitting = threading.Thread(target=self._submit_all, name="dask-submit", daemon=True)
        self._submitting.start()

    def _submit_all(self) -> None:
        try:
            client = self._client = self._connection.client()
            if self.source.remote:
                from dataclean.engine.dask_plugin import SourcePlugin

                name = f"dataclean-source-{uuid.uuid4().hex}"
                client.register_plugin(SourcePlugin(name, self.source))
                self._plugin = name
            n_workers = len(client.scheduler_info().get("workers", {})) or self._connection.workers
            self._futures = {self._submit(rows): rows for rows in chunk_ranges(len(self.locations), n_workers, TASK_FILES)}
        except BaseException as exc:  # noqa: BLE001 - raised by results()
            self._error = exc

    def _submit(self, rows: range) -> Any:
        return self._client.submit(inspect_columns, self.locations[rows.start : rows.stop], self._plugin,
                                   self.max_pixels, self.max_bytes, self.timeout, pure=False)

    def results(self, on_progress: Callable[[int], None] | None = None) -> list[Record]:
        """The records in the order of the locations, as tasks complete."""
        try:
            self._submitting.join()
            if self._error is not None:
                raise self._error
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
                    cols = fut.result()
                except KilledWorker:
                    retry.append(rows)
                    continue
                for i, rec in zip(rows, _records(cols)):
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
        self._submitting.join()
        self._futures = {}
        client, name, self._client, self._plugin = self._client, self._plugin, None, None
        if client is not None and name is not None and self._connection.address:  # a LocalCluster goes anyway
            try:
                client.unregister_worker_plugin(name)
            except Exception:  # noqa: BLE001, S110 - a scheduler already gone forgot it too
                pass
        self._connection.close()


def _records(cols: dict[str, list[Any]]) -> list[Record]:
    return [Record(*values) for values in zip(*(cols[name] for name in _FIELDS))]
