"""Run inspection over many files on a process pool, safely.

A hostile file must not take the audit down: each worker caps its own address space (a decoder
that tries to allocate gigabytes gets MemoryError, recorded as a decode error), each file has a
time limit, and a worker that dies outright (a crash in a C decoder) costs only the files of its
chunk, which are then retried one by one so that the culprit is named.
"""

from __future__ import annotations

import os
import resource
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from operator import attrgetter
from typing import Any

from dataclean.inspect import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    Record,
    Staged,
    complete,
    decode_file,
    decode_source,
    quiet_decoders,
)
from dataclean.storage import Source

DEFAULT_MEMORY_LIMIT = 3 * 1024**3  # bytes of address space per worker
DEFAULT_TIMEOUT = 60  # seconds per file


class _FileTimeout(BaseException):
    """Raised by the alarm; a BaseException so that no decoder-level ``except Exception`` swallows it."""


def _on_alarm(signum: int, frame: object) -> None:
    raise _FileTimeout()


def _watch_parent(parent: int, every: float = 0.2) -> None:
    """Exit as soon as the audit that started this worker is gone (SIGKILL/SIGTERM leave no time to
    stop the pool): the worker is then re-parented, and its parent pid changes."""
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(1)


def _worker_init(memory_limit: int | None, parent: int | None = None) -> None:
    if parent is not None:  # a daemon thread: no import, nothing to clean up
        threading.Thread(target=_watch_parent, args=(parent,), name="watch-parent", daemon=True).start()
    sandbox_worker(memory_limit)
    signal.signal(signal.SIGALRM, _on_alarm)


