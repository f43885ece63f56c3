from __future__ import annotations

from dataclean.checks.base import AuditContext, Finding, check
from dataclean.duplicates import label_conflicts


@check("label_conflict", "error", "the same or a near-same image under two or more classes", needs_labels=True, fix_action="drop")
def label_conflict(ctx: AuditContext) -> list[Finding]:
    group = ctx.clusters.group
    return [Finding(r, float(len(others) + 1), f"same image also under {', '.join(others)}", group[r])
            for r, others in sorted(label_conflicts(ctx.table["label"], group.tolist()).items())]
