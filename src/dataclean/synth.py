"""Synthetic class-folder datasets with planted problems, for the tests and the bundled sample_data/.

Images are seeded procedural "photos": a noisy two-colour gradient background with one shape whose
kind is the class (circles, squares, triangles, stars), so a classifier can learn them and no two
clean images are near-duplicates. :func:`make_dataset` writes the clean images plus one planted
instance of every problem the audit looks for, and returns what it planted (path -> check).
"""

from __future__ import annotations

import io
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

SHAPES = ("circles", "squares", "triangles", "stars")


def photo(rng: np.random.Generator, shape: str, size: tuple[int, int] = (128, 128)) -> Image.Image:
    """One procedural photo: gradient + noise background, one filled shape of a random colour."""
    w, h = size
    c0, c1 = rng.integers(20, 110, 3), rng.integers(150, 240, 3)  # a dark and a light end: photo-like contrast
    angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w]
    t = ((xx / w - 0.5) * math.cos(angle) + (yy / h - 0.5) * math.sin(angle) + 0.75) / 1.5
    bg = c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]
    bg += rng.normal(0, 12, bg.shape)
    blobs = rng.integers(2, 5)
    for _ in range(blobs):  # soft texture so pHashes of different photos differ
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(w / 8, w / 3)
        bg += rng.uniform(-45, 45) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))[..., None]
    img = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    red, green, blue = (int(v) for v in rng.integers(0, 256, 3))
    fill = (red, green, blue)
    r = rng.uniform(0.18, 0.32) * min(w, h)
    cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
    if shape == "circles":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "squares":
        draw.rectangle((cx - r, cy - r, cx + r, cy + r), fill=fill)
    elif shape == "triangles":
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
    else:
        pts = [(cx + (r if k % 2 == 0 else r / 2.5) * math.cos(k * math.pi / 5 - math.pi / 2),
                cy + (r if k % 2 == 0 else r / 2.5) * math.sin(k * math.pi / 5 - math.pi / 2)) for k in range(10)]
        draw.polygon(pts, fill=fill)
    return img


def save_jpeg(img: Image.Image, path: Path, quality: int = 88) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "JPEG", quality=quality)


def make_dataset(root: str | Path, counts: dict[str, int] | None = None, seed: int = 0,
                 plant: bool = True, size: tuple[int, int] = (128, 128)) -> dict[str, list[str]]:
    """Write a dataset under ``root``; return ``{relative path: [checks it must trigger]}`` for planted files.

    The dataset-level class_imbalance finding is keyed by the empty path. A ``labels.csv`` (path,label)
    at the root names one file under the wrong class (the planted misplaced file).

    ``counts`` defaults to 40 circles, 40 squares, 30 triangles and 8 stars (the stars class is the
    planted class_imbalance). With ``plant=False`` only clean images are written.
    """
    root = Path(root)
    counts = counts or {"circles": 40, "squares": 40, "triangles": 30, "stars": 8}
    rng = np.random.default_rng(seed)
    for label, n in counts.items():
        for k in range(n):
            save_jpeg(photo(rng, label, size), root / label / f"{label[:-1]}_{k:03d}.jpg")
    return _plant(root, rng, size) if plant else {}


