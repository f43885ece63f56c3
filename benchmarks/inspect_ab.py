"""Has per-file inspection become slower? This tree's decode against an older revision's, side by side.

Loads ``src/dataclean/inspect.py`` as it was at ``--before`` (a git revision) next to the current one,
then for every file decodes its bytes (already in memory) with both, interleaved, five times each,
and keeps the fastest of each: interleaving file by file keeps a busy, shared machine's drift out of
the comparison that separate runs would suffer. Prints the mean per file and the ratio.

    python benchmarks/inspect_ab.py [FOLDER] [--before REV] [--limit N]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO.parent / "shared/data/clothing-dataset-small"


def _load_old(rev: str, where: Path) -> object:
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:src/dataclean/inspect.py"], check=True,
                            capture_output=True, text=True).stdout
    path = where / "old_inspect.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("old_inspect", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_inspect"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--before", default="HEAD~1", help="git revision to compare with [default: HEAD~1]")
    ap.add_argument("--limit", type=int, default=600, help="files to time [default: 600]")
    args = ap.parse_args()
    if not args.folder.is_dir():
        ap.error(f"folder not found: {args.folder}")
    warnings.simplefilter("ignore")
    from dataclean import inspect as new

    paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(args.folder) for f in fs)[: args.limit]
    clock = time.perf_counter
    total = {"before": 0.0, "now": 0.0}
    with tempfile.TemporaryDirectory() as tmp:
        old = _load_old(args.before, Path(tmp))
        for path in paths:
            data = Path(path).read_bytes()
            best = {"before": float("inf"), "now": float("inf")}
            for _ in range(5):
                for name, module in (("before", old), ("now", new)):
                    t = clock()
                    module.decode_bytes(data)  # type: ignore[attr-defined]
                    best[name] = min(best[name], clock() - t)
            for name in total:
                total[name] += best[name]
    n = max(len(paths), 1)
    print(f"{args.folder}: {len(paths)} files, fastest of 5 per file: {args.before} {total['before'] / n * 1000:.3f} ms, "
          f"now {total['now'] / n * 1000:.3f} ms per file, ratio {total['now'] / max(total['before'], 1e-12):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
