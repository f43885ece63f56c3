"""`dataclean audit` through click: outputs, formats and exact exit codes and messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from dataclean.cli import main


def _run(*args: str) -> object:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_audit_writes_outputs(planted: tuple[Path, dict[str, list[str]]], tmp_path: Path) -> None:
    root, _ = planted
    out = tmp_path / "out"
    res = _run("audit", str(root), "--out", str(out), "--workers", "0", "--labels", str(root / "labels.csv"))
    assert res.exit_code == 0, res.output
    assert "Checks" in res.output and "Classes" in res.output and "label_conflict" in res.output
    manifest = pd.read_csv(out / "manifest.csv", keep_default_na=False)
    assert len(manifest) == 136
    summary = json.loads((out / "summary.json").read_text())
    assert summary["checks"]["misplaced"]["files"] == 1
    assert set(pd.read_csv(out / "issues.csv")["check"]) >= {"corrupt", "misplaced", "class_imbalance"}


def test_fail_on_sets_exit_code_1(planted: tuple[Path, dict[str, list[str]]], tmp_path: Path) -> None:
    root, _ = planted
    res = _run("audit", str(root), "-o", str(tmp_path), "-j", "0", "-q", "--fail-on", "corrupt,exact_duplicate")
    assert res.exit_code == 1
    assert "failing: corrupt, exact_duplicate found issues (--fail-on)" in res.output


def test_fail_on_a_check_that_found_nothing_exits_0(planted: tuple[Path, dict[str, list[str]]], tmp_path: Path) -> None:
    root, _ = planted
    res = _run("audit", str(root), "-o", str(tmp_path), "-j", "0", "-q", "--fail-on", "misplaced")
    assert res.exit_code == 0  # misplaced is skipped without --labels


def test_json_format_is_the_summary(planted: tuple[Path, dict[str, list[str]]], tmp_path: Path) -> None:
    root, _ = planted
    res = _run("audit", str(root), "-o", str(tmp_path), "-j", "0", "--format", "json")
    assert res.exit_code == 0
    assert json.loads(res.output) == json.loads((tmp_path / "summary.json").read_text())


def test_quiet_prints_one_line(planted: tuple[Path, dict[str, list[str]]], tmp_path: Path) -> None:
    root, _ = planted
    res = _run("audit", str(root), "-o", str(tmp_path), "-j", "0", "-q")
    assert res.exit_code == 0
    # without --labels, labels.csv is one more (non-image) file of the dataset
    assert res.output.count("\n") == 1 and res.output.startswith("audited 137 files: corrupt 3, ")


def test_set_overrides_a_parameter(planted: tuple[Path, dict[str, list[str]]], tmp_path: Path) -> None:
    root, _ = planted
    res = _run("audit", str(root), "-o", str(tmp_path), "-j", "0", "-q", "--set", "resolution.max_aspect=20")
    assert res.exit_code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["checks"]["resolution"]["params"]["max_aspect"] == 20.0
    assert summary["checks"]["resolution"]["files"] == 1  # the 512x32 strip passes; the 20x20 image does not


def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    empty, one = tmp_path / "empty", tmp_path / "one"
    empty.mkdir()
    one.mkdir()
    (one / "a.png").write_bytes(b"not really a png")
    cases = [
        (["audit", str(tmp_path / "nope")], f"Error: dataset folder not found: {tmp_path / 'nope'}"),
        (["audit", str(empty)], f"Error: no files found under {empty}"),
        (["audit", str(one), "--fail-on", "blurry"], "unknown check blurry"),
        (["audit", str(one), "--set", "dark=0.2"], "Error: --set expects CHECK.PARAM=VALUE, got 'dark=0.2'"),
        (["audit", str(one), "--set", "dark.max=0.2"],
         "check 'dark' has no parameter 'max' (parameters: max_brightness, max_highlight)"),
        (["audit", str(one), "--labels", str(tmp_path / "l.csv")], f"Error: labels file not found: {tmp_path / 'l.csv'}"),
        (["audit", str(one), "--labels", str(_write(tmp_path / "cols.csv", "file,class\na.png,x\n"))],
         f"Error: labels file {tmp_path / 'cols.csv'} needs columns path,label; missing label, path"),
        (["audit", str(one), "--labels", str(_write(tmp_path / "ragged.csv", "path,label\na.png,x\nb.png,y,z\n"))],
         f"Error: labels file {tmp_path / 'ragged.csv'} line 3: expected 2 fields, found 3"),
        (["audit", str(one), "--labels", str(_write(tmp_path / "bin.csv", b"path,label\n\xff\xfe,x\n"))],
         f"Error: labels file {tmp_path / 'bin.csv'} is not a readable CSV"),
        (["audit", str(one), "--labels", str(_write(tmp_path / "empty.csv", ""))],
         f"Error: labels file {tmp_path / 'empty.csv'} needs columns path,label"),
    ]
    for args, message in cases:
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2, (args, res.output)
        assert message in res.output, (args, res.output)
        assert "Traceback" not in res.output
    assert not (tmp_path / "audit").exists() and not (one / "audit").exists()  # nothing written on bad input


def _write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def test_labels_file_with_bom_and_extra_columns_is_read(tmp_path: Path) -> None:
    from dataclean.audit import read_labels_file

    labels = _write(tmp_path / "l.csv", b"\xef\xbb\xbfid,label,path\n1,cats,./cats/a.jpg\n\n2,dogs,dogs\\b.jpg\n")
    assert read_labels_file(labels) == {"cats/a.jpg": "cats", "dogs/b.jpg": "dogs"}


def test_audit_imports_neither_tensorflow_nor_pandas(planted: tuple[Path, dict[str, list[str]]], tmp_path: Path) -> None:
    root, _ = planted
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom dataclean.cli import main\n"
        f"r = CliRunner().invoke(main, ['audit', {str(root)!r}, '-o', {str(tmp_path)!r}, '-j', '0', '-q'])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
        "assert 'pandas' not in sys.modules, 'pandas costs ~0.3 s of start-up'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_outputs_are_left_intact_when_writing_fails(tmp_path: Path) -> None:
    from dataclean.io import write_csv

    target = tmp_path / "m.csv"
    target.write_text("old\n")

    class Boom(pd.DataFrame):
        def to_csv(self, *a: object, **k: object) -> None:  # type: ignore[override]
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_csv(Boom({"a": [1]}), target)
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["m.csv"]


def test_workers_option_is_honoured(planted: tuple[Path, dict[str, list[str]]], tmp_path: Path) -> None:
    root, _ = planted
    res = _run("audit", str(root), "-o", str(tmp_path), "--workers", "0", "-q")
    assert res.exit_code == 0
    assert json.loads((tmp_path / "summary.json").read_text())["parameters"]["workers"] == 0


def test_names_that_look_like_markup_are_printed_verbatim(tmp_path: Path) -> None:
    """Class folders and output paths are user data: rich must not read "[red]" or ":smile:" as markup."""
    from PIL import Image

    for label, colour in (("[red]cats", (200, 0, 0)), ("dogs :smile:", (0, 90, 200))):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (40, 40), tuple(c // (i + 1) for c in colour)).save(tmp_path / "data" / label / f"{i}.png")
    out = tmp_path / "out[bold]"
    res = _run("audit", str(tmp_path / "data"), "-o", str(out), "-j", "0")
    assert res.exit_code == 0, res.output
    assert "[red]cats" in res.output and "dogs :smile:" in res.output
    assert f"Wrote{out / 'manifest.csv'}" in "".join(res.output.split())  # long paths wrap at 80 columns


def test_stages_after_the_last_file_are_reported(planted: tuple[Path, dict[str, list[str]]]) -> None:
    """``on_stage``: the near-duplicate search's steps from 0 to its total, then one step per check,
    in that order; the audit's outputs are those of an audit without it."""
    from dataclean.audit import run_audit
    from dataclean.checks import ordered_checks

    root, _ = planted
    calls: list[tuple[str, int, int]] = []
    result = run_audit(root, workers=0, labels_path=root / "labels.csv", on_stage=lambda *c: calls.append(c))
    search = [c for c in calls if c[0] == "near-duplicate search"]
    total = search[0][2]
    assert total >= 1 and search == [("near-duplicate search", done, total) for done in range(total + 1)]
    n_checks = len(ordered_checks())
    assert calls == search + [("checks", done, n_checks) for done in range(n_checks + 1)]
    plain = run_audit(root, workers=0, labels_path=root / "labels.csv")
    assert result.table.columns == plain.table.columns
    assert all(result.table[c] == plain.table[c] for c in result.table.columns if c != "mtime")


