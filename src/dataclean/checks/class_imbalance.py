from __future__ import annotations

from collections import Counter

from dataclean.checks.base import AuditContext, Finding, check


@check("class_imbalance", "warning", "dataset-level: largest / smallest class (decoded images) above max_ratio",
       needs_labels=True, fix_action=None)
def class_imbalance(ctx: AuditContext, max_ratio: float = 3.0) -> list[Finding]:
    counts = Counter(lbl for lbl, ok in zip(ctx.table["label"], ctx.decoded) if ok and lbl)
    if len(counts) < 2:
        return []
    (big, most), (small, least) = max(counts.items(), key=_size), min(counts.items(), key=_size)
    ratio = most / least
    if ratio <= max_ratio:
        return []
    return [Finding(None, float(ratio), f"largest {big} ({most}) / smallest {small} ({least}) = {ratio:.1f}")]


def _size(item: tuple[str, int]) -> int:
    return item[1]
