"""Images on disk that no ``--index`` file lists: the index is the truth for labels, so they have none."""

from __future__ import annotations

from dataclean.checks.base import AuditContext, Finding, check
from dataclean.checks.files import is_image_name, is_system_file
from dataclean.checks.missing import _no_index


@check("unlisted", "warning", "images under DATA that no --index file lists (so they have no label)",
       fix_action="review", applies=_no_index)
def unlisted(ctx: AuditContext) -> list[Finding]:
    assert ctx.layout is not None and ctx.layout.listed is not None  # applies() skips the check otherwise
    listed = ctx.layout.listed
    n = len(ctx.layout.index_files)
    where = "the index file" if n == 1 else f"any of the {n} index files"
    return [Finding(row, 1.0, f"not listed in {where}")
            for row, (path, code) in enumerate(zip(ctx.table["path"], ctx.table["error"]))
            if path not in listed and code != "missing" and is_image_name(path) and not is_system_file(path)]
