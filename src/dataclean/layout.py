"""Dataset layouts: which folder is the class, which is the given split, and what index files say.

Pure functions over the sorted list of relative POSIX file paths (what ``scan.py`` lists locally, or
a storage listing lists remotely), so every source is laid out by the same rules:

* ``classes``: ``DATA/<class>/.../<image>``; the label is the first folder.
* ``splits``: ``DATA/<split>/<class>/.../<image>`` where every first-level folder that holds images
  is a split name (train, val, test and their spellings); the label is the next folder and the
  split folder becomes ``given_split`` (train / val / test).
* ``flat``: no labels at all (a folder of images, or a file tree whose folders are not classes).
* ``index``: labels (and splits) come from index files (``--index``), not from folders.

A folder that holds no image is not a class (its files get an empty label); files at the root have
an empty label. Reading the index files is the only I/O here (:func:`read_index`,
:func:`read_class_names`); parsing them is pure (:func:`parse_index`, :func:`parse_class_names`).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dataclean.errors import DatacleanError, first_line

#: What ``--layout`` accepts; ``auto`` guesses between the other three.
LAYOUTS: tuple[str, ...] = ("auto", "classes", "splits", "flat")

#: Normalised given splits, in the order train -> evaluation.
SPLIT_ORDER: tuple[str, ...] = ("train", "val", "test")

#: Folder / file-name spellings of each split, compared lower-case without ``-``, ``_`` and spaces.
_SPLIT_NAMES: dict[str, str] = {
    **dict.fromkeys(("train", "training", "trainset", "trainingset", "trn"), "train"),
    **dict.fromkeys(("val", "valid", "validation", "valset", "validset", "validationset", "dev", "devset"), "val"),
    **dict.fromkeys(("test", "testing", "testset", "testingset", "tst"), "test"),
}

#: File extensions of images (by name only: layout runs before any file is read). Kept equal to
#: dataclean.checks.files.IMAGE_EXTENSIONS (a test holds them equal) without importing the checks here.
IMAGE_EXTENSIONS: frozenset[str] = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".mpo", ".png", ".gif", ".bmp", ".dib", ".webp", ".tif", ".tiff", ".ico",
    ".ppm", ".pgm", ".pbm", ".pnm", ".jp2", ".j2k", ".jpf", ".jpx", ".j2c",
    ".heic", ".heif", ".avif", ".tga", ".psd", ".dds", ".icns", ".pcx", ".sgi", ".xbm", ".eps",
})


def split_name(name: str) -> str | None:
    """``"Training_Set"`` -> ``"train"``; ``"validation"`` -> ``"val"``; None when not a split name."""
    return _SPLIT_NAMES.get(name.lower().replace("-", "").replace("_", "").replace(" ", ""))


def split_from_filename(name: str) -> str:
    """The split an index file's name says (``train.txt``, ``val_list.csv``, ``ip102-test.txt``), else ``""``."""
    stem = posixpath.basename(name.replace("\\", "/")).split(".", 1)[0]
    whole = split_name(stem)
    if whole:
        return whole
    tokens = stem.replace("-", " ").replace("_", " ").replace(".", " ").split()
    found = {s for s in (split_name(tok) for tok in tokens) if s}
    return found.pop() if len(found) == 1 else ""


def is_image_name(path: str) -> bool:
    return posixpath.splitext(path)[1].lower() in IMAGE_EXTENSIONS


@dataclass(frozen=True)
class IndexEntry:
    """One listed file: its path relative to DATA, label, split (``""`` when the index gives none)."""

    path: str
    label: str
    split: str
    source: str  # "train.txt line 4": where it was listed, for messages


@dataclass(frozen=True)
class LayoutOptions:
    """How to lay a file list out: ``--layout``, the parsed ``--index`` files and ``--class-names``."""

    layout: str = "auto"
    index: tuple[IndexEntry, ...] | None = None  # None: no index given
    index_files: tuple[str, ...] = ()  # their names, for the summary
    class_names: dict[str, str] | None = None  # label id -> name
    class_names_file: str = ""

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise DatacleanError(f"--layout must be one of {', '.join(LAYOUTS)}; got {self.layout!r}")
        if self.index is not None and self.layout == "flat":
            raise DatacleanError("--layout flat ignores labels, but --index gives them: use one or the other")


