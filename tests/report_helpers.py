"""A planted dataset with hostile file and class names, audited with --html; a headless Chromium driver."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from dataclean.cli import main
from dataclean.synth import make_dataset

HOSTILE_FILE = "<img src=x onerror=alert(1)>.jpg"
HOSTILE_CLASS = '"><svg onload=alert(2)>'


def make_hostile_audit(base: Path) -> tuple[Path, Path, dict[str, list[str]]]:
    """(dataset root, audit folder, planted) with report.html written by `audit --html`."""
    root = base / "data"
    planted = make_dataset(root, seed=7)
    shutil.copyfile(root / "circles/circle_002.jpg", root / "circles" / HOSTILE_FILE)  # an exact duplicate
    planted[f"circles/{HOSTILE_FILE}"] = ["exact_duplicate"]
    planted["circles/circle_002.jpg"] = ["exact_duplicate"]
    hostile = root / HOSTILE_CLASS
    hostile.mkdir()
    for k in range(3):
        shutil.copyfile(root / f"triangles/triangle_{10 + k:03d}.jpg", hostile / f"t{k}.jpg")  # label conflicts
        planted[f"{HOSTILE_CLASS}/t{k}.jpg"] = ["label_conflict"]
        planted[f"triangles/triangle_{10 + k:03d}.jpg"] = ["label_conflict"]
    with open(root / "labels.csv", "a", encoding="utf-8") as fh:  # keep --labels complete: no new misplaced file
        fh.write(f"circles/{HOSTILE_FILE},circles\n")
    out = base / "audit"
    res = CliRunner().invoke(main, ["audit", str(root), "--out", str(out), "-j", "0", "-q", "--html",
                                    "--labels", str(root / "labels.csv")], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return root, out, planted


def chromium(download_dir: Path) -> Any:
    """Headless Debian Chromium through /usr/bin/chromedriver, downloads into ``download_dir``,
    the performance log on (every network request the page makes)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium") or "/usr/bin/chromium"
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1300,1000",
                "--no-first-run", "--disable-background-networking", "--disable-component-update"):
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                           "download.prompt_for_download": False,
                                           "download.directory_upgrade": True})
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)})
    return driver
