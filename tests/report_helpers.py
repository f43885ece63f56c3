"""A planted dataset with hostile file and class names, audited with --html; a headless Chromium driver."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
from click.testing import CliRunner
from PIL import Image

from dataclean.cli import main
from dataclean.io import write_csv, write_json
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


CLASSES = ["<b>bold</b>", "blue", "red"]


def make_run(tmp: Path) -> Path:
    """A run folder as train.run.write_run leaves it (minus the model): 6 test images, 2 misclassified."""
    from train.evaluate import evaluate_predictions
    from train.plots import plot_confusion, plot_history, plot_roc, save_png

    run = tmp / "run"
    run.mkdir()
    paths = []
    for k, colour in enumerate([(200, 200, 200), (220, 220, 220), (30, 30, 220), (30, 30, 200), (220, 30, 30), (200, 30, 30)]):
        p = tmp / "data" / f"img{k}.png"
        p.parent.mkdir(exist_ok=True)
        Image.new("RGB", (60, 40), colour).save(p)
        paths.append(str(p))
    y = np.array([0, 0, 1, 1, 2, 2])
    probs = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.1, 0.9, 0.0], [0.05, 0.05, 0.9],
                      [0.6, 0.1, 0.3]])
    ev = evaluate_predictions(y, probs, CLASSES, paths)
    write_json(ev.metrics, run / "metrics.json")
    write_csv(ev.errors, run / "errors.csv")
    write_json({"settings": {"arch": "mobilenetv3small", "image_size": 32}, "mode": "from_scratch",
                "counts": {"train": {c: 4 for c in CLASSES}, "val": {c: 1 for c in CLASSES},
                           "test": {c: 2 for c in CLASSES}}, "duration_s": 12.5}, run / "config.json")
    save_png(plot_history({"epoch": [1, 2], "loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.5, 0.8],
                           "val_accuracy": [0.4, 0.7]}, 2), run / "training_curves.png")
    save_png(plot_confusion(ev.metrics["confusion_matrix"], CLASSES), run / "confusion_matrix.png")
    save_png(plot_roc(y, probs, CLASSES), run / "roc_curves.png")
    return run
