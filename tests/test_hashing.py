"""The fast pHash must equal imagehash.phash bit for bit, and the mirror hash must be the mirror's hash."""

from __future__ import annotations

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageOps

from dataclean.hashing import from_hex, signatures, to_hex


def _images(n: int, seed: int) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        h, w = rng.integers(8, 300, 2)
        base = rng.normal(128, 60, (h, w)).cumsum(axis=1) / np.sqrt(np.arange(1, w + 1))  # smooth-ish texture
        out.append(Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "L"))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2], ids=["seed0", "seed1", "seed2"])
def test_phash_equals_imagehash(seed: int) -> None:
    for img in _images(40, seed):
        ph, _, _ = signatures(img)
        assert to_hex(ph) == str(imagehash.phash(img))


def test_mirror_hash_is_the_hash_of_the_mirrored_reduction() -> None:
    for img in _images(40, 3):
        _, ph_m, _ = signatures(img)
        small = img.resize((32, 32), Image.Resampling.LANCZOS)
        assert to_hex(ph_m) == str(imagehash.phash(ImageOps.mirror(small)))


def test_thumb_and_hex_round_trip() -> None:
    ph, _, thumb = signatures(_images(1, 4)[0])
    assert thumb.shape == (16, 16) and thumb.dtype == np.uint8
    assert from_hex([to_hex(ph), ""]).tolist() == [ph, 0]
