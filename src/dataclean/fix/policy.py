"""The fix policy: which check drops a file, which holds it for review, which only marks it.

``propose_actions`` is pure and shared: ``audit`` calls it to write its proposal, ``fix`` calls it
again with the effective policy, so both always agree on what the same policy means.
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from dataclean.checks import ordered_checks
from dataclean.duplicates import label_conflicts
from dataclean.errors import DatacleanError
from dataclean.layout import SPLIT_ORDER

if TYPE_CHECKING:
    import pandas as pd

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 needs the tomli backport
    import tomli as tomllib

#: The three actions, least to most severe: when several checks apply, the most severe wins.
ACTIONS: tuple[str, ...] = ("keep", "review", "drop")
_SEVERITY = {a: i for i, a in enumerate(ACTIONS)}

#: Row-level checks the policy knows (every registered check that flags files), in report order.
CHECKS: tuple[str, ...] = tuple(s.name for s in ordered_checks() if s.fix_action is not None)

#: Default policy, declared by each check where it is registered (``@check(..., fix_action=...)``):
#: broken files dropped, one kept per duplicate group, conflicting labels dropped, misplaced files
#: held for review, quality outliers kept and marked.
DEFAULT_ACTIONS: Mapping[str, str] = MappingProxyType(
    {s.name: s.fix_action for s in ordered_checks() if s.fix_action is not None}
)

#: Checks that may never be "keep": the trainer cannot read broken or missing files, and an image kept
#: under two labels teaches the model a contradiction.
_NEVER_KEEP = ("corrupt", "label_conflict", "missing")

#: Error code audits before the tf_unreadable check gave decodable images TensorFlow cannot read.
LEGACY_TF_ERROR = "tf_unsupported"

DEFAULT_SPLIT: tuple[float, float, float] = (80.0, 10.0, 10.0)
DEFAULT_SEED = 42
#: Classes with fewer kept images than this go wholly to train (too few to evaluate on).
DEFAULT_MIN_CLASS_SIZE = 10

KEEP_ONE_RULE = "largest resolution (width x height), then largest file (bytes), then path order"


@dataclass(frozen=True)
class Policy:
    """What ``fix`` does: an action per check, and how the kept rows are split."""

    actions: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ACTIONS))
    split: tuple[float, float, float] = DEFAULT_SPLIT
    seed: int = DEFAULT_SEED
    min_class_size: int = DEFAULT_MIN_CLASS_SIZE
    resplit: bool = False  # ignore the dataset's given split (given_split) and split 80/10/10 anew

    def __post_init__(self) -> None:
        actions = {**DEFAULT_ACTIONS, **dict(self.actions)}
        for check, action in actions.items():
            _check_name(check)
            if action not in ACTIONS:
                raise DatacleanError(
                    f"policy: action for {check} must be one of {', '.join(ACTIONS)}; received: {action!r}")
            if check in _NEVER_KEEP and action == "keep":
                raise DatacleanError(f"policy: {check} files cannot be kept; use drop or review")
        object.__setattr__(self, "actions", MappingProxyType(actions))
        object.__setattr__(self, "split", parse_split(self.split))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise DatacleanError(f"policy: seed must be a non-negative integer; received: {self.seed!r}")
        if isinstance(self.min_class_size, bool) or not isinstance(self.min_class_size, int) \
                or self.min_class_size < 1:
            raise DatacleanError(
                f"policy: min_class_size must be a positive integer; received: {self.min_class_size!r}")
        if not isinstance(self.resplit, bool):
            raise DatacleanError(f"policy: resplit must be true or false; received: {self.resplit!r}")

    def action(self, check: str) -> str:
        """The action for ``check``; checks this version does not know are kept and marked."""
        return self.actions.get(check, "keep")

    def with_actions(self, checks: Iterable[str], action: str) -> Policy:
        """A copy with every check in ``checks`` set to ``action``."""
        return replace(self, actions={**self.actions, **{_check_name(c): action for c in checks}})


def _check_name(check: str) -> str:
    if check not in CHECKS:
        raise DatacleanError(f"policy: unknown check {check!r}; known checks: {', '.join(CHECKS)}")
    return check


def parse_checks(text: str) -> list[str]:
    """``"corrupt, exact_duplicate"`` -> ``["corrupt", "exact_duplicate"]``, checking each name."""
    return [_check_name(c.strip()) for c in text.split(",") if c.strip()]


def parse_split(value: str | Iterable[Any]) -> tuple[float, float, float]:
    """``"80/10/10"`` or ``[80, 10, 10]`` -> train/val/test percentages; they must sum to 100 (or to 1.0:
    ``0.8/0.1/0.1``), so that a typo (``70/10/10``) is not silently rescaled."""
    parts = value.split("/") if isinstance(value, str) else list(value)
    try:
        nums = tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        nums = ()
    if len(nums) != 3 or any(not math.isfinite(x) or x < 0 for x in nums) or nums[0] <= 0:
        raise DatacleanError(
            f"split must be three non-negative numbers train/val/test with train > 0, "
            f"e.g. 80/10/10; received: {value!r}")
    total = sum(nums)
    if not (math.isclose(total, 100.0, abs_tol=1e-6) or math.isclose(total, 1.0, abs_tol=1e-9)):
        raise DatacleanError(
            f"split must sum to 100 (or 1.0), e.g. 80/10/10; received: {value!r}, which sums to {total:g}")
    return nums[0], nums[1], nums[2]


def load_policy(path: str | Path, base: Policy | None = None) -> Policy:
    """Read a policy TOML file (``[actions]`` and ``[split]`` tables) over ``base`` (the default).

    Example::

        [actions]
        near_duplicate = "review"
        dark = "review"

        [split]
        ratios = "70/15/15"
        seed = 7
        min_class_size = 10
        resplit = false     # true: ignore the dataset's given train/val/test split
    """
    p = Path(path)
    base = base or Policy()
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatacleanError(f"policy file not found: {p}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DatacleanError(f"policy file {p} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"actions", "split"})
    if unknown:
        raise DatacleanError(f"policy file {p}: unknown table(s) {', '.join(unknown)}; expected actions, split")
    actions = data.get("actions", {})
    split = data.get("split", {})
    bad = sorted(set(split) - {"ratios", "seed", "min_class_size", "resplit"})
    if not isinstance(actions, dict) or not isinstance(split, dict) or bad:
        raise DatacleanError(
            f"policy file {p}: [actions] maps check = action, [split] has ratios, seed, min_class_size, resplit")
    try:
        return replace(base, actions={**base.actions, **actions},
                       split=split.get("ratios", base.split), seed=split.get("seed", base.seed),
                       min_class_size=split.get("min_class_size", base.min_class_size),
                       resplit=split.get("resplit", base.resplit))
    except DatacleanError as exc:
        raise DatacleanError(f"policy file {p}: {str(exc).removeprefix('policy: ')}") from None


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def policy_to_toml(policy: Policy) -> str:
    """The policy as TOML that ``load_policy`` reads back to an equal policy."""
    lines = ["# dataclean fix: effective policy (reuse with --policy FILE)", "", "[actions]"]
    lines += [f'{c} = "{policy.action(c)}"' for c in CHECKS]
    ratios = "/".join(_num(x) for x in policy.split)
    lines += ["", "[split]", f'ratios = "{ratios}"', f"seed = {policy.seed}",
              f"min_class_size = {policy.min_class_size}", f"resplit = {str(policy.resplit).lower()}", ""]
    return "\n".join(lines)


# --- deciding actions ------------------------------------------------------------------------

def split_issues(text: Any) -> list[str]:
    """``"dark;near_duplicate"`` -> ``["dark", "near_duplicate"]`` (empty / NaN -> ``[]``)."""
    if not isinstance(text, str):
        return []
    return [s.strip() for s in text.split(";") if s.strip()]


def _number(value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return 0.0
    return x if math.isfinite(x) else 0.0


def _text(df: Any, column: str) -> list[str]:
    if column not in df:
        return [""] * len(df)
    return ["" if not isinstance(v, str) else v for v in _values(df[column])]


def _values(column: Any) -> list[Any]:
    return column.tolist() if hasattr(column, "tolist") else list(column)


@dataclass
class _Row:
    """Working state for one row while deciding: candidate (severity, check, reason) triples."""

    notes: list[tuple[int, str, str]] = field(default_factory=list)

    def add(self, action: str, check: str, reason: str) -> None:
        self.notes.append((_SEVERITY[action], check, reason))

    @property
    def severity(self) -> int:
        return max((s for s, _, _ in self.notes), default=0)


def decide(df: pd.DataFrame, policy: Policy | None = None) -> pd.DataFrame:
    """For every row of a manifest: ``action``, ``reason`` and ``check`` (the deciding check).

    Returns a new frame with those three columns, indexed like ``df``. See ``propose_actions``.
    """
    import pandas as pd

    return pd.DataFrame(decide_columns(df, policy), index=df.index)


def decide_columns(df: Any, policy: Policy | None = None) -> dict[str, list[str]]:
    """:func:`decide` on any table with manifest columns (a DataFrame or a dataclean.table.Table):
    lists ``action``, ``reason`` and ``check``, one value per row."""
    policy = policy or Policy()
    paths = _text(df, "path")
    labels = _text(df, "label")
    errors = _text(df, "error")
    details = _text(df, "error_detail")
    groups = [g.strip() for g in _text(df, "group")]
    md5s = _text(df, "md5")
    issues = _text(df, "issues")
    expected = _text(df, "expected_label")
    given = _text(df, "given_split")

    members: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        if g:
            members[g].append(i)
    conflicts = label_conflicts(labels, groups)  # exactly what the label_conflict check flags
    # resolution and size rank the members of a group against each other: only their rows are read
    grouped = [i for idx in members.values() for i in idx]
    zeros = [0] * len(df)
    width, height = _values(df.get("width", zeros)), _values(df.get("height", zeros))
    px = {i: _number(width[i]) * _number(height[i]) for i in grouped}
    nbytes = _values(df.get("bytes", zeros))
    size = {i: _number(nbytes[i]) for i in grouped}

    # Only the rows something is noted for get a _Row (a clean file, most rows, costs nothing).
    rows: defaultdict[int, _Row] = defaultdict(_Row)
    noted = [i for i, (e, f, g) in enumerate(zip(errors, issues, groups)) if e or f or g]  # a clean file: nothing to decide
    for i in noted:
        row = rows[i]
        found = set(split_issues(issues[i]))
        if errors[i] == LEGACY_TF_ERROR:  # an older audit's verdict on a decodable image: not corrupt
            errors[i] = ""
            found = (found - {"corrupt"}) | {"tf_unreadable"}
        if errors[i] == "missing":  # listed by an index, not on disk: nothing to train on, nothing to move
            row.add(policy.action("missing"), "missing", f"missing: {details[i] or 'listed, not on disk'}")
        elif errors[i] and "corrupt" not in found and "naming" in found:
            # not meant to be an image (LICENSE, notes.pkl, .DS_Store): the audit names it under naming;
            # never trainable, so it follows corrupt's action (drop or review, never keep)
            row.add(policy.action("corrupt"), "naming", f"not an image file: {errors[i]}")
            found.discard("naming")
        elif errors[i] or "corrupt" in found:  # never trainable
            what = "not an image file" if errors[i] == "not_an_image" and "corrupt" not in found else "corrupt"
            row.add(policy.action("corrupt"), "corrupt", f"{what}: {errors[i] or 'unreadable'}")
        others = conflicts.get(i, [])
        if others or "label_conflict" in found:
            also = f": also under {', '.join(others)}" if others else ""
            row.add(policy.action("label_conflict"), "label_conflict", f"label_conflict{also}")
        if "misplaced" in found:
            row.add(policy.action("misplaced"), "misplaced",
                    f"misplaced: expected {expected[i]}" if expected[i] else "misplaced")
        marks = [c for c in found if c not in ("corrupt", "label_conflict", "misplaced",
                                               "exact_duplicate", "near_duplicate", "split_leak", "missing")]
        for check in sorted(marks, key=lambda c: (CHECKS.index(c) if c in CHECKS else len(CHECKS), c)):
            action = policy.action(check)
            row.add(action, check, f"flagged: {check}" if action == "keep" else check)

    def rank(i: int) -> tuple[float, float, str]:
        return (-px[i], -size[i], paths[i])

    if not policy.resplit:  # a cluster across the given split: its train side keeps it, eval-side copies go
        for idx in members.values():
            sides = {given[i] for i in idx if given[i] in SPLIT_ORDER}
            if len(sides) < 2:
                continue
            home = min(sides, key=SPLIT_ORDER.index)
            ref = min((i for i in idx if given[i] == home), key=rank)
            for i in idx:
                if given[i] in sides and given[i] != home:
                    rows[i].add(policy.action("split_leak"), "split_leak",
                                f"split_leak: {given[i]} copy of {paths[ref]} (given {home}); "
                                f"the {home} side keeps the image, so {given[i]} stays clean")

    def why(keeper: int, other: int) -> str:
        if px[keeper] != px[other]:
            return "largest resolution"
        return "largest file" if size[keeper] != size[other] else "path order"

    for gid, idx in members.items():
        eligible = [i for i in idx if i not in rows or rows[i].severity == 0]
        if len(idx) < 2 or not eligible:
            continue
        by_md5: dict[str, list[int]] = defaultdict(list)
        for i in eligible:
            by_md5[md5s[i] or f"#{i}"].append(i)
        reps = {key: min(same, key=rank) for key, same in by_md5.items()}
        keeper = min(reps.values(), key=rank)
        exact, near = policy.action("exact_duplicate"), policy.action("near_duplicate")
        for key, same in by_md5.items():
            rep = reps[key]
            for i in same:
                if i == keeper:
                    continue
                # Name the file actually kept where possible: a copy of a dropped near duplicate
                # is reported against the keeper unless the exact-duplicate action is stricter.
                if rep == keeper or (i != rep and _SEVERITY[exact] > _SEVERITY[near]):
                    rows[i].add(exact, "exact_duplicate", f"exact duplicate of {paths[rep]} (kept: {why(rep, i)})")
                else:
                    rows[i].add(near, "near_duplicate",
                                f"near duplicate of {paths[keeper]} (kept: {why(keeper, i)})")
        rows[keeper].add("keep", "", f"kept from group {gid} ({len(idx)} files)")

    out_action, out_reason, out_check = ["keep"] * len(paths), [""] * len(paths), [""] * len(paths)
    for i, row in rows.items():
        if not row.notes:
            continue
        sev = row.severity
        top = [(c, r) for s, c, r in row.notes if s == sev]
        top.sort(key=lambda cr: CHECKS.index(cr[0]) if cr[0] in CHECKS else -1 if not cr[0] else len(CHECKS))
        out_action[i] = ACTIONS[sev]
        out_reason[i] = "; ".join(r for _, r in top)
        out_check[i] = next((c for c, _ in top if c), "")
    return {"action": out_action, "reason": out_reason, "check": out_check}


def propose_actions(df: pd.DataFrame, policy: Policy | None = None) -> pd.DataFrame:
    """Return a copy of the manifest ``df`` with ``action`` and ``reason`` filled for every row.

    Reads ``error``, ``issues``, ``group``, ``label``, ``md5``, ``width``, ``height``, ``bytes`` and
    ``path`` (and ``expected_label`` when present); ignores any existing ``action``. Rules:

    * a broken file (non-empty ``error`` or the ``corrupt`` check) gets the ``corrupt`` action;
    * every member of a group whose labels differ gets the ``label_conflict`` action (drop or review);
    * in each duplicate group, among members no other check drops or holds, one is kept by
      KEEP_ONE_RULE; same-MD5 copies get the ``exact_duplicate`` action, the others ``near_duplicate``;
    * other checks apply their action; the most severe action wins (drop > review > keep).
    """
    decided = decide(df, policy)
    out = df.copy()
    out["action"] = decided["action"]
    out["reason"] = decided["reason"]
    return out
