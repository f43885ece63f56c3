"""Files out and in: every file dataclean writes goes to a temp file, then is renamed (atomic); CSV
rows read with the line each starts on, for messages."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


@contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[str]:
    """A new empty temp file beside ``path`` for the body to fill (by name: SQLite, Keras, any writer);
    when the body returns, the file is fsynced and renamed over ``path``.

    The temp file has the permissions open() would give (mkstemp makes it private, 0600) and is named
    ``.NAME.*.tmp``, which the audit's clean-up of a killed run recognises (``suffix``: another ending,
    for a writer that insists on one, e.g. ``.keras``). On any exception it is removed and ``path`` is
    left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o666 & ~_umask())
        finally:
            os.close(fd)
        yield tmp
        with open(tmp, "r+b") as fh:  # the body's writes reach the disk before the name points at them
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


@contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", newline: str | None = "",
                 errors: str = "strict") -> Iterator[IO[Any]]:
    """Open a temp file beside ``path`` (see :func:`atomic_path`); on success fsync and rename it over ``path``.

    On any exception the temp file is removed and ``path`` is left as it was.
    """
    kwargs: dict[str, Any] = {} if "b" in mode else {"encoding": "utf-8", "newline": newline, "errors": errors}
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


def write_csv(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write ``df`` as UTF-8 CSV without the index, atomically.

    File names that are not valid UTF-8 (Python holds them as surrogate escapes) are written back as
    their original bytes, so the path still opens the file; read_manifest reads them the same way.
    """
    with atomic_write(path, errors="surrogateescape") as fh:
        df.to_csv(fh, index=False, lineterminator="\n")


def write_json(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    with atomic_write(path) as fh:
        json.dump(obj, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")


def file_md5(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """MD5 hex digest of a file's bytes, read in chunks."""
    h = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def numbered_rows(lines: Iterable[str]) -> list[tuple[int, list[str]]]:
    """The CSV rows of ``lines``, each with the number of the line it starts on (1-based): a quoted
    field may hold line breaks, so row k is not always line k. Raises csv.Error as csv.reader does."""
    reader = csv.reader(lines)
    out, start = [], 1
    for row in reader:
        out.append((start, row))
        start = reader.line_num + 1
    return out
