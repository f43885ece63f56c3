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
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from functools import partial

from dataclean.inspect import DEFAULT_MAX_PIXELS, Record, inspect_file

DEFAULT_MEMORY_LIMIT = 3 * 1024**3  # bytes of address space per worker
DEFAULT_TIMEOUT = 60  # seconds per file


class _FileTimeout(Exception):
    pass


def _on_alarm(signum: int, frame: object) -> None:
    raise _FileTimeout()


def _worker_init(memory_limit: int | None) -> None:
    # Decoders (libtiff, openjpeg) print to the C-level stderr; keep the user's terminal clean.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    if memory_limit:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = memory_limit if hard == resource.RLIM_INFINITY else min(memory_limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    signal.signal(signal.SIGALRM, _on_alarm)


def inspect_guarded(path: str, max_pixels: int, timeout: int) -> Record:
    """inspect_file with a time limit and MemoryError turned into a record (runs in a worker)."""
    signal.alarm(timeout)
    try:
        return inspect_file(path, max_pixels)
    except _FileTimeout:
        return Record(error="decode_error", error_detail=f"decoding took longer than {timeout} s")
    except MemoryError:
        return Record(error="decode_error", error_detail="decoder ran out of memory (hostile or huge file?)")
    finally:
        signal.alarm(0)


def _run_chunk(paths: Sequence[str], max_pixels: int, timeout: int) -> list[Record]:
    return [inspect_guarded(p, max_pixels, timeout) for p in paths]


def inspect_many(
    paths: Sequence[str],
    workers: int,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    timeout: int = DEFAULT_TIMEOUT,
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
    on_progress: Callable[[int], None] | None = None,
) -> list[Record]:
    """Inspect ``paths`` and return their records in the same order.

    ``workers=0`` inspects in this process (no isolation; for debugging and small test sets).
    ``on_progress(n)`` is called with the number of files just finished.
    """
    if workers == 0:
        out = []
        for p in paths:
            out.append(inspect_file(p, max_pixels))
            if on_progress:
                on_progress(1)
        return out
    results: list[Record | None] = [None] * len(paths)
    chunk = max(1, min(64, len(paths) // (workers * 8) or 1))
    chunks = [range(i, min(i + chunk, len(paths))) for i in range(0, len(paths), chunk)]
    failed = _run_pool(paths, chunks, workers, max_pixels, timeout, memory_limit, results, on_progress)
    for idx in (i for c in failed for i in c):  # isolate the files of chunks whose worker died
        got = _run_pool(paths, [range(idx, idx + 1)], 1, max_pixels, timeout, memory_limit, results, on_progress)
        if got:
            results[idx] = Record(error="decode_error", error_detail="the decoder crashed on this file")
            if on_progress:
                on_progress(1)
    return [r if r is not None else Record(error="decode_error") for r in results]


def _run_pool(
    paths: Sequence[str],
    chunks: list[range],
    workers: int,
    max_pixels: int,
    timeout: int,
    memory_limit: int | None,
    results: list[Record | None],
    on_progress: Callable[[int], None] | None,
) -> list[range]:
    """Run ``chunks`` on a fresh pool, filling ``results``; return the chunks lost to a dead worker."""
    run = partial(_run_chunk, max_pixels=max_pixels, timeout=timeout)
    lost: list[range] = []
    with ProcessPoolExecutor(max_workers=min(workers, len(chunks)), initializer=_worker_init,
                             initargs=(memory_limit,)) as ex:
        pending = {ex.submit(run, [paths[i] for i in c]): c for c in chunks}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                c = pending.pop(fut)
                try:
                    recs = fut.result()
                except BrokenProcessPool:
                    lost.append(c)
                    continue
                for i, r in zip(c, recs):
                    results[i] = r
                if on_progress:
                    on_progress(len(c))
    return lost
