from __future__ import annotations

import numpy as np

from dataclean.checks.base import AuditContext, Finding, check


@check("exact_duplicate", "warning", "files with identical bytes (same MD5); every member of a group is flagged", fix_action="drop")
def exact_duplicate(ctx: AuditContext) -> list[Finding]:
    key = ctx.clusters.exact_key
    paths = ctx.table["path"].to_numpy()
    members: dict[str, list[int]] = {}
    for r in np.flatnonzero(key != ""):
        members.setdefault(key[r], []).append(int(r))
    out = []
    for rows in members.values():
        for r in rows:
            others = [paths[o] for o in rows if o != r]
            more = f" (+{len(others) - 1} more)" if len(others) > 1 else ""
            out.append(Finding(r, float(len(rows)), f"identical to {others[0]}{more}", ctx.clusters.group[r]))
    return out
