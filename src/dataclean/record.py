"""What inspection learns about one file (:class:`Record`), and the few constants and conversions
the rest of an audit shares with it, in a module that imports neither Pillow nor the decoders: an
audit whose every file comes from the cache never loads them (dataclean.inspect does the decoding).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field

import numpy as np

#: Error codes a record can carry, and what they mean.
ERROR_CODES: dict[str, str] = {
    "empty_file": "the file has zero bytes",
    "not_an_image": "no image format recognised the file's bytes",
    "truncated": "the image data ends early",
    "decode_error": "the header was read but the pixels could not be decoded",
    "too_large": "more pixels than the decompression-bomb cap allows, or more bytes than --max-file-mb",
    "unreadable": "the file could not be read (permissions, I/O error)",
    "not_regular": "not a regular file (a FIFO, device or socket): never opened for reading",
    "bad_frame": "a later frame of a multi-frame file (animation, MPO, multi-page TIFF) cannot be decoded",
}

#: Default cap on width * height before decoding (Pillow's own MAX_IMAGE_PIXELS default). A
#: multi-frame file gets the same cap per frame and for all of its frames together.
DEFAULT_MAX_PIXELS = 89_478_485
#: Default cap on a file's size for reading it into memory and decoding it (--max-file-mb): far above
#: any photo (a 100-megapixel camera JPEG is ~50 MB), well below a worker's 3 GiB address-space cap.
#: Bigger files are hashed in chunks and reported as too_large.
DEFAULT_MAX_FILE_MB = 512
DEFAULT_MAX_BYTES = DEFAULT_MAX_FILE_MB * 1_000_000
#: Side of the thumbnail kept per image to verify near-duplicate candidates (uint8 grayscale).
THUMB_SIZE = 16


@dataclass
class Record:
    """What inspection learns about one file. ``thumb`` is kept out of the manifest."""

    bytes: int = 0
    mtime: float = 0.0
    md5: str = ""
    format: str = ""
    mode: str = ""
    width: int | None = None
    height: int | None = None
    brightness: float | None = None
    contrast: float | None = None
    lum_p01: float | None = None
    lum_p99: float | None = None
    phash: str = ""
    phash_mirror: str = ""
    error: str = ""
    error_detail: str = ""
    tf_reason: str = ""  # why TensorFlow's decoders cannot read this decodable image ("" when they can)
    thumb: builtins.bytes = field(default=b"", repr=False)  # `bytes` is a field name in this class


def record_fields() -> list[str]:
    """Names of the manifest columns a Record fills (everything but the thumbnail)."""
    return [f for f in Record.__dataclass_fields__ if f != "thumb"]


def thumbs_array(records: list[Record]) -> np.ndarray:
    """Stack records' thumbnails into an (n, 16, 16) uint8 array (zeros where not decoded)."""
    blank = bytes(THUMB_SIZE * THUMB_SIZE)
    flat = b"".join(r.thumb or blank for r in records)
    return np.frombuffer(flat, dtype=np.uint8).reshape(len(records), THUMB_SIZE, THUMB_SIZE).copy()


def to_hex(h: int) -> str:
    """64-bit hash as 16 lowercase hex digits (the manifest's format, as imagehash prints it)."""
    return f"{h:016x}"


def from_hex(values: list[str] | np.ndarray) -> np.ndarray:
    """Manifest hex strings to a uint64 array (empty strings become 0; callers mask them out).

    The manifest's 16-digit hashes are parsed in one ``bytes.fromhex`` call (no Python int per
    hash); anything else (shorter digits, a ``0x`` prefix) one by one, as ``int(v, 16)`` reads it.
    """
    values = list(values)
    if set(map(len, values)) <= {0, 16}:
        try:
            joined = bytes.fromhex("".join(v or _ZERO_HEX for v in values))
            return np.frombuffer(joined, dtype=">u8").astype(np.uint64)
        except ValueError:
            pass
    return np.array([int(v, 16) if v else 0 for v in values], dtype=np.uint64)


_ZERO_HEX = "0" * 16
