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
from dataclean.text import printable

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
    text = Text()
    text.append("dataclean audit ", style="bold")
    text.append(printable(summary["root"]), style="bold blue")
    n_classes = len(summary["classes"])
    layout = "flat folder, no classes: label checks skipped" if summary["flat"] else f"{n_classes} classes"
    text.append(f"\n{summary['files']} files, {summary['decoded']} decoded, {layout}, "
                f"{summary['groups']} duplicate groups, {summary['timing']['total_s']:.1f} s")
    for folder in summary["unreadable_dirs"]:
        text.append(f"\nunreadable folder skipped: {printable(folder)}", style="red")
    for folder, target in summary.get("symlinked_dirs", {}).items():
        text.append(f"\nsymlinked folder not followed: {printable(folder)} -> {printable(target)} "
                    f"(audit the folder it points to on its own)", style="yellow")
    return text


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
    table.add_column("class")
    table.add_column("files", justify="right")
    table.add_column("share", justify="right")
    table.add_column("files with issues", justify="right")
    for name, c in summary["classes"].items():
        table.add_row(Text(printable(name)), str(c["files"]), f"{c['share']:.1%}", str(c["files_with_issues"]))
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
