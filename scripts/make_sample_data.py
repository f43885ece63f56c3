"""Regenerate the bundled samples: seeded datasets with planted problems.

    python scripts/make_sample_data.py            # writes sample_data/ and sample_data_split/ (refuses to overwrite)
    python scripts/make_sample_data.py --force    # replaces them

sample_data/ is a class-folder dataset with one planted instance of every check
(`dataclean audit sample_data/ --labels sample_data/labels.csv` finds it all); sample_data_split/ is a
pre-split one (train/ validation/ test/ then classes) with one planted leak: a reduced copy of a train
image filed under test (`dataclean audit sample_data_split/` reports it as split_leak).
It prints what was planted.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from dataclean.synth import make_dataset, make_split_dataset

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(REPO / "sample_data"), help="the class-folder sample")
    parser.add_argument("--split-out", default=str(REPO / "sample_data_split"), help="the pre-split sample")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="replace existing folders")
    args = parser.parse_args()
    outs = [Path(args.out), Path(args.split_out)]
    for out in outs:
        if out.exists():
            if not args.force:
                print(f"{out} exists; pass --force to replace it", file=sys.stderr)
                return 2
            shutil.rmtree(out)
    for out, make in zip(outs, (make_dataset, make_split_dataset)):
        planted = make(out, seed=args.seed)
        print(f"{out.name}/")
        for path, checks in sorted(planted.items()):
            print(f"  {path or '(dataset)'}: {', '.join(checks)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
