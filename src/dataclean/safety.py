"""File-system safety rules shared by audit and fix: folder markers, path confinement, durable renames.

* A folder dataclean made for itself (an audit's ``--out``, a quarantine) holds :data:`MARKER`, a small
  JSON file naming what it is. The scan skips exactly those folders, never a folder because of a file
  name a user might also have (a ``journal.jsonl`` among their images).
* :func:`confined` turns a manifest's ``root`` + relative ``path`` into the file to act on, refusing
  anything that is not a normalised relative path inside the root or that passes through a symlinked
  folder: ``fix`` moves only files that really lie inside the dataset.
* :func:`crashpoint` is the fault-injection hook the crash tests use (``DATACLEAN_CRASH_AT=N`` kills
  the process with SIGKILL at the N-th point reached); it costs one dictionary look-up otherwise.
"""

from __future__ import annotations

import fcntl
import json
import os
import posixpath
import shutil
import signal
import stat
from pathlib import Path
from typing import Any

from dataclean.errors import DatacleanError
from dataclean.io import atomic_write

#: Marker file in a folder dataclean created (audit output, quarantine).
MARKER = ".dataclean-folder.json"
#: First-line ``kind`` of a quarantine journal.
JOURNAL_KIND = "dataclean-quarantine-journal"

_CRASH_ENV = "DATACLEAN_CRASH_AT"
_crash_count = 0


def crashpoint() -> None:
    """Kill this process outright at the N-th call when ``DATACLEAN_CRASH_AT=N`` (crash tests only)."""
    at = os.environ.get(_CRASH_ENV)
    if not at:
        return
    global _crash_count
    _crash_count += 1
    if _crash_count == int(at):
        os.kill(os.getpid(), signal.SIGKILL)


def file_kind(mode: int) -> str:
    """What a non-regular file is, from its ``st_mode``: "FIFO", "character device", ..."""
    for test, name in ((stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISSOCK, "socket"), (stat.S_ISDIR, "folder"), (stat.S_ISLNK, "symlink")):
        if test(mode):
            return name
    return "regular file" if stat.S_ISREG(mode) else "special file"


def write_marker(folder: str | os.PathLike[str], kind: str, **info: Any) -> None:
    """Mark ``folder`` (created if needed) as one dataclean made, of ``kind`` ("audit", "quarantine")."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    marker = path / MARKER
    if read_marker(path) is not None and marker.is_file():
        return
    try:
        with atomic_write(marker) as fh:
            fh.write(json.dumps({"tool": "dataclean", "kind": kind, **info}, sort_keys=True) + "\n")
    except OSError as exc:  # a full disk, most likely: say where, and how much room is left
        raise DatacleanError(f"cannot write {marker}: {exc.strerror or exc} ({free_space(str(path))})") from None


def read_marker(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The marker's content when ``folder`` is a dataclean folder, else None (no marker, or not ours)."""
    try:
        with open(os.path.join(folder, MARKER), "rb") as fh:
            data = json.loads(fh.read(4096))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("tool") == "dataclean" else None


def is_dataclean_journal(path: str) -> bool:
    """True when ``path`` starts like a quarantine journal dataclean wrote (a header, or an old move record)."""
    try:
        with open(path, "rb") as fh:
            first = fh.readline(65536)
        data = json.loads(first)
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and (data.get("kind") == JOURNAL_KIND or {"src", "dst", "md5", "bytes"} <= set(data))


def _is_dataclean_summary(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read(1 << 22))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("tool") == "dataclean"


def is_marked(folder: str, filenames: list[str]) -> bool:
    """True for a folder dataclean made for itself: it holds the marker, or (made by a version before
    markers) a quarantine journal or an audit's summary.json of ours."""
    if MARKER in filenames and read_marker(folder) is not None:
        return True
    if "journal.jsonl" in filenames and is_dataclean_journal(os.path.join(folder, "journal.jsonl")):
        return True
    return "summary.json" in filenames and _is_dataclean_summary(os.path.join(folder, "summary.json"))


LOCK_NAME = ".dataclean.lock"