@dataclass(frozen=True)
class Layout:
    """A file list laid out: per path its label and given split, plus what the index says is wrong."""

    kind: str  # classes | splits | flat | index
    labels: list[str]  # per path; "" for no class
    given_splits: list[str]  # per path; train / val / test, or "" when the dataset came unsplit
    not_classes: list[str] = field(default_factory=list)  # folders that held no image (so are not classes)
    missing: list[IndexEntry] = field(default_factory=list)  # listed by an index, not among the paths
    listed: frozenset[str] | None = None  # every path the index lists (None: no index)
    notes: list[str] = field(default_factory=list)  # what the user should know about how it was read
    requested: str = "auto"  # the --layout asked for
    index_files: tuple[str, ...] = ()  # the --index files read
    class_names_file: str = ""

    @property
    def split_counts(self) -> dict[str, int]:
        """Files per given split (found on disk), in train/val/test order; empty when not split."""
        counts = {s: sum(1 for g in self.given_splits if g == s) for s in SPLIT_ORDER}
        return {s: n for s, n in counts.items() if n} if any(counts.values()) else {}


def detect_layout(paths: Sequence[str]) -> str:
    """``splits`` when every first-level folder that holds an image is a split name, ``classes`` when
    there are folders, else ``flat``."""
    tops: dict[str, bool] = {}
    for p in paths:
        top, sep, rest = p.partition("/")
        if sep:
            tops[top] = tops.get(top, False) or is_image_name(rest)
    with_images = [t for t, has in tops.items() if has]
    if with_images and all(split_name(t) for t in with_images):
        return "splits"
    return "classes" if tops else "flat"


def resolve_layout(paths: Sequence[str], options: LayoutOptions | None = None) -> Layout:
    """Labels and given splits for ``paths`` (relative, POSIX, as listed) under ``options``."""
    options = options or LayoutOptions()
    kind = detect_layout(paths) if options.layout == "auto" else options.layout
    if kind == "flat":
        labels, splits = [""] * len(paths), [""] * len(paths)
    elif kind == "splits":
        labels, splits = _split_folders(paths, strict=options.layout == "splits")
    else:
        labels, splits = [p.partition("/")[0] if "/" in p else "" for p in paths], [""] * len(paths)
    notes: list[str] = []
    not_classes: list[str] = []
    if kind != "flat":
        labels, not_classes = _drop_imageless(paths, labels, splits)
    if options.index is None:
        if options.class_names is not None:
            labels = _named(labels, options.class_names, options.class_names_file, notes,
                            describe=lambda lbl: f"class folder {lbl!r}")
        if kind != "flat" and not any(labels) and not any(splits):
            kind = "flat"
        return Layout(kind, labels, splits, not_classes, notes=notes, requested=options.layout,
                      class_names_file=options.class_names_file)
    return _with_index(paths, splits, options, notes)


def _split_folders(paths: Sequence[str], strict: bool) -> tuple[list[str], list[str]]:
    labels, splits = [], []
    for p in paths:
        parts = p.split("/")
        given = split_name(parts[0]) if len(parts) > 1 else None
        if given is None:
            if strict and len(parts) > 1:
                raise DatacleanError(f"--layout splits: folder {parts[0]!r} is not a split name "
                                     f"(expected train, val, test or a spelling of them; see --layout auto)")
            labels.append("")
            splits.append("")
            continue
        rest = parts[1:]
        if len(rest) > 2 and split_name(rest[0]) == given:  # training_set/training_set/cats/x.jpg (Kaggle)
            rest = rest[1:]
        labels.append(rest[0] if len(rest) > 1 else "")
        splits.append(given)
    return labels, splits


def _drop_imageless(paths: Sequence[str], labels: list[str], splits: list[str]) -> tuple[list[str], list[str]]:
    """A label none of whose files is an image is not a class: those files get an empty label."""
    has_image: dict[str, bool] = {}
    for p, lbl in zip(paths, labels):
        if lbl:
            has_image[lbl] = has_image.get(lbl, False) or is_image_name(p)
    gone = sorted(lbl for lbl, has in has_image.items() if not has)
    if not gone:
        return labels, []
    drop = set(gone)
    return ["" if lbl in drop else lbl for lbl in labels], gone


# --- index files -------------------------------------------------------------------------------

def _relative(path: str, where: str) -> str:
    key = path.strip().replace("\\", "/")
    while key.startswith("./"):
        key = key[2:]
    if not key:
        raise DatacleanError(f"{where}: empty path")
    if key.startswith("/") or (len(key) > 1 and key[1] == ":" and key[0].isalpha()) or ".." in key.split("/"):
        raise DatacleanError(f"{where}: path {path.strip()!r} must be relative to DATA, without '..'")
    return key


