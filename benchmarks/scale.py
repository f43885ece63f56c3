"""Scale-out figures for `dataclean audit`, each timed side by side in one run (fresh CLI processes).

1. ``reaudit``: a full audit of FOLDER (no cache) vs an unchanged re-audit into the same --out
   (every record from the cache). Target: re-audit <= 0.25x the full audit's wall time.
2. ``dask``: ``--engine dask`` (a LocalCluster of --workers processes, started by the audit) vs the
   local process pool with the same --workers, both --no-cache. Target: <= 1.3x.
3. ``growth``: audits of N generated unique images (random crops of FOLDER's photos, resized and
   re-encoded, so a few genuine near-copies exist) for each N in --sizes: wall time, per-file cost,
   the tail after the last file (total - inspect, from summary.json) and the client's peak RSS.
   Targets: per-file cost of the whole audit and of the tail at the largest N within 1.2x of the
   smallest; client peak under 1 GB at 100k.

    python benchmarks/scale.py [FOLDER] [--parts reaudit,dask,growth] [--repeat 3] [--workers 2]
                               [--sizes 10000,30000,100000] [--work DIR]

The near-duplicate search on its own (1M / 10M phash-like hashes, mirrors included: 2n hashes) is
``benchmarks/neardup.py --distributions phashlike --max-distance 8 --sizes ...``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/clothing-dataset-small"

# Runs the CLI's console entry point (what `dataclean` runs, exit included: it freezes the heap so
# that the interpreter's teardown skips a last garbage collection) and prints its own peak RSS (the
# client's; workers are other processes).
CLIENT = r"""
import atexit, resource, sys
from dataclean.cli import run
atexit.register(lambda: print("MAXRSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr))
sys.argv[0] = "dataclean"
run()
"""


def run_audit(args: list[str]) -> tuple[float, int]:
    """Wall seconds and client peak RSS (KiB) of one `dataclean audit ARGS` in a fresh process."""
    started = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", CLIENT, "audit", *args, "-q"], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if res.returncode not in (0, 1):
        raise SystemExit(f"audit {' '.join(args)} failed ({res.returncode}): {res.stderr[-2000:]}")
    rss = next((int(line.split()[1]) for line in res.stderr.splitlines() if line.startswith("MAXRSS_KB")), 0)
    return wall, rss


def reaudit(folder: Path, work: Path, repeat: int, workers: int) -> None:
    full, again = [], []
    for i in range(repeat + 1):
        out = work / f"reaudit-{i}"
        f, _ = run_audit([str(folder), "-o", str(out), "-j", str(workers)])
        a, _ = run_audit([str(folder), "-o", str(out), "-j", str(workers)])
        hits = json.loads((out / "summary.json").read_text())["cache"]
        if i:  # the first pair warms the page cache
            full.append(f)
            again.append(a)
    fm, am = statistics.median(full), statistics.median(again)
    print(f"reaudit  {folder.name}: full audit {fm:.2f} s, unchanged re-audit {am:.2f} s "
          f"(cache {hits}) -> {am / fm:.2f}x (target <= 0.25x); medians of {repeat}")


def dask_vs_local(folder: Path, work: Path, repeat: int, workers: int) -> None:
    """Pairs run side by side, the order alternating (a shared machine's load drifts); the spread is
    that of the pairs' own ratios."""
    local, dask = [], []
    for i in range(repeat + 1):
        runs = {"local": [], "dask": ["--engine", "dask"]}
        for engine in (list(runs) if i % 2 else list(runs)[::-1]):
            wall, _ = run_audit([str(folder), "-o", str(work / engine), "-j", str(workers), "--no-cache", *runs[engine]])
            if i:  # the first pair warms the page cache
                (local if engine == "local" else dask).append(wall)
    lm, dm = statistics.median(local), statistics.median(dask)
    ratios = sorted(d / lo for d, lo in zip(dask, local))
    print(f"dask     {folder.name}: local pool {lm:.2f} s, LocalCluster ({workers} workers) {dm:.2f} s "
          f"-> {dm / lm:.2f}x (target <= 1.3x); medians of {repeat}, pairs {ratios[0]:.2f}x..{ratios[-1]:.2f}x")


def make_images(folder: Path, dest: Path, n: int, seed: int = 0) -> None:
    """``n`` unique JPEGs: random crops (40-90% of each side) of FOLDER's photos, 160-320 px, q85."""
    from PIL import Image

    if dest.is_dir() and sum(1 for _ in dest.rglob("*.jpg")) == n:
        return
    sources = sorted(p for p in folder.rglob("*.jpg"))
    rng = random.Random(seed)
    opened: dict[Path, Image.Image] = {}
    for i in range(n):
        src = sources[i % len(sources)]
        img = opened.get(src)
        if img is None:
            if len(opened) > 64:
                opened.clear()
            img = opened[src] = Image.open(src).convert("RGB")
            img.draft("RGB", (img.width // 2, img.height // 2))
        w, h = img.size
        cw, ch = int(w * rng.uniform(0.4, 0.9)), int(h * rng.uniform(0.4, 0.9))
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        side = rng.randint(160, 320)
        crop = img.crop((x, y, x + cw, y + ch)).resize((side, max(16, side * ch // cw)))
        target = dest / f"class_{i % 10}" / f"img_{i:07d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        crop.save(target, "JPEG", quality=85)


def growth(folder: Path, work: Path, sizes: list[int], workers: int) -> None:
    rows = []
    for n in sizes:
        data = work / f"gen-{n}"
        t = time.perf_counter()
        make_images(folder, data, n)
        made = time.perf_counter() - t
        out = work / f"gen-{n}-out"
        wall, rss = run_audit([str(data), "-o", str(out), "-j", str(workers), "--no-cache"])
        timing = json.loads((out / "summary.json").read_text())["timing"]
        tail = timing["total_s"] - timing["inspect_s"]
        rows.append((n, wall, tail, rss))
        print(f"growth   n={n:>7,}: audit {wall:7.2f} s = {wall / n * 1e3:.3f} ms/file, tail after the last file "
              f"{tail:6.2f} s = {tail / n * 1e3:.4f} ms/file, client peak {rss / 1024:.0f} MiB "
              f"(images made in {made:.0f} s)", flush=True)
    if len(rows) > 1:
        (n0, w0, t0, _), (n1, w1, t1, r1) = rows[0], rows[-1]
        print(f"growth   per-file cost at {n1:,} / at {n0:,}: whole audit {w1 / n1 / (w0 / n0):.2f}x, "
              f"tail {t1 / n1 / (t0 / n0):.2f}x (targets <= 1.2x); client peak {r1 / 1024:.0f} MiB (target < 1024)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--parts", default="reaudit,dask,growth")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--sizes", default="10000,30000,100000")
    ap.add_argument("--work", type=Path, default=None, help="keep generated images here (default: a temp folder)")
    args = ap.parse_args()
    if not args.folder.is_dir():
        raise SystemExit(f"folder not found: {args.folder}")
    parts = set(args.parts.split(","))
    with tempfile.TemporaryDirectory(prefix="dataclean-scale-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        print(f"# {args.folder}, --workers {args.workers}, {os.cpu_count()} cores (shared machine: ratios only)")
        if "reaudit" in parts:
            reaudit(args.folder, work, args.repeat, args.workers)
        if "dask" in parts:
            dask_vs_local(args.folder, work, args.repeat, args.workers)
        if "growth" in parts:
            growth(args.folder, work, [int(s) for s in args.sizes.split(",")], args.workers)


if __name__ == "__main__":
    main()
