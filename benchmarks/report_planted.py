"""The issue's acceptance check on real photos: plant every kind of problem in the clothing photos,
audit with --html, and check the report in headless Chromium.

Plants (with benchmarks/planted_recall.py's planter) exact and resized copies, copies under another
class, truncated / empty / random-byte files, darkened / washed-out / flattened / tiny / strip images,
PNG named .jpg, text files and same-name files, plus a copy named ``<img src=x onerror=alert(1)>.jpg``.
Then, in the page: every planted file the audit flagged is a card in its check's section, with a
thumbnail (or, for a broken file, its error); copies sit in one group with their original; the
hostile name is text and no script ran; no request left the page; and a review (drop, keep,
relabel) downloaded as decisions.csv round-trips through `dataclean fix --decisions` into clean.csv.

    python benchmarks/report_planted.py                 # 3 plants per kind in clothing-dataset-small/train
    python benchmarks/report_planted.py --per-kind 10 --keep-report /tmp/report.html
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from planted_recall import DEFAULT_SOURCE, plant  # noqa: E402

HOSTILE = "<img src=x onerror=alert(1)>.jpg"


def _driver(downloads: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1300,1000"):
        opts.add_argument(a)
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                           "download.prompt_for_download": False})
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=opts)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    return driver


CARDS_JS = """
return Array.from(document.querySelectorAll('details.check .card')).map(c => {
  const img = c.querySelector('img.thumb'), g = c.closest('.group');
  return [c.closest('details.check').dataset.check, c.dataset.path, img ? img.naturalWidth : 0,
          c.querySelector('.nothumb') ? c.querySelector('.nothumb').textContent : '', g ? g.dataset.group : '',
          c.querySelector('.path').textContent];
});"""


def _click(driver: Any, check: str, path: str, selector: str) -> None:
    for card in driver.find_elements("css selector", f'details[data-check="{check}"] .card'):
        if card.get_attribute("data-path") == path:
            el = card.find_element("css selector", selector)
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
            if el.tag_name == "select":
                from selenium.webdriver.support.ui import Select

                Select(el).select_by_index(1)
            else:
                el.click()
            return
    raise AssertionError(f"no {check} card for {path}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    ap.add_argument("--per-kind", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep-report", type=Path, default=None, help="copy the report here")
    args = ap.parse_args()
    if not args.source.is_dir():
        ap.error(f"source folder not found: {args.source}")

    from click.testing import CliRunner

    from dataclean.cli import main as cli

    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        root, out, downloads = Path(tmp) / "data", Path(tmp) / "audit", Path(tmp) / "downloads"
        shutil.copytree(args.source, root)
        downloads.mkdir()
        planted, _ = plant(root, args.per_kind, random.Random(args.seed))
        first = sorted(p for p in root.glob("*/*.jpg") if "_copy" not in p.name)[0]
        shutil.copyfile(first, first.parent / HOSTILE)
        planted[f"{first.parent.name}/{HOSTILE}"] = ("hostile name", "exact_duplicate")
        t0 = time.perf_counter()
        res = CliRunner().invoke(cli, ["audit", str(root), "--out", str(out), "-q", "--html", "-j", str(args.workers)])
        print(f"audit --html: {time.perf_counter() - t0:.1f} s, exit {res.exit_code}: {res.output.strip()[:200]}")
        with open(out / "manifest.csv", newline="", encoding="utf-8") as fh:
            rows = {r["path"]: r for r in csv.DictReader(fh)}
        if args.keep_report:
            shutil.copyfile(out / "report.html", args.keep_report)
        driver = _driver(downloads)
        try:
            driver.get((out / "report.html").as_uri())
            time.sleep(1.0)
            cards: dict[tuple[str, str], list[Any]] = {(c, p): [w, nothumb, g, shown]
                                                       for c, p, w, nothumb, g, shown in driver.execute_script(CARDS_JS)}
            by_kind: dict[str, list[int]] = {}
            for path, (kind, check) in planted.items():
                stat = by_kind.setdefault(f"{kind} -> {check}", [0, 0, 0])
                if check not in rows.get(path, {}).get("issues", "").split(";"):
                    continue  # the audit missed it: benchmarks/planted_recall.py measures that
                stat[0] += 1
                card = cards.get((check, path))
                if card is None:
                    failures.append(f"{path}: flagged {check} but no card in its section")
                    continue
                stat[1] += 1
                broken = bool(rows[path]["error"])
                if (broken and card[1].startswith(rows[path]["error"] + ":")) or (not broken and 0 < card[0] <= 128):
                    stat[2] += 1
                else:
                    failures.append(f"{path}: no thumbnail / reason in {check}: {card}")
                if kind in ("exact copy", "hostile name"):
                    original = path.replace("_copy", "") if kind == "exact copy" else str(first.relative_to(root))
                    if cards.get((check, original), [None, None, None])[2] != card[2] or not card[2]:
                        failures.append(f"{path}: not in one group with {original}")
                if card[3] != path:
                    failures.append(f"{path}: shown as {card[3]!r}")
            print(f"\n{'planted -> check':44s} flagged  card  picture/reason")
            for name, (flagged, carded, pictured) in by_kind.items():
                print(f"{name:44s} {flagged:7d} {carded:5d} {pictured:5d}")
            injected = driver.execute_script("return document.querySelectorAll('img[src=\"x\"], [onerror]').length")
            if injected:
                failures.append(f"the hostile name became markup ({injected} elements)")
            try:
                failures.append(f"an alert ran: {driver.switch_to.alert.text}")
            except Exception:  # noqa: BLE001 - NoAlertPresentException: what we want
                pass
            urls = [json.loads(e["message"])["message"]["params"].get("request", {}).get("url", "")
                    for e in driver.get_log("performance")
                    if json.loads(e["message"])["message"]["method"] == "Network.requestWillBeSent"]
            external = [u for u in urls if urlparse(u).scheme not in ("file", "data")]
            print(f"requests: {len(urls)} (file: and data: only: {not external})")
            failures += [f"request left the page: {u[:80]}" for u in external]

            dark = next(p for p, (k, _) in planted.items() if k == "darkened" and (("dark", p) in cards))
            copy = next(p for p, (k, _) in planted.items() if k == "exact copy" and rows[p]["action"] == "drop")
            moved = next(p for p, (k, _) in planted.items() if k == "copy under another class")
            _click(driver, "dark", dark, 'button[data-act="drop"]')
            _click(driver, "exact_duplicate", copy, 'button[data-act="keep"]')
            _click(driver, "label_conflict", moved, "select.relabel")
            driver.find_element("id", "download").click()
            for _ in range(100):
                if (downloads / "decisions.csv").is_file():
                    break
                time.sleep(0.1)
            decisions = (downloads / "decisions.csv").read_text(encoding="utf-8")
        finally:
            driver.quit()
        print(f"\ndecisions.csv:\n{decisions}")
        res = CliRunner().invoke(cli, ["fix", "--manifest", str(out / "manifest.csv"), "--decisions",
                                       str(downloads / "decisions.csv"), "-q"])
        if res.exit_code != 0:
            failures.append(f"fix --decisions failed: {res.output}")
        else:
            with open(out / "clean.csv", newline="", encoding="utf-8") as fh:
                clean = {r["path"]: r for r in csv.DictReader(fh)}
            relabel = [line.split(",")[2] for line in decisions.splitlines() if line.startswith(f"{moved},")]
            checks = {f"{dark} dropped": dark not in clean, f"{copy} kept": copy in clean,
                      f"{moved} relabelled": bool(relabel) and clean.get(moved, {}).get("label") == relabel[0]}
            for what, ok in checks.items():
                print(f"clean.csv: {what}: {'yes' if ok else 'NO'}")
                if not ok:
                    failures.append(f"clean.csv: {what} failed")
    print("\nOK: every check passed" if not failures else "\nFAILED:\n  " + "\n  ".join(failures))
    return 0 if not failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
