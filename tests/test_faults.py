"""Hangs, crashes and messages (issue 12, items 6-13): FIFOs and devices, huge files, identical copies,
unmovable files, bad manifests, interrupted or concurrent audits, terminal escapes, disk-full errors."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from dataclean.audit import AuditResult
from dataclean.checks import AuditContext
from dataclean.cli import main
from dataclean.duplicates import find_clusters
from dataclean.fix.quarantine import load_journal, undo
from dataclean.hashing import from_hex
from dataclean.inspect import decode_file, inspect_file
from dataclean.neardup import verified_pairs
from dataclean.safety import LOCK_NAME, lock_folder, write_marker
from dataclean.table import Table
from fix_helpers import make_manifest, md5_of, row, write_png

CMD = [sys.executable, "-c", "from dataclean.cli import run; run()"]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [*map(str, args)])


def small_dataset(root: Path, n: int = 3) -> Path:
    for i in range(n):
        write_png(root / "cats" / f"c{i}.png", 10 + i)
        write_png(root / "dogs" / f"d{i}.png", 100 + i)
    return root


def manifest_rows(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "manifest.csv", dtype=str, keep_default_na=False).set_index("path")


# ----------------------------------------------------------------------------------- 6. FIFOs and devices

def test_fifo_and_device_are_never_opened(tmp_path: Path) -> None:
    root = small_dataset(tmp_path / "data")
    os.mkfifo(root / "cats" / "pipe.jpg")
    (root / "cats" / "zero.jpg").symlink_to("/dev/zero")
    t0 = time.monotonic()
    done = subprocess.run([*CMD, "audit", str(root), "--out", str(tmp_path / "audit"), "-j", "1", "-q"],
                          env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - t0 < 30  # it used to wait 60 s per FIFO (the per-file timeout)
    rows = manifest_rows(tmp_path / "audit")
    assert rows.loc["cats/pipe.jpg", ["error", "error_detail", "md5"]].tolist() == [
        "not_regular", "FIFO, not a regular file: not read", ""]
    assert rows.loc["cats/zero.jpg", ["error", "error_detail"]].tolist() == [
        "not_regular", "character device, not a regular file: not read"]
    assert "corrupt" in rows.loc["cats/pipe.jpg", "issues"].split(";")

    fixed = subprocess.run([*CMD, "fix", "--manifest", str(tmp_path / "audit" / "manifest.csv"),
                            "--quarantine", str(tmp_path / "q"), "--format", "json"],
                           env=ENV, capture_output=True, text=True, timeout=120)
    assert fixed.returncode == 0, fixed.stderr
    left = json.loads(fixed.stdout)["quarantine"]["left_in_place"]
    assert left == [{"path": str(root / "cats/pipe.jpg"), "reason": "FIFO, not a regular file"},
                    {"path": str(root / "cats/zero.jpg"), "reason": "symlink to a character device, not a regular file"}]
    assert (root / "cats" / "pipe.jpg").exists() and (root / "cats" / "zero.jpg").is_symlink()


# ----------------------------------------------------------------------------------- 7. huge files

def test_file_over_the_cap_is_hashed_not_decoded(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    data = np.random.default_rng(0).bytes(3_000_000)
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + data)
    staged, reduced = decode_file(str(big), max_bytes=1_000_000)
    assert reduced is None
    assert (staged.error, staged.bytes) == ("too_large", 3_000_008)
    assert staged.md5 == hashlib.md5(big.read_bytes()).hexdigest()
    assert staged.error_detail == "file is 3.0 MB, over the --max-file-mb cap of 1 MB: hashed, not decoded"
    assert inspect_file(str(big)).error == "not_an_image"  # under the default cap it is read and decoded


def test_max_file_mb_option(tmp_path: Path) -> None:
    root = small_dataset(tmp_path / "data")
    (root / "cats" / "huge.png").write_bytes(b"\0" * 2_500_000)
    result = run("audit", root, "--out", tmp_path / "audit", "-j", "0", "--max-file-mb", "2", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["parameters"]["max_file_mb"] == 2.0
    assert manifest_rows(tmp_path / "audit").loc["cats/huge.png", "error"] == "too_large"


@pytest.mark.slow
def test_sparse_4gb_file_does_not_exhaust_memory(tmp_path: Path) -> None:
    root = small_dataset(tmp_path / "data")
    with open(root / "cats" / "huge.jpg", "wb") as fh:
        fh.truncate(4 * 1024**3)  # sparse: no disk used, but 4 GiB to read
    done = subprocess.run([*CMD, "audit", str(root), "--out", str(tmp_path / "audit"), "-j", "1", "-q"],
                          env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    row_ = manifest_rows(tmp_path / "audit").loc["cats/huge.jpg"]
    assert (row_["error"], row_["bytes"]) == ("too_large", str(4 * 1024**3))


# ----------------------------------------------------------------------------------- 8. identical copies

def context(phash: list[str], mirror: list[str], thumbs: np.ndarray, md5: list[str]) -> AuditContext:
    n = len(md5)
    return AuditContext(table=Table({"path": [f"c/{i}.jpg" for i in range(n)], "md5": md5, "phash": phash,
                                     "phash_mirror": mirror}), thumbs=thumbs)


def test_collapsed_clusters_equal_pairing_every_row(planted_audit: AuditResult) -> None:
    """Copies of the planted images, some repeated many times: same pairs and groups as verifying all rows."""
    t = planted_audit.table
    rng = np.random.default_rng(5)
    decoded = [r for r, h in enumerate(t["phash"]) if h]
    rows = decoded + list(rng.choice(decoded, 120))  # extra byte-identical copies
    # thumbnails: any bytes that are equal exactly for equal MD5s (the audit's own are not kept)
    base = context([t["phash"][r] for r in rows], [t["phash_mirror"][r] for r in rows],
                   np.stack([np.frombuffer(hashlib.sha256(t["md5"][r].encode()).digest() * 8, np.uint8).reshape(16, 16)
                             for r in rows]), [t["md5"][r] for r in rows])
    got = find_clusters(base, max_distance=8, min_similarity=-1.0)
    ref = verified_pairs(from_hex(base.table["phash"]), from_hex(base.table["phash_mirror"]), base.thumbs, 8, -1.0)
    md5 = np.array(base.table["md5"], dtype=object)
    keep = md5[ref["i"]] != md5[ref["j"]]
    assert keep.sum() > 0 and len(got.near_pairs["i"]) == keep.sum()
    for key in ("i", "j", "distance", "mirrored", "similarity"):
        assert np.array_equal(got.near_pairs[key], ref[key][keep]), key


def test_thousands_of_identical_copies_are_linear() -> None:
    n = 4000
    pixels = np.random.default_rng(1).integers(0, 256, size=(1, 1024), dtype=np.uint8)
    from dataclean.hashing import signatures_batch

    ph, pm, th = signatures_batch(pixels.tobytes())
    ctx = context(ph * n, pm * n, np.frombuffer(th[0] * n, np.uint8).reshape(n, 16, 16), ["a" * 32] * n)
    t0 = time.perf_counter()
    clusters = ctx.clusters
    assert time.perf_counter() - t0 < 10  # it took ~54 s and 1.2 GB before (every pair verified)
    assert set(clusters.group) == {"g1"} and len(clusters.near_pairs["i"]) == 0


# ----------------------------------------------------------------------------------- 9. files that cannot move

def test_unmovable_files_are_reported_and_skipped(tmp_path: Path) -> None:
    root = small_dataset(tmp_path / "data")
    (root / "cats" / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    (root / "cats" / "loop.png").symlink_to(root / "cats" / "loop.png")
    write_png(root / "cats" / "copy.png", 10)
    audit = run("audit", root, "--out", tmp_path / "audit", "-j", "0", "-q")
    assert audit.exit_code == 0, audit.output
    manifest = tmp_path / "audit" / "manifest.csv"
    for _ in range(2):  # and again: nothing was half-done, nothing blocks the next run
        result = run("fix", "--manifest", manifest, "--quarantine", tmp_path / "q")
        assert result.exit_code == 0, result.output
        assert "left 2 dropped file(s) in place (they cannot be moved safely):" in result.stderr
        assert f"  {root / 'cats/dangling.png'}: dangling symlink (No such file or directory)" in result.stderr
        assert f"  {root / 'cats/loop.png'}: symlink that cannot be followed (Too many levels of symbolic links)" \
            in result.stderr
    assert (tmp_path / "q" / "cats" / "copy.png").is_file() and not (root / "cats" / "copy.png").exists()
    assert (root / "cats" / "dangling.png").is_symlink() and (root / "cats" / "loop.png").is_symlink()


def as_unprivileged() -> list[str]:
    """A command prefix that runs without the right to read any file (root keeps it otherwise)."""
    if os.geteuid() != 0:
        return []
    if subprocess.run(["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "true"],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot drop root's file-reading capabilities here (setpriv)")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"]


def test_unreadable_file_is_left_in_place(tmp_path: Path) -> None:
    """chmod 000: reported and left in place, nothing half-done, the rest is quarantined."""
    root = tmp_path / "data"
    manifest = make_manifest(root, [*(row(f"cats/c{i}.png", shade=i) for i in range(3)),
                                    row("cats/copy.png", shade=0, issues="exact_duplicate", group="g1"),
                                    row("cats/secret.png", raw=b"x" * 50, issues="corrupt", error="unreadable")])
    df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    df.loc[0, ["issues", "group"]] = ["exact_duplicate", "g1"]
    df.to_csv(manifest, index=False)
    os.chmod(root / "cats" / "secret.png", 0)
    try:
        done = subprocess.run([*as_unprivileged(), *CMD, "fix", "--manifest", str(manifest), "--quarantine",
                               str(tmp_path / "q")], env=ENV, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stderr == (f"left 1 dropped file(s) in place (they cannot be moved safely):\n"
                               f"  {root / 'cats/secret.png'}: cannot be read (Permission denied)\n")
        assert (root / "cats" / "secret.png").exists() and (tmp_path / "q" / "cats" / "copy.png").exists()
        assert not (root / "cats" / "copy.png").exists()
    finally:
        os.chmod(root / "cats" / "secret.png", 0o644)


# ----------------------------------------------------------------------------------- 10. bad manifests

@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    return make_manifest(tmp_path / "data", [row(f"cats/c{i}.png", shade=i) for i in range(4)])


@pytest.mark.parametrize(("edit", "expected"), [
    ("nul", "manifest {m}: path 'cats/c\\x001.png' is not a normalised relative path (no '.', empty or NUL parts); "
            "re-run dataclean audit"),
    ("dot", "manifest {m}: path 'cats/./c1.png' is not a normalised relative path (no '.', empty or NUL parts); "
            "re-run dataclean audit"),
    ("huge-bytes", "manifest {m}: column bytes has value 'inf' (row 3, path cats/c1.png; expected a whole number >= 0)"),
    ("negative", "manifest {m}: column width has value '-8' (row 3, path cats/c1.png; expected a whole number >= 0)"),
    ("md5", "manifest {m}: row 3 has md5 'xyz'; expected 32 hex digits or empty"),
    ("truncated", "manifest {m} ends in the middle of a row (truncated?); re-run dataclean audit"),
], ids=["nul", "dot", "huge-bytes", "negative", "md5", "truncated"])
def test_bad_manifest_cells(manifest: Path, edit: str, expected: str) -> None:
    df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    if edit == "truncated":
        data = manifest.read_bytes()
        manifest.write_bytes(data[: data.index(b"\n") + 30])
    else:
        column, value = {"nul": ("path", "cats/c\x001.png"), "dot": ("path", "cats/./c1.png"), "huge-bytes": ("bytes", "1e400"),
                         "negative": ("width", "-8"), "md5": ("md5", "xyz")}[edit]
        df.loc[1, column] = value
        df.to_csv(manifest, index=False)
    result = run("fix", "--manifest", manifest)
    assert (result.exit_code, result.stderr) == (2, f"Error: {expected.format(m=manifest)}\n")


# ----------------------------------------------------------------------------------- 11. interrupted audits

def children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        out |= {int(c) for c in (task / "children").read_text().split()}
    return out


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] not in "ZX"
    except (FileNotFoundError, IndexError):
        return False


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_workers_die_with_the_audit(tmp_path: Path, sig: signal.Signals) -> None:
    root = tmp_path / "data"
    for i in range(600):
        write_png(root / "cats" / f"c{i:03d}.png", i % 256, size=(64, 64))
    proc = subprocess.Popen([*CMD, "audit", str(root), "--out", str(tmp_path / "audit"), "-j", "2", "-q"], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    workers: set[int] = set()
    while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
        workers = children(proc.pid)
        time.sleep(0.01)
    assert len(workers) >= 2, "the workers did not start"
    proc.send_signal(sig)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(w) for w in workers)


def test_kill_between_output_renames_is_caught_by_fix(tmp_path: Path) -> None:
    small_dataset(tmp_path / "a")
    small_dataset(tmp_path / "b", n=4)
    out = tmp_path / "audit"
    assert run("audit", tmp_path / "a", "--out", out, "-j", "0", "-q").exit_code == 0
    (out / ".manifest.csv.x1y2.tmp").write_text("partial")  # a temporary left by a killed audit
    pid = os.fork()
    if pid == 0:
        os.environ["DATACLEAN_CRASH_AT"] = "1"  # dies right after manifest.csv is renamed into place
        try:
            main(["audit", str(tmp_path / "b"), "--out", str(out), "-j", "0", "-q"])
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert not (out / ".manifest.csv.x1y2.tmp").exists()
    assert json.loads((out / "summary.json").read_text())["root"] == str(tmp_path / "a")
    result = run("fix", "--manifest", out / "manifest.csv")
    assert result.exit_code == 2
    assert result.stderr == (f"Error: manifest {out / 'manifest.csv'} has 8 rows but the audit wrote 6 (summary.json); "
                             f"it is truncated or edited: re-run dataclean audit\n")


def test_second_audit_to_a_busy_out_is_refused(tmp_path: Path) -> None:
    root = small_dataset(tmp_path / "data")
    out = tmp_path / "audit"
    held = lock_folder(out, "--out", kind="audit")  # as a running audit holds it
    try:
        result = run("audit", root, "--out", out, "-j", "0", "-q")
        assert (result.exit_code, result.stderr) == (
            2, f"Error: --out {out} is in use by another dataclean run (pid {os.getpid()}); "
               f"wait for it to finish or give another folder\n")
        assert not (out / "manifest.csv").exists()
    finally:
        os.close(held)
    assert run("audit", root, "--out", out, "-j", "0", "-q").exit_code == 0
    assert (out / LOCK_NAME).exists()


# ----------------------------------------------------------------------------------- 12. terminal escapes

def test_control_characters_in_names_are_escaped(tmp_path: Path) -> None:
    root = small_dataset(tmp_path / "data")
    write_png(root / "cats" / "\x1b[31mansi.png", 10)  # an exact copy of c0.png: named in the report
    result = run("audit", root, "--out", tmp_path / "audit", "-j", "0")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\\x1b[31mansi.png" in result.output
    fixed = run("fix", "--manifest", tmp_path / "audit" / "manifest.csv", "--quarantine", tmp_path / "q\x07")
    assert fixed.exit_code == 0, fixed.output
    assert "\x1b" not in fixed.output and "\x07" not in fixed.output and "q\\x07" in fixed.output
    cls = root / "\x1b[32mbirds\x07"  # a class folder's name reaches fix's per-class table
    for i in range(2):
        write_png(cls / f"b{i}.png", 200 + i)
    assert run("audit", root, "--out", tmp_path / "audit2", "-j", "0", "-q").exit_code == 0
    fixed = run("fix", "--manifest", tmp_path / "audit2" / "manifest.csv")
    assert fixed.exit_code == 0 and "\x1b" not in fixed.output and "\\x1b[32mbirds\\x07 *" in fixed.output
    bad = run("audit", tmp_path / "no\x1b[2Jwhere", "--out", tmp_path / "audit")
    assert (bad.exit_code, bad.stderr) == (2, f"Error: dataset folder not found: {tmp_path}/no\\x1b[2Jwhere\n")


# ----------------------------------------------------------------------------------- 13. messages

@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs the test mounts (skipped where it may not)."""
    where = tmp_path / "tiny"
    where.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


