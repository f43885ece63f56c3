"""Screenshot of `dataclean serve`'s upload page after a prediction, taken with headless Chromium.

    python scripts/serve_screenshot.py RUN_DIR PHOTO [--out docs/serve.png]

Starts `dataclean serve RUN_DIR` on a free localhost port, opens the page in Debian's chromium (selenium
+ /usr/bin/chromedriver), chooses PHOTO, waits for the predictions and saves a PNG of the window.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

SRC = Path(__file__).resolve().parents[1] / "src"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("photo", type=Path)
    ap.add_argument("--out", type=Path, default=Path("docs/serve.png"))
    ap.add_argument("--top-k", type=int, default=2)
    args = ap.parse_args()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-c", "from dataclean.cli import run; run()", "serve", str(args.run),
                               "--port", str(port)], env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(600):
            try:
                httpx.get(url + "health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        opts = Options()
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=820,440", "--hide-scrollbars"):
            opts.add_argument(arg)
        opts.binary_location = "/usr/bin/chromium"
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        try:
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",  # the viewport, not the window
                                   {"width": 820, "height": 500, "deviceScaleFactor": 1, "mobile": False})
            driver.get(url)
            topk = driver.find_element(By.ID, "topk")
            topk.clear()
            topk.send_keys(str(args.top_k))
            driver.find_element(By.ID, "file").send_keys(str(args.photo.resolve()))
            WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#predictions li"))
            time.sleep(0.5)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(args.out))
        finally:
            driver.quit()
    finally:
        server.terminate()
        server.wait(timeout=20)
    img = Image.open(args.out).convert("P", palette=Image.Palette.ADAPTIVE, colors=128)  # a small PNG
    img.save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
