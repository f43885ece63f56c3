"""Every Pillow-decodable image is usable: routing by the manifest, the Pillow decoder, and the tf.data
pipeline that mixes both decoders. Most tests need no TensorFlow."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from train.decode import ImageReadError, needs_pillow, pillow_rgb, read_header


@pytest.mark.parametrize("row, expected", [
    (("JPEG", "RGB", "", ""), False),
    (("PNG", "I;16", "", ""), False),  # TensorFlow reads 16-bit PNG itself
    (("GIF", "P", "near_duplicate", ""), False),
    (("BMP", "RGB", "", ""), False),
    (("", "", "", ""), False),  # no format column: TensorFlow, as before
    (("TIFF", "RGB", "", ""), True),
    (("PPM", "RGB", "", ""), True),
    (("WEBP", "RGB", "", ""), True),
    (("MPO", "RGB", "", ""), True),
    (("JPEG", "CMYK", "", ""), True),
    (("PNG", "RGB", "dark;tf_unreadable", ""), True),  # the audit's verdict wins
    (("BMP", "RGB", "", "tf_unsupported"), True),  # older audits' error code for the same thing
], ids=["jpeg", "png16", "gif", "bmp", "no-format", "tiff", "ppm", "webp", "mpo", "cmyk", "tf_unreadable", "tf_unsupported"])
def test_needs_pillow_routes_by_the_manifest(row: tuple[str, str, str, str], expected: bool) -> None:
    assert needs_pillow(*row) is expected


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_pillow_rgb_scales_16_bit_and_float_images() -> None:
    deep = Image.fromarray(np.array([[0, 257, 40000, 65535]], dtype=np.uint16))
    assert pillow_rgb(_encode(deep, "TIFF"))[0, :, 0].tolist() == [0, 1, 156, 255]
    assert pillow_rgb(_encode(deep, "PNG"))[0, :, 1].tolist() == [0, 1, 156, 255]
    flt = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32))
    assert pillow_rgb(_encode(flt, "TIFF"))[0].tolist() == [[0, 0, 0], [128, 128, 128], [255, 255, 255]]


def test_pillow_rgb_converts_cmyk_palette_and_alpha() -> None:
    cmyk = Image.new("CMYK", (4, 4), (0, 255, 255, 0))  # no cyan, full magenta and yellow: red
    assert pillow_rgb(_encode(cmyk, "TIFF"))[0, 0].tolist() == [255, 0, 0]
    rgba = Image.new("RGBA", (2, 2), (10, 20, 30, 0))  # alpha dropped, as TensorFlow's channels=3 does
    assert pillow_rgb(_encode(rgba, "PNG"))[1, 1].tolist() == [10, 20, 30]
    pal = Image.new("P", (2, 2), 1)
    pal.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    out = pillow_rgb(_encode(pal, "PNG", transparency=1))
    assert out.shape == (2, 2, 3) and out.dtype == np.uint8 and out[0, 0].tolist() == [200, 100, 50]


def test_pillow_rgb_takes_the_first_frame() -> None:
    frames = [Image.new("RGB", (4, 4), c) for c in ((250, 0, 0), (0, 0, 250))]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    r, g, b = pillow_rgb(data)[0, 0].tolist()
    assert r > 200 and b < 50


@pytest.mark.parametrize("data, code", [
    (b"", "empty_file"),
    (b"plain text, no image", "not_an_image"),
    (_encode(Image.new("RGB", (64, 64), (9, 9, 9)), "PNG")[:60], "truncated"),
], ids=["empty", "text", "truncated-png"])
def test_pillow_rgb_errors_have_codes(data: bytes, code: str) -> None:
    with pytest.raises(ImageReadError) as info:
        pillow_rgb(data, "upload.bin")
    assert info.value.code == code
    assert str(info.value).startswith("upload.bin: ") and "\n" not in str(info.value)


def test_header_refuses_a_bomb_before_decoding() -> None:
    bomb = _encode(Image.new("L", (4000, 3000)), "PNG")  # 12 Mpx of zeros: a ~12 kB file
    assert read_header(bomb, "b.png").width == 4000
    message = r"b.png: 4000x3000 is 12,000,000 pixels, over the decompression-bomb cap of 1,000,000"
    with pytest.raises(ImageReadError, match=message) as info:
        read_header(bomb, "b.png", max_pixels=1_000_000)
    assert info.value.code == "too_large"


# --- the tf.data pipeline with both decoders ------------------------------------------------------

COLOURS = {"red": (220, 30, 30), "blue": (30, 30, 220)}
#: (suffix, Pillow format, how to write it) per file: the TensorFlow formats and three it cannot read
KINDS = [("png", "PNG"), ("jpg", "JPEG"), ("tif", "TIFF"), ("ppm", "PPM"), ("png16.png", "PNG16"), ("webp", "WEBP")]


def _write(path: Path, kind: str, colour: tuple[int, int, int], size: int) -> tuple[str, str]:
    """Write a solid ``colour`` image in ``kind``; returns the (format, mode) the audit would record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "PNG16":  # grey level of the colour's red channel, as 16 bits
        Image.fromarray(np.full((size, size), colour[0] * 257, dtype=np.uint16)).save(path, "PNG")
        return "PNG", "I;16"
    Image.new("RGB", (size, size), colour).save(path, kind, **({"quality": 95} if kind == "JPEG" else {}))
    return kind, "RGB"


