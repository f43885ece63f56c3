"""The public Python API, for notebooks and scripts: the same code the command line runs.

    import dataclean
    result = dataclean.audit("data/", workers=2)      # manifest / issues DataFrames, summary dict
    result.report("report.html")                      # the self-contained HTML report
    result                                            # in Jupyter: displays as the report
    clean = dataclean.fix(result, decisions="decisions.csv")   # the clean table, split assigned

Nothing heavy is imported until a function is called, so ``import dataclean`` stays instant.
"""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dataclean.errors import DatacleanError

if TYPE_CHECKING:
    import pandas as pd

    from dataclean.audit import AuditResult
    from dataclean.fix.decisions import DecisionsLike
    from dataclean.fix.policy import Policy
    from dataclean.htmlreport import WrittenReport
    from dataclean.htmlreport.data import AuditData

DEFAULT_MAX_PER_CHECK = 200


class Audit:
    """An audit's outcome: ``manifest`` and ``issues`` (DataFrames), ``summary`` (dict), and the
    folder the outputs were written to (``out``; None when kept in memory only)."""

    def __init__(self, result: AuditResult, out: Path | None) -> None:
        self.result = result
        self.out = out

    @property
    def manifest(self) -> pd.DataFrame:
        return self.result.manifest

    @property
    def issues(self) -> pd.DataFrame:
        return self.result.issues

    @property
    def summary(self) -> dict[str, Any]:
        return self.result.summary

    def __repr__(self) -> str:
        s = self.summary
        fired = ", ".join(f"{n} {s['checks'][n]['files'] or len(self.result.findings[n])}" for n in self.result.fired)
        return f"<dataclean.Audit {s['root']}: {s['files']} files; {fired or 'no issues'}>"

    def data(self) -> AuditData:
        """The audit as the report reads it (the same values its CSV outputs hold)."""
        from dataclean.htmlreport.data import AuditData, Issue, to_float

        t, it = self.result.table, self.result.issue_table
        cols = t.columns
        rows = [dict(zip(cols, (_cell(v) for v in values))) for values in zip(*(t[c] for c in cols))]
        issues = [Issue(str(p), str(c), str(sev), to_float(score), _cell(g), _cell(d))
                  for p, c, sev, score, g, d in zip(*(it[c] for c in ("path", "check", "severity", "score", "group",
                                                                       "detail")))]
        return AuditData(self.out or Path("."), rows, issues, self.summary)

    def html(self, max_per_check: int = DEFAULT_MAX_PER_CHECK, workers: int | None = None) -> str:
        """The report page as a string."""
        from dataclean.htmlreport import render_audit_html

        return render_audit_html(self.data(), max_per_check, workers)[0]

    def report(self, path: str | os.PathLike[str] | None = None, max_per_check: int = DEFAULT_MAX_PER_CHECK,
               workers: int | None = None) -> Path:
        """Write the HTML report (default: ``out/report.html``, or ``report.html`` here) and return its path."""
        from dataclean.io import atomic_write

        target = Path(path) if path is not None else (self.out or Path(".")) / "report.html"
        with atomic_write(target, "wb") as fh:
            fh.write(self.html(max_per_check, workers).encode("utf-8"))
        return target

    def _repr_html_(self) -> str:
        """Jupyter/Colab: the report in a sandboxed frame (its script runs there, isolated from the notebook)."""
        doc = self.html(max_per_check=50)
        return (f'<iframe class="dataclean-report" sandbox="allow-scripts allow-downloads" '
                f'style="width:100%;height:720px;border:1px solid #ddd" srcdoc="{html.escape(doc, quote=True)}"></iframe>')


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return value if isinstance(value, str) else str(value)


