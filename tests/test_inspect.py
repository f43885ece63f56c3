"""Per-file inspection: metrics, orientation, and every way a file can be broken."""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dataclean.inspect import DEFAULT_MAX_PIXELS, Record, inspect_file
from dataclean.pool import ThreadAlarm, decode_guarded, inspect_many
from scale_helpers import slow_png


def _save(img: Image.Image, path: Path, fmt: str, **kw: object) -> str:
    img.save(path, fmt, **kw)
    return str(path)


def test_uniform_gray_metrics(tmp_path: Path) -> None:
    rec = inspect_file(_save(Image.new("RGB", (64, 48), (128, 128, 128)), tmp_path / "g.png", "PNG"))
    assert (rec.error, rec.format, rec.mode, rec.width, rec.height) == ("", "PNG", "RGB", 64, 48)
    assert rec.brightness == round(128 / 255, 4)
    assert rec.contrast == 0.0
    assert len(rec.phash) == 16 and len(rec.md5) == 32


def test_exif_orientation_swaps_width_and_height(tmp_path: Path) -> None:
    img = Image.new("RGB", (80, 40), (10, 200, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90
    rec = inspect_file(_save(img, tmp_path / "r.jpg", "JPEG", exif=exif.tobytes()))
    assert (rec.width, rec.height) == (40, 80)


def test_xmp_only_orientation_is_honoured_and_no_metadata_means_upright(tmp_path: Path) -> None:
    img = Image.new("RGB", (80, 40), (10, 200, 30))
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description tiff:Orientation="8"/></rdf:RDF></x:xmpmeta>'
    rotated = inspect_file(_save(img, tmp_path / "x.jpg", "JPEG", xmp=xmp))
    plain = inspect_file(_save(img, tmp_path / "p.jpg", "JPEG"))
    assert (rotated.width, rotated.height, plain.width, plain.height) == (40, 80, 80, 40)


def test_transparent_pixels_are_measured_on_white(tmp_path: Path) -> None:
    rec = inspect_file(_save(Image.new("RGBA", (32, 32), (0, 0, 0, 0)), tmp_path / "t.png", "PNG"))
    assert rec.brightness == 1.0


def test_16_bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    arr = np.full((32, 32), 32768, dtype=np.uint16)
    rec = inspect_file(_save(Image.fromarray(arr), tmp_path / "deep.png", "PNG"))
    assert rec.error == "" and rec.brightness == pytest.approx(0.5, abs=0.01)


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def _bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("data", "code"),
    [
        pytest.param(b"", "empty_file", id="empty"),
        pytest.param(b"hello, not an image\n" * 20, "not_an_image", id="text"),
        pytest.param(_png_bytes()[:400], "truncated", id="png-truncated"),
        pytest.param(_jpeg_bytes()[:-300], "truncated", id="jpeg-truncated"),
        pytest.param(_jpeg_bytes()[:-2], "truncated", id="jpeg-no-end-marker"),
        pytest.param(_bomb_png(100_000, 100_000), "too_large", id="bomb-header"),
    ],
)
def test_broken_files_are_records_not_exceptions(tmp_path: Path, data: bytes, code: str) -> None:
    path = tmp_path / "f.img"
    path.write_bytes(data)
    rec = inspect_file(str(path))
    assert rec.error == code and rec.error_detail
    assert rec.bytes == len(data)


def test_jpeg_with_trailing_padding_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "pad.jpg"
    path.write_bytes(_jpeg_bytes() + b"\x00" * 100)
    assert inspect_file(str(path)).error == ""


def test_pixel_cap_is_a_parameter(tmp_path: Path) -> None:
    path = _save(Image.new("L", (100, 100)), tmp_path / "a.png", "PNG")
    assert inspect_file(path, max_pixels=9_999).error == "too_large"
    assert inspect_file(path, max_pixels=10_000).error == ""


def test_unreadable_path_is_a_record(tmp_path: Path) -> None:
    rec = inspect_file(str(tmp_path))  # a folder cannot be read as a file
    assert rec.error == "unreadable"


def test_pool_keeps_order_and_survives_bad_files(tmp_path: Path) -> None:
    paths = []
    for k in range(9):
        p = tmp_path / f"{k}.png"
        if k % 3 == 0:
            p.write_bytes(b"junk")
        else:
            Image.new("L", (8 + k, 8), k * 20).save(p)
        paths.append(str(p))
    recs = inspect_many(paths, workers=2)
    assert [r.error for r in recs] == ["not_an_image", "", ""] * 3
    assert [r.width for r in recs if not r.error] == [9, 10, 12, 13, 15, 16]


TIMED_OUT = Record(error="decode_error", error_detail="decoding took longer than 1 s")


def test_a_file_over_the_time_limit_is_a_record_in_a_pool_worker_and_in_a_thread(tmp_path: Path) -> None:
    """The per-file limit: SIGALRM in the pool's workers; a watchdog thread where no signal reaches (a
    Dask worker decodes in a thread of its own pool). Same record; the file after it is inspected."""
    (tmp_path / "slow.png").write_bytes(slow_png())
    Image.new("L", (40, 30), 128).save(tmp_path / "ok.png")
    paths = [str(tmp_path / "slow.png"), str(tmp_path / "ok.png")]
    started = time.monotonic()
    pooled = inspect_many(paths, workers=1, timeout=1)
    staged: list[object] = []

    def in_a_thread() -> None:
        with ThreadAlarm() as alarm:
            staged.extend(decode_guarded(p, DEFAULT_MAX_PIXELS, 1, alarm=alarm) for p in paths)

    worker = threading.Thread(target=in_a_thread)
    worker.start()
    worker.join(60)
    assert not worker.is_alive() and time.monotonic() - started < 20  # each decode alone: ~7 s, or more
    assert pooled[0] == TIMED_OUT and staged[0] == (TIMED_OUT, None)
    assert (pooled[1].error, pooled[1].width, pooled[1].height) == ("", 40, 30)
    rec, reduced = staged[1]  # type: ignore[misc]
    assert (rec.error, rec.width, rec.height) == ("", 40, 30) and reduced is not None


def test_hashes_see_the_picture_upright_like_a_resaved_copy(tmp_path: Path) -> None:
    """A photo stored sideways with an EXIF orientation and its upright re-saved copy hash the same."""
    from PIL import ImageOps

    from dataclean.synth import photo

    upright = photo(np.random.default_rng(2), "triangles", (96, 64))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated; viewers rotate it back
    sideways = _save(upright.transpose(Image.Transpose.ROTATE_90), tmp_path / "s.png", "PNG", exif=exif.tobytes())
    assert ImageOps.exif_transpose(Image.open(sideways)).size == upright.size
    a, b = inspect_file(sideways), inspect_file(_save(upright, tmp_path / "u.png", "PNG"))
    assert (a.width, a.height) == (b.width, b.height) == (96, 64)
    assert a.phash == b.phash and a.thumb == b.thumb


@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_covered_region_follows_the_exif_transpose(orientation: int) -> None:
    """The region a reduced image covers (its partial last row/column excluded) moves with the transpose."""
    from dataclean.inspect import _ORIENT, _transpose_box

    img = Image.new("L", (7, 5), 0)
    img.paste(255, (0, 0, 3, 2))  # the covered region: 3x2 at the top left
    ys, xs = np.nonzero(np.asarray(img.transpose(_ORIENT[orientation])))
    assert _transpose_box((0, 0, 3, 2), (7, 5), orientation) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_a_half_size_copy_lines_up_when_the_scale_does_not_divide_the_size(tmp_path: Path) -> None:
    """533 px at 1/4 scale is 133.25 columns: the 32x32 reduction must cover 133.25, not 134."""
    from dataclean.synth import photo

    big = photo(np.random.default_rng(5), "circles", (533, 400))
    a = inspect_file(_save(big, tmp_path / "a.jpg", "JPEG", quality=95))
    b = inspect_file(_save(big.resize((266, 200), Image.Resampling.LANCZOS), tmp_path / "b.jpg", "JPEG", quality=95))
    ta, tb = (np.frombuffer(r.thumb, dtype=np.uint8).astype(float) for r in (a, b))
    assert np.corrcoef(ta, tb)[0, 1] > 0.9995  # 0.9988 when the partial column is stretched over
    assert a.phash == b.phash  # 2 bits apart when it is
