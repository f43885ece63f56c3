"""Data safety (issue 12, items 1-5): fix moves only files inside the audited root, the journal
survives a torn line, cross-file-system moves and symlinks, folders never vanish from the scan."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from dataclean.cli import main
from dataclean.fix.quarantine import Move, load_journal, quarantine_files, undo
from dataclean.manifest import manifest_digest
from dataclean.safety import MARKER
from fix_helpers import make_manifest, md5_of, row, write_png

SHM = Path("/dev/shm")
OTHER_FS = SHM.is_dir() and os.stat(SHM).st_dev != os.stat("/tmp").st_dev


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [*map(str, args)])


def specs() -> list[dict]:
    s = [row(f"cats/c{i}.png", shade=10 + i) for i in range(4)] + [row(f"dogs/d{i}.png", shade=100 + i) for i in range(4)]
    s += [row("cats/copy.png", shade=10, issues="exact_duplicate", group="g1"),
          row("cats/broken.png", raw=b"garbage", issues="corrupt", error="decode_error")]
    s[0].update(issues="exact_duplicate", group="g1")
    return s


def audited(tmp_path: Path) -> tuple[Path, Path]:
    """A dataset audited by the real CLI: (root, manifest) with summary.json beside it."""
    root = tmp_path / "data"
    for i in range(4):
        write_png(root / "cats" / f"c{i}.png", 10 + i)
        write_png(root / "dogs" / f"d{i}.png", 100 + i)
    write_png(root / "cats" / "copy.png", 10)
    (root / "cats" / "broken.png").write_bytes(b"garbage")
    result = run("audit", root, "--out", tmp_path / "audit", "-j", "0", "-q")
    assert result.exit_code == 0, result.output
    return root, tmp_path / "audit" / "manifest.csv"


def snapshot(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): md5_of(p) for p in folder.rglob("*") if p.is_file() and not p.is_symlink()}


# ----------------------------------------------------------------------------------- 1. root confinement

def test_audit_records_the_manifest_checksum(tmp_path: Path) -> None:
    _, manifest = audited(tmp_path)
    summary = json.loads((manifest.parent / "summary.json").read_text())
    assert summary["manifest"] == {"rows": 10, "sha256": manifest_digest(manifest)}


@pytest.mark.parametrize("edit", ["foreign-row", "dotdot-root", "truncated"], ids=["foreign-row", "dotdot-root", "truncated"])
def test_edited_audit_manifest_is_refused(tmp_path: Path, edit: str) -> None:
    root, manifest = audited(tmp_path)
    outside = tmp_path / "elsewhere"
    write_png(outside / "secret.jpg", 77)
    df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    if edit == "foreign-row":
        df.loc[len(df)] = {**{c: "" for c in df.columns}, "root": str(outside), "path": "secret.jpg",
                           "issues": "corrupt", "error": "decode_error"}
        df.to_csv(manifest, index=False)
        expected = f"manifest {manifest} has 11 rows but the audit wrote 10 (summary.json)"
    elif edit == "dotdot-root":
        df["root"] = str(root / ".." / "elsewhere")
        df.to_csv(manifest, index=False)
        expected = f"manifest {manifest} does not match the summary.json beside it (its SHA-256 differs"
    else:
        data = manifest.read_bytes()
        manifest.write_bytes(data[: data.index(b"\n") + 40])  # header + part of a row
        expected = f"manifest {manifest} ends in the middle of a row"
    result = run("fix", "--manifest", manifest, "--quarantine", tmp_path / "q")
    assert result.exit_code == 2 and result.stderr.startswith(f"Error: {expected}"), result.output
    assert (outside / "secret.jpg").exists() and not (tmp_path / "q").exists()


def test_rows_must_share_one_real_root(tmp_path: Path) -> None:
    """Without summary.json the manifest itself must still name one real root."""
    root = tmp_path / "data"
    manifest = make_manifest(root, specs())
    outside = tmp_path / "elsewhere"
    write_png(outside / "secret.jpg", 77)
    df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    df.loc[len(df)] = {**{c: "" for c in df.columns}, "root": str(outside), "path": "secret.jpg",
                       "issues": "corrupt", "error": "decode_error"}
    df.to_csv(manifest, index=False)
    result = run("fix", "--manifest", manifest, "--quarantine", tmp_path / "q")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: manifest {manifest} lists files of several roots ("), result.stderr
    df = df.iloc[:-1].copy()
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    df["root"] = str(root / ".." / "decoy")
    df.to_csv(manifest, index=False)
    result = run("fix", "--manifest", manifest, "--quarantine", tmp_path / "q")
    assert (result.exit_code, result.stderr) == (2, f"Error: manifest {manifest}: root {root / '..' / 'decoy'} is not an "
                                                   f"absolute real path (it resolves to {decoy}); re-run dataclean audit\n")
    assert (outside / "secret.jpg").exists() and snapshot(root) == {s["path"]: md5_of(root / s["path"]) for s in specs()}


def test_never_moves_through_a_symlinked_folder(tmp_path: Path) -> None:
    root = tmp_path / "data"
    outside = tmp_path / "elsewhere"
    write_png(outside / "secret.png", 77)
    (root / "cats").mkdir(parents=True)
    (root / "cats" / "link").symlink_to(outside)
    manifest = make_manifest(root, [*specs(), row("cats/link/secret.png", shade=77, issues="corrupt", error="decode_error")])
    result = run("fix", "--manifest", manifest, "--quarantine", tmp_path / "q")
    assert result.exit_code == 0, result.output
    assert (outside / "secret.png").exists() and not (tmp_path / "q" / "cats" / "link").exists()
    assert f"  {root / 'cats' / 'link' / 'secret.png'}: folder {root / 'cats' / 'link'} is a symlink" in result.stderr
    assert sorted(snapshot(tmp_path / "q")) == [MARKER, "cats/broken.png", "cats/copy.png", "journal.jsonl"]


def test_changed_content_with_restored_mtime_is_not_moved(tmp_path: Path) -> None:
    root = tmp_path / "data"
    manifest = make_manifest(root, specs())
    file = root / "cats" / "copy.png"
    st = file.stat()
    data = bytearray(file.read_bytes())
    data[-1] ^= 0xFF
    file.write_bytes(bytes(data))
    os.utime(file, ns=(st.st_atime_ns, st.st_mtime_ns))
    result = run("fix", "--manifest", manifest, "--quarantine", tmp_path / "q")
    assert (result.exit_code, result.stderr) == (2, f"Error: manifest {manifest} is stale: {file} changed since the "
                                                   f"audit (MD5 differs); re-run dataclean audit (nothing was moved)\n")
    assert (root / "cats" / "broken.png").exists() and file.exists()


def quarantined(tmp_path: Path) -> tuple[Path, Path, Path]:
    root = tmp_path / "data"
    manifest = make_manifest(root, specs())
    qdir = tmp_path / "q"
    assert run("fix", "--manifest", manifest, "--quarantine", qdir, "-q").exit_code == 0
    return root, qdir, qdir / "journal.jsonl"


@pytest.mark.parametrize("where", ["src-outside-root", "dst-outside-quarantine", "src-elsewhere-in-root"],
                         ids=["src-outside-root", "dst-outside-quarantine", "src-elsewhere-in-root"])
def test_undo_refuses_a_journal_pointing_elsewhere(tmp_path: Path, where: str) -> None:
    root, qdir, journal = quarantined(tmp_path)
    victim = tmp_path / "victim" / "deep" / "x.png"
    records = load_journal(journal).moves
    good = records[0][1]
    src, dst = {"src-outside-root": (str(victim), str(qdir / "x.png")),
                "dst-outside-quarantine": (str(root / "cats/x.png"), str(tmp_path / "x.png")),
                "src-elsewhere-in-root": (str(root / "dogs/evil.png"), good.dst)}[where]
    write_png(Path(dst), 5)
    from dataclean.fix.quarantine import _seal

    with open(journal, "a") as fh:
        fh.write(_seal({"src": src, "dst": dst, "md5": md5_of(Path(dst)), "bytes": 1, "link": ""}))
    before = snapshot(tmp_path)
    result = run("fix", "--undo", journal)
    assert result.exit_code == 2
    assert result.stderr == (f"Error: journal {journal} line 4 moves {dst} to {src}, outside its quarantine {qdir} or "
                             f"dataset {root}; refusing to undo anything\n")
    assert snapshot(tmp_path) == before and not (tmp_path / "victim").exists()


# ----------------------------------------------------------------------------------- 2. torn journal

def test_resume_after_a_torn_journal_line_then_undo_restores_everything(tmp_path: Path) -> None:
    root = tmp_path / "data"
    manifest = make_manifest(root, [*specs(), *(row(f"cats/z{i}.png", shade=200 + i, issues="corrupt",
                                                    error="decode_error") for i in range(3))])
    original = snapshot(root)
    qdir = tmp_path / "q"
    journal = qdir / "journal.jsonl"
    first = quarantine_files([Move(str(root / "cats/z0.png"), str(qdir / "cats/z0.png"))], journal, root=str(root))
    assert len(first.moved) == 1
    with open(journal, "a") as fh:
        fh.write('{"bytes": 12, "dst": "' + str(qdir))  # disk full / SIGKILL mid-append
    result = run("fix", "--manifest", manifest, "--quarantine", qdir, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["quarantine"] | {"left_in_place": []} == {
        "planned": 5, "moved": 4, "already": 1, "journal": str(journal), "left_in_place": []}
    assert journal.read_bytes().endswith(b"\n") and not load_journal(journal).bad_lines
    back = run("fix", "--undo", journal)
    assert (back.exit_code, back.output) == (0, "restored 5 file(s); 0 already in place\n")
    assert snapshot(root) == original


# ----------------------------------------------------------------------------------- 3-4. other file systems, symlinks

@pytest.mark.skipif(not OTHER_FS, reason="needs /dev/shm on another file system than /tmp")
def test_cross_filesystem_round_trip_keeps_bytes_times_and_links(tmp_path: Path) -> None:
    root = tmp_path / "data"
    secret = tmp_path / "outside.txt"
    secret.write_text("not an image\n")
    (root / "cats").mkdir(parents=True)
    (root / "cats" / "link.png").symlink_to(secret)
    manifest = make_manifest(root, specs())
    df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    st = secret.stat()
    df.loc[len(df)] = {**{c: "" for c in df.columns}, "root": str(root), "path": "cats/link.png", "label": "cats",
                       "bytes": str(st.st_size), "mtime": repr(st.st_mtime), "md5": md5_of(secret),
                       "issues": "corrupt", "error": "not_an_image"}
    df.to_csv(manifest, index=False)
    times = {p: p.lstat().st_mtime_ns for p in root.rglob("*")}
    original = snapshot(root)
    import tempfile

    with tempfile.TemporaryDirectory(dir=SHM) as shm:
        qdir = Path(shm) / "q"
        result = run("fix", "--manifest", manifest, "--quarantine", qdir)
        assert result.exit_code == 0, result.output
        assert (qdir / "cats" / "link.png").is_symlink() and os.readlink(qdir / "cats" / "link.png") == str(secret)
        assert not (root / "cats" / "link.png").is_symlink() and not (root / "cats" / "copy.png").exists()
        assert md5_of(qdir / "cats" / "copy.png") == original["cats/copy.png"]
        assert not list(Path(shm).rglob("*.dataclean-partial")) and secret.read_text() == "not an image\n"
        back = run("fix", "--undo", qdir / "journal.jsonl")
        assert (back.exit_code, back.output) == (0, "restored 3 file(s); 0 already in place\n")
        assert snapshot(root) == original and (root / "cats" / "link.png").is_symlink()
        assert {p: p.lstat().st_mtime_ns for p in root.rglob("*") if not p.is_dir()} == {
            p: t for p, t in times.items() if not p.is_dir()}
        assert sorted(p.name for p in qdir.rglob("*") if not p.is_dir()) == [MARKER, "journal.jsonl"]


def test_undo_finishes_an_interrupted_cross_device_restore(tmp_path: Path) -> None:
    """The state a kill leaves between "renamed into place" and "quarantine copy removed"."""
    root, qdir, journal = quarantined(tmp_path)
    import shutil

    shutil.copy2(qdir / "cats" / "copy.png", root / "cats" / "copy.png")
    (qdir / "cats" / ".broken.png.dataclean-partial").write_bytes(b"gar")  # a partial copy left by a kill
    result = run("fix", "--undo", journal)
    assert (result.exit_code, result.output) == (0, "restored 2 file(s); 0 already in place\n")
    assert not list(qdir.rglob("*.png")) and (root / "cats" / "broken.png").read_bytes() == b"garbage"


# ----------------------------------------------------------------------------------- 5. folders never vanish

def test_a_users_journal_file_does_not_hide_its_class(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for i in range(3):
        write_png(root / "cats" / f"c{i}.png", 10 + i)
        write_png(root / "dogs" / f"d{i}.png", 100 + i)
    (root / "cats" / "journal.jsonl").write_text('{"step": 1, "loss": 0.5}\n')
    result = run("audit", root, "--out", tmp_path / "audit", "-j", "0", "--format", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["classes"]["cats"]["files"] == 4 and summary["files"] == 7


def test_quarantine_inside_the_dataset_is_skipped_by_the_next_audit(tmp_path: Path) -> None:
    root = tmp_path / "data"
    manifest = make_manifest(root, specs())
    qdir = root / "_quarantine"
    assert run("fix", "--manifest", manifest, "--quarantine", qdir, "-q").exit_code == 0
    result = run("audit", root, "--out", tmp_path / "audit2", "-j", "0", "--format", "json")
    assert json.loads(result.output)["files"] == 8  # the two quarantined files are not audited again


def test_symlinked_class_folder_is_reported(tmp_path: Path) -> None:
    root, elsewhere = tmp_path / "data", tmp_path / "birds"
    for i in range(2):
        write_png(root / "cats" / f"c{i}.png", 10 + i)
        write_png(elsewhere / f"b{i}.png", 100 + i)
    (root / "birds").symlink_to(elsewhere)
    result = run("audit", root, "--out", tmp_path / "audit", "-j", "0", "--format", "json")
    assert json.loads(result.output)["symlinked_dirs"] == {"birds": str(elsewhere)}
    text = run("audit", root, "--out", tmp_path / "audit", "-j", "0")
    assert f"symlinked folder not followed: birds -> {elsewhere}" in " ".join(text.output.split())


def test_out_inside_the_dataset(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for i in range(2):
        write_png(root / "cats" / f"c{i}.png", 10 + i)
        write_png(root / "dogs" / f"d{i}.png", 100 + i)
    result = run("audit", root, "--out", root / "cats", "-j", "0", "-q")
    assert (result.exit_code, result.stderr) == (
        2, f"Error: --out {root / 'cats'} is a folder of the dataset {root} that dataclean did not create; "
           f"give a new folder (or one outside the dataset)\n")
    assert sorted(p.name for p in (root / "cats").iterdir()) == ["c0.png", "c1.png"]
    assert run("audit", root, "--out", root, "-j", "0", "-q").exit_code == 2
    for _ in range(2):  # a new folder: created, marked, and skipped by the next audit of the same data
        ok = run("audit", root, "--out", root / "audit", "-j", "0", "--format", "json")
        assert ok.exit_code == 0, ok.output
        assert json.loads(ok.output)["files"] == 4
    assert (root / "audit" / MARKER).is_file()


def test_folders_of_older_dataclean_versions_count_as_dataclean_made(tmp_path: Path) -> None:
    """Audit outputs and quarantines written before markers existed are still recognised (and skipped)."""
    root = tmp_path / "data"
    for i in range(2):
        write_png(root / "cats" / f"c{i}.png", 10 + i)
    old_audit = root / "audit"
    old_audit.mkdir()
    (old_audit / "summary.json").write_text('{"tool": "dataclean", "files": 2}\n')
    (old_audit / "manifest.csv").write_text("path,root\n")
    old_q = root / "q"
    (old_q / "cats").mkdir(parents=True)
    (old_q / "journal.jsonl").write_text('{"src": "/x", "dst": "/y", "md5": "m", "bytes": 1}\n')
    write_png(old_q / "cats" / "moved.png", 99)
    result = run("audit", root, "--out", old_audit, "-j", "0", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["files"] == 2


def test_quarantine_into_a_users_folder_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    manifest = make_manifest(root, specs())
    result = run("fix", "--manifest", manifest, "--quarantine", root / "dogs")
    assert (result.exit_code, result.stderr) == (
        2, f"Error: --quarantine folder {root / 'dogs'} is a folder of the dataset {root} that dataclean did not "
           f"create; give a new folder (or one outside the dataset)\n")


def test_undo_refuses_partial_state_never_seen(tmp_path: Path) -> None:
    """A file that took the original's place and differs is left alone (never overwritten)."""
    root, qdir, journal = quarantined(tmp_path)
    write_png(root / "cats" / "copy.png", 99)
    result = undo_error(journal)
    assert result == (f"undo restored 1 file(s) but not all: {root / 'cats/copy.png'} exists again; "
                      f"left {qdir / 'cats/copy.png'} in quarantine")


