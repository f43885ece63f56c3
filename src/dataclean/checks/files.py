"""What a file *is*: shared helpers for the corrupt and naming checks."""

from __future__ import annotations

#: File extensions each decoded format may carry.
FORMAT_EXTENSIONS: dict[str, set[str]] = {
    "JPEG": {".jpg", ".jpeg", ".jpe", ".jfif"},
    "MPO": {".jpg", ".jpeg", ".mpo"},
    "PNG": {".png"},
    "GIF": {".gif"},
    "BMP": {".bmp", ".dib"},
    "WEBP": {".webp"},
    "TIFF": {".tif", ".tiff"},
    "ICO": {".ico"},
    "PPM": {".ppm", ".pgm", ".pbm", ".pnm"},
    "JPEG2000": {".jp2", ".j2k", ".jpf", ".jpx", ".j2c"},
}
IMAGE_EXTENSIONS = set().union(*FORMAT_EXTENSIONS.values()) | {
    ".heic", ".heif", ".avif", ".tga", ".psd", ".dds", ".icns", ".pcx", ".sgi", ".xbm", ".eps",
}
SYSTEM_FILES = {"thumbs.db", "desktop.ini", ".ds_store", "ehthumbs.db"}


def file_name(path: str) -> str:
    """The last component of a manifest path (POSIX separators); string ops, no pathlib, for speed."""
    return path.rpartition("/")[2]


def is_system_file(path: str) -> bool:
    """Hidden files, AppleDouble ``._x.jpg`` companions and OS thumbnail databases."""
    name = file_name(path)
    return name.startswith(".") or name.lower() in SYSTEM_FILES


def extension(path: str) -> str:
    """Lower-case suffix with the dot (``.jpg``), empty for none; like PurePosixPath.suffix.

    What posixpath.splitext gives (leading dots start no suffix: ``.bashrc`` has none), in string
    operations: the naming check asks it of every file.
    """
    name = file_name(path)
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 and name[:dot].lstrip(".") else ""


def is_image_name(path: str) -> bool:
    return extension(path) in IMAGE_EXTENSIONS
