"""A training run's report.html, built from a run folder (no TensorFlow needed to build or test it)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from dataclean.cli import main
from report_helpers import make_run

pytestmark = pytest.mark.slow  # matplotlib and sklearn imports: ~10 s on a shared 2-core machine


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("trainreport"))


def test_run_report_has_metrics_plots_per_class_and_errors(run_dir: Path) -> None:
    from train.report import write_run_report

    written = write_run_report(run_dir, workers=0)
    page = written.path.read_text(encoding="utf-8")
    assert written.path == run_dir / "report.html" and written.thumbnails == 2
    assert "test accuracy 0.667, macro F1 0.656 on 6 held-out images" in page
    assert page.count('<img class="plot" src="data:image/png;base64,') == 3
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt; → blue: 1" in page
    cards = re.findall(r'<div class="card" data-path="([^"]+)">', page)
    assert cards == [str(run_dir.parent / "data" / "img1.png"), str(run_dir.parent / "data" / "img5.png")]  # most confident first
    assert "predicted &lt;b&gt;bold&lt;/b&gt;</span></div><div class=\"detail\">confidence 0.600, p(true) 0.300" in page
    assert "script-src 'none'" in page.replace("&#x27;", "'") and "<script>" not in page


def test_report_command_on_a_run_folder(run_dir: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["report", str(run_dir), "--out", str(tmp_path / "r.html"), "-j", "0"])
    assert res.exit_code == 0, res.output
    assert res.output.startswith(f"wrote {tmp_path / 'r.html'} (") and ", 2 thumbnails, " in res.output
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert f"{metrics['f1_macro']:.3f}" in (tmp_path / "r.html").read_text(encoding="utf-8")
