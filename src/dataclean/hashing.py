"""Per-image signatures for duplicate search, computed from one small grayscale image.

* ``phash``: imagehash's 64-bit DCT perceptual hash.
* ``phash_mirror``: the same hash of the horizontally mirrored image, so mirrored copies are found
  by comparing ``phash`` of one image with ``phash_mirror`` of the other.
* ``thumb``: a 16x16 grayscale thumbnail (uint8), the finer signal used to verify candidate pairs.

All three come from one 32x32 LANCZOS reduction, so they cost one resize of an already small image.
"""

from __future__ import annotations

import imagehash
import numpy as np
from PIL import Image

THUMB_SIZE = 16
_PHASH_SIDE = 32  # imagehash.phash(hash_size=8, highfreq_factor=4) works on a 32x32 image


def _hash_int(h: imagehash.ImageHash) -> int:
    bits = np.asarray(h.hash, dtype=np.uint8).ravel()
    return int("".join("1" if b else "0" for b in bits), 2)


def signatures(gray: Image.Image) -> tuple[int, int, np.ndarray]:
    """Return ``(phash, phash_mirror, thumb)`` for a mode-"L" image (any size)."""
    if gray.mode != "L":
        gray = gray.convert("L")
    small = gray.resize((_PHASH_SIDE, _PHASH_SIDE), Image.Resampling.LANCZOS)
    # imagehash.phash resizes to 32x32 again; Pillow returns a copy when the size already matches.
    ph = _hash_int(imagehash.phash(small))
    ph_m = _hash_int(imagehash.phash(small.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    thumb = np.asarray(small.resize((THUMB_SIZE, THUMB_SIZE), Image.Resampling.BOX), dtype=np.uint8)
    return ph, ph_m, thumb


def to_hex(h: int) -> str:
    """64-bit hash as 16 lowercase hex digits (the manifest's format)."""
    return f"{h:016x}"


def from_hex(values: "list[str] | np.ndarray") -> np.ndarray:
    """Manifest hex strings to a uint64 array (empty strings become 0; callers mask them out)."""
    return np.array([int(v, 16) if v else 0 for v in values], dtype=np.uint64)