def sandbox_worker(memory_limit: int | None) -> None:
    """What every decoding worker process does first: C-level stderr to /dev/null (libtiff and openjpeg
    print there; keep the user's terminal clean) and, when given, a cap on its address space."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    if memory_limit:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = memory_limit if hard == resource.RLIM_INFINITY else min(memory_limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def decode_guarded(path: str, max_pixels: int, timeout: int, max_bytes: int = DEFAULT_MAX_BYTES,
                   source: Source | None = None) -> Staged:
    """decode_file (or decode_source for a remote ``source``) with a time limit (runs in a worker; a
    MemoryError under the worker's memory cap is already recorded as a decode error)."""
    signal.alarm(timeout)
    try:
        if source is not None:
            return decode_source(source, path, max_pixels, max_bytes)
        return decode_file(path, max_pixels, max_bytes)
    except _FileTimeout:
        return Record(error="decode_error", error_detail=f"decoding took longer than {timeout} s"), None
    finally:
        signal.alarm(0)


#: A record as a plain tuple of its fields: what crosses the process boundary (a tuple pickles and
#: unpickles several times faster than a dataclass instance).
_as_tuple = attrgetter(*Record.__dataclass_fields__)
_Pending = dict[Future[list[tuple[Any, ...]]], range]  # a submitted chunk's future -> its rows


def _run_chunk(paths: Sequence[str], max_pixels: int, timeout: int, max_bytes: int = DEFAULT_MAX_BYTES,
               source: Source | None = None) -> list[tuple[Any, ...]]:
    with quiet_decoders():
        return [_as_tuple(r) for r in complete([decode_guarded(p, max_pixels, timeout, max_bytes, source) for p in paths])]


def _chunks(n: int, workers: int, most: int = 64) -> list[range]:
    """Consecutive chunks of up to ``most`` files (at least 8 per worker), the last stretch in
    quarter-size chunks so that the workers finish together rather than one waiting on the other."""
    size = max(1, min(most, n // (workers * 8)))
    tail = min(n, workers * size * 2)
    starts = [*range(0, n - tail, size), *range(n - tail, n, max(1, size // 4))]
    return [range(a, b) for a, b in zip(starts, [*starts[1:], n])]


class Inspection:
    """Inspection of many files, started on construction; :meth:`results` waits for the records.

    Starting first and collecting later lets the caller do other work (imports, set-up) while the
    workers decode. ``workers=0`` inspects in this process when results are asked for (no isolation;
    for debugging and small test sets).
    """

    def __init__(
        self,
        paths: Sequence[str],
        workers: int,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        timeout: int = DEFAULT_TIMEOUT,
        memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
        max_bytes: int = DEFAULT_MAX_BYTES,
        source: Source | None = None,
    ) -> None:
        """``paths`` are local paths, or locations in a remote ``source`` (read through fsspec by the workers)."""
        self.paths, self.workers, self.max_bytes = list(paths), workers, max_bytes
        self.source = source if source is not None and source.remote else None
        self.max_pixels, self.timeout, self.memory_limit = max_pixels, timeout, memory_limit
        self._executor: ProcessPoolExecutor | None = None
        self._pending: _Pending = {}
        if workers > 0 and self.paths:
            chunks = _chunks(len(self.paths), workers)
            self._executor, self._pending = self._submit(chunks, min(workers, len(chunks)))

    def _submit(self, chunks: list[range], workers: int) -> tuple[ProcessPoolExecutor, _Pending]:
        run = partial(_run_chunk, max_pixels=self.max_pixels, timeout=self.timeout, max_bytes=self.max_bytes,
                      source=self.source)
        ex = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init, initargs=(self.memory_limit, os.getpid()))
        return ex, {ex.submit(run, [self.paths[i] for i in c]): c for c in chunks}

    def results(self, on_progress: Callable[[int], None] | None = None) -> list[Record]:
        """The records, in the order of ``paths``. ``on_progress(n)`` is called as files finish."""
        if self.workers == 0:
            out: list[Record] = []
            for c in _chunks(len(self.paths), 1):
                with quiet_decoders():
                    out.extend(complete([decode_source(self.source, p, self.max_pixels, self.max_bytes) if self.source
                                         else decode_file(p, self.max_pixels, self.max_bytes)
                                         for p in self.paths[c.start : c.stop]]))
                if on_progress:
                    on_progress(len(c))
            return out
        results: list[Record | None] = [None] * len(self.paths)
        lost = self._collect(results, on_progress)
        if lost:  # a dead worker takes every pending chunk down with the pool: retry those together
            self._executor, self._pending = self._submit(lost, min(self.workers, len(lost)))
            lost = self._collect(results, on_progress)
        for idx in (i for c in lost for i in c):  # chunks lost twice: one file per pool finds the culprit
            self._executor, self._pending = self._submit([range(idx, idx + 1)], 1)
            if self._collect(results, on_progress):
                results[idx] = Record(error="decode_error", error_detail="the decoder crashed on this file")
                if on_progress:
                    on_progress(1)
        return [r if r is not None else Record(error="decode_error") for r in results]

    def _collect(self, results: list[Record | None], on_progress: Callable[[int], None] | None) -> list[range]:
        """Wait for the pending chunks, filling ``results``; return the chunks lost to a dead worker."""
        lost: list[range] = []
        try:
            for fut in as_completed(list(self._pending)):  # one waiter per future, not one per wait() call
                c = self._pending.pop(fut)
                try:
                    recs = fut.result()
                except BrokenProcessPool:
                    lost.append(c)
                    continue
                for i, fields in zip(c, recs):
                    results[i] = Record(*fields)
                if on_progress:
                    on_progress(len(c))
        finally:
            self.close()
        return lost

    def close(self) -> None:
        """Stop the workers (pending work is cancelled); safe to call twice."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor, self._pending = None, {}


def inspect_many(
    paths: Sequence[str],
    workers: int,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    timeout: int = DEFAULT_TIMEOUT,
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
    on_progress: Callable[[int], None] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    source: Source | None = None,
) -> list[Record]:
    """Inspect ``paths`` and return their records in the same order (see :class:`Inspection`)."""
    return Inspection(paths, workers, max_pixels, timeout, memory_limit, max_bytes, source).results(on_progress)