def test_disk_full_during_quarantine_names_file_and_free_space(tmp_path: Path, tiny_fs: Path) -> None:
    root = tmp_path / "data"
    manifest = make_manifest(root, [*(row(f"cats/c{i}.png", shade=i) for i in range(3)),
                                    row("cats/big.png", raw=np.random.default_rng(0).bytes(1_500_000),
                                        issues="corrupt", error="decode_error")])
    original = md5_of(root / "cats" / "big.png")
    qdir = tiny_fs / "q"
    result = run("fix", "--manifest", manifest, "--quarantine", qdir)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: no space left writing {qdir / 'cats/big.png'} (1500000 bytes needed, ")
    assert result.stderr.endswith(f" MB free); {root / 'cats/big.png'} was left in place\n")
    assert md5_of(root / "cats" / "big.png") == original
    assert not [p for p in tiny_fs.rglob("*") if p.is_file() and p.name not in ("journal.jsonl", ".dataclean-folder.json")]
    undone = run("fix", "--undo", qdir / "journal.jsonl")  # the journaled move that never happened
    assert (undone.exit_code, undone.output) == (0, "restored 0 file(s); 1 already in place\n")


def test_disk_full_during_audit_names_the_output(tmp_path: Path, tiny_fs: Path) -> None:
    root = tmp_path / "data"
    for i in range(40):
        write_png(root / "cats" / f"{'long_name_' * 20}{i}.png", i)
    (tiny_fs / "filler").write_bytes(b"\0" * 1_030_000)
    result = run("audit", root, "--out", tiny_fs / "audit", "-j", "0", "-q")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: cannot write {tiny_fs / 'audit'}/") and " MB free)" in result.stderr
    assert ": No space left on device (" in result.stderr and result.stderr.count("\n") == 1


