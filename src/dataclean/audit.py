"""The audit stage: scan -> inspect (parallel, pure) -> checks (dataset-level) -> manifest + findings.

``run_audit`` computes; ``write_outputs`` writes ``manifest.csv``, ``issues.csv`` and ``summary.json``
atomically. Neither prints: the CLI renders the result with dataclean.report.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dataclean import __version__
from dataclean.checks import REGISTRY, AuditContext, Finding, ordered_checks
from dataclean.errors import DatacleanError, first_line
from dataclean.inspect import DEFAULT_MAX_PIXELS, Record, as_row, thumbs_array
from dataclean.io import write_csv, write_json
from dataclean.manifest import ISSUE_COLUMNS, MANIFEST_COLUMNS
from dataclean.launch import StartedAudit, start_audit
from dataclean.scan import ScanResult

@dataclass
class AuditResult:
    manifest: pd.DataFrame
    issues: pd.DataFrame
    summary: dict[str, Any]
    findings: dict[str, list[Finding]]
    skipped: dict[str, str] = field(default_factory=dict)  # check -> why it did not run

    @property
    def fired(self) -> list[str]:
        return [name for name, f in self.findings.items() if f]


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
            raise DatacleanError(f"--set {item!r}: {param} must be a {kind.__name__}, got {value!r}") from None
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
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatacleanError(f"labels file {p} is not a readable CSV: {first_line(exc)}") from exc
    missing = {"path", "label"} - set(df.columns)
    if missing:
        raise DatacleanError(f"labels file {p} needs columns path,label; missing {', '.join(sorted(missing))}")
    return {_relative_key(k): v for k, v in zip(df["path"], df["label"])}


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
) -> AuditResult:
    """Audit the dataset at ``root``. ``workers=None`` uses every core; 0 runs in-process."""
    labels_file = read_labels_file(labels_path) if labels_path else None
    return finish_audit(start_audit(root, workers, labels_path, max_pixels), labels_file, labels_path, params,
                        on_progress)


def finish_audit(
    job: StartedAudit,
    labels_file: dict[str, str] | None = None,
    labels_path: str | os.PathLike[str] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> AuditResult:
    """Collect a started audit's records, run every check and build the outputs."""
    found, n_workers, max_pixels, started = job.found, job.workers, job.max_pixels, job.started
    records = job.inspection.results(on_progress)
    inspected = time.perf_counter()

    table = _table(found, records)
    table.insert(3, "expected_label", [labels_file.get(p, "") for p in found.paths] if labels_file else "")
    ctx = AuditContext(table=table, thumbs=thumbs_array(records), labels_file=labels_file, params=params or {})
    findings, skipped = _run_checks(ctx, found)
    table["issues"] = _issue_column(len(table), findings)
    table["group"] = ctx.clusters.group
    manifest = _with_actions(table)[MANIFEST_COLUMNS]
    issues = _issues_table(manifest, findings)
    timing = {"inspect_s": round(inspected - started, 3), "total_s": round(time.perf_counter() - started, 3)}
    summary = _summary(manifest, found, findings, skipped, ctx, n_workers, max_pixels, labels_path, timing)
    return AuditResult(manifest=manifest, issues=issues, summary=summary, findings=findings, skipped=skipped)


