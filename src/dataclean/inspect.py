"""Per-file inspection: a pure function from a file path to a record.

Each file is read once (bytes -> size + MD5) and decoded once, at reduced scale where the format
allows it (JPEG DCT scaling via ``Image.draft``): every metric and hash is computed from a small
grayscale image, while width and height come from the header. A broken file is a result with an
error code, never an exception.

Two halves: :func:`decode_file` / :func:`decode_bytes` read and decode one file into a record and a
:class:`Reduced` summary (histogram + 32x32 reduction); :func:`complete` turns a batch of those into
luminance metrics and signatures in one vectorised pass (numpy's per-call overhead would otherwise
cost more per photo than the arithmetic). :func:`inspect_file` and :func:`inspect_bytes` do both for
one file; the worker pool does both per chunk.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from dataclean.hashing import reduce32_core, signatures_batch, stack32
from dataclean.record import (  # noqa: F401 - importable from here too, as before
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_FILE_MB,
    DEFAULT_MAX_PIXELS,
    ERROR_CODES,
    Record,
    record_fields,
    thumbs_array,
)
from dataclean.safety import file_kind

#: Formats tf.io.decode_image (TensorFlow >= 2.18) reads; BMP and WebP only in some variants, see
#: tf_unreadable_reason. Other images are still images (the trainer decodes them through Pillow):
#: the ``tf_unreadable`` check reports them. Measured on Pillow's test corpus with
#: benchmarks/hostile_corpus.py --tf.
TF_FORMATS = frozenset({"JPEG", "MPO", "PNG", "GIF", "BMP", "WEBP"})

_HASH_CHUNK = 1 << 20
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)  # a FIFO must not block open(); no effect on files

#: Most frames a multi-frame file may have: every one is decoded, so a file claiming more is
#: ``too_large`` (after its first MAX_FRAMES frames were checked).
MAX_FRAMES = 1000

#: Longer side of the small image metrics and hashes are computed on. JPEGs are decoded by DCT
#: scaling straight to at least DRAFT_SIDE on each side (1/2..1/8 of full size), luma only; other
#: formats are reduced by the same factor after decoding. 64 rather than the pHash's bare 32: at 1/8
#: scale (DRAFT_SIDE 32) a JPEG and its mirrored or resized copies reach the 32x32 image by different
#: paths, and 3% of mirrored copies fell below the verification threshold
#: (benchmarks/neardup_tuning.py: 97.0% vs 100% recall); the larger draft costs ~0.07 ms per photo.
WORK_SIDE = 128
DRAFT_SIDE = 64

_ORIENTATION_TAG = 0x0112
_ORIENTATION_SOURCES = ("exif", "xmp", "XML:com.adobe.xmp")  # where Image.getexif() finds an orientation
_TRANSPOSED_ORIENTATIONS = {5, 6, 7, 8}
_T = Image.Transpose
#: EXIF orientation -> the transpose that shows the image upright (as ImageOps.exif_transpose does).
_ORIENT = {2: _T.FLIP_LEFT_RIGHT, 3: _T.ROTATE_180, 4: _T.FLIP_TOP_BOTTOM, 5: _T.TRANSPOSE,
           6: _T.ROTATE_270, 7: _T.TRANSVERSE, 8: _T.ROTATE_90}

# Files must fail loudly when truncated; never let a crafted header trigger Pillow's own bomb check
# first (we apply our cap from the header ourselves, with a clear code).
ImageFile.LOAD_TRUNCATED_IMAGES = False
Image.MAX_IMAGE_PIXELS = None


@dataclass
class Reduced:
    """What the batch step needs from one decoded image: its small grayscale version, summarised."""

    hist: list[int]  # 256-bin luminance histogram of the reduced image
    pixels32: Any  # its 32x32 area-average reduction (hashing.reduce32_core: Pillow's core image)


Staged = tuple[Record, "Reduced | None"]


def inspect_file(path: str, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = DEFAULT_MAX_BYTES) -> Record:
    """Inspect one file; never raises for a bad file (the error is in the record)."""
    with quiet_decoders():
        return complete([decode_file(path, max_pixels, max_bytes)])[0]


def inspect_bytes(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, rec: Record | None = None) -> Record:
    """Inspect a file's bytes (from disk, an object store, ...); never raises for bad content."""
    with quiet_decoders():
        return complete([decode_bytes(data, max_pixels, rec)])[0]