def test_undo_after_two_fix_runs_counts_each_file_once(tmp_path: Path) -> None:
    root = tmp_path / "data"
    manifest = make_manifest(root, [*(row(f"cats/c{i}.png", shade=i) for i in range(3)),
                                    row("cats/copy.png", shade=0, issues="exact_duplicate", group="g1"),
                                    row("cats/bad.png", raw=b"bad", issues="corrupt", error="decode_error")])
    df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    df.loc[0, ["issues", "group"]] = ["exact_duplicate", "g1"]
    df.to_csv(manifest, index=False)
    qdir = tmp_path / "q"
    for _ in range(2):  # quarantine, undo, quarantine again: the journal holds two records per file
        assert run("fix", "--manifest", manifest, "--quarantine", qdir, "-q").exit_code == 0
        if _ == 0:
            undo(qdir / "journal.jsonl")
    assert len(load_journal(qdir / "journal.jsonl").moves) == 4
    result = run("fix", "--undo", qdir / "journal.jsonl")
    assert (result.exit_code, result.output) == (0, "restored 2 file(s); 0 already in place\n")
    assert (root / "cats" / "copy.png").exists() and (root / "cats" / "bad.png").read_bytes() == b"bad"


def test_concurrent_fix_runs_on_one_quarantine_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    manifest = make_manifest(root, [row("cats/c0.png", shade=0), row("cats/bad.png", raw=b"bad", issues="corrupt",
                                                                     error="decode_error")])
    qdir = tmp_path / "q"
    assert run("fix", "--manifest", manifest, "--quarantine", qdir, "-q").exit_code == 0
    undo(qdir / "journal.jsonl")
    import fcntl

    with open(qdir / "journal.jsonl", "rb") as fh:  # as a running fix holds it
        fcntl.flock(fh, fcntl.LOCK_EX)
        result = run("fix", "--manifest", manifest, "--quarantine", qdir)
    assert (result.exit_code, result.stderr) == (
        2, f"Error: journal {qdir / 'journal.jsonl'} is in use by another dataclean fix; wait for it to finish\n")
    assert (root / "cats" / "bad.png").exists()


