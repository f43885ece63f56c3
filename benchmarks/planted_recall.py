"""Recall on planted problems and false positives on untouched real photos.

Copies a folder of real class-folder photos into a temp dataset, plants N instances of every problem
the audit looks for (duplicates, resized copies, copies under another class, truncated / empty /
random-byte files, darkened / washed-out / flattened images, tiny and strip-shaped images, PNG named
.jpg, text files, same-name files in two classes), runs `dataclean audit`, and prints per problem
how many plants were found by the expected check, and how many untouched photos were flagged at all.

    python benchmarks/planted_recall.py                       # ../shared/data/clothing-dataset-small/train
    python benchmarks/planted_recall.py --source PHOTOS/ --per-kind 25 --seed 1
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageEnhance

from dataclean.audit import run_audit

DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "shared/data/clothing-dataset-small/train"


def _open(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


def plant(root: Path, per_kind: int, rng: random.Random) -> tuple[dict[str, tuple[str, str]], set[str]]:
    """Plant problems in ``root``; return {planted path: (kind, expected check)} and the touched originals."""
    photos = sorted(p for p in root.glob("*/*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    classes = sorted({p.parent.name for p in photos})
    pool = photos[:]
    rng.shuffle(pool)
    take = iter(pool)
    planted: dict[str, tuple[str, str]] = {}
    touched: set[str] = set()

    def rel(p: Path) -> str:
        return p.relative_to(root).as_posix()

    def other_class(p: Path) -> str:
        return rng.choice([c for c in classes if c != p.parent.name])

    for k in range(per_kind):
        src = next(take)  # exact copy, same class
        dst = src.with_name(f"{src.stem}_copy{src.suffix}")
        shutil.copyfile(src, dst)
        planted[rel(dst)] = ("exact copy", "exact_duplicate")
        touched.add(rel(src))

        src = next(take)  # resized and recompressed copy
        img = _open(src)
        dst = src.with_name(f"{src.stem}_half.jpg")
        img.resize((img.width // 2, img.height // 2), Image.Resampling.LANCZOS).save(dst, "JPEG", quality=75)
        planted[rel(dst)] = ("resized copy", "near_duplicate")
        touched.add(rel(src))

        src = next(take)  # the same photo under another class
        dst = root / other_class(src) / f"moved_{k}_{src.name}"
        shutil.copyfile(src, dst)
        planted[rel(dst)] = ("copy under another class", "label_conflict")
        touched.add(rel(src))

        for kind, check, make in (
            ("truncated", "corrupt", lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])),
            ("empty", "corrupt", lambda p: p.write_bytes(b"")),
            ("random bytes", "corrupt", lambda p: p.write_bytes(rng.randbytes(20_000))),
            ("darkened", "dark", lambda p: ImageEnhance.Brightness(_open(p)).enhance(0.25).save(p, "JPEG")),
            ("washed out", "bright",
             lambda p: Image.blend(_open(p), Image.new("RGB", _open(p).size, "white"), 0.8).save(p, "JPEG")),
            ("flattened", "low_contrast", lambda p: ImageEnhance.Contrast(_open(p)).enhance(0.1).save(p, "JPEG")),
            ("tiny", "resolution", lambda p: _open(p).resize((24, 32)).save(p, "JPEG")),
            ("strip", "resolution", lambda p: _open(p).resize((600, 60)).save(p, "JPEG")),
            ("PNG named .jpg", "naming", lambda p: _open(p).save(p, "PNG")),
        ):
            src = next(take)
            make(src)
            planted[rel(src)] = (kind, check)

        dst = root / rng.choice(classes) / f"notes_{k}.txt"
        dst.write_text("labelled by intern, batch 3\n")
        planted[rel(dst)] = ("text file", "naming")

        a = next(take)  # a different photo of another class renamed to a's name
        b = next(p for p in take if p.parent.name != a.parent.name)
        renamed = b.with_name(a.name)
        b.rename(renamed)
        planted[rel(renamed)] = ("same name in two classes", "duplicate_filename")
        touched.add(rel(a))
    return planted, touched


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="folder of <class>/<photo> to copy")
    ap.add_argument("--per-kind", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()
    if not args.source.is_dir():
        ap.error(f"source folder not found: {args.source}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        shutil.copytree(args.source, root)
        planted, touched = plant(root, args.per_kind, random.Random(args.seed))
        t0 = time.perf_counter()
        result = run_audit(root, workers=args.workers)
        elapsed = time.perf_counter() - t0
    issues = result.manifest.set_index("path")["issues"].str.split(";")
    by_kind: dict[str, list[bool]] = {}
    for path, (kind, check) in planted.items():
        by_kind.setdefault(f"{kind} -> {check}", []).append(check in issues.get(path, []))
    print(f"{len(result.manifest)} files audited in {elapsed:.1f} s; {len(planted)} planted, {args.per_kind} per kind\n")
    print(f"{'planted problem -> expected check':48s} found")
    for name, hits in by_kind.items():
        print(f"{name:48s} {sum(hits):3d}/{len(hits)}")
    found = sum(sum(h) for h in by_kind.values())
    untouched = [p for p in issues.index if p not in planted and p not in touched]
    flagged = [p for p in untouched if issues[p] != [""]]
    print(f"\nrecall: {found}/{len(planted)} = {found / len(planted):.1%}")
    print(f"untouched photos flagged: {len(flagged)}/{len(untouched)} = {len(flagged) / len(untouched):.2%}")
    for p in flagged[:15]:
        print(f"  {p}: {issues[p]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
