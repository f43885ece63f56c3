"""Synthetic image datasets and clean manifests for the trainer tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

#: Solid colours with noise: a task any working pipeline separates.
COLOURS: dict[str, tuple[int, int, int]] = {"red": (220, 30, 30), "blue": (30, 30, 220), "green": (30, 200, 30)}


def write_image(path: Path, colour: tuple[int, int, int], size: int, rng: np.random.Generator) -> None:
    """A ``size`` x ``size`` image of ``colour`` plus uniform noise (+-40), as PNG or JPEG by suffix."""
    noise = rng.integers(-40, 41, size=(size, size, 3))
    pixels = np.clip(np.array(colour)[None, None, :] + noise, 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def make_manifest(tmp: Path, classes: list[str], per_split: dict[str, int], size: int = 40,
                  seed: int = 0) -> Path:
    """Images under ``tmp/data/<class>/`` and ``tmp/clean.csv`` with path, root, label, split (+ md5, width, height).

    ``per_split`` is images per class per split, e.g. ``{"train": 8, "val": 2, "test": 3}``.
    Even-numbered images are PNG, odd ones JPEG.
    """
    rng = np.random.default_rng(seed)
    root = tmp / "data"
    rows = []
    for label in classes:
        for split, n in per_split.items():
            for i in range(n):
                rel = f"{label}/{split}_{i}.{'png' if i % 2 == 0 else 'jpg'}"
                write_image(root / rel, COLOURS[label], size, rng)
                rows.append({"path": rel, "root": str(root), "label": label, "split": split,
                             "md5": "0" * 32, "width": size, "height": size})
    csv = tmp / "clean.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return csv
