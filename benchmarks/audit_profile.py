"""Where an audit's time goes: per-photo stages of a worker, and the main process's work after the last file.

Not a test, and not the speed verdict (that is benchmarks/audit_speed.py): a breakdown to decide what
to work on next. Runs in one process (no pool), so the per-photo figures are CPU per photo on one core.

* Per photo, in the order a worker does it: read, MD5, header parse, decode (JPEG at reduced DCT
  scale), gray conversion, EXIF / end-of-image / TensorFlow checks, histogram, 32x32 reduction, and
  the per-chunk batch step (metrics, hashes, thumbnails) divided by the photos in the chunk. The
  first four are what the floor of audit_speed.py also does.
* After the last file (what the CLI does serially once inspection is done): table, each check,
  the fix policy's proposal, issues table, summary, writing the outputs, rendering the report.

    python benchmarks/audit_profile.py [FOLDER] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from PIL import Image

from dataclean import inspect as I
from dataclean.launch import start_audit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tail import stages  # noqa: E402

DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/clothing-dataset-small"
CHUNK = 64


def worker_stages(paths: list[str]) -> dict[str, float]:
    """Seconds per stage summed over ``paths``, mirroring dataclean.inspect.decode_file + complete."""
    acc: dict[str, float] = defaultdict(float)
    clock = time.perf_counter

    def one(path: str) -> I.Staged | None:
        t0 = clock()
        rec = I.Record()
        with open(path, "rb") as fh:
            data = fh.read()
        t1 = clock()
        rec.md5 = hashlib.md5(data).hexdigest()
        t2 = clock()
        try:
            img = Image.open(io.BytesIO(data))
        except Exception:  # noqa: BLE001 - not an image: only read and MD5 count
            return None
        t3 = clock()
        try:
            small, box = I._reduced_gray(img)
        except Exception:  # noqa: BLE001 - undecodable
            return None
        t4 = clock()
        I._orientation(img), I._has_jpeg_end(data), I.tf_unreadable_reason(img.format or "", img, data)
        t5 = clock()
        hist = small.histogram()
        t6 = clock()
        pixels = I.reduce32_core(small, box)
        t7 = clock()
        for name, a, b in (("read", t0, t1), ("md5", t1, t2), ("header", t2, t3), ("decode + gray", t3, t4),
                           ("exif/end/tf checks", t4, t5), ("histogram", t5, t6), ("32x32 reduction", t6, t7)):
            acc[name] += b - a
        return rec, I.Reduced(hist, pixels)

    for lo in range(0, len(paths), CHUNK):
        staged = [s for s in (one(p) for p in paths[lo : lo + CHUNK]) if s]
        t = clock()
        I.complete(staged)
        acc["batch step"] += clock() - t
    return acc


def tail(root: Path, out: Path) -> dict[str, float]:
    """CPU seconds of each step finish_audit, write_outputs and the report take once the records are in."""
    job = start_audit(root, workers=os.cpu_count() or 1)
    try:
        return stages(job.found, job.inspection.results(), None, {}, out)
    finally:
        job.release()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--repeat", type=int, default=3, help="best of this many passes (per stage)")
    args = ap.parse_args()
    if not args.folder.is_dir():
        ap.error(f"folder not found: {args.folder}")
    paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(args.folder) for f in fs)
    best: dict[str, float] = {}
    for _ in range(args.repeat):
        for name, secs in worker_stages(paths).items():
            best[name] = min(best.get(name, secs), secs)
    print(f"{args.folder} ({len(paths)} files): CPU per photo, one core, best of {args.repeat}")
    for name, secs in best.items():
        print(f"  {name:28s} {secs / len(paths) * 1e6:7.1f} us")
    print(f"  {'total':28s} {sum(best.values()) / len(paths) * 1e6:7.1f} us"
          "   (read + md5 + header + decode is what the floor does too)")
    passes = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            passes.append(tail(args.folder, Path(tmp)))
    # the first pass is what a CLI run pays (lazy imports, first calls); the best is the steady state
    print(f"after the last file (main process; first pass, and best of {args.repeat}):")
    for name in passes[0]:
        print(f"  {name:40s} {passes[0][name] * 1e3:6.1f} ms {min(p[name] for p in passes) * 1e3:6.1f} ms")
    print(f"  {'total':40s} {sum(passes[0].values()) * 1e3:6.1f} ms "
          f"{sum(min(p[n] for p in passes) for n in passes[0]) * 1e3:6.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