@pytest.mark.parametrize("marked", [False, True], ids=["marker-write-fails", "journal-write-fails"])
def test_full_disk_before_the_first_journal_line(tmp_path: Path, tiny_fs: Path, marked: bool) -> None:
    root = tmp_path / "data"
    manifest = make_manifest(root, [row("cats/c0.png", shade=0), row("cats/bad.png", raw=b"bad", issues="corrupt",
                                                                     error="decode_error")])
    qdir = tiny_fs / "q"
    qdir.mkdir()
    if marked:
        write_marker(qdir, "quarantine", root=str(root))
    filler = tiny_fs / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:  # fill the file system to the last block
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    result = run("fix", "--manifest", manifest, "--quarantine", qdir)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    target = qdir / ("journal.jsonl" if marked else ".dataclean-folder.json")
    assert result.stderr.startswith(f"Error: cannot write {'the journal ' if marked else ''}{target}: No space left "
                                    f"on device ("), result.stderr
    assert " MB free)" in result.stderr
    assert (root / "cats" / "bad.png").read_bytes() == b"bad"
    filler.unlink()  # room again: the same command now works, and undo puts everything back
    assert run("fix", "--manifest", manifest, "--quarantine", qdir, "-q").exit_code == 0
    assert not (root / "cats" / "bad.png").exists() and not load_journal(qdir / "journal.jsonl").bad_lines
    assert run("fix", "--undo", qdir / "journal.jsonl").exit_code == 0 and (root / "cats" / "bad.png").exists()


def test_python_api_releases_the_out_lock(tmp_path: Path) -> None:
    """Two audits from one Python process to one --out, one after the other: the first one's lock is gone."""
    import dataclean

    root = small_dataset(tmp_path / "data")
    for _ in range(2):
        assert len(dataclean.audit(root, out=tmp_path / "audit", workers=0).result.table) == 6
