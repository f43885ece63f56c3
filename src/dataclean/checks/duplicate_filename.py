from __future__ import annotations

from dataclean.checks.base import AuditContext, Finding, check
from dataclean.checks.files import file_name, is_system_file


@check("duplicate_filename", "info", "the same file name (case-insensitive) in several class folders", needs_labels=True)
def duplicate_filename(ctx: AuditContext) -> list[Finding]:
    folders: dict[str, dict[int, str]] = {}
    for row, (path, label) in enumerate(zip(ctx.table["path"], ctx.table["label"])):
        name = file_name(path)
        if label and not is_system_file(name):
            folders.setdefault(name.lower(), {})[row] = label
    out = []
    for rows in folders.values():
        labels = set(rows.values())
        if len(labels) > 1:
            for row, label in rows.items():
                others = sorted(labels - {label})
                out.append(Finding(row, float(len(labels)), f"same name also in {', '.join(o + '/' for o in others)}"))
    return out
