"""Rich renderables for an audit. Nothing here prints: the CLI decides where output goes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from dataclean.audit import AuditResult
from dataclean.checks import ordered_checks
from dataclean.text import plural, printable

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def audit_report(result: AuditResult, examples: int = 3) -> Group:
    """The whole terminal report: header, per-check summary, per-class table, examples per check."""
    parts: list[RenderableType] = [header(result.summary), checks_table(result)]
    if not result.summary["flat"]:
        parts.append(classes_table(result.summary))
    if examples:
        parts.extend(example_panels(result, examples))
    return Group(*parts)


def header(summary: dict[str, Any]) -> Text:
    lay = summary.get("layout", {})
    text = Text()
    if lay.get("given_split"):  # first, so nobody misses that the dataset's own split is kept
        where = "pre-split layout" if lay["kind"] == "splits" else f"split by {_names(lay['index_files'])}"
        text.append(f"{where}: " + " · ".join(f"{s} {n:,}" for s, n in lay["given_split"].items()) + "\n",
                    style="bold")
    elif lay.get("kind") == "index":
        text.append(f"labels from {_names(lay['index_files'])}\n", style="bold")
    text.append("dataclean audit ", style="bold")
    text.append(printable(summary["root"]), style="bold blue")
    n_classes = len(summary["classes"])
    layout = "flat folder, no classes: label checks skipped" if summary["flat"] else plural(n_classes, "class", "classes")
    absent = lay.get("missing_files", 0)
    files = (f"{plural(summary['files'] - absent, 'file')} (+{absent} listed but missing)" if absent
             else plural(summary["files"], "file"))
    text.append(f"\n{files}, {summary['decoded']} decoded, {layout}, "
                f"{plural(summary['groups'], 'duplicate group')}, {summary['timing']['total_s']:.1f} s")
    leak = summary["checks"].get("split_leak", {})
    if leak.get("files"):
        text.append(f"\nsplit_leak: {leak['files']} files copied across the given splits; "
                    "fix drops the evaluation-side copies", style="bold red")
    for note in lay.get("notes", []):
        text.append(f"\nnote: {note}", style="dim")
    if lay.get("not_classes"):
        text.append(f"\nnot classes (no image inside): {', '.join(f + '/' for f in lay['not_classes'])}", style="dim")
    if lay.get("tree_like"):
        text.append("\nthese folders look like a file tree rather than class labels ("
                    + "; ".join(lay["tree_like"]) + "): if they are not classes, re-run with --layout flat",
                    style="yellow")
    for folder in summary["unreadable_dirs"]:
        text.append(f"\nunreadable folder skipped: {printable(folder)}", style="red")
    for folder, target in summary.get("symlinked_dirs", {}).items():
        text.append(f"\nsymlinked folder not followed: {printable(folder)} -> {printable(target)} "
                    f"(audit the folder it points to on its own)", style="yellow")
    return text


def _names(files: list[str]) -> str:
    """Index files by name (their folders are in summary.json): the first line stays one line."""
    return ", ".join(f.replace("\\", "/").rpartition("/")[2] for f in files)


def checks_table(result: AuditResult) -> Table:
    table = Table(title="Checks", title_justify="left", expand=True)
    table.add_column("check", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("files", justify="right", no_wrap=True)
    table.add_column("first example", overflow="ellipsis", no_wrap=True, ratio=1)
    for spec in ordered_checks():
        info = result.summary["checks"][spec.name]
        found = result.findings.get(spec.name, [])
        style = SEVERITY_STYLE[spec.severity] if found else "dim"
        if info["skipped"]:
            count, example = "-", Text(f"skipped: {info['skipped']}", style="dim")
        else:
            count = str(info["files"]) if any(f.row is not None for f in found) else str(len(found))
            example = Text(_describe(result, found[0]) if found else "")
        table.add_row(Text(spec.name, style=style), Text(spec.severity, style=style), count, example)
    return table


def classes_table(summary: dict[str, Any]) -> Table:
    ratio = summary["imbalance_ratio"]
    caption = f"largest / smallest class: {ratio:.1f}x (decoded)" if ratio else None
    table = Table(title="Classes", title_justify="left", caption=caption, caption_justify="left")
    lay = summary.get("layout", {})
    splits = list(lay.get("given_split", {}))
    table.add_column("class")
    table.add_column("files", justify="right")
    for s in splits:
        table.add_column(s, justify="right")
    table.add_column("share", justify="right")
    table.add_column("files with issues", justify="right")
    for name, c in summary["classes"].items():
        per = [str(c.get("splits", {}).get(s, 0)) for s in splits]
        table.add_row(Text(printable(name)), str(c["files"]), *per, f"{c['share']:.1%}", str(c["files_with_issues"]))
    blank = [""] * (len(splits) + 2)
    root_files, other = lay.get("root_files", 0), lay.get("unlabelled_files", 0) - lay.get("root_files", 0)
    if root_files:
        table.add_row(Text("(root)", style="dim"), str(root_files), *blank)
    if other:
        name = "(not listed)" if lay.get("kind") == "index" else "(no class)"
        table.add_row(Text(name, style="dim"), str(other), *blank)
    return table


def example_panels(result: AuditResult, examples: int) -> Iterator[Panel]:
    for spec in ordered_checks():
        found = result.findings.get(spec.name, [])
        if not found:
            continue
        lines = Text()
        for f in found[:examples]:
            if lines:
                lines.append("\n")
            lines.append(_describe(result, f))
        if len(found) > examples:
            lines.append(f"\n... and {len(found) - examples} more in issues.csv", style="dim")
        yield Panel(lines, title=f"{spec.name} ({spec.severity})", title_align="left",
                    border_style=SEVERITY_STYLE[spec.severity])


def _describe(result: AuditResult, finding: Any) -> str:
    if finding.row is None:
        return printable(finding.detail)
    return printable(f"{result.table['path'][finding.row]}: {finding.detail}")  # details name paths too


import sys as _sys  # noqa: E402

from dataclean import make_callable as _make_callable  # noqa: E402

_make_callable(_sys.modules[__name__])  # `dataclean.report(...)` is the public API: see dataclean/__init__.py
