"""The incremental cache: per-file records of the last audit, in ``--out/cache.sqlite``.

A file whose (path, size, stamp) is unchanged since the audit that wrote the cache is not read again;
its record comes from here. The stamp is the mtime for local files (``repr`` of ``st_mtime``) and the
ETag (else the modification time) for remote ones. The cache belongs to one dataset root, one
``--max-pixels`` and one version of the inspection: anything else, or a file that is not such a
cache (corrupt, foreign, another schema), is ignored with a warning and never trusted. It is written
to a temp file and renamed, at the end of an audit.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, fields
from operator import attrgetter
from pathlib import Path
from typing import Any

from dataclean.io import atomic_path
from dataclean.record import Record
from dataclean.text import is_utf8

CACHE_NAME = "cache.sqlite"
#: Bump when what inspection computes changes: older caches are then ignored (a warning says why).
INSPECT_VERSION = "1"
SCHEMA = "dataclean-cache-1"

_FIELDS = [f.name for f in fields(Record)]
_as_tuple = attrgetter(*_FIELDS)
_TYPES = {"bytes": "INTEGER", "mtime": "REAL", "width": "INTEGER", "height": "INTEGER", "brightness": "REAL",
          "contrast": "REAL", "lum_p01": "REAL", "lum_p99": "REAL", "thumb": "BLOB"}
_COLUMNS = ", ".join(f'"{n}" {_TYPES.get(n, "TEXT")}' for n in _FIELDS)
# path as bytes: file names that are not UTF-8 (held as surrogate escapes) are stored as they are on disk
_RECORDS_SQL = f'CREATE TABLE records (path BLOB PRIMARY KEY, size INTEGER NOT NULL, stamp TEXT NOT NULL, {_COLUMNS}) STRICT'
_META_SQL = "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT"

#: Records that say more about the moment than about the file: read again next time.
_TRANSIENT = ("unreadable",)
_TRANSIENT_DETAILS = ("decoding took longer than", "the decoder crashed")


@dataclass
class CacheLoad:
    """What :func:`load` found: ``entries`` maps path -> (size, stamp, record); ``warning`` says why
    an existing cache was not used (empty when it was, or when there was none)."""

    entries: dict[str, tuple[int, str, Record]]
    warning: str = ""


def cache_path(out_dir: str | os.PathLike[str]) -> Path:
    return Path(out_dir) / CACHE_NAME


def _meta(root: str, max_pixels: int) -> dict[str, str]:
    return {"schema": SCHEMA, "inspect_version": INSPECT_VERSION, "root": root, "max_pixels": str(max_pixels)}


def load(out_dir: str | os.PathLike[str], root: str, max_pixels: int) -> CacheLoad:
    """The cache in ``out_dir`` when it is one of ours for this root and settings, else none (and why)."""
    path = cache_path(out_dir)
    if not path.is_file():
        return CacheLoad({})
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return CacheLoad({}, f"cache {path} cannot be opened ({exc}); ignored, every file is inspected")
    try:
        schema = dict(con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall())
        if schema != {"meta": _META_SQL, "records": _RECORDS_SQL}:
            return CacheLoad({}, f"cache {path} is not a dataclean cache of this version; ignored, every file is inspected")
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        want = _meta(root, max_pixels)
        wrong = [k for k in want if meta.get(k) != want[k]]
        if wrong:
            got = ", ".join(f"{k}={meta.get(k)!r}" for k in wrong)
            return CacheLoad({}, f"cache {path} was written for {got}, not {', '.join(f'{want[k]!r}' for k in wrong)}; "
                                 "ignored, every file is inspected")
        entries = {row[0].decode("utf-8", "surrogateescape"): (row[1], row[2], Record(*row[3:]))
                   for row in con.execute("SELECT * FROM records")}
    except (sqlite3.Error, TypeError, ValueError) as exc:
        return CacheLoad({}, f"cache {path} is unreadable ({exc}); ignored, every file is inspected")
    finally:
        con.close()
    return CacheLoad(entries)


def cacheable(rec: Record) -> bool:
    return rec.error not in _TRANSIENT and not rec.error_detail.startswith(_TRANSIENT_DETAILS)


def _storable(rec: Record) -> bool:
    """False for a record whose text cannot go into SQLite as UTF-8 (a message quoting an undecodable name)."""
    return is_utf8(rec.error_detail)  # format and mode come from Pillow: ASCII


def save(out_dir: str | os.PathLike[str], root: str, max_pixels: int, paths: Sequence[str], sizes: Sequence[int],
         stamps: Sequence[str], records: Sequence[Record]) -> Path:
    """Write the cache for this audit's files (replacing the old one atomically: temp file + rename)."""
    target = cache_path(out_dir)
    with atomic_path(target) as tmp:
        con = sqlite3.connect(tmp)
        try:
            con.execute("PRAGMA journal_mode = OFF")
            con.execute("PRAGMA synchronous = OFF")  # atomic_path fsyncs once, before the rename
            con.execute(_META_SQL)
            con.execute(_RECORDS_SQL)
            con.executemany("INSERT INTO meta VALUES (?, ?)", _meta(root, max_pixels).items())
            marks = ", ".join("?" * (len(_FIELDS) + 3))
            rows: Any = ((p.encode("utf-8", "surrogateescape"), s, t, *_as_tuple(r))
                         for p, s, t, r in zip(paths, sizes, stamps, records)
                         if t and (not r.error or cacheable(r) and _storable(r)))
            con.executemany(f"INSERT INTO records VALUES ({marks})", rows)
            con.commit()
        finally:
            con.close()
    return target
