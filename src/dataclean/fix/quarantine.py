"""Move dropped files aside, journaled so every move can be undone, even after a crash.

Protocol per file: compute the MD5, append a JSON line ``{"src", "dst", "md5", "bytes"}`` to the
journal and fsync it, *then* move, then check the MD5 at the destination. A crash therefore leaves
at most one journal line whose move did not happen; ``undo`` sees the file still at ``src`` and
skips it. Nothing is ever deleted or overwritten.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dataclean.errors import DatacleanError
from dataclean.io import file_md5

JOURNAL_NAME = "journal.jsonl"


@dataclass(frozen=True)
class Move:
    """One planned or journaled move of a user's file (absolute paths)."""

    src: str
    dst: str
    md5: str = ""
    bytes: int = -1


@dataclass
class MoveReport:
    """What a quarantine or undo run did."""

    moved: list[Move] = field(default_factory=list)
    skipped: list[Move] = field(default_factory=list)  # already where they should be


def plan_moves(files: Iterable[tuple[str, str]], quarantine_dir: str | os.PathLike[str]) -> list[Move]:
    """Moves for ``(root, relative path)`` pairs into ``quarantine_dir``, keeping relative paths.

    Raises before anything moves if a destination already holds a file that is not this one's
    earlier quarantined copy, or if two files would land on the same destination.
    """
    qdir = Path(quarantine_dir).resolve()
    moves: list[Move] = []
    seen: dict[str, str] = {}
    for root, rel in files:
        src = Path(os.path.abspath(Path(root) / rel))  # abspath, not resolve: move a symlink itself, never its target
        dst = qdir / rel
        if dst == qdir / JOURNAL_NAME:
            raise DatacleanError(f"quarantine: {src} would overwrite the journal {dst}")
        if str(dst) in seen:
            raise DatacleanError(f"quarantine: {src} and {seen[str(dst)]} would both move to {dst}")
        seen[str(dst)] = str(src)
        if os.path.lexists(dst) and os.path.lexists(src):
            raise DatacleanError(f"quarantine destination already exists: {dst} (refusing to overwrite)")
        moves.append(Move(str(src), str(dst)))
    return moves


def journal_append(journal: str | os.PathLike[str], move: Move) -> None:
    """Append one move as a JSON line and fsync it, so it survives a crash right after."""
    path = Path(journal)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(asdict(move), sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_journal(journal: str | os.PathLike[str]) -> list[Move]:
    """The journal's moves in order. A torn last line (crash mid-write) is ignored: its move never ran."""
    path = Path(journal)
    if not path.is_file():
        raise DatacleanError(f"journal not found: {path}")
    lines = path.read_text(encoding="utf-8").splitlines()
    moves: list[Move] = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            moves.append(Move(str(data["src"]), str(data["dst"]), str(data["md5"]), int(data["bytes"])))
        except (ValueError, KeyError, TypeError):
            if n == len(lines):
                break
            raise DatacleanError(f"journal {path} line {n} is not a dataclean move record") from None
    return moves


def _rename_no_overwrite(src: str, dst: str) -> None:
    """Move ``src`` to ``dst``, refusing to overwrite; copies and verifies across filesystems."""
    if os.path.lexists(dst):
        raise DatacleanError(f"refusing to overwrite existing file {dst}")
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise DatacleanError(f"cannot move {src} to {dst}: {exc.strerror}") from None
        shutil.copy2(src, dst)
        if file_md5(dst) != file_md5(src):
            os.unlink(dst)
            raise DatacleanError(f"copy of {src} to {dst} does not match; nothing moved") from None
        os.unlink(src)


def execute_move(move: Move) -> None:
    """Perform one journaled move and check the MD5 at the destination."""
    _rename_no_overwrite(move.src, move.dst)
    if file_md5(move.dst) != move.md5:
        raise DatacleanError(f"quarantine: {move.dst} does not match the MD5 journaled for {move.src}")


def quarantine_files(moves: Iterable[Move], journal: str | os.PathLike[str]) -> MoveReport:
    """Journal then perform each move; a file already quarantined (src gone, dst there) is skipped."""
    report = MoveReport()
    for planned in moves:
        if not os.path.lexists(planned.src) and os.path.lexists(planned.dst):
            report.skipped.append(planned)
            continue
        move = Move(planned.src, planned.dst, file_md5(planned.src), os.path.getsize(planned.src))
        journal_append(journal, move)
        execute_move(move)
        report.moved.append(move)
    return report


def undo(journal: str | os.PathLike[str]) -> MoveReport:
    """Put every journaled file back, newest first, checking MD5 before and after.

    A file already at its source (never moved, or restored before) is skipped, so undo can be run
    again safely. Problems (changed or missing files, occupied sources) do not stop the others;
    they are raised together at the end as one DatacleanError.
    """
    report = MoveReport()
    problems: list[str] = []
    for move in reversed(read_journal(journal)):
        at_src, at_dst = os.path.lexists(move.src), os.path.lexists(move.dst)
        if at_src and not at_dst:
            report.skipped.append(move)
            continue
        if at_src and at_dst:
            problems.append(f"{move.src} exists again; left {move.dst} in quarantine")
            continue
        if not at_dst:
            problems.append(f"{move.dst} is missing (cannot restore {move.src})")
            continue
        if file_md5(move.dst) != move.md5:
            problems.append(f"{move.dst} changed in quarantine (MD5 differs); not restored")
            continue
        try:
            _rename_no_overwrite(move.dst, move.src)
        except DatacleanError as exc:
            problems.append(str(exc))
            continue
        if file_md5(move.src) != move.md5:
            problems.append(f"{move.src} restored but its MD5 differs from the journal")
            continue
        report.moved.append(move)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise DatacleanError(
            f"undo restored {len(report.moved)} file(s) but not all: {problems[0]}{more}")
    return report
