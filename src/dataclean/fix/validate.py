"""Check that a manifest still describes the files on disk before ``fix`` acts on it.

Stale or foreign manifests are the main way a clean-up goes wrong, so every problem is a
one-line DatacleanError naming the manifest, the file and what differs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from dataclean.errors import DatacleanError
from dataclean.io import file_md5
from dataclean.manifest import read_manifest

#: Columns ``fix`` reads; ``action``/``reason`` are recomputed, so they are optional.
FIX_COLUMNS: list[str] = ["path", "root", "label", "bytes", "mtime", "md5", "width", "height",
                          "error", "issues", "group"]
_NUMERIC = ("bytes", "mtime", "width", "height")
#: mtimes closer than this are "unchanged" (CSV round trips and some filesystems lose precision).
_MTIME_TOLERANCE_S = 1e-3


def _md5_or_none(path: Path) -> str | None:
    """MD5 of a file, or None when it cannot be read (the audit recorded it as unreadable)."""
    try:
        return file_md5(path)
    except OSError:
        return None


def _numbers(df: pd.DataFrame, column: str, where: Path) -> pd.Series:
    """The column as floats (empty -> NaN); a non-numeric value is an error naming its row."""
    raw = df[column]
    values = pd.to_numeric(raw.astype(str).str.strip().replace("", "nan"), errors="coerce")
    bad = values.isna() & raw.astype(str).str.strip().ne("") & raw.notna()
    bad &= ~raw.astype(str).str.strip().str.lower().eq("nan")
    if bad.any():
        i = bad.to_numpy().nonzero()[0][0]
        raise DatacleanError(
            f"manifest {where}: column {column} has non-numeric value {str(raw.iloc[i])!r} "
            f"(row {i + 2}, path {df['path'].iloc[i]})")
    return values.astype(float)


def load_manifest(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a manifest for ``fix``: required columns present, text columns clean, paths unique."""
    where = Path(path)
    df = read_manifest(where, required=FIX_COLUMNS)
    if df.empty:
        raise DatacleanError(f"manifest {where} has no rows")
    for column in ("path", "root", "label", "md5", "error", "issues", "group"):
        df[column] = df[column].astype(str).where(df[column].notna(), "")
    for column in _NUMERIC:
        _numbers(df, column, where)  # validation only: raises naming the first non-numeric cell
    if "given_split" in df.columns:
        df["given_split"] = df["given_split"].astype(str).where(df["given_split"].notna(), "").str.strip()
        bad = ~df["given_split"].isin(["", "train", "val", "test"])
        if bad.any():
            i = bad.to_numpy().nonzero()[0][0]
            raise DatacleanError(f"manifest {where}: given_split {df['given_split'].iloc[i]!r} in row {i + 2} "
                                 f"(path {df['path'].iloc[i]}) is not train, val, test or empty")
    empty = df["path"].str.strip().eq("") | df["root"].str.strip().eq("")
    if empty.any():
        i = empty.to_numpy().nonzero()[0][0]
        raise DatacleanError(f"manifest {where}: row {i + 2} has an empty path or root")
    for rel in df["path"]:
        parts = rel.replace("\\", "/").split("/")
        if rel.startswith(("/", "\\")) or ".." in parts or (len(rel) > 1 and rel[1] == ":"):
            raise DatacleanError(
                f"manifest {where}: path {rel} must be relative to root, without '..'")
    keys = df["root"] + "\0" + df["path"]
    dup = keys.duplicated()
    if dup.any():
        raise DatacleanError(
            f"manifest {where}: path {df['path'][dup].iloc[0]} is listed more than once")
    return df


def check_files(df: pd.DataFrame, where: str | os.PathLike[str],
                tolerate_missing: Callable[[int], bool] = lambda i: False) -> None:
    """Raise if a listed file is gone or changed since the audit.

    Compares the size with ``bytes``; when the mtime moved too, compares the MD5 (a touched but
    identical file is fine). ``tolerate_missing(i)`` lets the caller accept known-moved files.
    """
    sizes = _numbers(df, "bytes", Path(where)).tolist()
    mtimes = _numbers(df, "mtime", Path(where)).tolist()
    missing: list[str] = []
    for i, (root, rel, md5) in enumerate(zip(df["root"], df["path"], df["md5"])):
        file = Path(root) / rel
        try:
            st = file.stat()
        except (FileNotFoundError, NotADirectoryError):
            if not tolerate_missing(i):
                missing.append(str(file))
            continue
        size, mtime = sizes[i], mtimes[i]
        if not math.isnan(size) and st.st_size != int(size):
            raise DatacleanError(
                f"manifest {where} is stale: {file} is {st.st_size} bytes, manifest says {int(size)}; "
                f"re-run dataclean audit")
        moved = math.isnan(mtime) or abs(st.st_mtime - mtime) > _MTIME_TOLERANCE_S
        if moved and md5 and _md5_or_none(file) not in (md5, None):
            raise DatacleanError(
                f"manifest {where} is stale: {file} changed since the audit (MD5 differs); "
                f"re-run dataclean audit")
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise DatacleanError(
            f"manifest {where} lists missing file {missing[0]}{more}; re-run dataclean audit")
