"""Verdicts on odd files: padded JPEGs are whole, TensorFlow-unreadable images are not corrupt, and
every frame of a multi-frame file is decoded (a broken or oversized later frame is caught)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dataclean.audit import run_audit
from dataclean.inspect import check_frames, inspect_bytes


def _noise(seed: int, size: tuple[int, int] = (64, 48)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def _jpeg(seed: int = 0) -> bytes:
    buf = io.BytesIO()
    _noise(seed).save(buf, "JPEG", quality=90)
    return buf.getvalue()


# --- JPEG end of image --------------------------------------------------------------------------

def test_jpeg_with_200_kb_of_zero_padding_is_whole_and_hashes_like_the_original() -> None:
    plain = inspect_bytes(_jpeg())
    padded = inspect_bytes(_jpeg() + bytes(200_000))
    assert (padded.error, padded.error_detail) == ("", "")
    assert (padded.phash, padded.width, padded.height) == (plain.phash, 64, 48)


def test_jpeg_with_appended_data_after_its_end_marker_is_whole() -> None:
    trailer = np.random.default_rng(1).integers(1, 255, 50_000, dtype=np.uint8).tobytes().replace(b"\xff", b"\x01")
    assert inspect_bytes(_jpeg() + trailer).error == ""  # e.g. a motion photo's video after the picture


def _with_thumbnail_segment(jpeg: bytes) -> bytes:
    """The JPEG with an APP1 segment right after SOI that holds a whole (tiny) JPEG, like an EXIF thumbnail."""
    thumb = _jpeg(5)
    assert thumb.endswith(b"\xff\xd9")
    payload = b"Exif\x00\x00" + thumb
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def test_a_thumbnail_end_marker_does_not_hide_a_missing_one() -> None:
    whole = _with_thumbnail_segment(_jpeg())
    assert inspect_bytes(whole).error == ""
    cut = whole[:-2] + bytes(5_000)  # the picture's own end marker gone, zeros after it
    rec = inspect_bytes(cut)
    assert (rec.error, rec.error_detail) == ("truncated", "JPEG data ends without an end-of-image marker")


# --- TensorFlow-unreadable images -----------------------------------------------------------------

def test_tensorflow_unreadable_images_are_kept_and_say_why(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for label, seed in (("a", 1), ("b", 2)):
        (root / label).mkdir(parents=True)
        _noise(seed).save(root / label / f"{label}_photo.jpg", quality=90)
        _noise(seed + 10).save(root / label / f"{label}_scan.tif")
        _noise(seed + 20).convert("L").save(root / label / f"{label}_gray.pgm")
    result = run_audit(root, workers=0)
    m = result.manifest.set_index("path")
    assert m.loc["a/a_scan.tif", ["format", "error", "issues", "action", "reason"]].tolist() == [
        "TIFF", "", "tf_unreadable", "keep", "flagged: tf_unreadable"]
    assert m.loc["b/b_gray.pgm", ["format", "error", "issues", "action"]].tolist() == ["PPM", "", "tf_unreadable", "keep"]
    assert m.loc["a/a_photo.jpg", ["error", "issues", "action"]].tolist() == ["", "", "keep"]
    assert result.summary["checks"]["corrupt"]["files"] == 0
    assert result.summary["checks"]["tf_unreadable"] == {**result.summary["checks"]["tf_unreadable"],
                                                        "severity": "info", "files": 4, "findings": 4}
    rows = result.issues.query("check == 'tf_unreadable'").set_index("path")["detail"].to_dict()
    assert rows["a/a_scan.tif"] == "TIFF is not decodable by TensorFlow (tf.io reads JPEG, PNG, GIF, BMP, WebP)"
    assert rows["a/a_gray.pgm"] == "PPM is not decodable by TensorFlow (tf.io reads JPEG, PNG, GIF, BMP, WebP)"


# --- multi-frame files ------------------------------------------------------------------------------

def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    out, i = [], 8
    while i < len(png):
        (n,) = struct.unpack(">I", png[i:i + 4])
        out.append((png[i + 4:i + 8], png[i + 8:i + 8 + n]))
        i += 12 + n
    return out


def _png(chunks: list[tuple[bytes, bytes]]) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d)) for k, d in chunks)


def _apng(frames: int = 3) -> bytes:
    buf = io.BytesIO()
    imgs = [_noise(30 + k, (40, 30)) for k in range(frames)]
    imgs[0].save(buf, "PNG", save_all=True, append_images=imgs[1:], duration=100)
    return buf.getvalue()


def test_animated_png_decodes_every_frame() -> None:
    data = _apng()
    assert Image.open(io.BytesIO(data)).n_frames == 3
    assert inspect_bytes(data).error == ""


def test_apng_with_a_broken_second_frame_is_bad_frame() -> None:
    chunks = _chunks(_apng())
    controls = [i for i, (k, _) in enumerate(chunks) if k == b"fcTL"]
    second, third = controls[1], controls[2]
    broken = chunks[:second + 1] + chunks[third:]  # the second frame's control chunk, without its data
    assert [k for k, _ in broken].count(b"fdAT") == [k for k, _ in chunks].count(b"fdAT") - 1
    rec = inspect_bytes(_png(broken))
    assert (rec.error, rec.error_detail) == ("bad_frame", "frame 2 of 3: APNG missing frame data")
    assert (rec.format, rec.width, rec.height) == ("PNG", 40, 30)


def _gif(frames: int = 2, size: tuple[int, int] = (100, 100)) -> bytes:
    buf = io.BytesIO()
    imgs = [_noise(40 + k, size).convert("P") for k in range(frames)]
    imgs[0].save(buf, "GIF", save_all=True, append_images=imgs[1:], duration=100, optimize=False)
    return buf.getvalue()


def _image_descriptors(gif: bytes) -> list[int]:
    """Offsets of the image descriptors (0x2C blocks) of a GIF, walking its blocks."""
    flags = gif[10]
    i = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    found = []
    while gif[i] != 0x3B:
        if gif[i] == 0x21:  # extension: label, then sub-blocks
            i += 2
        else:
            found.append(i)
            lflags = gif[i + 9]
            i += 10 + (3 << ((lflags & 7) + 1) if lflags & 0x80 else 0) + 1  # + LZW minimum code size
        while gif[i]:
            i += gif[i] + 1
        i += 1
    return found


def test_gif_whose_second_frame_is_huge_is_too_large_before_it_is_decoded() -> None:
    data = bytearray(_gif())
    second = _image_descriptors(bytes(data))[1]
    data[second + 5:second + 9] = struct.pack("<HH", 60_000, 60_000)  # the frame's extent: 3.6 billion pixels
    rec = inspect_bytes(bytes(data))
    assert (rec.error, rec.error_detail) == (
        "too_large", "frame 2 of 2: 60000x60000 = 3,600,000,000 pixels exceeds the cap of 89,478,485")


def test_all_frames_together_get_the_pixel_cap() -> None:
    data = _gif(frames=3)
    assert inspect_bytes(data, max_pixels=30_000).error == ""
    rec = inspect_bytes(data, max_pixels=25_000)
    assert (rec.error, rec.error_detail) == (
        "too_large", "frames 1-3 of 3 hold 30,000 pixels, more than the cap of 25,000")


def test_frame_cap() -> None:
    img = Image.open(io.BytesIO(_gif(frames=3)))
    img.load()
    assert check_frames(img, 3, 10**9, max_frames=3) is None
    assert check_frames(img, 3, 10**9, max_frames=2) == (
        "too_large", "3 frames exceed the cap of 2 (the first 2 decode)")


def test_mpo_with_a_truncated_second_picture_is_bad_frame() -> None:
    buf = io.BytesIO()
    _noise(50, (64, 64)).save(buf, "MPO", save_all=True, append_images=[_noise(51, (64, 64))])
    data = buf.getvalue()
    assert Image.open(io.BytesIO(data)).format == "MPO" and inspect_bytes(data).error == ""
    rec = inspect_bytes(data[: len(data) - 600])
    assert rec.error == "bad_frame" and rec.error_detail.startswith("frame 2 of 2: ")


@pytest.mark.parametrize("fmt", ["TIFF", "GIF", "WEBP"])
def test_whole_multi_frame_files_pass(fmt: str) -> None:
    buf = io.BytesIO()
    imgs = [_noise(60 + k, (32, 32)) for k in range(4)]
    imgs[0].save(buf, fmt, save_all=True, append_images=imgs[1:])
    assert Image.open(io.BytesIO(buf.getvalue())).n_frames == 4
    rec = inspect_bytes(buf.getvalue())
    assert (rec.error, rec.format) == ("", fmt)


# --- BMP and GIF files TensorFlow refuses ------------------------------------------------------------

def _bmp(extra: bytes = b"") -> bytes:
    buf = io.BytesIO()
    _noise(3, (31, 30)).save(buf, "BMP")
    return buf.getvalue() + extra


def _still_gif() -> bytes:
    buf = io.BytesIO()
    _noise(4, (20, 20)).convert("P").save(buf, "GIF")
    return buf.getvalue()


def _gif_lzw11() -> bytes:
    """A 4x4 GIF whose image data uses an LZW minimum code size of 11 (legal for Pillow, not for giflib):
    a clear code, every pixel as a literal 12-bit code, the end code, packed least significant bit first."""
    codes = [2048, *range(16), 2049]  # pixel values 0..15 of a 16-colour palette
    bits = "".join(format(c, "012b")[::-1] for c in codes)
    bits += "0" * (-len(bits) % 8)
    stream = bytes(int(bits[k:k + 8][::-1], 2) for k in range(0, len(bits), 8))
    palette = bytes(v for k in range(16) for v in (k * 16, 255 - k * 16, 128))
    return (b"GIF89a" + struct.pack("<HHBBB", 4, 4, 0x83, 0, 0) + palette + b"\x2c" + struct.pack("<HHHHB", 0, 0, 4, 4, 0)
            + bytes([11, len(stream)]) + stream + b"\x00\x3b")


def _gif_with(prefix: bytes = b"", drop_palette: bool = False) -> bytes:
    """The still GIF with ``prefix`` records before its image, or without its colour table."""
    data = bytearray(_still_gif())
    first = _image_descriptors(bytes(data))[0]
    table = 3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0
    if drop_palette:
        data[10] &= 0x7F
        del data[13:13 + table]
        first -= table
    return bytes(data[:first]) + prefix + bytes(data[first:])


@pytest.mark.parametrize(("data", "why"), [
    pytest.param(_bmp(), "", id="bmp"),
    pytest.param(_bmp(b"\0\0"), "BMP whose size differs from what its header implies by +2 bytes is not decodable by "
                 "TensorFlow", id="bmp-padded"),
    pytest.param(_still_gif(), "", id="gif"),
    pytest.param(_gif_with(b"!\xfe\x05hello\x00"), "", id="gif-comment"),
    pytest.param(_gif_with(b"!\xfe\x00"), "GIF has an extension with an empty first sub-block before its first frame: "
                 "TensorFlow's GIF decoder (giflib) cannot read its first frame", id="gif-empty-comment"),
    pytest.param(_gif_with(drop_palette=True), "GIF has no colour map for its first frame: TensorFlow's GIF decoder "
                 "(giflib) cannot read its first frame", id="gif-no-palette"),
    pytest.param(_gif_lzw11(), "GIF has an LZW code size outside 2-8 in its first frame: TensorFlow's GIF decoder "
                 "(giflib) cannot read its first frame", id="gif-lzw-11"),
])
def test_bmp_and_gif_that_pillow_reads_but_tensorflow_does_not(data: bytes, why: str) -> None:
    """Each case checked against tf.io.decode_image on Pillow's corpus (benchmarks/hostile_corpus.py --tf)."""
    rec = inspect_bytes(data)
    assert (rec.error, rec.tf_reason) == ("", why)
