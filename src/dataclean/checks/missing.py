"""Files an index lists that are not on disk (``--index``): each is a manifest row with error ``missing``."""

from __future__ import annotations

from dataclean.checks.base import AuditContext, Finding, check


def _no_index(ctx: AuditContext) -> str | None:
    return None if ctx.layout is not None and ctx.layout.listed is not None else "no --index given"


@check("missing", "error", "files an --index file lists that do not exist under DATA", fix_action="drop",
       applies=_no_index)
def missing(ctx: AuditContext) -> list[Finding]:
    return [Finding(row, 1.0, detail) for row, (code, detail) in enumerate(zip(ctx.table["error"], ctx.table["error_detail"]))
            if code == "missing"]
