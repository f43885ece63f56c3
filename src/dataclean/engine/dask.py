"""The Dask engine: the per-file inspection as tasks on a Dask distributed cluster.

The client sends each task a few hundred file locations (never bytes); the worker reads the files
itself through the dataset's :class:`~dataclean.storage.Source` (fsspec for URLs, the disk for a
local root its machine can see), inspects them and returns columnar results (one list per record
field). The scheduler is ``--scheduler``, else ``DASK_SCHEDULER_ADDRESS``, else a LocalCluster of
``--workers`` processes started for this audit. A worker that dies mid-task costs a retry of its
tasks on another worker (the scheduler reschedules them); a task that keeps killing workers is split
into one task per file, and a file that still kills its worker is recorded as a decoder crash, as
the local pool does.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any

from dataclean.errors import DatacleanError, first_line
from dataclean.inspect import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, Record, complete, decode_file, decode_source, quiet_decoders
from dataclean.storage import Source

#: Files per task: enough that task overhead (~1 ms on the scheduler) is small against ~100 ms of work.
TASK_FILES = 256
CONNECT_TIMEOUT = "5s"
_FIELDS = [f.name for f in fields(Record)]


def inspect_columns(locations: Sequence[str], source: Source, max_pixels: int = DEFAULT_MAX_PIXELS,
                    max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, list[Any]]:
    """Read and inspect ``locations`` (runs on a worker); the records as one list per field."""
    with quiet_decoders():
        staged = [decode_source(source, loc, max_pixels, max_bytes) if source.remote else decode_file(loc, max_pixels, max_bytes)
                  for loc in locations]
        records = complete(staged)
    return {name: [getattr(r, name) for r in records] for name in _FIELDS}


def task_ranges(n: int, workers: int, most: int | None = None) -> list[range]:
    """Consecutive tasks of up to ``most`` (default TASK_FILES) files, at least four per worker when there are few files."""
    size = max(1, min(most or TASK_FILES, -(-n // max(1, 4 * workers))))
    return [range(a, min(a + size, n)) for a in range(0, n, size)]


class DaskInspection:
    """Inspection of ``locations`` submitted to a Dask cluster on construction (see the module doc)."""

    def __init__(self, locations: Sequence[str], source: Source, workers: int, max_pixels: int,
                 scheduler: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.locations, self.source, self.max_pixels, self.max_bytes = list(locations), source, max_pixels, max_bytes
        self._cluster: Any = None
        self._client = self._connect(scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None, workers)
        n_workers = max(1, len(self._client.scheduler_info().get("workers", {})) or workers)
        self._tasks = task_ranges(len(self.locations), n_workers)
        self._futures = {self._submit(c): c for c in self._tasks}

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
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        with dask.config.set({"distributed.worker.multiprocessing-method": method}):
            self._cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                                         dashboard_address=None, silence_logs=logging.ERROR)
        return Client(self._cluster, set_as_default=False)

    def _submit(self, rows: range) -> Any:
        return self._client.submit(inspect_columns, self.locations[rows.start : rows.stop], self.source,
                                   self.max_pixels, self.max_bytes, pure=False)

    def results(self, on_progress: Callable[[int], None] | None = None) -> list[Record]:
        """The records in the order of the locations, as tasks complete."""
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        out: list[Record | None] = [None] * len(self.locations)
        try:
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
        finally:
            self.close()
        return [r if r is not None else Record(error="decode_error") for r in out]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def _records(cols: dict[str, list[Any]]) -> list[Record]:
    return [Record(*values) for values in zip(*(cols[name] for name in _FIELDS))]
