"""Where a dataset's bytes live: a local folder, or any fsspec URL (``s3://bucket/prefix``, ``gs://``, ...).

One face for the rest of dataclean: :func:`list_dataset` lists every file with its size and
modification time or ETag (remote: one ``find`` call, no ``stat`` per file), :class:`Source` reads a
file's bytes (in a worker process or on a Dask worker: it pickles as protocol + options), and
:func:`is_remote` tells the two apart. Local folders keep today's fast walk (dataclean.scan) and
paths; fsspec is imported only for URLs. Remote data is read-only: nothing here writes to it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dataclean.errors import DatacleanError, first_line
from dataclean.layout import LayoutOptions, resolve_layout
from dataclean.safety import MARKER
from dataclean.scan import ScanResult, scan

QUARANTINE_JOURNAL = "journal.jsonl"
#: Protocols that mean "this machine's disk": audited with the local walk, paths stay local.
LOCAL_PROTOCOLS = ("file", "local")


def is_remote(root: str | os.PathLike[str]) -> bool:
    """True for a URL whose filesystem is not this machine's disk (``s3://b/p``; not ``file://``, not a path)."""
    text = os.fspath(root)
    protocol, sep, _ = text.partition("://")
    return bool(sep) and protocol.lower() not in LOCAL_PROTOCOLS


def local_path(root: str | os.PathLike[str]) -> str:
    """A local path or ``file://`` URL as a plain path."""
    text = os.fspath(root)
    protocol, sep, rest = text.partition("://")
    return rest if sep and protocol.lower() in LOCAL_PROTOCOLS else text


