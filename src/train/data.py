"""From a clean manifest to tf.data pipelines.

:func:`load_splits` is pure pandas (checks the manifest before any TensorFlow work);
:func:`build_dataset` imports TensorFlow when called.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dataclean.errors import DatacleanError
from dataclean.manifest import absolute_paths, read_manifest
from train.decode import TF_UNSUPPORTED_ERROR, ImageReadError, needs_pillow, pillow_rgb, tf_error_text

if TYPE_CHECKING:
    import pandas as pd
    import tensorflow as tf

SPLITS = ("train", "val", "test")


@dataclass
class Splits:
    """The manifest's rows by split, with absolute file paths, integer labels and the decoder for each.

    ``classes[i]`` is the name of label ``i``; classes are the sorted labels of the train split.
    ``pillow[s][j]`` is True when file ``paths[s][j]`` is decoded by Pillow (see :mod:`train.decode`).
    """

    classes: list[str]
    paths: dict[str, list[str]]
    labels: dict[str, np.ndarray]
    pillow: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for s in SPLITS:
            self.pillow.setdefault(s, np.zeros(len(self.paths[s]), dtype=bool))

    def counts(self) -> dict[str, dict[str, int]]:
        """Images per class per split, for config.json and the report."""
        return {s: {c: int((self.labels[s] == i).sum()) for i, c in enumerate(self.classes)} for s in SPLITS}

    def pillow_count(self) -> int:
        """How many files Pillow decodes (the formats TensorFlow cannot read)."""
        return int(sum(int(self.pillow[s].sum()) for s in SPLITS))


#: Columns only an audit manifest (manifest.csv) has together, before `fix` adds the split.
AUDIT_COLUMNS = ("issues", "action")


def load_splits(manifest: str | os.PathLike[str], data_cache: str | os.PathLike[str] | None = None) -> Splits:
    """Read and check a clean manifest: split column with train/val/test, >= 2 train classes,
    a non-empty test split, no row the audit found corrupt, and every file present. Rows whose root is
    remote (s3://...) are fetched once into ``data_cache`` (dataclean.storage.materialize).

    Pure pandas, so it runs before TensorFlow is imported. Raises DatacleanError naming the problem
    and what to do about it (an audit manifest is told to go through `dataclean fix` first).
    """
    df = read_manifest(manifest)
    if "split" not in df.columns:
        if all(c in df.columns for c in AUDIT_COLUMNS):
            raise DatacleanError(
                f"{manifest} is an audit manifest (it has no split column): run `dataclean fix --manifest "
                f"{manifest}` first, then train on the clean.csv it writes")
        found = ", ".join(map(str, df.columns[:8]))
        raise DatacleanError(
            f"manifest {manifest} lacks column(s) split; is it a dataclean manifest? train needs the clean "
            f"manifest `dataclean fix` writes (found: {found})")
    if df.empty:
        raise DatacleanError(f"manifest {manifest} has no rows")
    split = df["split"].astype(str).str.strip().str.lower()
    unknown = sorted(set(split) - set(SPLITS))
    if unknown:
        raise DatacleanError(
            f"manifest {manifest}: column 'split' has value(s) {', '.join(map(repr, unknown))}; "
            f"expected only {', '.join(SPLITS)} (run `dataclean fix` to assign splits)")
    labels = df["label"].astype(str).str.strip()
    if (labels == "").any():
        first = df.loc[labels == "", "path"].iloc[0]
        raise DatacleanError(
            f"manifest {manifest}: {(labels == '').sum()} row(s) have an empty label, e.g. {first}")
    classes = sorted(set(labels[split == "train"]))
    if len(classes) < 2:
        raise DatacleanError(
            f"manifest {manifest}: the train split has {len(classes)} class(es) ({', '.join(classes) or 'none'}); "
            "need at least 2")
    if not (split == "test").any():
        raise DatacleanError(f"manifest {manifest}: the test split is empty; evaluation needs test images")
    strays = sorted(set(labels[split != "train"]) - set(classes))
    if strays:
        raise DatacleanError(
            f"manifest {manifest}: class(es) {', '.join(strays)} appear in val/test but not in train")
    column = {c: (df[c].astype(str) if c in df.columns else pd.Series("", index=df.index))
              for c in ("format", "mode", "issues", "error")}
    broken = (column["error"].str.strip() != "") & (column["error"].str.strip() != TF_UNSUPPORTED_ERROR)
    if broken.any():
        i = int(np.argmax(broken.to_numpy()))
        raise DatacleanError(
            f"manifest {manifest}: {int(broken.sum())} row(s) are files the audit could not decode, e.g. "
            f"{df['path'].iloc[i]} ({column['error'].iloc[i]}); run `dataclean fix` (it drops them) and train on "
            "its clean.csv")
    files = _local_files(df, data_cache)
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise DatacleanError(
            f"{len(missing)} of {len(files)} file(s) in {manifest} are missing, first: {missing[0]}")
    pillow = np.array([needs_pillow(f, m, i, e) for f, m, i, e in
                       zip(column["format"], column["mode"], column["issues"], column["error"])], dtype=bool)
    index = {c: i for i, c in enumerate(classes)}
    return Splits(
        classes=classes,
        paths={s: files[split == s].tolist() for s in SPLITS},
        labels={s: np.array([index[c] for c in labels[split == s]], dtype=np.int64) for s in SPLITS},
        pillow={s: pillow[(split == s).to_numpy()] for s in SPLITS},
    )


def _local_files(df: pd.DataFrame, data_cache: str | os.PathLike[str] | None) -> pd.Series:
    """Each row's file on this machine: ``root / path``, remote roots fetched into ``data_cache`` first."""
    import pandas as pd

    from dataclean.storage import is_remote, materialize, storage_options_from_env

    if not df["root"].map(is_remote).any():
        return absolute_paths(df)
    sizes: list[int | None] = [None] * len(df)
    if "bytes" in df.columns:  # a file already fetched with the manifest's size is not fetched again
        sizes = [None if v != v else int(v) for v in pd.to_numeric(df["bytes"], errors="coerce").tolist()]
    with _fetch_progress(len(df)) as advance:
        got = materialize(df["root"].tolist(), df["path"].tolist(), sizes, data_cache or "data-cache",
                          storage_options_from_env(), on_progress=advance)
    return pd.Series(got, index=df.index)


@contextmanager
def _fetch_progress(total: int) -> Iterator[Any]:
    """A progress bar on stderr while remote files are fetched (nothing when stderr is not a terminal)."""
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("fetching", total=total)
        yield lambda n: bar.advance(task, n)


def class_weights(labels: np.ndarray, num_classes: int) -> dict[int, float]:
    """Balanced class weights, ``n / (k * count_c)``, as Keras' ``class_weight`` takes them."""
    counts = np.bincount(labels, minlength=num_classes).astype(float)
    n = counts.sum()
    return {i: float(n / (num_classes * c)) if c else 0.0 for i, c in enumerate(counts)}


def _pillow_decode(path: bytes) -> np.ndarray:
    """tf.numpy_function body: decode one file with Pillow (errors become a tf op error naming it)."""
    return pillow_rgb(os.fsdecode(path))


def decode_file(path: tf.Tensor, pillow: tf.Tensor | bool = False) -> tf.Tensor:
    """Decode one image file to H x W x 3 uint8: TensorFlow's decoders, or Pillow when ``pillow``.

    ``pillow`` may be a scalar bool tensor (one dataset mixing both): ``tf.cond`` picks per file, and
    only the Pillow rows pay for a Python call.
    """
    import tensorflow as tf

    def with_tf() -> tf.Tensor:
        return tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)

    def with_pillow() -> tf.Tensor:
        image = tf.numpy_function(_pillow_decode, [path], tf.uint8, stateful=False)
        return tf.ensure_shape(image, [None, None, 3])

    if isinstance(pillow, bool):
        return with_pillow() if pillow else with_tf()
    return tf.cond(pillow, with_pillow, with_tf)


