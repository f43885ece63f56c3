"""The summary: counts in a dict, rendered as rich tables by a function (no printing)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from dataclean.fix.engine import plan_fix
from dataclean.fix.summary import render_summary, summarize
from fix_helpers import make_manifest, row


def test_summary_counts_and_render(tmp_path: Path) -> None:
    specs = [row(f"cats/c{i:02d}.png", shade=i) for i in range(10)]
    specs += [row("dogs/d0.png", shade=50, issues="dark"),
              row("dogs/bad.png", raw=b"", issues="corrupt", error="empty_file")]
    summary = summarize(plan_fix(make_manifest(tmp_path / "data", specs)))
    assert summary["actions"] == {"keep": 11, "review": 0, "drop": 1}
    assert summary["by_check"] == [
        {"check": "corrupt", "keep": 0, "review": 0, "drop": 1},
        {"check": "dark", "keep": 1, "review": 0, "drop": 0},
        {"check": "(no issue)", "keep": 10, "review": 0, "drop": 0}]
    assert [(c["label"], c["train"], c["val"], c["test"], c["train_only"]) for c in summary["by_class"]] == [
        ("cats", 8, 1, 1, False), ("dogs", 1, 0, 0, True)]
    console = Console(record=True, width=100)
    console.print(render_summary(summary))
    text = console.export_text()
    assert text.splitlines()[0] == "12 files: 11 kept, 1 dropped, 0 held for review"
    assert "dogs * │     2 │    1 │      0 │    1 │     1 │   0 │    0" in text


def test_class_names_are_not_read_as_markup(tmp_path: Path) -> None:
    summary = summarize(plan_fix(make_manifest(tmp_path / "data", [row("[red]cats/c0.png", shade=9)])))
    console = Console(record=True, width=100)
    console.print(render_summary(summary))
    assert "[red]cats * │     1 │" in console.export_text()
