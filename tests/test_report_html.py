"""`dataclean report` / `audit --html` without a browser: the command, the cap, escaping, the CSP, thumbnails."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from dataclean.cli import main
from dataclean.htmlreport import load_audit, write_audit_report
from dataclean.htmlreport.page import plan_sections
from dataclean.htmlreport.thumbs import thumbnail, thumbnails
from report_helpers import HOSTILE_CLASS, HOSTILE_FILE, make_hostile_audit


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, list[str]]]:
    return make_hostile_audit(tmp_path_factory.mktemp("html"))


def test_audit_html_writes_a_self_contained_page(hostile: tuple[Path, Path, dict[str, list[str]]]) -> None:
    _, out, _ = hostile
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    # nothing that could load from elsewhere: every src/href is a data: URI or an in-page anchor
    assert not re.search(r'(src|href)="(?!data:|#)', page)
    assert "http://" not in page and "https://" not in page


def test_every_user_name_is_escaped_in_the_source(hostile: tuple[Path, Path, dict[str, list[str]]]) -> None:
    _, out, _ = hostile
    page = (out / "report.html").read_text(encoding="utf-8")
    assert HOSTILE_FILE not in page and HOSTILE_CLASS not in page
    assert "&lt;img src=x onerror=alert(1)&gt;.jpg" in page
    assert "&quot;&gt;&lt;svg onload=alert(2)&gt;" in page
    assert "<svg onload" not in page and "<img src=x" not in page


def test_csp_allows_exactly_the_inline_script_and_style(hostile: tuple[Path, Path, dict[str, list[str]]]) -> None:
    _, out, _ = hostile
    page = (out / "report.html").read_text(encoding="utf-8")
    policy = html.unescape(re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page).group(1))
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    styles = re.findall(r"<style>(.*?)</style>", page, re.S)
    assert len(scripts) == 1 and len(styles) == 1

    def sha(s: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"

    assert policy == (f"default-src 'none'; img-src data:; style-src {sha(styles[0])}; script-src {sha(scripts[0])}; "
                      "base-uri 'none'; form-action 'none'")
    assert not [a for a in _attribute_names(page) if a.startswith("on") or a == "style"]  # no inline handlers or styles


def _attribute_names(page: str) -> set[str]:
    from html.parser import HTMLParser

    names: set[str] = set()

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            names.update(a for a, _ in attrs)

    Collect().feed(page)
    return names


def test_report_command_rewrites_from_the_outputs_alone(hostile: tuple[Path, Path, dict[str, list[str]]],
                                                        tmp_path: Path) -> None:
    _, out, _ = hostile
    target = tmp_path / "r.html"
    res = CliRunner().invoke(main, ["report", str(out), "--out", str(target), "-j", "0"])
    assert res.exit_code == 0, res.output
    manifest = pd.read_csv(out / "manifest.csv", keep_default_na=False, dtype=str)
    pictures = int(((manifest["issues"] != "") & (manifest["error"] == "")).sum())  # every flagged file that decodes
    assert pictures == 26  # squares/scan.tif too: tf_unreadable, an image all the same
    assert re.fullmatch(rf"wrote {re.escape(str(target))} \(0\.\d\d MB, {pictures} thumbnails, \d+\.\d s\)\n", res.output)
    assert target.read_text(encoding="utf-8").count('class="card ') == (out / "report.html").read_text().count('class="card ')


def test_max_per_check_caps_each_section_and_counts_the_rest(hostile: tuple[Path, Path, dict[str, list[str]]],
                                                             tmp_path: Path) -> None:
    _, out, _ = hostile
    sections = {s.check: s for s in plan_sections(load_audit(out), max_per_check=1)}
    assert [len(s.shown_paths) for s in (sections["corrupt"], sections["naming"])] == [1, 1]
    assert (sections["corrupt"].files, sections["corrupt"].hidden) == (3, 2)
    assert len(sections["exact_duplicate"].entries) == 1  # a group is never cut: its whole first group
    written = write_audit_report(out, tmp_path / "capped.html", max_per_check=1, workers=0)
    page = written.path.read_text(encoding="utf-8")
    assert "… and 2 more files in issues.csv" in page
    assert written.thumbnails < 16


@pytest.mark.parametrize("args, message", [
    (["report", "nope"], "Error: folder not found: nope (give an audit --out folder or a training run folder)"),
    (["report", "."], "Error: . holds no manifest.csv: give the folder `dataclean audit --out` wrote"),
], ids=["missing", "not-an-audit"])
def test_report_bad_folder_is_one_line_exit_2(args: list[str], message: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and res.output.strip().splitlines() == [message]


def _decode(uri: str) -> Image.Image:
    assert uri.startswith("data:image/jpeg;base64,")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


def test_thumbnails_are_upright_and_fit_128(tmp_path: Path) -> None:
    img = Image.new("RGB", (400, 200), (200, 30, 30))
    img.paste((30, 30, 200), (0, 0, 200, 200))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    img.save(tmp_path / "rot.jpg", exif=exif.tobytes())
    thumb = _decode(thumbnail(str(tmp_path / "rot.jpg")) or "")
    assert thumb.size == (64, 128)
    top = thumb.convert("RGB").getpixel((32, 10))
    assert top[2] > 150 and top[0] < 100  # the blue half is on top once upright
    Image.new("RGBA", (50, 300), (0, 255, 0, 128)).save(tmp_path / "alpha.png")
    assert _decode(thumbnail(str(tmp_path / "alpha.png")) or "").size == (21, 128)
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 not really")
    assert thumbnail(str(tmp_path / "bad.jpg")) is None


def test_thumbnails_on_a_pool_match_in_process(tmp_path: Path) -> None:
    paths = []
    for k in range(60):
        Image.new("RGB", (100 + k, 80), (k * 4, 100, 50)).save(tmp_path / f"{k}.png")
        paths.append(str(tmp_path / f"{k}.png"))
    assert thumbnails(paths, workers=2) == thumbnails(paths, workers=0)


def test_a_thumbnail_over_the_time_limit_is_none_even_when_the_first_alarm_is_lost(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that keeps the decoder busy past the per-file limit gets no picture (its card says why)
    and does not hold up the pool. An alarm that goes off inside a gc callback or a finalizer is
    printed and dropped there (a Dask scheduler in the process installs such a callback); here the
    first one is dropped on purpose, and the limit must still end the file (it repeats)."""
    import time

    from dataclean.htmlreport import thumbs
    from scale_helpers import slow_png

    real = thumbs.thumbnail

    def first_alarm_lost(path: str, side: int, max_pixels: int) -> str | None:
        if path.endswith("slow.png"):
            try:
                time.sleep(3)  # the 1 s limit goes off in here and is swallowed, as in a gc callback
            except BaseException:  # noqa: BLE001 - on purpose
                pass
        return real(path, side, max_pixels)  # ~7 s to parse on a quiet core

    paths = []
    for k in range(thumbs.MIN_FILES_FOR_POOL - 1):
        Image.new("RGB", (60, 40), (k * 5, 90, 40)).save(tmp_path / f"{k}.png")
        paths.append(str(tmp_path / f"{k}.png"))
    (tmp_path / "slow.png").write_bytes(slow_png())
    paths.insert(10, str(tmp_path / "slow.png"))
    monkeypatch.setattr(thumbs, "TIMEOUT_S", 1)
    monkeypatch.setattr(thumbs, "thumbnail", first_alarm_lost)  # the pool's workers are forked: they see it
    started = time.monotonic()
    got = thumbnails(paths, workers=2)
    took = time.monotonic() - started
    assert got[10] is None and all(got[:10]) and all(got[11:])
    assert took < 5, took


