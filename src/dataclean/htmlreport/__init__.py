"""The self-contained HTML report of an audit (``dataclean report AUDIT_DIR``, ``audit --html``).

:func:`write_audit_report` reads an audit folder's outputs, thumbnails the flagged files it will
show (at most ``max_per_check`` per check) on a process pool, and writes ``report.html`` atomically.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dataclean.htmlreport.data import AuditData, load_audit
from dataclean.htmlreport.page import DEFAULT_MAX_PER_CHECK, plan_sections, render_audit, thumbnail_paths
from dataclean.htmlreport.thumbs import thumbnails
from dataclean.io import atomic_write


@dataclass(frozen=True)
class WrittenReport:
    path: Path
    bytes: int
    thumbnails: int  # files shown with a picture
    seconds: float


def file_location(root: str, path: str) -> str:
    """Where a manifest row's file is: ``root/path`` (a URL root keeps its scheme)."""
    return f"{root.rstrip('/')}/{path}" if "://" in root else os.path.join(root, path)


def render_audit_html(data: AuditData, max_per_check: int = DEFAULT_MAX_PER_CHECK, workers: int | None = None,
                      on_progress: Callable[[int], None] | None = None) -> tuple[str, int]:
    """The report page for ``data`` and how many pictures it holds."""
    sections = plan_sections(data, max_per_check)
    wanted = thumbnail_paths(data, sections)
    root = str(data.summary.get("root", ""))
    locations = [file_location(data.row(p).get("root") or root, p) for p in wanted]
    max_pixels = int(data.summary.get("parameters", {}).get("max_pixels") or 89_478_485)
    uris = thumbnails(locations, workers=workers, max_pixels=max_pixels, on_progress=on_progress)
    page = render_audit(data, sections, dict(zip(wanted, uris)))
    return page, sum(1 for u in uris if u)


def write_audit_report(audit_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None,
                       max_per_check: int = DEFAULT_MAX_PER_CHECK, workers: int | None = None,
                       on_progress: Callable[[int], None] | None = None) -> WrittenReport:
    """Write ``report.html`` (default: inside ``audit_dir``) from the audit's outputs; return what was written."""
    started = time.perf_counter()
    data = load_audit(audit_dir)
    page, n_thumbs = render_audit_html(data, max_per_check, workers, on_progress)
    target = Path(out) if out is not None else Path(audit_dir) / "report.html"
    encoded = page.encode("utf-8")
    with atomic_write(target, "wb") as fh:
        fh.write(encoded)
    return WrittenReport(target, len(encoded), n_thumbs, time.perf_counter() - started)


__all__ = ["DEFAULT_MAX_PER_CHECK", "AuditData", "WrittenReport", "load_audit", "render_audit_html",
           "write_audit_report"]
