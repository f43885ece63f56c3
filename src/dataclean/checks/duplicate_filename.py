from __future__ import annotations

from dataclean.checks.base import AuditContext, Finding, check
from dataclean.checks.files import SYSTEM_FILES


@check("duplicate_filename", "info", "the same file name (case-insensitive) in several class folders", needs_labels=True)
def duplicate_filename(ctx: AuditContext) -> list[Finding]:
    # One pass keeps each name's first label and notes the names seen under a second one; only
    # those names' rows are grouped (no container per name: the common case, all names distinct,
    # costs one dict entry per file).
    first: dict[str, str] = {}
    shared: set[str] = set()
    keys: list[str] = []
    for path, label in zip(ctx.table["path"], ctx.table["label"]):
        key = path.rpartition("/")[2].lower()
        keys.append(key)
        if label and not key.startswith(".") and key not in SYSTEM_FILES and first.setdefault(key, label) != label:
            shared.add(key)
    if not shared:
        return []
    rows: dict[str, dict[int, str]] = {}
    for row, (key, label) in enumerate(zip(keys, ctx.table["label"])):
        if key in shared and label:
            rows.setdefault(key, {})[row] = label
    out = []
    for members in rows.values():
        labels = set(members.values())
        for row, label in members.items():
            others = sorted(labels - {label})
            out.append(Finding(row, float(len(labels)), f"same name also in {', '.join(o + '/' for o in others)}"))
    return out
