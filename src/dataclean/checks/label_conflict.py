from __future__ import annotations

from dataclean.checks.base import AuditContext, Finding, check
from dataclean.duplicates import members


@check("label_conflict", "error", "the same or a near-same image under two or more classes", needs_labels=True, fix_action="drop")
def label_conflict(ctx: AuditContext) -> list[Finding]:
    labels = ctx.table["label"]
    out = []
    for gid, rows in members(ctx.clusters.group).items():
        names = sorted({labels[r] for r in rows if labels[r]})
        if len(names) > 1:
            for r in (r for r in rows if labels[r]):
                others = [n for n in names if n != labels[r]]
                out.append(Finding(r, float(len(names)), f"same image also under {', '.join(others)}", gid))
    return out
