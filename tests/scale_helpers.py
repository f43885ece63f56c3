"""Shared by the storage, cache and Dask tests: a small seeded dataset and output comparison."""

from __future__ import annotations

import io
import os
import shutil
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dataclean.audit import AuditResult


def jpeg_bytes(seed: int, size: tuple[int, int] = (96, 72)) -> bytes:
    """A seeded blocky photo-like JPEG (distinct seeds give distinct perceptual hashes)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize(size, Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def make_small_dataset(root: Path, n_per_class: int = 6) -> dict[str, bytes]:
    """cats/ and dogs/ with seeded JPEGs, one exact copy, one truncated file, one text file."""
    files: dict[str, bytes] = {}
    for c, label in enumerate(("cats", "dogs")):
        for i in range(n_per_class):
            files[f"{label}/{label}_{i:02d}.jpg"] = jpeg_bytes(100 * c + i)
    files["dogs/copy_of_cat.jpg"] = files["cats/cats_00.jpg"]
    files["cats/truncated.jpg"] = files["cats/cats_01.jpg"][:400]
    files["cats/notes.txt"] = b"not an image\n"
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def slow_png(chunks: int = 2_500_000) -> bytes:
    """A valid 8x8 PNG whose header is followed by ``chunks`` empty private chunks (12 bytes each):
    Pillow parses them one by one in Python, ~2.6 us each, so 2.5M (30 MB) keep the decoder busy for
    ~7 s on a quiet core, far past a 1 s time limit."""
    buf = io.BytesIO()
    Image.new("L", (8, 8)).save(buf, "PNG")
    png = buf.getvalue()
    empty = struct.pack(">I", 0) + b"prVt" + struct.pack(">I", zlib.crc32(b"prVt"))
    return png[:33] + empty * chunks + png[33:]  # 33: signature and IHDR


def copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst)


#: Columns that legitimately differ between two audits of the same files from different places.
PLACE_COLUMNS = ("root", "mtime")


def comparable(result: AuditResult, drop: tuple[str, ...] = PLACE_COLUMNS) -> dict[str, list[Any]]:
    """The manifest's columns (minus ``drop``) and the issues table, for equality between audits."""
    cols = {c: result.table[c] for c in result.table.columns if c not in drop}
    cols.update({f"issues.{c}": result.issue_table[c] for c in result.issue_table.columns})
    return cols


def summary_core(result: AuditResult) -> dict[str, Any]:
    """The summary without what depends on the run (time, place, cache, engine)."""
    # manifest, issues_file, generation: set by write_outputs (checksums of the written files, a run id)
    skip = {"created", "timing", "root", "cache", "parameters", "warnings", "manifest", "issues_file", "generation"}
    return {k: v for k, v in result.summary.items() if k not in skip}


def bump_mtime(path: Path, seconds: float = 10.0) -> None:
    st = path.stat()
    os.utime(path, (st.st_atime + seconds, st.st_mtime + seconds))
