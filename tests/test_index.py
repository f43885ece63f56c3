"""Index files end to end (IP102 style: flat images/, train/val/test.txt, classes.txt; and CSV)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from dataclean.cli import main
from dataclean.synth import photo, save_jpeg

SHAPES = ("circles", "squares", "triangles")


@pytest.fixture(scope="module")
def ip102(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """images/00001.jpg ...: 4 train / 2 val / 2 test per class; one listed file missing, one image unlisted."""
    base = tmp_path_factory.mktemp("ip102")
    rng = np.random.default_rng(11)
    lists: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    k = 0
    for split, n in (("train", 4), ("val", 2), ("test", 2)):
        for cid, shape in enumerate(SHAPES):
            for _ in range(n):
                k += 1
                save_jpeg(photo(rng, shape, (64, 64)), base / "images" / f"{k:05d}.jpg")
                lists[split].append(f"{k:05d}.jpg {cid}")
    lists["test"].append("09999.jpg 2")  # listed, not there
    save_jpeg(photo(rng, "circles", (64, 64)), base / "images" / "stray.jpg")  # there, not listed
    for split, lines in lists.items():
        (base / f"{split}.txt").write_text("\n".join(lines) + "\n")
    (base / "classes.txt").write_text("1 rice leaf roller\n2 rice leaf caterpillar\n3 paddy stem maggot\n")
    return base


def _audit(base: Path, out: Path, *extra: str) -> object:
    args = ["audit", str(base / "images"), "-o", str(out), "-j", "0", "--examples", "0"]
    for split in ("train", "val", "test"):
        args += ["--index", str(base / f"{split}.txt")]
    return CliRunner().invoke(main, [*args, "--class-names", str(base / "classes.txt"), *extra], terminal_width=150)


def test_labels_and_splits_match_the_lists(ip102: Path, tmp_path: Path) -> None:
    res = _audit(ip102, tmp_path)
    assert res.exit_code == 0, res.output
    m = pd.read_csv(tmp_path / "manifest.csv", keep_default_na=False, dtype=str).set_index("path")
    for split in ("train", "val", "test"):
        for line in (ip102 / f"{split}.txt").read_text().splitlines():
            name, cid = line.split()
            assert (m.loc[name, "given_split"], m.loc[name, "label"]) == (split, SHAPE_NAMES[int(cid)])
    assert (m.loc["09999.jpg", "error"], m.loc["09999.jpg", "issues"]) == ("missing", "missing")
    assert m.loc["09999.jpg", "error_detail"] == "listed in test.txt line 7, not found under the dataset folder"
    assert (m.loc["stray.jpg", "label"], m.loc["stray.jpg", "issues"]) == ("", "unlisted")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["layout"]["given_split"] == {"train": 12, "val": 6, "test": 6}
    assert summary["checks"]["missing"]["files"] == 1 and summary["checks"]["unlisted"]["files"] == 1
    assert summary["checks"]["corrupt"]["files"] == 0  # a missing file is not a corrupt one
    assert summary["classes"]["paddy stem maggot"]["files"] == 8  # on disk; the missing one is not counted
    first, second = res.output.splitlines()[:2]
    assert first.startswith("split by ") and first.endswith("test.txt: train 12 · val 6 · test 6")
    assert "25 files (+1 listed but missing)" in res.output
    assert "labels are 0-based ids and classes.txt is 1-based" in res.output


SHAPE_NAMES = ("rice leaf roller", "rice leaf caterpillar", "paddy stem maggot")


def test_fix_drops_missing_and_holds_unlisted(ip102: Path, tmp_path: Path) -> None:
    assert _audit(ip102, tmp_path).exit_code == 0
    res = CliRunner().invoke(main, ["fix", "--manifest", str(tmp_path / "manifest.csv"), "--quarantine",
                                    str(tmp_path / "q"), "--format", "json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["quarantine"]["planned"] == 0  # nothing to move: the missing file is not there
    d = pd.read_csv(tmp_path / "clean.decisions.csv", keep_default_na=False, dtype=str).set_index("path")
    assert (d.loc["09999.jpg", "action"], d.loc["09999.jpg", "reason"]) == (
        "drop", "missing: listed in test.txt line 7, not found under the dataset folder")
    assert (d.loc["stray.jpg", "action"], d.loc["stray.jpg", "reason"]) == ("review", "unlisted")
    kept = d[d["action"] == "keep"]
    assert (kept["split"] == kept["given_split"]).all() and len(kept) == 24


def test_csv_index_with_a_split_column(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    for k in range(6):
        save_jpeg(photo(rng, SHAPES[k % 2], (64, 64)), tmp_path / "data" / "img" / f"{k}.jpg")
    rows = "".join(f"img/{k}.jpg,{SHAPES[k % 2]},{'test' if k >= 4 else 'train'}\n" for k in range(6))
    (tmp_path / "data" / "index.csv").write_text("path,label,split\n" + rows)
    res = CliRunner().invoke(main, ["audit", str(tmp_path / "data"), "-o", str(tmp_path / "out"), "-j", "0", "-q",
                                    "--index", str(tmp_path / "data" / "index.csv")])
    assert res.exit_code == 0, res.output
    m = pd.read_csv(tmp_path / "out" / "manifest.csv", keep_default_na=False, dtype=str)
    assert len(m) == 6  # the index inside DATA is not part of the dataset
    assert m.groupby("given_split").size().to_dict() == {"test": 2, "train": 4}
    assert set(m["label"]) == {"circles", "squares"}


@pytest.mark.parametrize(("content", "message"), [
    ("00001.jpg 0\n00002.jpg\n", "Error: index train.txt line 2: expected 'relative/path label', got '00002.jpg' (1 field;"),
    ("00001.jpg 0\n00002.jpg 0 1\n", "Error: index train.txt line 2: expected 'relative/path label', got '00002.jpg 0 1'"),
    ("00001.jpg 7\n", "Error: label '7' (train.txt line 1) is not an id in {classes} (ids: 1, 2, 3)"),
    (b"\xff\xfe\x00bad", "Error: index file "),
], ids=["missing-label", "extra-field", "unknown-id", "not-text"])
def test_bad_index_is_a_one_line_error(ip102: Path, tmp_path: Path, content: str | bytes, message: str) -> None:
    bad = tmp_path / "train.txt"
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    res = CliRunner().invoke(main, ["audit", str(ip102 / "images"), "-o", str(tmp_path / "o"), "-j", "0",
                                    "--index", str(bad), "--class-names", str(ip102 / "classes.txt")])
    assert res.exit_code == 2
    assert res.output.startswith(message.format(classes=ip102 / "classes.txt")), res.output
    assert res.output.count("\n") == 1, res.output


def test_missing_index_or_class_names_file(ip102: Path, tmp_path: Path) -> None:
    for flag in ("--index", "--class-names"):
        res = CliRunner().invoke(main, ["audit", str(ip102 / "images"), "-o", str(tmp_path), flag,
                                        str(tmp_path / "nope.txt")])
        assert res.exit_code == 2
        what = "index file" if flag == "--index" else "class names file"
        assert res.output == f"Error: {what} not found: {tmp_path / 'nope.txt'}\n"


def test_line_numbers_count_line_breaks_inside_quoted_fields(tmp_path: Path) -> None:
    """A quoted CSV field may hold line breaks: messages name the line a bad row starts on, in the
    file as an editor shows it (the CSV index, the labels file and the decisions file alike)."""
    from dataclean.audit import read_labels_file
    from dataclean.errors import DatacleanError
    from dataclean.fix.decisions import read_decisions

    rng = np.random.default_rng(3)
    save_jpeg(photo(rng, SHAPES[0], (64, 64)), tmp_path / "data" / "img" / "0.jpg")
    index = tmp_path / "index.csv"
    index.write_text('path,label\n"img/a\nb.jpg",circles\nimg/0.jpg,circles\nimg/1.jpg,circles,extra\n')
    res = CliRunner().invoke(main, ["audit", str(tmp_path / "data"), "-o", str(tmp_path / "o"), "-j", "0",
                                    "--index", str(index)])
    assert res.exit_code == 2
    assert res.output == "Error: index index.csv line 5: expected 2 fields (path,label), found 3\n"
    labels = tmp_path / "labels.csv"
    labels.write_text('path,label\n"a\n\nb.jpg",x\nc.jpg,y,z\n')
    with pytest.raises(DatacleanError, match=f"^labels file {labels} line 5: expected 2 fields, found 3$"):
        read_labels_file(labels)
    decisions = tmp_path / "decisions.csv"
    decisions.write_text('path,action\n"a\nb.jpg",drop\nc.jpg,explode\n')
    with pytest.raises(DatacleanError, match=f"^decisions file {decisions} line 4: unknown action 'explode' for c.jpg"):
        read_decisions(decisions)
