"""The HTML report in real headless Chromium: galleries, groups, escaping, no network, the review round trip."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd
import pytest
from click.testing import CliRunner

from dataclean.cli import main
from report_helpers import HOSTILE_CLASS, HOSTILE_FILE, chromium, make_hostile_audit, make_run

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def hostile_audit(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, list[str]]]:
    return make_hostile_audit(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads: Path) -> Any:
    driver = chromium(downloads)
    yield driver
    driver.quit()


def _open(browser: Any, page: Path) -> None:
    browser.get(page.resolve().as_uri())
    for _ in range(100):
        if browser.execute_script("return document.body.dataset.ready") == "1":
            return
        time.sleep(0.05)
    raise AssertionError(f"the report's script did not run: {browser.get_log('browser')}")


def _cards(browser: Any, check: str) -> list[dict[str, Any]]:
    """Every card of a check's section: path, label text, whether it has a loaded picture, its group."""
    return browser.execute_script("""
        return Array.from(document.querySelectorAll('details[data-check="' + arguments[0] + '"] .card')).map(c => {
          const img = c.querySelector('img.thumb'), g = c.closest('.group');
          return {path: c.dataset.path, label: c.querySelector('.label').textContent, shown: c.querySelector('.path').textContent,
                  width: img ? img.naturalWidth : 0, height: img ? img.naturalHeight : 0,
                  nothumb: c.querySelector('.nothumb') ? c.querySelector('.nothumb').textContent : null,
                  group: g ? g.dataset.group : null, keeper: c.classList.contains('keeper')};
        });""", check)


def test_every_planted_file_is_in_its_section_with_a_thumbnail(browser: Any, hostile_audit: Any) -> None:
    root, out, planted = hostile_audit
    _open(browser, out / "report.html")
    manifest = pd.read_csv(out / "manifest.csv", keep_default_na=False, dtype=str)
    broken = set(manifest.loc[manifest["error"] != "", "path"])
    for path, checks in planted.items():
        if not path:
            continue
        for check in checks:
            cards = {c["path"]: c for c in _cards(browser, check)}
            assert path in cards, f"{path} missing from the {check} section"
            card = cards[path]
            assert card["shown"] == path
            if path in broken:
                error = manifest.loc[manifest["path"] == path, "error"].iloc[0]
                assert card["width"] == 0 and card["nothumb"].startswith(f"{error}: ")
            else:
                assert 0 < card["width"] <= 128 and 0 < card["height"] <= 128, card
    # the class-level finding is a line of text in its section
    text = browser.execute_script("return document.querySelector('#check-class_imbalance .dataset-finding').textContent")
    assert text.startswith("largest squares (")


def test_duplicate_clusters_are_groups_with_the_kept_member_marked(browser: Any, hostile_audit: Any) -> None:
    root, out, _ = hostile_audit
    _open(browser, out / "report.html")
    cards = _cards(browser, "exact_duplicate")
    groups: dict[str, list[dict[str, Any]]] = {}
    for c in cards:
        groups.setdefault(c["group"], []).append(c)
    pair = next(g for g in groups.values() if {c["path"] for c in g} == {"circles/circle_001.jpg", "circles/circle_001_copy.jpg"})
    assert [c["keeper"] for c in sorted(pair, key=lambda c: c["path"])] == [True, False]  # same size: path order
    hostile = next(g for g in groups.values() if f"circles/{HOSTILE_FILE}" in {c["path"] for c in g})
    assert {c["path"] for c in hostile} == {"circles/circle_002.jpg", f"circles/{HOSTILE_FILE}"}
    conflict = {c["group"]: c for c in _cards(browser, "label_conflict")}
    assert len(conflict) == 4  # circle_004 under circles and squares, three triangles copied to the hostile class
    near = _cards(browser, "near_duplicate")
    by_group: dict[str, set[str]] = {}
    for c in near:
        by_group.setdefault(c["group"], set()).add(c["path"])
    assert {"squares/square_002.jpg", "squares/square_002_small.jpg"} in by_group.values()
    assert sum(c["keeper"] for c in near) == 2


