"""From a clean manifest to tf.data pipelines.

:func:`load_splits` is pure pandas (checks the manifest before any TensorFlow work);
:func:`build_dataset` imports TensorFlow when called.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dataclean.errors import DatacleanError, first_line
from dataclean.manifest import absolute_paths, read_manifest

if TYPE_CHECKING:
    import pandas as pd
    import tensorflow as tf

SPLITS = ("train", "val", "test")


@dataclass
class Splits:
    """The manifest's rows by split, with absolute file paths and integer labels.

    ``classes[i]`` is the name of label ``i``; classes are the sorted labels of the train split.
    """

    classes: list[str]
    paths: dict[str, list[str]]
    labels: dict[str, np.ndarray]

    def counts(self) -> dict[str, dict[str, int]]:
        """Images per class per split, for config.json and the report."""
        return {s: {c: int((self.labels[s] == i).sum()) for i, c in enumerate(self.classes)} for s in SPLITS}


def load_splits(manifest: str | os.PathLike[str], data_cache: str | os.PathLike[str] | None = None) -> Splits:
    """Read and check a clean manifest: split column with train/val/test, >= 2 train classes,
    a non-empty test split, and every file present. Raises DatacleanError naming the problem.

    Rows whose root is remote (s3://...) are fetched once into ``data_cache`` (dataclean.storage.materialize)."""
    df = read_manifest(manifest, required=["path", "root", "label", "split"])
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
    files = _local_files(df, data_cache)
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise DatacleanError(
            f"{len(missing)} of {len(files)} file(s) in {manifest} are missing, first: {missing[0]}")
    index = {c: i for i, c in enumerate(classes)}
    return Splits(
        classes=classes,
        paths={s: files[split == s].tolist() for s in SPLITS},
        labels={s: np.array([index[c] for c in labels[split == s]], dtype=np.int64) for s in SPLITS},
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


def load_image(path: tf.Tensor, image_size: int) -> tf.Tensor:
    """Read, decode (JPEG/PNG/GIF/BMP, 3 channels), resize to a square, as uint8 (0..255)."""
    import tensorflow as tf

    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    image = tf.image.resize(image, (image_size, image_size), antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def build_dataset(paths: Sequence[str], labels: np.ndarray | None, image_size: int, batch_size: int, *,
                  shuffle: bool = False, seed: int = 0, cache: bool = True,
                  shuffle_buffer: int = 10_000) -> tf.data.Dataset:
    """A batched dataset of ``(float32 images 0..255, labels)`` (or images only when ``labels`` is None).

    Decoded images are cached as uint8 (4x smaller than float). With ``shuffle`` the file order is
    shuffled once up front (so a small buffer still mixes classes) and again every epoch.
    The model holds the architecture's own preprocessing, so images stay in 0..255 here.
    """
    import tensorflow as tf

    paths = list(paths)
    order = np.random.default_rng(seed).permutation(len(paths)) if shuffle else np.arange(len(paths))
    files = tf.constant([paths[i] for i in order], dtype=tf.string)
    if labels is None:
        ds = tf.data.Dataset.from_tensor_slices(files)
        ds = ds.map(lambda p: load_image(p, image_size), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = tf.data.Dataset.from_tensor_slices((files, tf.constant(np.asarray(labels)[order], tf.int64)))
        ds = ds.map(lambda p, y: (load_image(p, image_size), y), num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(min(len(paths), shuffle_buffer), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    to_float = (lambda x: tf.cast(x, tf.float32)) if labels is None else (lambda x, y: (tf.cast(x, tf.float32), y))
    return ds.map(to_float, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def first_undecodable(paths: Sequence[str]) -> tuple[str, str] | None:
    """The first file TensorFlow cannot decode, with its error, or None. One file at a time (slow)."""
    import tensorflow as tf

    for p in paths:
        try:
            tf.io.decode_image(tf.io.read_file(p), channels=3, expand_animations=False)
        except tf.errors.OpError as exc:  # invalid data, missing or unreadable file, ...
            return p, first_line(exc)
    return None


@contextmanager
def naming_bad_files(paths: Sequence[str]) -> Iterator[None]:
    """Turn a decode failure inside tf.data into a DatacleanError naming the file.

    tf.data's error does not say which file failed, so on failure the files are decoded one by one to
    find it. No file is skipped silently: the audit should have caught it, and training stops.
    """
    import tensorflow as tf

    try:
        yield
    except tf.errors.OpError as exc:  # invalid data, missing or unreadable file, ...
        bad = first_undecodable(paths)
        if bad is None:
            raise
        raise DatacleanError(
            f"cannot decode {bad[0]} ({bad[1]}); the audit should have flagged it: "
            "re-run `dataclean audit` and `dataclean fix`, or drop the row from the manifest") from exc


__all__ = ["SPLITS", "Splits", "build_dataset", "class_weights", "first_undecodable", "load_image",
           "load_splits", "naming_bad_files"]
