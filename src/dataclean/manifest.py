"""The manifest: the CSV contract between audit, fix and train (see DESIGN.md).

One row per file found, broken files included. Column names are stable; new columns may be added,
none renamed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from dataclean.errors import DatacleanError, first_line

if TYPE_CHECKING:  # pandas is imported where a manifest is read: `dataclean audit` never needs it
    import pandas as pd

#: Columns written by ``dataclean audit``, in order.
MANIFEST_COLUMNS: list[str] = [
    "path",  # relative to root, POSIX separators
    "root",  # dataset root as given to audit (absolute)
    "label",  # class (folder name, or the index's label through --class-names); empty when none
    "expected_label",  # the label the --labels file gives, when one was given (else empty)
    "bytes",
    "mtime",  # seconds since the epoch (float), for cache keys and change detection
    "md5",
    "format",  # as decoded by Pillow, e.g. JPEG, PNG; empty when not decodable
    "mode",
    "width",  # EXIF orientation applied
    "height",
    "brightness",  # mean luminance 0..1
    "contrast",  # RMS contrast of luminance 0..1
    "lum_p01",  # 1st percentile of luminance 0..1 (the shadows)
    "lum_p99",  # 99th percentile of luminance 0..1 (the highlights)
    "phash",  # 64-bit perceptual hash, 16 hex digits
    "phash_mirror",  # pHash of the horizontally mirrored image
    "error",  # empty, or a short code (see dataclean.inspect.ERROR_CODES)
    "error_detail",
    "issues",  # ';'-separated check names this file failed
    "group",  # duplicate / near-duplicate cluster id, empty when alone
    "action",  # keep / drop / review
    "reason",
    "given_split",  # train / val / test when the dataset came split (split folders, index files), else empty;
    # last, so that clean.csv (the manifest's columns + split) has it beside the split `fix` chose
]

#: Columns ``issues.csv`` has, one row per finding.
ISSUE_COLUMNS: list[str] = ["path", "check", "severity", "score", "group", "detail"]

#: Columns any consumer (fix, train) needs to find the files again.
REQUIRED_COLUMNS: list[str] = ["path", "root", "label"]

#: dtype for reading a manifest back: keep text columns as text (md5 "0123..." must not become a number).
TEXT_COLUMNS = ["path", "root", "label", "given_split", "md5", "format", "mode", "phash", "phash_mirror", "error",
                "error_detail", "issues", "group", "action", "reason", "split"]


def read_manifest(path: str | os.PathLike[str], required: Iterable[str] = REQUIRED_COLUMNS) -> pd.DataFrame:
    """Read a manifest CSV, checking that it exists, parses and has the ``required`` columns.

    Empty cells in text columns are read as empty strings, not NaN. Raises DatacleanError with a
    one-line message naming the file and the problem.
    """
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise DatacleanError(f"manifest not found: {p}")
    try:
        header = pd.read_csv(p, nrows=0, encoding_errors="surrogateescape")
        dtypes = {c: str for c in TEXT_COLUMNS if c in header.columns}
        df = pd.read_csv(p, dtype=dtypes, keep_default_na=False, na_values={}, encoding_errors="surrogateescape")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise DatacleanError(f"manifest {p} is not a readable CSV: {first_line(exc)}") from exc
    missing = [c for c in required if c not in df.columns]
    if missing:
        found = ", ".join(str(c).encode("utf-8", "surrogateescape").decode("utf-8", "replace") for c in df.columns[:8])
        raise DatacleanError(
            f"manifest {p} lacks column(s) {', '.join(missing)}; is it a dataclean manifest? (found: {found})"
        )
    return df


def absolute_paths(df: pd.DataFrame) -> pd.Series:
    """Each row's file as an absolute path: ``root / path``."""
    import pandas as pd

    return pd.Series([str(Path(r) / p) for r, p in zip(df["root"], df["path"])], index=df.index)


def manifest_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a manifest file's bytes: recorded in summary.json by the audit, checked by ``fix``."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()
