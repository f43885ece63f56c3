"""The audit on a dataset with one planted instance of every problem: exact findings, nothing else."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dataclean.audit import AuditResult, run_audit
from dataclean.manifest import ISSUE_COLUMNS, MANIFEST_COLUMNS


def test_finds_exactly_what_was_planted(planted: tuple[Path, dict[str, list[str]]], planted_audit: AuditResult) -> None:
    _, expected = planted
    found = set(zip(planted_audit.issues["path"], planted_audit.issues["check"]))
    assert found == {(path, check) for path, checks in expected.items() for check in checks}


def test_every_file_is_in_the_manifest_once(planted: tuple[Path, dict[str, list[str]]], planted_audit: AuditResult) -> None:
    root, _ = planted
    on_disk = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != "labels.csv")
    assert planted_audit.manifest["path"].tolist() == on_disk
    assert list(planted_audit.manifest.columns) == MANIFEST_COLUMNS
    assert list(planted_audit.issues.columns) == ISSUE_COLUMNS


def test_error_codes(planted_audit: AuditResult) -> None:
    m = planted_audit.manifest.set_index("path")
    assert m.loc["circles/truncated.jpg", "error"] == "truncated"
    assert m.loc["squares/empty.jpg", "error"] == "empty_file"
    assert m.loc["triangles/random_bytes.jpg", "error"] == "not_an_image"
    assert m.loc["squares/scan.tif", ["error", "format", "action", "reason"]].tolist() == [
        "", "TIFF", "keep", "flagged: tf_unreadable"]
    assert m.loc["circles/notes.txt", "error"] == "not_an_image"
    assert m.loc["squares/really_a_png.jpg", "format"] == "PNG"
    assert (m["error"] != "").sum() == 5  # the four above and .DS_Store


def test_duplicate_groups(planted_audit: AuditResult) -> None:
    m = planted_audit.manifest.set_index("path")
    pairs = [
        ("circles/circle_001.jpg", "circles/circle_001_copy.jpg"),
        ("squares/square_002.jpg", "squares/square_002_small.jpg"),
        ("triangles/triangle_003.jpg", "triangles/triangle_003_mirror.png"),
        ("circles/circle_004.jpg", "squares/circle_004.jpg"),
    ]
    for a, b in pairs:
        assert m.loc[a, "group"] != "" and m.loc[a, "group"] == m.loc[b, "group"]
    assert m["group"].replace("", pd.NA).dropna().nunique() == 4
    mirror = planted_audit.issues.query("check == 'near_duplicate' and path == 'triangles/triangle_003_mirror.png'")
    assert mirror["detail"].str.contains("(mirrored)", regex=False).all()


def test_proposed_actions_drop_broken_and_one_of_each_duplicate(planted_audit: AuditResult) -> None:
    m = planted_audit.manifest.set_index("path")
    for broken in ("circles/truncated.jpg", "squares/empty.jpg", "triangles/random_bytes.jpg"):
        assert m.loc[broken, "action"] == "drop"
    assert sorted(m.loc[["circles/circle_001.jpg", "circles/circle_001_copy.jpg"], "action"]) == ["drop", "keep"]
    assert set(m.loc[["circles/circle_004.jpg", "squares/circle_004.jpg"], "action"]) == {"drop"}
    assert m.loc["circles/circle_010.jpg", "action"] == "review"


def test_summary_counts(planted_audit: AuditResult) -> None:
    s = planted_audit.summary
    assert s["files"] == 136 and s["decoded"] == 131 and s["groups"] == 4 and not s["flat"]
    assert {k: v["files"] for k, v in s["classes"].items()} == {"circles": 46, "squares": 48, "stars": 8, "triangles": 34}
    assert s["checks"]["corrupt"]["files"] == 3 and s["checks"]["tf_unreadable"]["files"] == 1
    assert s["checks"]["near_duplicate"]["files"] == 4
    assert s["errors"] == {"not_an_image": 3, "truncated": 1, "empty_file": 1}


def test_pool_gives_the_same_manifest_as_in_process(
    planted: tuple[Path, dict[str, list[str]]], planted_audit: AuditResult
) -> None:
    root, _ = planted
    pooled = run_audit(root, workers=2, labels_path=root / "labels.csv")
    pd.testing.assert_frame_equal(pooled.manifest, planted_audit.manifest)


def test_flat_folder_skips_label_checks(tmp_path: Path) -> None:
    import numpy as np

    from dataclean.synth import photo, save_jpeg

    rng = np.random.default_rng(1)
    for k in range(12):
        save_jpeg(photo(rng, "circles"), tmp_path / f"img_{k}.jpg")
    result = run_audit(tmp_path, workers=0)
    assert result.summary["flat"] is True
    assert (result.manifest["label"] == "").all()
    for name in ("label_conflict", "duplicate_filename", "class_imbalance"):
        assert result.skipped[name] == "no class folders (flat dataset)"
    assert result.issues.empty


def test_components_match_a_reference_union_find() -> None:
    import numpy as np

    from dataclean.duplicates import components

    rng = np.random.default_rng(5)
    for n, e in [(1, 0), (10, 3), (200, 150), (500, 60), (50, 400)]:
        src, dst = rng.integers(0, n, e), rng.integers(0, n, e)
        parent = list(range(n))

        def find(x: int, parent: list[int] = parent) -> int:
            while parent[x] != x:
                x = parent[x]
            return x

        for a, b in zip(src, dst):
            ra, rb = find(int(a)), find(int(b))
            parent[max(ra, rb)] = min(ra, rb)
        expected = [min(i for i in range(n) if find(i) == find(k)) for k in range(n)]
        assert components(n, src, dst).tolist() == expected
