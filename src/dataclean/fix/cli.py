"""``dataclean fix``: argument parsing and printing only; the work is in the fix package."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import click
from rich.console import Console

from dataclean.errors import DatacleanError
from dataclean.fix.engine import apply_quarantine, check_outputs, outputs_for, plan_fix, write_outputs
from dataclean.fix.policy import Policy, load_policy, parse_checks, parse_split
from dataclean.fix.quarantine import undo
from dataclean.fix.summary import render_summary, summarize
from dataclean.text import printable


def _policy(policy_file: Path | None, drop: str | None, review: str | None, keep: str | None,
            split: str | None, seed: int | None, min_class_size: int | None, resplit: bool = False) -> Policy:
    """Defaults, then the TOML file, then flags."""
    policy = load_policy(policy_file) if policy_file else Policy()
    for text, action in ((keep, "keep"), (review, "review"), (drop, "drop")):
        if text:
            policy = policy.with_actions(parse_checks(text), action)
    return replace(policy,
                   split=parse_split(split) if split else policy.split,
                   seed=policy.seed if seed is None else seed,
                   min_class_size=policy.min_class_size if min_class_size is None else min_class_size,
                   resplit=policy.resplit or resplit)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path),
              help="manifest.csv written by dataclean audit.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Clean CSV to write [default: clean.csv beside the manifest].")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path),
              help="Dataset folder to read the files from instead of the manifest's root (the folder moved "
                   "since the audit); clean.csv then points there.")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML policy file ([actions] check = \"drop\"|\"review\"|\"keep\", [split]).")
@click.option("--drop", metavar="CHECKS", help="Comma-separated checks whose files are dropped.")
@click.option("--review", metavar="CHECKS", help="Comma-separated checks whose files are held for review.")
@click.option("--keep", metavar="CHECKS", help="Comma-separated checks whose files are kept and marked.")
@click.option("--split", metavar="T/V/T",
              help="Train/val/test percentages summing to 100 (or fractions summing to 1.0) [default: 80/10/10].")
@click.option("--seed", type=int, help="Seed for the split [default: 42].")
@click.option("--min-class-size", type=int, help="Smaller classes go wholly to train [default: 10].")
@click.option("--decisions", "decisions", type=click.Path(dir_okay=False, path_type=Path),
              help="decisions.csv from the HTML report's review (path,action[,label]); decisions win over the policy.")
@click.option("--resplit", is_flag=True,
              help="Ignore the dataset's given train/val/test split (given_split) and split anew, group-aware.")
@click.option("--quarantine", type=click.Path(file_okay=False, path_type=Path),
              help="Also move dropped files into this folder (journaled; see --undo).")
@click.option("--undo", "undo_journal", type=click.Path(dir_okay=False, path_type=Path),
              help="Put back every file moved by a journal (quarantine/journal.jsonl).")
@click.option("--dry-run", is_flag=True, help="Show what would change; write and move nothing.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Summary format on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
def fix(manifest: Path | None, out: Path | None, root: Path | None, policy_file: Path | None, drop: str | None,
        review: str | None, keep: str | None, split: str | None, seed: int | None,
        min_class_size: int | None, resplit: bool, decisions: Path | None, quarantine: Path | None,
        undo_journal: Path | None,
        dry_run: bool, fmt: str, quiet: bool) -> None:
    """Apply a policy to an audit manifest; write clean.csv with a leak-proof split.

    Your files are never touched unless you pass --quarantine, which moves (never
    deletes) dropped files, journaling each move first so --undo can put
    everything back, even after a crash.

    \b
    Default policy (change with --drop/--review/--keep CHECKS or --policy FILE):
      corrupt (no decoder gives the pixels)            drop
      exact_duplicate, near_duplicate                  keep one per group, drop rest
      label_conflict (one image under several labels)  drop all copies (or review)
      split_leak (one image in two given splits)       drop the val/test copies
      misplaced                                        review (held out of clean.csv)
      dark, bright, low_contrast, resolution,
      duplicate_filename, naming, tf_unreadable        keep, marked in `reason`
    Files that are not images at all (naming: LICENSE, notes.pkl) follow
    corrupt's action: they can never be trained on.
    The most severe action wins: drop > review > keep. Review rows are held
    out of clean.csv and listed in clean.decisions.csv.

    \b
    Keep-one rule, per duplicate group (among members no other check drops):
      largest resolution (width x height), then largest file (bytes),
      then path order.

    \b
    Split rule: kept rows only, stratified by label (each class is split
    80/10/10 on its own), group-aware (a duplicate cluster lands whole in
    one split; clusters are placed first, largest first), deterministic for
    --seed. A class with fewer than 10 kept images (--min-class-size) goes
    wholly to train and is marked *: too few to evaluate on. Unlabelled rows
    are split as one class.

    \b
    A dataset that came split (manifest column given_split: split folders
    or index files) keeps its split: given test stays test, given train
    stays train; without a given val, val is carved out of the given train
    (stratified, group-aware, val/(train+val) of --split). An image copied
    across the given split (split_leak) stays on its train side and its
    copies on the evaluation side are dropped. --resplit ignores the given
    split and splits everything as above.

    \b
    Review: --decisions decisions.csv (downloaded from `dataclean report`'s
    page; rows path,action[,label], action keep, drop or relabel) wins over
    the policy. A relabelled file is kept under its new label and split as
    such. Reviewed rows have reason "reviewed" in clean.decisions.csv. An
    unknown path or action is an error (exit code 2).

    \b
    Writes clean.csv (kept rows + split), clean.policy.toml (the effective
    policy; reuse with --policy) and clean.decisions.csv (every row).

    \b
    Examples:
      dataclean fix --manifest audit/manifest.csv
      dataclean fix --manifest audit/manifest.csv --out clean.csv \\
          --drop corrupt,exact_duplicate,near_duplicate,label_conflict \\
          --split 80/10/10 --seed 42
      dataclean fix --manifest audit/manifest.csv --dry-run
      dataclean fix --manifest audit/manifest.csv --root /new/place/of/data
      dataclean fix --manifest audit/manifest.csv --decisions decisions.csv
      dataclean fix --manifest audit/manifest.csv --quarantine quarantine/
      dataclean fix --undo quarantine/journal.jsonl
    """
    if undo_journal is not None:
        if manifest is not None:
            raise DatacleanError("--undo takes a journal only; run it without --manifest")
        report = undo(undo_journal)
        if fmt == "json":
            click.echo(json.dumps({"restored": len(report.moved), "already_in_place": len(report.skipped)}))
        elif not quiet:
            click.echo(f"restored {len(report.moved)} file(s); {len(report.skipped)} already in place")
        return
    if manifest is None:
        raise DatacleanError("give --manifest audit/manifest.csv (or --undo JOURNAL)")

    policy = _policy(policy_file, drop, review, keep, split, seed, min_class_size, resplit)
    plan = plan_fix(manifest, policy, quarantine_dir=quarantine, root=root, decisions=decisions)
    target = out or manifest.parent / "clean.csv"
    check_outputs(manifest, target)
    summary = summarize(plan)
    summary["dry_run"] = dry_run
    summary["outputs"] = {k: str(v) for k, v in outputs_for(target).items()}
    if not dry_run:
        write_outputs(plan, target)
        if quarantine is not None:
            report = apply_quarantine(plan, quarantine)
            summary["quarantine"].update(moved=len(report.moved), already=len(report.skipped),
                                         journal=str(quarantine / "journal.jsonl"),
                                         left_in_place=[{"path": p, "reason": why} for p, why in report.refused])
    if fmt == "json":
        click.echo(json.dumps(summary, indent=2, sort_keys=True))
        return
    if quiet:
        return
    Console().print(render_summary(summary))
    if dry_run:
        click.echo(printable(f"dry run: would write {target}"
                             + (f" and move {len(plan.moves)} file(s) to {quarantine}" if quarantine else "")
                             + "; nothing written"))
    else:
        click.echo(printable(f"wrote {target}"))
        if quarantine is not None:
            q = summary["quarantine"]
            click.echo(printable(f"moved {q['moved']} file(s) to {quarantine} "
                                 f"(undo: dataclean fix --undo {q['journal']})"))
    if quarantine is not None and plan.refused:
        _warn_refused(plan.refused)


def _warn_refused(refused: list[tuple[str, str]], shown: int = 5) -> None:
    """Name the dropped files that were left in place, and why, on stderr."""
    click.echo(f"left {len(refused)} dropped file(s) in place (they cannot be moved safely):", err=True)
    for path, why in refused[:shown]:
        click.echo(printable(f"  {path}: {why}"), err=True)
    if len(refused) > shown:
        click.echo(f"  ... and {len(refused) - shown} more (see --format json)", err=True)
