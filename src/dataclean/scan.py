"""Walk a dataset folder into a file list with folder labels."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dataclean.errors import DatacleanError
from dataclean.layout import Layout, LayoutOptions, resolve_layout
from dataclean.safety import is_marked


@dataclass(frozen=True)
class ScanResult:
    root: Path  # absolute
    paths: list[str]  # relative, POSIX separators, sorted
    labels: list[str]  # the class (dataclean.layout): "" for files at the root or in folders that are not classes
    unreadable_dirs: list[str]  # relative folders that could not be listed
    symlinked_dirs: dict[str, str] = field(default_factory=dict)  # relative folder -> link target; not followed
    layout: Layout | None = None  # how paths were read (labels, given splits, index findings)

    @property
    def given_splits(self) -> list[str]:
        """Per path: train / val / test when the dataset came split (split folders or an index), else ""."""
        return self.layout.given_splits if self.layout is not None else [""] * len(self.paths)

    @property
    def flat(self) -> bool:
        """True when no file sits in a class folder: a folder of images without labels."""
        return not any(self.labels)


def scan(root: str | os.PathLike[str], exclude: list[str | os.PathLike[str]] | None = None,
         layout: LayoutOptions | None = None) -> ScanResult:
    """List every file under ``root`` and lay it out (dataclean.layout: class folders, split folders,
    flat, or index files); by default the label is the first folder (``cats`` in cats/a/x.jpg).

    Hidden folders (``.git``, ``.ipynb_checkpoints``) are skipped; hidden files are kept so that the
    naming check can report them. Files and folders in ``exclude`` (the --labels CSV, the audit's own
    --out folder) and folders dataclean marked as its own (audit outputs, quarantines: see
    dataclean.safety) are not part of the dataset; nothing else is skipped for its name. Symlinked
    folders are not followed (they could lead outside the dataset, or loop): they are listed in
    ``symlinked_dirs``. Raises DatacleanError for a missing, unreadable or empty root.
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
    symlinked: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root_dir, onerror=onerror):  # str paths: no pathlib per file
        if dirpath != root_dir and (dirpath in skip or is_marked(dirpath, filenames)):
            dirnames[:] = []
            continue
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for d in [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            dirnames.remove(d)
            link = os.path.join(dirpath, d)
            symlinked[link[cut:].replace(os.sep, "/")] = _readlink(link)
        prefix = "" if dirpath == root_dir else dirpath[cut:].replace(os.sep, "/") + "/"
        found.extend(prefix + f for f in filenames if not skip or os.path.join(dirpath, f) not in skip)
    if not found:
        links = f" (symlinked folders are not followed: {', '.join(sorted(symlinked))})" if symlinked else ""
        raise DatacleanError(f"no files found under {root}: expected {root}/<class>/<image> or a folder of images{links}")
    found.sort()
    laid = resolve_layout(found, layout)
    return ScanResult(root=base, paths=found, labels=laid.labels, unreadable_dirs=sorted(unreadable),
                      symlinked_dirs=dict(sorted(symlinked.items())), layout=laid)


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"
