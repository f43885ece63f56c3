"""``fix`` as library calls: manifest + policy -> decisions, clean table, split, planned moves."""

from __future__ import annotations

import csv
import errno
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from dataclean.errors import DatacleanError
from dataclean.fix.decisions import DecisionsLike, apply_decisions, as_decisions, decide_reviewed
from dataclean.fix.policy import Policy, decide, policy_to_toml
from dataclean.fix.quarantine import JOURNAL_NAME, Move, MoveReport, plan_moves, prepare_move, quarantine_files
from dataclean.fix.split import assign_splits
from dataclean.fix.validate import check_files, load_manifest
from dataclean.io import atomic_write, write_csv
from dataclean.safety import check_folder_for_outputs, confined, file_kind, free_space

_INT_COLUMNS = ("bytes", "width", "height")


@dataclass
class FixPlan:
    """Everything ``fix`` decided, before anything is written or moved."""

    manifest: Path
    policy: Policy
    decisions: pd.DataFrame  # every manifest row; action, reason, split ("" unless kept)
    checks: pd.Series  # the check that decided each row's action ("" for plain keeps)
    moves: list[Move] = field(default_factory=list)  # verified against the manifest (MD5 included)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (file, why): dropped but left in place

    @property
    def clean(self) -> pd.DataFrame:
        """The kept rows: every manifest column plus ``split``."""
        return self.decisions[self.decisions["action"] == "keep"].reset_index(drop=True)


def outputs_for(out: str | os.PathLike[str]) -> dict[str, Path]:
    """Paths written beside ``clean.csv``: the effective policy and all rows' decisions."""
    p = Path(out)
    return {"clean": p, "policy": p.with_name(f"{p.stem}.policy.toml"),
            "decisions": p.with_name(f"{p.stem}.decisions.csv")}


def _tidy_ints(df: pd.DataFrame) -> pd.DataFrame:
    """Write integer columns as integers even where empty cells made pandas read floats."""
    for column in _INT_COLUMNS:
        if column in df.columns and pd.api.types.is_float_dtype(df[column]):
            values = df[column]
            if ((values.dropna() % 1) == 0).all():
                df[column] = values.astype("Int64")
    return df


def check_outputs(manifest: str | os.PathLike[str], out: str | os.PathLike[str]) -> None:
    """Refuse outputs that would overwrite the input manifest (``fix --manifest audit/clean.csv``)."""
    source = Path(manifest).resolve()
    for path in outputs_for(out).values():
        if path.resolve() == source:
            raise DatacleanError(f"output {path} is the input manifest {manifest}: fix never overwrites its input; "
                                 f"choose another --out")