def inspect_files(paths: list[str], max_pixels: int = DEFAULT_MAX_PIXELS,
                  max_bytes: int = DEFAULT_MAX_BYTES) -> list[Record]:
    """Inspect many files: decoded one by one, metrics and hashes computed for all of them at once."""
    with quiet_decoders():
        return complete([decode_file(p, max_pixels, max_bytes) for p in paths])


def decode_file(path: str, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = DEFAULT_MAX_BYTES) -> Staged:
    """Read and decode one file (the per-file half of inspection; see :func:`complete`).

    Only a regular file is read (a FIFO, device or socket is recorded as ``not_regular`` without a
    read that could block forever or never end), and at most ``max_bytes`` of it are held in memory:
    a bigger file is hashed in chunks and recorded as ``too_large``.
    """
    rec = Record()
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        try:  # keep the real size and mtime, so that fix can tell the file has not changed since
            st = os.stat(path)
            rec.bytes, rec.mtime = st.st_size, st.st_mtime
            if not stat.S_ISREG(st.st_mode):
                return _fail(rec, "not_regular", f"{file_kind(st.st_mode)}, not a regular file: not read"), None
        except OSError:
            pass
        return _fail(rec, "unreadable", f"{type(exc).__name__}: {exc.strerror or exc}"), None
    try:
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fd)
            rec.bytes, rec.mtime = st.st_size, st.st_mtime
            if not stat.S_ISREG(st.st_mode):
                return _fail(rec, "not_regular", f"{file_kind(st.st_mode)}, not a regular file: not read"), None
            data = fh.read(st.st_size + 1) if st.st_size <= max_bytes else b""  # one read, sized like read()
            if len(data) > st.st_size:  # it grew since fstat: read on, up to the cap
                data += fh.read(max_bytes + 1 - len(data))
            if st.st_size > max_bytes or len(data) > max_bytes:
                return _hash_only(rec, fh, data, max_bytes), None
    except OSError as exc:
        return _fail(rec, "unreadable", f"{type(exc).__name__}: {exc.strerror or exc}"), None
    return decode_bytes(data, max_pixels, rec)


def decode_source(source: Any, location: str, max_pixels: int = DEFAULT_MAX_PIXELS,
                  max_bytes: int = DEFAULT_MAX_BYTES) -> Staged:
    """Read one file through ``source`` (a dataclean.storage.Source: fsspec for URLs) and decode it.
    A read that fails (gone, access denied, network) is an ``unreadable`` record, as on disk; a file
    over ``max_bytes`` is hashed, not decoded (``too_large``)."""
    try:
        data = source.read(location)
    except Exception as exc:  # noqa: BLE001 - every filesystem has its own errors; the record says which
        lines = str(getattr(exc, "strerror", None) or exc).strip().splitlines()
        return _fail(Record(), "unreadable", f"{type(exc).__name__}: {lines[0] if lines else ''}"), None
    if len(data) > max_bytes:
        return _hash_only(Record(), io.BytesIO(data[_HASH_CHUNK:]), data[:_HASH_CHUNK], max_bytes), None
    return decode_bytes(data, max_pixels)


def _hash_only(rec: Record, fh: Any, head: bytes, max_bytes: int) -> Record:
    """MD5 and size of a file too big to decode, read in bounded chunks; recorded as too_large."""
    h = hashlib.md5(head)
    size = len(head)
    while block := fh.read(_HASH_CHUNK):
        h.update(block)
        size += len(block)
    rec.md5, rec.bytes = h.hexdigest(), size
    return _fail(rec, "too_large", f"file is {size / 1e6:,.1f} MB, over the --max-file-mb cap of "
                                   f"{max_bytes / 1e6:,.0f} MB: hashed, not decoded")