def write_outputs(result: AuditResult, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    out = Path(out_dir)
    paths = {"manifest": out / "manifest.csv", "issues": out / "issues.csv", "summary": out / "summary.json"}
    try:
        write_csv(result.manifest, paths["manifest"])
        write_csv(result.issues, paths["issues"])
        write_json(result.summary, paths["summary"])
    except OSError as exc:
        raise DatacleanError(f"cannot write outputs to {out}: {exc.strerror or exc}") from exc
    return paths


def _table(found: ScanResult, records: list[Record]) -> pd.DataFrame:
    rows = [as_row(r) for r in records]
    df = pd.DataFrame(rows, columns=[c for c in MANIFEST_COLUMNS if c in rows[0]] if rows else None)
    df.insert(0, "path", found.paths)
    df.insert(1, "root", str(found.root))
    df.insert(2, "label", found.labels)
    df["width"] = df["width"].astype("Int64")
    df["height"] = df["height"].astype("Int64")
    return df


def _run_checks(ctx: AuditContext, found: ScanResult) -> tuple[dict[str, list[Finding]], dict[str, str]]:
    findings: dict[str, list[Finding]] = {}
    skipped: dict[str, str] = {}
    try:  # duplicate clusters use near_duplicate's parameters and serve several checks: build them first
        ctx.clusters
    except ValueError as exc:
        raise DatacleanError(f"check near_duplicate: {exc} (parameters: {ctx.params.get('near_duplicate')})") from None
    for spec in ordered_checks():
        if spec.needs_labels and found.flat:
            skipped[spec.name] = "no class folders (flat dataset)"
        elif spec.name == "misplaced" and ctx.labels_file is None:
            skipped[spec.name] = "no --labels file given"
        if spec.name in skipped:
            findings[spec.name] = []
            continue
        try:
            findings[spec.name] = spec.run(ctx, ctx.params.get(spec.name))
        except ValueError as exc:  # a parameter out of range, e.g. --set near_duplicate.max_distance=-1
            raise DatacleanError(f"check {spec.name}: {exc} (parameters: {ctx.params.get(spec.name)})") from None
    return findings, skipped


def _issue_column(n: int, findings: dict[str, list[Finding]]) -> list[str]:
    per_row: list[list[str]] = [[] for _ in range(n)]
    for name, found in findings.items():
        for f in found:
            if f.row is not None and name not in per_row[f.row]:
                per_row[f.row].append(name)
    return [";".join(names) for names in per_row]


def _with_actions(table: pd.DataFrame) -> pd.DataFrame:
    from dataclean.fix.policy import propose_actions

    return propose_actions(table)


def _issues_table(manifest: pd.DataFrame, findings: dict[str, list[Finding]]) -> pd.DataFrame:
    paths = manifest["path"].to_numpy()
    rows = [
        (paths[f.row] if f.row is not None else "", name, REGISTRY[name].severity, round(f.score, 4), f.group, f.detail)
        for name, found in findings.items()
        for f in found
    ]
    return pd.DataFrame(rows, columns=ISSUE_COLUMNS)


def _summary(
    manifest: pd.DataFrame,
    found: ScanResult,
    findings: dict[str, list[Finding]],
    skipped: dict[str, str],
    ctx: AuditContext,
    workers: int,
    max_pixels: int,
    labels_path: Any,
    timing: dict[str, float],
) -> dict[str, Any]:
    decoded = ctx.decoded
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
    labelled = manifest[manifest["label"] != ""]
    counts = labelled["label"].value_counts().sort_index()
    with_issues = labelled[labelled["issues"] != ""]["label"].value_counts()
    classes = {
        str(lbl): {
            "files": int(c),
            "share": round(float(c) / max(len(labelled), 1), 4),
            "files_with_issues": int(with_issues.get(lbl, 0)),
        }
        for lbl, c in counts.items()
    }
    ok = manifest[decoded]
    return {
        "tool": "dataclean",
        "version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "root": str(found.root),
        "flat": found.flat,
        "files": len(manifest),
        "decoded": int(decoded.sum()),
        "errors": {k: int(v) for k, v in manifest["error"][manifest["error"] != ""].value_counts().items()},
        "groups": int(manifest["group"].replace("", np.nan).nunique()),
        "checks": checks,
        "classes": classes,
        "imbalance_ratio": _imbalance(manifest[decoded]),
        "stats": {
            "bytes_total": int(manifest["bytes"].sum()),
            "formats": {k: int(v) for k, v in ok["format"].value_counts().items()},
            "width_median": _median(ok["width"]),
            "height_median": _median(ok["height"]),
            "brightness_median": _median(ok["brightness"]),
            "contrast_median": _median(ok["contrast"]),
        },
        "unreadable_dirs": found.unreadable_dirs,
        "parameters": {"workers": workers, "max_pixels": max_pixels, "labels": str(labels_path) if labels_path else None},
        "timing": timing,
    }


def _imbalance(decoded: pd.DataFrame) -> float | None:
    """Largest / smallest class, counting decoded images (what a trainer could use)."""
    counts = decoded.loc[decoded["label"] != "", "label"].value_counts()
    return round(float(counts.max() / counts.min()), 3) if len(counts) > 1 else None


def _median(s: pd.Series) -> float | None:
    s = pd.to_numeric(s, errors="coerce").dropna()
    return round(float(s.median()), 4) if len(s) else None