def _refuse_clean_manifest(where: Path) -> None:
    """A clean.csv (or clean.decisions.csv) given as the audit's manifest: say so before anything else."""
    try:
        with open(where, newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader([fh.readline()]), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return  # load_manifest names what is wrong with the file
    if "split" in header:
        raise DatacleanError(
            f"manifest {where} was written by dataclean fix (it has a split column), not by dataclean audit; "
            f"run fix on the audit's manifest (e.g. {where.with_name('manifest.csv')}), or train on {where}")


def _use_root(df: pd.DataFrame, where: Path, root: str | os.PathLike[str] | None) -> None:
    """Point every row at ``root`` (the dataset moved), or check that the manifest's root still exists."""
    if root is not None:
        new = Path(root)
        if not new.is_dir():
            raise DatacleanError(f"--root {new}: no such folder")
        df["root"] = str(new.resolve())
        return
    for old in dict.fromkeys(df["root"]):
        if "://" not in old and not Path(old).is_dir():
            raise DatacleanError(
                f"manifest {where}: its dataset root {old} no longer exists (moved or renamed?); "
                f"pass --root NEW_FOLDER to read the files from where they are now")


def plan_fix(manifest: str | os.PathLike[str], policy: Policy | None = None,
             quarantine_dir: str | os.PathLike[str] | None = None,
             root: str | os.PathLike[str] | None = None,
             decisions: DecisionsLike | None = None) -> FixPlan:
    """Read and verify the manifest, decide every row, split the kept rows, plan the moves.

    ``root`` replaces the manifest's dataset root (the folder moved since the audit); the clean
    manifest then points there. ``decisions`` (a decisions.csv from the report's review, or a
    mapping path -> action) win over the policy; relabels change ``label`` before the split (see
    dataclean.fix.decisions).
    """
    policy = policy or Policy()
    where = Path(manifest)
    _refuse_clean_manifest(where)
    df = load_manifest(where)
    _use_root(df, where, root)
    if decisions is not None:
        reviewed = as_decisions(decisions)
        source = f"decisions file {decisions}" if not isinstance(decisions, Mapping) else "decisions"
        df, forced = apply_decisions(df, reviewed, where, source)
        decided = decide_reviewed(df, forced, policy)
    else:
        decided = decide(df, policy)

    moves: list[Move] = []
    refused: list[tuple[str, str]] = []
    absent = df["error"].eq("missing").to_numpy()  # listed by an index, never on disk: nothing to check or move
    dropped = decided["action"].eq("drop").to_numpy() & ~absent
    if quarantine_dir is not None:
        check_folder_for_outputs(quarantine_dir, df["root"].iloc[0], "--quarantine folder")
        rows = [i for i in range(len(df)) if dropped[i]]
        planned = plan_moves(((df["root"].iloc[i], df["path"].iloc[i]) for i in rows), quarantine_dir)
        gone = {i for i, m in zip(rows, planned) if not os.path.lexists(m.src) and os.path.lexists(m.dst)}
        check_files(df, where, tolerate_missing=lambda i: i in gone or bool(absent[i]))
        for i, move in zip(rows, planned):  # every file checked before any moves: nothing half-done
            if i in gone:
                moves.append(move)
                continue
            verified, why = verify_move(move, df["md5"].iloc[i], where, df["root"].iloc[i], df["path"].iloc[i])
            if verified is None:
                refused.append((move.src, why))
            else:
                moves.append(verified)
    else:
        check_files(df, where, tolerate_missing=lambda i: bool(absent[i]))

    out = _tidy_ints(df.copy())
    out["action"] = decided["action"]
    out["reason"] = decided["reason"]
    out["split"] = ""
    kept = decided["action"].eq("keep")
    if kept.any():
        out.loc[kept, "split"] = assign_splits(
            out[kept], policy.split, seed=policy.seed, min_class_size=policy.min_class_size, resplit=policy.resplit)
    return FixPlan(where, policy, out, decided["check"], moves, refused)


def write_outputs(plan: FixPlan, out: str | os.PathLike[str]) -> dict[str, Path]:
    """Write clean.csv, its policy and decisions, each atomically; return the paths."""
    paths = outputs_for(out)
    current = paths["clean"]
    try:
        write_csv(plan.clean, current)
        current = paths["decisions"]
        write_csv(plan.decisions, current)
        current = paths["policy"]
        with atomic_write(current) as fh:
            fh.write(policy_to_toml(plan.policy))
    except OSError as exc:  # a full disk: name the file and the space left
        raise DatacleanError(f"cannot write {current}: {exc.strerror or exc} ({free_space(str(current.parent))})") from None
    return paths


def apply_quarantine(plan: FixPlan, quarantine_dir: str | os.PathLike[str]) -> MoveReport:
    """Move the planned files, journaling each in ``quarantine_dir/journal.jsonl``; files that cannot
    be moved (see :func:`verify_move`) are in the report's ``refused``."""
    root = str(plan.decisions["root"].iloc[0])
    report = quarantine_files(plan.moves, Path(quarantine_dir) / JOURNAL_NAME, root=root)
    report.refused.extend(plan.refused)
    return report


def verify_move(move: Move, md5: str, where: Path, root: str, rel: str) -> tuple[Move | None, str]:
    """The move with the file's MD5 when the file may be moved, else ``(None, why)``.

    Only a regular file (or a symlink to one, moved as a link) whose MD5 is the manifest's is moved;
    FIFOs, devices, dangling symlinks, loops and unreadable files are left in place with a reason.
    A file whose bytes changed since the audit makes the whole run fail (the manifest is stale).
    A file reached through a symlinked folder is not inside the dataset: left in place.
    """
    src, why = confined(root, rel)
    if src is None:
        return None, why
    try:
        st = os.lstat(move.src)
        link = stat.S_ISLNK(st.st_mode)
        target = os.stat(move.src) if link else st
    except OSError as exc:
        kind = "dangling symlink" if exc.errno == errno.ENOENT else "symlink that cannot be followed"
        return None, f"{kind} ({exc.strerror})"
    if not stat.S_ISREG(target.st_mode):
        what = file_kind(target.st_mode)
        return None, f"{'symlink to a ' if link else ''}{what}, not a regular file"
    if not md5:
        return None, "no MD5 in the manifest (the audit could not read it)"
    try:
        prepared = prepare_move(move)
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror})"
    if prepared.md5 != md5:
        raise DatacleanError(f"manifest {where} is stale: {move.src} changed since the audit (MD5 differs); "
                             f"re-run dataclean audit (nothing was moved)")
    return prepared, ""
