from __future__ import annotations

import numpy as np

from dataclean.checks.base import AuditContext, Finding, check


@check("label_conflict", "error", "the same or a near-same image under two or more classes", needs_labels=True, fix_action="drop")
def label_conflict(ctx: AuditContext) -> list[Finding]:
    group = ctx.clusters.group
    labels = ctx.table["label"].to_numpy()
    members: dict[str, list[int]] = {}
    for r in np.flatnonzero(group != ""):
        members.setdefault(group[r], []).append(int(r))
    out = []
    for gid, rows in members.items():
        names = sorted({labels[r] for r in rows if labels[r]})
        if len(names) > 1:
            for r in (r for r in rows if labels[r]):
                others = [n for n in names if n != labels[r]]
                out.append(Finding(r, float(len(names)), f"same image also under {', '.join(others)}", gid))
    return out
