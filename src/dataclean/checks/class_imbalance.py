from __future__ import annotations

from dataclean.checks.base import AuditContext, Finding, check


@check("class_imbalance", "warning", "dataset-level: largest / smallest class (decoded images) above max_ratio",
       needs_labels=True, fix_action=None)
def class_imbalance(ctx: AuditContext, max_ratio: float = 3.0) -> list[Finding]:
    t = ctx.table[ctx.decoded & (ctx.table["label"] != "").to_numpy()]
    counts = t["label"].value_counts()
    if len(counts) < 2:
        return []
    big, small = counts.idxmax(), counts.idxmin()
    ratio = counts.max() / counts.min()
    if ratio <= max_ratio:
        return []
    return [Finding(None, float(ratio), f"largest {big} ({counts.max()}) / smallest {small} ({counts.min()}) = {ratio:.1f}")]
