"""Evidence for the near-duplicate defaults (max_distance, min_similarity) on real photos.

Not a test: it reads /work/shared/data (override with --clothing / --imagededup) and prints tables.

* Negatives: pairs found among the 3,781 clothing photos (look-alike backgrounds, no known
  duplicates) at several Hamming radii, before and after thumbnail verification.
* Recall: transformed copies (resize, JPEG q30/q50, PNG, WebP, BMP, grayscale, RGBA, mirror, mixed,
  5% crop) of a seeded sample of clothing photos, searched together with all originals; a copy counts
  as found when its pair with its original is returned.
* imagededup sample: files whose names share a ``ukbenchNNNNN`` stem are the same picture.

    python benchmarks/neardup_tuning.py [--sample 300] [--review-dir /tmp/neardup_review]
"""

from __future__ import annotations

import argparse
import io
import re
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from dataclean.hashing import THUMB_SIZE
from dataclean.inspect import Record, inspect_bytes, inspect_file
from dataclean.neardup import near_duplicate_pairs

RADII = (4, 6, 8, 10, 12, 14)
SIMILARITIES = (0.80, 0.90, 0.95, 0.98, 0.99)
SEARCH_RADIUS = max(RADII)


def _encode(im: Image.Image, fmt: str, **kw: object) -> bytes:
    """The bytes of ``im`` saved as a file of ``fmt``: what the audit would read from disk."""
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _crop(im: Image.Image, frac: float) -> Image.Image:
    w, h = im.size
    dx, dy = int(w * frac / 2), int(h * frac / 2)
    return im.crop((dx, dy, w - dx, h - dy))


