"""Start an audit's file inspection before paying for the heavy imports.

The workers need only Pillow and NumPy; pandas and the checks are needed only once the records are
in. Listing and submitting the work first lets the CLI import the rest while the workers decode
(this module must therefore not import pandas, directly or indirectly).

Files the incremental cache (dataclean.cache) already knows unchanged are not submitted: their
records come from the cache, and only the others go to the engine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dataclean import cache
from dataclean.engine import Engine, start_inspection
from dataclean.layout import LayoutOptions
from dataclean.record import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, Record
from dataclean.safety import check_folder_for_outputs, lock_folder
from dataclean.scan import ScanResult
from dataclean.storage import Listing, Source, list_dataset, local_stamps


@dataclass
class StartedAudit:
    found: ScanResult
    inspection: Engine  # inspects the files that are not cache hits (``misses``)
    workers: int
    max_pixels: int
    started: float  # time.perf_counter() at the start
    max_bytes: int = DEFAULT_MAX_BYTES
    lock: int | None = None  # open descriptor holding the --out folder's lock

    def release(self) -> None:
        """Stop the workers if still running and give up the --out lock (safe to call twice)."""
        self.inspection.close()
        if self.lock is not None:
            os.close(self.lock)
            self.lock = None

    source: Source | None = None
    out_dir: str | None = None  # where the cache is written; None: no cache (--no-cache)
    cached: dict[int, Record] = field(default_factory=dict)  # row -> record from the cache
    misses: list[int] = field(default_factory=list)  # rows submitted for inspection
    sizes: list[int] | None = None  # per row, from the listing (remote) or a stat (local, with a cache)
    mtimes: list[float] | None = None
    stamps: list[str] | None = None
    warnings: list[str] = field(default_factory=list)
    engine: str = "local"
    cache_rows: int = 0  # rows in the cache that was read (0: none)

    def records(self, on_progress: Callable[[int], None] | None = None) -> list[Record]:
        """Every row's record: cache hits as they were, the others from the engine (in row order)."""
        fresh = self.inspection.results(on_progress)
        out: list[Record | None] = [None] * len(self.found.paths)
        for row, rec in self.cached.items():
            out[row] = rec
        remote = self.source is not None and self.source.remote
        for row, rec in zip(self.misses, fresh):
            if remote and self.sizes is not None and self.mtimes is not None:
                rec.mtime = self.mtimes[row]  # the object store's time; the size is the bytes read
                if rec.error == "unreadable":
                    rec.bytes = self.sizes[row]
            out[row] = rec
        return [r if r is not None else Record(error="decode_error") for r in out]

    def save_cache(self, records: list[Record]) -> str | None:
        """Write the cache for the next audit (None when caching is off)."""
        if self.out_dir is None or self.source is None:
            return None
        if not self.misses and self.cache_rows == len(self.cached):  # nothing new, changed or deleted:
            return str(cache.cache_path(self.out_dir))  # the cache on disk is already this audit's
        if self.stamps is not None and self.sizes is not None:
            sizes, stamps = self.sizes, self.stamps
            if not self.source.remote:  # a miss was stat'ed by its worker: its record holds the freshest
                sizes, stamps = list(sizes), list(stamps)
                for row in self.misses:
                    sizes[row], stamps[row] = records[row].bytes, repr(records[row].mtime)
        else:  # local, first audit: the workers' fstat is the stamp
            sizes, stamps = [r.bytes for r in records], [repr(r.mtime) for r in records]
        return str(cache.save(self.out_dir, self.source.url, self.max_pixels, self.found.paths, sizes, stamps, records))

    @property
    def cache_counts(self) -> dict[str, int]:
        return {"hits": len(self.cached), "misses": len(self.misses)}


def start_audit(
    root: str | os.PathLike[str],
    workers: int | None = None,
    labels_path: str | os.PathLike[str] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    out_dir: str | os.PathLike[str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    layout: LayoutOptions | None = None,
    *,
    storage_options: dict[str, Any] | None = None,
    use_cache: bool = True,
    engine: str = "local",
    scheduler: str | None = None,
    timeout: int | None = None,
) -> StartedAudit:
    """List ``root`` (a folder or an fsspec URL), lay it out (``layout``: dataclean.layout) and submit
    every file not in the cache for inspection.

    ``workers=None`` uses every core; 0 inspects in this process. The labels file, the index and
    class-names files and the output folder are left out of the listing when they sit inside ``root``.
    The cache is read from and written to ``out_dir`` unless ``use_cache`` is False (or there is no
    ``out_dir``).
    With ``out_dir``, that folder is created, marked as dataclean's and locked (see
    :meth:`StartedAudit.release`): a second audit writing there at the same time is refused.
    ``timeout``: seconds per file (default dataclean.pool.DEFAULT_TIMEOUT).
    """
    started = time.perf_counter()
    n_workers = (os.cpu_count() or 1) if workers is None else workers
    extra = [*layout.index_files, layout.class_names_file] if layout is not None else []
    listing = list_dataset(root, storage_options, exclude=[p for p in (labels_path, out_dir, *extra) if p], layout=layout)
    source, found = listing.source, listing.found
    if out_dir and not source.remote:  # a folder of the user's inside the dataset: refused before any work
        check_folder_for_outputs(out_dir, found.root, "--out")
    job = StartedAudit(found, None, n_workers, max_pixels, started, source=source,  # type: ignore[arg-type]
                       out_dir=os.fspath(out_dir) if out_dir is not None and use_cache else None, engine=engine,
                       sizes=listing.sizes, mtimes=listing.mtimes, stamps=listing.stamps, max_bytes=max_bytes)
    _use_cache(job, listing)  # reads the cache only
    locations = [source.location(found.paths[i]) for i in job.misses]
    # the engine starts before --out is created and locked: a scheduler that does not answer leaves nothing
    job.inspection = start_inspection(engine, locations, source, n_workers, max_pixels, scheduler, max_bytes, timeout)
    if out_dir:  # one audit writes there at a time
        try:
            job.lock = lock_folder(out_dir, "--out", kind="audit")
        except BaseException:
            job.inspection.close()
            raise
    return job


def _use_cache(job: StartedAudit, listing: Listing) -> None:
    """Split the rows into cache hits and misses (all misses without a usable cache)."""
    n = len(listing.found.paths)
    loaded = cache.load(job.out_dir, listing.source.url, job.max_pixels) if job.out_dir is not None else None
    if loaded is None or not loaded.entries:
        if loaded is not None and loaded.warning:
            job.warnings.append(loaded.warning)
        job.misses = list(range(n))
        return
    if job.stamps is None:  # local: stat the files now (cheap next to reading them)
        job.sizes, job.mtimes, job.stamps = local_stamps(listing.source, listing.found.paths)
    assert job.sizes is not None
    entries = loaded.entries
    job.cache_rows = len(entries)
    for row, (path, size, stamp) in enumerate(zip(listing.found.paths, job.sizes, job.stamps)):
        hit = entries.get(path)
        if hit is not None and stamp and hit[0] == size and hit[1] == stamp:
            job.cached[row] = hit[2]
        else:
            job.misses.append(row)
