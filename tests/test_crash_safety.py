"""Quarantine and undo SIGKILLed at every step, on one file system and across two (issue 12, items 2-4).

A forked child runs the real library calls with ``DATACLEAN_CRASH_AT=N``: it kills itself with SIGKILL
at the N-th crash point (after a journal append, after each copied chunk, between "renamed into place"
and "source removed", ...). For every N until a run completes, the test checks that no file is ever
partial or wrong under its real name, then recovers (resume, or undo) and checks that the dataset is
byte-identical to the original (bytes, mtimes, the symlink itself) with nothing partial left anywhere.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dataclean.fix import quarantine as quarantine_module
from dataclean.fix.engine import apply_quarantine, plan_fix
from dataclean.fix.quarantine import PARTIAL_SUFFIX, undo
from dataclean.safety import MARKER
from fix_helpers import make_manifest, md5_of, row

SHM = Path("/dev/shm")
OTHER_FS = SHM.is_dir() and os.stat(SHM).st_dev != os.stat(tempfile.gettempdir()).st_dev
BIG = 150_000  # bytes: three copy chunks of 64 KiB (set below), so a kill can land mid-copy
DROPPED = ["cats/big0.png", "cats/big1.png", "cats/broken.png", "cats/copy.png", "cats/link.png"]


def build(base: Path, big: int = BIG) -> tuple[Path, Path, dict[str, tuple[str, int]]]:
    """A dataset with two big broken files, a small one, a duplicate and a symlink, all to be dropped."""
    rng = np.random.default_rng(3)
    root = base / "data"
    specs = [row(f"cats/c{i}.png", shade=10 + i) for i in range(3)] + [row(f"dogs/d{i}.png", shade=90 + i) for i in range(3)]
    specs[0].update(issues="exact_duplicate", group="g1")
    specs += [row("cats/copy.png", shade=10, issues="exact_duplicate", group="g1"),
              row("cats/broken.png", raw=b"garbage", issues="corrupt", error="decode_error")]
    specs += [row(f"cats/big{i}.png", raw=rng.bytes(big), issues="corrupt", error="decode_error") for i in range(2)]
    target = base / "outside.txt"
    target.write_bytes(b"a file outside the dataset\n")
    (root / "cats").mkdir(parents=True)
    (root / "cats" / "link.png").symlink_to(target)
    manifest = make_manifest(root, specs)
    df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    st = target.stat()
    df.loc[len(df)] = {**{c: "" for c in df.columns}, "root": str(root), "path": "cats/link.png", "label": "cats",
                       "bytes": str(st.st_size), "mtime": repr(st.st_mtime), "md5": md5_of(target),
                       "issues": "corrupt", "error": "not_an_image"}
    df.to_csv(manifest, index=False)
    return root, manifest, state(root)


def state(folder: Path) -> dict[str, tuple[str, int]]:
    """Every entry under ``folder`` (dataclean's own journal and marker aside): content digest and mtime."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_dir() and not p.is_symlink() or p.name in ("journal.jsonl", MARKER):
            continue
        digest = "link:" + os.readlink(p) if p.is_symlink() else md5_of(p)
        out[p.relative_to(folder).as_posix()] = (digest, p.lstat().st_mtime_ns)
    return out


def partials(*folders: Path) -> list[Path]:
    return [p for f in folders if f.exists() for p in f.rglob(f"*{PARTIAL_SUFFIX}")]


def killed_at(n: int, work: Callable[..., object], *args: object) -> bool:
    """Run ``work`` in a forked child that SIGKILLs itself at crash point ``n``; True if it was killed."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 0
        try:
            os.environ["DATACLEAN_CRASH_AT"] = str(n)
            work(*args)
        except BaseException:  # noqa: BLE001 - reported through the exit code
            code = 3
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return True
    assert os.WEXITSTATUS(status) == 0, f"crash point {n}: the child failed instead of finishing"
    return False


def assert_nothing_wrong(root: Path, qdir: Path, original: dict[str, tuple[str, int]]) -> None:
    """Mid-crash invariant: every file under a real name is whole; every dropped file exists somewhere."""
    here, there = state(root), state(qdir)
    for rel, (digest, _) in {**here, **there}.items():
        if not rel.endswith(PARTIAL_SUFFIX) and not Path(rel).name.startswith("."):
            assert digest == original[rel][0], f"{rel} is partial or wrong"
    for rel in DROPPED:
        assert rel in here or rel in there, f"{rel} vanished"


@pytest.fixture(params=["same-fs", "other-fs"])
def quarantine_base(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr(quarantine_module, "_COPY_CHUNK", 1 << 16)
    if request.param == "same-fs":
        yield tmp_path / "qbase"
        return
    if not OTHER_FS:
        pytest.skip("needs /dev/shm on another file system than the temporary folder")
    with tempfile.TemporaryDirectory(dir=SHM) as shm:
        yield Path(shm)


def quarantine(manifest: Path, qdir: Path) -> None:
    apply_quarantine(plan_fix(manifest, quarantine_dir=qdir), qdir)


def test_sigkill_during_quarantine_then_resume_or_undo(tmp_path: Path, quarantine_base: Path) -> None:
    n = 0
    while True:
        n += 1
        base, qdir = tmp_path / f"run{n}", quarantine_base / f"q{n}"
        base.mkdir()
        root, manifest, original = build(base)
        if not killed_at(n, quarantine, manifest, qdir):
            break
        assert_nothing_wrong(root, qdir, original)
        if n % 2:  # recover by running the same fix again, then undo everything
            quarantine(manifest, qdir)
            assert sorted(state(qdir)) == DROPPED and not partials(root, qdir)
        undo(qdir / "journal.jsonl")
        assert state(root) == original, f"crash point {n}"
        assert not state(qdir) and not partials(root, qdir), f"crash point {n}"
    # the run passed every crash point: per file its journal append; across file systems also each copied
    # chunk (3 + 3 + 1 + 1), the rename into place and the source's removal: 5 + 8 + 2 * 5 = 23 points
    assert n == (len(DROPPED) if quarantine_base.is_relative_to(tmp_path) else 23) + 1


def test_sigkill_during_undo_then_undo_again(tmp_path: Path, quarantine_base: Path) -> None:
    n = 0
    while True:
        n += 1
        base, qdir = tmp_path / f"run{n}", quarantine_base / f"q{n}"
        base.mkdir()
        root, manifest, original = build(base)
        quarantine(manifest, qdir)
        if not killed_at(n, undo, qdir / "journal.jsonl"):
            break
        assert_nothing_wrong(root, qdir, original)
        undo(qdir / "journal.jsonl")
        assert state(root) == original, f"crash point {n}"
        assert not state(qdir) and not partials(root, qdir), f"crash point {n}"
    # per file its restore; across file systems also each chunk, the rename and the removal: 23 points
    assert n == (len(DROPPED) if quarantine_base.is_relative_to(tmp_path) else 23) + 1


@pytest.mark.slow
@pytest.mark.skipif(not OTHER_FS, reason="needs /dev/shm on another file system than the temporary folder")
def test_real_cli_sigkilled_at_random_moments(tmp_path: Path) -> None:
    """The real `dataclean fix` process killed from outside at seeded random moments, across file systems."""
    rng = np.random.default_rng(11)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-c", "from dataclean.cli import run; run()", "fix"]
    for k in range(4):
        base = tmp_path / f"run{k}"
        base.mkdir()
        root, manifest, original = build(base, big=20_000_000)
        with tempfile.TemporaryDirectory(dir=SHM) as shm:
            qdir = Path(shm) / "q"
            for args in (["--manifest", str(manifest), "--quarantine", str(qdir)], ["--undo", str(qdir / "journal.jsonl")]):
                proc = subprocess.Popen([*cmd, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(float(rng.uniform(0.3, 2.0)))
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                if qdir.exists():
                    assert_nothing_wrong(root, qdir, original)
                done = subprocess.run([*cmd, *args], env=env, capture_output=True, text=True, timeout=120)
                assert done.returncode == 0, done.stderr
            assert state(root) == original and not state(qdir) and not partials(root, qdir)
