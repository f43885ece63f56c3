"""The audit stage: scan -> inspect (parallel, pure) -> checks (dataset-level) -> manifest + findings.

``run_audit`` computes; ``write_outputs`` writes ``manifest.csv``, ``issues.csv`` and ``summary.json``
atomically. Neither prints: the CLI renders the result with dataclean.report.
"""

from __future__ import annotations

import csv
import gc
import os
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dataclean import __version__
from dataclean.checks import REGISTRY, AuditContext, Finding, ordered_checks
from dataclean.errors import DatacleanError, first_line
from dataclean.fix.policy import decide_columns
from dataclean.io import numbered_rows, write_json
from dataclean.launch import StartedAudit, start_audit
from dataclean.layout import SPLIT_ORDER, LayoutOptions, tree_reasons
from dataclean.manifest import ISSUE_COLUMNS, MANIFEST_COLUMNS, manifest_digest
from dataclean.record import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, Record, record_fields, thumbs_array
from dataclean.safety import MARKER, crashpoint, free_space, write_marker
from dataclean.scan import ScanResult
from dataclean.table import Table

if TYPE_CHECKING:
    import pandas as pd

#: ``on_stage(stage, done, total)``: progress of the work after the last file (see finish_audit).
Stage = Callable[[str, int, int], None]
CHECKS_STAGE = "checks"


@dataclass
class AuditResult:
    """An audit's outcome. ``table`` / ``issue_table`` are what gets written; ``manifest`` / ``issues``
    are the same as DataFrames (pandas is imported only when they are asked for)."""

    table: Table  # MANIFEST_COLUMNS, one row per file
    issue_table: Table  # ISSUE_COLUMNS, one row per finding
    summary: dict[str, Any]
    findings: dict[str, list[Finding]]
    skipped: dict[str, str] = field(default_factory=dict)  # check -> why it did not run
    job: StartedAudit | None = field(default=None, repr=False)  # what write_outputs needs for the cache
    records: list[Record] = field(default_factory=list, repr=False)

    @property
    def fired(self) -> list[str]:
        return [name for name, f in self.findings.items() if f]

    @cached_property
    def manifest(self) -> pd.DataFrame:
        return self.table.to_pandas()

    @cached_property
    def issues(self) -> pd.DataFrame:
        return self.issue_table.to_pandas()


