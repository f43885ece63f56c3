"""Which decoder reads an image, and the Pillow decoder for the ones TensorFlow cannot read.

TensorFlow's fast decoders (``tf.io.decode_image``) read JPEG, PNG, GIF and BMP. Everything else
Pillow decodes (TIFF, PPM/PGM, WebP, ICO, JPEG 2000, 16-bit and float images, ...) goes through
:func:`pillow_rgb`, in the tf.data pipeline as in ``predict`` and ``serve``, so every image the audit
keeps can be trained on and predicted. The routing (:func:`needs_pillow`) follows the manifest: the
audit lists ``tf_unreadable`` in a row's ``issues`` when TensorFlow would refuse the file; the
``format`` column sends any format but JPEG/PNG/GIF/BMP to Pillow, and CMYK JPEGs go there too
(Pillow undoes Adobe's inverted CMYK). No TensorFlow import here.

Both decoders give the same thing: the first frame, 3 channels (alpha dropped, as TensorFlow's
``channels=3`` does), uint8, EXIF orientation not applied (TensorFlow's JPEG decoder ignores it, and a
model must see every image the way it saw its training images).
"""

from __future__ import annotations

import io
import os
import re
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from dataclean.errors import DatacleanError

#: Formats tf.io.decode_image reads. Everything else goes through Pillow.
TF_FORMATS = frozenset({"JPEG", "PNG", "GIF", "BMP"})
#: Modes routed to Pillow even in a TensorFlow format.
PILLOW_MODES = frozenset({"CMYK"})
#: The audit's name for "Pillow reads it, TensorFlow's decoders do not" (the issues column), and the
#: error code older audits gave such files.
TF_UNREADABLE = "tf_unreadable"
TF_UNSUPPORTED_ERROR = "tf_unsupported"
#: Cap on width x height before decoding an uploaded or predicted image (Pillow's own default).
DEFAULT_MAX_PIXELS = 89_478_485


class ImageReadError(DatacleanError):
    """An image that cannot be read or decoded; ``code`` says why (as the audit's error codes do)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def needs_pillow(fmt: str = "", mode: str = "", issues: str = "", error: str = "") -> bool:
    """Whether a manifest row (its ``format``, ``mode``, ``issues`` and ``error`` cells) is decoded by Pillow.

    An empty ``format`` (a manifest without the column) leaves the file to TensorFlow.
    """
    fmt, mode = (fmt or "").strip().upper(), (mode or "").strip().upper()
    if TF_UNREADABLE in {s.strip() for s in (issues or "").split(";")} or (error or "").strip() == TF_UNSUPPORTED_ERROR:
        return True
    return bool(fmt) and (fmt not in TF_FORMATS or mode in PILLOW_MODES)


def _to_rgb(img: Image.Image) -> np.ndarray:
    """``img`` (any mode) as an H x W x 3 uint8 array; deep and float images scaled to 0..255."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if mode == "F":
            top = float(np.nanmax(arr)) if arr.size else 0.0
            arr = arr * 255.0 if top <= 1.0 else arr * (255.0 / max(top, 1.0))
        elif mode.startswith("I;16") or (arr.size and arr.max() > 255):
            arr = arr / 257.0  # 16-bit range onto 8 bits, as TensorFlow's PNG decoder does
        gray = np.clip(np.round(np.nan_to_num(arr)), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode in ("P", "PA") and "transparency" in img.info or mode in ("RGBA", "RGBa", "LA", "La", "PA"):
        img = img.convert("RGBA")
    elif mode != "RGB":
        img = img.convert("RGB")
    arr = np.asarray(img, dtype=np.uint8)
    return np.ascontiguousarray(arr[:, :, :3])


def _open(source: str | os.PathLike[str] | bytes, name: str, max_pixels: int) -> Image.Image:
    if isinstance(source, bytes):
        if not source:
            raise ImageReadError("empty_file", f"{name}: empty file")
        fh: io.BytesIO | str | os.PathLike[str] = io.BytesIO(source)
    else:
        fh = source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Corrupt EXIF data": the pixels decide
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(fh)
    except UnidentifiedImageError:
        raise ImageReadError("not_an_image", f"{name}: not an image (no format recognised its bytes)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageReadError("too_large", f"{name}: too many pixels (decompression-bomb cap {max_pixels:,})") from None
    except FileNotFoundError:
        raise ImageReadError("unreadable", f"{name}: file not found") from None
    except OSError as exc:
        raise ImageReadError("unreadable", f"{name}: cannot read: {exc.strerror or exc}") from None
    except Exception as exc:  # Pillow's plugins raise ValueError, SyntaxError, struct.error... on hostile headers
        raise ImageReadError("decode_error", f"{name}: bad image header: {exc}") from None
    width, height = img.size
    if width * height > max_pixels:
        img.close()
        raise ImageReadError("too_large", f"{name}: {width}x{height} is {width * height:,} pixels, "
                                          f"over the decompression-bomb cap of {max_pixels:,}")
    if width == 0 or height == 0:
        img.close()
        raise ImageReadError("decode_error", f"{name}: image has no pixels ({width}x{height})")
    return img


@dataclass(frozen=True)
class Header:
    """What Pillow reads from an image's header without decoding its pixels."""

    format: str
    mode: str
    width: int
    height: int


def read_header(data: bytes, name: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS) -> Header:
    """Format, mode and size of encoded ``data``; ImageReadError when it is no image or over ``max_pixels``."""
    img = _open(data, name, max_pixels)
    with img:
        return Header(img.format or "", img.mode, img.width, img.height)


def pillow_rgb(source: str | os.PathLike[str] | bytes, name: str | None = None,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode ``source`` (a path or encoded bytes) with Pillow: first frame, H x W x 3 uint8.

    Raises ImageReadError naming ``name`` (default: the path) with a code: not_an_image, too_large,
    truncated, decode_error, unreadable or empty_file.
    """
    label = name if name is not None else ("image" if isinstance(source, bytes) else str(source))
    img = _open(source, label, max_pixels)
    with img:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. "Palette images with Transparency expressed in bytes..."
                img.seek(0)
                img.load()
                return _to_rgb(img)
        except OSError as exc:
            text = str(exc)
            code = "truncated" if "truncated" in text or "broken data stream" in text else "decode_error"
            raise ImageReadError(code, f"{label}: {code.replace('_', ' ')}: {text}") from None
        except Exception as exc:  # hostile files make decoders raise all sorts
            raise ImageReadError("decode_error", f"{label}: decode error: {type(exc).__name__}: {exc}") from None


_TF_PREFIX = re.compile(r"^\{\{function_node [^}]*\}\}\s*")


def tf_error_text(exc: BaseException) -> str:
    """The first line of a TensorFlow op error without its ``{{function_node ...}}`` prefix."""
    message = getattr(exc, "message", None)
    text = message if isinstance(message, str) else str(exc)
    lines = _TF_PREFIX.sub("", text.strip()).splitlines()
    return lines[0].strip() if lines else type(exc).__name__


__all__ = ["DEFAULT_MAX_PIXELS", "Header", "ImageReadError", "PILLOW_MODES", "TF_FORMATS", "TF_UNREADABLE",
           "needs_pillow", "pillow_rgb", "read_header", "tf_error_text"]