def _half(im: Image.Image) -> Image.Image:
    return im.resize((max(1, im.width // 2), max(1, im.height // 2)), Image.Resampling.BILINEAR)


TRANSFORMS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "resize50": lambda im: _encode(_half(im), "JPEG", quality=90),
    "jpeg_q30": lambda im: _encode(im, "JPEG", quality=30),
    "jpeg_q50": lambda im: _encode(im, "JPEG", quality=50),
    "png": lambda im: _encode(im, "PNG"),
    "webp": lambda im: _encode(im, "WEBP", quality=80),
    "bmp": lambda im: _encode(im, "BMP"),
    "grayscale": lambda im: _encode(im.convert("L"), "JPEG", quality=90),
    "rgba": lambda im: _encode(im.convert("RGBA"), "PNG"),
    "mirror": lambda im: _encode(ImageOps.mirror(im), "JPEG", quality=90),
    "mirror_half_q50": lambda im: _encode(_half(ImageOps.mirror(im)), "JPEG", quality=50),
    "crop5": lambda im: _encode(_crop(im, 0.05), "JPEG", quality=90),
    "crop10": lambda im: _encode(_crop(im, 0.10), "JPEG", quality=90),
}


def load(path: Path) -> Image.Image:
    """The source photo as an RGB image (EXIF orientation applied) to make transformed copies of."""
    im = Image.open(path)
    im = ImageOps.exif_transpose(im)
    return im.convert("RGBA" if "A" in im.getbands() else "RGB")


def _signature(rec: Record) -> tuple[int, int, np.ndarray]:
    """Hashes and thumbnail exactly as the audit computes them (reduced-scale decode included)."""
    thumb = np.frombuffer(rec.thumb, dtype=np.uint8).reshape(THUMB_SIZE, THUMB_SIZE)
    return int(rec.phash, 16), int(rec.phash_mirror, 16), thumb


def _file_signature(path: str) -> tuple[int, int, np.ndarray]:
    return _signature(inspect_file(path))


def _copies_signatures(path: str) -> list[tuple[int, int, np.ndarray]]:
    im = load(Path(path))
    return [_signature(inspect_bytes(fn(im))) for fn in TRANSFORMS.values()]


def _stack(sigs: list[tuple[int, int, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ph = np.array([s[0] for s in sigs], dtype=np.uint64)
    pm = np.array([s[1] for s in sigs], dtype=np.uint64)
    th = np.stack([s[2] for s in sigs]).astype(np.uint8)
    return ph, pm, th


def negatives_table(pairs: pd.DataFrame, n_orig: int) -> pd.DataFrame:
    """Pairs among originals per radius: unverified, then verified at each similarity threshold."""
    among = pairs[(pairs.i < n_orig) & (pairs.j < n_orig)]
    rows = []
    for r in RADII:
        within = among[among.distance <= r]
        row = {"max_distance": r, "unverified": len(within)}
        for s in SIMILARITIES:
            row[f"sim>={s:.2f}"] = int((within.similarity >= s).sum())
        rows.append(row)
    return pd.DataFrame(rows)


def recall_table(pairs: pd.DataFrame, n_orig: int, sample: np.ndarray, min_sim: float) -> pd.DataFrame:
    """Per transform: share of copies paired with their original at each radius (verified)."""
    names = list(TRANSFORMS)
    columns = pairs[["i", "j", "distance", "similarity"]].itertuples(index=False)
    found = {(int(i), int(j)): (int(d), float(s)) for i, j, d, s in columns}
    rows = []
    for t, name in enumerate(names):
        dist, sim = [], []
        for s_idx, orig in enumerate(sample):
            copy = n_orig + s_idx * len(names) + t
            d, sm = found.get((int(orig), copy), (99, -1.0))
            dist.append(d)
            sim.append(sm)
        dist, sim = np.array(dist), np.array(sim)
        row = {"transform": name}
        for r in RADII:
            row[f"d<={r}"] = f"{np.mean((dist <= r) & (sim >= min_sim)):.1%}"
        row["max_dist"] = int(dist.max())
        row["min_sim"] = round(float(sim[dist <= SEARCH_RADIUS].min()), 3) if (dist <= SEARCH_RADIUS).any() else None
        rows.append(row)
    return pd.DataFrame(rows)


def imagededup_table(root: Path) -> pd.DataFrame:
    """Every pair of ukbench files with the same stem: distance, similarity, and whether found."""
    files = sorted(p for p in root.rglob("ukbench*") if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".bmp", ".webp"})
    sigs, kept = [], []
    for p in files:
        rec = inspect_file(str(p))
        if rec.phash:  # skips the sample's deliberately corrupt file
            sigs.append(_signature(rec))
            kept.append(p)
    ph, pm, th = _stack(sigs)
    pairs = near_duplicate_pairs(ph, pm, th, max_distance=SEARCH_RADIUS, min_similarity=-1.0)
    found = {(int(i), int(j)): (d, s, m) for i, j, d, m, s in pairs.itertuples(index=False)}
    stem = [re.match(r"ukbench\d+", p.name).group(0) for p in kept]
    rows = []
    for a in range(len(kept)):
        for b in range(a + 1, len(kept)):
            same = stem[a] == stem[b]
            d, s, m = found.get((a, b), (None, None, None))
            if same or d is not None:
                rows.append({"a": str(kept[a].relative_to(root)), "b": str(kept[b].relative_to(root)),
                             "same_picture": same, "distance": d, "mirrored": m,
                             "similarity": None if s is None else round(s, 3)})
    return pd.DataFrame(rows)


def review(pairs: pd.DataFrame, paths: list[Path], out: Path, n_show: int = 12) -> None:
    """Side-by-side PNGs of the highest-similarity pairs among originals, for eyeballing."""
    out.mkdir(parents=True, exist_ok=True)
    for k, row in enumerate(pairs.sort_values("similarity", ascending=False).head(n_show).itertuples()):
        a, b = (load(paths[int(row.i)]).convert("RGB"), load(paths[int(row.j)]).convert("RGB"))
        a.thumbnail((256, 256))
        b.thumbnail((256, 256))
        canvas = Image.new("RGB", (520, 260), "white")
        canvas.paste(a, (0, 0))
        canvas.paste(b, (262, 0))
        canvas.save(out / f"pair{k:02d}_d{row.distance}_s{row.similarity:.3f}{'_m' if row.mirrored else ''}.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clothing", type=Path, default=Path("/work/shared/data/clothing-dataset-small"))
    ap.add_argument("--imagededup", type=Path, default=Path("/work/shared/data/imagededup"))
    ap.add_argument("--sample", type=int, default=300, help="photos to make transformed copies of")
    ap.add_argument("--min-similarity", type=float, default=0.99, help="verification threshold for recall")
    ap.add_argument("--review-dir", type=Path, default=None, help="write side-by-side PNGs of found pairs")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    paths = sorted(args.clothing.glob("*/*/*.jpg"))
    sample = np.sort(np.random.default_rng(0).choice(len(paths), size=min(args.sample, len(paths)), replace=False))
    with ProcessPoolExecutor(args.workers) as pool:
        orig = list(pool.map(_file_signature, map(str, paths), chunksize=32))
        copies = [s for group in pool.map(_copies_signatures, [str(paths[k]) for k in sample], chunksize=8) for s in group]
    ph, pm, th = _stack(orig + copies)
    pairs = near_duplicate_pairs(ph, pm, th, max_distance=SEARCH_RADIUS, min_similarity=-1.0)

    pd.set_option("display.width", 200)
    print(f"clothing-dataset-small: {len(paths)} photos; copies: {len(sample)} photos x {len(TRANSFORMS)} transforms\n")
    print("Pairs among the original photos (direct or mirrored candidates), before/after verification:")
    print(negatives_table(pairs, len(paths)).to_string(index=False), "\n")
    print(f"Recall of transformed copies (verified, similarity >= {args.min_similarity}):")
    print(recall_table(pairs, len(paths), sample, args.min_similarity).to_string(index=False), "\n")
    among = pairs[(pairs.i < len(paths)) & (pairs.j < len(paths))]
    print("Similarity of unrelated-photo candidates within radius 10 (quantiles):")
    print(among[among.distance <= 10].similarity.describe(percentiles=[0.5, 0.9, 0.95, 0.99]).round(3).to_string(), "\n")
    top = among[among.similarity >= 0.98].sort_values("similarity", ascending=False)
    print("Original-photo pairs with similarity >= 0.98:")
    for row in top.itertuples(index=False):
        print(f"  d={row.distance:2d} sim={row.similarity:.4f} mirrored={row.mirrored!s:5}  "
              f"{paths[row.i].relative_to(args.clothing)}  {paths[row.j].relative_to(args.clothing)}")
    print()
    print("imagededup sample (same stem = same picture):")
    print(imagededup_table(args.imagededup).to_string(index=False))
    if args.review_dir:
        review(among[among.distance <= 12], paths, args.review_dir)
        print(f"\nreview images written to {args.review_dir}")


if __name__ == "__main__":
    main()
