"""The fast pHash must equal imagehash.phash of the 32x32 area-average reduction bit for bit, and the mirror
hash must be the mirror's hash."""

from __future__ import annotations

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageOps

from dataclean.hashing import from_hex, reduce32, reduce32_core, signatures, signatures_batch, stack32, to_hex


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
        # imagehash's own LANCZOS resize is then 32x32 -> 32x32, a copy: the reference sees our reduction
        assert to_hex(ph) == str(imagehash.phash(_box32(img)))


def test_mirror_hash_is_the_hash_of_the_mirrored_reduction() -> None:
    for img in _images(40, 3):
        _, ph_m, _ = signatures(img)
        small = _box32(img)
        assert to_hex(ph_m) == str(imagehash.phash(ImageOps.mirror(small)))


def _box32(img: Image.Image) -> Image.Image:
    return img.resize((32, 32), Image.Resampling.BOX)


def test_thumb_is_the_rounded_2x2_mean_of_the_reduction() -> None:
    img = _images(1, 4)[0]
    ph, _, thumb = signatures(img)
    assert thumb.shape == (16, 16) and thumb.dtype == np.uint8
    blocks = np.asarray(_box32(img), dtype=np.float64).reshape(16, 2, 16, 2).mean(axis=(1, 3))
    assert np.abs(thumb.astype(np.float64) - blocks).max() <= 0.5
    assert from_hex([to_hex(ph), ""]).tolist() == [ph, 0]


def test_stacked_core_reductions_equal_reduce32_per_image() -> None:
    """The worker's fast path (core resize, one canvas per batch) gives reduce32's bytes, box and all."""
    images = _images(12, 5)
    boxes = [(0.0, 0.0, img.width - 0.25, img.height * 0.75) for img in images]
    stacked = stack32([reduce32_core(img, box) for img, box in zip(images, boxes)])
    assert stacked == b"".join(reduce32(img, box).tobytes() for img, box in zip(images, boxes))
    assert signatures_batch(stacked)[0] == [to_hex(signatures(reduce32(img, box))[0])
                                            for img, box in zip(images, boxes)]
    assert stack32([]) == b"" and signatures_batch(b"") == ([], [], [])
