"""``dataclean fix`` through click's CliRunner: outputs, determinism, dry run, quarantine, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from dataclean.cli import main
from dataclean.fix.policy import Policy, policy_to_toml
from dataclean.manifest import MANIFEST_COLUMNS
from fix_helpers import make_manifest, md5_of, row

DROPPED = ["cats/broken.png", "cats/copy.png", "cats/dup_b.png", "cats/odd.tif", "cats/x.png", "dogs/x.png"]


@pytest.fixture(scope="module")
def cli() -> click.Group:
    return main  # as users reach it: `fix` is loaded lazily by the group


def run(cli: click.Group, *args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["fix", *map(str, args)])


def specs() -> list[dict]:
    s = [row(f"cats/c{i:02d}.png", shade=10 + i) for i in range(12)]
    s += [row(f"dogs/d{i:02d}.png", shade=100 + i) for i in range(12)]
    s += [row(f"owls/o{i}.png", shade=150 + i) for i in range(3)]
    s[0].update(issues="exact_duplicate", group="g2")
    s += [
        row("cats/copy.png", shade=10, issues="exact_duplicate", group="g2"),
        row("cats/dup_a.png", shade=200, size=(16, 16), issues="near_duplicate", group="g1"),
        row("cats/dup_b.png", shade=200, size=(8, 8), issues="near_duplicate", group="g1"),
        row("cats/broken.png", raw=b"garbage", issues="corrupt", error="decode_error"),
        row("cats/odd.tif", shade=60, issues="corrupt", error="bad_frame"),
        row("cats/x.png", shade=250, issues="exact_duplicate;label_conflict", group="g3"),
        row("dogs/x.png", shade=250, issues="exact_duplicate;label_conflict", group="g3"),
        row("dogs/dark.png", shade=1, issues="dark"),
        row("dogs/m.png", shade=120, issues="misplaced", expected_label="cats"),
    ]
    return s


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    return make_manifest(tmp_path / "data", specs())


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_default_run(cli: click.Group, manifest: Path) -> None:
    result = run(cli, "--manifest", manifest)
    assert result.exit_code == 0, result.output
    audit = manifest.parent
    clean = read(audit / "clean.csv")
    assert list(clean.columns) == [*MANIFEST_COLUMNS, "split"]
    assert set(clean["action"]) == {"keep"}
    counts = clean.groupby(["label", "split"]).size().to_dict()
    assert counts == {("cats", "test"): 1, ("cats", "train"): 11, ("cats", "val"): 1,
                      ("dogs", "test"): 1, ("dogs", "train"): 11, ("dogs", "val"): 1, ("owls", "train"): 3}
    decisions = read(audit / "clean.decisions.csv").set_index("path")
    assert sorted(decisions.index[decisions["action"] == "drop"]) == DROPPED
    assert decisions.loc["dogs/m.png", ["action", "reason"]].tolist() == ["review", "misplaced: expected cats"]
    assert decisions.loc["cats/odd.tif", "reason"] == "corrupt: bad_frame"
    assert decisions.loc["cats/dup_b.png", "reason"] == "near duplicate of cats/dup_a.png (kept: largest resolution)"
    assert decisions.loc["cats/copy.png", "reason"] == "exact duplicate of cats/c00.png (kept: path order)"
    assert decisions.loc["dogs/x.png", "reason"] == "label_conflict: also under cats"
    assert (audit / "clean.policy.toml").read_text() == policy_to_toml(Policy())
    assert result.output.splitlines()[0] == "36 files: 29 kept, 6 dropped, 1 held for review"
    assert "owls *" in result.output and "fewer than 10 kept images" in result.output
    assert result.output.splitlines()[-1] == f"wrote {audit / 'clean.csv'}"


def test_two_runs_are_byte_identical(cli: click.Group, manifest: Path, tmp_path: Path) -> None:
    outs = [tmp_path / "one" / "clean.csv", tmp_path / "two" / "clean.csv"]
    for out in outs:
        assert run(cli, "--manifest", manifest, "--out", out, "-q").exit_code == 0
    for name in ("clean.csv", "clean.decisions.csv", "clean.policy.toml"):
        assert (outs[0].parent / name).read_bytes() == (outs[1].parent / name).read_bytes()


def test_dry_run_writes_nothing(cli: click.Group, manifest: Path, tmp_path: Path) -> None:
    before = sorted(p for p in tmp_path.rglob("*"))
    result = run(cli, "--manifest", manifest, "--dry-run", "--quarantine", tmp_path / "q")
    assert result.exit_code == 0, result.output
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert result.output.splitlines()[-1] == (
        f"dry run: would write {manifest.parent / 'clean.csv'} and move 6 file(s) to {tmp_path / 'q'}; "
        f"nothing written")


def test_json_and_quiet(cli: click.Group, manifest: Path) -> None:
    result = run(cli, "--manifest", manifest, "--format", "json", "--dry-run")
    summary = json.loads(result.output)
    assert summary["actions"] == {"drop": 6, "keep": 29, "review": 1}
    assert summary["split"] == {"test": 2, "train": 25, "val": 2}
    owls = next(c for c in summary["by_class"] if c["label"] == "owls")
    assert owls == {"label": "owls", "total": 3, "keep": 3, "review": 0, "drop": 0,
                    "train": 3, "val": 0, "test": 0, "train_only": True}
    quiet = run(cli, "--manifest", manifest, "-q")
    assert (quiet.exit_code, quiet.output) == (0, "")


@pytest.mark.parametrize(("args", "path", "expected"), [
    (["--review", "near_duplicate"], "cats/dup_b.png", "review"),
    (["--keep", "near_duplicate"], "cats/dup_b.png", "keep"),
    (["--review", "label_conflict"], "cats/x.png", "review"),
    (["--drop", "dark"], "dogs/dark.png", "drop"),
    (["--keep", "misplaced"], "dogs/m.png", "keep"),
], ids=["near-review", "near-keep", "conflict-review", "drop-dark", "keep-misplaced"])
def test_policy_flags(cli: click.Group, manifest: Path, args: list[str], path: str, expected: str) -> None:
    assert run(cli, "--manifest", manifest, "-q", *args).exit_code == 0
    decisions = read(manifest.parent / "clean.decisions.csv").set_index("path")
    assert decisions.loc[path, "action"] == expected
    assert f'{args[1]} = "{args[0][2:]}"' in (manifest.parent / "clean.policy.toml").read_text()


def test_policy_file_and_split(cli: click.Group, manifest: Path, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[actions]\ndark = "review"\n[split]\nratios = "50/50/0"\nmin_class_size = 2\n')
    assert run(cli, "--manifest", manifest, "--policy", policy, "--seed", "7", "-q").exit_code == 0
    clean = read(manifest.parent / "clean.csv")
    assert "dogs/dark.png" not in set(clean["path"])
    assert clean.groupby("split").size().to_dict() == {"train": 15, "val": 13}
    assert "seed = 7\n" in (manifest.parent / "clean.policy.toml").read_text()


def test_unlabelled_dataset_gets_a_split(cli: click.Group, tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path / "data", [row(f"img{i:02d}.png", shade=i) for i in range(20)])
    assert run(cli, "--manifest", manifest, "-q").exit_code == 0
    clean = read(manifest.parent / "clean.csv")
    assert set(clean["label"]) == {""}
    assert clean.groupby("split").size().to_dict() == {"test": 2, "train": 16, "val": 2}


def test_quarantine_and_undo_round_trip(cli: click.Group, manifest: Path, tmp_path: Path) -> None:
    root, qdir = tmp_path / "data", tmp_path / "q"
    originals = {p.relative_to(root).as_posix(): md5_of(p) for p in root.rglob("*") if p.is_file()}
    first = run(cli, "--manifest", manifest, "--quarantine", qdir)
    assert first.exit_code == 0, first.output
    assert first.output.splitlines()[-1] == (
        f"moved 6 file(s) to {qdir} (undo: dataclean fix --undo {qdir / 'journal.jsonl'})")
    assert sorted(p.relative_to(qdir).as_posix() for p in qdir.rglob("*.*")
                  if p.name not in ("journal.jsonl", ".dataclean-folder.json")) \
        == DROPPED
    assert all(md5_of(qdir / rel) == originals[rel] for rel in DROPPED)
    assert not any((root / rel).exists() for rel in DROPPED)
    clean = (manifest.parent / "clean.csv").read_bytes()

    again = run(cli, "--manifest", manifest, "--quarantine", qdir, "--format", "json")
    assert again.exit_code == 0, again.output  # moved files are recognised, not "missing"
    assert json.loads(again.output)["quarantine"]["already"] == 6
    assert (manifest.parent / "clean.csv").read_bytes() == clean

    undone = run(cli, "--undo", qdir / "journal.jsonl")
    assert (undone.exit_code, undone.output) == (0, "restored 6 file(s); 0 already in place\n")
    assert {p.relative_to(root).as_posix(): md5_of(p) for p in root.rglob("*") if p.is_file()} == originals


def test_files_are_untouched_without_quarantine(cli: click.Group, manifest: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    before = {p: (p.stat().st_mtime_ns, md5_of(p)) for p in root.rglob("*") if p.is_file()}
    assert run(cli, "--manifest", manifest, "-q").exit_code == 0
    assert {p: (p.stat().st_mtime_ns, md5_of(p)) for p in root.rglob("*") if p.is_file()} == before


def edit_manifest(manifest: Path, change: str) -> str:
    """Break the manifest or its files in one way; return the expected error message."""
    df = read(manifest)
    root = Path(df["root"][0])
    if change == "not-found":
        manifest.unlink()
        return f"manifest not found: {manifest}"
    if change == "missing-columns":
        df.drop(columns=["md5", "group"]).to_csv(manifest, index=False)
        return (f"manifest {manifest} lacks column(s) md5, group; is it a dataclean manifest? "
                f"(found: path, root, label, expected_label, bytes, mtime, format, mode)")
    if change == "no-rows":
        df.head(0).to_csv(manifest, index=False)
        return f"manifest {manifest} has no rows"
    if change == "missing-file":
        (root / "dogs/d03.png").unlink()
        (root / "dogs/d04.png").unlink()
        return f"manifest {manifest} lists missing file {root / 'dogs/d03.png'} and 1 more; re-run dataclean audit"
    if change == "size-changed":
        with open(root / "cats/c05.png", "ab") as fh:
            fh.write(b"x")
        size = int(df.set_index("path").loc["cats/c05.png", "bytes"])
        return (f"manifest {manifest} is stale: {root / 'cats/c05.png'} is {size + 1} bytes, manifest says "
                f"{size}; re-run dataclean audit")
    if change == "content-changed":
        file = root / "cats/c05.png"
        data = bytearray(file.read_bytes())
        data[-1] ^= 0xFF
        file.write_bytes(bytes(data))
        os.utime(file, (1e9, 1e9))
        return f"manifest {manifest} is stale: {file} changed since the audit (MD5 differs); re-run dataclean audit"
    if change == "not-numeric":
        df.loc[3, "width"] = "wide"
        df.to_csv(manifest, index=False)
        return f"manifest {manifest}: column width has non-numeric value 'wide' (row 5, path cats/c03.png)"
    if change == "duplicate-path":
        pd.concat([df, df.iloc[[2]]]).to_csv(manifest, index=False)
        return f"manifest {manifest}: path cats/c02.png is listed more than once"
    if change == "escaping-path":
        df.loc[1, "path"] = "../../etc/passwd"
        df.to_csv(manifest, index=False)
        return f"manifest {manifest}: path ../../etc/passwd must be relative to root, without '..'"
    if change == "not-csv":
        manifest.write_bytes(b"\xff\xfe\x00garbage")
        return f"manifest {manifest} lacks column(s) path, root, label"
    raise AssertionError(change)


CHANGES = ["not-found", "missing-columns", "no-rows", "missing-file", "size-changed", "content-changed",
           "not-numeric", "duplicate-path", "escaping-path", "not-csv"]


@pytest.mark.parametrize("change", CHANGES, ids=CHANGES)
def test_bad_manifest(cli: click.Group, manifest: Path, change: str) -> None:
    expected = edit_manifest(manifest, change)
    result = run(cli, "--manifest", manifest)
    assert result.exit_code == 2
    if change == "not-csv":
        assert result.stderr.startswith(f"Error: {expected}") and result.stderr.count("\n") == 1
    else:
        assert result.stderr == f"Error: {expected}\n"
    assert not (manifest.parent / "clean.csv").exists()


def test_touched_but_identical_file_is_fine(cli: click.Group, manifest: Path, tmp_path: Path) -> None:
    os.utime(tmp_path / "data" / "cats/c05.png", (1e9, 1e9))
    assert run(cli, "--manifest", manifest, "-q").exit_code == 0


@pytest.mark.parametrize(("args", "message"), [
    (["--split", "80/20"], "split must be three non-negative numbers train/val/test with train > 0, "
     "e.g. 80/10/10; received: '80/20'"),
    (["--drop", "corupt"], "policy: unknown check 'corupt'; known checks: corrupt, label_conflict, "
     "misplaced, missing, split_leak, exact_duplicate, naming, near_duplicate, resolution, unlisted, bright, dark, "
     "duplicate_filename, low_contrast, tf_unreadable"),
    (["--keep", "corrupt"], "policy: corrupt files cannot be kept; use drop or review"),
    (["--min-class-size", "0"], "policy: min_class_size must be a positive integer; received: 0"),
    (["--undo", "j.jsonl"], "--undo takes a journal only; run it without --manifest"),
], ids=["split", "unknown-check", "keep-corrupt", "min-class", "undo-and-manifest"])
def test_bad_options(cli: click.Group, manifest: Path, args: list[str], message: str) -> None:
    result = run(cli, "--manifest", manifest, *args)
    assert (result.exit_code, result.stderr) == (2, f"Error: {message}\n")


def test_no_manifest(cli: click.Group) -> None:
    result = run(cli)
    assert (result.exit_code, result.stderr) == (2, "Error: give --manifest audit/manifest.csv (or --undo JOURNAL)\n")


def test_help_teaches_the_rules(cli: click.Group) -> None:
    result = run(cli, "--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for phrase in ["largest resolution (width x height), then largest file (bytes), then path order",
                   "drop > review > keep", "stratified by label", "lands whole in one split",
                   "fewer than 10 kept images", "dataclean fix --undo quarantine/journal.jsonl",
                   "--dry-run", "--quarantine quarantine/"]:
        assert phrase in text
