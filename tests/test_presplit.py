"""Pre-split datasets end to end: detection, given_split, split_leak, and `fix` keeping the given split."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from dataclean.audit import AuditResult, run_audit, write_outputs
from dataclean.cli import main
from dataclean.fix.engine import plan_fix
from dataclean.fix.policy import Policy
from dataclean.layout import LayoutOptions
from dataclean.report import header
from dataclean.synth import make_split_dataset

EXACT_SRC, EXACT_COPY = "train/squares/train_square_005.jpg", "validation/squares/copy_of_train_square_005.jpg"
NEAR_SRC, NEAR_COPY = "train/circles/train_circle_003.jpg", "test/circles/copy_of_train_circle_003.jpg"
LEAKS = {EXACT_SRC, EXACT_COPY, NEAR_SRC, NEAR_COPY}


@pytest.fixture(scope="module")
def presplit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("presplit") / "data"
    planted = make_split_dataset(root, seed=3)
    assert set(planted) == {NEAR_SRC, NEAR_COPY}
    shutil.copyfile(root / EXACT_SRC, root / EXACT_COPY)  # an exact copy, train -> val
    (root / "README.md").write_text("a dataset\n")
    return root


@pytest.fixture(scope="module")
def audited(presplit: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[AuditResult, Path]:
    result = run_audit(presplit, workers=0)
    out = tmp_path_factory.mktemp("audit")
    write_outputs(result, out)
    return result, out / "manifest.csv"


def test_detected_with_given_split(audited: tuple[AuditResult, Path]) -> None:
    result, _ = audited
    lay = result.summary["layout"]
    assert lay["kind"] == "splits"
    assert lay["given_split"] == {"train": 48, "val": 10, "test": 13}
    assert sorted(result.summary["classes"]) == ["circles", "squares", "triangles"]
    assert result.summary["classes"]["circles"]["splits"] == {"train": 16, "val": 3, "test": 5}
    assert lay["splits"]["val"]["classes"] == {"circles": 3, "squares": 4, "triangles": 3}
    assert lay["root_files"] == 1
    m = result.manifest
    assert m.set_index("path").loc[NEAR_COPY, "given_split"] == "test"
    assert m.set_index("path").loc["README.md", "given_split"] == ""


def test_every_leaking_file_is_flagged_and_names_the_other_side(audited: tuple[AuditResult, Path]) -> None:
    result, _ = audited
    found = {result.table["path"][f.row]: f.detail for f in result.findings["split_leak"] if f.row is not None}
    assert set(found) == LEAKS
    assert found[EXACT_COPY] == f"val file is identical to {EXACT_SRC} in train, distance 0"
    assert found[EXACT_SRC] == f"train file is identical to {EXACT_COPY} in val, distance 0"
    assert re.fullmatch(rf"test file is a copy of {NEAR_SRC} in train, distance \d", found[NEAR_COPY])
    assert result.findings["label_conflict"] == []  # same class: a leak, not a conflict
    assert result.summary["checks"]["split_leak"]["files"] == 4


def test_report_first_line_says_pre_split(audited: tuple[AuditResult, Path]) -> None:
    result, _ = audited
    lines = header(result.summary).plain.splitlines()
    assert lines[0] == "pre-split layout: train 48 · val 10 · test 13"
    assert lines[3] == "split_leak: 4 files copied across the given splits; fix drops the evaluation-side copies"


def _fix(manifest: Path, **policy: object) -> pd.DataFrame:
    return plan_fix(manifest, Policy(**policy)).decisions  # type: ignore[arg-type]


def test_fix_keeps_the_given_split_and_drops_eval_side_copies(audited: tuple[AuditResult, Path]) -> None:
    _, manifest = audited
    d = _fix(manifest).set_index("path")
    kept = d[d["action"] == "keep"]
    assert (kept["split"] == kept["given_split"]).all()  # a given val exists: nothing moves
    for copy, src, side in ((EXACT_COPY, EXACT_SRC, "val"), (NEAR_COPY, NEAR_SRC, "test")):
        assert d.loc[copy, "action"] == "drop"
        assert d.loc[copy, "reason"] == (f"split_leak: {side} copy of {src} (given train); "
                                         f"the train side keeps the image, so {side} stays clean")
        assert (d.loc[src, "action"], d.loc[src, "split"]) == ("keep", "train")
    groups = kept[kept["group"] != ""].groupby("group")["split"].nunique()
    assert (groups <= 1).all()


def test_fix_resplit_ignores_the_given_split(audited: tuple[AuditResult, Path]) -> None:
    _, manifest = audited
    d = _fix(manifest, resplit=True).set_index("path")
    kept = d[d["action"] == "keep"]
    assert (kept["split"] != kept["given_split"]).any()
    assert d.loc[NEAR_COPY, "reason"].startswith("near duplicate of ")  # the duplicate rule, not the leak rule
    assert (kept[kept["group"] != ""].groupby("group")["split"].nunique() <= 1).all()


def test_val_carved_from_given_train_when_no_val(tmp_path: Path) -> None:
    root = tmp_path / "data"
    counts = {"train": {"cats": 27, "dogs": 18}, "test": {"cats": 5, "dogs": 4}}
    make_split_dataset(root, counts={s: {k.replace("cats", "circles").replace("dogs", "squares"): n
                                         for k, n in c.items()} for s, c in counts.items()}, seed=5, leak=False)
    result = run_audit(root, workers=0)
    write_outputs(result, tmp_path / "audit")
    d = _fix(tmp_path / "audit" / "manifest.csv")
    assert (d.loc[d["given_split"] == "test", "split"] == "test").all()
    carved = d[d["split"] == "val"]
    assert set(carved["given_split"]) == {"train"}
    assert carved.groupby("label").size().to_dict() == {"circles": 3, "squares": 2}  # 1/9 of 27 and 18
    assert (d.loc[d["given_split"] == "train", "split"] != "test").all()


def test_leak_between_val_and_test_keeps_val(tmp_path: Path) -> None:
    root = tmp_path / "data"
    make_split_dataset(root, seed=9, leak=False)
    shutil.copyfile(root / "validation/circles/val_circle_000.jpg", root / "test/circles/copy.jpg")
    result = run_audit(root, workers=0)
    write_outputs(result, tmp_path / "audit")
    d = _fix(tmp_path / "audit" / "manifest.csv").set_index("path")
    assert d.loc["test/circles/copy.jpg", "action"] == "drop"
    assert d.loc["validation/circles/val_circle_000.jpg", "split"] == "val"


def test_layout_classes_override_reads_split_folders_as_classes(presplit: Path) -> None:
    result = run_audit(presplit, workers=0, layout=LayoutOptions("classes"))
    assert sorted(result.summary["classes"]) == ["test", "train", "validation"]
    assert result.skipped["split_leak"] == "no given split (not a pre-split dataset)"
    conflicted = {result.table["path"][f.row] for f in result.findings["label_conflict"] if f.row is not None}
    assert conflicted == LEAKS


def test_cli_layout_flag_and_clean_csv_keeps_given_split(presplit: Path, tmp_path: Path) -> None:
    out = tmp_path / "audit"
    res = CliRunner().invoke(main, ["audit", str(presplit), "-o", str(out), "-j", "0", "--layout", "splits"])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0] == "pre-split layout: train 48 · val 10 · test 13"
    res = CliRunner().invoke(main, ["fix", "--manifest", str(out / "manifest.csv"), "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["split_mode"] == "given"
    clean = pd.read_csv(out / "clean.csv", keep_default_na=False)
    assert list(clean.columns[-2:]) == ["given_split", "split"]
    assert NEAR_COPY not in set(clean["path"]) and EXACT_COPY not in set(clean["path"])
    res = CliRunner().invoke(main, ["fix", "--manifest", str(out / "manifest.csv"), "--resplit", "-q"])
    assert res.exit_code == 0, res.output
    assert 'resplit = true' in (out / "clean.policy.toml").read_text()
    res = CliRunner().invoke(main, ["audit", str(presplit), "-o", str(out), "-j", "0", "--layout", "tree"])
    assert res.exit_code == 2 and "Invalid value for '--layout'" in res.output


def test_bad_given_split_in_a_manifest(audited: tuple[AuditResult, Path], tmp_path: Path) -> None:
    _, manifest = audited
    df = pd.read_csv(manifest, keep_default_na=False, dtype=str)
    df.loc[3, "given_split"] = "holdout"
    bad = tmp_path / "manifest.csv"
    df.to_csv(bad, index=False)
    res = CliRunner().invoke(main, ["fix", "--manifest", str(bad)])
    assert res.exit_code == 2
    assert f"given_split 'holdout' in row 5 (path {df.loc[3, 'path']}) is not train, val, test or empty" in res.output


def test_bundled_pre_split_sample_has_its_one_planted_leak() -> None:
    root = Path(__file__).resolve().parents[1] / "sample_data_split"
    result = run_audit(root, workers=0)
    leaks = sorted(result.table["path"][f.row] for f in result.findings["split_leak"] if f.row is not None)
    assert leaks == ["test/circles/copy_of_train_circle_003.jpg", "train/circles/train_circle_003.jpg"]
    assert result.summary["layout"]["given_split"] == {"train": 48, "val": 9, "test": 13}
    assert [n for n in result.fired if n != "split_leak"] == ["near_duplicate"]
