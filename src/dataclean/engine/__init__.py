"""Inspection engines: one interface, records out.

``local`` is the process pool of dataclean.pool (today's engine: per-file time limits, memory caps,
crash isolation); ``dask`` submits the same pure per-file inspection to a Dask distributed cluster
(dataclean.engine.dask, imported only when asked for: `dataclean audit` without ``--engine dask``
never imports Dask). Both read the bytes where they run: the local workers from disk or through
fsspec, the Dask workers through fsspec.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from dataclean.errors import DatacleanError
from dataclean.record import DEFAULT_MAX_BYTES, Record
from dataclean.storage import Source

ENGINES = ("local", "dask")


class Engine(Protocol):
    """A started inspection of ``locations``."""

    def results(self, on_progress: Callable[[int], None] | None = None) -> list[Record]:
        """The records in the order of the locations; ``on_progress(n)`` as files finish."""
        ...

    def close(self) -> None:
        """Stop what was started (pending work is cancelled); safe to call twice."""
        ...


class NoInspection:
    """The engine of an audit with nothing to inspect."""

    def results(self, on_progress: Callable[[int], None] | None = None) -> list[Record]:
        return []

    def close(self) -> None:
        pass


def start_inspection(engine: str, locations: Sequence[str], source: Source, workers: int, max_pixels: int,
                     scheduler: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES, timeout: int | None = None) -> Engine:
    """Start inspecting ``locations`` (from ``source.location``) on ``engine``, each file within ``timeout``
    seconds (default dataclean.pool.DEFAULT_TIMEOUT)."""
    if engine not in ENGINES:
        raise DatacleanError(f"unknown engine {engine!r} (known: {', '.join(ENGINES)})")
    if scheduler and engine != "dask":
        raise DatacleanError(f"--scheduler {scheduler} needs --engine dask")
    limit = {"timeout": timeout} if timeout is not None else {}
    if not locations:  # every file from the cache: no pool, no cluster, not even the decoders imported
        return NoInspection()
    if engine == "local":
        from dataclean.pool import Inspection

        return Inspection(locations, workers, max_pixels=max_pixels, max_bytes=max_bytes, source=source, **limit)
    from dataclean.engine.dask import DaskInspection

    return DaskInspection(locations, source, workers, max_pixels, scheduler, max_bytes, **limit)