def lock_folder(folder: str | os.PathLike[str], what: str, kind: str) -> int:
    """Create and mark ``folder``, then take its exclusive lock; return the descriptor that holds it.

    The lock (``flock`` on :data:`LOCK_NAME`) is released when the descriptor is closed or the process
    dies, however it dies: no stale lock survives a crash. Raises when another process holds it.
    """
    write_marker(folder, kind)
    fd = os.open(os.path.join(folder, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
        os.close(fd)
        raise DatacleanError(f"{what} {folder} is in use by another dataclean run (pid {holder}); "
                             f"wait for it to finish or give another folder") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def inside(path: str, folder: str) -> bool:
    """True when absolute, normalised ``path`` is ``folder`` or lies below it."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_folder_for_outputs(out: str | os.PathLike[str], root: str | os.PathLike[str], what: str) -> None:
    """Refuse to write dataclean outputs into a user's folder inside the dataset.

    Inside ``root`` only a folder that does not exist yet, an empty one, or one dataclean marked is
    accepted (the scan skips marked folders); the root itself never.
    """
    target = os.path.realpath(out)
    base = os.path.realpath(root)
    if not inside(target, base):
        return
    if target == base:
        raise DatacleanError(f"{what} {out} is the dataset folder itself; give a folder outside it")
    if not os.path.lexists(target) or read_marker(target) is not None:
        return
    if os.path.isdir(target) and is_marked(target, os.listdir(target)):
        return
    if os.path.isdir(target) and not os.listdir(target):
        return
    raise DatacleanError(f"{what} {out} is a folder of the dataset {root} that dataclean did not create; "
                         f"give a new folder (or one outside the dataset)")


def normal_relative(rel: str) -> bool:
    """A manifest path as the audit writes it: relative, POSIX, normalised (no ``.``/``..``/``//``), no NUL."""
    return (bool(rel) and "\0" not in rel and not rel.startswith("/")
            and posixpath.normpath(rel) == rel and rel != "." and not rel.startswith("../") and rel != "..")


def real_folder(path: str) -> bool:
    """True when ``path`` is absolute, normalised and names a real folder with no symlink on the way."""
    return os.path.isabs(path) and os.path.normpath(path) == path and os.path.realpath(path) == path \
        and os.path.isdir(path)


def confined(root: str, rel: str) -> tuple[str | None, str]:
    """``(absolute path, "")`` for ``rel`` inside ``root``, or ``(None, why)`` when it is not confined.

    ``root`` must be a real folder (see :func:`real_folder`); ``rel`` a normalised relative path whose
    folders are real folders, not symlinks (the file itself may be a symlink: it is moved as a link).
    """
    if not normal_relative(rel):
        return None, "not a normalised path relative to the root"
    parts = rel.split("/")
    here = root
    for part in parts[:-1]:
        here = os.path.join(here, part)
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            return os.path.join(root, *parts), ""  # a folder that is gone: the file is simply missing
        except OSError as exc:
            return None, f"folder {here} cannot be read ({exc.strerror})"
        if stat.S_ISLNK(st.st_mode):
            return None, f"folder {here} is a symlink (-> {os.readlink(here)}); files are moved only inside the dataset"
        if not stat.S_ISDIR(st.st_mode):
            return None, f"{here} is not a folder"
    return os.path.join(root, *parts), ""


def make_parents(base: str, path: str) -> None:
    """Create the folders between ``base`` (exists) and ``path``'s parent, refusing to pass a symlink."""
    rel = os.path.relpath(os.path.dirname(path), base)
    if rel == ".":
        return
    if rel.startswith(".."):
        raise DatacleanError(f"refusing to create {path}: outside {base}")
    here = base
    for part in rel.split(os.sep):
        here = os.path.join(here, part)
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            os.mkdir(here)
            continue
        if not stat.S_ISDIR(st.st_mode):  # lstat: a symlink to a folder is not a folder here
            raise DatacleanError(f"refusing to write through {here}: it is not a real folder")


def fsync_dir(folder: str) -> None:
    """Make a rename or unlink in ``folder`` durable (best effort where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def free_space(folder: str) -> str:
    """Free space on ``folder``'s file system, for disk-full messages (e.g. "12.3 MB free")."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return "free space unknown"
    return f"{free / 1e6:.1f} MB free"