def audit(
    data: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    labels: str | os.PathLike[str] | None = None,
    settings: Mapping[str, Any] | Iterable[str] = (),
    max_pixels: int | None = None,
    on_progress: Callable[[int], None] | None = None,
    max_file_mb: int | None = None,
    on_stage: Callable[[str, int, int], None] | None = None,
) -> Audit:
    """Audit the dataset at ``data`` (what ``dataclean audit`` does).

    ``settings`` overrides check parameters, as ``{"near_duplicate.max_distance": 6}`` or
    ``["near_duplicate.max_distance=6"]``. With ``out`` the three outputs are written there too.
    ``max_file_mb``: files bigger than this are hashed, not decoded (``--max-file-mb``, default 512).
    ``on_progress(n)``: n more files inspected; ``on_stage(stage, done, total)``: the work after the
    last file (``"near-duplicate search"`` steps, then ``"checks"``), e.g. for a notebook's progress bar.
    """
    from dataclean.audit import finish_audit, parse_params, read_labels_file, write_outputs
    from dataclean.launch import start_audit
    from dataclean.record import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS

    items = [f"{k}={v}" for k, v in settings.items()] if isinstance(settings, Mapping) else list(settings)
    params = parse_params(items)
    labels_file = read_labels_file(labels) if labels else None
    job = start_audit(data, workers=workers, labels_path=labels, max_pixels=max_pixels or DEFAULT_MAX_PIXELS,
                      out_dir=out, max_bytes=max_file_mb * 1_000_000 if max_file_mb else DEFAULT_MAX_BYTES)
    try:  # ``out`` stays locked against other audits until its outputs are written
        result = finish_audit(job, labels_file, labels, params, on_progress=on_progress, on_stage=on_stage)
        if out is not None:
            write_outputs(result, out)
    finally:
        job.release()
    return Audit(result, Path(out) if out is not None else None)


def fix(
    audit_or_manifest: Audit | str | os.PathLike[str],
    *,
    policy: Policy | str | os.PathLike[str] | None = None,
    decisions: DecisionsLike | None = None,
    out: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """The clean table (kept rows plus ``split``) for an audit or a manifest.csv (what ``dataclean fix`` does).

    ``policy``: a :class:`dataclean.fix.Policy` or a TOML file; ``decisions``: a decisions.csv from the
    report's review, or a mapping ``path -> "keep" | "drop" | ("relabel", LABEL)``. With ``out`` writes
    clean.csv, its policy and decisions files there (a file path, like ``fix --out``).
    """
    from dataclean.fix.engine import plan_fix, write_outputs
    from dataclean.fix.policy import Policy, load_policy

    effective = policy if isinstance(policy, Policy) else load_policy(Path(policy)) if policy is not None else Policy()
    if isinstance(audit_or_manifest, Audit):
        if audit_or_manifest.out is not None and (audit_or_manifest.out / "manifest.csv").is_file():
            manifest = audit_or_manifest.out / "manifest.csv"
            return _fix(manifest, effective, decisions, out, plan_fix, write_outputs)
        with tempfile.TemporaryDirectory(prefix="dataclean-") as tmp:
            manifest = Path(tmp) / "manifest.csv"
            audit_or_manifest.result.table.write_csv(manifest)
            return _fix(manifest, effective, decisions, out, plan_fix, write_outputs)
    return _fix(Path(audit_or_manifest), effective, decisions, out, plan_fix, write_outputs)


def _fix(manifest: Path, policy: Policy, decisions: Any, out: Any, plan_fix: Any, write_outputs: Any) -> pd.DataFrame:
    from dataclean.fix.engine import check_outputs

    plan = plan_fix(manifest, policy, decisions=decisions)
    if out is not None:
        check_outputs(manifest, out)
        write_outputs(plan, out)
    return plan.clean


def report(
    folder: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    max_per_check: int = DEFAULT_MAX_PER_CHECK,
    workers: int | None = None,
) -> WrittenReport:
    """Write ``report.html`` for an audit folder (manifest.csv ...) or a training run folder (metrics.json ...)."""
    base = Path(folder)
    if not base.is_dir():
        raise DatacleanError(f"folder not found: {base} (give an audit --out folder or a training run folder)")
    if not (base / "manifest.csv").is_file() and (base / "metrics.json").is_file():
        from train.report import write_run_report

        return write_run_report(base, out=out, max_images=max_per_check, workers=workers)
    from dataclean.htmlreport import write_audit_report

    return write_audit_report(base, out=out, max_per_check=max_per_check, workers=workers)


__all__ = ["Audit", "audit", "fix", "report"]