def test_terminal_bar_shows_the_search_and_the_checks(planted: tuple[Path, dict[str, list[str]]], tmp_path: Path) -> None:
    """On a terminal (a pseudo-terminal here) the bar goes on after the files: the near-duplicate
    search (its tables counted) and the checks, each drawn once it starts; it is gone at the end."""
    import os
    import pty
    import re
    import select

    root, _ = planted
    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100"}
    proc = subprocess.Popen([sys.executable, "-m", "dataclean.cli", "audit", str(root), "-o", str(tmp_path / "out"), "-j", "1"],
                            stdin=follower, stdout=follower, stderr=follower, env=env, close_fds=True)
    os.close(follower)
    raw = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        try:
            chunk = os.read(leader, 1 << 16) if ready else b""
        except OSError:  # the child closed its end
            chunk = b""
        if not chunk:
            break
        raw += chunk
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw.decode(errors="replace"))
    lines = [line.strip() for line in re.split(r"[\r\n]+", shown)]
    assert any(re.fullmatch(r"inspecting .* \d+/\d+ .*", line) for line in lines), lines[:20]
    search = [line for line in lines if line.startswith("near-duplicate search ")]
    assert search and all(re.search(r" \d+/\d+ ", line) for line in search), search
    assert any(re.fullmatch(r"checks .* \d+/16 .*", line) for line in lines)
    assert "Checks" in shown  # then the report, as without a terminal
