"""Start an audit's file inspection before paying for the heavy imports.

The workers need only Pillow and NumPy; pandas and the checks are needed only once the records are
in. Scanning and submitting the work first lets the CLI import the rest while the workers decode
(this module must therefore not import pandas, directly or indirectly).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from dataclean.inspect import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS
from dataclean.layout import LayoutOptions
from dataclean.pool import Inspection
from dataclean.safety import check_folder_for_outputs, lock_folder
from dataclean.scan import ScanResult, scan


@dataclass
class StartedAudit:
    found: ScanResult
    inspection: Inspection
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


def start_audit(
    root: str | os.PathLike[str],
    workers: int | None = None,
    labels_path: str | os.PathLike[str] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    out_dir: str | os.PathLike[str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    layout: LayoutOptions | None = None,
) -> StartedAudit:
    """Scan ``root``, lay it out (``layout``: dataclean.layout) and submit every file for inspection.
    ``workers=None`` uses every core; 0 none.

    The labels file, the index and class-names files and the output folder are left out of the scan
    when they sit inside ``root``. With ``out_dir``, that folder is created, marked as dataclean's
    and locked (see :meth:`StartedAudit.release`): a second audit writing there at the same time is refused.
    """
    started = time.perf_counter()
    n_workers = (os.cpu_count() or 1) if workers is None else workers
    extra = [*layout.index_files, layout.class_names_file] if layout is not None else []
    found = scan(root, exclude=[p for p in (labels_path, out_dir, *extra) if p], layout=layout)
    lock = None
    if out_dir:  # refused before any work: a folder of the user's, or one another audit is writing
        check_folder_for_outputs(out_dir, found.root, "--out")
        lock = lock_folder(out_dir, "--out", kind="audit")
    root = str(found.root)
    paths = [os.path.join(root, p) for p in found.paths]
    try:
        inspection = Inspection(paths, n_workers, max_pixels=max_pixels, max_bytes=max_bytes)
    except BaseException:
        if lock is not None:
            os.close(lock)
        raise
    return StartedAudit(found, inspection, n_workers, max_pixels, started, max_bytes, lock)