def undo_error(journal: Path) -> str:
    from dataclean.errors import DatacleanError

    with pytest.raises(DatacleanError) as info:
        undo(journal)
    return str(info.value)


def test_headerless_journal_of_an_older_version(tmp_path: Path) -> None:
    """Journals from before headers: undone when every record shares one root, refused when a line points elsewhere."""
    root, qdir = tmp_path / "data", tmp_path / "q"
    write_png(qdir / "cats" / "a.png", 1)
    write_png(qdir / "dogs" / "b.png", 2)
    (root / "cats").mkdir(parents=True)
    lines = [json.dumps({"src": str(root / rel), "dst": str(qdir / rel), "md5": md5_of(qdir / rel), "bytes": 1})
             for rel in ("cats/a.png", "dogs/b.png")]
    journal = qdir / "journal.jsonl"
    journal.write_text("\n".join([*lines, json.dumps({"src": str(tmp_path / "elsewhere" / "dogs/b.png"),
                                                      "dst": str(qdir / "dogs/b.png"), "md5": "0" * 32, "bytes": 1})]) + "\n")
    result = run("fix", "--undo", journal)
    assert (result.exit_code, result.stderr) == (
        2, f"Error: journal {journal}: its records do not share one dataset root; refusing to undo anything\n")
    journal.write_text("\n".join(lines) + "\n")
    result = run("fix", "--undo", journal)
    assert (result.exit_code, result.output) == (0, "restored 2 file(s); 0 already in place\n")
    assert (root / "dogs" / "b.png").is_file() and not (tmp_path / "elsewhere").exists()
