"""What ``fix`` did, as a JSON-able dict and as rich renderables (printing is the CLI's job)."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from dataclean.fix.engine import FixPlan
from dataclean.fix.policy import ACTIONS, CHECKS
from dataclean.fix.split import SPLITS
from dataclean.text import printable


def summarize(plan: FixPlan) -> dict[str, Any]:
    """Counts per action, per deciding check and per class, with split sizes per class."""
    d = plan.decisions
    actions = d["action"]
    checks = plan.checks.where(plan.checks.ne(""), "(no issue)")
    by_check = []
    for check in [*CHECKS, *sorted(set(checks) - set(CHECKS) - {"(no issue)"}), "(no issue)"]:
        mask = checks.eq(check)
        if mask.any():
            by_check.append({"check": check, **{a: int((actions[mask] == a).sum()) for a in ACTIONS}})
    by_class = []
    small = plan.policy.min_class_size
    for label in sorted(set(d["label"])):
        rows = d[d["label"] == label]
        kept = rows[rows["action"] == "keep"]
        entry: dict[str, Any] = {"label": label, "total": len(rows)}
        entry.update({a: int((rows["action"] == a).sum()) for a in ACTIONS})
        entry.update({s: int((kept["split"] == s).sum()) for s in SPLITS})
        entry["train_only"] = 0 < len(kept) < small
        by_class.append(entry)
    return {
        "manifest": str(plan.manifest),
        "rows": len(d),
        "actions": {a: int((actions == a).sum()) for a in ACTIONS},
        "by_check": by_check,
        "by_class": by_class,
        "split": {s: int((d["split"] == s).sum()) for s in SPLITS},
        "split_mode": _split_mode(d, plan.policy.resplit),
        "policy": {"actions": dict(plan.policy.actions), "split": list(plan.policy.split),
                   "seed": plan.policy.seed, "min_class_size": small, "resplit": plan.policy.resplit},
        "quarantine": {"planned": len(plan.moves)},
    }


def _split_mode(d: Any, resplit: bool) -> str:
    """How the split was made: given (kept from the dataset), given with val carved, or stratified."""
    given = d["given_split"] if "given_split" in d.columns else None
    if given is None or not given.isin(SPLITS).any():
        return "stratified"
    if resplit:
        return "stratified (--resplit: given split ignored)"
    return "given" if given.eq("val").any() else "given (val carved from the given train)"


def _table(title: str, columns: list[str]) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for i, c in enumerate(columns):
        table.add_column(c, justify="left" if i == 0 else "right")
    return table


def render_summary(summary: dict[str, Any]) -> RenderableType:
    """Tables: actions by deciding check, then per class with split sizes; notes for small classes."""
    a = summary["actions"]
    head = Text.assemble(
        (f"{summary['rows']} files: ", "bold"), (f"{a['keep']} kept", "green"), ", ",
        (f"{a['drop']} dropped", "red"), ", ", (f"{a['review']} held for review", "yellow"))
    checks = _table("By reason", ["check", "keep", "review", "drop"])
    for row in summary["by_check"]:
        checks.add_row(row["check"], *(str(row[x]) for x in ("keep", "review", "drop")))
    classes = _table("By class", ["label", "files", "kept", "review", "drop", "train", "val", "test"])
    for row in summary["by_class"]:
        label = printable(row["label"]) or "(no label)"  # a folder name must not drive the terminal
        classes.add_row(Text(label + (" *" if row["train_only"] else "")),
                        *(str(row[x]) for x in ("total", "keep", "review", "drop", *SPLITS)))
    s = summary["split"]
    parts: list[RenderableType] = [head, Text(""), checks, Text(""), classes,
                                   Text(f"split: train {s['train']}, val {s['val']}, test {s['test']}"
                                        f" ({summary.get('split_mode', 'stratified')})")]
    if any(r["train_only"] for r in summary["by_class"]):
        parts.append(Text(f"* fewer than {summary['policy']['min_class_size']} kept images: "
                          f"all in train, not evaluated", style="yellow"))
    return Group(*parts)
