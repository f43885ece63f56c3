"""Leaks planted across a real pre-split dataset: are they all found, and does `fix` leave none?

Copies the real photos of a pre-split folder (default: the clothing photos, train/ validation/ test/
then classes) into a temp dataset, plants copies across the given split (exact copies, resized and
re-encoded copies and mirrored copies of train photos filed under val or test in the same class,
and copies of test photos filed under train), then runs the audit and the default `fix` and prints:

* how many planted copies split_leak flagged (and how many untouched photos it flagged: false alarms,
  with their paths so they can be looked at);
* whether any duplicate cluster still spans two splits in clean.csv, and how many given-test files
  moved to train or given-train files to test (both must be 0).

    python benchmarks/split_leak_recall.py                            # ../shared/data/clothing-dataset-small
    python benchmarks/split_leak_recall.py --source DATA/ --per-kind 20 --seed 1
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageOps

from dataclean.audit import run_audit, write_outputs
from dataclean.fix.engine import plan_fix

#: The team's shared photos, beside the checkout (or beside the folder of worktrees).
DEFAULT_SOURCE = next((p / "shared/data/clothing-dataset-small" for p in Path(__file__).resolve().parents[2:4]
                       if (p / "shared/data/clothing-dataset-small").is_dir()),
                      Path(__file__).resolve().parents[2] / "shared/data/clothing-dataset-small")


def _open(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


def plant(root: Path, per_kind: int, rng: random.Random) -> dict[str, str]:
    """Plant copies across the split; return {planted path: kind}. Originals are left as they are."""
    def photos(split: str) -> list[Path]:
        return sorted(p for p in (root / split).glob("*/*.jpg"))

    train, evals = photos("train"), [*photos("validation"), *photos("test")]
    rng.shuffle(train)
    rng.shuffle(evals)
    take_train, take_eval = iter(train), iter(evals)
    planted: dict[str, str] = {}

    def target(src: Path, split: str, suffix: str) -> Path:
        dst = root / split / src.parent.name / f"{src.stem}_{suffix}"
        dst.parent.mkdir(parents=True, exist_ok=True)
        return dst

    for k in range(per_kind):
        side = "test" if k % 2 == 0 else "validation"
        src = next(take_train)
        dst = target(src, side, "exact.jpg")
        shutil.copyfile(src, dst)
        planted[dst.relative_to(root).as_posix()] = "exact copy train -> " + side
        src = next(take_train)
        img = _open(src)
        dst = target(src, side, "half.jpg")
        img.resize((img.width // 2, img.height // 2), Image.Resampling.LANCZOS).save(dst, "JPEG", quality=70)
        planted[dst.relative_to(root).as_posix()] = "resized q70 copy train -> " + side
        src = next(take_train)
        dst = target(src, side, "mirror.png")
        ImageOps.mirror(_open(src)).save(dst, "PNG")
        planted[dst.relative_to(root).as_posix()] = "mirrored PNG copy train -> " + side
        src = next(take_eval)
        dst = target(src, "train", "from_eval.jpg")
        shutil.copyfile(src, dst)
        planted[dst.relative_to(root).as_posix()] = "exact copy val/test -> train"
    return planted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--per-kind", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        shutil.copytree(args.source, root, ignore=shutil.ignore_patterns("LICENSE", "README*"))
        planted = plant(root, args.per_kind, random.Random(args.seed))
        started = time.perf_counter()
        result = run_audit(root, workers=args.workers)
        took = time.perf_counter() - started
        write_outputs(result, Path(tmp) / "audit")
        paths = result.table["path"]
        flagged = {paths[f.row] for f in result.findings["split_leak"] if f.row is not None}
        groups = dict(zip(paths, result.table["group"]))
        planted_groups = {groups[p] for p in planted if groups[p]}
        print(f"{len(paths)} files ({len(planted)} planted copies), audit {took:.1f} s; "
              f"layout {result.summary['layout']['given_split']}")
        kinds: dict[str, list[bool]] = {}
        for path, kind in planted.items():
            kinds.setdefault(kind, []).append(path in flagged)
        for kind, hits in sorted(kinds.items()):
            print(f"  {kind:38s} {sum(hits):3d} / {len(hits)} flagged split_leak")
        others = sorted(p for p in flagged if p not in planted and groups[p] not in planted_groups)
        print(f"split_leak on files outside the planted clusters: {len(others)}")
        for p in others:
            print(f"  {p}: {next(f.detail for f in result.findings['split_leak'] if paths[f.row] == p)}")

        plan = plan_fix(Path(tmp) / "audit" / "manifest.csv")
        d = plan.decisions
        kept = d[d["action"] == "keep"]
        spanning = int((kept[kept["group"] != ""].groupby("group")["split"].nunique() > 1).sum())
        test_to_train = int(((d["given_split"] == "test") & (d["split"] == "train")).sum())
        train_to_test = int(((d["given_split"] == "train") & (d["split"] == "test")).sum())
        dropped = d[(d["action"] == "drop") & d["reason"].str.startswith("split_leak")]
        print(f"fix: {len(kept)} kept, {len(dropped)} dropped as split_leak; clusters spanning two splits in "
              f"clean.csv: {spanning}; given test -> train: {test_to_train}; given train -> test: {train_to_test}")
        print(f"fix: split sizes {kept['split'].value_counts().to_dict()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