def resize_image(image: tf.Tensor, image_size: int) -> tf.Tensor:
    """Resize a decoded H x W x 3 image to ``image_size`` square (antialiased), as uint8 (0..255)."""
    import tensorflow as tf

    image = tf.image.resize(image, (image_size, image_size), antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def load_image(path: tf.Tensor, image_size: int, pillow: tf.Tensor | bool = False) -> tf.Tensor:
    """Read, decode (3 channels; see :func:`decode_file`), resize to a square, as uint8 (0..255)."""
    return resize_image(decode_file(path, pillow), image_size)


def build_dataset(paths: Sequence[str], labels: np.ndarray | None, image_size: int, batch_size: int, *,
                  shuffle: bool = False, seed: int = 0, cache: bool = True,
                  pillow: Sequence[bool] | np.ndarray | None = None, shuffle_buffer: int = 10_000) -> tf.data.Dataset:
    """A batched dataset of ``(float32 images 0..255, labels)`` (or images only when ``labels`` is None).

    ``pillow[i]`` sends file ``i`` through Pillow instead of TensorFlow's decoders (the formats those
    cannot read); when no file needs it, the pipeline has no Python call at all.
    Decoded images are cached as uint8 (4x smaller than float). With ``shuffle`` the file order is
    shuffled once up front (so a small buffer still mixes classes) and again every epoch.
    The model holds the architecture's own preprocessing, so images stay in 0..255 here.
    """
    import tensorflow as tf

    paths = list(paths)
    order = np.random.default_rng(seed).permutation(len(paths)) if shuffle else np.arange(len(paths))
    files = tf.constant([paths[i] for i in order], dtype=tf.string)
    flags = np.zeros(len(paths), dtype=bool) if pillow is None else np.asarray(pillow, dtype=bool)
    if len(flags) != len(paths):
        raise ValueError(f"pillow has {len(flags)} flags for {len(paths)} paths")
    mixed = bool(flags.any())
    columns: tuple[tf.Tensor, ...] = (files, tf.constant(flags[order])) if mixed else (files,)
    if labels is not None:
        columns += (tf.constant(np.asarray(labels)[order], tf.int64),)

    def load(*row: tf.Tensor) -> Any:
        image = load_image(row[0], image_size, row[1] if mixed else False)
        return image if labels is None else (image, row[-1])

    ds = tf.data.Dataset.from_tensor_slices(columns if len(columns) > 1 else columns[0])
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(min(len(paths), shuffle_buffer), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    to_float = (lambda x: tf.cast(x, tf.float32)) if labels is None else (lambda x, y: (tf.cast(x, tf.float32), y))
    return ds.map(to_float, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def first_undecodable(paths: Sequence[str], pillow: Sequence[bool] | None = None) -> tuple[str, str] | None:
    """The first file its decoder cannot read, with the reason, or None. One file at a time (slow)."""
    import tensorflow as tf

    flags = [False] * len(paths) if pillow is None else list(pillow)
    for p, use_pillow in zip(paths, flags):
        try:
            if use_pillow:
                pillow_rgb(p)
            else:
                tf.io.decode_image(tf.io.read_file(p), channels=3, expand_animations=False)
        except tf.errors.OpError as exc:  # invalid data, missing or unreadable file, ...
            return p, tf_error_text(exc)
        except ImageReadError as exc:
            return p, str(exc).removeprefix(f"{p}: ")
    return None


@contextmanager
def naming_bad_files(paths: Sequence[str], pillow: Sequence[bool] | None = None) -> Iterator[None]:
    """Turn a decode failure inside tf.data into a DatacleanError naming the file.

    tf.data's error does not say which file failed, so on failure the files are decoded one by one to
    find it. No file is skipped silently: the audit should have caught it, and training stops.
    """
    import tensorflow as tf

    try:
        yield
    except tf.errors.OpError as exc:  # invalid data, missing or unreadable file, ...
        bad = first_undecodable(paths, pillow)
        if bad is None:
            raise
        raise DatacleanError(
            f"cannot decode {bad[0]} ({bad[1]}); the audit should have flagged it: "
            "re-run `dataclean audit` and `dataclean fix`, or drop the row from the manifest") from exc


__all__ = ["AUDIT_COLUMNS", "SPLITS", "Splits", "build_dataset", "class_weights", "decode_file", "first_undecodable",
           "load_image", "load_splits", "naming_bad_files", "resize_image"]
