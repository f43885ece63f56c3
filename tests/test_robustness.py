"""Bad inputs found in review: each must give one line and exit 2, and no user file may be lost."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from dataclean.cli import main
from dataclean.synth import photo, save_jpeg


def _dataset(root: Path, n: int = 6) -> Path:
    rng = np.random.default_rng(3)
    for label in ("cats", "dogs"):
        for k in range(n):
            save_jpeg(photo(rng, "circles" if label == "cats" else "squares"), root / label / f"{label}_{k}.jpg")
    return root


def _invoke(*args: str) -> object:
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        pytest.param("near_duplicate.max_distance=-1", "max_distance must be a non-negative number", id="negative"),
        pytest.param("resolution.iqr_k=nan", "iqr_k must be a non-negative number", id="nan"),
        pytest.param("near_duplicate.min_similarity=2", "check near_duplicate: min_similarity must be in [-1, 1]", id="range"),
    ],
)
def test_out_of_range_parameters_are_one_line(tmp_path: Path, setting: str, message: str) -> None:
    data = _dataset(tmp_path / "data")
    res = _invoke("audit", str(data), "-o", str(tmp_path / "out"), "-j", "0", "-q", "--set", setting)
    assert res.exit_code == 2 and message in res.output and res.output.count("\n") == 1, res.output


def test_non_utf8_file_names_survive_audit_and_fix(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "data")
    odd = os.fsencode(data / "cats") + b"/caf\xe9.jpg"
    with open(odd, "wb") as fh:
        fh.write((data / "cats/cats_0.jpg").read_bytes()[:-1] + b"\xd9")
    out = tmp_path / "out"
    res = _invoke("audit", str(data), "-o", str(out), "-j", "0")
    assert res.exit_code == 0, res.output
    assert "file name is not valid UTF-8" in (out / "issues.csv").read_bytes().decode("utf-8", "replace")
    res = _invoke("fix", "--manifest", str(out / "manifest.csv"), "-q")
    assert res.exit_code == 0, res.output
    assert os.path.exists(odd)


def test_audit_ignores_its_own_outputs_inside_the_dataset(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "data")
    for _ in range(2):
        res = _invoke("audit", str(data), "-o", str(data / "audit"), "-j", "0", "-q")
        assert res.exit_code == 0, res.output
    assert res.output.startswith("audited 12 files")
    res = _invoke("fix", "--manifest", str(data / "audit" / "manifest.csv"), "-q")
    assert res.exit_code == 0, res.output


def test_fix_output_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "data")
    _invoke("audit", str(data), "-o", str(tmp_path / "audit"), "-j", "0", "-q")
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    res = _invoke("fix", "--manifest", str(tmp_path / "audit" / "manifest.csv"), "--out", str(blocker / "clean.csv"))
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert str(blocker) in res.output and res.output.strip().count("\n") == 0, res.output


def test_quarantine_moves_a_symlink_not_its_target(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "data")
    store = tmp_path / "store"
    store.mkdir()
    (store / "real.jpg").write_bytes(b"")  # an empty file: corrupt, so it is dropped and quarantined
    (data / "cats" / "link.jpg").symlink_to(store / "real.jpg")
    _invoke("audit", str(data), "-o", str(tmp_path / "audit"), "-j", "0", "-q")
    res = _invoke("fix", "--manifest", str(tmp_path / "audit" / "manifest.csv"), "--quarantine", str(tmp_path / "q"), "-q")
    assert res.exit_code == 0, res.output
    assert (store / "real.jpg").exists() and not (store / "real.jpg").is_symlink()
    assert (tmp_path / "q" / "cats" / "link.jpg").is_symlink()
    assert not os.path.lexists(data / "cats" / "link.jpg")
    res = _invoke("fix", "--undo", str(tmp_path / "q" / "journal.jsonl"), "-q")
    assert res.exit_code == 0, res.output
    assert (data / "cats" / "link.jpg").is_symlink() and (store / "real.jpg").exists()


def test_first_line_of_an_error() -> None:
    from dataclean.errors import first_line

    class WithMessage(Exception):
        message = "bare message\nsecond line"

    assert first_line(ValueError("  one\ntwo")) == "one"
    assert first_line(KeyError()) == "KeyError"
    assert first_line(WithMessage("{{node}} noisy")) == "bare message"


def test_outputs_get_the_permissions_open_would_give(tmp_path: Path) -> None:
    """Atomic writes go through a private temp file; the finished outputs must not stay private."""
    root = _dataset(tmp_path / "data", n=2)
    old = os.umask(0o022)
    try:
        assert _invoke("audit", str(root), "--out", str(tmp_path / "audit"), "-j", "0", "-q").exit_code == 0
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "audit").iterdir()}
    assert modes == {"manifest.csv": 0o644, "issues.csv": 0o644, "summary.json": 0o644,
                     ".dataclean-folder.json": 0o644, ".dataclean.lock": 0o644}
