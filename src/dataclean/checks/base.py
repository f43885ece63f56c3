"""The check registry: one decorated function per check, in its own module under dataclean.checks.

A check is a pure function ``fn(ctx, **params) -> list[Finding]`` over the table of per-file
records (an :class:`AuditContext`). Registering it with :func:`check` gives it its name, severity,
one-line description and documented parameter defaults; nothing else needs editing to add one.
"""

from __future__ import annotations

import inspect as _inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from dataclean.duplicates import Clusters
    from dataclean.layout import Layout
    from dataclean.table import Table

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """One problem: ``row`` indexes the table (None for a dataset-level finding)."""

    row: int | None
    score: float
    detail: str
    group: str = ""


CheckFn = Callable[..., list[Finding]]


@dataclass(frozen=True)
class CheckSpec:
    name: str
    severity: str
    description: str
    params: dict[str, Any]
    fn: CheckFn
    needs_labels: bool = False
    fix_action: str | None = "keep"  # what `dataclean fix` does by default to a flagged file; None: dataset-level
    applies: Callable[[AuditContext], str | None] | None = None  # returns why the check is skipped, or None

    def run(self, ctx: AuditContext, overrides: dict[str, Any] | None = None) -> list[Finding]:
        return self.fn(ctx, **{**self.params, **(overrides or {})})


REGISTRY: dict[str, CheckSpec] = {}


def check(
    name: str, severity: str, description: str, needs_labels: bool = False, fix_action: str | None = "keep",
    applies: Callable[[AuditContext], str | None] | None = None,
) -> Callable[[CheckFn], CheckFn]:
    """Register ``fn`` as check ``name``; its keyword defaults are the check's parameters.

    ``fix_action`` is the default policy of `dataclean fix` for a file this check flags (keep, review
    or drop); None marks a dataset-level check that never flags a file. ``applies(ctx)`` returns why
    the check does not apply to this dataset (it is then skipped and the report says why), or None.
    """
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
    if fix_action not in ("keep", "review", "drop", None):
        raise ValueError(f"fix_action must be keep, review, drop or None, got {fix_action!r}")

    def register(fn: CheckFn) -> CheckFn:
        if name in REGISTRY:
            raise ValueError(f"check {name!r} registered twice")
        sig = _inspect.signature(fn)
        params = {k: p.default for k, p in list(sig.parameters.items())[1:] if p.default is not p.empty}
        REGISTRY[name] = CheckSpec(name, severity, description, params, fn, needs_labels, fix_action, applies)
        return fn

    return register


def ordered_checks(names: Iterable[str] | None = None) -> list[CheckSpec]:
    """Registered checks, errors first, then warnings, then info; alphabetical within a severity."""
    specs = [REGISTRY[n] for n in names] if names is not None else list(REGISTRY.values())
    return sorted(specs, key=lambda s: (SEVERITIES.index(s.severity), s.name))


@dataclass
class AuditContext:
    """Everything a check may look at. ``table`` has one row per file (manifest columns so far):
    ``table["path"]`` is a list of values, ``ctx.numbers("width")`` a float array with NaN gaps."""

    table: Table
    thumbs: np.ndarray  # (n, 16, 16) uint8, zeros where the file did not decode
    labels_file: dict[str, str] | None = None  # path -> expected label, from --labels
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-check overrides
    layout: Layout | None = None  # how the file list was read (given splits, index files); None: class folders
    #: ``progress(stage, done, total)`` as the work after the last file goes on (e.g. a progress bar)
    progress: Callable[[str, int, int], None] | None = None

    @property
    def given_splits(self) -> list[str]:
        """Per row: train / val / test as the dataset came split, or "" (a table without the column: all "")."""
        column = self.table.get("given_split")
        return column if column is not None else [""] * len(self.table)

    _numbers: dict[str, np.ndarray] = field(default_factory=dict, init=False, repr=False)

    def numbers(self, name: str) -> np.ndarray:
        """``table.numbers(name)``, converted once and shared by every check that reads the column (read-only).

        The checks run while the table's record columns stay as they are; converting a column of
        Python floats costs a memory access per row, which several checks paid again for each column.
        """
        column = self._numbers.get(name)
        if column is None:
            column = self._numbers[name] = self.table.numbers(name)
            column.flags.writeable = False
        return column

    @cached_property
    def decoded(self) -> np.ndarray:
        """Boolean mask of rows whose pixels were decoded (they have hashes and metrics)."""
        return np.array([h != "" for h in self.table["phash"]], dtype=bool)

    @cached_property
    def clusters(self) -> Clusters:
        """Exact and near-duplicate clusters, computed once and shared by every check that needs them."""
        from dataclean.duplicates import find_clusters

        spec = REGISTRY["near_duplicate"]
        return find_clusters(self, **{**spec.params, **self.params.get("near_duplicate", {})})