def decode_bytes(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, rec: Record | None = None) -> Staged:
    """Hash and decode a file's bytes into a record and, when decoded, its :class:`Reduced` summary."""
    rec = rec or Record()
    rec.bytes = len(data)
    rec.md5 = hashlib.md5(data).hexdigest()
    if not data:
        return _fail(rec, "empty_file", "0 bytes"), None
    try:
        return rec, _decode_into(rec, data, max_pixels)
    except Exception as exc:  # noqa: BLE001 - any decoder failure is data about the file
        code = "truncated" if _looks_truncated(exc) else "decode_error"
        return _fail(rec, code, _message(exc)), None


def complete(staged: list[Staged]) -> list[Record]:
    """Fill luminance metrics and signatures of every decoded record, in one vectorised pass."""
    done = [(rec, red) for rec, red in staged if red is not None]
    if done:
        stats = luminance_batch([red.hist for _, red in done])
        phash, mirror, thumbs = signatures_batch(stack32([red.pixels32 for _, red in done]))
        for (rec, _), st, ph, pm, th in zip(done, stats, phash, mirror, thumbs):
            rec.brightness, rec.contrast, rec.lum_p01, rec.lum_p99 = st
            rec.phash, rec.phash_mirror, rec.thumb = ph, pm, th
    return [rec for rec, _ in staged]


