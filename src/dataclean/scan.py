"""Walk a dataset folder into a file list with folder labels."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dataclean.errors import DatacleanError

#: A folder holding this file is a `dataclean fix --quarantine` folder (its journal), not data.
QUARANTINE_JOURNAL = "journal.jsonl"


@dataclass(frozen=True)
class ScanResult:
    root: Path  # absolute
    paths: list[str]  # relative, POSIX separators, sorted
    labels: list[str]  # first folder under root; "" for files at the root
    unreadable_dirs: list[str]  # relative folders that could not be listed

    @property
    def flat(self) -> bool:
        """True when no file sits in a class folder: a folder of images without labels."""
        return not any(self.labels)


def scan(root: str | os.PathLike[str], exclude: list[str | os.PathLike[str]] | None = None) -> ScanResult:
    """List every file under ``root``; the label is the first folder level (``cats`` in cats/a/x.jpg).

    Hidden folders (``.git``, ``.ipynb_checkpoints``) are skipped; hidden files are kept so that the
    naming check can report them. Files and folders in ``exclude`` (the --labels CSV, the audit's own
    --out folder) and quarantine folders (they hold a journal.jsonl) are not part of the dataset. Raises DatacleanError for a missing, unreadable or empty root.
    """
    base = Path(root).expanduser()
    if not base.exists():
        raise DatacleanError(f"dataset folder not found: {root}")
    if not base.is_dir():
        raise DatacleanError(f"not a folder: {root} (give the folder that holds the class folders)")
    base = base.resolve()
    if not os.access(base, os.R_OK | os.X_OK):
        raise DatacleanError(f"dataset folder is not readable: {root}")
    unreadable: list[str] = []

    def onerror(exc: OSError) -> None:
        unreadable.append(Path(exc.filename).relative_to(base).as_posix() if exc.filename else str(exc))

    skip = {Path(p).resolve() for p in exclude or []}
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(base, onerror=onerror):
        here = Path(dirpath)
        if here != base and (here in skip or QUARANTINE_JOURNAL in filenames):
            dirnames[:] = []
            continue
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_dir = here.relative_to(base)
        found.extend((rel_dir / f).as_posix() for f in filenames)
    found = [p for p in found if (base / p) not in skip]
    if not found:
        raise DatacleanError(f"no files found under {root}: expected {root}/<class>/<image> or a folder of images")
    found.sort()
    labels = [p.split("/", 1)[0] if "/" in p else "" for p in found]
    return ScanResult(root=base, paths=found, labels=labels, unreadable_dirs=sorted(unreadable))
