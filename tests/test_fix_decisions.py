"""`dataclean fix --decisions`: a review wins over the policy; bad decisions are one-line errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from dataclean.audit import write_outputs
from dataclean.cli import main


@pytest.fixture()
def audited(planted_audit: object, tmp_path: Path) -> Path:
    write_outputs(planted_audit, tmp_path / "audit")  # type: ignore[arg-type]
    return tmp_path / "audit" / "manifest.csv"


def _fix(manifest: Path, decisions: str, *extra: str) -> tuple[int, str, Path]:
    path = manifest.parent / "decisions.csv"
    path.write_text(decisions, encoding="utf-8")
    res = CliRunner().invoke(main, ["fix", "--manifest", str(manifest), "--decisions", str(path), "-q", *extra])
    return res.exit_code, res.output, path


def test_decisions_win_and_relabel_comes_before_the_split(audited: Path) -> None:
    code, out, _ = _fix(audited, "path,action,label\n"
                                 "circles/circle_001.jpg,drop,\n"          # the group's keeper: its copy is kept instead
                                 "squares/circle_004.jpg,relabel,circles\n"  # resolves the label conflict
                                 "circles/dark.jpg,drop\n"
                                 "circles/circle_010.jpg,keep,\n")          # misplaced: held by the policy
    assert code == 0, out
    clean = pd.read_csv(audited.parent / "clean.csv", keep_default_na=False, dtype=str).set_index("path")
    assert "circles/circle_001.jpg" not in clean.index and "circles/circle_001_copy.jpg" in clean.index
    assert clean.loc["squares/circle_004.jpg", "label"] == "circles"
    assert "circles/circle_004.jpg" not in clean.index  # its twin: same image, now same label, one copy kept
    assert "circles/dark.jpg" not in clean.index and "circles/circle_010.jpg" in clean.index
    rows = pd.read_csv(audited.parent / "clean.decisions.csv", keep_default_na=False, dtype=str).set_index("path")
    assert rows.loc["circles/circle_004.jpg", "reason"] == "exact duplicate of squares/circle_004.jpg (kept: reviewed)"
    for p in ("circles/circle_001.jpg", "squares/circle_004.jpg", "circles/dark.jpg", "circles/circle_010.jpg"):
        assert rows.loc[p, "reason"] == "reviewed"
    # split computed on the new label: both circle_004 twins are one group, the kept one split with circles
    assert clean.loc["squares/circle_004.jpg", "split"] in ("train", "val", "test")


def test_two_column_decisions_and_no_decisions_equal_the_policy(audited: Path) -> None:
    code, out, _ = _fix(audited, "path,action\n")
    assert code == 0, out
    with_empty = (audited.parent / "clean.csv").read_bytes()
    res = CliRunner().invoke(main, ["fix", "--manifest", str(audited), "-q"])
    assert res.exit_code == 0 and (audited.parent / "clean.csv").read_bytes() == with_empty


@pytest.mark.parametrize("text, message", [
    ("path,action\nno/such.jpg,drop\n", "line 2: path no/such.jpg is not in manifest"),
    ("path,action\ncircles/dark.jpg,delete\n",
     "line 2: unknown action 'delete' for circles/dark.jpg (expected keep, drop or relabel)"),
    ("path,action,label\ncircles/dark.jpg,relabel,\n", "line 2: relabel of circles/dark.jpg needs a label (path,relabel,LABEL)"),
    ("path,action\ncircles/truncated.jpg,keep\n", "circles/truncated.jpg is broken (truncated) and cannot be kept; drop it"),
    ("file,what\na,b\n", "needs a header path,action[,label]; found file,what"),
], ids=["unknown-path", "unknown-action", "relabel-without-label", "keep-broken", "no-header"])
def test_bad_decisions_are_one_line_exit_2(audited: Path, text: str, message: str) -> None:
    code, out, path = _fix(audited, text)
    assert code == 2
    assert len(out.strip().splitlines()) == 1 and out.startswith(f"Error: decisions file {path}") and message in out
    assert not (audited.parent / "clean.csv").exists()


def test_missing_decisions_file(audited: Path) -> None:
    res = CliRunner().invoke(main, ["fix", "--manifest", str(audited), "--decisions", str(audited.parent / "nope.csv")])
    assert res.exit_code == 2 and res.output == f"Error: decisions file not found: {audited.parent / 'nope.csv'}\n"
