"""Regenerate sample_data/: a small seeded dataset with one planted instance of every check.

    python scripts/make_sample_data.py            # writes sample_data/ (refuses to overwrite)
    python scripts/make_sample_data.py --force    # replaces it

It prints what was planted; `dataclean audit sample_data/ --labels sample_data/labels.csv` finds it all.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from dataclean.synth import make_dataset


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "sample_data"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="replace an existing folder")
    args = parser.parse_args()
    out = Path(args.out)
    if out.exists():
        if not args.force:
            print(f"{out} exists; pass --force to replace it", file=sys.stderr)
            return 2
        shutil.rmtree(out)
    planted = make_dataset(out, seed=args.seed)
    for path, checks in sorted(planted.items()):
        print(f"{path or '(dataset)'}: {', '.join(checks)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