@contextmanager
def quiet_decoders() -> Iterator[None]:
    """Decoders warn about odd files; the record says what matters."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _decode_into(rec: Record, data: bytes, max_pixels: int) -> Reduced | None:
    try:
        img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        _fail(rec, "not_an_image", "no image format recognised the bytes")
        return None
    rec.format, rec.mode = img.format or "", img.mode
    w, h = img.size
    if w <= 0 or h <= 0:
        _fail(rec, "decode_error", f"invalid size {w}x{h}")
        return None
    if w * h > max_pixels:
        _fail(rec, "too_large", f"{w}x{h} = {w * h:,} pixels exceeds the cap of {max_pixels:,}")
        return None
    small, box = _reduced_gray(img)  # decode before anything else reads the file (PNG getexif() loads it)
    orientation = _orientation(img)
    if orientation in _TRANSPOSED_ORIENTATIONS:
        w, h = h, w
    rec.width, rec.height = w, h
    if orientation in _ORIENT:  # hash the picture as viewers show it, like any re-saved copy of it
        small, box = small.transpose(_ORIENT[orientation]), _transpose_box(box, small.size, orientation)
    if rec.format == "JPEG" and not _has_jpeg_end(data):
        _fail(rec, "truncated", "JPEG data ends without an end-of-image marker")
        return None
    rec.tf_reason = tf_unreadable_reason(rec.format, img, data)  # still an image: the tf_unreadable check
    frames = getattr(img, "n_frames", 1) if rec.format not in _SINGLE_FRAME else 1
    if frames != 1:
        bad = check_frames(img, frames, max_pixels)
        if bad:
            _fail(rec, *bad)
            return None
    return Reduced(small.histogram(), reduce32_core(small, box))


#: Formats Pillow only ever reads one frame of: no frame count to ask for (the JPEG fast path).
_SINGLE_FRAME = frozenset({"JPEG", "BMP", "PPM", "JPEG2000", "ICO"})


def check_frames(img: Image.Image, frames: int, max_pixels: int, max_frames: int = MAX_FRAMES) -> tuple[str, str] | None:
    """Decode every frame after the first (already decoded); ``(code, detail)`` for the first that fails.

    Each frame gets the pixel cap, and so do all frames together (the first one included): a
    frame whose extent is a decompression bomb, or an animation of many large frames, is
    ``too_large`` before it is decoded. A frame that cannot be sought to or decoded is
    ``bad_frame``. Frames are numbered from 1 in the detail.
    """
    w, h = img.size
    total = w * h
    for k in range(1, min(frames, max_frames)):
        where = f"frame {k + 1} of {frames}"
        try:
            img.seek(k)
            w, h = img.size
            if w * h > max_pixels:
                return "too_large", f"{where}: {w}x{h} = {w * h:,} pixels exceeds the cap of {max_pixels:,}"
            total += w * h
            if total > max_pixels:
                return "too_large", f"frames 1-{k + 1} of {frames} hold {total:,} pixels, more than the cap of {max_pixels:,}"
            if img.format == "MPO":
                img.draft("L", (DRAFT_SIDE, DRAFT_SIDE))  # every frame is a JPEG: DCT scaling applies
            img.load()
        except Exception as exc:  # noqa: BLE001 - a broken frame is data about the file
            return "bad_frame", f"{where}: {_message(exc)}"
    if frames > max_frames:
        return "too_large", f"{frames:,} frames exceed the cap of {max_frames:,} (the first {max_frames:,} decode)"
    return None


def tf_unreadable_reason(fmt: str, img: Image.Image, data: bytes) -> str:
    """Why TensorFlow's decoders cannot read this decodable image, or "" when they can (see TF_FORMATS).

    TensorFlow reads BMP only uncompressed at 8, 24 or 32 bits (or 32-bit bitfields) with a Windows
    header, no linked/embedded colour profile and exactly the bytes its header implies; GIF only when
    giflib reads its first frame (below); WebP only as a still image without alpha. Pillow is more
    tolerant of all three.
    """
    if fmt not in TF_FORMATS:
        return f"{fmt} is not decodable by TensorFlow (tf.io reads JPEG, PNG, GIF, BMP, WebP)"
    if fmt == "BMP":
        return _bmp_tf_problem(data)
    if fmt == "GIF":
        why = _gif_tf_problem(data)
        return f"GIF {why}: TensorFlow's GIF decoder (giflib) cannot read its first frame" if why else ""
    if fmt == "WEBP" and (img.mode == "RGBA" or getattr(img, "n_frames", 1) > 1):
        return "WebP with alpha or animation is not decodable by TensorFlow"
    return ""


def _bmp_tf_problem(data: bytes) -> str:
    if len(data) < 54:
        return "BMP with a truncated header is not decodable by TensorFlow"
    u32 = lambda at: int.from_bytes(data[at:at + 4], "little")  # noqa: E731 - a local reader
    offset, header, width = u32(10), u32(14), u32(18)
    height = int.from_bytes(data[22:26], "little", signed=True)
    bpp, compression = data[28] | data[29] << 8, u32(30)
    if header < 40 or not (compression == 0 and bpp in (8, 24, 32) or compression == 3 and bpp == 32):
        return f"BMP with {bpp}-bit pixels, compression {compression} or an OS/2 header is not decodable by TensorFlow"
    if header >= 124 and data[70:74] in (b"DEBM", b"KNIL"):
        return "BMP with a colour profile is not decodable by TensorFlow"
    row = (bpp * width + 31) // 32 * 4
    extra = len(data) - offset - row * abs(height)
    if extra:  # tf.io.decode_bmp insists on the exact size (trailing padding included)
        return f"BMP whose size differs from what its header implies by {extra:+,} bytes is not decodable by TensorFlow"
    return ""


def _gif_tf_problem(data: bytes) -> str:
    """What stops giflib before the end of the first frame's data, or "".

    TensorFlow reads a GIF with giflib's DGifSlurp and keeps what it read when a later record is
    broken, but not when the first frame is: a record giflib does not know, the data ending, an
    extension whose first sub-block is empty (giflib then reads one block too many and loses its
    place), an LZW code size above 8, or no colour map for the first frame. Measured against
    tf.io.decode_image on every GIF of Pillow's test corpus (benchmarks/hostile_corpus.py --tf).
    """
    n = len(data)
    if n < 13:
        return "ends inside its header"
    flags = data[10]
    has_global = flags & 0x80
    i = 13 + (3 << ((flags & 7) + 1) if has_global else 0)
    while True:
        if i >= n:
            return "ends before its first frame"
        kind = data[i]
        if kind == 0x21:  # extension: introducer, label, then sub-blocks
            if i + 2 < n and data[i + 2] == 0:
                return "has an extension with an empty first sub-block before its first frame"
            i += 2
        elif kind == 0x2C:  # the first image: descriptor, local colour table, LZW code size, sub-blocks
            if i + 10 >= n:
                return "ends inside its first frame"
            local = data[i + 9]
            if not (local & 0x80 or has_global):
                return "has no colour map for its first frame"
            i += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0)
            if i >= n or not 2 <= data[i] <= 8:
                return "has an LZW code size outside 2-8 in its first frame"
            i = _skip_sub_blocks(data, i + 1)
            return "" if i >= 0 else "ends inside its first frame"
        else:
            return f"has a record of unknown type 0x{kind:02X} before its first frame"
        i = _skip_sub_blocks(data, i)
        if i < 0:
            return "ends before its first frame"


def _skip_sub_blocks(data: bytes, i: int) -> int:
    """Offset after the sub-blocks starting at ``i`` (each a length byte and data; 0 ends them); -1 past the end."""
    n = len(data)
    while i < n:
        size = data[i]
        i += 1 + size
        if size == 0:
            return i
    return -1


_MOMENTS = np.stack([np.arange(256, dtype=np.float64), np.arange(256, dtype=np.float64) ** 2], axis=1)


def luminance_batch(hists: list[list[int]]) -> list[tuple[float, float, float, float]]:
    """Mean, RMS contrast (std) and 1st / 99th percentiles of luminance, 0..1, from 256-bin histograms."""
    # one flat pass over the Python ints (fromiter: faster than np.array of nested lists)
    flat = np.fromiter(chain.from_iterable(hists), np.int64, len(hists) * 256)
    h = flat.reshape(len(hists), 256).astype(np.float64)
    n = h.sum(axis=1)
    moments = h @ _MOMENTS
    mean = moments[:, 0] / n
    std = np.sqrt(np.maximum(moments[:, 1] / n - mean * mean, 0.0))
    cum = h.cumsum(axis=1)
    p01 = (cum < (0.01 * n)[:, None]).sum(axis=1)  # first level whose cumulative count reaches 1%
    p99 = (cum < (0.99 * n)[:, None]).sum(axis=1)
    return [(round(m / 255, 4), round(s / 255, 4), round(a / 255, 4), round(b / 255, 4))
            for m, s, a, b in zip(mean.tolist(), std.tolist(), p01.tolist(), p99.tolist())]


def _reduced_gray(img: Image.Image) -> tuple[Image.Image, tuple[float, float, float, float]]:
    """Decode ``img`` once into a grayscale image at most about WORK_SIDE on its longer side, and
    the region of that image the picture covers.

    Every format reaches the small image the same way, by area averaging: a JPEG by DCT scaling
    (each 8x8 block reduced to its lowest frequencies), any other format by a box reduction with the
    factor the JPEG decoder would have used. A copy saved in another format then hashes like its
    original (benchmarks/neardup_tuning.py). A factor that does not divide the size leaves a last
    row or column made of a few pixels; the region excludes its empty part, so that a copy of
    another size is not shifted against its original.
    """
    width, height = img.size
    drafted = img.format == "JPEG" and img.mode in ("RGB", "L", "YCbCr")
    if drafted:
        img.draft("L", (DRAFT_SIDE, DRAFT_SIDE))  # DCT-domain downscale + luma only: the big saving
    img.load()  # full decode of the first frame (reduced for JPEG): truncation surfaces here
    gray = _to_gray(img)
    factor = round(width / gray.width) if drafted else draft_factor(gray.size)
    gray = gray if drafted else _reduce(gray, factor)
    if max(gray.size) > 2 * WORK_SIDE:  # beyond what DCT scaling reaches (huge images)
        extra = max(gray.size) // WORK_SIDE
        gray, factor = _reduce(gray, extra), factor * extra
    return gray, (0.0, 0.0, min(width / factor, gray.width), min(height / factor, gray.height))


def _transpose_box(box: tuple[float, float, float, float], size: tuple[int, int],
                   orientation: int) -> tuple[float, float, float, float]:
    """Where ``box`` of an image of ``size`` lies once the image is transposed for ``orientation``."""
    (x0, y0, x1, y1), (w, h) = box, size
    move = {2: lambda x, y: (w - x, y), 3: lambda x, y: (w - x, h - y), 4: lambda x, y: (x, h - y),
            5: lambda x, y: (y, x), 6: lambda x, y: (h - y, x), 7: lambda x, y: (h - y, w - x),
            8: lambda x, y: (y, w - x)}[orientation]
    (a, b), (c, d) = move(x0, y0), move(x1, y1)
    return min(a, c), min(b, d), max(a, c), max(b, d)


def draft_factor(size: tuple[int, int]) -> int:
    """The reduction JPEG DCT scaling picks for ``Image.draft(mode, (DRAFT_SIDE, DRAFT_SIDE))``: 8, 4, 2 or 1."""
    fits = min(size[0] // DRAFT_SIDE, size[1] // DRAFT_SIDE)
    return next((f for f in (8, 4, 2) if f <= fits), 1)


def _reduce(gray: Image.Image, factor: int) -> Image.Image:
    return gray.reduce(factor) if factor > 1 else gray


def _to_gray(img: Image.Image) -> Image.Image:
    """Grayscale ``L`` for any mode; high bit-depth modes are scaled, not clipped."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") else max(float(arr.max()), 1.0)
        return Image.fromarray(np.clip(arr / top * 255.0, 0, 255).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("L")  # what a viewer shows
    if img.mode == "L":
        return img  # nothing to convert (a JPEG drafted to luma): no copy
    try:
        return img.convert("L")
    except ValueError:  # modes Pillow cannot convert (LAB, ...): the first band is the lightness
        return img.getchannel(0)


def _orientation(img: Image.Image) -> int:
    if img.format in ("JPEG", "MPO") and not any(key in img.info for key in _ORIENTATION_SOURCES):
        return 1  # the header has neither EXIF nor XMP (most photos): no need to build an empty Exif
    try:
        return int(img.getexif().get(_ORIENTATION_TAG, 1))
    except Exception:  # noqa: BLE001 - a broken EXIF block is not a broken image
        return 1


def _has_jpeg_end(data: bytes) -> bool:
    """True when the JPEG stream has its end-of-image marker (FFD9), however much follows it.

    Almost every photo ends with it (the fast path: the last 1,024 bytes). Phones pad files with
    zeros or append data (a motion photo's video) after it: then the marker is looked for after
    the first scan, where the entropy-coded data cannot contain FFD9, unlike the header segments
    (an EXIF thumbnail has its own end marker).
    """
    if b"\xff\xd9" in data[-1024:]:
        return True
    scan = _first_scan(data)
    return scan >= 0 and data.find(b"\xff\xd9", scan) >= 0


def _first_scan(data: bytes) -> int:
    """Offset of the first start-of-scan marker (FFDA), walking the segments by their lengths; -1 if none."""
    i, end = 2, len(data) - 3
    while i < end:
        if data[i] != 0xFF:
            return data.find(b"\xff\xda", i)  # not a segment boundary: a damaged header, search instead
        marker = data[i + 1]
        if marker == 0xDA:
            return i
        if marker == 0xFF:  # fill byte
            i += 1
        elif marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
        else:
            i += 2 + (data[i + 2] << 8 | data[i + 3])
    return -1


def _looks_truncated(exc: Exception) -> bool:
    text = str(exc).lower()
    return "truncated" in text or "premature end" in text or isinstance(exc, EOFError)


def _message(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


def _fail(rec: Record, code: str, detail: str) -> Record:
    rec.error, rec.error_detail = code, detail
    return rec
