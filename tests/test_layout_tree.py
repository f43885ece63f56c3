"""Folders that are not classes: no-image folders, files at the root, and a file tree mistaken for labels."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from rich.console import Console

from dataclean.audit import run_audit
from dataclean.cli import main
from dataclean.layout import LayoutOptions
from dataclean.report import classes_table, header
from dataclean.synth import photo, save_jpeg


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """base_images/ (10 photos), mixed_images/ (6 resized copies of base photos + 2 new), evaluation_files/
    (.pkl only) and two photos at the top level: the shape of a folder of experiments, not of classes."""
    root = tmp_path_factory.mktemp("tree") / "data"
    rng = np.random.default_rng(4)
    for k in range(10):
        save_jpeg(photo(rng, "circles"), root / "base_images" / f"img_{k}.jpg")
    for k in range(6):
        with Image.open(root / "base_images" / f"img_{k}.jpg") as im:
            save_jpeg(im.convert("RGB").resize((96, 96)), root / "mixed_images" / f"mixed_{k}.jpg")
    for k in range(2):
        save_jpeg(photo(rng, "squares"), root / "mixed_images" / f"new_{k}.jpg")
    (root / "evaluation_files").mkdir()
    for name in ("scores.pkl", "pairs.pkl"):
        (root / "evaluation_files" / name).write_bytes(b"\x80\x04N.")
    for name in ("top_a.jpg", "top_b.jpg"):
        save_jpeg(photo(rng, "triangles"), root / name)
    return root


def _rows(table: object) -> dict[str, int]:
    """The Classes table as rendered: first column -> files."""
    console = Console(width=120, file=io.StringIO(), color_system=None)
    with console.capture() as cap:
        console.print(table)
    out = {}
    for line in cap.get().splitlines():
        cells = [c.strip() for c in line.strip("│┃").split("│")]
        if len(cells) > 1 and cells[1].isdigit():
            out[cells[0]] = int(cells[1])
    return out


def test_no_image_folder_is_not_a_class_and_root_files_are_counted(tree: Path) -> None:
    result = run_audit(tree, workers=0)
    s = result.summary
    assert sorted(s["classes"]) == ["base_images", "mixed_images"]
    assert s["layout"]["not_classes"] == ["evaluation_files"]
    assert (s["layout"]["root_files"], s["layout"]["unlabelled_files"]) == (2, 4)
    rows = _rows(classes_table(s))
    assert rows == {"base_images": 10, "mixed_images": 8, "(root)": 2, "(no class)": 2}
    assert sum(rows.values()) == s["files"] == 22


def test_a_tree_of_copies_is_called_a_tree_and_flat_is_suggested(tree: Path) -> None:
    result = run_audit(tree, workers=0)
    assert result.summary["layout"]["tree_like"] == [
        "12 of 18 labelled images are copies of each other under several folders"]
    text = header(result.summary).plain
    assert "look like a file tree rather than class labels" in text and "re-run with --layout flat" in text
    assert "not classes (no image inside): evaluation_files/" in text


def test_layout_flat_reads_no_labels(tree: Path, tmp_path: Path) -> None:
    flat = run_audit(tree, workers=0, layout=LayoutOptions("flat"))
    assert flat.summary["layout"]["kind"] == "flat" and set(flat.table["label"]) == {""}
    assert flat.skipped["label_conflict"] == "no class folders (flat dataset)"
    assert flat.summary["layout"]["tree_like"] == []
    actions = dict(zip(flat.table["path"], flat.table["action"]))
    assert actions["base_images/img_0.jpg"] == "keep" and actions["mixed_images/mixed_0.jpg"] == "drop"
    res = CliRunner().invoke(main, ["audit", str(tree), "-o", str(tmp_path), "-j", "0", "--layout", "flat", "-q"])
    assert res.exit_code == 0, res.output