def _plant(root: Path, rng: np.random.Generator, size: tuple[int, int]) -> dict[str, list[str]]:
    planted: dict[str, list[str]] = {}

    def put(rel: str, checks: list[str], data: bytes | None = None, img: Image.Image | None = None,
            fmt: str = "JPEG", **save: Any) -> None:
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if img is not None:
            buf = io.BytesIO()
            img.save(buf, fmt, **save)
            data = buf.getvalue()
        dest.write_bytes(data or b"")
        planted[rel] = checks

    def src(rel: str) -> Image.Image:
        with Image.open(root / rel) as im:
            return im.convert("RGB")

    shutil.copyfile(root / "circles/circle_001.jpg", root / "circles/circle_001_copy.jpg")
    planted["circles/circle_001_copy.jpg"] = ["exact_duplicate"]
    planted["circles/circle_001.jpg"] = ["exact_duplicate"]
    small = src("squares/square_002.jpg").resize((size[0] * 3 // 5, size[1] * 3 // 5), Image.Resampling.LANCZOS)
    put("squares/square_002_small.jpg", ["near_duplicate"], img=small, quality=60)
    planted["squares/square_002.jpg"] = ["near_duplicate"]
    put("triangles/triangle_003_mirror.png", ["near_duplicate"], img=ImageOps.mirror(src("triangles/triangle_003.jpg")),
        fmt="PNG")
    planted["triangles/triangle_003.jpg"] = ["near_duplicate"]
    shutil.copyfile(root / "circles/circle_004.jpg", root / "squares/circle_004.jpg")
    planted["squares/circle_004.jpg"] = ["exact_duplicate", "label_conflict", "duplicate_filename"]
    planted["circles/circle_004.jpg"] = ["exact_duplicate", "label_conflict", "duplicate_filename"]

    good = (root / "circles/circle_005.jpg").read_bytes()
    put("circles/truncated.jpg", ["corrupt"], data=good[: len(good) * 6 // 10])
    put("squares/empty.jpg", ["corrupt"], data=b"")
    put("triangles/random_bytes.jpg", ["corrupt"], data=rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    put("squares/scan.tif", ["tf_unreadable"], img=photo(rng, "squares", size), fmt="TIFF")

    put("circles/dark.jpg", ["dark", "low_contrast"], img=ImageEnhance.Brightness(photo(rng, "circles", size)).enhance(0.15))
    washed = Image.blend(photo(rng, "squares", size), Image.new("RGB", size, "white"), 0.9)
    put("squares/bright.jpg", ["bright", "low_contrast"], img=washed)
    put("triangles/flat.jpg", ["low_contrast"], img=ImageEnhance.Contrast(photo(rng, "triangles", size)).enhance(0.08))
    put("circles/tiny.jpg", ["resolution"], img=photo(rng, "circles", (20, 20)))
    put("squares/strip.jpg", ["resolution"], img=photo(rng, "squares", (size[0] * 4, size[1] // 4)))

    put("circles/photo.jpg", ["duplicate_filename"], img=photo(rng, "circles", size))
    put("triangles/photo.jpg", ["duplicate_filename"], img=photo(rng, "triangles", size))
    put("squares/really_a_png.jpg", ["naming"], img=photo(rng, "squares", size), fmt="PNG")
    put("circles/notes.txt", ["naming"], data=b"shot on 2024-05-01, lens cap on for some\n")
    put("squares/.DS_Store", ["naming"], data=b"\x00\x00\x00\x01Bud1" + bytes(64))

    misplaced = "circles/circle_010.jpg"
    (root / "labels.csv").write_text(
        "path,label\n" + "".join(f"{p.relative_to(root).as_posix()},{p.parent.name}\n"
                                 for p in sorted(root.glob("*/*.jpg")) if p.relative_to(root).as_posix() != misplaced)
        + f"{misplaced},squares\n", encoding="utf-8")
    planted[misplaced] = ["misplaced"]
    planted[""] = ["class_imbalance"]  # dataset-level: 8 stars against 46 squares
    return planted


def make_split_dataset(root: str | Path, counts: dict[str, dict[str, int]] | None = None, seed: int = 0,
                       size: tuple[int, int] = (128, 128), split_dirs: dict[str, str] | None = None,
                       leak: bool = True) -> dict[str, list[str]]:
    """Write a pre-split dataset ``root/<split>/<class>/<image>``; return the planted files (path -> checks).

    ``counts`` maps split -> class -> images (default: train 16 / val 3 / test 4 of circles, squares
    and triangles); ``split_dirs`` names each split's folder (default ``train``, ``validation``,
    ``test``). With ``leak``, one planted leak: a reduced, re-encoded copy of a train circle filed
    under test (split_leak and near_duplicate on both files).
    """
    root = Path(root)
    counts = counts or {s: dict.fromkeys(("circles", "squares", "triangles"), n)
                        for s, n in (("train", 16), ("val", 3), ("test", 4))}
    dirs = {"train": "train", "val": "validation", "test": "test", **(split_dirs or {})}
    rng = np.random.default_rng(seed)
    for split, classes in counts.items():
        for label, n in classes.items():
            for k in range(n):
                save_jpeg(photo(rng, label, size), root / dirs[split] / label / f"{split}_{label[:-1]}_{k:03d}.jpg")
    if not leak:
        return {}
    original = f"{dirs['train']}/circles/train_circle_003.jpg"
    copy = f"{dirs['test']}/circles/copy_of_train_circle_003.jpg"
    with Image.open(root / original) as im:
        small = im.convert("RGB").resize((size[0] * 3 // 4, size[1] * 3 // 4), Image.Resampling.LANCZOS)
    save_jpeg(small, root / copy, quality=70)
    return {original: ["split_leak", "near_duplicate"], copy: ["split_leak", "near_duplicate"]}
