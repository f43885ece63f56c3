"""Quarantine moves and undo: journal first, MD5 checked, never overwrite, crash-safe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataclean.errors import DatacleanError
from dataclean.fix.quarantine import Move, execute_move, journal_append, plan_moves, quarantine_files, read_journal, undo
from dataclean.io import file_md5
from fix_helpers import md5_of, write_png

FILES = ["cats/a.png", "cats/sub/b.png", "dogs/c.png"]


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "data"
    for shade, rel in enumerate(FILES):
        write_png(root / rel, shade * 40)
    return root, {rel: md5_of(root / rel) for rel in FILES}


def planned(root: Path, qdir: Path) -> list[Move]:
    return plan_moves(((str(root), rel) for rel in FILES), qdir)


def test_round_trip(dataset: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, md5s = dataset
    qdir, journal = tmp_path / "q", tmp_path / "q" / "journal.jsonl"
    report = quarantine_files(planned(root, qdir), journal)
    assert len(report.moved) == 3 and not any((root / rel).exists() for rel in FILES)
    assert {rel: md5_of(qdir / rel) for rel in FILES} == md5s
    header, *entries = [json.loads(line) for line in journal.read_text().splitlines()]
    assert (header["kind"], header["root"], header["quarantine"]) == (
        "dataclean-quarantine-journal", str(root.resolve()), str(qdir.resolve()))
    assert [(e["src"], e["dst"], e["md5"], e["link"]) for e in entries] == [
        (str((root / rel).resolve()), str((qdir / rel).resolve()), md5s[rel], "") for rel in FILES]
    assert [(m.src, m.md5) for m in read_journal(journal)] == [(e["src"], e["md5"]) for e in entries]
    back = undo(journal)
    assert (len(back.moved), len(back.skipped)) == (3, 0)
    assert {rel: md5_of(root / rel) for rel in FILES} == md5s
    assert not any((qdir / rel).exists() for rel in FILES)
    again = undo(journal)  # idempotent
    assert (len(again.moved), len(again.skipped)) == (0, 3)


@pytest.mark.parametrize("moved_before_crash", [0, 1, 2], ids=["crash-before-first-move", "after-one", "after-two"])
def test_crash_between_journal_and_move(dataset: tuple[Path, dict[str, str]], tmp_path: Path,
                                        moved_before_crash: int) -> None:
    """Journal lines for every file, but the process died before moving the rest."""
    root, md5s = dataset
    journal = tmp_path / "q" / "journal.jsonl"
    moves = [Move(m.src, m.dst, file_md5(m.src), Path(m.src).stat().st_size) for m in planned(root, tmp_path / "q")]
    for k, move in enumerate(moves):
        journal_append(journal, move)
        if k < moved_before_crash:
            execute_move(move, str(tmp_path / "q"))
    report = undo(journal)
    assert (len(report.moved), len(report.skipped)) == (moved_before_crash, 3 - moved_before_crash)
    assert {rel: md5_of(root / rel) for rel in FILES} == md5s


def test_crash_after_move_with_torn_journal_tail(dataset: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """A move happened, then the next journal line was cut mid-write: undo restores, ignores the tail."""
    root, md5s = dataset
    journal = tmp_path / "q" / "journal.jsonl"
    quarantine_files(planned(root, tmp_path / "q")[:1], journal)
    with open(journal, "a", encoding="utf-8") as fh:
        fh.write('{"bytes": 12, "dst": "/nowhere')
    assert len(read_journal(journal)) == 1
    assert len(undo(journal).moved) == 1
    assert {rel: md5_of(root / rel) for rel in FILES} == md5s


def test_damaged_line_in_the_middle_does_not_strand_the_others(dataset: tuple[Path, dict[str, str]],
                                                                  tmp_path: Path) -> None:
    """Every intact record is restored; the damaged one is named in the error."""
    root, md5s = dataset
    qdir = tmp_path / "q"
    journal = qdir / "journal.jsonl"
    quarantine_files(planned(root, qdir), journal)
    lines = journal.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace('"bytes": ', '"bytes": 1')  # the checksum no longer matches: not a whole record
    journal.write_text("".join(lines))
    with pytest.raises(DatacleanError) as info:
        undo(journal)
    assert str(info.value) == (f"undo restored 2 file(s) but not all: journal {journal} line 3 is not a whole "
                               f"dataclean move record (skipped)")
    assert md5_of(root / "cats/a.png") == md5s["cats/a.png"] and md5_of(root / "dogs/c.png") == md5s["dogs/c.png"]
    assert not (root / "cats/sub/b.png").exists() and md5_of(qdir / "cats/sub/b.png") == md5s["cats/sub/b.png"]


def test_never_overwrites_destination(dataset: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, _ = dataset
    qdir = tmp_path / "q"
    write_png(qdir / "cats/a.png", 200)
    with pytest.raises(DatacleanError) as info:
        planned(root, qdir)
    assert str(info.value) == (f"quarantine destination already exists: {(qdir / 'cats/a.png').resolve()} "
                               f"(refusing to overwrite)")
    assert all((root / rel).exists() for rel in FILES)


def test_already_quarantined_files_are_skipped(dataset: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, _ = dataset
    journal = tmp_path / "q" / "journal.jsonl"
    quarantine_files(planned(root, tmp_path / "q"), journal)
    report = quarantine_files(planned(root, tmp_path / "q"), journal)
    assert (len(report.moved), len(report.skipped)) == (0, 3)
    assert len(read_journal(journal)) == 3


def test_undo_refuses_changed_or_displaced_files(dataset: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, md5s = dataset
    qdir = tmp_path / "q"
    journal = qdir / "journal.jsonl"
    quarantine_files(planned(root, qdir), journal)
    (qdir / "cats/a.png").write_bytes(b"edited")  # changed while in quarantine
    write_png(root / "dogs/c.png", 255)  # a new file took the original's place
    with pytest.raises(DatacleanError) as info:
        undo(journal)
    assert str(info.value) == (
        f"undo restored 1 file(s) but not all: {root.resolve() / 'dogs/c.png'} exists again; "
        f"left {qdir.resolve() / 'dogs/c.png'} in quarantine (and 1 more)")
    assert md5_of(root / "cats/sub/b.png") == md5s["cats/sub/b.png"]
    assert (qdir / "cats/a.png").read_bytes() == b"edited" and (qdir / "dogs/c.png").exists()


def test_missing_journal(tmp_path: Path) -> None:
    with pytest.raises(DatacleanError, match="^journal not found: "):
        undo(tmp_path / "nope.jsonl")