def parse_index(text: str, name: str) -> list[IndexEntry]:
    """Entries of one index file: a CSV with a header ``path,label[,split]`` (other columns ignored), or
    a whitespace list ``relative/path label`` per line (IP102's train.txt). Blank lines and lines
    starting with ``#`` are skipped. The split is the ``split`` column, else the file name's
    (:func:`split_from_filename`). Raises DatacleanError naming the file and line of a bad line."""
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), None)
    if first is None:
        raise DatacleanError(f"index {name} lists no files")
    default_split = split_from_filename(name)
    if "," in first:
        return _parse_csv(text, name, default_split)
    out = []
    for no, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        tokens = line.split()
        if len(tokens) != 2:
            fields = f"{len(tokens)} field{'' if len(tokens) == 1 else 's'}"
            raise DatacleanError(f"index {name} line {no}: expected 'relative/path label', got {line.strip()[:80]!r} "
                                 f"({fields}; a path with spaces needs a CSV index path,label)")
        where = f"index {name} line {no}"
        out.append(IndexEntry(_relative(tokens[0], where), tokens[1], default_split, f"{name} line {no}"))
    return out


def _parse_csv(text: str, name: str, default_split: str) -> list[IndexEntry]:
    import csv  # only with a CSV index: the audit's start (before the workers run) stays lean
    import io

    from dataclean.io import numbered_rows

    try:
        rows = numbered_rows(io.StringIO(text))
    except csv.Error as exc:
        raise DatacleanError(f"index {name} is not a readable CSV: {first_line(exc)}") from None

    def skip(row: list[str]) -> bool:  # blank, or a # comment (as in a whitespace list)
        return not any(c.strip() for c in row) or row[0].lstrip().startswith("#")

    header_at = next((i for i, (_, r) in enumerate(rows) if not skip(r)), None)
    if header_at is None:
        raise DatacleanError(f"index {name} lists no files")
    header = [c.strip().lower() for c in rows[header_at][1]]
    missing = [c for c in ("path", "label") if c not in header]
    if missing:
        raise DatacleanError(f"index {name} line {rows[header_at][0]}: a CSV index needs a header with path,label[,split]; "
                             f"missing {', '.join(missing)} (got {','.join(header)[:80]!r})")
    at_path, at_label = header.index("path"), header.index("label")
    at_split = header.index("split") if "split" in header else None
    out = []
    for no, row in rows[header_at + 1:]:
        if skip(row):
            continue
        where = f"index {name} line {no}"
        if len(row) != len(header):
            raise DatacleanError(f"{where}: expected {len(header)} fields ({','.join(header)}), found {len(row)}")
        label = row[at_label].strip()
        if not label:
            raise DatacleanError(f"{where}: empty label for {row[at_path].strip()!r}")
        split = default_split
        if at_split is not None and row[at_split].strip():
            given = split_name(row[at_split].strip())
            if given is None:
                raise DatacleanError(f"{where}: split {row[at_split].strip()!r} is not train, val or test")
            split = given
        out.append(IndexEntry(_relative(row[at_path], where), label, split, f"{name} line {no}"))
    return out


def parse_class_names(text: str, name: str) -> dict[str, str]:
    """``id name`` per line (IP102's classes.txt; the name may contain spaces) -> ``{id: name}``."""
    out: dict[str, str] = {}
    for no, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, value = line.strip().partition(" ") if " " in line.strip() else line.strip().partition("\t")
        value = value.strip()
        if not value:
            raise DatacleanError(f"class names {name} line {no}: expected 'id name', got {line.strip()[:80]!r}")
        if key in out:
            raise DatacleanError(f"class names {name} line {no}: id {key!r} is named twice")
        out[key] = value
    if not out:
        raise DatacleanError(f"class names {name} names no class")
    return out


def _read_text(path: str | os.PathLike[str], what: str) -> str:
    p = Path(path)
    if not p.is_file():
        raise DatacleanError(f"{what} not found: {p}")
    try:
        return p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DatacleanError(f"{what} {p} is not UTF-8 text") from None


def read_index(path: str | os.PathLike[str]) -> list[IndexEntry]:
    """Read and parse one ``--index`` file (see :func:`parse_index`)."""
    return parse_index(_read_text(path, "index file"), Path(path).name)


