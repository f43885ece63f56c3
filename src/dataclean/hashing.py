"""Per-image signatures for duplicate search, computed from one small grayscale image.

* ``phash``: the 64-bit DCT perceptual hash of imagehash.phash, computed with a precomputed DCT
  matrix (only the 8 lowest frequencies) on a 32x32 *area-average* (BOX) reduction instead of a
  LANCZOS one: 5x cheaper, and no less stable between an image and its copies
  (benchmarks/neardup_tuning.py). Tests hold it bit for bit to ``imagehash.phash`` of that reduction.
* ``phash_mirror``: the same hash of the horizontally mirrored image, so mirrored copies are found by
  comparing ``phash`` of one image with ``phash_mirror`` of the other. Mirroring a row negates the
  odd horizontal DCT-II frequencies exactly, so it costs no second transform.
* ``thumb``: a 16x16 grayscale thumbnail (uint8), the finer signal used to verify candidate pairs.

All three come from one 32x32 BOX reduction of an already small image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from dataclean.record import THUMB_SIZE, from_hex, to_hex  # noqa: F401 - importable from here too, as before

HASH_SIDE = 8
_PHASH_SIDE = 32  # imagehash.phash(hash_size=8, highfreq_factor=4) works on a 32x32 image


def _dct_matrix(n: int) -> np.ndarray:
    """Unnormalised DCT-II matrix as scipy.fftpack.dct(type=2) applies it: 2*cos(pi*k*(2x+1)/2n)."""
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * x + 1) / (2 * n))


_DCT = _dct_matrix(_PHASH_SIDE)[:HASH_SIDE]  # only the 8 lowest frequencies are ever used
_MIRROR_SIGN = np.where(np.arange(HASH_SIDE) % 2 == 1, -1.0, 1.0)[None, :]
_SIGNS = np.stack([np.ones((1, HASH_SIDE)), _MIRROR_SIGN])  # (2, 1, 8): direct, mirrored


def low_frequencies(gray32: np.ndarray) -> np.ndarray:
    """The 8x8 lowest DCT-II coefficients of (a stack of) 32x32 float arrays (rows = vertical frequency)."""
    return _DCT @ gray32 @ _DCT.T


def reduce32(gray: Image.Image, box: tuple[float, float, float, float] | None = None) -> Image.Image:
    """The 32x32 area-average reduction every signature is computed from (grayscale ``L``), of the
    region ``box`` (left, upper, right, lower; fractional pixels allowed) or of the whole image."""
    if gray.mode != "L":
        gray = gray.convert("L")
    return gray.resize((_PHASH_SIDE, _PHASH_SIDE), Image.Resampling.BOX, box=box)


def reduce32_core(gray: Image.Image, box: tuple[float, float, float, float]) -> Any:
    """:func:`reduce32` of an ``L`` image as Pillow's core image object, for :func:`stack32`.

    The same C call that ``Image.resize`` makes, minus its per-call argument checks: per photo those
    checks and a ``tobytes`` per image cost as much as the reduction itself (tests hold the result
    byte for byte to ``reduce32``).
    """
    return gray.im.resize((_PHASH_SIDE, _PHASH_SIDE), Image.Resampling.BOX, box)


def stack32(cores: Sequence[Any]) -> bytes:
    """The pixels of many :func:`reduce32_core` images, stacked: ``len(cores) * 1024`` bytes, row-major.

    Pasted onto one canvas and copied out once (one ``tobytes`` per batch instead of one per image).
    """
    side = _PHASH_SIDE
    canvas = Image.new("L", (side, side * len(cores)))
    for i, core in enumerate(cores):
        canvas.im.paste(core, (0, side * i, side, side * (i + 1)))
    return canvas.tobytes()


def signatures_batch(stacked: bytes) -> tuple[list[str], list[str], list[bytes]]:
    """Hex ``phash``, hex ``phash_mirror`` and thumbnail bytes for many :func:`reduce32` images at once.

    ``stacked`` holds the images' 32x32 pixels one after another (:func:`stack32`, or the
    concatenated ``reduce32(img).tobytes()``). One vectorised pass per batch: per image, numpy's
    call overhead would cost more than the arithmetic.
    """
    k = len(stacked) // (_PHASH_SIDE * _PHASH_SIDE)
    if k == 0:
        return [], [], []
    px = np.frombuffer(stacked, dtype=np.uint8).reshape(k, _PHASH_SIDE, _PHASH_SIDE)
    both = (low_frequencies(px.astype(np.float64))[:, None] * _SIGNS).reshape(k, 2, HASH_SIDE * HASH_SIDE)
    ranked = np.sort(both, axis=-1)
    median = (ranked[..., 31] + ranked[..., 32]) / 2.0
    # row-major bits, first most significant: imagehash's hex order
    hexes = np.packbits(both > median[..., None], axis=-1).tobytes().hex()
    # thumbnail pixel: rounded mean of a 2x2 block (as Image.reduce(2)); four strided views add up
    # 15x faster than a reshaped sum
    wide = px.astype(np.uint16)
    blocks = wide[:, 0::2, 0::2] + wide[:, 1::2, 0::2] + wide[:, 0::2, 1::2] + wide[:, 1::2, 1::2]
    thumbs = ((blocks + 2) // 4).astype(np.uint8).tobytes()
    t = THUMB_SIZE * THUMB_SIZE
    return ([hexes[32 * i : 32 * i + 16] for i in range(k)], [hexes[32 * i + 16 : 32 * i + 32] for i in range(k)],
            [thumbs[t * i : t * (i + 1)] for i in range(k)])


def signatures(gray: Image.Image) -> tuple[int, int, np.ndarray]:
    """Return ``(phash, phash_mirror, thumb)`` for an image of any size and mode."""
    (ph,), (ph_m,), (thumb,) = signatures_batch(reduce32(gray).tobytes())
    return int(ph, 16), int(ph_m, 16), np.frombuffer(thumb, dtype=np.uint8).reshape(THUMB_SIZE, THUMB_SIZE)
