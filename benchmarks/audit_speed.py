"""How close is `dataclean audit` to the floor of any audit? Timed side by side, in one run.

The floor: every byte read once (MD5) and every image decoded once, at the smallest JPEG DCT scale
(Pillow's ``Image.draft``, 1/8), on a process pool over all cores — nothing else. Both the floor and
the audit run as fresh processes (interpreter start and imports count for both), alternately, after
one untimed run of each, and the medians are compared. Both run as an installed tool runs for a
user: with Python's bytecode cache (PYTHONDONTWRITEBYTECODE is removed from their environment,
otherwise every dataclean module would be recompiled on every run). The audit runs in full: every
check, manifest/issues/summary written, the rich report rendered (to a file, so the terminal does not set the pace).

    python benchmarks/audit_speed.py [FOLDER] [--repeat 5] [--workers N] [--others]

--others also times CleanVision and imagededup's PHash on the same folder when they are installed.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/clothing-dataset-small"

FLOOR = r"""
import hashlib, io, os, sys
from concurrent.futures import ProcessPoolExecutor
from PIL import Image

def one(path):
    with open(path, "rb") as fh:
        data = fh.read()
    digest = hashlib.md5(data).hexdigest()
    try:
        im = Image.open(io.BytesIO(data))
        im.draft(im.mode, (max(1, im.size[0] // 8), max(1, im.size[1] // 8)))
        im.load()
    except Exception:
        pass
    return digest

def main(root, workers):
    paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)
    chunk = max(1, len(paths) // (workers * 8))
    with ProcessPoolExecutor(workers) as ex:
        for _ in ex.map(one, paths, chunksize=chunk):
            pass

if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
"""


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _time(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds, and CPU seconds (user + sys) of the command and every process it waited for."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--others", action="store_true", help="also time CleanVision and imagededup if installed")
    args = ap.parse_args()
    if not args.folder.is_dir():
        ap.error(f"folder not found: {args.folder}")
    n = sum(len(fs) for _, _, fs in os.walk(args.folder))
    with tempfile.TemporaryDirectory() as tmp:
        floor_py = Path(tmp) / "floor.py"
        floor_py.write_text(FLOOR)
        report = Path(tmp) / "report.txt"
        floor_cmd = [sys.executable, str(floor_py), str(args.folder), str(args.workers)]
        audit_cmd = ["sh", "-c", f'"{sys.executable}" -m dataclean.cli audit "{args.folder}" --out "{tmp}/audit" '
                     f'--workers {args.workers} > "{report}"']
        floors: list[tuple[float, float]] = []
        audits: list[tuple[float, float]] = []
        _time(floor_cmd)  # warm the page cache and the interpreters' files (and bytecode caches)
        _time(audit_cmd)
        for _ in range(args.repeat):
            floors.append(_time(floor_cmd))
            audits.append(_time(audit_cmd))
        others = _others(args.folder) if args.others else {}
    f, a = statistics.median(w for w, _ in floors), statistics.median(w for w, _ in audits)
    fc, ac = statistics.median(c for _, c in floors), statistics.median(c for _, c in audits)
    print(f"{args.folder} ({n} files), {args.workers} workers, {args.repeat} repetitions, alternating")
    for name, runs, wall, cpu in (("floor (read + MD5 + 1/8-scale decode)", floors, f, fc),
                                  ("dataclean audit (everything)", audits, a, ac)):
        print(f"{name:38s} wall median {wall:5.2f} s  cpu median {cpu:5.2f} s   "
              f"wall runs {', '.join(f'{w:.2f}' for w, _ in runs)}")
    print(f"ratio audit / floor: wall {a / f:.2f}x, cpu {ac / fc:.2f}x")
    for name, (secs, _) in others.items():
        print(f"{name}: {secs:.2f} s wall ({secs / a:.1f}x dataclean)")
    return 0


def _others(folder: Path) -> dict[str, tuple[float, float]]:
    out = {}
    probe = "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec(sys.argv[1]) else 1)"
    if subprocess.run([sys.executable, "-c", probe, "cleanvision"]).returncode == 0:
        code = f"from cleanvision import Imagelab; Imagelab(data_path={str(folder)!r}).find_issues()"
        out["CleanVision find_issues"] = _time([sys.executable, "-c", code])
    if subprocess.run([sys.executable, "-c", probe, "imagededup"]).returncode == 0:
        code = ("from imagededup.methods import PHash; "
                f"PHash().find_duplicates(image_dir={str(folder)!r}, recursive=True)")
        out["imagededup PHash find_duplicates"] = _time([sys.executable, "-c", code])
    return out


if __name__ == "__main__":
    raise SystemExit(main())
