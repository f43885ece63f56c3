"""An audit's outputs (manifest.csv, issues.csv, summary.json) read back for the HTML report.

The report is rendered from the audit folder alone, so ``dataclean report`` works on any audit,
including one made by another version: every column beyond ``path`` is optional and read
defensively (``given_split`` is used when present, checks the registry does not know still get
a section). The standard library's csv module reads the files: the report does not need pandas.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataclean.errors import DatacleanError, first_line

#: Checks whose findings are duplicate clusters: shown as groups of members side by side.
GROUP_CHECKS = ("exact_duplicate", "near_duplicate", "label_conflict", "split_leak")
#: Checks about the label: their cards offer a relabel choice among the dataset's classes.
LABEL_CHECKS = ("label_conflict", "misplaced")


@dataclass(frozen=True)
class Issue:
    path: str
    check: str
    severity: str
    score: float | None
    group: str
    detail: str


@dataclass
class AuditData:
    """The three outputs of one audit, as plain Python values."""

    folder: Path
    rows: list[dict[str, str]]  # manifest rows, column -> cell text
    issues: list[Issue]
    summary: dict[str, Any]
    by_path: dict[str, int] = field(default_factory=dict)  # path -> index into rows

    def __post_init__(self) -> None:
        self.by_path = {r["path"]: i for i, r in enumerate(self.rows)}

    def column(self, name: str) -> list[str]:
        """A manifest column as text, empty strings where the column is missing."""
        return [r.get(name, "") or "" for r in self.rows]

    def numbers(self, name: str) -> list[float]:
        """A manifest column as finite floats (rows with a missing or non-numeric cell are skipped)."""
        return [x for x in (to_float(v) for v in self.column(name)) if x is not None]

    @property
    def classes(self) -> list[str]:
        return sorted({lbl for lbl in self.column("label") if lbl})

    @property
    def has_splits(self) -> bool:
        return any(self.column("given_split"))

    def row(self, path: str) -> dict[str, str]:
        i = self.by_path.get(path)
        return self.rows[i] if i is not None else {"path": path}

    def check_names(self) -> list[str]:
        """Every check the audit ran or found, in the report's order: the registry's (errors first), then others."""
        from dataclean.checks import REGISTRY, ordered_checks

        seen = [*self.summary.get("checks", {}), *(i.check for i in self.issues)]
        known = [s.name for s in ordered_checks([n for n in dict.fromkeys(seen) if n in REGISTRY])]
        return known + sorted({n for n in seen if n not in REGISTRY})

    def check_info(self, name: str) -> dict[str, Any]:
        from dataclean.checks import REGISTRY

        info = dict(self.summary.get("checks", {}).get(name, {}))
        spec = REGISTRY.get(name)
        info.setdefault("severity", spec.severity if spec else self._severity(name))
        info.setdefault("params", dict(spec.params) if spec else {})
        info["description"] = spec.description if spec else ""
        return info

    def _severity(self, name: str) -> str:
        return next((i.severity for i in self.issues if i.check == name and i.severity), "info")

    def param(self, check: str, name: str, default: float) -> float:
        value = to_float(self.check_info(check).get("params", {}).get(name))
        return default if value is None else value


def to_float(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8", errors="surrogateescape") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or "path" not in reader.fieldnames:
                raise DatacleanError(f"{path} has no path column; is it a dataclean audit output?")
            return [{k: v or "" for k, v in row.items() if k is not None} for row in reader]
    except csv.Error as exc:
        raise DatacleanError(f"{path} is not a readable CSV: {first_line(exc)}") from None


def load_audit(folder: str | os.PathLike[str]) -> AuditData:
    """Read ``manifest.csv``, ``issues.csv`` and ``summary.json`` from an audit's --out folder."""
    base = Path(folder)
    if not base.is_dir():
        raise DatacleanError(f"audit folder not found: {base}")
    manifest = base / "manifest.csv"
    if not manifest.is_file():
        raise DatacleanError(f"{base} holds no manifest.csv: give the folder `dataclean audit --out` wrote")
    rows = _read_csv(manifest)
    issues_path = base / "issues.csv"
    issues = [Issue(r["path"], r.get("check", ""), r.get("severity", ""), to_float(r.get("score")),
                    r.get("group", ""), r.get("detail", ""))
              for r in (_read_csv(issues_path) if issues_path.is_file() else [])]
    summary: dict[str, Any] = {}
    summary_path = base / "summary.json"
    if summary_path.is_file():
        try:
            loaded = json.loads(summary_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise DatacleanError(f"{summary_path} is not valid JSON: {first_line(exc)}") from None
        summary = loaded if isinstance(loaded, dict) else {}
    if not summary.get("root") and rows:
        summary["root"] = rows[0].get("root", "")
    return AuditData(base, rows, issues, summary)