def test_hostile_names_stay_text(browser: Any, hostile_audit: Any) -> None:
    root, out, _ = hostile_audit
    _open(browser, out / "report.html")
    assert browser.execute_script("return document.querySelectorAll('img[src=\"x\"], svg[onload], [onerror]').length") == 0
    shown = browser.execute_script("return Array.from(document.querySelectorAll('.card .path')).map(e => e.textContent)")
    assert f"circles/{HOSTILE_FILE}" in shown and f"{HOSTILE_CLASS}/t0.jpg" in shown
    options = browser.execute_script("return Array.from(document.querySelectorAll('#class-filter option')).map(o => o.value)")
    assert HOSTILE_CLASS in options
    details = browser.execute_script(
        "return Array.from(document.querySelectorAll('#check-label_conflict .detail')).map(e => e.textContent)")
    assert f"same image also under {HOSTILE_CLASS}" in details
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - reading it is the check that no alert() ran


def test_no_request_leaves_the_page(browser: Any, hostile_audit: Any) -> None:
    root, out, _ = hostile_audit
    browser.get_log("performance")  # drop what earlier tests logged
    _open(browser, out / "report.html")
    browser.find_element("id", "expand-all").click()
    time.sleep(0.3)
    urls = [json.loads(e["message"])["message"]["params"].get("request", {}).get("url", "")
            for e in browser.get_log("performance")
            if json.loads(e["message"])["message"]["method"] == "Network.requestWillBeSent"]
    assert urls and all(urlparse(u).scheme in ("file", "data") for u in urls), [u[:80] for u in urls]
    # and the policy blocks anything that tried: an injected image request is refused by the CSP
    blocked = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        document.addEventListener('securitypolicyviolation', e => done(e.violatedDirective + ' ' + e.blockedURI));
        const img = new Image(); img.src = 'http://127.0.0.1:9/beacon.png';
        setTimeout(() => done('not blocked'), 2000);""")
    assert blocked.startswith("img-src http://127.0.0.1:9/beacon.png")


def _download(browser: Any, downloads: Path) -> str:
    for old in downloads.glob("decisions*.csv"):
        old.unlink()
    browser.find_element("id", "download").click()
    for _ in range(100):
        done = list(downloads.glob("decisions*.csv"))
        if done and not list(downloads.glob("*.crdownload")):
            return done[0].read_text(encoding="utf-8")
        time.sleep(0.1)
    raise AssertionError(f"no decisions.csv in {downloads}")


def _click(browser: Any, card: Any, selector: str) -> None:
    """Click a control of ``card`` as a user would, after scrolling it clear of the fixed review bar."""
    el = card.find_element("css selector", selector)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    el.click()


def _card(browser: Any, check: str, path: str) -> Any:
    for card in browser.find_elements("css selector", f'details[data-check="{check}"] .card'):
        if card.get_attribute("data-path") == path:
            return card
    raise AssertionError(f"no card for {path} in {check}")


def test_review_round_trips_into_clean_csv(browser: Any, hostile_audit: Any, downloads: Path, tmp_path: Path) -> None:
    from selenium.webdriver.support.ui import Select

    root, out, _ = hostile_audit
    _open(browser, out / "report.html")
    dark = _card(browser, "dark", "circles/dark.jpg")
    assert dark.get_attribute("data-state") == "keep"  # the page starts from the audit's proposal
    _click(browser, dark, 'button[data-act="drop"]')
    assert dark.get_attribute("data-state") == "drop"
    # the same file's card in another section follows
    assert _card(browser, "low_contrast", "circles/dark.jpg").get_attribute("data-state") == "drop"
    copy = _card(browser, "exact_duplicate", "circles/circle_001_copy.jpg")
    assert copy.get_attribute("data-state") == "drop"
    _click(browser, copy, 'button[data-act="keep"]')
    misplaced = _card(browser, "misplaced", "circles/circle_010.jpg")
    assert misplaced.get_attribute("data-state") == "review"
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", misplaced)
    Select(misplaced.find_element("css selector", "select.relabel")).select_by_value("squares")
    hostile = _card(browser, "exact_duplicate", f"circles/{HOSTILE_FILE}")
    _click(browser, hostile, 'button[data-act="drop"]')
    assert browser.find_element("id", "decision-count").text == "4 decisions"

    text = _download(browser, downloads)
    assert text == ("path,action,label\ncircles/dark.jpg,drop,\ncircles/circle_001_copy.jpg,keep,\n"
                    f"circles/circle_010.jpg,relabel,squares\ncircles/{HOSTILE_FILE},drop,\n")
    decisions = tmp_path / "decisions.csv"
    decisions.write_text(text, encoding="utf-8")
    clean_path = tmp_path / "clean.csv"
    res = CliRunner().invoke(main, ["fix", "--manifest", str(out / "manifest.csv"), "--decisions", str(decisions),
                                    "--out", str(clean_path), "-q"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    clean = pd.read_csv(clean_path, keep_default_na=False, dtype=str).set_index("path")
    assert "circles/dark.jpg" not in clean.index and f"circles/{HOSTILE_FILE}" not in clean.index
    assert {"circles/circle_001_copy.jpg", "circles/circle_002.jpg"} <= set(clean.index)
    assert "circles/circle_001.jpg" not in clean.index  # the reviewed copy is its group's kept one now
    assert clean.loc["circles/circle_010.jpg", "label"] == "squares"
    assert clean.loc["circles/circle_010.jpg", "split"] in ("train", "val", "test")
    rows = pd.read_csv(tmp_path / "clean.decisions.csv", keep_default_na=False, dtype=str).set_index("path")
    reviewed = ["circles/dark.jpg", "circles/circle_001_copy.jpg", "circles/circle_010.jpg", f"circles/{HOSTILE_FILE}"]
    assert rows.loc[reviewed, "reason"].tolist() == ["reviewed"] * 4
    assert rows.loc[reviewed, "action"].tolist() == ["drop", "keep", "keep", "drop"]

    browser.find_element("id", "reset").click()
    assert dark.get_attribute("data-state") == "keep"
    assert browser.find_element("id", "decision-count").text == "no decisions yet"


def test_filters_by_path_class_and_check(browser: Any, hostile_audit: Any) -> None:
    from selenium.webdriver.support.ui import Select

    root, out, _ = hostile_audit
    _open(browser, out / "report.html")

    def visible() -> list[str]:
        return browser.execute_script(
            "return Array.from(document.querySelectorAll('.card')).filter(c => c.offsetParent !== null).map(c => c.dataset.path)")

    browser.find_element("id", "search").send_keys("TRUNCATED")
    assert visible() == ["circles/truncated.jpg"]
    browser.find_element("id", "search").clear()
    browser.execute_script("document.getElementById('search').dispatchEvent(new Event('input'))")
    Select(browser.find_element("id", "class-filter")).select_by_value(HOSTILE_CLASS)
    assert sorted(set(visible())) == [f"{HOSTILE_CLASS}/t{k}.jpg" for k in range(3)]
    Select(browser.find_element("id", "class-filter")).select_by_value("")
    Select(browser.find_element("id", "check-filter")).select_by_value("dark")
    assert visible() == ["circles/dark.jpg"]
    Select(browser.find_element("id", "check-filter")).select_by_value("")
    browser.find_element("id", "collapse-all").click()
    assert browser.execute_script("return document.querySelectorAll('details.check[open]').length") == 0
    browser.find_element("id", "expand-all").click()
    assert browser.execute_script("return document.querySelectorAll('details.check:not([open])').length") == 0


def test_notebook_display_renders_the_report_in_a_frame(browser: Any, hostile_audit: Any, tmp_path: Path) -> None:
    import dataclean

    root, _, _ = hostile_audit
    result = dataclean.audit(root, workers=0, labels=root / "labels.csv")
    page = tmp_path / "notebook.html"
    page.write_text(f"<!DOCTYPE html><html><body>{result._repr_html_()}</body></html>", encoding="utf-8")
    browser.get(page.as_uri())
    browser.switch_to.frame(browser.find_element("css selector", "iframe.dataclean-report"))
    try:
        for _ in range(100):
            if browser.execute_script("return document.body && document.body.dataset.ready") == "1":
                break
            time.sleep(0.05)
        cards = _cards(browser, "corrupt")
        assert {c["path"] for c in cards} >= {"circles/truncated.jpg", "squares/empty.jpg"}
        assert all(c["width"] > 0 for c in _cards(browser, "dark"))
    finally:
        browser.switch_to.default_content()


def test_training_run_report_shows_plots_and_misclassified_images(browser: Any, tmp_path: Path) -> None:
    from train.report import write_run_report

    run = make_run(tmp_path)
    page = write_run_report(run, workers=0).path
    browser.get_log("browser")
    browser.get(page.as_uri())
    sizes = browser.execute_script("return Array.from(document.images).map(i => [i.className, i.naturalWidth])")
    assert [c for c, _ in sizes] == ["plot"] * 3 + ["thumb"] * 2 and all(w > 0 for _, w in sizes)
    rows = browser.execute_script("return Array.from(document.querySelectorAll('#per-class tbody tr td:first-child'))"
                                  ".map(td => td.textContent)")
    assert rows == ["<b>bold</b>", "blue", "red"]
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