def test_columns_and_checks_from_newer_audits_are_used_when_present(tmp_path: Path) -> None:
    """given_split (split folders) stacks the class bars; a split_leak finding is a group; an unknown check gets a section."""
    from dataclean.htmlreport.data import AuditData, Issue
    from dataclean.htmlreport.page import render_audit

    rows = [{"path": f"{s}/cats/{k}.jpg", "label": "cats", "given_split": s, "group": "g1" if k == 0 else "",
             "issues": "split_leak" if k == 0 else "", "action": "keep"} for s in ("train", "test") for k in range(3)]
    rows += [{"path": "train/dogs/0.jpg", "label": "dogs", "given_split": "train", "issues": "blurry", "action": "keep"}]
    issues = [Issue("train/cats/0.jpg", "split_leak", "error", None, "g1", "also in test: test/cats/0.jpg"),
              Issue("test/cats/0.jpg", "split_leak", "error", None, "g1", "also in train: train/cats/0.jpg"),
              Issue("train/dogs/0.jpg", "blurry", "info", 0.1, "", "sharpness 0.1")]
    data = AuditData(tmp_path, rows, issues, {"root": "/data"})
    sections = {s.check: s for s in plan_sections(data)}
    assert [e.paths for e in sections["split_leak"].entries] == [["test/cats/0.jpg", "train/cats/0.jpg"]]
    assert sections["blurry"].files == 1 and sections["blurry"].info["severity"] == "info"
    page = render_audit(data, list(sections.values()), {})
    assert "<title>cats train: 3</title>" in page and "<title>cats test: 3</title>" in page
    assert "<title>dogs train: 1</title>" in page and "Classes (files per class, per split)" in page
    assert '<div class="group" data-group="g1">' in page and '<span class="split">test</span>' in page
    assert 'id="check-blurry"' in page


def test_near_duplicate_details_put_the_scores_first() -> None:
    from dataclean.htmlreport.page import short_detail

    detail = ("phash distance 8 to squares/square_002_small.jpg, similarity 1.00; "
              "phash distance 3 to a/b c.jpg (mirrored), similarity 0.99; identical to x/y.jpg")
    assert short_detail(detail) == ("distance 8, similarity 1.00 to square_002_small.jpg; "
                                    "distance 3, similarity 0.99 mirrored to b c.jpg; identical to x/y.jpg")
