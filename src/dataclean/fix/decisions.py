"""Review decisions (``decisions.csv`` from the HTML report) applied on top of the fix policy.

A decisions file has a header and one row per reviewed file: ``path,action[,label]`` with action
``keep``, ``drop`` or ``relabel`` (which needs the new ``label``). A decision always wins over the
policy; a relabelled file is kept under its new label, and the split is computed after relabelling.
Files the reviewer dropped leave the table before the policy runs, so a duplicate group whose
chosen copy was dropped keeps another one, and a label conflict the review resolved is no conflict.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from dataclean.errors import DatacleanError, first_line
from dataclean.io import numbered_rows

if TYPE_CHECKING:
    import pandas as pd

REVIEW_ACTIONS = ("keep", "drop", "relabel")
#: ``reason`` (and deciding check) of a row whose action came from a review.
REVIEWED = "reviewed"


@dataclass(frozen=True)
class Decision:
    action: str  # keep / drop / relabel
    label: str = ""  # the new label, for relabel
    line: int = 0  # where it was read (for error messages); 0 when given in code


DecisionsLike = Union[str, "os.PathLike[str]", Mapping[str, "Decision | str | tuple[str, str]"]]


def read_decisions(path: str | os.PathLike[str]) -> dict[str, Decision]:
    """Read ``path,action[,label]`` rows; a malformed file or row is a one-line error naming it."""
    p = Path(path)
    if not p.is_file():
        raise DatacleanError(f"decisions file not found: {p}")
    try:
        with open(p, newline="", encoding="utf-8-sig", errors="surrogateescape") as fh:
            rows = numbered_rows(fh)
    except csv.Error as exc:
        raise DatacleanError(f"decisions file {p} is not a readable CSV: {first_line(exc)}") from None
    header = [c.strip().lower() for c in rows[0][1]] if rows else []
    if "path" not in header or "action" not in header:
        raise DatacleanError(f"decisions file {p} needs a header path,action[,label]; found {','.join(header) or 'nothing'}")
    at_path, at_action = header.index("path"), header.index("action")
    at_label = header.index("label") if "label" in header else None
    out: dict[str, Decision] = {}
    for line, row in rows[1:]:
        if not row or not any(c.strip() for c in row):
            continue
        cells = row + [""] * (len(header) - len(row))
        label = cells[at_label].strip() if at_label is not None else ""
        out[cells[at_path]] = _decision(cells[at_action], label, f"decisions file {p} line {line}", cells[at_path], line)
    return out


def _decision(action: str, label: str, where: str, path: str, line: int = 0) -> Decision:
    act = action.strip().lower()
    if act not in REVIEW_ACTIONS:
        raise DatacleanError(f"{where}: unknown action {action!r} for {path} (expected keep, drop or relabel)")
    if act == "relabel" and not label:
        raise DatacleanError(f"{where}: relabel of {path} needs a label (path,relabel,LABEL)")
    return Decision(act, label if act == "relabel" else "", line)


def as_decisions(decisions: DecisionsLike) -> dict[str, Decision]:
    """A decisions file, or a mapping ``path -> "drop" | ("relabel", "cats") | Decision``."""
    if isinstance(decisions, Mapping):
        out = {}
        for path, d in decisions.items():
            if isinstance(d, Decision):
                out[path] = _decision(d.action, d.label, "decisions", path, d.line)
            elif isinstance(d, str):
                out[path] = _decision(d, "", "decisions", path)
            else:
                action, label = d
                out[path] = _decision(action, label, "decisions", path)
        return out
    return read_decisions(decisions)


def apply_decisions(df: pd.DataFrame, decisions: Mapping[str, Decision], where: str | os.PathLike[str],
                    source: str = "decisions") -> tuple[pd.DataFrame, dict[int, Decision]]:
    """Check every decision against the manifest ``df`` and apply the relabels.

    Returns a copy of ``df`` with new labels, and the decisions by row position. An unknown path,
    or keeping a broken file, is a DatacleanError.
    """
    from dataclean.htmlreport.escape import printable

    out = df.copy()
    paths = out["path"].tolist()
    position = {p: i for i, p in enumerate(paths)}
    shown = {printable(p): i for i, p in enumerate(paths)}  # the report shows undecodable bytes as U+FFFD
    errors = out["error"].tolist() if "error" in out.columns else [""] * len(out)
    forced: dict[int, Decision] = {}
    for path, d in decisions.items():
        i = position.get(path, shown.get(path))
        at = f" line {d.line}" if d.line else ""
        if i is None:
            raise DatacleanError(f"{source}{at}: path {printable(path)} is not in manifest {where}")
        if d.action != "drop" and errors[i]:
            raise DatacleanError(f"{source}{at}: {printable(path)} is broken ({errors[i]}) and cannot be kept; drop it")
        forced[i] = d
    labels = out["label"].tolist()
    for i, d in forced.items():
        if d.action == "relabel":
            labels[i] = d.label
    out["label"] = labels
    return out, forced


def decide_reviewed(df: pd.DataFrame, forced: Mapping[int, Decision], policy: object) -> pd.DataFrame:
    """The policy's ``action``/``reason``/``check`` for every row, overridden by the review.

    Reviewer-dropped rows are left out of the policy's view; a ``label_conflict`` flag whose group
    no longer spans labels (after relabels and drops) is dropped from that view too.
    """
    import pandas as pd

    from dataclean.fix.policy import Policy, decide, split_issues

    assert isinstance(policy, Policy)
    dropped = [i for i, d in forced.items() if d.action == "drop"]
    keep_rows = [i for i in range(len(df)) if i not in set(dropped)]
    view = df.iloc[keep_rows].copy()
    if "group" in view.columns and "issues" in view.columns:
        labels_in = view.groupby("group")["label"].nunique().to_dict()
        view["issues"] = [
            ";".join(c for c in split_issues(iss) if not (c == "label_conflict" and g and labels_in.get(g, 0) <= 1))
            for iss, g in zip(view["issues"].tolist(), view["group"].tolist())]
    decided = pd.DataFrame({"action": "drop", "reason": REVIEWED, "check": REVIEWED}, index=df.index)
    if keep_rows:
        decided.iloc[keep_rows] = decide(view, policy)[["action", "reason", "check"]].to_numpy()
    for i, d in forced.items():
        decided.iloc[i] = ["drop" if d.action == "drop" else "keep", REVIEWED, REVIEWED]
    _reviewed_keepers(df, forced, decided, policy)
    return decided


def _reviewed_keepers(df: pd.DataFrame, forced: Mapping[int, Decision], decided: pd.DataFrame, policy: Any) -> None:
    """In a duplicate group where the reviewer kept a file, that file is the group's kept copy: the
    copy the policy would have kept, and the copies it dropped, become duplicates of the reviewed one."""
    if "group" not in df.columns:
        return
    groups, paths = df["group"].tolist(), df["path"].tolist()
    md5s = df["md5"].tolist() if "md5" in df.columns else [""] * len(df)
    kept: dict[str, int] = {}
    for i, d in sorted(forced.items()):
        if d.action != "drop" and groups[i]:
            kept.setdefault(groups[i], i)
    for i, gid in enumerate(groups):
        rep = kept.get(gid) if gid else None
        if rep is None or i in forced:
            continue
        action, reason, check = decided.iloc[i].tolist()
        if not ((action == "keep" and reason.startswith("kept from group")) or check in ("exact_duplicate", "near_duplicate")):
            continue
        kind = "exact_duplicate" if md5s[i] and md5s[i] == md5s[rep] else "near_duplicate"
        what = "exact duplicate" if kind == "exact_duplicate" else "near duplicate"
        decided.iloc[i] = [policy.action(kind), f"{what} of {paths[rep]} (kept: {REVIEWED})", kind]
