"""Start an audit's file inspection before paying for the heavy imports.

The workers need only Pillow and NumPy; pandas and the checks are needed only once the records are
in. Scanning and submitting the work first lets the CLI import the rest while the workers decode
(this module must therefore not import pandas, directly or indirectly).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from dataclean.inspect import DEFAULT_MAX_PIXELS
from dataclean.layout import LayoutOptions
from dataclean.pool import Inspection
from dataclean.safety import check_folder_for_outputs
from dataclean.scan import ScanResult, scan


@dataclass
class StartedAudit:
    found: ScanResult
    inspection: Inspection
    workers: int
    max_pixels: int
    started: float  # time.perf_counter() at the start


def start_audit(
    root: str | os.PathLike[str],
    workers: int | None = None,
    labels_path: str | os.PathLike[str] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    out_dir: str | os.PathLike[str] | None = None,
    layout: LayoutOptions | None = None,
) -> StartedAudit:
    """Scan ``root``, lay it out (``layout``: dataclean.layout) and submit every file for inspection.
    ``workers=None`` uses every core; 0 none.

    The labels file, the index and class-names files and the output folder are left out of the scan
    when they sit inside ``root``.
    """
    started = time.perf_counter()
    n_workers = (os.cpu_count() or 1) if workers is None else workers
    extra = [*layout.index_files, layout.class_names_file] if layout is not None else []
    found = scan(root, exclude=[p for p in (labels_path, out_dir, *extra) if p], layout=layout)
    if out_dir:
        check_folder_for_outputs(out_dir, found.root, "--out")
    root = str(found.root)
    paths = [os.path.join(root, p) for p in found.paths]
    return StartedAudit(found, Inspection(paths, n_workers, max_pixels=max_pixels), n_workers, max_pixels, started)

