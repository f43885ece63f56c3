"""Run inspection over many files on a process pool, safely.

A hostile file must not take the audit down: each worker caps its own address space (a decoder
that tries to allocate gigabytes gets MemoryError, recorded as a decode error), each file has a
time limit, and a worker that dies outright (a crash in a C decoder) costs only the files of its
chunk, which are then retried one by one so that the culprit is named.

The per-file limit (:func:`decode_guarded`) is shared with the Dask engine: a pool worker decodes in
its main thread and is interrupted by SIGALRM (:class:`SignalAlarm`); a Dask worker decodes in a
thread of its own pool, which no signal reaches, and is interrupted by a watchdog thread
(:class:`ThreadAlarm`). Both raise :class:`FileTimeout` in the decoding code and give the same record.
"""

from __future__ import annotations

import ctypes
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


class FileTimeout(BaseException):
    """Raised by the alarm; a BaseException so that no decoder-level ``except Exception`` swallows it."""


def _on_alarm(signum: int, frame: object) -> None:
    raise FileTimeout()


#: Seconds between repeats of an alarm the guarded call has not taken yet. An exception raised while
#: the interrupted thread runs a finalizer or a gc callback (distributed, once imported, installs one)
#: is printed and dropped there, not raised in the decoder: the alarm goes off again until one lands.
ALARM_REPEAT = 0.1


class SignalAlarm:
    """The per-file limit in a process's main thread (the pool's workers): SIGALRM, whose handler
    (installed by the worker's initializer) raises FileTimeout; repeated every ALARM_REPEAT seconds."""

    def arm(self, seconds: int) -> None:
        signal.setitimer(signal.ITIMER_REAL, seconds, ALARM_REPEAT)

    def disarm(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)


class ThreadAlarm:
    """The per-file limit for the thread that creates it when that is not the main thread (a Dask
    worker runs tasks in a thread pool, which SIGALRM cannot reach).

    A watchdog thread raises FileTimeout in that thread once an armed limit passes (CPython's
    ``PyThreadState_SetAsyncExc``), again every ALARM_REPEAT seconds until disarmed. Like the signal
    handler, it interrupts Python code, and a long C call (one decoder call, a blocking read) when
    that returns. :meth:`disarm` takes back a FileTimeout fired but not yet raised, and raises it
    itself: none escapes the guarded call.
    """

    def __init__(self) -> None:
        self._thread = threading.get_ident()
        self._cond = threading.Condition()
        self._deadline = 0.0
        self._armed = self._fired = self._closed = False
        self._idle = True  # the watchdog waits for an arm() to wake it
        self._watchdog = threading.Thread(target=self._watch, name="file-time-limit", daemon=True)
        self._watchdog.start()

    def arm(self, seconds: int) -> None:
        # Deadlines only move later: a watchdog waiting for an earlier one wakes then and waits on.
        # Waking it for every file instead cost ~0.2 ms per file (each wake-up contends for the GIL).
        with self._cond:
            self._deadline, self._armed, self._fired = time.monotonic() + seconds, True, False
            if self._idle:
                self._cond.notify()

    def disarm(self) -> None:
        with self._cond:
            self._armed = False
            if self._fired:
                self._fired = False
                _async_raise(self._thread, None)  # a FileTimeout still pending is taken back ...
                raise FileTimeout()  # ... and raised here, inside the guarded call

    def close(self) -> None:
        with self._cond:
            self._closed, self._armed = True, False
            self._cond.notify()
        self._watchdog.join()

    def __enter__(self) -> ThreadAlarm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _watch(self) -> None:
        with self._cond:
            while not self._closed:
                if not self._armed:
                    self._idle = True
                    self._cond.wait()
                    self._idle = False
                elif (left := self._deadline - time.monotonic()) > 0:
                    self._cond.wait(left)
                else:
                    self._deadline, self._fired = time.monotonic() + ALARM_REPEAT, True
                    _async_raise(self._thread, FileTimeout)


def _async_raise(thread: int, exc: type[BaseException] | None) -> None:
    """Make ``thread`` raise ``exc`` at its next Python instruction (None: forget one pending)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), ctypes.py_object(exc) if exc else None)


SIGNAL_ALARM = SignalAlarm()


def timeout_record(timeout: int) -> Staged:
    """What a file that took longer than ``timeout`` seconds to read and decode is recorded as."""
    return Record(error="decode_error", error_detail=f"decoding took longer than {timeout} s"), None


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
    install_alarm()


def install_alarm() -> None:
    """Make SIGALRM raise FileTimeout in this process (a worker's; :class:`SignalAlarm` arms it)."""
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
                   source: Source | None = None, alarm: SignalAlarm | ThreadAlarm = SIGNAL_ALARM) -> Staged:
    """decode_file (or decode_source for a remote ``source``) with a time limit (runs in a worker; a
    MemoryError under the worker's memory cap is already recorded as a decode error)."""
    try:
        alarm.arm(timeout)
        try:
            if source is not None:
                return decode_source(source, path, max_pixels, max_bytes)
            return decode_file(path, max_pixels, max_bytes)
        finally:  # an alarm that goes off as the file finishes is raised here at the latest
            alarm.disarm()
    except FileTimeout:
        return timeout_record(timeout)


#: A record as a plain tuple of its fields: what crosses the process boundary (a tuple pickles and
#: unpickles several times faster than a dataclass instance).
_as_tuple = attrgetter(*Record.__dataclass_fields__)
_Pending = dict[Future[list[tuple[Any, ...]]], range]  # a submitted chunk's future -> its rows


def _run_chunk(paths: Sequence[str], max_pixels: int, timeout: int, max_bytes: int = DEFAULT_MAX_BYTES,
               source: Source | None = None) -> list[tuple[Any, ...]]:
    with quiet_decoders():
        return [_as_tuple(r) for r in complete([decode_guarded(p, max_pixels, timeout, max_bytes, source) for p in paths])]


def chunk_ranges(n: int, workers: int, most: int = 64) -> list[range]:
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
            chunks = chunk_ranges(len(self.paths), workers)
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
            for c in chunk_ranges(len(self.paths), 1):
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
