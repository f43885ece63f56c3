"""Thumbnails for the report: small upright JPEGs as ``data:`` URIs, made on a process pool.

Only flagged files get one (the caller picks them). Each is decoded at reduced scale where the
format allows it (JPEG DCT scaling), turned upright as its EXIF orientation says, shrunk to fit
``side`` x ``side`` and saved as a JPEG. A file that cannot be thumbnailed yields None: the card
then shows why (the audit's error) instead of a picture. Workers cap their memory and each file's
time like the audit's inspection workers, so a hostile file cannot take the report down either.
"""

from __future__ import annotations

import base64
import io
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial

from PIL import Image, ImageFile, ImageOps

from dataclean.pool import SIGNAL_ALARM, FileTimeout, install_alarm, sandbox_worker

THUMB_SIDE = 128
THUMB_QUALITY = 70
MEMORY_LIMIT = 3 * 1024**3  # bytes of address space per worker
TIMEOUT_S = 30  # per file
#: Below this many files the pool's start-up costs more than it saves.
MIN_FILES_FOR_POOL = 48


def _init_worker(memory_limit: int | None) -> None:
    sandbox_worker(memory_limit)
    install_alarm()  # the audit's workers' time limit (an alarm that repeats until it lands)


def _read(path: str) -> bytes:
    if "://" in path:  # a remote dataset (fsspec URL): read-only, like the audit
        import fsspec

        with fsspec.open(path, "rb") as fh:
            return bytes(fh.read())
    with open(path, "rb") as fh:
        return fh.read()


def thumbnail(path: str, side: int = THUMB_SIDE, max_pixels: int = 89_478_485) -> str | None:
    """``data:image/jpeg;base64,...`` of the image at ``path`` fitted in ``side`` px, or None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(_read(path))) as im:
                if im.width * im.height > max_pixels:
                    return None
                im.draft("RGB", (side * 2, side * 2))  # JPEG: decode at 1/2..1/8 scale; others: no-op
                up = ImageOps.exif_transpose(im)
                up.thumbnail((side, side), Image.Resampling.BILINEAR, reducing_gap=2.0)
                if up.mode in ("RGBA", "LA", "PA") or (up.mode == "P" and "transparency" in up.info):
                    rgba = up.convert("RGBA")
                    flat = Image.new("RGB", rgba.size, (238, 238, 238))
                    flat.paste(rgba, mask=rgba.getchannel("A"))
                    up = flat
                elif up.mode != "RGB":
                    up = up.convert("RGB")
                buf = io.BytesIO()
                up.save(buf, "JPEG", quality=THUMB_QUALITY, optimize=True)
    except (FileTimeout, MemoryError):
        return None
    except Exception:  # noqa: BLE001 - any decoder failure means "no picture"; the card says why
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _guarded(path: str, side: int, max_pixels: int, timeout: int) -> str | None:
    try:
        SIGNAL_ALARM.arm(timeout)
        try:
            return thumbnail(path, side, max_pixels)
        finally:  # an alarm that goes off as the file finishes is raised here at the latest
            SIGNAL_ALARM.disarm()
    except FileTimeout:
        return None


def _chunk(paths: Sequence[str], side: int, max_pixels: int, timeout: int) -> list[str | None]:
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    return [_guarded(p, side, max_pixels, timeout) for p in paths]


def thumbnails(
    paths: Sequence[str],
    workers: int | None = None,
    side: int = THUMB_SIDE,
    max_pixels: int = 89_478_485,
    on_progress: Callable[[int], None] | None = None,
) -> list[str | None]:
    """Thumbnails of ``paths`` (absolute paths or fsspec URLs), in order; None where there is no picture.

    ``workers=None`` uses every core, 0 works in this process (as do small batches).
    """
    n = len(paths)
    n_workers = (os.cpu_count() or 1) if workers is None else workers
    if n_workers == 0 or n < MIN_FILES_FOR_POOL:
        out: list[str | None] = []
        for p in paths:
            out.append(thumbnail(p, side, max_pixels))
            if on_progress:
                on_progress(1)
        return out
    size = max(4, min(32, n // (n_workers * 4)))
    chunks = [list(paths[i : i + size]) for i in range(0, n, size)]
    run = partial(_chunk, side=side, max_pixels=max_pixels, timeout=TIMEOUT_S)
    results: list[str | None] = []
    with ProcessPoolExecutor(max_workers=min(n_workers, len(chunks)), initializer=_init_worker,
                             initargs=(MEMORY_LIMIT,)) as ex:
        try:
            for part in ex.map(run, chunks):
                results.extend(part)
                if on_progress:
                    on_progress(len(part))
        except BrokenProcessPool:  # a decoder crashed a worker: the files not done get no picture
            pass
    return results + [None] * (n - len(results))
