"""Regenerate docs/report.png: the HTML report of sample_data/, taken with headless Chromium.

    python scripts/report_screenshot.py            # audits sample_data/ into a temp folder, writes docs/report.png

Needs Debian's chromium + chromium-driver and selenium (the test extra).
"""

from __future__ import annotations

import argparse
import base64
import io
import tempfile
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(REPO / "docs" / "report.png"))
    parser.add_argument("--height", type=int, default=2300, help="CSS pixels of the page kept, from the top")
    parser.add_argument("--width", type=int, default=1000, help="width of the saved PNG")
    args = parser.parse_args()

    from click.testing import CliRunner
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from dataclean.cli import main as cli

    with tempfile.TemporaryDirectory() as tmp:
        data = REPO / "sample_data"
        res = CliRunner().invoke(cli, ["audit", str(data), "--labels", str(data / "labels.csv"), "--out", tmp, "-q",
                                       "--html", "-j", "0"])
        if res.exit_code != 0:
            print(res.output)
            return 1
        opts = webdriver.ChromeOptions()
        opts.binary_location = "/usr/bin/chromium"
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,900", "--hide-scrollbars"):
            opts.add_argument(a)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        try:
            driver.set_window_size(1200, args.height + 200)  # the fixed review bar then sits at the picture's foot
            driver.get((Path(tmp) / "report.html").as_uri())
            time.sleep(0.5)
            inner = driver.execute_script("return window.innerHeight")
            shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
            keep = args.height, inner
        finally:
            driver.quit()
    img = Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB")
    height, inner = keep
    footer = img.crop((0, inner - 48, img.width, inner))  # the review bar, kept under the cut
    top = img.crop((0, 0, img.width, height))
    img = Image.new("RGB", (img.width, height + footer.height), "white")
    img.paste(top, (0, 0))
    img.paste(footer, (0, height))
    img = img.resize((args.width, round(img.height * args.width / img.width)), Image.Resampling.LANCZOS)
    img.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(args.out, optimize=True)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1024:.0f} KiB, {img.width}x{img.height})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
