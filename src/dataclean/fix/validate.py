"""Check that a manifest still describes the files on disk before ``fix`` acts on it.

Stale or foreign manifests are the main way a clean-up goes wrong, so every problem is a
one-line DatacleanError naming the manifest, the file and what differs.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dataclean.errors import DatacleanError
from dataclean.io import file_md5
from dataclean.manifest import manifest_digest, read_manifest
from dataclean.safety import normal_relative, real_folder

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


def _numbers(df: pd.DataFrame, column: str, where: Path, integer: bool = False) -> pd.Series:
    """The column as floats (empty -> NaN); a non-numeric, infinite or (for ``integer``) fractional or
    negative value is an error naming its row."""
    raw = df[column]
    text = raw.astype(str).str.strip()
    values = pd.to_numeric(text.replace("", "nan"), errors="coerce")
    non_numeric = values.isna() & text.ne("") & raw.notna() & ~text.str.lower().eq("nan")
    floats = values.to_numpy(dtype=float, na_value=np.nan)
    out_of_range = values.notna() & ~np.isfinite(floats)
    if integer:
        finite = values.where(np.isfinite(floats))
        out_of_range |= finite.notna() & ((finite % 1 != 0) | (finite < 0))
    for bad, what in ((non_numeric, "non-numeric value"), (out_of_range, "value")):
        if bad.any():
            i = bad.to_numpy().nonzero()[0][0]
            expected = "" if what != "value" else f"; expected {'a whole number >= 0' if integer else 'a finite number'}"
            raise DatacleanError(
                f"manifest {where}: column {column} has {what} {str(raw.iloc[i])!r} "
                f"(row {i + 2}, path {str(df['path'].iloc[i])}{expected})")
    return values.astype(float)


def _ends_with_newline(path: Path) -> bool:
    """Every writer of manifests (the audit, pandas) ends the last row with a newline; a cut file does not."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() == 0:
            return False
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def _summary_of(where: Path) -> dict[str, Any] | None:
    """The audit's summary.json beside the manifest, when there is one that dataclean wrote."""
    path = where.with_name("summary.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("tool") == "dataclean" else None


def _check_against_summary(df: pd.DataFrame, where: Path, summary: dict[str, Any]) -> None:
    """Row count and checksum recorded by the audit: a truncated or edited manifest is refused."""
    recorded = summary.get("manifest")
    if not isinstance(recorded, dict):
        return  # written before audits recorded them
    if recorded.get("rows") != len(df):
        raise DatacleanError(f"manifest {where} has {len(df)} rows but the audit wrote {recorded.get('rows')} "
                             f"(summary.json); it is truncated or edited: re-run dataclean audit")
    if recorded.get("sha256") != manifest_digest(where):
        raise DatacleanError(f"manifest {where} does not match the summary.json beside it (its SHA-256 differs: "
                             f"edited since the audit, or written by an interrupted one); re-run dataclean audit")


def load_manifest(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a manifest for ``fix``, strictly: whole rows (checked against the audit's row count and
    checksum in summary.json when it is there), one real dataset root, normalised unique paths,
    typed cells."""
    where = Path(path)
    df = read_manifest(where, required=FIX_COLUMNS)
    if df.empty:
        raise DatacleanError(f"manifest {where} has no rows")
    if not _ends_with_newline(where):
        raise DatacleanError(f"manifest {where} ends in the middle of a row (truncated?); re-run dataclean audit")
    summary = _summary_of(where)
    if summary is not None:
        _check_against_summary(df, where, summary)
    for column in ("path", "root", "label", "md5", "error", "issues", "group"):
        df[column] = df[column].astype(str).where(df[column].notna(), "")
    for column in _NUMERIC:
        _numbers(df, column, where, integer=column != "mtime")  # validation only: raises naming the first bad cell
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
    _check_root(df, where, summary)
    for rel in df["path"]:
        parts = rel.replace("\\", "/").split("/")
        if rel.startswith(("/", "\\")) or ".." in parts or (len(rel) > 1 and rel[1] == ":"):
            raise DatacleanError(
                f"manifest {where}: path {rel} must be relative to root, without '..'")
        if not normal_relative(rel):
            raise DatacleanError(f"manifest {where}: path {rel!r} is not a normalised relative path "
                                 f"(no '.', empty or NUL parts); re-run dataclean audit")
    bad_md5 = ~df["md5"].str.fullmatch(r"[0-9a-f]{32}|")
    if bad_md5.any():
        i = bad_md5.to_numpy().nonzero()[0][0]
        raise DatacleanError(f"manifest {where}: row {i + 2} has md5 {df['md5'].iloc[i]!r}; "
                             f"expected 32 hex digits or empty")
    dup = df["path"].duplicated()
    if dup.any():
        raise DatacleanError(
            f"manifest {where}: path {df['path'][dup].iloc[0]} is listed more than once")
    return df


def _check_root(df: pd.DataFrame, where: Path, summary: dict[str, Any] | None) -> None:
    """Every row shares one root: the audited folder, absolute and real (no '..', no symlink on the way)."""
    roots = sorted(set(df["root"]))
    if len(roots) > 1:
        raise DatacleanError(f"manifest {where} lists files of several roots ({', '.join(roots[:3])}); "
                             f"an audit writes one root for every row: re-run dataclean audit")
    root = roots[0]
    if summary is not None and isinstance(summary.get("root"), str) and summary["root"] != root:
        raise DatacleanError(f"manifest {where}: root {root} is not the audited folder "
                             f"{summary['root']} (summary.json)")
    if os.path.isdir(root) and not real_folder(root):
        raise DatacleanError(f"manifest {where}: root {root} is not an absolute real path (it resolves to "
                             f"{os.path.realpath(root)}); re-run dataclean audit")


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
            if not os.path.lexists(file) and not tolerate_missing(i):
                missing.append(str(file))
            continue  # present but unreachable (a dangling symlink): the audit recorded it unreadable
        except OSError:
            continue  # a symlink loop, a folder we may not enter: reported where it matters (moves)
        if not stat.S_ISREG(st.st_mode):
            continue  # a FIFO or device: never opened, never compared
        size, mtime = sizes[i], mtimes[i]
        if not math.isnan(size) and st.st_size != int(size):
            raise DatacleanError(
                f"manifest {where} is stale: {str(file)} is {st.st_size} bytes, manifest says {int(size)}; "
                f"re-run dataclean audit")
        moved = math.isnan(mtime) or abs(st.st_mtime - mtime) > _MTIME_TOLERANCE_S
        if moved and md5 and _md5_or_none(file) not in (md5, None):
            raise DatacleanError(
                f"manifest {where} is stale: {str(file)} changed since the audit (MD5 differs); "
                f"re-run dataclean audit")
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise DatacleanError(
            f"manifest {where} lists missing file {missing[0]}{more}; re-run dataclean audit")
