"""The outputs agree with each other, and `fix` refuses what would go wrong.

issues column == issues.csv (one row per file and check) == what `reason` names; non-image files
are counted under naming by fix as by the audit; a clean manifest is not an audit manifest; an
output never overwrites its input; splits sum to 100; a moved dataset is pointed at with --root.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result
from PIL import Image, ImageOps

from dataclean.audit import AuditResult, run_audit
from dataclean.cli import main
from dataclean.report import header
from dataclean.synth import photo
from fix_helpers import make_manifest, row


def _cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def _agree(result: AuditResult) -> None:
    m, issues = result.manifest, result.issues
    per_file = issues[issues["path"] != ""]
    assert not per_file.duplicated(["path", "check"]).any(), "one issues.csv row per file and check"
    listed = per_file.groupby("path")["check"].apply(set).to_dict()
    for path, names in zip(m["path"], m["issues"]):
        assert set(filter(None, names.split(";"))) == listed.get(path, set()), path
    for path, names, reason in zip(m["path"], m["issues"], m["reason"]):
        if "label_conflict" in reason:
            assert "label_conflict" in names.split(";"), (path, reason)


def test_planted_audit_outputs_agree(planted_audit: AuditResult) -> None:
    _agree(planted_audit)
    near = planted_audit.issues.query("check == 'near_duplicate'").set_index("path")["detail"]
    assert near["squares/square_002_small.jpg"].startswith("phash distance ")
    assert near["squares/square_002_small.jpg"].split(" to ")[1].startswith("squares/square_002.jpg,")
    assert len(near) == planted_audit.summary["checks"]["near_duplicate"]["files"] == 4


@pytest.fixture(scope="module")
def nested(tmp_path_factory: pytest.TempPathFactory) -> AuditResult:
    """A photo at the root with copies in class folders, and a three-file near-duplicate cluster."""
    root = tmp_path_factory.mktemp("nested") / "data"
    rng = np.random.default_rng(3)
    (root / "base").mkdir(parents=True)
    (root / "mixed").mkdir()
    original = photo(rng, "circles", (160, 120))
    original.save(root / "alpha_channel_image.png")
    original.convert("RGBA").save(root / "base" / "alpha_copy.png")
    for k in range(12):
        photo(rng, "squares", (160, 120)).save(root / "base" / f"b{k}.jpg", quality=90)
        photo(rng, "triangles", (160, 120)).save(root / "mixed" / f"m{k}.jpg", quality=90)
    shutil.copyfile(root / "base" / "b0.jpg", root / "mixed" / "b0_again.jpg")
    src = Image.open(root / "mixed" / "m0.jpg")
    src.resize((120, 90), Image.Resampling.LANCZOS).save(root / "mixed" / "m0_small.jpg", quality=90)
    ImageOps.mirror(src).save(root / "mixed" / "m0_mirror.png")
    (root / "LICENSE").write_text("MIT\n")
    (root / "mixed" / "notes.pkl").write_bytes(b"\x80\x04K\x01.")
    return run_audit(root, workers=0)


def test_root_file_copied_into_a_class_agrees_everywhere(nested: AuditResult) -> None:
    _agree(nested)
    m = nested.manifest.set_index("path")
    root_file = m.loc["alpha_channel_image.png"]
    assert root_file["label"] == "" and root_file["group"] == m.loc["base/alpha_copy.png", "group"] != ""
    assert "label_conflict" not in root_file["issues"] and "label_conflict" not in root_file["reason"]
    assert m.loc[["base/b0.jpg", "mixed/b0_again.jpg"], "issues"].tolist() == ["label_conflict;exact_duplicate"] * 2
    assert m.loc["mixed/b0_again.jpg", "reason"] == "label_conflict: also under base"


def test_a_cluster_of_three_gives_three_near_duplicate_rows(nested: AuditResult) -> None:
    near = nested.issues.query("check == 'near_duplicate'").set_index("path")
    cluster = ["mixed/m0.jpg", "mixed/m0_mirror.png", "mixed/m0_small.jpg"]
    assert set(cluster) <= set(near.index)
    assert near.loc["mixed/m0.jpg", "detail"].endswith("; 1 more near duplicate in group " + near.loc["mixed/m0.jpg", "group"])
    assert Counter(near.index)["mixed/m0.jpg"] == 1


def _audit_cli(root: Path, out: Path) -> None:
    res = _cli("audit", root, "--out", out, "--workers", "0", "-q")
    assert res.exit_code == 0, res.output


def test_fix_counts_non_image_files_under_naming_like_the_audit(nested: AuditResult, tmp_path: Path) -> None:
    root = Path(nested.summary["root"])
    _audit_cli(root, tmp_path / "audit")
    res = _cli("fix", "--manifest", tmp_path / "audit" / "manifest.csv", "--format", "json", "--dry-run")
    assert res.exit_code == 0, res.output
    by_check = {r["check"]: r for r in json.loads(res.output)["by_check"]}
    assert by_check["naming"] == {"check": "naming", "keep": 0, "review": 0, "drop": 2}
    assert "corrupt" not in by_check
    proposed = pd.read_csv(tmp_path / "audit" / "manifest.csv", keep_default_na=False).set_index("path")
    assert proposed.loc["LICENSE", ["issues", "action", "reason"]].tolist() == [
        "naming", "drop", "not an image file: not_an_image"]


def test_clean_manifest_is_not_an_audit_manifest(nested: AuditResult, tmp_path: Path) -> None:
    _audit_cli(Path(nested.summary["root"]), tmp_path / "audit")  # with its summary.json, as users have it
    manifest = tmp_path / "audit" / "manifest.csv"
    assert _cli("fix", "--manifest", manifest, "-q").exit_code == 0
    clean = manifest.parent / "clean.csv"
    before = clean.read_bytes()
    res = _cli("fix", "--manifest", clean)
    assert (res.exit_code, res.stderr) == (2, (
        f"Error: manifest {clean} was written by dataclean fix (it has a split column), not by dataclean audit; "
        f"run fix on the audit's manifest (e.g. {manifest}), or train on {clean}\n"))
    assert clean.read_bytes() == before


@pytest.mark.parametrize("out", ["manifest.csv", "manifest.policy.toml", "manifest.decisions.csv"],
                         ids=["clean", "policy", "decisions"])
def test_an_output_that_is_the_input_is_refused(tmp_path: Path, out: str) -> None:
    manifest = make_manifest(tmp_path / "data", [row(f"cats/c{i}.png", shade=i) for i in range(4)])
    target = manifest.parent / "manifest.csv"  # every output name is derived from the clean one's
    source = manifest.with_name(out)
    if source != manifest:
        shutil.copyfile(manifest, source)
    before = source.read_bytes()
    res = _cli("fix", "--manifest", source, "--out", target)
    assert (res.exit_code, res.stderr) == (2, (
        f"Error: output {source} is the input manifest {source}: fix never overwrites its input; choose another --out\n"))
    assert source.read_bytes() == before


@pytest.mark.parametrize(("split", "ok"), [("70/10/10", False), ("80/10/10", True), ("0.7/0.2/0.1", True),
                                           ("0.5/0.2/0.2", False), ("100/0/0", True)])
def test_split_must_sum_to_100_or_1(tmp_path: Path, split: str, ok: bool) -> None:
    manifest = make_manifest(tmp_path / "data", [row(f"cats/c{i:02d}.png", shade=i) for i in range(20)])
    res = _cli("fix", "--manifest", manifest, "--split", split, "-q")
    if ok:
        assert res.exit_code == 0, res.output
    else:
        total = f"{sum(float(x) for x in split.split('/')):g}"
        assert (res.exit_code, res.stderr) == (2, (
            f"Error: split must sum to 100 (or 1.0), e.g. 80/10/10; received: '{split}', which sums to {total}\n"))


def test_a_moved_dataset_is_named_and_found_again_with_root(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path / "data", [row(f"cats/c{i:02d}.png", shade=i) for i in range(12)])
    moved = tmp_path / "elsewhere"
    (tmp_path / "data").rename(moved)
    res = _cli("fix", "--manifest", manifest)
    assert (res.exit_code, res.stderr) == (2, (
        f"Error: manifest {manifest}: its dataset root {tmp_path / 'data'} no longer exists (moved or renamed?); "
        f"pass --root NEW_FOLDER to read the files from where they are now\n"))
    res = _cli("fix", "--manifest", manifest, "--root", moved, "-q")
    assert res.exit_code == 0, res.output
    clean = pd.read_csv(manifest.parent / "clean.csv", keep_default_na=False)
    assert set(clean["root"]) == {str(moved.resolve())} and len(clean) == 12
    res = _cli("fix", "--manifest", manifest, "--root", tmp_path / "nope")
    assert (res.exit_code, res.stderr) == (2, f"Error: --root {tmp_path / 'nope'}: no such folder\n")


@pytest.mark.parametrize(("classes", "groups", "files", "expected"), [
    (1, 1, 1, "1 file, 1 decoded, 1 class, 1 duplicate group, 0.5 s"),
    (2, 0, 3, "3 files, 1 decoded, 2 classes, 0 duplicate groups, 0.5 s"),
], ids=["singular", "plural"])
def test_header_wording(classes: int, groups: int, files: int, expected: str) -> None:
    summary = {"root": "/d", "flat": False, "classes": {f"c{k}": {} for k in range(classes)}, "files": files,
               "decoded": 1, "groups": groups, "timing": {"total_s": 0.5}, "unreadable_dirs": [], "checks": {}}
    assert header(summary).plain.splitlines()[1] == expected


def test_set_with_a_bad_number_says_integer(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"x")
    res = _cli("audit", tmp_path, "--set", "near_duplicate.max_distance=abc")
    assert res.exit_code == 2
    assert "max_distance must be an integer, got 'abc'" in res.output
