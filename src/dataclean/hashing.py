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

import numpy as np
from PIL import Image

THUMB_SIZE = 16
HASH_SIDE = 8
_PHASH_SIDE = 32  # imagehash.phash(hash_size=8, highfreq_factor=4) works on a 32x32 image


def _dct_matrix(n: int) -> np.ndarray:
    """Unnormalised DCT-II matrix as scipy.fftpack.dct(type=2) applies it: 2*cos(pi*k*(2x+1)/2n)."""
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * x + 1) / (2 * n))


_DCT = _dct_matrix(_PHASH_SIDE)[:HASH_SIDE]  # only the 8 lowest frequencies are ever used
_MIRROR_SIGN = np.where(np.arange(HASH_SIDE) % 2 == 1, -1.0, 1.0)[None, :]


def _bits_to_int(bits: np.ndarray) -> int:
    """Row-major boolean 8x8 -> int, first bit most significant (imagehash's hex order)."""
    return int.from_bytes(np.packbits(bits, axis=None).tobytes(), "big")


def low_frequencies(gray32: np.ndarray) -> np.ndarray:
    """The 8x8 lowest DCT-II coefficients of a 32x32 float array (rows = vertical frequency)."""
    return _DCT @ gray32 @ _DCT.T


def _median64(values: np.ndarray) -> float:
    """Median of 64 values; np.median's per-call overhead is 10x the sort on arrays this small."""
    s = np.sort(values, axis=None)
    return float(s[31] + s[32]) / 2.0


def reduce32(gray: Image.Image) -> Image.Image:
    """The 32x32 area-average reduction every signature is computed from (grayscale ``L``)."""
    if gray.mode != "L":
        gray = gray.convert("L")
    return gray.resize((_PHASH_SIDE, _PHASH_SIDE), Image.Resampling.BOX)


def signatures(gray: Image.Image) -> tuple[int, int, np.ndarray]:
    """Return ``(phash, phash_mirror, thumb)`` for an image of any size and mode."""
    small = reduce32(gray)
    coeffs = low_frequencies(np.frombuffer(small.tobytes(), dtype=np.uint8).reshape(_PHASH_SIDE, _PHASH_SIDE)
                             .astype(np.float64))
    mirrored = coeffs * _MIRROR_SIGN
    ph = _bits_to_int(coeffs > _median64(coeffs))
    ph_m = _bits_to_int(mirrored > _median64(mirrored))
    # the 16x16 thumbnail: each pixel the rounded mean of a 2x2 block of the 32x32 image
    k = _PHASH_SIDE // THUMB_SIZE
    thumb = np.frombuffer(small.reduce(k).tobytes(), dtype=np.uint8).reshape(THUMB_SIZE, THUMB_SIZE)
    return ph, ph_m, thumb


def to_hex(h: int) -> str:
    """64-bit hash as 16 lowercase hex digits (the manifest's format, as imagehash prints it)."""
    return f"{h:016x}"


def from_hex(values: "list[str] | np.ndarray") -> np.ndarray:
    """Manifest hex strings to a uint64 array (empty strings become 0; callers mask them out)."""
    return np.array([int(v, 16) if v else 0 for v in values], dtype=np.uint64)