def parse_params(settings: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``["near_duplicate.max_distance=8", ...]`` -> ``{"near_duplicate": {"max_distance": 8}}``, typed like the default."""
    out: dict[str, dict[str, Any]] = {}
    for item in settings:
        key, sep, value = item.partition("=")
        name, dot, param = key.strip().partition(".")
        if not sep or not dot:
            raise DatacleanError(f"--set expects CHECK.PARAM=VALUE, got {item!r}")
        if name not in REGISTRY:
            raise DatacleanError(f"--set {item!r}: unknown check {name!r} (known: {', '.join(sorted(REGISTRY))})")
        defaults = REGISTRY[name].params
        if param not in defaults:
            known = ", ".join(sorted(defaults)) or "none"
            raise DatacleanError(f"--set {item!r}: check {name!r} has no parameter {param!r} (parameters: {known})")
        kind = type(defaults[param])
        try:
            typed = kind(value)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise DatacleanError(f"--set {item!r}: {param} must be {what}, got {value!r}") from None
        if typed != typed or typed < 0:  # NaN or negative: no check parameter means that
            raise DatacleanError(f"--set {item!r}: {param} must be a non-negative number, got {value!r}")
        out.setdefault(name, {})[param] = typed
    return out


def read_labels_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """A ``path,label`` CSV (paths relative to the dataset root) -> mapping."""
    p = Path(path)
    if not p.is_file():
        raise DatacleanError(f"labels file not found: {p}")
    try:
        with open(p, newline="", encoding="utf-8-sig") as fh:
            rows = numbered_rows(fh)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DatacleanError(f"labels file {p} is not a readable CSV: {first_line(exc)}") from exc
    header = rows[0][1] if rows else []
    missing = {"path", "label"} - set(header)
    if missing:
        raise DatacleanError(f"labels file {p} needs columns path,label; missing {', '.join(sorted(missing))}")
    at_path, at_label = header.index("path"), header.index("label")
    out: dict[str, str] = {}
    for line, row in rows[1:]:
        if not row:
            continue
        if len(row) != len(header):
            raise DatacleanError(f"labels file {p} line {line}: expected {len(header)} fields, found {len(row)}")
        out[_relative_key(row[at_path])] = row[at_label]
    return out


def _relative_key(path: str) -> str:
    """Normalise a labels-file path to the manifest's form: POSIX separators, no leading ./"""
    key = path.replace("\\", "/")
    while key.startswith("./"):
        key = key[2:]
    return key


def run_audit(
    root: str | os.PathLike[str],
    workers: int | None = None,
    labels_path: str | os.PathLike[str] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    on_progress: Callable[[int], None] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    layout: LayoutOptions | None = None,
    on_stage: Stage | None = None,
    **start: Any,
) -> AuditResult:
    """Audit the dataset at ``root`` (a folder or an fsspec URL). ``workers=None`` uses every core; 0 runs
    in-process.

    ``layout`` says how to read the folder (dataclean.layout.layout_options: --layout, --index,
    --class-names); by default the layout is detected (class folders, split folders or flat).
    ``start`` takes start_audit's other arguments (out_dir for the cache, storage_options, use_cache,
    engine, scheduler, timeout: seconds per file). ``on_progress(n)``: n more files inspected;
    ``on_stage(stage, done, total)``: the work after the last file (see :func:`finish_audit`).
    """
    labels_file = read_labels_file(labels_path) if labels_path else None
    return finish_audit(start_audit(root, workers, labels_path, max_pixels, layout=layout, max_bytes=max_bytes, **start),
                        labels_file, labels_path, params, on_progress, on_stage=on_stage)


def finish_audit(
    job: StartedAudit,
    labels_file: dict[str, str] | None = None,
    labels_path: str | os.PathLike[str] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    on_progress: Callable[[int], None] | None = None,
    *,
    on_stage: Stage | None = None,
) -> AuditResult:
    """Collect a started audit's records, run every check and build the outputs.

    ``on_progress(n)``: n more files inspected. ``on_stage(stage, done, total)``: how the work after
    the last file goes, which on a million files takes a minute or more: ``"near-duplicate search"``
    (steps of the candidate search: dataclean.neardup.pairs_within), then ``"checks"`` (one step per
    check); called from the search's threads too.
    """
    from dataclean.neardup import prefetch_kernel

    prefetch_kernel(len(job.found.paths))  # a big dataset's search loads its compiled pass while files decode
    records = job.records(on_progress)
    inspected = time.perf_counter()
    with collector_paused():
        return _finish(job, records, inspected, labels_file, labels_path, params, on_stage)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the work after the last file without the cyclic garbage collector (as it was, after).

    That work makes no reference cycles to speak of, but it builds columns: lists of one value per
    row. Every collection of the generation holding such a list walks it element by element, and
    the number of collections grows with the objects allocated, so with gc on the checks' and the
    fix policy's per-file cost grew with the dataset (quadratic in the end). The records are frozen
    too, so a collection that comes later does not walk them either until the audit is done.
    """
    enabled = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.unfreeze()


def _finish(job: StartedAudit, records: list[Record], inspected: float, labels_file: dict[str, str] | None,
            labels_path: str | os.PathLike[str] | None, params: dict[str, dict[str, Any]] | None,
            on_stage: Stage | None = None) -> AuditResult:
    found, n_workers, max_pixels, started = job.found, job.workers, job.max_pixels, job.started
    table = _table(found, records, labels_file)
    ctx = AuditContext(table=table, thumbs=thumbs_array(records + [Record()] * (len(table) - len(records))),
                       labels_file=labels_file, params=params or {}, layout=found.layout, progress=on_stage)
    findings, skipped = _run_checks(ctx, found)
    table["issues"] = _issue_column(len(table), findings)
    table["group"] = ctx.clusters.group
    _add_actions(table)
    manifest = table.select(MANIFEST_COLUMNS)
    issues = _issues_table(manifest, findings)
    timing = {"inspect_s": round(inspected - started, 3), "total_s": round(time.perf_counter() - started, 3)}
    summary = _summary(manifest, found, findings, skipped, ctx, n_workers, max_pixels, labels_path, timing)
    summary["parameters"]["max_file_mb"] = job.max_bytes / 1e6
    summary["parameters"]["engine"] = job.engine
    summary["cache"] = job.cache_counts
    summary["warnings"] = job.warnings
    return AuditResult(table=manifest, issue_table=issues, summary=summary, findings=findings, skipped=skipped,
                       job=job, records=records)


def write_outputs(result: AuditResult, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write manifest.csv, issues.csv, the record cache (unless the audit ran without) and summary.json
    into ``out_dir`` as one set.

    Each file is written atomically, and summary.json last: it records the row count and SHA-256 of
    the other two and a generation id. An audit killed between two renames leaves a summary that does
    not match the new manifest, which ``fix`` then refuses. Temporaries a killed audit left behind
    are removed first (the caller holds the folder's lock, so none is another writer's).
    """
    out = Path(out_dir)
    write_marker(out, "audit")  # the scan skips this folder should it lie inside a dataset
    paths = {"manifest": out / "manifest.csv", "issues": out / "issues.csv", "summary": out / "summary.json"}
    _remove_stale_temporaries(out, [p.name for p in paths.values()] + ["cache.sqlite", MARKER])
    current = paths["manifest"]
    try:
        result.table.write_csv(current)
        crashpoint()
        current = paths["issues"]
        result.issue_table.write_csv(current)
        # what fix checks before trusting the manifest: a truncated, edited or mismatched one is refused
        result.summary["manifest"] = {"rows": len(result.table), "sha256": manifest_digest(paths["manifest"])}
        if result.job is not None and result.job.out_dir is not None and Path(result.job.out_dir) == out:
            current = out / "cache.sqlite"
            paths["cache"] = Path(result.job.save_cache(result.records) or current)
        result.summary["issues_file"] = {"rows": len(result.issue_table), "sha256": manifest_digest(paths["issues"])}
        result.summary["generation"] = uuid.uuid4().hex
        current = paths["summary"]
        write_json(result.summary, current)
    except OSError as exc:
        raise DatacleanError(f"cannot write {current}: {exc.strerror or exc} ({free_space(str(out))})") from exc
    return paths


def _remove_stale_temporaries(out: Path, names: list[str]) -> None:
    """Remove ``.NAME.*.tmp`` files (atomic_write's temporaries) of the outputs ``names`` in ``out``."""
    try:
        entries = os.listdir(out)
    except OSError:
        return
    for entry in entries:
        if entry.endswith(".tmp") and any(entry.startswith(f".{name}.") for name in names):
            try:
                os.unlink(out / entry)
            except OSError:
                pass


def _table(found: ScanResult, records: list[Record], labels_file: dict[str, str] | None) -> Table:
    """One row per file found, then one per file an index lists that is not there (error ``missing``)."""
    missing = found.layout.missing if found.layout is not None else []
    paths = found.paths + [e.path for e in missing] if missing else found.paths
    records = records + [Record(error="missing", error_detail=f"listed in {e.source}, not found under the dataset folder")
                         for e in missing]
    table = Table({"path": paths, "root": str(found.root), "label": found.labels + [e.label for e in missing],
                   "given_split": found.given_splits + [e.split for e in missing],
                   "expected_label": [labels_file.get(p, "") for p in paths] if labels_file else ""},
                  n=len(paths))
    for name in record_fields():
        table[name] = list(map(attrgetter(name), records))
    return table


def _run_checks(ctx: AuditContext, found: ScanResult) -> tuple[dict[str, list[Finding]], dict[str, str]]:
    findings: dict[str, list[Finding]] = {}
    skipped: dict[str, str] = {}
    try:  # duplicate clusters use near_duplicate's parameters and serve several checks: build them first
        _ = ctx.clusters
    except ValueError as exc:
        raise DatacleanError(f"check near_duplicate: {exc} (parameters: {ctx.params.get('near_duplicate')})") from None
    specs = ordered_checks()
    for done, spec in enumerate(specs):
        if ctx.progress is not None:
            ctx.progress(CHECKS_STAGE, done, len(specs))
        if spec.needs_labels and found.flat:
            skipped[spec.name] = "no class folders (flat dataset)"
        elif spec.name == "misplaced" and ctx.labels_file is None:
            skipped[spec.name] = "no --labels file given"
        elif spec.applies is not None and (why := spec.applies(ctx)):
            skipped[spec.name] = why
        if spec.name in skipped:
            findings[spec.name] = []
            continue
        try:
            findings[spec.name] = spec.run(ctx, ctx.params.get(spec.name))
        except ValueError as exc:  # a parameter out of range, e.g. --set near_duplicate.max_distance=-1
            raise DatacleanError(f"check {spec.name}: {exc} (parameters: {ctx.params.get(spec.name)})") from None
    if ctx.progress is not None:
        ctx.progress(CHECKS_STAGE, len(specs), len(specs))
    return findings, skipped


def _issue_column(n: int, findings: dict[str, list[Finding]]) -> list[str]:
    """Per row: the ``;``-joined names of the checks that flagged it, in ``findings`` order."""
    flagged: dict[int, list[str]] = {}  # only the flagged rows: no container per clean file
    for name, found in findings.items():
        for f in found:
            if f.row is not None:
                names = flagged.setdefault(f.row, [])
                if name not in names:
                    names.append(name)
    column = [""] * n
    for row, names in flagged.items():
        column[row] = ";".join(names)
    return column


def _add_actions(table: Table) -> None:
    decided = decide_columns(table)
    table["action"], table["reason"] = decided["action"], decided["reason"]


def _issues_table(manifest: Table, findings: dict[str, list[Finding]]) -> Table:
    paths = manifest["path"]
    rows = [
        (paths[f.row] if f.row is not None else "", name, REGISTRY[name].severity, round(f.score, 4), f.group, f.detail)
        for name, found in findings.items()
        for f in found
    ]
    return Table(dict(zip(ISSUE_COLUMNS, zip(*rows))) if rows else {c: [] for c in ISSUE_COLUMNS}, n=len(rows))


def _summary(
    manifest: Table,
    found: ScanResult,
    findings: dict[str, list[Finding]],
    skipped: dict[str, str],
    ctx: AuditContext,
    workers: int,
    max_pixels: int,
    labels_path: Any,
    timing: dict[str, float],
) -> dict[str, Any]:
    decoded = ctx.decoded.tolist()
    checks = {}
    for spec in ordered_checks():
        fs = findings.get(spec.name, [])
        checks[spec.name] = {
            "severity": spec.severity,
            "files": len({f.row for f in fs if f.row is not None}),
            "findings": len(fs),
            "params": {**spec.params, **ctx.params.get(spec.name, {})},
            "skipped": skipped.get(spec.name),
        }
    labels, issues, errors = manifest["label"], manifest["issues"], manifest["error"]
    present = [e != "missing" for e in errors]  # a file an index lists but that is not there is no class member
    counts = Counter(lbl for lbl, here in zip(labels, present) if lbl and here)
    with_issues = Counter(lbl for lbl, iss, here in zip(labels, issues, present) if lbl and iss and here)
    n_labelled = sum(counts.values())
    classes: dict[str, dict[str, Any]] = {
        lbl: {"files": c, "share": round(c / max(n_labelled, 1), 4), "files_with_issues": with_issues[lbl]}
        for lbl, c in sorted(counts.items())
    }
    ok = [i for i, d in enumerate(decoded) if d]
    layout = _layout_summary(manifest, found, findings, ok)
    if layout["given_split"]:
        given = manifest["given_split"]
        per = Counter((lbl, g) for lbl, g, here in zip(labels, given, present) if lbl and g and here)
        for lbl, entry in classes.items():
            entry["splits"] = {s: per[(lbl, s)] for s in layout["given_split"]}
    formats = Counter(manifest["format"][i] for i in ok)
    return {
        "tool": "dataclean",
        "version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "root": str(found.root),
        "flat": found.flat,
        "layout": layout,
        "files": len(manifest),
        "decoded": len(ok),
        "errors": dict(Counter(e for e in errors if e).most_common()),
        "groups": len({g for g in manifest["group"] if g}),
        "checks": checks,
        "classes": classes,
        "imbalance_ratio": _imbalance([labels[i] for i in ok]),
        "stats": {
            "bytes_total": sum(manifest["bytes"]),
            "formats": dict(formats.most_common()),
            "width_median": _median(manifest["width"], ok),
            "height_median": _median(manifest["height"], ok),
            "brightness_median": _median(manifest["brightness"], ok),
            "contrast_median": _median(manifest["contrast"], ok),
        },
        "unreadable_dirs": found.unreadable_dirs,
        "symlinked_dirs": found.symlinked_dirs,
        "parameters": {"workers": workers, "max_pixels": max_pixels, "labels": str(labels_path) if labels_path else None},
        "timing": timing,
    }


def _layout_summary(manifest: Table, found: ScanResult, findings: dict[str, list[Finding]], ok: list[int]) -> dict[str, Any]:
    """How the folder was read: kind, files per given split (and their classes), index files, hints."""
    lay = found.layout
    labels, given, errors, paths = manifest["label"], manifest["given_split"], manifest["error"], manifest["path"]
    on_disk = [i for i, e in enumerate(errors) if e != "missing"]
    split_rows: dict[str, list[int]] = {s: [i for i in on_disk if given[i] == s] for s in SPLIT_ORDER}
    splits = {}
    decoded = set(ok)
    for s, rows in split_rows.items():
        if rows:
            counts = Counter(labels[i] for i in rows if labels[i])
            splits[s] = {"files": len(rows), "classes": dict(sorted(counts.items())),
                         "imbalance_ratio": _imbalance([labels[i] for i in rows if i in decoded])}
    conflicted = len({f.row for f in findings.get("label_conflict", []) if f.row is not None})
    labelled = sum(1 for i in ok if labels[i])
    unlabelled = [i for i in on_disk if not labels[i]]
    kind = lay.kind if lay is not None else ("flat" if found.flat else "classes")
    return {
        "kind": kind,
        "given_split": {s: v["files"] for s, v in splits.items()},
        "splits": splits,
        "root_files": 0 if kind == "index" else sum(1 for i in unlabelled if "/" not in paths[i]),
        "unlabelled_files": len(unlabelled),
        "missing_files": len(errors) - len(on_disk),
        "not_classes": lay.not_classes if lay is not None else [],
        "requested": lay.requested if lay is not None else "auto",
        "index_files": list(lay.index_files) if lay is not None else [],
        "class_names": lay.class_names_file if lay is not None else "",
        "notes": list(lay.notes) if lay is not None else [],
        "tree_like": tree_reasons(labels, conflicted, labelled) if not found.flat and lay and lay.kind != "index" else [],
    }


def _imbalance(decoded_labels: list[str]) -> float | None:
    """Largest / smallest class, counting decoded images (what a trainer could use)."""
    counts = Counter(lbl for lbl in decoded_labels if lbl)
    return round(max(counts.values()) / min(counts.values()), 3) if len(counts) > 1 else None


def _median(column: list[Any], rows: list[int]) -> float | None:
    values = [column[i] for i in rows if column[i] is not None]
    return round(float(statistics.median(values)), 4) if values else None


import sys as _sys  # noqa: E402

from dataclean import make_callable as _make_callable  # noqa: E402

_make_callable(_sys.modules[__name__])  # `dataclean.audit(...)` is the public API: see dataclean/__init__.py