def make_mixed_manifest(tmp: Path, per_class: int = 6, size: int = 24) -> Path:
    """Red/blue images in six formats (train 6, val 2 and test 2 per class, formats cycling)."""
    root = tmp / "data"
    rows = []
    for label, colour in COLOURS.items():
        for i in range(per_class + 4):
            suffix, kind = KINDS[i % len(KINDS)]
            rel = f"{label}/{i}.{suffix}"
            fmt, mode = _write(root / rel, kind, colour, size)
            split = "train" if i < per_class else ("val" if i < per_class + 2 else "test")
            rows.append({"path": rel, "root": str(root), "label": label, "split": split, "format": fmt, "mode": mode,
                         "error": "", "issues": "tf_unreadable" if fmt not in ("PNG", "JPEG") else ""})
    csv = tmp / "clean.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return csv


def test_load_splits_flags_the_rows_pillow_decodes(tmp_path: Path) -> None:
    from train.data import load_splits

    splits = load_splits(make_mixed_manifest(tmp_path))
    names = {s: [Path(p).name for p, f in zip(splits.paths[s], splits.pillow[s]) if f] for s in splits.paths}
    assert names["train"] == ["2.tif", "3.ppm", "5.webp"] * 2
    assert names["val"] == [] and names["test"] == ["8.tif", "9.ppm"] * 2
    assert splits.pillow_count() == 10


@pytest.mark.slow  # TensorFlow
def test_pipeline_decodes_every_format_with_the_right_colours(tmp_path: Path) -> None:
    from train.data import build_dataset, load_splits

    splits = load_splits(make_mixed_manifest(tmp_path))
    paths, labels, flags = splits.paths["train"], splits.labels["train"], splits.pillow["train"]
    ds = build_dataset(paths, labels, 16, 4, pillow=flags, cache=True)
    images = np.concatenate([x for x, _ in ds.as_numpy_iterator()])
    assert images.shape == (12, 16, 16, 3)
    for path, image in zip(paths, images):
        colour = COLOURS[Path(path).parent.name]
        expected = [colour[0]] * 3 if path.endswith("png16.png") else list(colour)
        np.testing.assert_allclose(image.mean(axis=(0, 1)), expected, atol=6, err_msg=path)


@pytest.mark.slow  # TensorFlow
def test_pillow_row_that_fails_is_named(tmp_path: Path) -> None:
    from dataclean.errors import DatacleanError
    from train.data import build_dataset, load_splits, naming_bad_files

    splits = load_splits(make_mixed_manifest(tmp_path))
    broken = next(p for p in splits.paths["train"] if p.endswith(".tif"))
    Path(broken).write_bytes(b"II*\x00 not really a tiff")
    ds = build_dataset(splits.paths["train"], splits.labels["train"], 16, 4, pillow=splits.pillow["train"])
    with pytest.raises(DatacleanError, match=f"cannot decode {broken} "):
        with naming_bad_files(splits.paths["train"], splits.pillow["train"]):
            list(ds)
