"""Size and time of the HTML report: on the clothing photos and on a generated set with >= 5,000 findings.

    python benchmarks/report.py                     # both
    python benchmarks/report.py --skip-clothing     # only the generated set
    python benchmarks/report.py --findings 5000 --workers 2

For each dataset: the audit (its three outputs written), then `write_audit_report` on its folder,
timed side by side in one run; the report's size in MB, the thumbnails it holds, and the time per
thumbnail. The budget is <= 15 MB for 5,000 findings at the default --max-per-check 200.
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from dataclean.audit import run_audit, write_outputs
from dataclean.htmlreport import write_audit_report
from dataclean.synth import SHAPES, photo, save_jpeg

CLOTHING = Path("/work/shared/data/clothing-dataset-small")
BUDGET_MB = 15.0


def make_findings_set(root: Path, findings: int, seed: int = 0, photos: list[Path] | None = None) -> None:
    """Photos with planted problems in proportions that give about ``findings`` findings (issues.csv rows).

    With ``photos`` (real photos, one per planted or clean file needed), those are used instead of
    procedural ones: their thumbnails are what a real report holds.
    """
    rng = np.random.default_rng(seed)
    real = iter(photos or [])

    def picture(label: str, size: tuple[int, int] = (128, 128)) -> Image.Image:
        src = next(real, None)
        if src is None:
            return photo(rng, label, size)
        with Image.open(src) as im:
            img = im.convert("RGB")
        return img if size == (128, 128) else img.resize(size)
    unit = findings / 5000
    plan = {"clean": int(2500 * unit), "dark": int(900 * unit), "bright": int(900 * unit), "dup": int(700 * unit),
            "tiny": int(500 * unit), "corrupt": int(300 * unit), "near": int(250 * unit)}
    k = 0

    def name(label: str) -> Path:
        nonlocal k
        k += 1
        return root / label / f"img_{k:05d}.jpg"

    originals: list[Path] = []
    for _ in range(plan["clean"]):
        label = SHAPES[k % len(SHAPES)]
        p = name(label)
        save_jpeg(picture(label), p)
        originals.append(p)
    for kind in ("dark", "bright"):
        for _ in range(plan[kind]):
            label = SHAPES[k % len(SHAPES)]
            img = picture(label)
            img = ImageEnhance.Brightness(img).enhance(0.15) if kind == "dark" else \
                Image.blend(img, Image.new("RGB", img.size, "white"), 0.9)
            save_jpeg(img, name(label))
    for i in range(plan["dup"]):
        src = originals[i]
        shutil.copyfile(src, name(src.parent.name))
    for _ in range(plan["tiny"]):
        label = SHAPES[k % len(SHAPES)]
        save_jpeg(picture(label, (20, 20)), name(label))
    for i in range(plan["corrupt"]):
        data = originals[-1 - i].read_bytes()
        name(originals[-1 - i].parent.name).write_bytes(data[: len(data) // 2])
    for i in range(plan["near"]):
        src = originals[plan["dup"] + i]
        with Image.open(src) as im:
            small = im.convert("RGB").resize((77, 77), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        small.save(buf, "JPEG", quality=60)
        name(src.parent.name).write_bytes(buf.getvalue())


def measure(label: str, data: Path, out: Path, workers: int, max_per_check: int) -> dict[str, float]:
    t0 = time.perf_counter()
    result = run_audit(data, workers=workers)
    write_outputs(result, out)
    audit_s = time.perf_counter() - t0
    with open(out / "issues.csv", newline="", encoding="utf-8", errors="surrogateescape") as fh:
        checks = Counter(row["check"] for row in csv.DictReader(fh))
    written = write_audit_report(out, max_per_check=max_per_check, workers=workers)
    mb = written.bytes / 1e6
    n = max(written.thumbnails, 1)
    print(f"{label}: {result.summary['files']} files, {sum(checks.values())} findings "
          f"({', '.join(f'{c} {n}' for c, n in checks.most_common())})")
    print(f"  audit {audit_s:.2f} s; report {written.seconds:.2f} s, {mb:.2f} MB, {written.thumbnails} thumbnails "
          f"({1000 * written.seconds / n:.2f} ms and {written.bytes / n / 1024:.1f} KiB "
          f"per thumbnail, page included); report/audit time {written.seconds / audit_s:.2f}x")
    return {"findings": sum(checks.values()), "mb": mb, "seconds": written.seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--findings", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-per-check", type=int, default=200)
    parser.add_argument("--skip-clothing", action="store_true")
    parser.add_argument("--real-photos", action="store_true",
                        help="build the findings set from the clothing photos (real thumbnails) instead of procedural ones")
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory(prefix="dataclean-report-bench-") as tmp:
        base = Path(tmp)
        if not args.skip_clothing:
            if CLOTHING.is_dir():
                measure(f"clothing ({CLOTHING})", CLOTHING, base / "clothing-audit", args.workers, args.max_per_check)
            else:
                print(f"skipped: {CLOTHING} not found")
        t0 = time.perf_counter()
        photos = sorted(CLOTHING.glob("*/*/*.jpg")) if args.real_photos else None
        make_findings_set(base / "gen", args.findings, photos=photos)
        print(f"generated set written in {time.perf_counter() - t0:.1f} s")
        label = "generated" + (" from the clothing photos" if photos else "")
        got = measure(label, base / "gen", base / "gen-audit", args.workers, args.max_per_check)
        within = got["findings"] >= args.findings and got["mb"] <= BUDGET_MB
        print(f"budget: {got['findings']} findings -> {got['mb']:.2f} MB (<= {BUDGET_MB:.0f} MB): {'ok' if within else 'OVER'}")
        ok = ok and within
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