def parse_storage_options(items: Iterable[str]) -> dict[str, Any]:
    """``["anon=true", "endpoint_url=http://127.0.0.1:9000"]`` -> options; values parsed as JSON when they parse."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise DatacleanError(f"--storage-option expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def storage_options_from_env() -> dict[str, Any]:
    """Storage options for a manifest's remote root outside `audit` (fix, train): $DATACLEAN_STORAGE_OPTIONS
    as a JSON object, else none (the filesystem's own environment variables and config files still apply)."""
    text = os.environ.get("DATACLEAN_STORAGE_OPTIONS", "")
    try:
        options = json.loads(text) if text else {}
    except ValueError:
        raise DatacleanError(f"DATACLEAN_STORAGE_OPTIONS is not JSON: {text!r}") from None
    if not isinstance(options, dict):
        raise DatacleanError(f"DATACLEAN_STORAGE_OPTIONS must be a JSON object, got {text!r}")
    return options


@dataclass(frozen=True)
class Source:
    """A dataset root: ``url`` is what the manifest's ``root`` column holds (an absolute local path,
    or ``protocol://bucket/prefix``). Picklable: a worker rebuilds the filesystem from protocol and
    options (fsspec caches one instance per process)."""

    url: str
    protocol: str = ""  # "" for a local folder
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def remote(self) -> bool:
        return bool(self.protocol)

    @property
    def base(self) -> str:
        """The root as the filesystem names it (``bucket/prefix``; a local absolute path)."""
        return _strip_protocol(self.url) if self.remote else self.url

    def location(self, rel: str) -> str:
        """Where the file ``rel`` (relative, POSIX) is, as this source's reader takes it."""
        return f"{self.base}/{rel}" if self.remote else os.path.join(self.url, rel)

    def filesystem(self) -> Any:
        import fsspec

        return fsspec.filesystem(self.protocol or "file", **self.options)

    def read(self, location: str) -> bytes:
        """The bytes of one file (``location`` from :meth:`location`)."""
        if not self.remote:
            with open(location, "rb") as fh:
                return fh.read()
        data = self.filesystem().cat_file(location)
        return bytes(data)


@dataclass(frozen=True)
class Listing:
    """A listed dataset: the file list (``found``), its source, and, when the listing gave them, each
    file's size, mtime (seconds) and change stamp (ETag or mtime), aligned with ``found.paths``."""

    source: Source
    found: ScanResult
    sizes: list[int] | None = None
    mtimes: list[float] | None = None
    stamps: list[str] | None = None


def list_dataset(root: str | os.PathLike[str], storage_options: dict[str, Any] | None = None,
                 exclude: Sequence[str | os.PathLike[str]] = (), layout: LayoutOptions | None = None) -> Listing:
    """List the dataset at ``root`` (a path or an fsspec URL) and lay it out (dataclean.layout: labels,
    given splits). Raises DatacleanError with one line naming the root for an unknown scheme, a missing
    bucket or folder, refused credentials, no files."""
    if not is_remote(root):
        if storage_options:
            raise DatacleanError(f"--storage-option applies to URLs (s3://..., gs://...), not to the local folder {root}")
        found = scan(local_path(root), exclude=list(exclude), layout=layout)
        return Listing(Source(str(found.root)), found)
    url = os.fspath(root).rstrip("/")
    source = Source(url, url.partition("://")[0].lower(), dict(storage_options or {}))
    fs = _open(source)
    base = source.base
    try:
        info = fs.find(base, detail=True, withdirs=False)
    except Exception as exc:  # noqa: BLE001 - each filesystem raises its own kinds; all become one line
        raise _remote_error(url, exc) from None
    if not info:
        _raise_empty(fs, source)
    return _listing(source, info, layout)


def _open(source: Source) -> Any:
    try:
        import fsspec
    except ModuleNotFoundError:
        raise DatacleanError(f"{source.url}: reading URLs needs fsspec: pip install 'dataclean[scale]'") from None
    try:
        fsspec.get_filesystem_class(source.protocol)
    except ValueError:
        known = ", ".join(p + "://" for p in sorted(fsspec.available_protocols()) if len(p) > 1)
        raise DatacleanError(f"unknown URL scheme {source.protocol}:// in {source.url} (fsspec knows: {known})") from None
    except ImportError as exc:
        raise DatacleanError(f"{source.url}: {first_line(exc)} (pip install 'dataclean[scale]')") from None
    try:
        return source.filesystem()
    except Exception as exc:  # noqa: BLE001 - a bad storage option, a filesystem that cannot start
        raise DatacleanError(f"{source.url}: cannot open the filesystem with options {source.options}: "
                             f"{first_line(exc)}") from None


def _remote_error(url: str, exc: BaseException) -> DatacleanError:
    if isinstance(exc, FileNotFoundError):
        return DatacleanError(f"dataset not found: {url} (no such bucket or prefix)")
    if isinstance(exc, PermissionError):
        return DatacleanError(f"access denied listing {url}: {first_line(exc)} (check the credentials)")
    return DatacleanError(f"cannot list {url}: {type(exc).__name__}: {first_line(exc)}")


def _raise_empty(fs: Any, source: Source) -> None:
    bucket = source.base.split("/", 1)[0]
    try:
        exists = fs.exists(bucket)
    except Exception as exc:  # noqa: BLE001
        raise _remote_error(source.url, exc) from None
    if not exists:
        raise DatacleanError(f"dataset not found: {source.url} (no bucket {bucket!r})")
    raise DatacleanError(f"no files found under {source.url}: expected {source.url}/<class>/<image> or a folder of images")


def _listing(source: Source, info: dict[str, dict[str, Any]], layout: LayoutOptions | None = None) -> Listing:
    """``find``'s answer -> the dataset's files, with the same rules as the local walk: hidden folders and
    dataclean's own folders (holding its marker or a quarantine journal) are skipped, hidden files kept;
    paths relative, sorted."""
    cut = len(source.base) + 1
    rows: dict[str, dict[str, Any]] = {}
    for full, meta in info.items():
        rel = _strip_protocol(full)[cut:]
        if rel and meta.get("type", "file") != "directory" and not rel.endswith("/"):
            rows[rel] = meta
    quarantined = {p.rpartition("/")[0] + "/" for p in rows if p.endswith(("/" + QUARANTINE_JOURNAL, "/" + MARKER))}
    keep = sorted(p for p in rows if not _hidden_folder(p) and not any(p.startswith(q) for q in quarantined))
    if not keep:
        raise DatacleanError(f"no files found under {source.url}: expected {source.url}/<class>/<image> or a folder of images")
    laid = resolve_layout(keep, layout)
    found = ScanResult(root=source.url, paths=keep, labels=laid.labels, unreadable_dirs=[], layout=laid)  # type: ignore[arg-type]
    metas = [rows[p] for p in keep]
    mtimes = [_mtime(m) for m in metas]
    stamps = [str(_etag(m) or repr(t)) for m, t in zip(metas, mtimes)]
    return Listing(source, found, [int(m.get("size") or 0) for m in metas], mtimes, stamps)


def _hidden_folder(rel: str) -> bool:
    return any(part.startswith(".") for part in rel.split("/")[:-1])


def _strip_protocol(url: str) -> str:
    return url.partition("://")[2] if "://" in url else url


def _etag(meta: dict[str, Any]) -> str:
    for key in ("ETag", "etag", "md5Hash", "content_md5"):
        value = meta.get(key)
        if value:
            return str(value).strip('"')
    return ""


def _mtime(meta: dict[str, Any]) -> float:
    """Seconds since the epoch from whichever key the filesystem uses (0.0 when it gives none)."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "modified", "created"):
        value = meta.get(key)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return 0.0


def local_stamps(source: Source, paths: Sequence[str]) -> tuple[list[int], list[float], list[str]]:
    """Size, mtime and change stamp of each local file (a stat each; only asked for when a cache may
    spare the reads). A file that cannot be stat'ed gets stamp "" (never a cache hit)."""
    sizes, mtimes, stamps = [], [], []
    join, stat = os.path.join, os.stat
    for rel in paths:
        try:
            st = stat(join(source.url, rel))
        except OSError:
            sizes.append(0)
            mtimes.append(0.0)
            stamps.append("")
            continue
        sizes.append(st.st_size)
        mtimes.append(st.st_mtime)
        stamps.append(repr(st.st_mtime))
    return sizes, mtimes, stamps


def materialize(roots: Sequence[str], paths: Sequence[str], sizes: Sequence[int | None],
                cache_dir: str | os.PathLike[str], storage_options: dict[str, Any] | None = None,
                workers: int = 8, on_progress: Callable[[int], None] | None = None) -> list[str]:
    """A local path for each manifest row (``roots[i]`` + ``paths[i]``): a local root's file where it is,
    a remote one fetched once into ``cache_dir/<scheme>/<bucket/prefix>/<path>`` (see :func:`fetch`)."""
    out = [""] * len(paths)
    remote: dict[str, list[int]] = {}
    for i, root in enumerate(roots):
        if is_remote(root):
            remote.setdefault(root, []).append(i)
        else:
            out[i] = os.path.join(local_path(root), paths[i])
    for root, rows in remote.items():
        url = root.rstrip("/")
        source = Source(url, url.partition("://")[0].lower(), dict(storage_options or {}))
        _open(source)
        local = Path(cache_dir) / source.protocol / source.base
        got = fetch(source, [paths[i] for i in rows], [sizes[i] for i in rows], local, workers, on_progress)
        for i, path in zip(rows, got):
            out[i] = path
    return out


def fetch(source: Source, paths: Sequence[str], sizes: Sequence[int | None], cache_dir: str | os.PathLike[str],
          workers: int = 8, on_progress: Callable[[int], None] | None = None) -> list[str]:
    """Copy each remote file of ``paths`` (relative) once into ``cache_dir`` (same relative layout), in
    parallel, and return the local paths. A file already there with the size the manifest gives
    (``sizes``; None: unknown) is not fetched again; each is written to a temp name and renamed, so an
    interrupted fetch leaves no half file. Nothing is written to the source."""
    base = Path(cache_dir)
    fs = source.filesystem()

    def one(item: tuple[str, int | None]) -> str:
        rel, size = item
        dst = base / rel
        if not (dst.is_file() and (size is None or dst.stat().st_size == size)):
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(f".{dst.name}.{os.getpid()}.part")
            try:
                fs.get_file(source.location(rel), str(tmp))
                os.replace(tmp, dst)
            finally:
                tmp.unlink(missing_ok=True)
        if on_progress:
            on_progress(1)
        return str(dst)

    with ThreadPoolExecutor(max(1, workers)) as ex:
        try:
            return list(ex.map(one, zip(paths, sizes)))
        except FileNotFoundError as exc:
            raise DatacleanError(f"missing file in {source.url}: {exc.filename or first_line(exc)}") from None
        except PermissionError as exc:
            raise DatacleanError(f"access denied reading {source.url}: {first_line(exc)}") from None
        except OSError as exc:
            raise DatacleanError(f"cannot fetch from {source.url} into {base}: {first_line(exc)}") from None
