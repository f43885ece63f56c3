"""dataclean.layout: pure functions over file lists -> labels, given splits, index findings."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataclean.checks.files import IMAGE_EXTENSIONS
from dataclean.errors import DatacleanError
from dataclean.layout import (
    IMAGE_EXTENSIONS as LAYOUT_IMAGE_EXTENSIONS,
)
from dataclean.layout import (
    IndexEntry,
    LayoutOptions,
    detect_layout,
    parse_class_names,
    parse_index,
    resolve_layout,
    split_from_filename,
    split_name,
    tree_reasons,
)


@pytest.mark.parametrize(("name", "split"), [
    ("train", "train"), ("Training", "train"), ("training_set", "train"), ("TRAIN-SET", "train"),
    ("val", "val"), ("valid", "val"), ("Validation", "val"), ("dev", "val"), ("validation_set", "val"),
    ("test", "test"), ("testing", "test"), ("test_set", "test"), ("Test-Set", "test"),
    ("cats", None), ("trains", None), ("", None), ("test2", None),
])
def test_split_names(name: str, split: str | None) -> None:
    assert split_name(name) == split


@pytest.mark.parametrize(("name", "split"), [
    ("train.txt", "train"), ("val.txt", "val"), ("test.txt", "test"), ("ip102-test.txt", "test"),
    ("val_list.csv", "val"), ("labels.csv", ""), ("trainval.txt", ""), ("train_test.txt", ""),
    ("dir/Training_Set.csv", "train"),
])
def test_split_from_filename(name: str, split: str) -> None:
    assert split_from_filename(name) == split


def test_image_extensions_match_the_checks() -> None:
    assert set(LAYOUT_IMAGE_EXTENSIONS) == IMAGE_EXTENSIONS


CLOTHING = ["LICENSE", "README.md", "test/hat/a.jpg", "test/shoes/b.jpg", "train/hat/c.jpg", "train/shoes/d.jpg",
            "validation/hat/e.jpg"]


@pytest.mark.parametrize(("paths", "kind"), [
    (CLOTHING, "splits"),
    (["training_set/cats/a.jpg", "test_set/dogs/b.jpg"], "splits"),
    (["cats/a.jpg", "test/b.jpg"], "classes"),  # a class called test beside a real class
    (["cats/a.jpg", "dogs/b.jpg"], "classes"),
    (["a.jpg", "b.png"], "flat"),
    (["train/a.jpg", "docs/readme.txt"], "splits"),  # a folder without images does not count
], ids=["clothing", "kaggle", "class-named-test", "classes", "flat", "docs-folder"])
def test_detect_layout(paths: list[str], kind: str) -> None:
    assert detect_layout(paths) == kind


def test_pre_split_labels_and_given_splits() -> None:
    lay = resolve_layout(CLOTHING)
    assert lay.kind == "splits"
    assert lay.labels == ["", "", "hat", "shoes", "hat", "shoes", "hat"]
    assert lay.given_splits == ["", "", "test", "test", "train", "train", "val"]
    assert lay.split_counts == {"train": 2, "val": 1, "test": 2}


def test_kaggle_doubled_split_folder_and_files_directly_in_a_split() -> None:
    lay = resolve_layout(["training_set/training_set/cats/a.jpg", "test_set/test_set/dogs/b.jpg", "test_set/c.jpg"])
    assert lay.labels == ["cats", "dogs", ""]
    assert lay.given_splits == ["train", "test", "test"]


def test_layout_override_classes_and_flat() -> None:
    assert resolve_layout(CLOTHING, LayoutOptions("classes")).labels == ["", "", "test", "test", "train", "train",
                                                                         "validation"]
    flat = resolve_layout(CLOTHING, LayoutOptions("flat"))
    assert (flat.kind, set(flat.labels), set(flat.given_splits)) == ("flat", {""}, {""})


def test_forced_splits_layout_names_a_folder_that_is_not_a_split() -> None:
    with pytest.raises(DatacleanError, match="--layout splits: folder 'cats' is not a split name"):
        resolve_layout(["train/cats/a.jpg", "cats/b.jpg"], LayoutOptions("splits"))


def test_unknown_layout_is_an_error() -> None:
    with pytest.raises(DatacleanError, match="--layout must be one of auto, classes, splits, flat; got 'tree'"):
        LayoutOptions("tree")


def test_a_folder_without_images_is_not_a_class() -> None:
    lay = resolve_layout(["base/a.jpg", "base/b.png", "evaluation_files/x.pkl", "evaluation_files/y.pkl", "top.jpg"])
    assert lay.labels == ["base", "base", "", "", ""]
    assert lay.not_classes == ["evaluation_files"]


def test_tree_reasons() -> None:
    assert tree_reasons(["a"] * 20 + ["b"] * 20, conflicted=0, labelled_images=40) == []
    assert tree_reasons(["a"] * 20 + ["b"] * 15, conflicted=18, labelled_images=35) == [
        "18 of 35 labelled images are copies of each other under several folders"]
    assert tree_reasons(["a", "b", "c", "d", "e", "e"], conflicted=0, labelled_images=6) == [
        "5 of 5 folders hold fewer than 5 files"]


# --- index files -------------------------------------------------------------------------------

def test_whitespace_index_takes_its_split_from_the_file_name() -> None:
    entries = parse_index("00002.jpg 0\n\n# comment\n./sub/00003.jpg 12\n", "train.txt")
    assert entries == [IndexEntry("00002.jpg", "0", "train", "train.txt line 1"),
                       IndexEntry("sub/00003.jpg", "12", "train", "train.txt line 4")]


def test_csv_index_with_split_column_and_extra_columns() -> None:
    text = "path,label,split,notes\na.jpg,cat,Validation,x\nb.jpg,dog,,y\n"
    assert parse_index(text, "labels.csv") == [IndexEntry("a.jpg", "cat", "val", "labels.csv line 2"),
                                                IndexEntry("b.jpg", "dog", "", "labels.csv line 3")]
    assert parse_index("path,label\nc.jpg,cat\n", "test.csv")[0].split == "test"


@pytest.mark.parametrize(("text", "name", "message"), [
    ("a.jpg 1\nb.jpg\n", "train.txt", "index train.txt line 2: expected 'relative/path label', got 'b.jpg' (1 field;"),
    ("a.jpg 1\nb c.jpg 2\n", "train.txt", "index train.txt line 2: expected 'relative/path label', got 'b c.jpg 2' (3"),
    ("a.jpg,1\n", "x.csv", "index x.csv line 1: a CSV index needs a header with path,label[,split]; missing path, label"),
    ("path,label\na.jpg,1,extra\n", "x.csv", "index x.csv line 2: expected 2 fields (path,label), found 3"),
    ("path,label,split\na.jpg,1,holdout\n", "x.csv", "index x.csv line 2: split 'holdout' is not train, val or test"),
    ("path,label\na.jpg,\n", "x.csv", "index x.csv line 2: empty label for 'a.jpg'"),
    ("../a.jpg 1\n", "train.txt", "index train.txt line 1: path '../a.jpg' must be relative to DATA, without '..'"),
    ("/etc/a.jpg 1\n", "train.txt", "index train.txt line 1: path '/etc/a.jpg' must be relative to DATA"),
    ("\n# nothing\n", "train.txt", "index train.txt lists no files"),
], ids=["one-field", "three-fields", "csv-no-header", "csv-extra-field", "bad-split", "empty-label", "dotdot",
        "absolute", "empty"])
def test_bad_index_lines_name_file_and_line(text: str, name: str, message: str) -> None:
    with pytest.raises(DatacleanError) as err:
        parse_index(text, name)
    assert str(err.value).startswith(message)


def test_class_names_with_spaces_and_errors() -> None:
    assert parse_class_names("1 rice leaf roller\n2 asiatic rice borer\n", "classes.txt") == {
        "1": "rice leaf roller", "2": "asiatic rice borer"}
    with pytest.raises(DatacleanError, match="class names classes.txt line 2: expected 'id name', got '7'"):
        parse_class_names("1 a\n7\n", "classes.txt")
    with pytest.raises(DatacleanError, match="class names classes.txt line 2: id '1' is named twice"):
        parse_class_names("1 a\n1 b\n", "classes.txt")


def _index(*entries: tuple[str, str, str]) -> tuple[IndexEntry, ...]:
    return tuple(IndexEntry(p, lbl, s, f"{s or 'labels'}.txt line {k + 1}") for k, (p, lbl, s) in enumerate(entries))


def test_index_is_the_truth_missing_and_unlisted() -> None:
    paths = ["images/1.jpg", "images/2.jpg", "images/3.jpg"]
    opts = LayoutOptions(index=_index(("images/1.jpg", "0", "train"), ("images/2.jpg", "1", "test"),
                                      ("images/9.jpg", "1", "val")),
                         class_names={"1": "rice leaf roller", "2": "borer"}, class_names_file="classes.txt")
    lay = resolve_layout(paths, opts)
    assert lay.kind == "index"
    assert lay.labels == ["rice leaf roller", "borer", ""]  # 0-based ids over a 1-based classes.txt: shifted
    assert lay.given_splits == ["train", "test", ""]
    assert [(e.path, e.label, e.split) for e in lay.missing] == [("images/9.jpg", "borer", "val")]
    assert lay.listed == {"images/1.jpg", "images/2.jpg", "images/9.jpg"}
    assert lay.notes == ["labels are 0-based ids and classes.txt is 1-based: label k is line id k+1"]


def test_index_label_not_in_class_names_and_a_path_listed_twice() -> None:
    names = {"1": "a", "2": "b"}
    with pytest.raises(DatacleanError, match=r"label '5' \(train.txt line 2\) is not an id in classes.txt \(ids: 1, 2\)"):
        resolve_layout(["x.jpg"], LayoutOptions(index=_index(("x.jpg", "1", "train"), ("y.jpg", "5", "train")),
                                                class_names=names, class_names_file="classes.txt"))
    with pytest.raises(DatacleanError, match=r"index: x.jpg is listed twice \(train.txt line 1 and test.txt line 2\)"):
        resolve_layout(["x.jpg"], LayoutOptions(index=_index(("x.jpg", "1", "train"), ("x.jpg", "1", "test"))))


def test_index_without_splits_keeps_the_split_folders() -> None:
    lay = resolve_layout(["train/a/1.jpg", "test/a/2.jpg"],
                         LayoutOptions(index=_index(("train/a/1.jpg", "cat", ""), ("test/a/2.jpg", "dog", ""))))
    assert (lay.labels, lay.given_splits) == (["cat", "dog"], ["train", "test"])


def test_class_names_map_folder_ids() -> None:
    lay = resolve_layout(["0/a.jpg", "1/b.jpg"], LayoutOptions(class_names={"0": "cat", "1": "dog"}))
    assert lay.labels == ["cat", "dog"]


def test_flat_layout_with_an_index_is_refused() -> None:
    with pytest.raises(DatacleanError, match="--layout flat ignores labels, but --index gives them"):
        LayoutOptions("flat", index=_index(("a.jpg", "1", "")))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab.,/ \t\n\r#\"'\\:0123456789_-é")), max_size=80),
       st.sampled_from(["train.txt", "labels.csv", "x"]))
def test_any_index_text_parses_or_fails_with_a_one_line_error(text: str, name: str) -> None:
    try:
        entries = parse_index(text, name)
    except DatacleanError as exc:
        assert "\n" not in str(exc) and name in str(exc)
        return
    assert entries and all(e.path and e.label and ".." not in e.path.split("/") for e in entries)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab \t\n\r#0123456789é")), max_size=60))
def test_any_class_names_text_parses_or_fails_with_a_one_line_error(text: str) -> None:
    try:
        names = parse_class_names(text, "classes.txt")
    except DatacleanError as exc:
        assert "\n" not in str(exc) and "classes.txt" in str(exc)
        return
    assert names and all(k and v and v == v.strip() for k, v in names.items())


_PART = st.sampled_from(["train", "Test_Set", "validation", "cats", "dogs", "a", "x.jpg", "y.png", "n.txt"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_PART, min_size=1, max_size=4).map("/".join), max_size=12, unique=True),
       st.sampled_from(["auto", "classes", "splits", "flat"]))
def test_any_file_list_is_laid_out_row_for_row(paths: list[str], layout: str) -> None:
    paths = sorted(paths)
    try:
        lay = resolve_layout(paths, LayoutOptions(layout))
    except DatacleanError as exc:  # only a forced --layout splits over a folder that is not a split
        assert layout == "splits" and "is not a split name" in str(exc)
        return
    assert len(lay.labels) == len(lay.given_splits) == len(paths)
    assert set(lay.given_splits) <= {"", "train", "val", "test"}
    for p, lbl in zip(paths, lay.labels):
        assert lbl == "" or lbl in p.split("/")[:-1]  # a label is always one of the path's folders
