from __future__ import annotations

from dataclean.checks.base import AuditContext, Finding, check
from dataclean.duplicates import members


@check("exact_duplicate", "warning", "files with identical bytes (same MD5); every member of a group is flagged",
       fix_action="drop")
def exact_duplicate(ctx: AuditContext) -> list[Finding]:
    paths = ctx.table["path"]
    out = []
    for rows in members(ctx.clusters.exact_key).values():
        for r in rows:
            others = [paths[o] for o in rows if o != r]
            more = f" (+{len(others) - 1} more)" if len(others) > 1 else ""
            out.append(Finding(r, float(len(rows)), f"identical to {others[0]}{more}", ctx.clusters.group[r]))
    return out
