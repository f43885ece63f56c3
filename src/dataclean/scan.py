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
    --out folder) and quarantine folders (they hold a journal.jsonl) are not part of the dataset.
    Raises DatacleanError for a missing, unreadable or empty root.
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

    skip = {str(Path(p).resolve()) for p in exclude or []}
    root_dir = str(base)
    cut = len(root_dir) if root_dir.endswith(os.sep) else len(root_dir) + 1  # "/" as the root
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root_dir, onerror=onerror):  # str paths: no pathlib per file
        if dirpath != root_dir and (dirpath in skip or QUARANTINE_JOURNAL in filenames):
            dirnames[:] = []
            continue
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        prefix = "" if dirpath == root_dir else dirpath[cut:].replace(os.sep, "/") + "/"
        found.extend(prefix + f for f in filenames if not skip or os.path.join(dirpath, f) not in skip)
    if not found:
        raise DatacleanError(f"no files found under {root}: expected {root}/<class>/<image> or a folder of images")
    found.sort()
    labels = [p.split("/", 1)[0] if "/" in p else "" for p in found]
    return ScanResult(root=base, paths=found, labels=labels, unreadable_dirs=sorted(unreadable))
