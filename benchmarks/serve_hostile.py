"""Pillow's hostile test corpus through `serve`'s (and `predict`'s) decoder: each file is decoded, or refused
with an ImageReadError code (a 4xx answer); any other exception would be a 500.

    python benchmarks/serve_hostile.py [--corpus /work/shared/data/pillow] [--max-pixels 40000000]

Prints the count per outcome, any other exception, the files slower than 1 s and the peak memory.
"""

from __future__ import annotations

import argparse
import collections
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from train.tfenv import import_tensorflow  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=Path("/work/shared/data/pillow"))
    ap.add_argument("--max-pixels", type=int, default=40_000_000, help="serve's default cap")
    ap.add_argument("--size", type=int, default=128, help="model input size to resize to")
    args = ap.parse_args()

    import_tensorflow()
    from train.decode import ImageReadError
    from train.predict import decode_rgb, resize_batch
    from train.serve import STATUS

    outcomes: collections.Counter[str] = collections.Counter()
    other, slow = [], []
    files = sorted(p for p in args.corpus.rglob("*") if p.is_file())
    started = time.perf_counter()
    for f in files:
        t = time.perf_counter()
        try:
            resize_batch([decode_rgb(f.read_bytes(), f.name, args.max_pixels)], args.size)
            outcomes["200 decoded"] += 1
        except ImageReadError as exc:
            outcomes[f"{STATUS.get(exc.code, 422)} {exc.code}"] += 1
        except Exception as exc:  # would be a 500
            other.append(f"{f.name}: {type(exc).__name__}: {exc}")
        if time.perf_counter() - t > 1:
            slow.append(f"{f.name} {time.perf_counter() - t:.1f}s")
    print(f"{len(files)} files in {time.perf_counter() - started:.1f} s: "
          + ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items())))
    print(f"other exceptions (would be 500): {len(other)}" + "".join(f"\n  {o}" for o in other))
    print(f"slower than 1 s: {', '.join(slow) or 'none'}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
