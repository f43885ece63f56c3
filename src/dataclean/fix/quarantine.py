"""Move dropped files aside, journaled so every move can be undone, even after a crash or a full disk.

Protocol per file: the file was verified against the manifest (size, mtime, MD5) by the caller; a
checksummed JSON record ``{"src", "dst", "md5", "bytes", "link"}`` is appended to the journal and
fsynced, *then* the file moves:

* on one file system, by ``rename`` (atomic);
* across file systems, by copying to a hidden temporary (``.NAME.dataclean-partial``) beside the
  destination, fsync, MD5 check, rename into place, then removing the source. A symlink is moved as
  a link (recreated with the same target), never copied by target.

Whatever point a crash (SIGKILL, power, full disk) interrupts, the file exists whole at its source or
its destination, or at both with identical bytes; partial temporaries are removed by the next run,
and the identical extra copy in the quarantine is removed by the next run or by ``undo``. The
journal's first line records the dataset root and the quarantine folder: ``undo`` moves files only
from that quarantine back to that root, at the same relative path, and refuses a journal whose
records point anywhere else. A torn last line (crash mid-append) is cut off before the next append
and ignored by ``undo``. Nothing is ever deleted but dataclean's own temporaries and copies.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataclean.errors import DatacleanError
from dataclean.io import file_md5
from dataclean.safety import (
    JOURNAL_KIND,
    MARKER,
    crashpoint,
    free_space,
    fsync_dir,
    inside,
    make_parents,
    normal_relative,
    read_marker,
    write_marker,
)

JOURNAL_NAME = "journal.jsonl"
PARTIAL_SUFFIX = ".dataclean-partial"
_COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class Move:
    """One planned or journaled move of a user's file (absolute paths).

    ``link`` is the symlink's target text when the file is a symlink (moved as a link), else "".
    """

    src: str
    dst: str
    md5: str = ""
    bytes: int = -1
    link: str = ""


@dataclass
class MoveReport:
    """What a quarantine or undo run did."""

    moved: list[Move] = field(default_factory=list)
    skipped: list[Move] = field(default_factory=list)  # already where they should be
    refused: list[tuple[str, str]] = field(default_factory=list)  # (file, why) left where it is


@dataclass
class Journal:
    """A journal as read back: its header (None for journals written before headers existed), its
    intact move records with their line numbers, and the line numbers of records that are not whole."""

    path: Path
    header: dict[str, Any] | None
    moves: list[tuple[int, Move]]
    bad_lines: list[int]
    torn_tail: bool


def partial_path(path: str) -> str:
    """The temporary a cross-file-system copy to ``path`` is written to before it is renamed into place."""
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}{PARTIAL_SUFFIX}")


def plan_moves(files: Iterable[tuple[str, str]], quarantine_dir: str | os.PathLike[str]) -> list[Move]:
    """Moves for ``(root, relative path)`` pairs into ``quarantine_dir``, keeping relative paths.

    Every pair must share one root (the audit's). Raises before anything moves if a path is not
    confined to that root, if a destination already holds a different file, or if two files would
    land on the same destination.
    """
    qdir = os.path.realpath(quarantine_dir)
    moves: list[Move] = []
    seen: dict[str, str] = {}
    roots: set[str] = set()
    for root, rel in files:
        roots.add(root)
        if len(roots) > 1:
            raise DatacleanError(f"quarantine: files come from several dataset roots ({', '.join(sorted(roots))}); "
                                 f"fix moves files of one audited root only")
        real_root = os.path.realpath(root)
        if qdir == real_root or inside(real_root, qdir):
            raise DatacleanError(f"quarantine folder {quarantine_dir} is or contains the dataset {root}; "
                                 f"give another folder")
        if not normal_relative(rel):
            raise DatacleanError(f"quarantine: {rel!r} under {root} is not a normalised relative path")
        src = os.path.join(root, *rel.split("/"))  # confined() is checked again for each file before it moves
        dst = os.path.join(qdir, *rel.split("/"))
        if dst in (os.path.join(qdir, JOURNAL_NAME), os.path.join(qdir, MARKER)):
            raise DatacleanError(f"quarantine: {src} would overwrite the journal {dst}")
        if dst in seen:
            raise DatacleanError(f"quarantine: {src} and {seen[dst]} would both move to {dst}")
        seen[dst] = src
        if os.path.lexists(dst) and os.path.lexists(src) and not _same_file_content(src, dst):
            raise DatacleanError(f"quarantine destination already exists: {dst} (refusing to overwrite)")
        moves.append(Move(src, dst))
    return moves


# ---------------------------------------------------------------------------------------------- journal

def _seal(record: dict[str, Any]) -> str:
    """One journal line: the record with a checksum of its canonical JSON, so a torn line is detected."""
    body = json.dumps(record, sort_keys=True)
    check = hashlib.sha256(body.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return json.dumps({**record, "check": check}, sort_keys=True) + "\n"


def _unseal(line: str) -> tuple[dict[str, Any] | None, bool]:
    """``(record, sealed)`` for a journal line, or ``(None, False)`` when it is not a whole record."""
    try:
        data = json.loads(line)
    except ValueError:
        return None, False
    if not isinstance(data, dict):
        return None, False
    check = data.pop("check", None)
    if check is None:
        return data, False
    body = json.dumps(data, sort_keys=True)
    ok = hashlib.sha256(body.encode("utf-8", "surrogateescape")).hexdigest()[:16] == check
    return (data, True) if ok else (None, False)


def _as_move(data: dict[str, Any]) -> Move | None:
    try:
        src, dst, md5 = data["src"], data["dst"], data["md5"]
        size = int(data["bytes"])
        link = data.get("link", "")
    except (KeyError, TypeError, ValueError):
        return None
    if not all(isinstance(v, str) for v in (src, dst, md5, link)):
        return None
    return Move(src, dst, md5, size, link)


def load_journal(journal: str | os.PathLike[str]) -> Journal:
    """Read a journal: header, intact records, and which lines are not whole records."""
    path = Path(journal)
    if not path.is_file():
        raise DatacleanError(f"journal not found: {path}")
    raw = path.read_bytes()
    torn = bool(raw) and not raw.endswith(b"\n")
    lines = raw.decode("utf-8", "surrogateescape").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    header: dict[str, Any] | None = None
    moves: list[tuple[int, Move]] = []
    bad: list[int] = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if torn and n == len(lines):
            continue  # cut mid-append: its move never started
        data, sealed = _unseal(line)
        if data is None:
            bad.append(n)
            continue
        if n == 1 and data.get("kind") == JOURNAL_KIND:
            if not sealed or not isinstance(data.get("root"), str) or not isinstance(data.get("quarantine"), str):
                bad.append(n)
            header = data if sealed else None
            continue
        move = _as_move(data)
        if move is None or (header is not None and not sealed):
            bad.append(n)
            continue
        moves.append((n, move))
    if bad and bad[0] == 1 and header is None and lines and JOURNAL_KIND in lines[0]:
        raise DatacleanError(f"journal {path}: its header (line 1) is damaged; cannot tell which dataset it belongs to")
    return Journal(path, header, moves, bad, torn)


def read_journal(journal: str | os.PathLike[str]) -> list[Move]:
    """The journal's intact moves in order (torn or damaged lines are left out)."""
    return [m for _, m in load_journal(journal).moves]


class JournalWriter:
    """Appends to a quarantine's journal: one writer at a time (a lock), a torn tail cut off first."""

    def __init__(self, journal: str | os.PathLike[str], root: str, quarantine: str) -> None:
        self.path = str(journal)
        self.root, self.quarantine = root, quarantine
        folder = os.path.dirname(self.path)
        os.makedirs(folder, exist_ok=True)
        marker = read_marker(folder)
        if marker is not None and marker.get("kind") == "quarantine" and marker.get("root") not in (None, root):
            raise DatacleanError(f"quarantine folder {folder} holds files of the dataset {marker.get('root')}, "
                                 f"not {root}; give another folder")
        write_marker(folder, "quarantine", root=root)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise DatacleanError(f"journal {self.path} is in use by another dataclean fix; wait for it to finish") from None
        try:
            self._prepare()
        except BaseException:
            os.close(self.fd)
            raise

    def _prepare(self) -> None:
        size = os.fstat(self.fd).st_size
        if size == 0:
            self._write(_seal({"kind": JOURNAL_KIND, "version": 2, "root": self.root, "quarantine": self.quarantine}))
            fsync_dir(os.path.dirname(self.path))
            return
        with open(self.path, "rb") as fh:
            raw = fh.read()
        if not raw.endswith(b"\n"):  # a torn tail: cut it off so the next record starts on its own line
            os.ftruncate(self.fd, raw.rfind(b"\n") + 1)
            os.fsync(self.fd)
        j = load_journal(self.path)
        if j.header is None:
            if raw.rfind(b"\n") < 0 or not j.moves:
                return
            return  # a journal from before headers: appended to as it is
        if j.header["root"] != self.root or j.header["quarantine"] != self.quarantine:
            raise DatacleanError(f"journal {self.path} records moves of {j.header['root']} into "
                                 f"{j.header['quarantine']}, not of {self.root}; give another quarantine folder")

    def _write(self, line: str) -> None:
        data = line.encode("utf-8", "surrogateescape")
        before = os.fstat(self.fd).st_size
        try:
            written = os.write(self.fd, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, "short write")
            os.fsync(self.fd)
        except OSError as exc:
            try:
                os.ftruncate(self.fd, before)
            except OSError:
                pass
            raise DatacleanError(f"cannot write the journal {self.path}: {exc.strerror or exc} "
                                 f"({free_space(os.path.dirname(self.path))}); nothing more was moved") from None

    def append(self, move: Move) -> None:
        self._write(_seal({"src": move.src, "dst": move.dst, "md5": move.md5, "bytes": move.bytes, "link": move.link}))

    def close(self) -> None:
        os.close(self.fd)


def journal_append(journal: str | os.PathLike[str], move: Move) -> None:
    """Append one move (root and quarantine taken from the move itself); for tests and tools."""
    qdir = os.path.dirname(os.path.abspath(journal))
    rel = os.path.relpath(move.dst, qdir)
    root = move.src[: len(move.src) - len(rel) - 1]
    writer = JournalWriter(journal, root, qdir)
    try:
        writer.append(move)
    finally:
        writer.close()


# ---------------------------------------------------------------------------------------------- moving

def _same_file_content(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are the same link or regular files with the same bytes."""
    try:
        sa, sb = os.lstat(a), os.lstat(b)
        if stat.S_ISLNK(sa.st_mode) or stat.S_ISLNK(sb.st_mode):
            return stat.S_ISLNK(sa.st_mode) and stat.S_ISLNK(sb.st_mode) and os.readlink(a) == os.readlink(b)
        if not (stat.S_ISREG(sa.st_mode) and stat.S_ISREG(sb.st_mode)) or sa.st_size != sb.st_size:
            return False
        return file_md5(a) == file_md5(b)
    except OSError:
        return False


def _matches(path: str, move: Move) -> bool:
    """True when ``path`` holds what the journal recorded: the same link, or a regular file with its MD5."""
    try:
        st = os.lstat(path)
        if move.link:
            return stat.S_ISLNK(st.st_mode) and os.readlink(path) == move.link
        return stat.S_ISREG(st.st_mode) and file_md5(path) == move.md5
    except OSError:
        return False


def remove_partial(path: str) -> None:
    """Remove the temporary of an interrupted copy to ``path``, if one is there (never anything else)."""
    tmp = partial_path(path)
    try:
        st = os.lstat(tmp)
    except OSError:
        return
    if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
        os.unlink(tmp)
        fsync_dir(os.path.dirname(tmp))


def _copy_verified(src: str, tmp: str, md5: str) -> None:
    """Copy ``src``'s bytes to a new file ``tmp``, fsync it and check its MD5; keep times and mode."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    h = hashlib.md5()
    with open(src, "rb") as fin:
        fd = os.open(tmp, flags, 0o600)
        with os.fdopen(fd, "wb") as fout:
            while block := fin.read(_COPY_CHUNK):
                fout.write(block)
                h.update(block)
                crashpoint()
            fout.flush()
            os.fsync(fout.fileno())
    shutil.copystat(src, tmp)
    if h.hexdigest() != md5 or file_md5(tmp) != md5:
        raise DatacleanError(f"copy of {src} to {tmp} does not match its MD5 {md5}; nothing moved")


def transfer(src: str, dst: str, move: Move, dst_base: str) -> None:
    """Move ``src`` to ``dst`` (which must not exist), creating folders only below ``dst_base``.

    Same file system: one rename. Across file systems: copy to the partial temporary, fsync, verify,
    rename into place, then remove ``src``; a symlink is recreated as a link.
    """
    if os.path.lexists(dst):
        raise DatacleanError(f"refusing to overwrite existing file {dst}")
    make_parents(dst_base, dst)
    try:  # no folder fsync needed here: a rename a crash undoes leaves the file at its source, whole
        os.rename(src, dst)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise DatacleanError(f"cannot move {src} to {dst}: {exc.strerror}") from None
    tmp = partial_path(dst)
    remove_partial(dst)
    try:
        if move.link:
            os.symlink(move.link, tmp)
            st = os.lstat(src)
            os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
        else:
            _copy_verified(src, tmp, move.md5)
        crashpoint()
        if os.path.lexists(dst):
            raise DatacleanError(f"refusing to overwrite existing file {dst}")
        os.rename(tmp, dst)
        fsync_dir(os.path.dirname(dst))  # the copy's name must be on disk before the source goes
    except OSError as exc:
        _unlink_quietly(tmp)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DatacleanError(f"no space left writing {dst} ({move.bytes} bytes needed, "
                                 f"{free_space(os.path.dirname(dst))}); {src} was left in place") from None
        raise DatacleanError(f"cannot copy {src} to {dst}: {exc.strerror or exc}; {src} was left in place") from None
    except BaseException:
        _unlink_quietly(tmp)
        raise
    crashpoint()
    os.unlink(src)  # only once the copy's name is durable (fsync above); an unlink a crash undoes is harmless


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def execute_move(move: Move, dst_base: str | None = None) -> None:
    """Perform one journaled move (folders created below ``dst_base``, default: the destination's parent)."""
    transfer(move.src, move.dst, move, dst_base or os.path.dirname(move.dst))


@contextmanager
def _writer(journal: str | os.PathLike[str], root: str, quarantine: str) -> Iterator[JournalWriter]:
    w = JournalWriter(journal, root, quarantine)
    try:
        yield w
    finally:
        w.close()


def quarantine_files(moves: Iterable[Move], journal: str | os.PathLike[str], root: str | None = None) -> MoveReport:
    """Journal then perform each verified move; a file already quarantined (src gone, dst there) is skipped.

    ``moves`` carry their MD5 (see :func:`prepare_move`); those without are verified here.
    """
    report = MoveReport()
    moves = list(moves)
    qdir = os.path.dirname(os.path.realpath(journal))
    if root is None:
        root = _common_root(moves, qdir)
    with _writer(journal, root, qdir) as writer:
        for planned in moves:
            remove_partial(planned.dst)
            remove_partial(planned.src)
            at_src, at_dst = os.path.lexists(planned.src), os.path.lexists(planned.dst)
            if not at_src and at_dst:
                report.skipped.append(planned)
                continue
            move = planned if planned.md5 else prepare_move(planned)
            if at_dst:  # an earlier run copied it, then died before removing the source: drop our copy
                if not _same_file_content(move.src, move.dst):
                    raise DatacleanError(f"quarantine destination already exists: {move.dst} (refusing to overwrite)")
                os.unlink(move.dst)
            writer.append(move)
            crashpoint()
            transfer(move.src, move.dst, move, qdir)
            report.moved.append(move)
    return report


def _common_root(moves: list[Move], qdir: str) -> str:
    roots = {m.src[: len(m.src) - len(os.path.relpath(m.dst, qdir)) - 1] for m in moves}
    if len(roots) != 1:
        raise DatacleanError(f"quarantine: moves from several roots or outside {qdir}")
    return roots.pop()


def prepare_move(move: Move) -> Move:
    """``move`` with the source's MD5, size and link target as they are now (raises if it cannot be read)."""
    st = os.lstat(move.src)
    if stat.S_ISLNK(st.st_mode):
        target = os.stat(move.src)  # raises for a dangling link or a loop
        return Move(move.src, move.dst, file_md5(move.src), target.st_size, os.readlink(move.src))
    return Move(move.src, move.dst, file_md5(move.src), st.st_size)


# ---------------------------------------------------------------------------------------------- undo

def _journal_places(j: Journal) -> tuple[str, str]:
    """The dataset root and quarantine folder a journal's moves must stay within."""
    qdir = os.path.dirname(os.path.realpath(j.path))
    if j.header is not None:
        root, recorded = j.header["root"], j.header["quarantine"]
        if recorded != qdir:
            raise DatacleanError(f"journal {j.path} was written for the quarantine {recorded}, not {qdir}; "
                                 f"undo runs on the journal inside its own quarantine folder")
        return root, qdir
    roots = set()
    for _, m in j.moves:  # a journal from before headers: the root is what precedes the relative path
        rel = os.path.relpath(m.dst, qdir)
        if m.src.endswith(os.sep + rel):
            roots.add(m.src[: -len(rel) - 1])
    if len(roots) != 1:
        raise DatacleanError(f"journal {j.path}: its records do not share one dataset root; refusing to undo anything")
    return roots.pop(), qdir


def _check_confined(j: Journal, root: str, qdir: str) -> None:
    for n, m in j.moves:
        rel = os.path.relpath(m.dst, qdir) if os.path.isabs(m.dst) else ""
        if not (rel and normal_relative(rel.replace(os.sep, "/")) and m.dst == os.path.join(qdir, rel)
                and m.src == os.path.join(root, rel)):
            raise DatacleanError(f"journal {j.path} line {n} moves {m.dst} to {m.src}, outside its quarantine "
                                 f"{qdir} or dataset {root}; refusing to undo anything")
    if not os.path.isdir(root) or os.path.realpath(root) != root:
        raise DatacleanError(f"journal {j.path}: its dataset folder {root} is not a folder; nothing restored")


def undo(journal: str | os.PathLike[str]) -> MoveReport:
    """Put every journaled file back, newest record first, checking it before and after.

    A file already at its source (never moved, or restored before) is skipped, so undo can be run
    again safely; repeated records of one file (several fix runs) count once. Problems (changed or
    missing files, occupied sources, damaged journal lines) do not stop the others; they are raised
    together at the end as one DatacleanError.
    """
    j = load_journal(journal)
    root, qdir = _journal_places(j)
    _check_confined(j, root, qdir)
    report = MoveReport()
    problems = [f"journal {j.path} line {n} is not a whole dataclean move record (skipped)" for n in j.bad_lines]
    done: set[str] = set()
    for _, move in reversed(j.moves):
        if move.src in done:
            continue
        done.add(move.src)
        remove_partial(move.src)
        remove_partial(move.dst)
        at_src, at_dst = os.path.lexists(move.src), os.path.lexists(move.dst)
        if at_src and at_dst and _matches(move.src, move) and _matches(move.dst, move):
            os.unlink(move.dst)  # an interrupted undo: the file is back whole; drop the quarantine copy
            fsync_dir(os.path.dirname(move.dst))
            report.moved.append(move)
            continue
        if at_src and not at_dst:
            report.skipped.append(move)
            continue
        if at_src and at_dst:
            problems.append(f"{move.src} exists again; left {move.dst} in quarantine")
            continue
        if not at_dst:
            problems.append(f"{move.dst} is missing (cannot restore {move.src})")
            continue
        if not _matches(move.dst, move):
            problems.append(f"{move.dst} changed in quarantine (MD5 differs); not restored")
            continue
        try:
            transfer(move.dst, move.src, move, root)
        except DatacleanError as exc:
            problems.append(str(exc))
            continue
        report.moved.append(move)
        crashpoint()
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise DatacleanError(
            f"undo restored {len(report.moved)} file(s) but not all: {problems[0]}{more}")
    return report
