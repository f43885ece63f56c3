from __future__ import annotations

from dataclean.checks.base import AuditContext, Finding, check
from dataclean.checks.files import is_image_name, is_system_file


@check("corrupt", "error", "files meant to be images whose pixels no decoder gives: empty, not an image, truncated, "
       "undecodable, a broken later frame, over the pixel or frame cap, or unreadable", fix_action="drop")
def corrupt(ctx: AuditContext) -> list[Finding]:
    """Every row with an error code, except system files and non-image files (naming reports those) and
    files an index lists that are not there (the missing check reports those)."""
    t = ctx.table
    out = []
    for row, (path, code, detail) in enumerate(zip(t["path"], t["error"], t["error_detail"])):
        if code and code != "missing" and not is_system_file(path) and (is_image_name(path) or code != "not_an_image"):
            out.append(Finding(row, 1.0, f"{code}: {detail}" if detail else code))
    return out
