from __future__ import annotations

from dataclean.checks.base import AuditContext, Finding, check


@check("misplaced", "error", "the folder label differs from the label in the --labels file", needs_labels=True,
       fix_action="review")
def misplaced(ctx: AuditContext) -> list[Finding]:
    if ctx.labels_file is None:
        return []
    out = []
    for row, (path, label) in enumerate(zip(ctx.table["path"], ctx.table["label"])):
        expected = ctx.labels_file.get(path)
        if expected is not None and expected != label:
            out.append(Finding(row, 1.0, f"folder says {label or '(root)'}, labels file says {expected}"))
    return out
