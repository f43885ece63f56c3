"""The public Python API: dataclean.audit / fix / report, as a notebook uses them."""

from __future__ import annotations

import html
import importlib
import json
import re
from pathlib import Path

import pandas as pd

import dataclean


def test_audit_fix_report_from_python(planted: tuple[Path, dict[str, list[str]]], tmp_path: Path) -> None:
    root, _ = planted
    result = dataclean.audit(root, workers=0, labels=root / "labels.csv", settings={"resolution.max_aspect": 20})
    again = dataclean.audit(root, workers=0, labels=root / "labels.csv")  # callable twice: the module stays callable
    assert isinstance(result.manifest, pd.DataFrame) and len(result.manifest) == len(again.manifest) == 136
    assert set(result.issues.columns) == {"path", "check", "severity", "score", "group", "detail"}
    assert result.summary["checks"]["resolution"]["files"] == 1 and again.summary["checks"]["resolution"]["files"] == 2
    assert repr(result).startswith(f"<dataclean.Audit {root}: 136 files; corrupt 3, label_conflict 2, misplaced 1")

    clean = dataclean.fix(result)
    assert list(clean.columns)[-1] == "split" and set(clean["split"]) == {"train", "val", "test"}
    reviewed = dataclean.fix(result, decisions={"circles/circle_010.jpg": ("relabel", "squares"),
                                                "circles/dark.jpg": "drop"})
    assert reviewed.set_index("path").loc["circles/circle_010.jpg", "label"] == "squares"
    assert len(reviewed) == len(clean)  # one held for review is now kept, one kept file dropped

    page = result.report(tmp_path / "r.html", workers=0)
    assert page.read_text(encoding="utf-8").count('<details class="check') == len(result.summary["checks"])
    frame = result._repr_html_()
    assert frame.startswith('<iframe class="dataclean-report" sandbox="allow-scripts allow-downloads"')
    doc = html.unescape(re.search(r'srcdoc="([^"]*)"', frame).group(1))
    assert doc.startswith("<!DOCTYPE html>") and "circles/truncated.jpg" in doc


def test_audit_with_out_writes_the_outputs_and_cli_report_reads_them(planted: tuple[Path, dict[str, list[str]]],
                                                                      tmp_path: Path) -> None:
    root, _ = planted
    result = dataclean.audit(root, workers=0, out=tmp_path / "a")
    assert json.loads((tmp_path / "a" / "summary.json").read_text())["files"] == 137
    importlib.import_module("dataclean.report")  # the terminal report module: `dataclean.report(...)` still works
    written = dataclean.report(tmp_path / "a", workers=0)
    assert written.path == tmp_path / "a" / "report.html" and written.bytes == written.path.stat().st_size
    assert result.report(workers=0) == tmp_path / "a" / "report.html"
    assert len(dataclean.fix(result, out=tmp_path / "clean.csv")) == len(pd.read_csv(tmp_path / "clean.csv"))