def read_class_names(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read and parse a ``--class-names`` file (see :func:`parse_class_names`)."""
    return parse_class_names(_read_text(path, "class names file"), Path(path).name)


def layout_options(layout: str = "auto", index: Iterable[str | os.PathLike[str]] = (),
                   class_names: str | os.PathLike[str] | None = None) -> LayoutOptions:
    """Options from the command line's ``--layout``, ``--index`` (repeatable) and ``--class-names``."""
    files = [str(p) for p in index]
    entries = tuple(e for f in files for e in read_index(f)) if files else None
    names = read_class_names(class_names) if class_names else None
    return LayoutOptions(layout, entries, tuple(files), names, str(class_names or ""))


def _merge(entries: Iterable[IndexEntry]) -> dict[str, IndexEntry]:
    out: dict[str, IndexEntry] = {}
    for e in entries:
        seen = out.get(e.path)
        if seen is not None:
            raise DatacleanError(f"index: {e.path} is listed twice ({seen.source} and {e.source})")
        out[e.path] = e
    return out


def _named(labels: list[str], names: dict[str, str], file: str, notes: list[str],
           describe: Callable[[str], str]) -> list[str]:
    """Labels mapped through ``--class-names``; 0-based ids over a 1-based file (IP102) are shifted."""
    used = sorted({lbl for lbl in labels if lbl})
    shift = 0
    unknown = [lbl for lbl in used if lbl not in names]
    if unknown and all(lbl.isdigit() for lbl in used) and all(k.isdigit() for k in names):
        ids = {int(k) for k in names}
        if "0" in used and 0 not in ids and all(int(lbl) + 1 in ids for lbl in used):
            shift = 1
            notes.append(f"labels are 0-based ids and {Path(file).name} is 1-based: label k is line id k+1")
            unknown = []
    if unknown:
        raise DatacleanError(f"{describe(unknown[0])} is not an id in {file} (ids: {_id_range(names)})")
    if shift:
        return [names[str(int(lbl) + 1)] if lbl else "" for lbl in labels]
    return [names[lbl] if lbl else "" for lbl in labels]


def _id_range(names: dict[str, str]) -> str:
    keys = list(names)
    return f"{keys[0]}..{keys[-1]}" if len(keys) > 3 else ", ".join(keys)


def _with_index(paths: Sequence[str], folder_splits: list[str], options: LayoutOptions, notes: list[str]) -> Layout:
    assert options.index is not None
    listed = _merge(options.index)
    entries = [listed.get(p) for p in paths]
    labels = [e.label if e else "" for e in entries]
    index_has_splits = any(e.split for e in listed.values())
    if index_has_splits:
        splits = [e.split if e else "" for e in entries]
    else:
        splits = folder_splits
        if any(folder_splits):
            notes.append("the index gives no split: the given split comes from the split folders")
    on_disk = set(paths)
    missing = [e for e in listed.values() if e.path not in on_disk]
    if options.class_names is not None:
        all_labels = labels + [e.label for e in missing]
        first: dict[str, str] = {}
        for e in listed.values():
            first.setdefault(e.label, e.source)
        mapped = _named(all_labels, options.class_names, options.class_names_file, notes,
                        describe=lambda lbl: f"label {lbl!r} ({first[lbl]})")
        labels = mapped[:len(labels)]
        missing = [IndexEntry(e.path, lbl, e.split, e.source) for e, lbl in zip(missing, mapped[len(labels):])]
    return Layout("index", labels, splits, missing=missing, listed=frozenset(listed), notes=notes,
                  requested=options.layout, index_files=options.index_files, class_names_file=options.class_names_file)


# --- does it look like classes? ----------------------------------------------------------------

def tree_reasons(labels: Sequence[str], conflicted: int, labelled_images: int) -> list[str]:
    """Why the class folders look like an arbitrary file tree rather than labels (empty: they look fine).

    ``conflicted`` is how many labelled files label_conflict flagged (the same image under several
    "classes"), ``labelled_images`` how many decoded images have a label.
    """
    counts: dict[str, int] = {}
    for lbl in labels:
        if lbl:
            counts[lbl] = counts.get(lbl, 0) + 1
    reasons = []
    if labelled_images >= 4 and conflicted >= 4 and conflicted >= 0.1 * labelled_images:
        reasons.append(f"{conflicted} of {labelled_images} labelled images are copies of each other under several folders")
    sizes = sorted(counts.values())
    if len(sizes) >= 4 and (sizes[(len(sizes) - 1) // 2] + sizes[len(sizes) // 2]) / 2 < 5:  # median
        tiny = sum(1 for n in sizes if n < 5)
        reasons.append(f"{tiny} of {len(counts)} folders hold fewer than 5 files")
    return reasons
